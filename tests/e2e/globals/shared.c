/* SPDX-License-Identifier: MIT */
/*
 * Globals of this file that another file (shared_main.c) writes, and one
 * the other file defines: the tagged function reads all of them.
 */
#include <unistd.h>
#include <turbolift.h>

int threshold = 10;		/* written by shared_main.c */
extern double weight;		/* defined (and written) in shared_main.c */

TURBOLIFT("local") double weigh(int x)
{
	return x > threshold ? x * weight : -x * weight;
}

TURBOLIFT("local") int answering_pid(void)
{
	return (int)getpid();
}
