/* SPDX-License-Identifier: MIT */
/*
 * tl_own_symbols.c - code the program defines itself that a linked service
 * would take from a shared library instead (docs/multifile.md, "When
 * something is missing").
 *
 * A service links the program's units first, then the shared libraries the
 * process loaded. A file compiled without the plugin is in no unit: when a
 * loaded library happens to define the same names (a zlib built from source
 * without the plugin, while libcurl loads the system's libz), the link
 * succeeds and the service runs the library's code where the program runs
 * its own. That is a silent wrong value, so after each link we compare: a
 * name the service imports (nm -D --undefined-only) that the program's ELF
 * file defines itself (nm --defined-only --extern-only, without the
 * versioned names a copy relocation gives, like stdout@GLIBC_2.2.5) is
 * reported, and the call fails with the failure policy.
 *
 * A stripped program (install -s, every distribution package) has no
 * .symtab, but its .dynsym still lists what it imports. The service's code
 * is the program's code: what that code (service.o and the units) leaves
 * undefined, the program either imports too or defines itself. So a name
 * the code leaves undefined, the service imports and the program does not
 * import is the program's own. (A program built with -flto may have folded
 * such a call away; then the name is named although the program does not
 * use it, and the message says "does not import" rather than "defines".)
 */
#define _GNU_SOURCE
#include "tl_own_symbols.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tl_buf.h"
#include "tl_proc.h"

#define TL_OWN_SYMBOLS_MAX ((size_t)64 << 20)

/* The symbol names nm prints for argv, one "name\n" each, versions cut off
 * ("crc32@ZLIB_1.2.0" is crc32) unless keep_versioned is 0, which drops
 * versioned names altogether. Lines nm prints for an empty table are not
 * names ("no symbols"), so only "VALUE TYPE NAME" / "TYPE NAME" count. */
static int symbol_names(char *const argv[], int keep_versioned, long timeout_ms,
                        struct tl_buf *names, char *err, size_t errlen)
{
    struct tl_proc_out r = { .out = NULL };
    int rc = -1;

    if (tl_proc_run(argv, NULL, 0, timeout_ms, &r) != 0) {
        /* nm says "no symbols" on stderr with status 0; a failure is real */
        snprintf(err, errlen, "%s %s failed: %s", argv[0], argv[3], r.err);
        goto cleanup;
    }
    for (char *line = r.out, *next; line != NULL && *line != '\0'; line = next) {
        char *fields[3], *at, *save = NULL;
        int n = 0;

        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        /* "FILE:" headers of nm on several objects */
        if (strchr(line, ' ') == NULL)
            continue;
        for (char *f = strtok_r(line, " \t", &save); f != NULL && n < 3;
             f = strtok_r(NULL, " \t", &save))
            fields[n++] = f;
        if (n < 2 || strlen(fields[n - 2]) != 1)
            continue;
        /* a weak undefined name (crti.o's __gmon_start__) is taken from
         * nowhere when nothing defines it: not an import to compare */
        if (strcmp(fields[n - 2], "w") == 0 || strcmp(fields[n - 2], "v") == 0)
            continue;
        at = strchr(fields[n - 1], '@');
        if (at != NULL && !keep_versioned)
            continue;
        if (at != NULL)
            *at = '\0';
        if (tl_buf_append(names, fields[n - 1], strlen(fields[n - 1]), TL_OWN_SYMBOLS_MAX) != 0 ||
            tl_buf_append(names, "\n", 1, TL_OWN_SYMBOLS_MAX) != 0) {
            snprintf(err, errlen, "out of memory");
            goto cleanup;
        }
    }
    rc = 0;
cleanup:
    tl_proc_out_free(&r);
    return rc;
}

/* The stripped program's case: names the code leaves undefined (nm -u on
 * every object of the service) that the program does not import. */
static int not_imported_by_program(const char *program, const char *const *objects,
                                   size_t nobjects, long timeout_ms, struct tl_buf *own,
                                   char *err, size_t errlen)
{
    char *const program_argv[] = { "nm", "-D", "--undefined-only", (char *)program, NULL };
    struct tl_buf program_imports = { 0 }, code_needs = { 0 };
    char **argv = calloc(nobjects + 3, sizeof *argv);
    int rc = -1;

    if (argv == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    argv[0] = "nm";
    argv[1] = "--undefined-only";
    for (size_t i = 0; i < nobjects; i++)
        argv[2 + i] = (char *)objects[i];
    if (symbol_names(program_argv, 1, timeout_ms, &program_imports, err, errlen) != 0 ||
        symbol_names(argv, 1, timeout_ms, &code_needs, err, errlen) != 0)
        goto cleanup;
    for (const char *p = code_needs.data; p != NULL && p < code_needs.data + code_needs.len;) {
        const char *end = memchr(p, '\n', (size_t)(code_needs.data + code_needs.len - p));
        size_t len;

        if (end == NULL)
            break;
        len = (size_t)(end - p);
        if (!tl_buf_has_line(&program_imports, p, len) && !tl_buf_has_line(own, p, len) &&
            tl_buf_append(own, p, len + 1, TL_OWN_SYMBOLS_MAX) != 0) {
            snprintf(err, errlen, "out of memory");
            goto cleanup;
        }
        p = end + 1;
    }
    rc = 0;
cleanup:
    tl_buf_free(&program_imports);
    tl_buf_free(&code_needs);
    free(argv);
    return rc;
}

int tl_own_symbols_imported(const char *program, const char *service,
                            const char *const *objects, size_t nobjects, long timeout_ms,
                            char **list, size_t *count, int *stripped, char *err, size_t errlen)
{
    char *const imports_argv[] = { "nm", "-D", "--undefined-only", (char *)service, NULL };
    char *const own_argv[] = { "nm", "--defined-only", "--extern-only", (char *)program, NULL };
    struct tl_buf imports = { 0 }, own = { 0 }, out = { 0 };
    int rc = -1;

    *list = NULL;
    *count = 0;
    *stripped = 0;
    if (symbol_names(imports_argv, 1, timeout_ms, &imports, err, errlen) != 0 ||
        symbol_names(own_argv, 0, timeout_ms, &own, err, errlen) != 0)
        goto cleanup;
    /* no .symtab: nm printed no name ("no symbols" on stderr) */
    if (own.len == 0) {
        *stripped = 1;
        if (not_imported_by_program(program, objects, nobjects, timeout_ms, &own,
                                    err, errlen) != 0)
            goto cleanup;
    }
    for (const char *p = imports.data; p != NULL && p < imports.data + imports.len;) {
        const char *end = memchr(p, '\n', (size_t)(imports.data + imports.len - p));

        if (end == NULL)
            break;
        /* nm -D lists each import once */
        if (tl_buf_has_line(&own, p, (size_t)(end - p))) {
            if (tl_buf_append(&out, "  ", 2, TL_OWN_SYMBOLS_MAX) != 0 ||
                tl_buf_append(&out, p, (size_t)(end - p) + 1, TL_OWN_SYMBOLS_MAX) != 0) {
                snprintf(err, errlen, "out of memory");
                goto cleanup;
            }
            (*count)++;
        }
        p = end + 1;
    }
    if (*count > 0) {
        *list = out.data;
        out.data = NULL;
    }
    rc = 0;
cleanup:
    tl_buf_free(&imports);
    tl_buf_free(&own);
    tl_buf_free(&out);
    return rc;
}
