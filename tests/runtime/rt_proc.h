/* SPDX-License-Identifier: MIT */
/*
 * rt_proc.h - process helpers of the runtime tests: who are our children,
 * is a pid gone, wait for that with a deadline.
 */
#ifndef RT_PROC_H
#define RT_PROC_H

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rt_check.h"

/* Our live (not zombie) children: their number, and the first max of their
 * pids in pids when pids is not NULL. */
static inline int rt_children(pid_t *pids, int max)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;

    REQUIRE(d != NULL);
    while ((e = readdir(d)) != NULL) {
        char path[300], line[256], state = '?';
        long ppid = -1;
        FILE *f;

        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/status", e->d_name);
        if ((f = fopen(path, "r")) == NULL)
            continue;
        while (fgets(line, sizeof line, f)) {
            sscanf(line, "State: %c", &state);
            sscanf(line, "PPid: %ld", &ppid);
        }
        fclose(f);
        if (ppid != (long)getpid() || state == 'Z')
            continue;
        if (pids != NULL && n < max)
            pids[n] = (pid_t)atol(e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

/* Number of live (not zombie) processes whose parent is us. */
static inline int rt_count_children(void)
{
    return rt_children(NULL, 0);
}

/* 1 when pid no longer exists or is a zombie. */
static inline int rt_pid_gone(pid_t pid)
{
    char path[64], line[256], state = '?';
    FILE *f;

    if (kill(pid, 0) != 0)
        return 1;
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    if ((f = fopen(path, "r")) == NULL)
        return 1;
    while (fgets(line, sizeof line, f))
        sscanf(line, "State: %c", &state);
    fclose(f);
    return state == 'Z';
}

/* Wait (polling with backoff, bounded) until pid is gone; reap it if it
 * is our child. 1 when gone in time. */
static inline int rt_wait_gone(pid_t pid, long timeout_ms)
{
    long deadline = tl_now_ms() + timeout_ms, pause = 1;

    for (;;) {
        waitpid(pid, NULL, WNOHANG);
        if (rt_pid_gone(pid))
            return 1;
        if (tl_now_ms() > deadline)
            return 0;
        tl_wait_ms(pause);
        pause = pause < 100 ? pause * 2 : 100;
    }
}

struct rt_one_call {
    int (*call)(int *pid);
    int rc, pid;
};

static inline void *rt_one_call_main(void *arg)
{
    struct rt_one_call *c = arg;

    c->rc = c->call(&c->pid);
    return NULL;
}

/*
 * Find the workers: each new calling thread prefers the next worker (the
 * runtime hands out preferred workers round robin over threads), so
 * nthreads threads run one after the other, one call each, meet every
 * worker when nthreads >= replicas. Distinct pids go to pids[0..max);
 * returns how many, or -1 when a call was not answered.
 */
static inline int rt_pids_from_threads(int (*call)(int *pid), int nthreads,
                                       int *pids, int max)
{
    int n = 0;

    for (int i = 0; i < nthreads; i++) {
        struct rt_one_call c = { call, -1, 0 };
        pthread_t th;
        int seen = 0;

        REQUIRE(pthread_create(&th, NULL, rt_one_call_main, &c) == 0);
        pthread_join(th, NULL);
        if (c.rc != 0)
            return -1;
        for (int k = 0; k < n; k++)
            seen |= pids[k] == c.pid;
        if (!seen && n < max)
            pids[n++] = c.pid;
    }
    return n;
}

#endif /* RT_PROC_H */
