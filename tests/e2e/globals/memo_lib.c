/* SPDX-License-Identifier: MIT */
/*
 * State that only the service's code writes: a table built at the first
 * use, and a count of calls. The program never changes them, so a worker
 * keeps its own, as the program would keep its one copy in-process.
 */
static int memo_ready;
static double memo[64];
static int served;

double memo_lookup(int i)
{
	if (!memo_ready) {
		for (int k = 0; k < 64; k++)
			memo[k] = k * k;
		memo_ready = 1;
	}
	return memo[i % 64] + ++served;
}
