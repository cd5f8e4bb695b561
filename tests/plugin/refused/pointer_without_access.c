#include <stddef.h>
#include <turbolift.h>
TURBOLIFT("local") double total(const double *xs, /* expect-error: pointer parameter 'xs' of 'total' needs an access attribute */
                                size_t n)
{
	double t = 0;
	for (size_t i = 0; i < n; i++)
		t += xs[i];
	return t;
}
