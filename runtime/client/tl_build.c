/* SPDX-License-Identifier: MIT */
/*
 * tl_build.c - link a function's service binary, cached by hash.
 *
 * A service is the tagged function's service.o (its own file, whole, plus
 * the dispatcher) and every other unit this program was linked from
 * (docs/multifile.md): the program's objects carry their unit folders in
 * the section turbolift_units, which this file reads from the program's
 * ELF file; each unit is compiled once per machine (unit.o, cached in its
 * folder) and the link's --gc-sections keeps only what the dispatcher
 * reaches. Objects come before every library, so a symbol the program
 * defines itself is the program's in the service too, never a loaded
 * library's of the same name.
 *
 * What no unit defines comes from the libraries the program uses. The
 * manifest only knows the compile-time view; the running process knows
 * better: it has those libraries loaded. So we pass each loaded shared
 * library by absolute path and let --as-needed drop the ones the service
 * does not use. Inputs no unit and no loaded library provide (a library
 * built without the plugin) are added with link: in turbolift.yaml or
 * TURBOLIFT_LINK; what is still missing is reported, symbol by symbol,
 * with the file that needs it.
 */
#define _GNU_SOURCE   /* dladdr, dl_iterate_phdr, asprintf */
#include "tl_files.h"
#include "tl_cache_root.h"
#include "tl_clock.h"
#include "tl_build.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tl_config.h"
#include "tl_elf.h"
#include "tl_env.h"
#include "tl_log.h"
#include "tl_proc.h"
#include "tl_own_symbols.h"
#include "tl_unit_globals.h"
#include "tl_unit_graph.h"
#include "tl_unit_writes.h"
#include "tl_unit_recipe.h"
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
    char buf[4096], *path;

    if (tl_cache_path(buf, sizeof buf, sub) != 0) {
        snprintf(err, errlen, "neither XDG_CACHE_HOME nor HOME is an absolute path: "
                 "cannot place the turbolift cache");
        return NULL;
    }
    if ((path = strdup(buf)) == NULL) {
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

/* ------------------------------------------------------------------ */
/* The program's units (docs/multifile.md)                             */

#define UNITS_SECTION   "turbolift_units"    /* in the program: its unit folders */
#define UNIT_OF_SECTION "turbolift_unit_of"  /* in service.o: the unit it is      */

/* Does the list of NUL-separated strings data[0..len) hold s? (The linker
 * pads between the objects' pieces with NULs: empty strings are skipped.) */
static int list_has(const char *data, size_t len, const char *s)
{
    for (size_t i = 0; i < len; i += strlen(data + i) + 1)
        if (strcmp(data + i, s) == 0)
            return 1;
    return 0;
}

/* How long the first call may spend compiling the program's units. */
#define UNIT_COMPILE_BUDGET_MS (10 * 60 * 1000L)

/* One unit of the program, compiled on demand; or the tagged function's
 * service.c, compiled the same way (service != NULL). */
struct unit {
    char *dir;              /* the unit folder (from the program's section)  */
    char *object;           /* <dir>/unit.o                                   */
    char *source;           /* the file it came from, for messages            */
    const struct tl_manifest *service;  /* compile service.c of this manifest */
    char err[1024];
};

/*
 * Compile options that the link must repeat, as the user's own link did:
 * a sanitizer's runtime library must come first in the service too (gcc
 * puts it there when the link has -fsanitize=), and code compiled with
 * -fno-pie cannot go into a position-independent executable (the default
 * link), so one such unit makes the service -no-pie.
 */
struct link_needs {
    char *sanitize[8];      /* distinct -fsanitize=... options               */
    size_t nsanitize;
    int no_pie;
};

/* One file's options: its distinct -fsanitize= options are the service's
 * too; -fno-pie (or -fno-pic), unless a later -fpie/-fpic of the same file
 * undoes it, makes the service -no-pie. */
static void link_needs_add(struct link_needs *ln, char *const *flags, size_t n)
{
    int no_pie = 0;

    for (size_t i = 0; i < n; i++) {
        const char *f = flags[i];

        if (strncmp(f, "-fsanitize=", 11) == 0) {
            int seen = 0;

            for (size_t j = 0; j < ln->nsanitize && !seen; j++)
                seen = strcmp(ln->sanitize[j], f) == 0;
            if (!seen && ln->nsanitize < sizeof ln->sanitize / sizeof ln->sanitize[0] &&
                (ln->sanitize[ln->nsanitize] = strdup(f)) != NULL)
                ln->nsanitize++;
        } else if (strcmp(f, "-fno-pie") == 0 || strcmp(f, "-fno-PIE") == 0 ||
                   strcmp(f, "-fno-pic") == 0 || strcmp(f, "-fno-PIC") == 0) {
            no_pie = 1;
        } else if (strcmp(f, "-fpie") == 0 || strcmp(f, "-fPIE") == 0 ||
                   strcmp(f, "-fpic") == 0 || strcmp(f, "-fPIC") == 0) {
            no_pie = 0;
        }
    }
    if (no_pie)
        ln->no_pie = 1;
}

static void link_needs_free(struct link_needs *ln)
{
    for (size_t i = 0; i < ln->nsanitize; i++)
        free(ln->sanitize[i]);
    ln->nsanitize = 0;
}

/* The flag= lines of a unit's unit.txt, as an argv (NULL when unreadable). */
static char **unit_flags(const char *dir, size_t *n)
{
    char *path = NULL, line[8192];
    char **v = NULL;
    FILE *f;

    *n = 0;
    if (asprintf(&path, "%s/unit.txt", dir) < 0)
        return NULL;
    f = fopen(path, "re");
    free(path);
    if (f == NULL)
        return NULL;
    while (fgets(line, sizeof line, f) != NULL) {
        char **grown;

        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "flag=", 5) != 0)
            continue;
        grown = realloc(v, (*n + 1) * sizeof *v);
        if (grown == NULL)
            break;
        v = grown;
        v[(*n)++] = strdup(line + 5);
    }
    fclose(f);
    return v;
}

