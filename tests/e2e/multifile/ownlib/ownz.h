/* SPDX-License-Identifier: MIT */
/* Two functions named and typed like zlib's, defined by this program: the
 * program uses its own, and so must its services, even though libcurl loads
 * the system's libz into the process. */
#ifndef OWNZ_H
#define OWNZ_H
const char *zlibVersion(void);
unsigned long crc32(unsigned long crc, const unsigned char *buf, unsigned int len);
#endif
