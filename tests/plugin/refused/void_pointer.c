#include <stddef.h>
#include <turbolift.h>
TURBOLIFT("local") int first_byte(void *data, /* expect-error: is 'void *' */
                                  size_t n)
{
	return n ? *(unsigned char *)data : 0;
}