struct units {
    struct unit *v;
    size_t n;
    size_t left_out;        /* units the service does not reach (not in v)   */
    struct tl_unit_graph graph; /* what all the units define, write and call:
                               read once, for the reach and the warnings   */
    struct unit service;    /* the service's own object, when not yet compiled */
    char *program;          /* the ELF file that lists the units (or NULL)    */
    uintptr_t program_bias; /* where it is loaded in this process             */
    int compile_service;
    long deadline;
    atomic_size_t next;     /* the compile threads' shared cursor             */
    atomic_int failed;
};

/* The i-th object to compile: the units, then the service's own. */
static struct unit *unit_at(struct units *u, size_t i)
{
    return i < u->n ? &u->v[i] : &u->service;
}

static size_t units_to_compile(const struct units *u)
{
    return u->n + (u->compile_service ? 1 : 0);
}

struct find_units {
    const char *own;        /* the unit service.o stands for                  */
    char *path;             /* the ELF file of the object that lists it       */
    uintptr_t bias;         /* its load bias                                  */
    char *data;             /* the section of the object that lists it        */
    size_t len;
    char err[512];
};

static int find_units_in(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct find_units *f = arg;
    const char *path = info->dlpi_name;
    char *data;
    size_t len;

    (void)size;
    /* the main program comes first and has an empty name */
    if (path == NULL || path[0] == '\0')
        path = "/proc/self/exe";
    else if (path[0] != '/')
        return 0;   /* the vDSO */
    if (tl_elf_read_section(path, UNITS_SECTION, &data, &len, f->err, sizeof f->err) != 0)
        return 0;
    if (list_has(data, len, f->own)) {
        f->data = data;
        f->len = len;
        /* another process (nm) reads it: /proc/self/exe would be nm */
        f->path = strcmp(path, "/proc/self/exe") == 0 ? realpath(path, NULL) : strdup(path);
        f->bias = info->dlpi_addr;
        return 1;
    }
    free(data);
    return 0;
}

/* "source=" of <dir>/unit.txt, or the folder itself when unreadable. */
static char *unit_source(const char *dir)
{
    char *path = NULL, line[4096], *r = NULL;
    FILE *f;

    if (asprintf(&path, "%s/unit.txt", dir) < 0)
        return NULL;
    f = fopen(path, "re");
    while (f != NULL && r == NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "source=", 7) == 0) {
            line[strcspn(line, "\n")] = '\0';
            r = strdup(line + 7);
        }
    if (f != NULL)
        fclose(f);
    free(path);
    return r != NULL ? r : strdup(dir);
}

