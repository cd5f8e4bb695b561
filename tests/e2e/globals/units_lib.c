/* SPDX-License-Identifier: MIT */
/*
 * Variables of a file without a tagged function that the service's code
 * reads and main changes (docs/remote.md, "Variables of other files"):
 * each must reach the worker with the value main gave it.
 */
#include <stdio.h>
#include <string.h>
#include <turbolift.h>

struct settings {
	char name[32];		/* a string field, as a fixed array: plain bytes */
	int level;
	double weights[4];
};

static double scale = 1.0;	/* static, changed through a setter */
int verbose;			/* public flag, set by main */
struct settings settings = { "default", 1, { 1, 1, 1, 1 } };
const char *label = "fixed";	/* a C string: travels as text */
struct tagged_text { const char *text; int n; } tag = { "tag", 1 };	/* holds a pointer */
int TURBOLIFT_STATIC calls_here;	/* the worker's own count is fine */
struct series { int n; double v[]; } series = { 3, { 1, 2, 3 } };	/* a flexible array */
extern double lut[256];		/* defined in units_table.c, filled by main */
extern int shared_mode;		/* defined in the tagged file, read only here */

void set_scale(double s)
{
	scale = s;
}

double weigh(int i)
{
	double w = settings.weights[i % 4] * settings.level;

	calls_here++;
	if (verbose)
		fprintf(stderr, "weigh(%d) for %s\n", i, settings.name);
	return scale * w * lut[i % 256] + shared_mode + (double)strlen(label) +
	       series.v[i % series.n] +
	       (double)strlen(tag.text) * tag.n;
}
