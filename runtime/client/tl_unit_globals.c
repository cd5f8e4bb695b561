/* SPDX-License-Identifier: MIT */
/*
 * tl_unit_globals.c - the program's variables that a linked service keeps
 * travel with each call (docs/remote.md, "Variables of other files").
 *
 * The plugin captures what the tagged function's own file reads, one file
 * at a time; but a service links the program's other files too
 * (docs/multifile.md), and their code may read a variable that main set
 * before the call: a verbosity flag, a table, a scale set through a
 * setter. A worker starts with the initial values, so without this it
 * would compute with other values than the program, silently. Which
 * variables a service holds is known only after its link; what they are
 * is known only to the compiler. So:
 *
 *   1. the plugin describes each file's writable variables in its unit
 *      folder (<unit>/vars.txt, plugin/unitvars.cc): size, static or not,
 *      whether anything may write it, whether it holds pointers;
 *   2. after the link (embed), each data symbol the binary kept is looked
 *      up in the units' tables; those that may change are listed in the
 *      binary's section TL_ABI_GLOBALS_SECTION: one that is plain bytes
 *      ("b") travels with every call, at its offset in one block; one that
 *      holds pointers ("p") cannot (an address means nothing in another
 *      process) and must be unchanged since the program started;
 *   3. at every run's first call (load), each listed variable is found in
 *      the program's symbol table (a static by its file's name), and
 *   4. on every call (gather) each variable the program has changed since
 *      it started (compared with its bytes at start, then for good) goes
 *      with the call: plain bytes in one block sent as one more captured
 *      value, "[SIZE]u1", led by a bitmap of what the call brings, and each
 *      char pointer ("s") as one more, "s" (the text it points at); the
 *      service copies them into its own variables before the function runs
 *      (service/tl_capture.c). A variable the program never changed stays
 *      the worker's own, as the tagged file's globals that only the
 *      service writes do. Another pointer variable that changed fails the
 *      call: its value cannot travel.
 *
 * What the program's data looked like at start, for (4), is copied when
 * libturbolift is initialised: after relocation, before the program's own
 * constructors and main (snapshot).
 */
#define _GNU_SOURCE
#include "tl_unit_globals.h"

#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tl_abi.h"
#include "tl_buf.h"
#include "tl_elf.h"
#include "tl_log.h"
#include "tl_proc.h"

/* ------------------------------------------------------------------ */
/* The program's writable data at start                                */

/* More than this is not copied: a program with such data finds out at
 * the first call of a service whose pointer variables need it. */
#define SNAPSHOT_BUDGET ((size_t)64 << 20)
/* Lists are text, a line per variable. */
#define LIST_MAX ((size_t)16 << 20)

struct segment {
    uintptr_t start;
    size_t file_size;               /* bytes from the file: copied      */
    size_t mem_size;                /* the rest was zero (.bss)          */
    unsigned char *copy;            /* NULL: over the budget             */
};

static struct segment *segments;
static size_t segment_count;

/* The system's libraries hold none of the program's variables. */
static int system_library(const char *path)
{
    static const char *const dirs[] = { "/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/" };

    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        if (strncmp(path, dirs[i], strlen(dirs[i])) == 0)
            return 1;
    return 0;
}

static int snapshot_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    size_t *budget = arg;

    (void)size;
    if (info->dlpi_name != NULL && info->dlpi_name[0] != '\0' &&
        (info->dlpi_name[0] != '/' || system_library(info->dlpi_name)))
        return 0;   /* the vDSO, or the system's */
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        struct segment *grown, *s;

        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
            continue;
        grown = realloc(segments, (segment_count + 1) * sizeof *grown);
        if (grown == NULL)
            return 1;
        segments = grown;
        s = &segments[segment_count++];
        s->start = info->dlpi_addr + ph->p_vaddr;
        s->file_size = ph->p_filesz;
        s->mem_size = ph->p_memsz;
        s->copy = NULL;
        if (s->file_size <= *budget && (s->copy = malloc(s->file_size ? s->file_size : 1)) != NULL) {
            memcpy(s->copy, (const void *)s->start, s->file_size);
            *budget -= s->file_size;
        }
    }
    return 0;
}

