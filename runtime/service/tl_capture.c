/* SPDX-License-Identifier: MIT */
/*
 * tl_capture.c - the lock a generated dispatcher holds while it installs a
 * call's captured globals and runs the function (docs/abi.md, section 4).
 *
 * The globals are the process's, and a worker runs each connection's call on
 * its own thread: without the lock, two concurrent calls could each run with
 * the other's values. A service serves one function, so one lock; calls of
 * a function without captured globals never take it. Defined here rather
 * than in the generated service.c, which cannot include <pthread.h> after
 * the already preprocessed text of the user's file.
 */
#include <pthread.h>

#include "tl_abi.h"

static pthread_mutex_t tl_capture_mutex = PTHREAD_MUTEX_INITIALIZER;

void __turbolift_capture_lock(void)
{
    pthread_mutex_lock(&tl_capture_mutex);
}

void __turbolift_capture_unlock(void)
{
    pthread_mutex_unlock(&tl_capture_mutex);
}
