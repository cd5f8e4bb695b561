/* SPDX-License-Identifier: MIT */
/*
 * tl_unit_globals.h - writable variables of the program's files that a
 * linked service keeps: sent with each call, or checked (see
 * tl_unit_globals.c for why and how).
 */
#ifndef TL_UNIT_GLOBALS_H
#define TL_UNIT_GLOBALS_H

#include <stddef.h>
#include <stdint.h>

struct tl_unit_ref {
    const char *dir;        /* the unit folder (its vars.txt)       */
    const char *source;     /* the file it came from, for messages  */
};

/*
 * After the service's link, before the binary is renamed into place: choose
 * the variables the binary keeps that the units' code may read and the
 * program may change (the units' vars.txt), leave out `captured` (what the
 * stub sends itself: they belong to units[0], the service's own unit), and
 * write the list into binary's section TL_ABI_GLOBALS_SECTION (objcopy).
 * 0, or -1 with err set.
 */
int tl_unit_globals_embed(const char *binary, const struct tl_unit_ref *units, size_t nunits,
                          char *const *captured, size_t ncaptured, long timeout_ms,
                          char *err, size_t errlen);

/* Each line of <dir>/vars.txt (plugin/unitvars.cc; docs/abi.md), without
 * its newline, to each(arg, line) until it returns nonzero. 0, 1 when the
 * folder has no vars.txt (an older plugin made it), -1 when out of memory
 * or when each returned -1. */
int tl_unit_vars_lines(const char *dir, int (*each)(void *arg, char *line), void *arg);

/* The list of a linked service, with each variable found in the program. */
struct tl_unit_globals;

/*
 * At every run's first call: read binary's list and find each variable in
 * the ELF file `program` (the main program or the shared library the
 * units were linked into), loaded in this process at `bias`. *out is NULL
 * when the service keeps none. -1 with err set when one cannot be found (a
 * stripped program, a name two files share): the call must not run with
 * values the program did not set.
 */
int tl_unit_globals_load(const char *binary, const char *program, uintptr_t bias,
                         struct tl_unit_globals **out, char *err, size_t errlen);
/* Bytes of the block sent with each call (0: none travels). */
size_t tl_unit_globals_size(const struct tl_unit_globals *g);
/* Char pointers sent as strings, after the block. */
size_t tl_unit_globals_strings(const struct tl_unit_globals *g);
/* Fill block (tl_unit_globals_size bytes) with the bitmap of what this call
 * brings and the current values of the variables the program has changed,
 * and strings[0..tl_unit_globals_strings) with the address of each char
 * pointer the codec sends as an "s" (the program's variable, or a NULL one
 * when it does not travel: always as the bitmap says); -1 with err set when
 * a variable that holds pointers has changed since the program started. */
int tl_unit_globals_gather(struct tl_unit_globals *g, unsigned char *block, void **strings,
                           char *err, size_t errlen);
/* What travels, for the log: "name (file), ..." */
const char *tl_unit_globals_describe(const struct tl_unit_globals *g);
void tl_unit_globals_free(struct tl_unit_globals *g);

#endif /* TL_UNIT_GLOBALS_H */