__attribute__((constructor)) static void snapshot(void)
{
    size_t budget = SNAPSHOT_BUDGET;

    dl_iterate_phdr(snapshot_object, &budget);
}

/* The bytes [addr, addr + size) had at start, into out: 0, or -1 when not
 * known (not in a writable segment of ours, or over the budget). */
static int initial_bytes(uintptr_t addr, size_t size, unsigned char *out)
{
    for (size_t i = 0; i < segment_count; i++) {
        const struct segment *s = &segments[i];

        if (addr < s->start || addr - s->start > s->mem_size || size > s->mem_size - (addr - s->start))
            continue;
        if (s->copy == NULL)
            return -1;
        for (size_t k = 0; k < size; k++) {
            size_t at = addr - s->start + k;

            out[k] = at < s->file_size ? s->copy[at] : 0;
        }
        return 0;
    }
    return -1;
}

/* ------------------------------------------------------------------ */
/* 2. After the link: what the binary keeps                            */

struct unit_var {
    char *name;
    size_t size;
    char flags[8];
    size_t unit;
};

struct unit_vars {
    struct unit_var *v;
    size_t n;
    char **files;                   /* per unit: its source's base name */
};

static int has_flag(const struct unit_var *v, char f)
{
    return strchr(v->flags, f) != NULL;
}

int tl_unit_vars_lines(const char *dir, int (*each)(void *arg, char *line), void *arg)
{
    char *path = NULL, line[2048];
    FILE *f;
    int rc = 0;

    if (asprintf(&path, "%s/vars.txt", dir) < 0)
        return -1;
    f = fopen(path, "re");
    free(path);
    if (f == NULL)
        return 1;
    while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        rc = each(arg, line);
    }
    fclose(f);
    return rc;
}

struct var_reader {
    struct unit_vars *t;
    size_t unit;
};

static int read_var(void *arg, char *line)
{
    struct var_reader *r = arg;
    struct unit_vars *t = r->t;
    struct unit_var v = { .unit = r->unit };
    struct unit_var *grown;
    char name[512];
    unsigned long long size;

    if (strncmp(line, "file=", 5) == 0) {
        free(t->files[r->unit]);
        return (t->files[r->unit] = strdup(line + 5)) == NULL ? -1 : 0;
    }
    if (sscanf(line, "var=%511s %llu %7s", name, &size, v.flags) != 3)
        return 0;
    grown = realloc(t->v, (t->n + 1) * sizeof *grown);
    if (grown == NULL)
        return -1;
    t->v = grown;
    if ((v.name = strdup(name)) == NULL)
        return -1;
    v.size = (size_t)size;
    t->v[t->n++] = v;
    return 0;
}

/* <dir>/vars.txt into t: 0, 1 when the folder has none (made by an older
 * plugin), -1 when out of memory. */
static int read_vars(const char *dir, size_t unit, struct unit_vars *t)
{
    struct var_reader r = { t, unit };

    return tl_unit_vars_lines(dir, read_var, &r);
}

static void unit_vars_free(struct unit_vars *t, size_t nunits)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i].name);
    free(t->v);
    for (size_t i = 0; t->files != NULL && i < nunits; i++)
        free(t->files[i]);
    free(t->files);
}

struct kept {
    const char *name;
    const char *file;
    uint64_t value, size;
    int local;
    int thread_local;
};

struct kept_list {
    struct kept *v;
    size_t n;
    int oom;
};

/* A writable variable the binary kept: data, not thread-local, not the
 * constant data the dynamic linker writes once (.data.rel.ro). */
