#include <turbolift.h>
TURBOLIFT("local") int apply(int (*fn)(int), /* expect-error: is a function pointer */
                             int x)
{
	return fn(x);
}
