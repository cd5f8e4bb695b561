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
 * the already preprocessed text of the user's file.
 *
 * The other files' variables are listed by the client after the link, in
 * this binary's section TL_ABI_GLOBALS_SECTION (client/tl_unit_globals.c):
 * those the program has changed arrive after the call's own captured
 * values, one block led by a bitmap of what it brings, then one string per
 * char pointer, and are put in place before the function runs; the others
 * keep the worker's own values.
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

static pthread_mutex_t tl_capture_mutex = PTHREAD_MUTEX_INITIALIZER;

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
    char *owned;                /* 's': the copy it was last given        */
};

/* The block: a bit per variable (in the list's order) that says whether
 * the call brings it, then the bytes of the plain ones at their offsets. */
static struct tl_unit_global *tl_unit_globals;
static size_t tl_unit_global_count, tl_unit_block_size, tl_unit_strings, tl_unit_bitmap;

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
            (unsigned char *)(own.bias + (uintptr_t)addr), size, offset, kind, NULL };
        if (kind == 's')
            tl_unit_strings++;
        else if (offset + size > tl_unit_block_size)
            tl_unit_block_size = offset + size;
    }
    tl_unit_bitmap = (tl_unit_global_count + 7) / 8;
    if (tl_unit_global_count > 0)
        tl_unit_block_size += tl_unit_bitmap;
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

/* Does the call bring variable i? */
static int tl_brings(size_t i, void *const *args, unsigned first)
{
    return ((const unsigned char *)args[first])[i / 8] & (1u << (i % 8));
}

/* The values a call brings for variable g: its bytes in the block, or the
 * string (NULL or text) in its own argument. */
static const void *tl_brought(const struct tl_unit_global *g, void *const *args, unsigned first)
{
    if (g->kind == 's')
        return *(char *const *)args[first + 1 + g->offset];
    return (const unsigned char *)args[first] + tl_unit_bitmap + g->offset;
}

/* Do the variables hold what this call brings? (Under tl_unit_mutex.) */
static int tl_unit_matches(void *const *args, unsigned first)
{
    for (size_t i = 0; i < tl_unit_global_count; i++) {
        const struct tl_unit_global *g = &tl_unit_globals[i];
        const void *v = tl_brought(g, args, first);

        if (!tl_brings(i, args, first))
            continue;   /* the worker's own value is the one to use */
        if (g->kind == 's') {
            const char *now = *(char *const *)g->addr;

            if ((now == NULL) != (v == NULL) || (now != NULL && strcmp(now, v) != 0))
                return 0;
        } else if (memcmp(g->addr, v, g->size) != 0) {
            return 0;
        }
    }
    return 1;
}

/* Put the call's values in place; a string becomes the service's own copy
 * (the frame's dies with the call), and the copy it replaces is freed
 * unless the function pointed the variable elsewhere. -1: out of memory,
 * nothing changed for that string. */
static int tl_unit_install(void *const *args, unsigned first)
{
    int rc = 0;

    for (size_t i = 0; i < tl_unit_global_count; i++) {
        struct tl_unit_global *g = &tl_unit_globals[i];
        const void *v = tl_brought(g, args, first);

        if (!tl_brings(i, args, first))
            continue;
        if (g->kind == 's') {
            char *copy = v != NULL ? strdup(v) : NULL, *now;

            if (v != NULL && copy == NULL) {
                rc = -1;
                continue;
            }
            memcpy(&now, g->addr, sizeof now);
            if (now == g->owned)
                free(g->owned);
            memcpy(g->addr, &copy, sizeof copy);
            g->owned = copy;
        } else {
            memcpy(g->addr, v, g->size);
        }
    }
    return rc;
}

/*
 * Calls that bring the values the variables already hold run side by side
 * (a program that sets its configuration once keeps the worker's
 * concurrency); a call that brings others waits until none runs, then puts
 * them in place. A call waiting to change them holds back new calls, so it
 * is not starved. The stub's own captured globals are the dispatcher's
 * business: it takes the capture lock inside entry->call.
 */
static pthread_mutex_t tl_unit_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tl_unit_idle = PTHREAD_COND_INITIALIZER;
static unsigned tl_unit_running, tl_unit_changing;

int tl_capture_call(const struct tl_service_entry *entry, void *const *args,
                    unsigned first, void *result)
{
    int match, waited = 0;

    pthread_mutex_lock(&tl_unit_mutex);
    for (;;) {
        match = tl_unit_matches(args, first);
        if (tl_unit_running == 0 || (match && tl_unit_changing == 0))
            break;
        if (!match && !waited) {
            tl_unit_changing++;
            waited = 1;
        }
        pthread_cond_wait(&tl_unit_idle, &tl_unit_mutex);
    }
    if (waited)
        tl_unit_changing--;
    if (!match && tl_unit_install(args, first) != 0) {
        pthread_cond_broadcast(&tl_unit_idle);
        pthread_mutex_unlock(&tl_unit_mutex);
        return -1;
    }
    tl_unit_running++;
    pthread_mutex_unlock(&tl_unit_mutex);

    entry->call(args, result);

    pthread_mutex_lock(&tl_unit_mutex);
    if (--tl_unit_running == 0)
        pthread_cond_broadcast(&tl_unit_idle);
    pthread_mutex_unlock(&tl_unit_mutex);
    return 0;
}