static int collect_kept(const struct tl_elf_symbol *s, void *arg)
{
    struct kept_list *k = arg;
    struct kept *grown;

    if ((s->type != STT_OBJECT && s->type != STT_TLS) || s->shndx == SHN_UNDEF ||
        s->shndx >= SHN_LORESERVE || !(s->section_flags & SHF_ALLOC) ||
        !(s->section_flags & SHF_WRITE) || strncmp(s->section, ".data.rel.ro", 12) == 0)
        return 0;
    grown = realloc(k->v, (k->n + 1) * sizeof *grown);
    if (grown == NULL) {
        k->oom = 1;
        return 1;
    }
    k->v = grown;
    k->v[k->n++] = (struct kept){ s->name, s->file, s->value, s->size, s->bind == STB_LOCAL,
                                  s->type == STT_TLS };
    return 0;
}

/* The units are compiled from <unit>/unit.i and the service from
 * service.c: a local symbol under another file name is the runtime's or
 * a library's. */
static int from_a_unit(const struct kept *k)
{
    return strcmp(k->file, "unit.i") == 0 || strcmp(k->file, "service.c") == 0;
}

static int listed(char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return 1;
    return 0;
}

static int add_section(const char *binary, const struct tl_buf *text, long timeout_ms,
                       char *err, size_t errlen)
{
    char *list = NULL, *spec = NULL;
    struct tl_proc_out r = { .out = NULL };
    FILE *f;
    int rc = -1;

    if (asprintf(&list, "%s.globals", binary) < 0) {
        list = NULL;
        goto oom;
    }
    if (asprintf(&spec, TL_ABI_GLOBALS_SECTION "=%s", list) < 0) {
        spec = NULL;
        goto oom;
    }
    f = fopen(list, "we");
    if (f == NULL || fwrite(text->data, 1, text->len, f) != text->len || fclose(f) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", list, strerror(errno));
        goto cleanup;
    }
    {
        char *const argv[] = { "objcopy", "--add-section", spec, (char *)binary, NULL };

        if (tl_proc_run(argv, NULL, 0, timeout_ms, &r) != 0) {
            snprintf(err, errlen, "objcopy --add-section %s %s failed: %s", spec, binary, r.err);
            goto cleanup;
        }
    }
    rc = 0;
    goto cleanup;
oom:
    snprintf(err, errlen, "out of memory");
cleanup:
    if (list != NULL)
        unlink(list);
    free(list);
    free(spec);
    tl_proc_out_free(&r);
    return rc;
}

