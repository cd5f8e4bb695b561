/* SPDX-License-Identifier: MIT */
/*
 * service_bulk.c - the benchmark's bulk functions, as a hand-written
 * service translation unit shaped like the plugin's output (docs/abi.md,
 * section 4): issue 10's total() with access(read_only, 1, 2) and twice()
 * with access(read_write, 1, 2).
 */
#include <stddef.h>

struct tl_service_entry {
    const char *name;
    const char *signature;
    void (*call)(void *const *args, void *result);
};

static double total(const double *xs, size_t n)
{
    double sum = 0;

    for (size_t i = 0; i < n; i++)
        sum += xs[i];
    return sum;
}

static void twice(double *xs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        xs[i] *= 2;
}

static void call_total(void *const *args, void *result)
{
    *(double *)result = total(*(const double **)args[0], *(size_t *)args[1]);
}

static void call_twice(void *const *args, void *result)
{
    (void)result;
    twice(*(double **)args[0], *(size_t *)args[1]);
}

const struct tl_service_entry tl_service_entries[] = {
    { "total", "f8(*r1:f8,u8)", call_total },
    { "twice", "v(*x1:f8,u8)",  call_twice },
};
const unsigned tl_service_entry_count =
    sizeof tl_service_entries / sizeof tl_service_entries[0];
