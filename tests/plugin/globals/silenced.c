/* TURBOLIFT_STATIC on the variable or on the C library function's
 * declaration: no warning at all. */
#include <stdlib.h>
#include <turbolift.h>

static TURBOLIFT_STATIC unsigned long calls;
int rand(void) TURBOLIFT_STATIC;

TURBOLIFT("local") int roll(int sides)
{
	calls++;
	return rand() % sides;
}
