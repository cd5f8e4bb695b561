#include <turbolift.h>
TURBOLIFT("local") int remote_square(int x); /* expect-error: is tagged but not defined in this file */
int use(int x) { return remote_square(x); }
