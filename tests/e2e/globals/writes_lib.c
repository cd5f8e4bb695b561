/* SPDX-License-Identifier: MIT */
/*
 * Writes that the service for writes_main.c's step() makes in this file,
 * which the plugin cannot see while it compiles writes_main.c: its link
 * warns at each, with the call path (docs/remote.md, "Globals the function writes").
 */
#include <stdlib.h>
#include <turbolift.h>

int hits;			/* public, defined here */
static int depth_seen;		/* reached three calls down */
static int TURBOLIFT_STATIC quiet;	/* the worker's own is fine: no warning */
static int never;		/* written by code the service does not run */

void on_value(int v);		/* writes_main.c's, called back */

static void record(int v)
{
	depth_seen = v;
	quiet++;
}

static void deeper(int v)
{
	record(v);
}

int work(int v)
{
	hits++;
	deeper(v);
	on_value(v);
	return v + rand() % 100 + hits + depth_seen + quiet;
}

void untouched(void)
{
	never = 1;
}
