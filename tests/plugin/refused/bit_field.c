#include <turbolift.h>
struct flags { unsigned ready : 1; unsigned count : 7; };
TURBOLIFT("local") int ready(struct flags f) /* expect-error: bit-field 'ready' */
{
	return f.ready;
}
