/* Writes to globals and hidden C library state reached from a tagged
 * function: each is a warning at the write, naming the call path from
 * the tagged function (globals.sh checks the lines). */
#include <stdlib.h>
#include <string.h>
#include <turbolift.h>

static int hits;
static __thread int depth;
struct stats { long n; double total; } stats;
static TURBOLIFT_STATIC double cache[16];	/* per worker on purpose: no warning */

static void record(double x)
{
	hits++;					/* line 15 */
	stats.total += x;			/* line 16 */
	cache[(int)x & 15] = x;
}

static double helper(double x)
{
	depth = depth + 1;			/* line 22 */
	record(x);
	return x + rand();			/* line 24 */
}

TURBOLIFT("local") double work(double x)
{
	char text[] = "a,b";

	return helper(x) + (strtok(text, ",") != NULL);	/* line 31 */
}

int main(void)
{
	return (int)work(1.0) + hits;
}