static void units_free(struct units *u)
{
    for (size_t i = 0; i < u->n; i++) {
        free(u->v[i].dir);
        free(u->v[i].object);
        free(u->v[i].source);
    }
    free(u->v);
    free(u->program);
    tl_unit_graph_free(&u->graph);
}

static int compile_unit(struct unit *x, long deadline);

/*
 * service.o is compiled at the first call, like every unit (the build only
 * checked service.c; docs/multifile.md, "Build time"). A manifest that
 * names its unit lets it compile beside the units; an older one, without
 * "unit:", has it compiled first so its note can be read.
 */
static void service_unit(const struct tl_manifest *m, struct units *u)
{
    u->compile_service = access(m->service_object, R_OK) != 0 && m->service_source != NULL;
    u->service.dir = m->dir;
    u->service.object = m->service_object;
    u->service.source = m->source != NULL ? m->source : m->function;
    u->service.service = m;
    u->service.err[0] = '\0';
}

/*
 * The units the program holding this service was linked from, but the one
 * service.o already is. A service.o without the note (an older plugin)
 * links alone, as before.
 */
static int program_units(const struct tl_manifest *m, struct units *u, char *err, size_t errlen)
{
    struct find_units f = { .own = NULL };
    char *own = NULL;
    size_t ownlen, count = 0;
    int rc;

    memset(u, 0, sizeof *u);
    service_unit(m, u);
    if (m->unit != NULL) {
        own = strdup(m->unit);
        if (own == NULL)
            goto oom;
    } else {
        if (u->compile_service) {
            if (compile_unit(&u->service, tl_now_ms() + UNIT_COMPILE_BUDGET_MS) != 0) {
                snprintf(err, errlen, "%s", u->service.err);
                return -1;
            }
            u->compile_service = 0;
        }
        rc = tl_elf_read_section(m->service_object, UNIT_OF_SECTION, &own, &ownlen, err, errlen);
        if (rc != 0)
            return rc < 0 ? -1 : 0;
    }
    f.own = own;
    f.err[0] = '\0';
    dl_iterate_phdr(find_units_in, &f);
    if (f.data == NULL) {
        snprintf(err, errlen, "this program does not list the unit of %s (%s) in its "
                 "section " UNITS_SECTION ": it was built by an older turbolift plugin, or "
                 "the section was removed (objcopy, strip -R); rebuild it%s%s",
                 m->source ? m->source : m->function, own,
                 f.err[0] ? "; " : "", f.err);
        free(own);
        return -1;
    }
    for (size_t i = 0; i < f.len; i += strlen(f.data + i) + 1)
        count += f.data[i] != '\0';
    u->v = calloc(count ? count : 1, sizeof *u->v);
    if (u->v == NULL)
        goto oom;
    for (size_t i = 0; i < f.len; i += strlen(f.data + i) + 1) {
        const char *dir = f.data + i;
        struct unit *x;
        int seen = 0;

        if (dir[0] == '\0' || strcmp(dir, own) == 0)
            continue;
        for (size_t j = 0; j < u->n && !seen; j++)
            seen = strcmp(u->v[j].dir, dir) == 0;
        if (seen)
            continue;
        x = &u->v[u->n++];
        x->dir = strdup(dir);
        x->source = unit_source(dir);
        if (x->dir == NULL || x->source == NULL || asprintf(&x->object, "%s/unit.o", dir) < 0)
            goto oom;
    }
    u->program = f.path;
    u->program_bias = f.bias;
    free(own);
    free(f.data);
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    free(own);
    free(f.data);
    free(f.path);
    units_free(u);
    memset(u, 0, sizeof *u);
    return -1;
}

static struct tl_unit_ref *unit_refs(const struct tl_manifest *m, const struct units *u);

/*
 * Read what every unit's vars.txt says it defines, writes, calls and refers
 * to into u->graph (tl_unit_graph.c; the write warnings use it after the
 * link), and, unless all_units, keep only the units that define something
 * the tagged function reaches: a program of many files whose service needs
 * a few compiles a few at its first call, and a file it never reaches
 * cannot fail it (a recipe whose source is gone). A folder an older plugin
 * made says nothing and is kept. u->left_out: how many were left out.
 */
