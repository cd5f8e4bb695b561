/* SPDX-License-Identifier: MIT */
/*
 * tl_build.c - link a function's service binary, cached by hash.
 *
 * The link needs the same libraries as the caller's link (a program linked
 * with -lm calls exp() in the slice), but the manifest only knows the
 * compile-time view. The process that is running knows better: it has
 * those libraries loaded. So we pass each loaded shared library by
 * absolute path and let --as-needed drop the ones the service does not use.
 */
#define _GNU_SOURCE   /* dladdr, dl_iterate_phdr, asprintf */
#include "tl_files.h"
#include "tl_clock.h"
#include "tl_build.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tl_config.h"
#include "tl_env.h"
#include "tl_log.h"
#include "tl_proc.h"
#include "tl_paths.h"

/* A growable argv. */
struct argv {
    char **v;
    size_t n, cap;
    int oom;
};

static void argv_add(struct argv *a, const char *s)
{
    if (a->oom)
        return;
    if (a->n + 2 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 32;
        char **grown = realloc(a->v, cap * sizeof *grown);
        if (grown == NULL) {
            a->oom = 1;
            return;
        }
        a->v = grown;
        a->cap = cap;
    }
    if ((a->v[a->n] = strdup(s)) == NULL) {
        a->oom = 1;
        return;
    }
    a->v[++a->n] = NULL;
}

static void argv_free(struct argv *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
}

char *tl_cache_dir(const char *sub, char *err, size_t errlen)
{
    const char *xdg = tl_env("XDG_CACHE_HOME", NULL), *home = tl_env("HOME", NULL);
    char *path = NULL;
    int rc;

    if (xdg != NULL && xdg[0] == '/')
        rc = asprintf(&path, "%s/turbolift/%s", xdg, sub);
    else if (home != NULL && home[0] == '/')
        rc = asprintf(&path, "%s/.cache/turbolift/%s", home, sub);
    else {
        snprintf(err, errlen, "neither XDG_CACHE_HOME nor HOME is an absolute path: "
                 "cannot place the turbolift cache");
        return NULL;
    }
    if (rc < 0) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (tl_mkdirs(path, 1) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        free(path);
        return NULL;
    }
    return path;
}

static int same_dir(const char *a_file, const char *b_file)
{
    char *a = realpath(a_file, NULL), *b = realpath(b_file, NULL);
    char *sa, *sb;
    int same = 0;

    if (a && b && (sa = strrchr(a, '/')) && (sb = strrchr(b, '/'))) {
        *sa = *sb = '\0';
        same = strcmp(a, b) == 0;
    }
    free(a);
    free(b);
    return same;
}

char *tl_build_service_lib(char *err, size_t errlen)
{
    const char *env = tl_env("TURBOLIFT_SERVICE_LIB", NULL);
    const char *first = TL_SERVICE_LIB_INSTALLED, *second = TL_SERVICE_LIB_BUILD;
    Dl_info info;
    char *r;

    if (env != NULL) {
        if (access(env, R_OK) != 0) {
            snprintf(err, errlen, "TURBOLIFT_SERVICE_LIB=%s: %s", env, strerror(errno));
            return NULL;
        }
        r = strdup(env);
        goto done;
    }
    /* Loaded from the build tree (tests, benchmarks, a developer's run):
     * the build tree's service library matches; an installed one may be
     * older. The build library sits beside the shared libturbolift. */
    if (dladdr((void *)tl_build_service_lib, &info) != 0 && info.dli_fname != NULL &&
        access(TL_SERVICE_LIB_BUILD, R_OK) == 0 &&
        same_dir(info.dli_fname, TL_SERVICE_LIB_BUILD)) {
        first = TL_SERVICE_LIB_BUILD;
        second = TL_SERVICE_LIB_INSTALLED;
    }
    if (access(first, R_OK) == 0)
        r = strdup(first);
    else if (access(second, R_OK) == 0)
        r = strdup(second);
    else {
        snprintf(err, errlen, "libturbolift-service.a is neither at %s nor at %s "
                 "(install turbolift, or set TURBOLIFT_SERVICE_LIB)",
                 TL_SERVICE_LIB_INSTALLED, TL_SERVICE_LIB_BUILD);
        return NULL;
    }
done:
    if (r == NULL)
        snprintf(err, errlen, "out of memory");
    return r;
}

/* Libraries that must not reach the service: the client runtime and what
 * only it needs, the dynamic loader and libc (the driver adds those). */
static int skip_library(const char *path)
{
    static const char *const skip[] = {
        "libturbolift", "libcurl", "ld-linux", "linux-vdso", "linux-gate",
        "libc.so",
    };
    const char *base = strrchr(path, '/');

    base = base ? base + 1 : path;
    for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
        if (strncmp(base, skip[i], strlen(skip[i])) == 0)
            return 1;
    return 0;
}

/* In one of the dynamic loader's default folders (/usr/lib, or its
 * multiarch folder such as /usr/lib/x86_64-linux-gnu)? Those need no rpath. */
static int system_dir(const char *path)
{
    static const char *const roots[] = { "/lib", "/lib64", "/lib32",
                                         "/usr/lib", "/usr/lib64", "/usr/lib32" };
    size_t dlen = (size_t)(strrchr(path, '/') - path);

    for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++) {
        size_t rl = strlen(roots[i]);

        if (dlen < rl || strncmp(path, roots[i], rl) != 0)
            continue;
        if (dlen == rl)
            return 1;
        if (path[rl] == '/' && memchr(path + rl + 1, '/', dlen - rl - 1) == NULL &&
            memmem(path + rl + 1, dlen - rl - 1, "-linux-", 7) != NULL)
            return 1;
    }
    return 0;
}

