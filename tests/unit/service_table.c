/* SPDX-License-Identifier: MIT */
/*
 * service_table.c - a hand-written stand-in for the plugin's generated
 * dispatcher (docs/abi.md, section 4): linked with libturbolift-service.a
 * into a real service binary for test_main, and served in-process by
 * test_service. Compiled with -DTL_BAD_TABLE it carries a signature the
 * runtime must refuse.
 */
#define _POSIX_C_SOURCE 200809L    /* nanosleep */

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct tl_service_entry {
    const char *name;
    const char *signature;
    void (*call)(void *const *args, void *result);
};

static void call_add(void *const *args, void *result)
{
    double a, b, sum;

    memcpy(&a, args[0], sizeof a);
    memcpy(&b, args[1], sizeof b);
    sum = a + b;
    memcpy(result, &sum, sizeof sum);
}

static void call_scale(void *const *args, void *result)
{
    double *xs = *(double *const *)args[0];
    uint64_t n = *(const uint64_t *)args[1];

    (void)result;
    for (uint64_t i = 0; xs && i < n; i++)
        xs[i] *= 3;
}

static void call_greet(void *const *args, void *result)
{
    static _Thread_local char text[128];
    const char *name = *(const char *const *)args[0];
    char *out = text;

    snprintf(text, sizeof text, "hello, %s", name ? name : "nobody");
    memcpy(result, &out, sizeof out);
}

static void call_nap(void *const *args, void *result)
{
    uint32_t ms;
    struct timespec ts;

    (void)result;
    memcpy(&ms, args[0], sizeof ms);
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

const struct tl_service_entry tl_service_entries[] = {
    { "add", "f8(f8,f8)", call_add },
    { "scale", "v(*x1:f8,u8)", call_scale },
    { "greet", "s(s)", call_greet },
#ifdef TL_BAD_TABLE
    { "nap", "v(u3)", call_nap },
#else
    { "nap", "v(u4)", call_nap },
#endif
};
const unsigned tl_service_entry_count = sizeof tl_service_entries / sizeof tl_service_entries[0];
