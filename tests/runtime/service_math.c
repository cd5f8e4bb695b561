/* SPDX-License-Identifier: MIT */
/*
 * service_math.c - a test service whose slice calls into libm, with no -lm
 * in its manifest: it links only if the runtime passes the libraries the
 * calling process has loaded (test_build.c).
 */
#include <math.h>

struct tl_service_entry {
    const char *name;
    const char *signature;
    void (*call)(void *const *args, void *result);
};

static double grow(double x)
{
    return exp(x) + log1p(x);
}

static void call_grow(void *const *args, void *result)
{
    *(double *)result = grow(*(double *)args[0]);
}

const struct tl_service_entry tl_service_entries[] = {
    { "grow", "f8(f8)", call_grow },
};
const unsigned tl_service_entry_count = 1;
