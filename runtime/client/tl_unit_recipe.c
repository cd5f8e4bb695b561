/* SPDX-License-Identifier: MIT */
/*
 * tl_unit_recipe.c - make a unit's text at its first call.
 *
 * A file without a tagged function is not preprocessed a second time at
 * the build: its unit folder holds a recipe instead of unit.i (the plugin's
 * recipe.cc; format in runtime/common/tl_recipe_format.h). When a service
 * first links that unit, compile_unit (tl_build.c) calls this, under the
 * folder's lock, before compiling unit.i:
 *
 *   1. every input the build read must be what it read: the same size and
 *      mtime, or, when only the mtime differs (a fresh checkout, a compiler
 *      cache's object), the same content. Otherwise the text made now would
 *      not be the code the program was compiled from, and the call fails,
 *      naming the file and saying to rebuild. cc1 itself must be the same
 *      file (size and mtime);
 *   2. the recorded cc1 runs with the recorded options, from the recorded
 *      folder, with the recorded include-path variables and the build's
 *      SOURCE_DATE_EPOCH, plus -fsyntax-only and the plugin in mode=unit:
 *      the plugin preprocesses exactly as the build would have, cuts the
 *      text (slice.cc) and writes unit.i by rename. `env -C` sets the
 *      folder and the variables for the child alone: the compile threads
 *      share this process's working folder and environment.
 */
#define _GNU_SOURCE   /* getline, asprintf, vasprintf */
#include "tl_unit_recipe.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tl_build.h"
#include "tl_clock.h"
#include "tl_log.h"
#include "tl_proc.h"
#include "tl_recipe_format.h"

/* A growable list of strings. */
struct strs {
    char **v;
    size_t n;
};

static int strs_add(struct strs *s, const char *value)
{
    char **grown = realloc(s->v, (s->n + 2) * sizeof *grown);

    if (grown == NULL)
        return -1;
    s->v = grown;
    if ((s->v[s->n] = strdup(value)) == NULL)
        return -1;
    s->v[++s->n] = NULL;
    return 0;
}

