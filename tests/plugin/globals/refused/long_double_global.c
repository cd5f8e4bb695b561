#include <turbolift.h>
long double factor = 1;	/* expect-error: has type 'long double', which the wire format does not carry */
TURBOLIFT("local") double scale(double x) { return (double)(x * factor); }
