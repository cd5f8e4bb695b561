#include <turbolift.h>
struct text { const char *chars; int len; };
TURBOLIFT("local") int length(struct text t) /* expect-error: pointer field 'chars' */
{
	return t.len;
}