int tl_unit_globals_embed(const char *binary, const struct tl_unit_ref *units, size_t nunits,
                          char *const *captured, size_t ncaptured, long timeout_ms,
                          char *err, size_t errlen)
{
    struct unit_vars t = { .v = NULL };
    struct kept_list kept = { .v = NULL };
    struct tl_buf text = { 0 }, older = { 0 }, ambiguous = { 0 };
    struct tl_elf elf = { .map = NULL };
    size_t offset = 0, strings = 0;
    int has_symtab, rc = -1;

    t.files = calloc(nunits + 1, sizeof *t.files);
    if (t.files == NULL)
        goto oom;
    for (size_t i = 0; i < nunits; i++) {
        int r = read_vars(units[i].dir, i, &t);

        if (r < 0)
            goto oom;
        if (r > 0 && tl_buf_printf(&older, LIST_MAX, "  %s\n", units[i].source) != 0)
            goto oom;
    }
    if (tl_elf_open(binary, &elf, err, errlen) != 0 ||
        tl_elf_symbols(&elf, collect_kept, &kept, &has_symtab, err, errlen) < 0)
        goto cleanup;
    if (kept.oom)
        goto oom;

    for (size_t i = 0; i < kept.n; i++) {
        const struct kept *k = &kept.v[i];
        const struct unit_var *var = NULL;
        size_t candidates = 0, twins = 0, size;

        if (k->local && !from_a_unit(k))
            continue;
        for (size_t j = 0; j < t.n; j++)
            if (strcmp(t.v[j].name, k->name) == 0 && has_flag(&t.v[j], 's') == k->local) {
                var = &t.v[j];
                candidates++;
            }
        if (var == NULL || !has_flag(var, 'w') || has_flag(var, 'k'))
            continue;
        for (size_t j = 0; k->local && j < kept.n; j++)
            twins += kept.v[j].local && from_a_unit(&kept.v[j]) &&
                     strcmp(kept.v[j].name, k->name) == 0;
        if (candidates > 1 || twins > 1) {
            if (tl_buf_printf(&ambiguous, LIST_MAX, "  %s (static in %zu files)\n", k->name,
                              candidates > twins ? candidates : twins) != 0)
                goto oom;
            continue;
        }
        if (var->unit == 0 && listed(captured, ncaptured, k->name))
            continue;   /* the stub sends it */
        /* a flexible array member's initializer makes the symbol larger
         * than the type: the symbol's size is what the variable holds */
        size = (size_t)k->size;
        if (size < var->size || (has_flag(var, 'c') && size != sizeof(char *))) {
            if (tl_buf_printf(&ambiguous, LIST_MAX, "  %s (%llu bytes in the service, %zu in "
                              "its file's description)\n", k->name,
                              (unsigned long long)k->size, var->size) != 0)
                goto oom;
            continue;
        }
        if (k->thread_local) {
            /* each thread's own: listed so that the first call says so;
             * the tagged file's own the plugin captured or warned about */
            if (var->unit == 0)
                continue;
            if (tl_buf_printf(&text, LIST_MAX, "t 0 %zu - %c %s %s\n", size,
                              k->local ? 'l' : 'g', k->name,
                              t.files[var->unit] ? t.files[var->unit] : "?") != 0)
                goto oom;
        } else if (has_flag(var, 'c')) {
            if (tl_buf_printf(&text, LIST_MAX, "s %llx %zu %zu %c %s %s\n",
                              (unsigned long long)k->value, size, strings++,
                              k->local ? 'l' : 'g', k->name,
                              t.files[var->unit] ? t.files[var->unit] : "?") != 0)
                goto oom;
        } else if (has_flag(var, 'p')) {
            if (tl_buf_printf(&text, LIST_MAX, "p %llx %zu - %c %s %s\n", (unsigned long long)k->value,
                              size, k->local ? 'l' : 'g', k->name,
                              t.files[var->unit] ? t.files[var->unit] : "?") != 0)
                goto oom;
        } else {
            if (tl_buf_printf(&text, LIST_MAX, "b %llx %zu %zu %c %s %s\n", (unsigned long long)k->value,
                              size, offset, k->local ? 'l' : 'g', k->name,
                              t.files[var->unit] ? t.files[var->unit] : "?") != 0)
                goto oom;
            offset += size;
        }
    }
    if (older.len > 0)
        tl_log_warn("the unit folders of these files were made by an older turbolift plugin, "
                    "so the variables of theirs that the service %s keeps are not known and "
                    "start with their initial values in each worker; rebuild the program:\n%.*s",
                    binary, (int)older.len, older.data);
    if (ambiguous.len > 0) {
        snprintf(err, errlen, "the service keeps variables of the program that cannot be told "
                 "apart or measured: statics that several files define under the same name, "
                 "or a symbol smaller than its type (rename them, or mark them "
                 "TURBOLIFT_STATIC if their initial value is fine):\n%.*s",
                 (int)ambiguous.len - 1, ambiguous.data);
        goto cleanup;
    }
    tl_elf_close(&elf);
    rc = text.len > 0 ? add_section(binary, &text, timeout_ms, err, errlen) : 0;
    goto cleanup;
oom:
    snprintf(err, errlen, "out of memory");
cleanup:
    tl_elf_close(&elf);
    unit_vars_free(&t, nunits);
    free(kept.v);
    free(text.data);
    free(older.data);
    free(ambiguous.data);
    return rc;
}

/* ------------------------------------------------------------------ */
/* 3. At every run's first call: where they are in the program          */

