/* SPDX-License-Identifier: MIT */
/*
 * test_retry.c - a worker killed while it serves a call: the call is
 * retried on another worker and answered (no fallback), later calls keep
 * working, and the dead worker is replaced.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <turbolift.h>

#include "rt_check.h"
#include "rt_proc.h"

#define REPLICAS 2

static char d_slow[2048], d_who[2048], marks[600];
static void *s_slow, *s_who;

struct slow { int rc, pid; };

static void *call_slow(void *arg)
{
    struct slow *s = arg;
    int ms = 400;
    void *args[] = { &ms };

    s->rc = __turbolift_call(d_slow, &s_slow, args, &s->pid);
    return NULL;
}

/* slow(0): which worker of slow() answers. */
static int call_who(int *pid)
{
    int ms = 0;
    void *args[] = { &ms };

    return __turbolift_call(d_slow, &s_slow, args, pid);
}

static int whoami(void)
{
    int pid = 0;

    CHECK(__turbolift_call(d_who, &s_who, NULL, &pid) == 0);
    return pid;
}

/* The pid of a worker that has entered slow(), from its marker file. */
static int busy_worker(long timeout_ms)
{
    long deadline = tl_now_ms() + timeout_ms, pause = 1;

    while (tl_now_ms() < deadline) {
        DIR *d = opendir(marks);
        struct dirent *e;
        int pid = 0;

        REQUIRE(d != NULL);
        while ((e = readdir(d)) != NULL && pid == 0)
            if (e->d_name[0] >= '0' && e->d_name[0] <= '9')
                pid = atoi(e->d_name);
        closedir(d);
        if (pid > 0)
            return pid;
        tl_wait_ms(pause);
        pause = pause < 50 ? pause * 2 : 50;
    }
    return 0;
}

int main(void)
{
    const char *dir = rt_scratch("retry");
    pthread_t th[REPLICAS];
    struct slow res[REPLICAS];
    int victim, replaced = 0, seen_pids[REPLICAS];
    char sdir[600];

    setenv("TURBOLIFT_REPLICAS", "2", 1);
    snprintf(sdir, sizeof sdir, "%s", dir);
    snprintf(marks, sizeof marks, "%s/marks-%ld", dir, (long)getpid());
    REQUIRE(mkdir(marks, 0755) == 0);
    setenv("RT_MARK_DIR", marks, 1);        /* the workers inherit it */
    rt_descriptor(d_slow, sizeof d_slow, rt_service_dir(sdir, "slow", "i4(i4)"),
                  "slow", "i4(i4)");
    rt_descriptor(d_who, sizeof d_who, rt_service_dir(sdir, "whoami", "i4()"),
                  "whoami", "i4()");

    /* Start the workers of slow() before the measured part. */
    {
        struct slow warm;
        call_slow(&warm);
        CHECK(warm.rc == 0);
    }
    /* Empty the marker folder of the warm-up call. */
    {
        DIR *d = opendir(marks);
        struct dirent *e;
        char p[900];

        while ((e = readdir(d)) != NULL)
            if (e->d_name[0] != '.') {
                snprintf(p, sizeof p, "%s/%s", marks, e->d_name);
                unlink(p);
            }
        closedir(d);
    }

    for (int i = 0; i < REPLICAS; i++)
        REQUIRE(pthread_create(&th[i], NULL, call_slow, &res[i]) == 0);
    victim = busy_worker(10000);
    REQUIRE(victim > 0);
    REQUIRE(kill(victim, SIGKILL) == 0);
    for (int i = 0; i < REPLICAS; i++) {
        pthread_join(th[i], NULL);
        CHECK_MSG(res[i].rc == 0, "call %d was not answered (rc %d)", i, res[i].rc);
        CHECK_MSG(res[i].pid != victim, "call %d answered by the killed worker", i);
    }

    /* Calls go on, and the killed worker is replaced: calling threads
     * fan out over two live workers again, and the killed one is not
     * among them. A call to the dead worker's old port is refused, which
     * is what makes the runtime replace it, so allow a few rounds. */
    for (int round = 0; round < 10 && replaced < REPLICAS; round++) {
        int got = rt_pids_from_threads(call_who, REPLICAS, seen_pids, REPLICAS);

        CHECK(got > 0);
        replaced = got;
        for (int k = 0; k < got; k++)
            CHECK(seen_pids[k] != victim);
    }
    CHECK_MSG(replaced == REPLICAS, "%d live workers answered", replaced);
    CHECK(whoami() > 0);
    turbolift_shutdown();
    CHECK(rt_count_children() == 0);
    return tl_check_status("test_retry");
}
