#include <turbolift.h>
struct samples { int count; double values[]; };
TURBOLIFT("local") int count_of(struct samples s) /* expect-error: flexible array member 'values' */
{
	return s.count;
}