static int reach_units(const struct tl_manifest *m, struct units *u, int all_units,
                       char *err, size_t errlen)
{
    struct tl_unit_ref *refs = unit_refs(m, u);
    int *needed = calloc(u->n + 1, sizeof *needed);
    size_t kept = 0;
    int rc = -1;

    if (refs == NULL || needed == NULL ||
        tl_unit_graph_read(&u->graph, m->function, refs, u->n + 1) != 0)
        goto oom;
    if (all_units) {
        rc = 0;
        goto cleanup;
    }
    if (tl_unit_graph_needed(&u->graph, needed) != 0)
        goto oom;
    for (size_t i = 0; i < u->n; i++) {
        if (needed[i + 1]) {
            u->v[kept++] = u->v[i];
            continue;
        }
        tl_log_debug("%s: its service does not reach %s: not compiled, not linked",
                     m->function, u->v[i].source);
        free(u->v[i].dir);
        free(u->v[i].object);
        free(u->v[i].source);
    }
    u->left_out = u->n - kept;
    u->n = kept;
    rc = 0;
    goto cleanup;
oom:
    snprintf(err, errlen, "out of memory");
cleanup:
    free(refs);
    free(needed);
    return rc;
}

/* compiler -c -w <flags> -ffunction-sections -fdata-sections unit.i -o unit.o
 * (the flags from unit.txt; for the service, from its manifest and of
 * service.c): under the folder's lock, so one process compiles and the
 * others wait; the object appears by rename. */
static int compile_unit(struct unit *x, long deadline)
{
    struct argv a = { 0 };
    struct tl_proc_out r = { .out = NULL };
    char *txt = NULL, *input = NULL, *tmp = NULL, line[8192];
    char *compiler = NULL;
    int lockfd = -1, rc = -1;
    FILE *f = NULL;

    if (access(x->object, R_OK) == 0)
        return 0;
    if (access(x->dir, F_OK) != 0) {
        snprintf(x->err, sizeof x->err, "the %s folder of %s, %s, does not exist: "
                 TL_BUILD_FOLDER_GONE, x->service ? "service" : "unit", x->source, x->dir);
        return -1;
    }
    if (lock_dir(x->dir, deadline, &lockfd, x->err, sizeof x->err) != 0)
        return -1;
    if (access(x->object, R_OK) == 0) {     /* compiled while we waited */
        rc = 0;
        goto cleanup;
    }
    if (asprintf(&tmp, "%s.tmp.%ld.%lu", x->object, (long)getpid(),
                 (unsigned long)pthread_self()) < 0) {
        snprintf(x->err, sizeof x->err, "out of memory");
        goto cleanup;
    }
    if (x->service != NULL) {
        const struct tl_manifest *m = x->service;

        input = strdup(m->service_source);
        compiler = strdup(m->compiler);
        if (input == NULL || compiler == NULL) {
            snprintf(x->err, sizeof x->err, "out of memory");
            goto cleanup;
        }
        if (access(input, R_OK) != 0) {
            snprintf(x->err, sizeof x->err, "the service of %s is no longer in the cache "
                     "(%s: %s); rebuild the program", m->function, input, strerror(errno));
            goto cleanup;
        }
        argv_add(&a, compiler);
        argv_add(&a, "-c");
        argv_add(&a, "-w");
        for (size_t i = 0; i < m->compile_flags.count; i++)
            argv_add(&a, m->compile_flags.items[i]);
        goto compile;
    }
    if (asprintf(&txt, "%s/unit.txt", x->dir) < 0 || asprintf(&input, "%s/unit.i", x->dir) < 0) {
        snprintf(x->err, sizeof x->err, "out of memory");
        goto cleanup;
    }
    /* a file without a tagged function left a recipe: its text first */
    if (access(input, F_OK) != 0 && tl_unit_recipe_is(x->dir) &&
        tl_unit_recipe_make(x->dir, x->source, deadline - tl_now_ms(), x->err,
                            sizeof x->err) != 0)
        goto cleanup;
    f = fopen(txt, "re");
    if (f == NULL || access(input, R_OK) != 0) {
        snprintf(x->err, sizeof x->err, "the unit of %s is no longer in the cache (%s: %s); "
                 "rebuild the program", x->source, f == NULL ? txt : input, strerror(errno));
        goto cleanup;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "compiler=", 9) == 0 && compiler == NULL) {
            compiler = strdup(line + 9);
            argv_add(&a, line + 9);
            argv_add(&a, "-c");
            argv_add(&a, "-w");
        } else if (strncmp(line, "flag=", 5) == 0 && compiler != NULL) {
            argv_add(&a, line + 5);
        }
    }
    if (compiler == NULL) {
        snprintf(x->err, sizeof x->err, "%s names no compiler; rebuild the program", txt);
        goto cleanup;
    }
