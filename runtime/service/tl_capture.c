/* SPDX-License-Identifier: MIT */
/*
 * tl_capture.c - the program's values a call brings: the lock a generated
 * dispatcher holds while it installs a call's captured globals and runs
 * the function, and the variables of the program's other files that this
 * binary keeps (docs/abi.md, section 4).
 *
 * The globals are the process's, and a worker runs each connection's call on
 * its own thread: without the lock, two concurrent calls could each run with
 * the other's values. A service serves one function, so one lock; calls of
 * a function without captured globals never take it. Defined here rather
 * than in the generated service.c, which cannot include <pthread.h> after
 * the already preprocessed text of the user's file. The lock is recursive:
 * tl_capture_call holds it around a dispatcher that takes it again.
 *
 * The other files' variables are listed by the client after the link, in
 * this binary's section TL_ABI_GLOBALS_SECTION (client/tl_unit_globals.c):
 * their bytes arrive after the call's own captured values, one block, then
 * one string per char pointer, and are put in place before the function
 * runs.
 */
#define _GNU_SOURCE
#include "tl_capture.h"

#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tl_abi.h"
#include "tl_elf.h"

static pthread_mutex_t tl_capture_mutex = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

void __turbolift_capture_lock(void)
{
    pthread_mutex_lock(&tl_capture_mutex);
}

void __turbolift_capture_unlock(void)
{
    pthread_mutex_unlock(&tl_capture_mutex);
}

struct tl_unit_global {
    unsigned char *addr;
    size_t size;
    size_t offset;              /* 'b': in the block; 's': its index      */
    char kind;                  /* 'b' bytes, 's' a char pointer          */
};

static struct tl_unit_global *tl_unit_globals;
static size_t tl_unit_global_count, tl_unit_block_size, tl_unit_strings;

struct tl_own_segments {
    uintptr_t bias;
    const ElfW(Phdr) *phdr;
    ElfW(Half) phnum;
};

static int tl_main_program(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct tl_own_segments *own = arg;

    (void)size;
    own->bias = info->dlpi_addr;
    own->phdr = info->dlpi_phdr;
    own->phnum = info->dlpi_phnum;
    return 1;   /* the first is the program itself */
}

/* A listed variable must lie in the program's writable memory: the list is
 * the binary's own, but a bad one must not make the service write
 * anywhere. */
static int tl_writable(const struct tl_own_segments *own, uintptr_t addr, size_t size)
{
    for (ElfW(Half) i = 0; i < own->phnum; i++) {
        const ElfW(Phdr) *ph = &own->phdr[i];
        uintptr_t start = own->bias + ph->p_vaddr;

        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W) && addr >= start &&
            addr - start <= ph->p_memsz && size <= ph->p_memsz - (addr - start))
            return 1;
    }
    return 0;
}

int tl_capture_load(char *err, size_t errlen)
{
    static int loaded;
    struct tl_own_segments own = { 0 };
    char *data = NULL, *line, *next;
    size_t len;
    int rc;

    if (loaded)
        return 0;   /* a process that makes a second service (tests) */
    rc = tl_elf_read_section("/proc/self/exe", TL_ABI_GLOBALS_SECTION, &data, &len, err, errlen);
    if (rc != 0) {
        loaded = rc > 0;
        return rc > 0 ? 0 : -1;     /* no section: nothing travels */
    }
    dl_iterate_phdr(tl_main_program, &own);
    rc = -1;
    for (line = data; line != NULL && *line != '\0'; line = next) {
        unsigned long long addr;
        size_t size, offset;
        char kind;
        struct tl_unit_global *grown;

        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        if (line[0] == 'p' || line[0] == 't')
            continue;       /* the client checks it, or warns of it */
        if (sscanf(line, "%c %llx %zu %zu", &kind, &addr, &size, &offset) != 4 ||
            (kind != 'b' && kind != 's') ||
            !tl_writable(&own, own.bias + (uintptr_t)addr, size) ||
            offset > SIZE_MAX - size ||
            (kind == 's' && (size != sizeof(char *) || offset != tl_unit_strings))) {
            snprintf(err, errlen, "section " TL_ABI_GLOBALS_SECTION " of this binary is "
                     "malformed at \"%.80s\"", line);
            goto done;
        }
        grown = realloc(tl_unit_globals, (tl_unit_global_count + 1) * sizeof *grown);
        if (grown == NULL) {
            snprintf(err, errlen, "out of memory");
            goto done;
        }
        tl_unit_globals = grown;
        tl_unit_globals[tl_unit_global_count++] = (struct tl_unit_global){
            (unsigned char *)(own.bias + (uintptr_t)addr), size, offset, kind };
        if (kind == 's')
            tl_unit_strings++;
        else if (offset + size > tl_unit_block_size)
            tl_unit_block_size = offset + size;
    }
    rc = 0;
    loaded = 1;
done:
    free(data);
    return rc;
}

size_t tl_capture_block_size(void)
{
    return tl_unit_block_size;
}

size_t tl_capture_strings(void)
{
    return tl_unit_strings;
}

void tl_capture_call(const struct tl_service_entry *entry, void *const *args,
                     unsigned first, void *result)
{
    unsigned strings = first + (tl_unit_block_size > 0);

    __turbolift_capture_lock();
    for (size_t i = 0; i < tl_unit_global_count; i++) {
        const struct tl_unit_global *g = &tl_unit_globals[i];

        /* a string points into the call's frame, as the dispatcher's own
         * captured strings do: the next call sets it again before use */
        if (g->kind == 's')
            memcpy(g->addr, args[strings + g->offset], sizeof(char *));
        else
            memcpy(g->addr, (const unsigned char *)args[first] + g->offset, g->size);
    }
    entry->call(args, result);
    __turbolift_capture_unlock();
}
