/* SPDX-License-Identifier: MIT */
/* bench/globals-cost.sh: a table of another file, filled by main. With
 * -DKEEP_INITIAL it is TURBOLIFT_STATIC: the same calls, nothing sent. */
#include <turbolift.h>

#ifdef KEEP_INITIAL
double table[TABLE_N] TURBOLIFT_STATIC;
#else
double table[TABLE_N];
#endif

double lookup(int i)
{
	return table[i % TABLE_N];
}
