#include <turbolift.h>
static int twice(int x) { return 2 * x; }
int (*op)(int) = twice;	/* expect-error: 'op', read by the service for 'apply', is a pointer */
TURBOLIFT("local") int apply(int x) { return op(x); }
