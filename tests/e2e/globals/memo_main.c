/* SPDX-License-Identifier: MIT */
/* Three calls on one worker: 1, 3, 7 in-process and distributed alike
 * (the count goes on in the worker; nothing of memo_lib.c travels). */
#include <stdio.h>
#include <turbolift.h>

double memo_lookup(int i);

TURBOLIFT("local") double memo_at(int i)
{
	return memo_lookup(i);
}

int main(void)
{
	for (int i = 0; i < 3; i++)
		printf("%g\n", memo_at(i));
	return 0;
}
