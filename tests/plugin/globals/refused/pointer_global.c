#include <turbolift.h>
static double *weights;	/* expect-error: is a pointer the program may change */
TURBOLIFT("local") double first(void) { return weights ? weights[0] : 0; }
int main(void) { static double w[2] = { 1, 2 }; weights = w; return (int)first(); }
