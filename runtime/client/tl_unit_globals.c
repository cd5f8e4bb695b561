/* SPDX-License-Identifier: MIT */
/*
 * tl_unit_globals.c - writable variables of the program's other files that
 * a linked service keeps (docs/remote.md, "Variables of other files").
 *
 * The plugin captures the globals that the tagged function's own file
 * reads (their current values travel with each call), but it compiles one
 * file at a time: a variable that another file defines and the reached code
 * of that file reads or writes is in the service with its initial value.
 * If the program changes it before a call, a worker computes with the old
 * value. That must not pass silently, so after the link we look at what the
 * linker kept: a writable data symbol (nm types d, D, b, B) that one of the
 * other units' objects defines and the service binary still holds was
 * reached, and is named to the user at the first call of every run.
 * Constant data that holds addresses (a `const` table of function
 * pointers or strings: zlib's configuration_table, z_errmsg) is type d
 * too, since the dynamic linker writes it once before making it read-only;
 * its section, .data.rel.ro, tells it apart, so nm prints the sysv format,
 * which names each symbol's section.
 *
 * nm from binutils is what reads the symbol tables: the compiler that links
 * the services needs binutils anyway.
 */
#define _GNU_SOURCE
#include "tl_unit_globals.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tl_buf.h"
#include "tl_proc.h"

/* Lists are text; no symbol table of a program comes near this. */
#define TL_UNIT_GLOBALS_MAX ((size_t)64 << 20)

static int append_line(struct tl_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int append_line(struct tl_buf *b, const char *fmt, ...)
{
    char line[1200];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line)
        return -1;
    return tl_buf_append(b, line, (size_t)n, TL_UNIT_GLOBALS_MAX);
}

/* Writable data symbols an object or binary defines, one "name\n" each;
 * with referenced, also every name it refers to without defining it. */
static int writable_symbols(const char *file, int referenced, long timeout_ms,
                            struct tl_buf *names, char *err, size_t errlen)
{
    char *const argv[] = { "nm", "--format=sysv", (char *)file, NULL };
    struct tl_proc_out r = { .out = NULL };
    int rc = -1;

    if (tl_proc_run(argv, NULL, 0, timeout_ms, &r) != 0) {
        snprintf(err, errlen, "nm %s failed: %s", file, r.err);
        goto cleanup;
    }
    for (char *line = r.out, *next; line != NULL && *line != '\0'; line = next) {
        char type, name[512], section[512] = "";

        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        /* "NAME |VALUE|CLASS|TYPE|SIZE|LINE|SECTION", padded with blanks;
         * the header lines have no class of one letter */
        if (sscanf(line, "%511[^| ] |%*[^|]| %c |%*[^|]|%*[^|]|%*[^|]|%511s", name, &type,
                   section) < 2)
            continue;
        if (strchr("dDbB", type) == NULL && !(referenced && type == 'U'))
            continue;
        /* const data with relocations: read-only once the program runs */
        if (strncmp(section, ".data.rel.ro", strlen(".data.rel.ro")) == 0)
            continue;
        /* "name.0" is a function's static local or a compiler temporary,
         * never a variable another part of the program can change */
        if (strchr(name, '.') != NULL || strncmp(name, "__", 2) == 0)
            continue;
        if (append_line(names, "%s\n", name) != 0) {
            snprintf(err, errlen, "out of memory");
            goto cleanup;
        }
    }
    rc = 0;
cleanup:
    tl_proc_out_free(&r);
    return rc;
}

int tl_unit_globals(const char *binary, const char *service_object,
                    const struct tl_unit_ref *units, size_t nunits, long timeout_ms,
                    char **list, size_t *count, char *err, size_t errlen)
{
    struct tl_buf kept = { 0 }, own = { 0 }, theirs = { 0 }, out = { 0 };
    int rc = -1;

    *list = NULL;
    *count = 0;
    if (nunits == 0)
        return 0;
    if (writable_symbols(binary, 0, timeout_ms, &kept, err, errlen) != 0 ||
        writable_symbols(service_object, 1, timeout_ms, &own, err, errlen) != 0)
        goto cleanup;
    for (size_t i = 0; i < nunits; i++) {
        theirs.len = 0;
        if (writable_symbols(units[i].object, 0, timeout_ms, &theirs, err, errlen) != 0)
            goto cleanup;
        for (const char *p = theirs.data; p != NULL && p < theirs.data + theirs.len;) {
            const char *end = memchr(p, '\n', (size_t)(theirs.data + theirs.len - p));
            char name[512];

            if (end == NULL || (size_t)(end - p) >= sizeof name)
                break;
            memcpy(name, p, (size_t)(end - p));
            name[end - p] = '\0';
            p = end + 1;
            /* what the tagged file defines or names is the plugin's
             * business: captured, or diagnosed at build time */
            if (!tl_buf_has_line(&kept, name, strlen(name)) || tl_buf_has_line(&own, name, strlen(name)))
                continue;
            if (append_line(&out, "  %s (%s)\n", name, units[i].source) != 0) {
                snprintf(err, errlen, "out of memory");
                goto cleanup;
            }
            (*count)++;
        }
    }
    if (*count > 0) {
        *list = out.data;
        out.data = NULL;
    }
    rc = 0;
cleanup:
    tl_buf_free(&kept);
    tl_buf_free(&own);
    tl_buf_free(&theirs);
    tl_buf_free(&out);
    return rc;
}
