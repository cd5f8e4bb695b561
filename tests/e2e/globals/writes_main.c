/* SPDX-License-Identifier: MIT */
/*
 * A tagged function whose service writes variables of other files
 * (writes_lib.c), and one of this file that only writes_lib.c's code
 * reaches (on_value): its link warns at each write, and the compile warns
 * at the one in step's own slice (tagged_own). On one worker the state
 * goes on as in-process, so the output is the plain build's.
 */
#include <stdio.h>
#include <turbolift.h>

int work(int v);
void untouched(void);

static int seen_by_callback;
static long tagged_own;

void on_value(int v)
{
	seen_by_callback += v;
}

TURBOLIFT("local") int step(int v)
{
	tagged_own++;
	return work(v);
}

int main(int argc, char **argv)
{
	for (int i = 0; i < 3; i++)
		printf("%d\n", step(i));
	if (argc > 5)
		untouched();
	(void)argv;
	return 0;
}
