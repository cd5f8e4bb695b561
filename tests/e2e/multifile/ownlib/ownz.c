/* SPDX-License-Identifier: MIT */
#include "ownz.h"

const char *zlibVersion(void)
{
	return "own-0.1";
}

/* not zlib's CRC: a different answer for any input */
unsigned long crc32(unsigned long crc, const unsigned char *buf, unsigned int len)
{
	for (unsigned int i = 0; i < len; i++)
		crc = crc * 31 + buf[i];
	return crc;
}
