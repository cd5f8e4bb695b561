/* SPDX-License-Identifier: MIT */
/* The tag comes from remote.h's macro; this text never spells it. */
#include <stdio.h>
#include "remote.h"
#include "helper.h"

REMOTE_LOCAL long measure(int n)
{
	return weigh(n) * 2;
}

int main(void)
{
	long total = 0;

	for (int n = 0; n < 5; n++)
		total += measure(n);
	printf("total %ld\n", total);
	return 0;
}
