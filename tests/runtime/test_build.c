/* SPDX-License-Identifier: MIT */
/*
 * test_build.c - the service link cache: the first build links, the second
 * is a cache hit, processes that build at once agree on one binary, a
 * failed link says which command failed and what the linker printed, and
 * the loaded libraries reach the link (libm, which this test links with).
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rt_check.h"
#include "rt_proc.h"
#include "tl_build.h"
#include "tl_manifest.h"

int rt_twice(int x);

static struct tl_manifest *load(const char *sdir)
{
    struct tl_manifest *m = NULL;
    char err[1024];

    REQUIRE(tl_manifest_load(sdir, &m, err, sizeof err) == 0);
    return m;
}

/* <dir>/<function>/service.yaml with only the required keys and the
 * given service object; returns that folder (valid until the next call). */
static const char *minimal_service_dir(const char *dir, const char *function,
                                       const char *signature, const char *hash,
                                       const char *object)
{
    static char sdir[700];
    char text[2048], path[800];

    snprintf(sdir, sizeof sdir, "%s/%s", dir, function);
    mkdir(sdir, 0755);
    snprintf(text, sizeof text,
             "turbolift: 1\nfunction: %s\ntarget: local\nsignature: \"%s\"\n"
             "hash: %s\ncompiler: %s\nservice_object: %s\n",
             function, signature, hash, getenv("RT_CC"), object);
    snprintf(path, sizeof path, "%s/service.yaml", sdir);
    rt_write_file(path, text);
    return sdir;
}

