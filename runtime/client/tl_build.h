/* SPDX-License-Identifier: MIT */
/*
 * tl_build.h - link a function's service binary, cached by hash.
 *
 *   <compiler> <service.o> <libturbolift-service.a> <link_flags>
 *       TL_SERVICE_LINK_ARGS -Wl,--as-needed <libraries this process loaded>
 *       -o ${XDG_CACHE_HOME:-$HOME/.cache}/turbolift/bin/<function>-<hash>/service
 *
 * The hash covers the command line and the contents of service.o and of
 * libturbolift-service.a, so any change relinks and an unchanged service
 * is linked once per machine. Concurrent processes are safe: a file lock
 * lets one of them link, and the binary appears by rename.
 */
#ifndef TL_BUILD_H
#define TL_BUILD_H

#include <stddef.h>

#include "tl_manifest.h"

/*
 * Path of the cached binary for m in *binary (malloc'd), linking it first
 * when missing. *hit is set to 1 on a cache hit. timeout_ms bounds the
 * wait for another process's link and our own. On failure err holds the
 * command and the compiler's output.
 */
struct tl_unit_globals;
/* *globals: the program's variables the service keeps, found in this
 * process (tl_unit_globals.h), or NULL when it keeps none; the caller frees
 * it with tl_unit_globals_free. */
int tl_build_service(const struct tl_manifest *m, long timeout_ms,
                     char **binary, int *hit, struct tl_unit_globals **globals,
                     char *err, size_t errlen);

/* ${XDG_CACHE_HOME:-$HOME/.cache}/turbolift/<sub>, created (mkdir -p).
 * Returns a malloc'd path or NULL with err set. */
char *tl_cache_dir(const char *sub, char *err, size_t errlen);

/* libturbolift-service.a to link with: $TURBOLIFT_SERVICE_LIB, else the
 * build tree's when this library was loaded from the build tree, else the
 * installed one. malloc'd, or NULL with err set when none exists. */
char *tl_build_service_lib(char *err, size_t errlen);

/* The end of a message about a folder the program's objects name that no
 * longer exists (docs/multifile.md, "Build styles"). */
#define TL_BUILD_FOLDER_GONE \
    "it was removed after the program was built, or a compiler cache (ccache) returned " \
    "objects of an earlier build whose output folder is gone; rebuild the program (with " \
    "ccache: keep the default output folder, pass -fplugin-arg-turbolift-outdir=DIR, or " \
    "set CCACHE_DISABLE=1; docs/multifile.md)"

/* The end of a message about a unit made at the first call (from the
 * recipe its build left, docs/multifile.md "Build time") whose source,
 * header or compiler is no longer what the program was compiled from. */
#define TL_BUILD_SOURCE_CHANGED \
    "the service would not hold the code the program was compiled from; rebuild the " \
    "program (a compiler cache returns objects that name the files of the build that " \
    "filled it: rebuild with CCACHE_RECACHE=1 when those are gone; docs/multifile.md)"

#endif /* TL_BUILD_H */
