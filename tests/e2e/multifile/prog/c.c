/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include "parts.h"

/* read by scaled() in b.c: the service must have this initial value */
int factor = 17;

/* nothing reaches these: a service holds none of them */
int unused_global = 42;

long never_called(void)
{
	return unused_global + ar_unused(1);
}

__attribute__((constructor)) static void c_constructor(void)
{
	fprintf(stderr, "c.c constructor ran\n");
}
