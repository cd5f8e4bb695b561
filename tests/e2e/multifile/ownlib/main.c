/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>
#include <turbolift.h>
#include "ownz.h"

struct z { unsigned long crc; int version_len; char version0; };

TURBOLIFT("local") struct z checksum(const char *text)
{
	struct z r;

	r.crc = crc32(7, (const unsigned char *)text, (unsigned int)strlen(text));
	r.version_len = (int)strlen(zlibVersion());
	r.version0 = zlibVersion()[0];
	return r;
}

int main(void)
{
	static const char *const words[] = { "turbolift", "zlib", "", "the program's own copy" };

	for (unsigned i = 0; i < sizeof words / sizeof words[0]; i++) {
		struct z r = checksum(words[i]);

		printf("%s: crc %lu, version length %d starting with %c\n", words[i], r.crc,
		       r.version_len, r.version0);
	}
	return 0;
}
