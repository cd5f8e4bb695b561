/* SPDX-License-Identifier: MIT */
/*
 * service_table.c - a hand-written stand-in for the plugin's generated
 * dispatcher (docs/abi.md, section 4), linked with libturbolift-service.a
 * into a real service binary for test_main. Compiled with
 * -DTL_BAD_TABLE it carries a signature the runtime must refuse.
 */
#define _POSIX_C_SOURCE 200809L    /* nanosleep */

#include <stdint.h>
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
#ifdef TL_BAD_TABLE
    { "nap", "v(u3)", call_nap },
#else
    { "nap", "v(u4)", call_nap },
#endif
};
const unsigned tl_service_entry_count = sizeof tl_service_entries / sizeof tl_service_entries[0];
