#include <turbolift.h>
union number { int i; float f; };
union number current;	/* expect-error: is the union 'union number' */
TURBOLIFT("local") int get(void) { return current.i; }
