/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include "parts.h"

/* read by scaled() in b.c: the service must have this initial value */
const int factor = 17;	/* const: a variable the program may change gets the first-call warning of docs/remote.md */

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
