/* SPDX-License-Identifier: MIT */
/* A tagged function whose work is done in two other files and a static
 * archive, with recursion across files and a global defined elsewhere. */
#include <stdio.h>
#include <unistd.h>
#include <turbolift.h>
#include "parts.h"

struct answer { long value; int pid; };

TURBOLIFT("local") struct answer work(int n)
{
	struct answer a;

	a.value = sum_squares(n) + scaled(n) + ar_twice(n) + (is_even(n) ? 1000 : 2000);
	a.pid = (int)getpid();
	return a;
}

/* only main uses it: a service never contains it */
static void report_only_main_uses(long total)
{
	printf("total %ld\n", total);
}

/* nothing calls it, but it is external, so the object keeps it: the service's
 * own file is cut by the linker too (compiled with one section a function) */
long main_file_unreached(long x)
{
	return x * 3 + 1;
}

int main(void)
{
	long total = 0;
	int elsewhere = 1;

	for (int n = 0; n < 12; n++) {
		struct answer a = work(n);

		printf("work(%d) = %ld\n", n, a.value);
		total += a.value;
		elsewhere &= a.pid != (int)getpid();
	}
	report_only_main_uses(total);
	/* stderr: the plain build answers in this process, a distributed one not */
	fprintf(stderr, "answered elsewhere: %s\n", elsewhere ? "yes" : "no");
	return 0;
}
