#include <turbolift.h>
int outer(int x)
{
	TURBOLIFT("local") int inner(int y) { return y + 1; } /* expect-error: nested function 'inner' cannot become a service */
	return inner(x);
}
