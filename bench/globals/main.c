/* SPDX-License-Identifier: MIT */
/* bench/globals-cost.sh: CALLS sequential calls of a tagged function whose
 * service reads lib.c's table; prints the seconds they took. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <turbolift.h>

extern double table[TABLE_N];
double lookup(int i);

TURBOLIFT("local") double probe(int i)
{
	return lookup(i);
}

int main(int argc, char **argv)
{
	int calls = argc > 1 ? atoi(argv[1]) : 2000;
	struct timespec a, b;
	double sum = 0;

	for (int i = 0; i < TABLE_N; i++)
		table[i] = i * 0.5;
	sum += probe(0);	/* set-up: link, workers */
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < calls; i++)
		sum += probe(i);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%.6f %g\n", (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9, sum);
	return 0;
}
