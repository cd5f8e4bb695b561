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
 * Write <dir>/<function>/turbolift.yaml for the test service and return
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
    snprintf(path, sizeof path, "%s/turbolift.yaml", sdir);
    snprintf(text, sizeof text,
             "turbolift: 1\n"
             "function: %s\n"
             "target: local\n"
             "signature: \"%s\"\n"
             "hash: 0123456789abcdef\n"
             "source: %s\n"
             "line: 1\n"
             "compiler: %s\n"
             "compile_flags: [-O2]\n"
             "link_flags: []\n"
             "service_object: %s\n"
             "external_symbols: []\n",
             function, signature, __FILE__, cc, obj);
    rt_write_file(path, text);
    return sdir;
}

/* The descriptor the plugin would emit for that folder. */
static inline const char *rt_descriptor(char *buf, size_t len, const char *sdir,
                                        const char *function, const char *signature)
{
    snprintf(buf, len,
             "version=1\nfunction=%s\ntarget=local\nsignature=%s\n"
             "hash=0123456789abcdef\nservice_dir=%s\nsource=%s:%d\n",
             function, signature, sdir, __FILE__, __LINE__);
    return buf;
}

#endif /* RT_CHECK_H */