compile:
    argv_add(&a, "-ffunction-sections");
    argv_add(&a, "-fdata-sections");
    argv_add(&a, input);
    argv_add(&a, "-o");
    argv_add(&a, tmp);
    if (a.oom) {
        snprintf(x->err, sizeof x->err, "out of memory");
        goto cleanup;
    }
    tl_log_info("compiling the %s of %s for services: %s", x->service ? "service" : "unit",
                x->service ? x->service->function : x->source, x->object);
    if (tl_proc_run_merged(a.v, deadline - tl_now_ms(), &r) != 0) {
        /* whole in the log; the reason has a fixed size */
        tl_log_error("compiling the %s of %s (%s) failed (%s):\n%s",
                     x->service ? "service" : "unit", x->source, input, r.err,
                     r.out ? r.out : "");
        snprintf(x->err, sizeof x->err, "compiling the %s of %s (%s) failed (%.200s):\n%s",
                 x->service ? "service" : "unit", x->source, input, r.err,
                 r.out ? r.out : "");
        unlink(tmp);
        goto cleanup;
    }
    if (rename(tmp, x->object) != 0) {
        snprintf(x->err, sizeof x->err, "rename %s to %s: %s", tmp, x->object, strerror(errno));
        unlink(tmp);
        goto cleanup;
    }
    rc = 0;
cleanup:
    if (f != NULL)
        fclose(f);
    if (lockfd >= 0)
        close(lockfd);
    argv_free(&a);
    tl_proc_out_free(&r);
    free(compiler);
    free(txt);
    free(input);
    free(tmp);
    return rc;
}

static void *compile_units_thread(void *arg)
{
    struct units *u = arg;
    size_t i;

    while ((i = atomic_fetch_add(&u->next, 1)) < units_to_compile(u))
        if (compile_unit(unit_at(u, i), u->deadline) != 0)
            atomic_store(&u->failed, 1);
    return NULL;
}

/* Compile the units that have no object yet, one thread per CPU. */
static int compile_units(struct units *u, const char *function, long deadline,
                         char *err, size_t errlen)
{
    pthread_t threads[16];
    size_t nthreads = (size_t)tl_cpu_count(), started = 0, missing = 0;
    size_t total = units_to_compile(u);

    for (size_t i = 0; i < u->n; i++)
        missing += access(u->v[i].object, R_OK) != 0;
    if (missing > 0 || u->compile_service)
        tl_log_progress(isatty(STDERR_FILENO), "%s: compiling %s%zu of the %zu other files of "
                        "this program that its service reaches (once per machine; %zu it does "
                        "not reach are left out)", function,
                        u->compile_service ? "its service and " : "", missing, u->n, u->left_out);

    u->deadline = deadline;
    atomic_store(&u->next, 0);
    atomic_store(&u->failed, 0);
    if (nthreads > sizeof threads / sizeof threads[0])
        nthreads = sizeof threads / sizeof threads[0];
    if (nthreads > total)
        nthreads = total;
    for (; started + 1 < nthreads; started++)
        if (pthread_create(&threads[started], NULL, compile_units_thread, u) != 0)
            break;
    compile_units_thread(u);
    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    if (!atomic_load(&u->failed))
        return 0;
    for (size_t i = 0; i < total; i++)
        if (unit_at(u, i)->err[0] != '\0') {
            snprintf(err, errlen, "%s", unit_at(u, i)->err);
            break;
        }
    return -1;
}

/* The file a linker message's object stands for. */
static const char *object_source(const struct tl_manifest *m, const struct units *u,
                                 const char *object)
{
    for (size_t i = 0; i < u->n; i++)
        if (strcmp(u->v[i].object, object) == 0)
            return u->v[i].source;
    if (strcmp(m->service_object, object) == 0)
        return m->source ? m->source : m->function;
    return object;
}

/*
 * Every "undefined reference" of a failed link, as "  SYMBOL (needed by
 * FUNCTION in FILE)" lines, each pair once; NULL when there are none. GNU
 * ld writes "OBJECT: in function `F':" and then "...: undefined reference
 * to `SYMBOL'" for each reference.
 */