static void strs_free(struct strs *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

struct recipe {
    char *cwd, *cc1, *tool, *plugin, *plugin_base, *epoch;
    struct strs env, args, inputs;
};

static void recipe_free(struct recipe *r)
{
    free(r->cwd);
    free(r->cc1);
    free(r->tool);
    free(r->plugin);
    free(r->plugin_base);
    free(r->epoch);
    strs_free(&r->env);
    strs_free(&r->args);
    strs_free(&r->inputs);
}

/* *slot = value, once (a later line of the same key is ignored). */
static int set_once(char **slot, const char *value)
{
    if (*slot != NULL)
        return 0;
    *slot = strdup(value);
    return *slot != NULL ? 0 : -1;
}

/* 1 when read (with cc1=), 0 when unit.txt has no recipe, -1 with err. */
static int recipe_read(const char *dir, struct recipe *r, char *err, size_t errlen)
{
    char *path = NULL, *line = NULL;
    size_t cap = 0;
    ssize_t n;
    FILE *f;
    int rc = 0;

    memset(r, 0, sizeof *r);
    if (asprintf(&path, "%s/unit.txt", dir) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    f = fopen(path, "re");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        free(path);
        return -1;
    }
    while (rc == 0 && (n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        if (strncmp(line, "cwd=", 4) == 0)
            rc = set_once(&r->cwd, line + 4);
        else if (strncmp(line, "cc1=", 4) == 0)
            rc = set_once(&r->cc1, line + 4);
        else if (strncmp(line, "tool=", 5) == 0)
            rc = set_once(&r->tool, line + 5);
        else if (strncmp(line, "plugin=", 7) == 0)
            rc = set_once(&r->plugin, line + 7);
        else if (strncmp(line, "plugin_base=", 12) == 0)
            rc = set_once(&r->plugin_base, line + 12);
        else if (strncmp(line, "epoch=", 6) == 0)
            rc = set_once(&r->epoch, line + 6);
        else if (strncmp(line, "env=", 4) == 0)
            rc = strs_add(&r->env, line + 4);
        else if (strncmp(line, "arg=", 4) == 0)
            rc = strs_add(&r->args, line + 4);
        else if (strncmp(line, "input=", 6) == 0)
            rc = strs_add(&r->inputs, line + 6);
    }
    free(line);
    fclose(f);
    if (rc != 0) {
        snprintf(err, errlen, "out of memory");
        recipe_free(r);
        free(path);
        return -1;
    }
    if (r->cc1 == NULL) {
        recipe_free(r);
        free(path);
        return 0;
    }
    if (r->cwd == NULL || r->tool == NULL || r->plugin == NULL || r->plugin_base == NULL ||
        r->args.n == 0) {
        snprintf(err, errlen, "%s is an incomplete recipe; rebuild the program", path);
        recipe_free(r);
        free(path);
        return -1;
    }
    free(path);
    return 1;
}

int tl_unit_recipe_is(const char *dir)
{
    struct recipe r;
    char err[256], *path = NULL;
    int rc, exists;

    /* no unit.txt at all: the caller's "no longer in the cache" */
    if (asprintf(&path, "%s/unit.txt", dir) < 0)
        return 0;
    exists = access(path, F_OK) == 0;
    free(path);
    if (!exists)
        return 0;
    rc = recipe_read(dir, &r, err, sizeof err);
    if (rc > 0)
        recipe_free(&r);
    return rc != 0;     /* an incomplete one is reported by the make */
}

static long long mtime_ns(const struct stat *st)
{
    return (long long)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
}

/* The content hash of the file at path (read whole: see the header). */
static int hash_file(const char *path, size_t size, uint64_t *h)
{
    char *buf = malloc(size ? size : 1);
    size_t len = 0;
    int fd, rc = -1;

    if (buf == NULL)
        return -1;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    while (fd >= 0 && len < size) {
        ssize_t n = read(fd, buf + len, size - len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    if (fd >= 0 && len == size) {
        *h = tl_content_hash(TL_RECIPE_HASH_SEED, buf, size);
        rc = 0;
    }
    if (fd >= 0)
        close(fd);
    free(buf);
    return rc;
}

/*
 * Is every input what the build read? NULL when so, else what happened to
 * which file, malloc'd ("one of them, /src/b.h, has changed").
 */
static char *changed_input(const struct recipe *r)
{
    char *what = NULL;

    for (size_t i = 0; i < r->inputs.n && what == NULL; i++) {
        const char *line = r->inputs.v[i];
        long long size, mtime;
        unsigned long long hash;
        int used = 0;
        const char *path;
        struct stat st;
        uint64_t h;

        if (sscanf(line, "%lld %lld %llx %n", &size, &mtime, &hash, &used) != 3 || used == 0) {
            if (asprintf(&what, "the recipe's line 'input=%s' is malformed", line) < 0)
                what = NULL;
            break;
        }
        path = line + used;
        if (stat(path, &st) != 0) {
            if (asprintf(&what, "one of them, %s, is gone (%s)", path, strerror(errno)) < 0)
                what = NULL;
        } else if ((long long)st.st_size != size ||
                   (mtime_ns(&st) != mtime &&
                    (hash_file(path, (size_t)st.st_size, &h) != 0 || h != hash))) {
            if (asprintf(&what, "one of them, %s, has changed", path) < 0)
                what = NULL;
        }
    }
    return what;
}

/* The compiler proper must be the very file that compiled the unit. */
static int same_tool(const struct recipe *r)
{
    long long size, mtime;
    struct stat st;

    return sscanf(r->tool, "%lld %lld", &size, &mtime) == 2 && stat(r->cc1, &st) == 0 &&
           (long long)st.st_size == size && mtime_ns(&st) == mtime;
}

/* Add each string, in order, up to NULL; -1 when out of memory. */
static int strs_addv(struct strs *s, ...)
{
    const char *value;
    va_list ap;
    int rc = 0;

    va_start(ap, s);
    while (rc == 0 && (value = va_arg(ap, const char *)) != NULL)
        rc = strs_add(s, value);
    va_end(ap);
    return rc;
}

/* Add a printf-made string; -1 when out of memory. */
static int strs_addf(struct strs *s, const char *fmt, ...)
{
    char *value = NULL;
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = vasprintf(&value, fmt, ap) < 0 ? -1 : strs_add(s, value);
    va_end(ap);
    free(value);
    return rc;
}

/* env -C CWD -u VAR... NAME=VALUE... cc1 ARGS -fsyntax-only -fplugin=...
 * -o /dev/null */
static char **command(const struct recipe *r, const char *dir)
{
    static const char *const vars[] = TL_RECIPE_ENV, *const drop[] = TL_RECIPE_ENV_DROP;
    struct strs a = { NULL, 0 };
    int bad = strs_addv(&a, "env", "-C", r->cwd, (char *)NULL);

    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        bad |= strs_addv(&a, "-u", vars[i], (char *)NULL);
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
        bad |= strs_addv(&a, "-u", drop[i], (char *)NULL);
    for (size_t i = 0; i < r->env.n; i++)
        bad |= strs_add(&a, r->env.v[i]);
    if (r->epoch != NULL)
        bad |= strs_addf(&a, "SOURCE_DATE_EPOCH=%s", r->epoch);
    bad |= strs_add(&a, r->cc1);
    for (size_t i = 0; i < r->args.n; i++)
        bad |= strs_add(&a, r->args.v[i]);
    bad |= strs_add(&a, "-fsyntax-only");
    bad |= strs_addf(&a, "-fplugin=%s", r->plugin);
    bad |= strs_addf(&a, "-fplugin-arg-%s-mode=unit", r->plugin_base);
    bad |= strs_addf(&a, "-fplugin-arg-%s-unitdir=%s", r->plugin_base, dir);
    /* -fsyntax-only still opens an (empty) assembly file beside the input */
    bad |= strs_addv(&a, "-o", "/dev/null", (char *)NULL);
    if (bad) {
        strs_free(&a);
        return NULL;
    }
    return a.v;
}

int tl_unit_recipe_make(const char *dir, const char *source, long timeout_ms,
                        char *err, size_t errlen)
{
    struct recipe r;
    struct tl_proc_out out = { .out = NULL };
    char **argv = NULL, *what = NULL, *unit = NULL;
    int rc = -1;

    switch (recipe_read(dir, &r, err, errlen)) {
    case -1:
        return -1;
    case 0:
        snprintf(err, errlen, "%s/unit.txt holds no recipe", dir);
        return -1;
    }
    if ((what = changed_input(&r)) != NULL) {
        snprintf(err, errlen, "the unit of %s is made at the first call from the files the "
                 "program was compiled from, and %s: " TL_BUILD_SOURCE_CHANGED, source, what);
        goto done;
    }
    if (!same_tool(&r)) {
        snprintf(err, errlen, "the unit of %s is made at the first call by the compiler that "
                 "compiled it, %s, and that file has changed or is gone: "
                 TL_BUILD_SOURCE_CHANGED, source, r.cc1);
        goto done;
    }
    if (access(r.plugin, R_OK) != 0) {
        snprintf(err, errlen, "the unit of %s is made at the first call by the turbolift plugin "
                 "that compiled it, %s, which is gone (%s): " TL_BUILD_SOURCE_CHANGED,
                 source, r.plugin, strerror(errno));
        goto done;
    }
    if ((argv = command(&r, dir)) == NULL || asprintf(&unit, "%s/unit.i", dir) < 0) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    tl_log_info("making the unit of %s from its recipe: %s", source, unit);
    if (tl_proc_run_merged(argv, timeout_ms, &out) != 0 || access(unit, R_OK) != 0) {
        char cmd[1024];

        tl_proc_describe(argv, cmd, sizeof cmd);
        tl_log_error("making the unit of %s (%s) failed (%s):\n%s\n  command: %s", source,
                     unit, out.err, out.out ? out.out : "", cmd);
        snprintf(err, errlen, "making the unit of %s (%s) failed (%.200s):\n%s", source, unit,
                 out.err, out.out ? out.out : "");
        goto done;
    }
    rc = 0;
done:
    if (argv != NULL) {
        for (size_t i = 0; argv[i] != NULL; i++)
            free(argv[i]);
        free(argv);
    }
    tl_proc_out_free(&out);
    free(what);
    free(unit);
    recipe_free(&r);
    return rc;
}
