/* SPDX-License-Identifier: MIT */
/*
 * A user's program that does its work through zlib built from its own
 * sources (Debian's source package, fetched at test time;
 * docs/libraries.md), while the distributed program also loads the
 * system's shared libz (libcurl needs it). The test builds this copy with
 * -DFASTEST (level 1 matching at every level, flag bit 21), so its
 * compressed sizes and zlibCompileFlags() differ from the system's: a
 * service that took zlib from the loaded libz prints other numbers.
 */
#include <stdio.h>
#include <string.h>
#include <turbolift.h>
#include "zlib.h"

#define TL_ZMAX 65536

struct squeezed {
	int status;             /* Z_OK, or the first failing call's code */
	unsigned long in, out;  /* sizes: input, compressed (zlib format) */
	unsigned long gz_out;   /* compressed with a gzip header (deflate stream) */
	unsigned long crc, adler, crc_out, crc_combined;
	int round_trip;         /* 1: uncompress and inflate gave the input back */
	unsigned long flags;    /* zlibCompileFlags() */
	char version[32];       /* zlibVersion() */
};

/* scratch space of each call: every worker has its own, and nothing
 * carries over from one call to the next (TURBOLIFT_STATIC says so) */
static TURBOLIFT_STATIC unsigned char input[TL_ZMAX];
static TURBOLIFT_STATIC unsigned char packed[TL_ZMAX + 1024];
static TURBOLIFT_STATIC unsigned char unpacked[TL_ZMAX];

/* deflate with a gzip wrapper, then inflate it back (windowBits 31) */
static int gzip_round_trip(const unsigned char *in, uLong n, int level, unsigned long *gz_out)
{
	z_stream d, i;
	int rc;

	memset(&d, 0, sizeof d);
	memset(&i, 0, sizeof i);
	rc = deflateInit2(&d, level, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY);
	if (rc != Z_OK)
		return rc;
	d.next_in = (Bytef *)in;
	d.avail_in = (uInt)n;
	d.next_out = packed;
	d.avail_out = sizeof packed;
	rc = deflate(&d, Z_FINISH);
	*gz_out = d.total_out;
	deflateEnd(&d);
	if (rc != Z_STREAM_END)
		return rc;
	rc = inflateInit2(&i, 31);
	if (rc != Z_OK)
		return rc;
	i.next_in = packed;
	i.avail_in = (uInt)*gz_out;
	i.next_out = unpacked;
	i.avail_out = sizeof unpacked;
	rc = inflate(&i, Z_FINISH);
	inflateEnd(&i);
	if (rc != Z_STREAM_END || i.total_out != n || memcmp(unpacked, in, n) != 0)
		return rc == Z_STREAM_END ? Z_DATA_ERROR : rc;
	return Z_OK;
}

TURBOLIFT("local") struct squeezed squeeze(const char *text, int repeat, int level)
{
	struct squeezed s;
	size_t len = strlen(text);
	uLongf out = sizeof packed, back = sizeof unpacked;
	uLong n = 0, half;

	memset(&s, 0, sizeof s);
	for (int r = 0; r < repeat && n + len <= TL_ZMAX; r++) {
		/* a little variation per copy, so the data is not one repeat */
		memcpy(input + n, text, len);
		input[n] = (unsigned char)('a' + r % 26);
		n += len;
	}
	s.in = n;
	s.crc = crc32(crc32(0L, Z_NULL, 0), input, (uInt)n);
	s.adler = adler32(adler32(0L, Z_NULL, 0), input, (uInt)n);
	half = n / 2;
	s.crc_combined = crc32_combine(crc32(0L, input, (uInt)half),
	                               crc32(0L, input + half, (uInt)(n - half)), (z_off_t)(n - half));
	s.status = compress2(packed, &out, input, n, level);
	if (s.status == Z_OK) {
		s.out = out;
		s.crc_out = crc32(0L, packed, (uInt)out);
		s.status = uncompress(unpacked, &back, packed, out);
	}
	if (s.status == Z_OK)
		s.status = gzip_round_trip(input, n, level, &s.gz_out);
	s.round_trip = s.status == Z_OK && back == n && memcmp(unpacked, input, n) == 0;
	s.flags = zlibCompileFlags();
	snprintf(s.version, sizeof s.version, "%s", zlibVersion());
	return s;
}

int main(void)
{
	static const char *const texts[] = {
		"It was the best of times, it was the worst of times. ",
		"0123456789abcdef",
		"A tagged function runs as a service; its output must not change. ",
	};
	static const int levels[] = {1, 6, 9};

	for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++)
		for (size_t l = 0; l < sizeof levels / sizeof levels[0]; l++) {
			struct squeezed s = squeeze(texts[t], 200 + 300 * (int)t, levels[l]);

			printf("text %zu level %d: status %d, %lu -> %lu bytes (gzip %lu), "
			       "crc32 %08lx adler32 %08lx combined %08lx packed-crc %08lx, round trip %d\n",
			       t, levels[l], s.status, s.in, s.out, s.gz_out, s.crc, s.adler,
			       s.crc_combined, s.crc_out, s.round_trip);
			if (t == 0 && l == 0)
				printf("zlib %s, compile flags %#lx (FASTEST %s)\n", s.version, s.flags,
				       s.flags & (1UL << 21) ? "yes" : "no");
		}
	return 0;
}
