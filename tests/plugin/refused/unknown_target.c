#include <turbolift.h>
TURBOLIFT("lambda") int twice(int x) { return 2 * x; } /* expect-error: unknown target 'lambda' for 'twice' */
