#include <turbolift.h>
TURBOLIFT("local") int sum(int n, ...) { return n; } /* expect-error: variadic function 'sum' cannot become a service */
