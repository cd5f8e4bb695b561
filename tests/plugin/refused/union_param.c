#include <turbolift.h>
union number { int i; float f; };
TURBOLIFT("local") int as_int(union number n) /* expect-error: is the union 'union number' */
{
	return n.i;
}