static char *undefined_symbols(const struct tl_manifest *m, const struct units *u,
                               const char *output, size_t *count)
{
    char *list = NULL, *object = NULL, *function = NULL;
    size_t len = 0;
    const char *line = output;

    *count = 0;
    while (line != NULL && *line != '\0') {
        const char *end = strchr(line, '\n'), *p;
        size_t n = end ? (size_t)(end - line) : strlen(line);
        char *l = strndup(line, n);

        line = end ? end + 1 : NULL;
        if (l == NULL)
            break;
        if ((p = strstr(l, ": in function `")) != NULL) {
            const char *start = strncmp(l, "/usr/bin/ld: ", 13) == 0 ? l + 13 : l;
            const char *fn = p + 15, *fe = strchr(fn, '\'');

            free(object);
            free(function);
            object = strndup(start, (size_t)(p - start));
            function = strndup(fn, fe ? (size_t)(fe - fn) : strlen(fn));
        } else if ((p = strstr(l, "undefined reference to `")) != NULL) {
            const char *sym = p + 24, *se = strchr(sym, '\'');
            char *entry = NULL;
            int elen;

            elen = asprintf(&entry, "  %.*s (needed by %s%s%s)\n",
                            (int)(se ? se - sym : (long)strlen(sym)), sym,
                            function ? function : "", function ? " in " : "",
                            object ? object_source(m, u, object) : "the service");
            if (elen > 0 && (list == NULL || strstr(list, entry) == NULL)) {
                char *grown = realloc(list, len + (size_t)elen + 1);

                if (grown != NULL) {
                    memcpy(grown + len, entry, (size_t)elen + 1);
                    list = grown;
                    len += (size_t)elen;
                    (*count)++;
                }
            }
            free(entry);
        }
        free(l);
    }
    free(object);
    free(function);
    return list;
}

/* link: from turbolift.yaml (the function's section or the defaults), or
 * TURBOLIFT_LINK, as words. */
static int add_extra_inputs(struct argv *a, const char *function, char *err, size_t errlen)
{
    struct tl_config *cfg = NULL;
    struct tl_fn_config fc;
    int rc = -1;

    if (tl_config_load(&cfg, err, errlen) != 0 ||
        tl_config_resolve(cfg, function, &fc, err, errlen) != 0)
        goto done;
    if (fc.link != NULL)
        add_words(a, fc.link);
    rc = 0;
done:
    tl_config_free(cfg);
    return rc;
}

/* The service's own unit first (its manifest's), then the program's
 * others: what tl_unit_globals.c and tl_unit_graph.c read. */
static struct tl_unit_ref *unit_refs(const struct tl_manifest *m, const struct units *u)
{
    struct tl_unit_ref *refs = calloc(u->n + 1, sizeof *refs);

    if (refs == NULL)
        return NULL;
    refs[0].dir = m->unit != NULL ? m->unit : m->dir;
    refs[0].source = m->source != NULL ? m->source : m->function;
    for (size_t i = 0; i < u->n; i++) {
        refs[i + 1].dir = u->v[i].dir;
        refs[i + 1].source = u->v[i].source != NULL ? u->v[i].source : u->v[i].dir;
    }
    return refs;
}

/* The program's variables that the service keeps and may read: listed in
 * the binary after its link (tl_unit_globals.c), the service's own unit
 * first, whose captured globals the stub sends itself; and what it writes
 * of them, warned at (tl_unit_writes.c). */