struct entry {
    char kind;                      /* 'b' bytes, 's' string, 'p' kept   */
    int local;
    size_t size, offset;
    size_t bit;                     /* 'b', 's': its bit in the block    */
    char *name, *file;
    uintptr_t addr;                 /* in this process                   */
    unsigned char *initial;         /* the bytes at start                */
    atomic_int travels;             /* the program changed it: it goes
                                       with every call from then on      */
    unsigned found;
    unsigned loose;                 /* -flto: find_in_program            */
    uintptr_t loose_addr;
};

struct tl_unit_globals {
    struct entry *v;
    size_t n;
    size_t bits;                    /* 'b' and 's' entries               */
    size_t block;                   /* bytes sent with each call: a bit
                                       per b and s entry, then the bytes */
    size_t strings;                 /* char pointers sent as strings     */
    char *described;
};

void tl_unit_globals_free(struct tl_unit_globals *g)
{
    if (g == NULL)
        return;
    for (size_t i = 0; i < g->n; i++) {
        free(g->v[i].name);
        free(g->v[i].file);
        free(g->v[i].initial);
    }
    free(g->v);
    free(g->described);
    free(g);
}

size_t tl_unit_globals_size(const struct tl_unit_globals *g)
{
    return g != NULL ? g->block : 0;
}

size_t tl_unit_globals_strings(const struct tl_unit_globals *g)
{
    return g != NULL ? g->strings : 0;
}


const char *tl_unit_globals_describe(const struct tl_unit_globals *g)
{
    return g != NULL && g->described != NULL ? g->described : "";
}

static int parse_list(const char *data, struct tl_unit_globals *g)
{
    for (const char *line = data; *line != '\0';) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char copy[1200], kind, bind, name[512], offset[32];
        unsigned long long addr;
        size_t size;
        int file_at = 0;
        struct entry *grown;

        if (len >= sizeof copy)
            return -1;
        memcpy(copy, line, len);
        copy[len] = '\0';
        line += len + (nl != NULL);
        if (sscanf(copy, "%c %llx %zu %31s %c %511s %n", &kind, &addr, &size, offset, &bind,
                   name, &file_at) < 6 || file_at == 0 || strchr("bspt", kind) == NULL)
            return -1;
        grown = realloc(g->v, (g->n + 1) * sizeof *grown);
        if (grown == NULL)
            return -1;
        g->v = grown;
        g->v[g->n] = (struct entry){ .kind = kind, .local = bind == 'l', .size = size,
                                     .offset = kind != 'p' ? strtoull(offset, NULL, 10) : 0 };
        g->v[g->n].name = strdup(name);
        g->v[g->n].file = strdup(copy + file_at);
        g->n++;
        if (g->v[g->n - 1].name == NULL || g->v[g->n - 1].file == NULL)
            return -1;
        if (kind == 'b')
            g->block = g->v[g->n - 1].offset + size > g->block ? g->v[g->n - 1].offset + size
                                                               : g->block;
        if (kind == 's' && (size != sizeof(char *) || g->v[g->n - 1].offset != g->strings++))
            return -1;
        if (kind != 'p' && kind != 't')
            g->v[g->n - 1].bit = g->bits++;
    }
    /* the block starts with its bitmap: which variables this call brings */
    if (g->bits > 0)
        g->block += (g->bits + 7) / 8;
    return 0;
}

/* A static of a program linked with -flto is no longer under its file's
 * name (the symbol table names the link-time objects), and may be renamed
 * "name.lto_priv.N": such a symbol of the right size is a loose match,
 * taken when it is the only one. */
static int loose_name(const char *symbol, const char *name)
{
    size_t n = strlen(name);

    return strncmp(symbol, name, n) == 0 &&
           (symbol[n] == '\0' || strncmp(symbol + n, ".lto_priv.", 10) == 0);
}

