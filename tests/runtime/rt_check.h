/* SPDX-License-Identifier: MIT */
/*
 * rt_check.h - assertions and helpers of the runtime tests.
 *
 * The assertions are tests/unit/tl_check.h's. The helpers write a service
 * folder (a manifest next to the hand-written service object that meson
 * compiled) the way the plugin would.
 */
#ifndef RT_CHECK_H
#define RT_CHECK_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* CHECK, CHECK_MSG, REQUIRE and tl_check_status() are the unit tests' own;
 * deadlines and pauses are the runtime's (tl_now_ms, tl_wait_ms). */
#include "../unit/tl_check.h"
#include "tl_abi.h"
#include "tl_clock.h"

static inline void rt_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    REQUIRE(f != NULL);
    fputs(text, f);
    REQUIRE(fclose(f) == 0);
}

/* A scratch folder of this test under the build tree's cache dir. */
static inline const char *rt_scratch(const char *name)
{
    static char path[512];
    const char *base = getenv("XDG_CACHE_HOME");

    REQUIRE(base != NULL);
    snprintf(path, sizeof path, "%s/%s", base, name);
    mkdir(base, 0755);
    REQUIRE(mkdir(path, 0755) == 0 || errno == EEXIST);
    return path;
}

/*
 * Write <dir>/<function>/service.yaml for the test service and return
 * that folder. The service object comes from $RT_SERVICE_OBJECT, the
 * compiler from $RT_CC (both set by tests/runtime/meson.build).
 */
static inline const char *rt_service_dir(const char *dir, const char *function,
                                         const char *signature)
{
    static char sdir[600];
    char path[700], text[2048];
    const char *obj = getenv("RT_SERVICE_OBJECT"), *cc = getenv("RT_CC");

    REQUIRE(obj != NULL && cc != NULL);
    snprintf(sdir, sizeof sdir, "%s/%s", dir, function);
    REQUIRE(mkdir(sdir, 0755) == 0 || errno == EEXIST);
    snprintf(path, sizeof path, "%s/service.yaml", sdir);
    /* the keys are tl_abi.h's, as the plugin's and the runtime's */
    snprintf(text, sizeof text,
             TL_ABI_MAN_VERSION ": %d\n"
             TL_ABI_MAN_FUNCTION ": %s\n"
             TL_ABI_MAN_TARGET ": local\n"
             TL_ABI_MAN_SIGNATURE ": \"%s\"\n"
             TL_ABI_MAN_HASH ": 0123456789abcdef\n"
             TL_ABI_MAN_SOURCE ": %s\n"
             TL_ABI_MAN_LINE ": 1\n"
             TL_ABI_MAN_COMPILER ": %s\n"
             TL_ABI_MAN_COMPILE_FLAGS ": [-O2]\n"
             TL_ABI_MAN_LINK_FLAGS ": []\n"
             TL_ABI_MAN_SERVICE_OBJECT ": %s\n"
             TL_ABI_MAN_EXTERNAL_SYMBOLS ": []\n",
             TL_ABI_MANIFEST_VERSION, function, signature, __FILE__, cc, obj);
    rt_write_file(path, text);
    return sdir;
}

/* The descriptor the plugin would emit for that folder. */
static inline const char *rt_descriptor(char *buf, size_t len, const char *sdir,
                                        const char *function, const char *signature)
{
    snprintf(buf, len,
             TL_ABI_DESC_VERSION "=%d\n" TL_ABI_DESC_FUNCTION "=%s\n"
             TL_ABI_DESC_TARGET "=local\n" TL_ABI_DESC_SIGNATURE "=%s\n"
             TL_ABI_DESC_HASH "=0123456789abcdef\n" TL_ABI_DESC_SERVICE_DIR "=%s\n"
             TL_ABI_DESC_SOURCE "=%s:%d\n",
             TL_ABI_DESCRIPTOR_VERSION, function, signature, sdir, __FILE__, __LINE__);
    return buf;
}

#endif /* RT_CHECK_H */
