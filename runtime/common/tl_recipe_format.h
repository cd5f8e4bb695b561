/* SPDX-License-Identifier: MIT */
/*
 * tl_recipe_format.h - a deferred unit's recipe: what the plugin writes into
 * <unit>/unit.txt for a file without a tagged function, and what the
 * runtime reads to make <unit>/unit.i at the first call that needs it
 * (docs/multifile.md, "Build time").
 *
 * The build of such a file does not preprocess it a second time; it
 * records how to, and what from:
 *
 *   cwd=DIR            the compile's working directory
 *   cc1=PATH           the compiler proper that compiled the file
 *   tool=SIZE MTIME PATH            cc1 as it was (checked exactly)
 *   plugin=PATH        the plugin that cuts the text (mode=unit)
 *   plugin_base=NAME   its name in -fplugin-arg-NAME-...
 *   epoch=SECONDS      SOURCE_DATE_EPOCH for __DATE__ and __TIME__
 *   env=NAME=VALUE     each of TL_RECIPE_ENV that was set
 *   arg=OPTION         cc1's options, one per line, the input among them
 *   input=SIZE MTIME HASH PATH      every file the compile read
 *
 * beside the source=, compiler= and flag= lines every unit.txt has. MTIME
 * is in nanoseconds, HASH is tl_content_hash of the file's bytes in hex,
 * PATH comes last (it may hold spaces) and is absolute. An input whose size
 * and mtime match is unchanged; one whose mtime alone differs is compared
 * by content (a fresh checkout, or a compiler cache's object, has other
 * mtimes but the same text).
 *
 * Header-only and plain C that also compiles as C++: the plugin includes
 * it too (like tl_cache_root.h).
 */
#ifndef TL_RECIPE_FORMAT_H
#define TL_RECIPE_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Environment variables cc1 reads that change its preprocessing: the
 * recipe holds the build's values, and the first call runs cc1 with
 * exactly those (unset when the build had none). */
#define TL_RECIPE_ENV { "CPATH", "C_INCLUDE_PATH", "GCC_EXEC_PREFIX" }

/* Variables that would make cc1 write files of its own (dependency lists):
 * never passed on to the first call's cc1. */
#define TL_RECIPE_ENV_DROP { "DEPENDENCIES_OUTPUT", "SUNPRO_DEPENDENCIES" }

#define TL_RECIPE_HASH_SEED 0xcbf29ce484222325ULL

/*
 * A file's content hash, eight bytes at a time, so that hashing every
 * header a compile read costs the build little (about 1 ms for 140 headers
 * and 800 KB, from the page cache). Over the whole file at once: the tail
 * is hashed byte by byte, so pieces would give another value. A cache key,
 * not a defence against an adversary; the same on both sides because both
 * include this.
 */
static inline uint64_t tl_content_hash(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = (const unsigned char *)data;
    size_t i = 0;

    for (; i + 8 <= len; i += 8) {
        uint64_t w;

        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
        h ^= h >> 29;
    }
    for (; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

#endif /* TL_RECIPE_FORMAT_H */