static int find_in_program(const struct tl_elf_symbol *s, void *arg)
{
    struct tl_unit_globals *g = arg;

    if (s->type != STT_OBJECT || s->shndx == SHN_UNDEF)
        return 0;
    for (size_t i = 0; i < g->n; i++) {
        struct entry *e = &g->v[i];

        if (e->local && s->bind == STB_LOCAL && s->size == e->size &&
            loose_name(s->name, e->name) && strcmp(e->file, s->file) != 0) {
            e->loose++;
            e->loose_addr = (uintptr_t)s->value;
        }
        if (strcmp(e->name, s->name) != 0 || e->local != (s->bind == STB_LOCAL) ||
            (e->local && strcmp(e->file, s->file) != 0))
            continue;
        e->found++;
        e->addr = (uintptr_t)s->value;
        if (s->size != e->size)
            e->found = UINT_MAX;    /* another variable of that name */
    }
    return 0;
}

int tl_unit_globals_load(const char *binary, const char *program, uintptr_t bias,
                         struct tl_unit_globals **out, char *err, size_t errlen)
{
    struct tl_unit_globals *g = NULL;
    struct tl_elf elf = { .map = NULL };
    struct tl_buf missing = { 0 }, changed = { 0 }, described = { 0 }, pointers = { 0 };
    struct tl_buf threads = { 0 };
    char *data = NULL;
    size_t len;
    int rc = -1, has_symtab;

    *out = NULL;
    rc = tl_elf_read_section(binary, TL_ABI_GLOBALS_SECTION, &data, &len, err, errlen);
    if (rc != 0)
        return rc > 0 ? 0 : -1;     /* none: nothing travels */
    rc = -1;
    g = calloc(1, sizeof *g);
    if (g == NULL)
        goto oom;
    if (parse_list(data, g) != 0) {
        snprintf(err, errlen, "%s: section " TL_ABI_GLOBALS_SECTION " is malformed", binary);
        goto cleanup;
    }
    if (program == NULL) {
        snprintf(err, errlen, "the service keeps variables of the program's files, but the "
                 "program's ELF file is not known");
        goto cleanup;
    }
    if (tl_elf_open(program, &elf, err, errlen) != 0 ||
        tl_elf_symbols(&elf, find_in_program, g, &has_symtab, err, errlen) < 0)
        goto cleanup;
    for (size_t i = 0; i < g->n; i++) {
        struct entry *e = &g->v[i];

        if (e->kind == 't') {
            if (tl_buf_printf(&threads, LIST_MAX, "  %s (%s)\n", e->name, e->file) != 0)
                goto oom;
            continue;
        }
        if (e->found == 0 && e->loose == 1) {
            e->found = 1;
            e->addr = e->loose_addr;
        }
        if (e->found != 1) {
            if (tl_buf_printf(&missing, LIST_MAX, "  %s (%s%s)\n", e->name, e->local ? "static in " : "",
                              e->local ? e->file : "global") != 0)
                goto oom;
            continue;
        }
        e->addr += bias;
        e->initial = malloc(e->size ? e->size : 1);
        if (e->initial == NULL)
            goto oom;
        if (e->kind != 'p') {
            if (tl_buf_printf(&described, LIST_MAX, e->kind == 's' ? "%s%s (%s, a string)"
                                                                   : "%s%s (%s, %zu bytes)",
                              described.len ? ", " : "", e->name, e->file, e->size) != 0)
                goto oom;
            /* not known at start: it goes with every call */
            if (initial_bytes(e->addr, e->size, e->initial) != 0)
                atomic_store(&e->travels, 1);
            continue;
        }
        if (tl_buf_printf(&pointers, LIST_MAX, "%s%s (%s)", pointers.len ? ", " : "", e->name,
                          e->file) != 0)
            goto oom;
        if (initial_bytes(e->addr, e->size, e->initial) != 0 &&
            tl_buf_printf(&changed, LIST_MAX, "  %s (%s)\n", e->name, e->file) != 0)
            goto oom;
    }
    if (missing.len > 0) {
        snprintf(err, errlen, "the service reads variables of this program that cannot be "
                 "found in %s%s, so their values cannot be sent with each call (keep the "
                 "program's symbol table: do not strip it, or mark them TURBOLIFT_STATIC if "
                 "their initial value is fine):\n%.*s", program,
                 has_symtab ? "" : " (it is stripped)", (int)missing.len - 1, missing.data);
        goto cleanup;
    }
    if (threads.len > 0)
        tl_log_warn("the service keeps thread-local variables of this program's files: in a "
                    "worker each thread has its own, from the initial value; the calling "
                    "thread's value does not travel (pass it as a parameter, or mark it "
                    "TURBOLIFT_STATIC if that is intended; docs/remote.md):\n%.*s",
                    (int)threads.len - 1, threads.data);
    if (changed.len > 0) {
        snprintf(err, errlen, "the service reads variables of this program that hold pointers, "
                 "and their values at start are not known, so whether they changed cannot "
                 "be told (mark them TURBOLIFT_STATIC if their initial value is fine):\n%.*s",
                 (int)changed.len - 1, changed.data);
        goto cleanup;
    }
    if (tl_buf_printf(&described, LIST_MAX, "%s%s%s%s", described.len ? " travel with each call once "
                      "the program changed them" : "",
                      described.len && pointers.len ? "; " : "", pointers.data ? pointers.data : "",
                      pointers.len ? " hold pointers and must keep their values from the "
                                     "program's start" : "") != 0)
        goto oom;
    g->described = described.data;
    described.data = NULL;
    *out = g;
    g = NULL;
    rc = 0;
    goto cleanup;
oom:
    snprintf(err, errlen, "out of memory");
cleanup:
    tl_elf_close(&elf);
    tl_unit_globals_free(g);
    free(data);
    free(missing.data);
    free(changed.data);
    free(described.data);
    free(pointers.data);
    free(threads.data);
    return rc;
}