static int embed_unit_globals(const struct tl_manifest *m, const struct units *u,
                              const char *binary, long deadline, char *err, size_t errlen)
{
    struct tl_unit_ref *refs = unit_refs(m, u);
    int rc;

    if (refs == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* the writes of other files' code in it: warned once, as it is linked */
    rc = tl_unit_writes_check(m->function, &u->graph, err, errlen);
    if (rc == 0)
        rc = tl_unit_globals_embed(binary, refs, u->n + 1, m->captured.items,
                                   m->captured.count, deadline - tl_now_ms(), err, errlen);
    free(refs);
    return rc;
}

/* What the program defines itself must not come from a shared library in
 * the service (tl_own_symbols.c): checked after every link and at every
 * run's first call, since two programs may share one cached service. */
static int refuse_library_copies(const struct tl_manifest *m, const struct units *u,
                                 const char *binary, long deadline, char *err, size_t errlen)
{
    const char **objects = calloc(u->n + 1, sizeof *objects);
    const char *what;
    char *list = NULL, why[512];
    size_t count = 0;
    int stripped = 0, rc;

    if (u->program == NULL)
        return 0;   /* an older service without its unit: nothing to compare */
    if (objects == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    objects[0] = m->service_object;
    for (size_t i = 0; i < u->n; i++)
        objects[i + 1] = u->v[i].object;
    rc = tl_own_symbols_imported(u->program, binary, objects, u->n + 1, deadline - tl_now_ms(),
                                 &list, &count, &stripped, why, sizeof why);
    free(objects);
    if (rc != 0) {
        snprintf(err, errlen, "cannot compare the symbols of %s and its service: %s",
                 u->program, why);
        return -1;
    }
    if (count == 0)
        return 0;
    what = stripped ? "does not import (it is stripped: so it defines them itself, "
                      "in files compiled without the turbolift plugin)"
                    : "defines itself, in files compiled without the turbolift plugin";
    tl_log_error("the service of %s would take %zu symbol%s from a shared library that this "
                 "program (%s) %s; the service would run other code than the program:\n%s"
                 "compile the files that define them with the plugin, or name their objects or "
                 "archives with link: in turbolift.yaml or TURBOLIFT_LINK (docs/multifile.md)",
                 m->function, count, count == 1 ? "" : "s", u->program, what, list);
    snprintf(err, errlen, "the service of '%s' would take %zu symbol%s from a shared library "
             "that the program %s (all listed in the log above):\n%.*s", m->function,
             count, count == 1 ? "" : "s", stripped ? "does not import" : "defines itself",
             (int)strlen(list) - 1, list);
    free(list);
    return -1;
}

/* tl_build_service, with every unit (all_units) or the reached ones; a
 * link of the reached ones that fails sets *retry_all. */
static int build_service(const struct tl_manifest *m, long timeout_ms, int all_units,
                         int *retry_all, char **binary, int *hit,
                         struct tl_unit_globals **globals, char *err, size_t errlen)
{
    struct argv a = { 0 };
    char *lib = NULL, *bindir = NULL, *dir = NULL, *out = NULL, *tmp = NULL;
    char name[64];
    struct tl_proc_out r = { .out = NULL };
    struct units u = { .v = NULL };
    struct link_needs needs = { .nsanitize = 0 };
    long deadline = tl_now_ms() + timeout_ms;
    int rc = -1, lockfd = -1;
    uint64_t h = TL_FNV_OFFSET;

    *retry_all = 0;
    *binary = NULL;
    *hit = 0;
    *globals = NULL;
    lib = tl_build_service_lib(err, errlen);
    if (lib == NULL)
        goto cleanup;
    /* Compiling a program's units happens once per machine and may take
     * longer than starting workers: it has a budget of its own, and the
     * link gets the whole timeout after it. */
    if (program_units(m, &u, err, errlen) != 0 ||
        reach_units(m, &u, all_units, err, errlen) != 0 ||
        compile_units(&u, m->function, tl_now_ms() + UNIT_COMPILE_BUDGET_MS, err, errlen) != 0)
        goto cleanup;
    deadline = tl_now_ms() + timeout_ms;

    /* objects first: what the program defines, the service takes from them */
    argv_add(&a, m->compiler);
    argv_add(&a, m->service_object);
    for (size_t i = 0; i < u.n; i++)
        argv_add(&a, u.v[i].object);
    argv_add(&a, lib);
    for (size_t i = 0; i < m->link_flags.count; i++)
        argv_add(&a, m->link_flags.items[i]);
    link_needs_add(&needs, m->compile_flags.items, m->compile_flags.count);
    for (size_t i = 0; i < u.n; i++) {
        size_t n;
        char **flags = unit_flags(u.v[i].dir, &n);

        link_needs_add(&needs, flags, n);
        for (size_t j = 0; j < n; j++)
            free(flags[j]);
        free(flags);
    }
    for (size_t i = 0; i < needs.nsanitize; i++)
        argv_add(&a, needs.sanitize[i]);
    if (needs.no_pie)
        argv_add(&a, "-no-pie");
    add_words(&a, TL_SERVICE_LINK_ARGS);
    if (add_extra_inputs(&a, m->function, err, errlen) != 0)
        goto cleanup;
    argv_add(&a, "-Wl,--gc-sections");
    argv_add(&a, "-Wl,--as-needed");
    dl_iterate_phdr(add_loaded, &a);
    if (a.oom)
        goto oom;

    /* The units' objects count by their contents (below), not their folders:
     * two builds of the same sources whose units landed in two folders
     * (a recipe names its build folder) link one service. */
    for (size_t i = 0; i < a.n; i++)
        if (i < 2 || i >= 2 + u.n)
            h = tl_fnv1a(h, a.v[i], strlen(a.v[i]) + 1);
    h = tl_fnv1a(h, m->hash, strlen(m->hash) + 1);
    if (tl_hash_file(&h, m->service_object, NULL, err, errlen) != 0 ||
        tl_hash_file(&h, lib, NULL, err, errlen) != 0)
        goto cleanup;
    for (size_t i = 0; i < u.n; i++) {
        char *vars = NULL;

        if (tl_hash_file(&h, u.v[i].object, NULL, err, errlen) != 0)
            goto cleanup;
        /* what the list of the program's variables is made from */
        if (asprintf(&vars, "%s/vars.txt", u.v[i].dir) < 0)
            goto oom;
        if (access(vars, R_OK) == 0 && tl_hash_file(&h, vars, NULL, err, errlen) != 0) {
            free(vars);
            goto cleanup;
        }
        free(vars);
    }

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
        size_t count;
        char *missing;

        unlink(tmp);
        if (u.left_out > 0) {
            /* something the records do not show (a name in an asm
             * statement) is in a unit left out: link them all */
            tl_log_info("linking the service of %s from the %zu units it reaches failed; "
                        "linking all %zu: %.300s", m->function, u.n + 1, u.n + 1 + u.left_out,
                        r.out ? r.out : r.err);
            *retry_all = 1;
            snprintf(err, errlen, "linking the service of '%s' from the units it reaches failed",
                     m->function);
            goto cleanup;
        }
        missing = undefined_symbols(m, &u, r.out, &count);
        if (missing != NULL) {
            /* the whole list goes to the log: a reason has a fixed size */
            tl_log_error("the service of %s needs %zu symbol%s that no unit of this "
                         "program defines and no library it loaded provides:\n%s"
                         "compile the files that define them with the turbolift plugin, or "
                         "name the libraries with link: in turbolift.yaml or TURBOLIFT_LINK "
                         "(docs/multifile.md)", m->function, count, count == 1 ? "" : "s",
                         missing);
            snprintf(err, errlen, "linking the service of '%s' failed: %zu undefined "
                     "symbol%s (all listed in the log above):\n%.*s", m->function, count,
                     count == 1 ? "" : "s", (int)strlen(missing) - 1, missing);
            free(missing);
        } else {
            char cmd[2048];

            /* What the compiler printed says most: it goes first. */
            tl_proc_describe(a.v, cmd, sizeof cmd);
            snprintf(err, errlen, "linking the service of '%s' failed (%s):\n%s\n"
                     "  command: %s", m->function, r.err, r.out ? r.out : "", cmd);
        }
        goto cleanup;
    }
    if (embed_unit_globals(m, &u, tmp, deadline, err, errlen) != 0) {
        unlink(tmp);
        goto cleanup;
    }
    if (rename(tmp, out) != 0) {
        snprintf(err, errlen, "rename %s to %s: %s", tmp, out, strerror(errno));
        unlink(tmp);
        goto cleanup;
    }
done:
    if (refuse_library_copies(m, &u, out, deadline, err, errlen) != 0)
        goto cleanup;
    if (tl_unit_globals_load(out, u.program, u.program_bias, globals, err, errlen) != 0)
        goto cleanup;
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
    units_free(&u);
    link_needs_free(&needs);
    return rc;
}

int tl_build_service(const struct tl_manifest *m, long timeout_ms,
                     char **binary, int *hit, struct tl_unit_globals **globals,
                     char *err, size_t errlen)
{
    int retry_all;
    int rc = build_service(m, timeout_ms, 0, &retry_all, binary, hit, globals, err, errlen);

    if (rc != 0 && retry_all)
        rc = build_service(m, timeout_ms, 1, &retry_all, binary, hit, globals, err, errlen);
    return rc;
}
