/* SPDX-License-Identifier: MIT */
/*
 * A lookup table built by main at start-up (32 KiB: a block on the wire),
 * a seed, and a per-thread setting, all read by tagged functions: each
 * call must see the values its caller had when it made the call.
 *
 *   table        print the results (the same in every build)
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include <turbolift.h>

#define SIZE 4096

static double table[SIZE];
static uint64_t seed;
static __thread int lane;		/* set by each calling thread */
static short small[3] = { 1, 2, 3 };	/* written by main between calls */

TURBOLIFT("local") double table_sum(int from, int to)
{
	double sum = 0;

	for (int i = from; i < to && i < SIZE; i++)
		sum += table[i] * (double)((seed >> (i % 64)) & 1 ? 2 : 1);
	return sum + small[0] * 100 + small[1] * 10 + small[2];
}

TURBOLIFT("local") long lane_value(long x)
{
	return x * 1000 + lane;
}

/* Which process answered: a worker's pid differs from ours. */
TURBOLIFT("local") int answering_pid(void)
{
	return (int)getpid();
}

static void *worker(void *arg)
{
	long id = (long)arg, total = 0;

	lane = (int)id + 1;
	for (long k = 0; k < 50; k++)
		total += lane_value(k) - k * 1000;
	return (void *)total;
}

int main(void)
{
	pthread_t threads[4];

	for (int i = 0; i < SIZE; i++)
		table[i] = (i % 97) * 0.5 + i / 1024;
	seed = 0x9e3779b97f4a7c15ULL;
	printf("sum %.1f\n", table_sum(0, SIZE));
	printf("part %.1f\n", table_sum(100, 200));
	small[0] = 7;
	table[150] = 1e6;
	printf("part after change %.1f\n", table_sum(100, 200));

	for (long t = 0; t < 4; t++)
		pthread_create(&threads[t], NULL, worker, (void *)t);
	for (long t = 0; t < 4; t++) {
		void *total;

		pthread_join(threads[t], &total);
		printf("thread %ld lane total %ld\n", t, (long)total);
	}
	fprintf(stderr, "answered by %s\n", answering_pid() == getpid() ? "this process" : "another process");
	return 0;
}