/* ------------------------------------------------------------------ */
/* 4. Every call                                                        */

int tl_unit_globals_gather(struct tl_unit_globals *g, unsigned char *block, void **strings,
                           char *err, size_t errlen)
{
    static char *const no_text = NULL;     /* a string that does not travel */
    size_t bitmap = (g->bits + 7) / 8;

    if (g->bits > 0)
        memset(block, 0, bitmap);
    for (size_t i = 0; i < g->n; i++) {
        struct entry *e = &g->v[i];

        if (e->kind == 't')
            continue;
        if (e->kind == 'p') {
            if (memcmp((const void *)e->addr, e->initial, e->size) == 0)
                continue;
            snprintf(err, errlen, "%s (%s) holds pointers and the program changed it since it "
                     "started; the service's code uses it, but what it points at cannot be sent "
                     "with a call (make it a parameter, or mark it TURBOLIFT_STATIC if the "
                     "initial value is fine in the service; docs/remote.md)", e->name, e->file);
            return -1;
        }
        /* Until the program changes it, the worker's own copy is the one to
         * use (what the service's code wrote there, a cache say, stays, as
         * the tagged file's globals that only its service writes do). Once
         * changed, it travels with every call, also when the program sets it
         * back: a worker may hold another value by then. */
        if (e->kind == 's')
            strings[e->offset] = (void *)&no_text;
        if (!atomic_load_explicit(&e->travels, memory_order_relaxed)) {
            if (memcmp((const void *)e->addr, e->initial, e->size) == 0)
                continue;
            atomic_store_explicit(&e->travels, 1, memory_order_relaxed);
        }
        block[e->bit / 8] |= (unsigned char)(1u << (e->bit % 8));
        if (e->kind == 's')
            strings[e->offset] = (void *)e->addr;   /* the codec reads the char * */
        if (e->kind == 'b')
            memcpy(block + bitmap + e->offset, (const void *)e->addr, e->size);
    }
    return 0;
}
