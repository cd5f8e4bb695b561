/* SPDX-License-Identifier: MIT */
/*
 * test_local.c - the full client path against local workers of the
 * hand-written service: results and write-back, first calls from many
 * threads start the workers once, calls fan out over workers, workers
 * survive the thread that started them, none is left after
 * turbolift_shutdown, and a worker takes no call (and shows no metrics)
 * without the token the run made for it (issue 12, item 4).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <turbolift.h>

#include "rt_check.h"
#include "rt_net.h"
#include "rt_proc.h"

#define REPLICAS 2
#define THREADS 8

static char d_add[2048], d_scale[2048], d_who[2048];
static void *s_add, *s_scale, *s_who;

static int call_add(int a, int b, int *sum)
{
    void *args[] = { &a, &b };
    return __turbolift_call(d_add, &s_add, args, sum);
}

static int call_whoami(int *pid)
{
    return __turbolift_call(d_who, &s_who, NULL, pid);
}

static void *first_add(void *arg)
{
    int sum = 0;

    *(int *)arg = call_add(40, 2, &sum) == 0 && sum == 42;
    return NULL;
}

struct who { int rc, pid; };

static void *first_whoami(void *arg)
{
    struct who *w = arg;

    w->rc = call_whoami(&w->pid);
    return NULL;
}

int main(void)
{
    const char *dir = rt_scratch("local");
    pthread_t th[THREADS];
    struct who who[THREADS];
    int ok = 0, sum = 0, pids[16], npids = 0;

    setenv("TURBOLIFT_REPLICAS", "2", 1);
    rt_descriptor(d_add, sizeof d_add, rt_service_dir(dir, "add", "i4(i4,i4)"),
                  "add", "i4(i4,i4)");
    rt_descriptor(d_scale, sizeof d_scale, rt_service_dir(dir, "scale", "v(*x1:f8,u8,f8)"),
                  "scale", "v(*x1:f8,u8,f8)");
    rt_descriptor(d_who, sizeof d_who, rt_service_dir(dir, "whoami", "i4()"),
                  "whoami", "i4()");

    /* The first call from a thread that then exits: the workers must not
     * die with it (PR_SET_PDEATHSIG follows the spawning thread). */
    REQUIRE(pthread_create(&th[0], NULL, first_add, &ok) == 0);
    pthread_join(th[0], NULL);
    CHECK(ok);
    CHECK(call_add(2, 3, &sum) == 0);
    CHECK(sum == 5);
    CHECK(call_add(-7, 3, &sum) == 0 && sum == -4);

    /* Pointer + length, read-write: the service's changes come back. */
    {
        double xs[5] = { 1, 2, 3, 4, 5 }, by = 2.5;
        unsigned long n = 5;
        double *p = xs;
        void *args[] = { &p, &n, &by };

        CHECK(__turbolift_call(d_scale, &s_scale, args, NULL) == 0);
        for (int i = 0; i < 5; i++)
            CHECK(xs[i] == (i + 1) * 2.5);
    }

    /* Many threads make the first call of a function at once: every call
     * is answered and the workers are started once. */
    for (int i = 0; i < THREADS; i++)
        REQUIRE(pthread_create(&th[i], NULL, first_whoami, &who[i]) == 0);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECK(who[i].rc == 0 && who[i].pid > 0);
    }
    CHECK_MSG(rt_count_children() == 3 * REPLICAS, "%d children", rt_count_children());

    /* A sequential caller keeps to one warm worker... */
    {
        int first = 0, pid = 0, same = 1;

        CHECK(call_whoami(&first) == 0);
        for (int i = 0; i < 8; i++) {
            CHECK(call_whoami(&pid) == 0);
            same &= pid == first;
        }
        CHECK_MSG(same, "sequential calls from one thread moved between idle workers");
    }
    /* ...while calling threads fan out over all of them. */
    npids = rt_pids_from_threads(call_whoami, 2 * REPLICAS, pids, 16);
    CHECK_MSG(npids == REPLICAS, "%d distinct workers answered", npids);

    /* No token configured: the run made one, and a worker refuses
     * whoever does not have it - another program on this machine, here
     * talking to it over a real connection. */
    {
        char token[256] = "", reply[4096];
        unsigned port = rt_listen_port(pids[0]);

        REQUIRE(getenv("TURBOLIFT_TOKEN") == NULL);
        CHECK_MSG(port != 0, "no listening port found for worker %d", pids[0]);
        CHECK(rt_http(port, "POST", "/v1/call/whoami", NULL, "\x90", 1, reply,
                      sizeof reply) == 401);
        CHECK(rt_http(port, "POST", "/v1/call/whoami", "guess", "\x90", 1, reply,
                      sizeof reply) == 401);
        CHECK(rt_http(port, "GET", "/metrics", NULL, NULL, 0, reply, sizeof reply) == 401);
        CHECK_MSG(strstr(reply, "whoami") == NULL, "a refused /metrics named a function");
        CHECK(rt_http(port, "GET", "/healthz", NULL, NULL, 0, NULL, 0) == 200);
        CHECK(rt_http(port, "GET", "/readyz", NULL, NULL, 0, NULL, 0) == 200);
        /* The token is in the worker's environment (readable by our user
         * only), never on its command line (readable by all through ps). */
        REQUIRE(rt_environ_of(pids[0], "TURBOLIFT_TOKEN", token, sizeof token) == 0);
        CHECK_MSG(strlen(token) >= 32, "token '%s' is too short", token);
        CHECK(!rt_cmdline_has(pids[0], token));
        CHECK(rt_http(port, "POST", "/v1/call/whoami", token, "\x90", 1, reply,
                      sizeof reply) == 200);
        CHECK(rt_http(port, "GET", "/metrics", token, NULL, 0, reply, sizeof reply) == 200);
        CHECK(strstr(reply, "turbolift_calls_total{function=\"whoami\"") != NULL);
    }

    /* A forked child calls the parent's workers on connections of its
     * own, and its shutdown leaves the parent's workers alone. */
    {
        pid_t kid = fork();
        int st;

        REQUIRE(kid >= 0);
        if (kid == 0) {
            int ok = 1;
            for (int i = 0; i < 20; i++)
                ok &= call_add(i, 1, &sum) == 0 && sum == i + 1;
            turbolift_shutdown();
            _exit(ok ? 0 : 1);
        }
        for (int i = 0; i < 20; i++)
            CHECK(call_add(i, 2, &sum) == 0 && sum == i + 2);
        REQUIRE(waitpid(kid, &st, 0) == kid);
        CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "calls from a forked child failed");
        CHECK(call_add(3, 4, &sum) == 0 && sum == 7);
        CHECK(rt_count_children() == 3 * REPLICAS);
    }

    turbolift_shutdown();
    for (int k = 0; k < npids; k++)
        CHECK_MSG(rt_pid_gone(pids[k]), "worker %d still there after shutdown", pids[k]);
    CHECK(rt_count_children() == 0);
    /* After shutdown the program's calls run in-process. */
    CHECK(call_add(1, 1, &sum) == 1);
    turbolift_shutdown();      /* twice is fine */
    return tl_check_status("test_local");
}