int main(void)
{
    char cache[700], err[16384], *bin1 = NULL, *bin2 = NULL;
    const char *dir = rt_scratch("build");
    struct tl_manifest *m;
    int hit = -1, status[2];
    struct tl_unit_globals *globals = NULL;   /* none: these services have no units */
    pid_t kids[2];
    volatile double x = 2.0;

    /* A cache of our own, new for each run: the first build must link. */
    snprintf(cache, sizeof cache, "%s/cache-%ld", dir, (long)getpid());
    setenv("XDG_CACHE_HOME", cache, 1);
    m = load(rt_service_dir(dir, "add", "i4(i4,i4)"));

    /* Two processes link the same service at the same time. */
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        REQUIRE(kids[i] >= 0);
        if (kids[i] == 0) {
            char *b = NULL;
            int h;
            _exit(tl_build_service(m, 60000, &b, &h, &globals, err, sizeof err) == 0 &&
                  access(b, X_OK) == 0 ? 0 : 1);
        }
    }
    for (int i = 0; i < 2; i++) {
        REQUIRE(waitpid(kids[i], &status[i], 0) == kids[i]);
        CHECK_MSG(WIFEXITED(status[i]) && WEXITSTATUS(status[i]) == 0,
                  "concurrent build %d failed", i);
    }

    /* A fresh cache again: build, then hit. */
    snprintf(cache, sizeof cache, "%s/cache-%ld-b", dir, (long)getpid());
    setenv("XDG_CACHE_HOME", cache, 1);
    CHECK_MSG(tl_build_service(m, 60000, &bin1, &hit, &globals, err, sizeof err) == 0, "%s", err);
    CHECK(hit == 0);
    CHECK(bin1 != NULL && access(bin1, X_OK) == 0);
    CHECK(bin1 != NULL && strncmp(bin1, cache, strlen(cache)) == 0);
    CHECK_MSG(tl_build_service(m, 60000, &bin2, &hit, &globals, err, sizeof err) == 0, "%s", err);
    CHECK(hit == 1);
    CHECK(bin1 && bin2 && strcmp(bin1, bin2) == 0);
    free(bin1);
    free(bin2);
    tl_manifest_free(m);

    /* An "object" that is not one: refused, naming the file. */
    {
        const char *sdir = minimal_service_dir(dir, "garbage", "v()", "0000000000000000",
                                               "service.o");
        char obj[800];
        char *bin = NULL;

        snprintf(obj, sizeof obj, "%s/service.o", sdir);
        rt_write_file(obj, "this is not an object file\n");
        m = load(sdir);
        CHECK(tl_build_service(m, 60000, &bin, &hit, &globals, err, sizeof err) == -1);
        CHECK_MSG(strstr(err, obj) != NULL && strstr(err, "not an ELF file") != NULL,
                  "unhelpful message:\n%s", err);
        tl_manifest_free(m);
    }

    /* A link that fails: the service needs a symbol nothing defines. The
     * message names it, whole (issue 8: never cut off, never the command
     * line in place of the linker's words). */
    {
        const char *sdir = minimal_service_dir(dir, "broken", "v()", "0000000000000000",
                                               "service.o");
        char src[800], obj[800], cmd[2000];
        char *bin = NULL;

        snprintf(src, sizeof src, "%s/service.c", sdir);
        snprintf(obj, sizeof obj, "%s/service.o", sdir);
        rt_write_file(src,
            "struct tl_service_entry { const char *name; const char *signature;\n"
            "    void (*call)(void *const *args, void *result); };\n"
            "void tl_test_symbol_nobody_defines(void);\n"
            "static void call_broken(void *const *a, void *r)\n"
            "{ (void)a; (void)r; tl_test_symbol_nobody_defines(); }\n"
            "const struct tl_service_entry tl_service_entries[] =\n"
            "    { { \"broken\", \"v()\", call_broken } };\n"
            "const unsigned tl_service_entry_count = 1;\n");
        snprintf(cmd, sizeof cmd, "%s -c -fPIC -o '%s' '%s'", getenv("RT_CC"), obj, src);
        REQUIRE(system(cmd) == 0);
        m = load(sdir);
        CHECK(tl_build_service(m, 60000, &bin, &hit, &globals, err, sizeof err) == -1);
        CHECK_MSG(strstr(err, "linking the service of 'broken' failed: 1 undefined symbol") != NULL &&
                  strstr(err, "tl_test_symbol_nobody_defines") != NULL,
                  "unhelpful message:\n%s", err);
        tl_manifest_free(m);
    }

    /* The slice calls exp(); the manifest names no -lm; we have libm
     * loaded, so the link gets it. */
    {
        char *bin = NULL;

        m = load(minimal_service_dir(dir, "grow", "f8(f8)", "0000000000000001",
                                     getenv("RT_MATH_OBJECT")));
        CHECK_MSG(tl_build_service(m, 60000, &bin, &hit, &globals, err, sizeof err) == 0, "%s", err);
        free(bin);
        tl_manifest_free(m);
    }

    /* The slice calls rt_twice() from a library of the program's own in
     * the build tree: the link gets it by path, and the binary finds it at
     * run time without LD_LIBRARY_PATH (an rpath). */
    {
        char cmd[1200];
        char *bin = NULL;

        m = load(minimal_service_dir(dir, "twice", "i4(i4)", "0000000000000002",
                                     getenv("RT_EXT_OBJECT")));
        CHECK_MSG(tl_build_service(m, 60000, &bin, &hit, &globals, err, sizeof err) == 0, "%s", err);
        if (bin != NULL) {
            snprintf(cmd, sizeof cmd, "env -u LD_LIBRARY_PATH %s --help >/dev/null", bin);
            CHECK_MSG(system(cmd) == 0, "%s does not start: its library is not found", bin);
        }
        free(bin);
        tl_manifest_free(m);
        CHECK(rt_twice(21) == 42);     /* keeps the library loaded */
    }

    /* An explicit service library that does not exist is an error. */
    {
        char *lib;

        setenv("TURBOLIFT_SERVICE_LIB", "/nonexistent/libturbolift-service.a", 1);
        lib = tl_build_service_lib(err, sizeof err);
        CHECK(lib == NULL && strstr(err, "TURBOLIFT_SERVICE_LIB") != NULL);
        unsetenv("TURBOLIFT_SERVICE_LIB");
        lib = tl_build_service_lib(err, sizeof err);
        CHECK_MSG(lib != NULL, "%s", err);
        free(lib);
    }
    CHECK(sqrt(x) > 1.4);     /* keeps libm loaded */
    return tl_check_status("test_build");
}
