/* The program of issue 9, as it stands there: main sets two globals the
 * tagged function reads. Plain build: prints 6 and logs the call. */
#include <stdio.h>
#include <turbolift.h>

static double scale = 1.0;
int verbose;
TURBOLIFT("local") double scaled(double x) { if (verbose) fprintf(stderr, "scaled(%g)\n", x); return x * scale; }
int main(int argc, char **argv) { scale = 3.0; verbose = 1; printf("%g\n", scaled(2.0)); }