static int add_loaded(struct dl_phdr_info *info, size_t size, void *data)
{
    struct argv *a = data;

    (void)size;
    /* The main program has an empty name; the vDSO has no file. */
    if (info->dlpi_name == NULL || info->dlpi_name[0] != '/')
        return 0;
    if (skip_library(info->dlpi_name))
        return 0;
    argv_add(a, info->dlpi_name);
    /* A library outside the system's folders (the program's own, found
     * through its rpath or LD_LIBRARY_PATH) must be found by the service
     * at run time too: give the service an rpath to its folder. */
    if (!system_dir(info->dlpi_name)) {
        const char *slash = strrchr(info->dlpi_name, '/');
        char *opt = NULL;

        if (asprintf(&opt, "-Wl,-rpath,%.*s", (int)(slash - info->dlpi_name),
                     info->dlpi_name) < 0) {
            a->oom = 1;
            return 0;
        }
        argv_add(a, opt);
        free(opt);
    }
    return 0;
}

static void add_words(struct argv *a, const char *words)
{
    char *copy = strdup(words), *save = NULL;

    if (copy == NULL) {
        a->oom = 1;
        return;
    }
    for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
        argv_add(a, w);
    free(copy);
}

/* Take the directory's lock, polling so that the wait is bounded. */
static int lock_dir(const char *dir, long deadline, int *fd_out, char *err, size_t errlen)
{
    char *path = NULL;
    long pause = 1;
    int fd;

    if (asprintf(&path, "%s/.lock", dir) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        free(path);
        return -1;
    }
    /* A blocking flock could wait forever on a stuck linker elsewhere. */
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            snprintf(err, errlen, "%s: flock: %s", path, strerror(errno));
            goto fail;
        }
        if (tl_now_ms() + pause > deadline) {
            snprintf(err, errlen, "%s: another process has been linking this service "
                     "for too long", path);
            goto fail;
        }
        tl_wait_ms(pause);
        pause = pause < 100 ? pause * 2 : 100;
    }
    free(path);
    *fd_out = fd;
    return 0;
fail:
    free(path);
    close(fd);
    return -1;
}

int tl_build_service(const struct tl_manifest *m, long timeout_ms,
                     char **binary, int *hit, char *err, size_t errlen)
{
    struct argv a = { 0 };
    char *lib = NULL, *bindir = NULL, *dir = NULL, *out = NULL, *tmp = NULL;
    char name[64];
    struct tl_proc_out r = { .out = NULL };
    long deadline = tl_now_ms() + timeout_ms;
    int rc = -1, lockfd = -1;
    uint64_t h = TL_FNV_OFFSET;

    *binary = NULL;
    *hit = 0;
    lib = tl_build_service_lib(err, errlen);
    if (lib == NULL)
        goto cleanup;

    argv_add(&a, m->compiler);
    argv_add(&a, m->service_object);
    argv_add(&a, lib);
    for (size_t i = 0; i < m->link_flags.count; i++)
        argv_add(&a, m->link_flags.items[i]);
    add_words(&a, TL_SERVICE_LINK_ARGS);
    argv_add(&a, "-Wl,--as-needed");
    dl_iterate_phdr(add_loaded, &a);
    if (a.oom)
        goto oom;

    for (size_t i = 0; i < a.n; i++)
        h = tl_fnv1a(h, a.v[i], strlen(a.v[i]) + 1);
    h = tl_fnv1a(h, m->hash, strlen(m->hash) + 1);
    if (tl_hash_file(&h, m->service_object, NULL, err, errlen) != 0 ||
        tl_hash_file(&h, lib, NULL, err, errlen) != 0)
        goto cleanup;

    bindir = tl_cache_dir("bin", err, errlen);
    if (bindir == NULL)
        goto cleanup;
    snprintf(name, sizeof name, "%016llx", (unsigned long long)h);
    if (asprintf(&dir, "%s/%s-%s", bindir, m->function, name) < 0 ||
        asprintf(&out, "%s/service", dir) < 0)
        goto oom;
    if (access(out, X_OK) == 0) {
        *hit = 1;
        goto done;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        goto cleanup;
    }
    if (lock_dir(dir, deadline, &lockfd, err, errlen) != 0)
        goto cleanup;
    if (access(out, X_OK) == 0) {      /* linked while we waited */
        *hit = 1;
        goto done;
    }
    if (asprintf(&tmp, "%s/service.tmp.%ld", dir, (long)getpid()) < 0)
        goto oom;
    argv_add(&a, "-o");
    argv_add(&a, tmp);
    if (a.oom)
        goto oom;
    tl_log_info("linking the service of %s: %s", m->function, out);
    /* What the compiler printed first says most: keep its output whole. */
    if (tl_proc_run_merged(a.v, deadline - tl_now_ms(), &r) != 0) {
        char cmd[2048];

        tl_proc_describe(a.v, cmd, sizeof cmd);
        snprintf(err, errlen, "linking the service of '%s' failed (%s)\n"
                 "  command: %s\n%s", m->function, r.err, cmd, r.out ? r.out : "");
        unlink(tmp);
        goto cleanup;
    }
    if (rename(tmp, out) != 0) {
        snprintf(err, errlen, "rename %s to %s: %s", tmp, out, strerror(errno));
        unlink(tmp);
        goto cleanup;
    }
done:
    *binary = out;
    out = NULL;
    rc = 0;
    goto cleanup;
oom:
    snprintf(err, errlen, "out of memory");
cleanup:
    if (lockfd >= 0)
        close(lockfd);      /* releases the flock */
    argv_free(&a);
    free(lib);
    free(bindir);
    free(dir);
    free(out);
    free(tmp);
    tl_proc_out_free(&r);
    return rc;
}
