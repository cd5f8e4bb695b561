/* Which globals a tagged function's service captures (globals.sh): */
#include <stdio.h>
#include <turbolift.h>

static const double pi = 3.14159;		/* const: never changes */
static double ratio = 2.0;			/* written by main: captured */
int level;					/* visible to other files: captured */
static int seen;				/* written only by the slice: not captured */
static int only_read = 5;			/* never written: not captured */
static TURBOLIFT_STATIC int tuning = 3;		/* marked: not captured */
static char label[8] = "none";			/* a string main changes: captured */
static const char *motto = "hi";		/* a string main changes: captured */
struct limits { int lo, hi; const char *name; };
struct limits bounds = { 0, 10, "b" };		/* struct with a string field: captured */
static long table[4];				/* filled by main: captured */

static int clamp(int v)
{
	static int calls;			/* static local: not captured */

	calls++;
	return v < bounds.lo ? bounds.lo : v > bounds.hi ? bounds.hi : v + calls * 0;
}

TURBOLIFT("local") double compute(int v)
{
	seen = v;
	fprintf(stderr, "%s %s %s\n", label, motto, bounds.name);	/* stderr: the C library's */
	return clamp(v) * ratio * pi + level + seen + only_read + tuning + table[v & 3];
}

int main(void)
{
	ratio = 3.0;
	table[1] = 7;
	label[0] = 'N';
	motto = "ho";
	return (int)compute(1);
}
