#include <turbolift.h>
TURBOLIFT("local") long double half(long double x) /* expect-error: has type 'long double', which the wire format does not carry */
{
	return x / 2;
}
