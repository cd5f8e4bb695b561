#include <stddef.h>
#include <turbolift.h>
__attribute__((access(read_only, 1, 2)))
TURBOLIFT("local") int checksum(const void *data, /* expect-error: is 'void *' */
                                size_t n)
{
	int sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += ((const unsigned char *)data)[i];
	return sum;
}
