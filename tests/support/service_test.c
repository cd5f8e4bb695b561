/* SPDX-License-Identifier: MIT */
/*
 * service_test.c - a hand-written service translation unit, shaped like the
 * plugin's output (docs/abi.md, section 4): plain functions, one typed
 * trampoline each, and the tl_service_entries table. The runtime tests and
 * the benchmark link it into a service binary through the real build path.
 */
#define _POSIX_C_SOURCE 200809L   /* nanosleep */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct tl_service_entry {
    const char *name;
    const char *signature;
    void (*call)(void *const *args, void *result);
};

static int add(int a, int b)
{
    return a + b;
}

static void scale(double *xs, unsigned long n, double by)
{
    for (unsigned long i = 0; i < n; i++)
        xs[i] *= by;
}

/* Which worker answered: the tests use it to see calls fan out and to
 * find the workers' pids. */
static int whoami(void)
{
    return (int)getpid();
}

/* Sleep ms milliseconds after leaving a marker file named after our pid in
 * $RT_MARK_DIR, so a test knows the call is in progress on this worker. */
static int slow(int ms)
{
    const char *dir = getenv("RT_MARK_DIR");
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    if (dir != NULL) {
        char path[512];
        int fd;

        snprintf(path, sizeof path, "%s/%d", dir, (int)getpid());
        fd = open(path, O_WRONLY | O_CREAT, 0644);
        if (fd >= 0)
            close(fd);
    }
    nanosleep(&ts, NULL);
    return (int)getpid();
}

/* Dies (as a crash would, without a core file) unless n is 0. */
static int crash(int n)
{
    if (n != 0)
        kill(getpid(), SIGKILL);
    return 0;
}

static void call_add(void *const *args, void *result)
{
    *(int *)result = add(*(int *)args[0], *(int *)args[1]);
}

static void call_scale(void *const *args, void *result)
{
    (void)result;
    scale(*(double **)args[0], *(unsigned long *)args[1], *(double *)args[2]);
}

static void call_whoami(void *const *args, void *result)
{
    (void)args;
    *(int *)result = whoami();
}

static void call_slow(void *const *args, void *result)
{
    *(int *)result = slow(*(int *)args[0]);
}

static void call_crash(void *const *args, void *result)
{
    *(int *)result = crash(*(int *)args[0]);
}

const struct tl_service_entry tl_service_entries[] = {
    { "add",    "i4(i4,i4)",       call_add },
    { "scale",  "v(*x1:f8,u8,f8)", call_scale },
    { "whoami", "i4()",            call_whoami },
    { "slow",   "i4(i4)",          call_slow },
    { "crash",  "i4(i4)",          call_crash },
};
const unsigned tl_service_entry_count =
    sizeof tl_service_entries / sizeof tl_service_entries[0];
