/* SPDX-License-Identifier: MIT */
/*
 * tl_files.h - content hashes of files and folders made on demand, for the
 * caches of service binaries and images.
 */
#ifndef TL_FILES_H
#define TL_FILES_H

#include <stddef.h>
#include <stdint.h>

#define TL_FNV_OFFSET 0xcbf29ce484222325ULL

/* FNV-1a, 64 bits: a cache key, not a defence against an adversary. */
uint64_t tl_fnv1a(uint64_t h, const void *data, size_t len);

/* Fold a file's bytes into *h; adds its size to *bytes unless NULL. */
int tl_hash_file(uint64_t *h, const char *path, unsigned long long *bytes,
                 char *err, size_t errlen);

/* mkdir -p of every folder in path; of path itself too when whole != 0. */
int tl_mkdirs(char *path, int whole);

#endif /* TL_FILES_H */
