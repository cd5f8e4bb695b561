/* SPDX-License-Identifier: MIT */
/*
 * pricing.c - Monte Carlo option pricing, fanned out over local workers.
 *
 * price() is CPU-heavy and pure: a good function to distribute. The OpenMP
 * loop calls it from several threads at once, so the calls spread across
 * the workers. Built without the plugin it is an ordinary OpenMP program
 * and prints the same numbers.
 *
 *   gcc -O2 -fopenmp pricing.c -lm                         # plain
 *   gcc $(pkg-config --cflags --libs turbolift) -O2 -fopenmp pricing.c -lm   # distributed
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <turbolift.h>

struct option {
	double spot, strike, vol, rate, years;
	int is_call;
};

/* xorshift64*: a reproducible stream per option, so every build agrees */
static uint64_t next_random(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 0x2545F4914F6CDD1DULL;
}

static double uniform(uint64_t *state)
{
	return ((next_random(state) >> 11) + 0.5) * 0x1.0p-53;
}

static const double two_pi = 6.283185307179586;

static double gaussian(uint64_t *state)
{
	double u = uniform(state), v = uniform(state);
	return sqrt(-2.0 * log(u)) * cos(two_pi * v);
}

TURBOLIFT("local") double price(struct option o, int paths, uint64_t seed)
{
	uint64_t state = seed ? seed : 1;
	double drift = (o.rate - 0.5 * o.vol * o.vol) * o.years;
	double diffusion = o.vol * sqrt(o.years);
	double sum = 0.0;

	for (int i = 0; i < paths; i++) {
		double terminal = o.spot * exp(drift + diffusion * gaussian(&state));
		double payoff = o.is_call ? terminal - o.strike : o.strike - terminal;
		sum += payoff > 0.0 ? payoff : 0.0;
	}
	return exp(-o.rate * o.years) * sum / paths;
}

int main(int argc, char **argv)
{
	enum { BOOK = 16 };
	int paths = argc > 1 ? atoi(argv[1]) : 200000;
	struct option book[BOOK];
	double prices[BOOK];

	for (int i = 0; i < BOOK; i++) {
		book[i] = (struct option){
			.spot = 100.0, .strike = 80.0 + 2.5 * i, .vol = 0.15 + 0.01 * (i % 5),
			.rate = 0.03, .years = 0.5 + 0.25 * (i % 4), .is_call = i % 2 == 0,
		};
	}

#pragma omp parallel for schedule(dynamic)
	for (int i = 0; i < BOOK; i++)
		prices[i] = price(book[i], paths, 1000 + (uint64_t)i);

	for (int i = 0; i < BOOK; i++)
		printf("%-4s strike %6.2f  vol %.2f  years %.2f  price %10.6f\n",
		       book[i].is_call ? "call" : "put", book[i].strike, book[i].vol,
		       book[i].years, prices[i]);
	return 0;
}
