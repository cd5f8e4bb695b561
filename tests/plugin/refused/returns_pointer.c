#include <turbolift.h>
static char greeting[] = "hello";
TURBOLIFT("local") char *greet(int x) /* expect-error: returns a pointer */
{
	return greeting + x;
}
