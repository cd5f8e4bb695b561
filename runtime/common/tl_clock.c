/* SPDX-License-Identifier: MIT */
/*
 * tl_clock.c - monotonic milliseconds for deadlines and bounded pauses.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <time.h>

#include "tl_clock.h"

long tl_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tl_wait_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    /* nanosleep leaves the remainder in ts when a signal cuts it short */
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}
