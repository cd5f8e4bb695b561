/* SPDX-License-Identifier: MIT */
/*
 * test_stuck.c - stuck workers (issue 12, item 6), with real workers,
 * real connections and real signals, on_failure: abort throughout (a call
 * that is not answered by a service kills the test):
 *
 *   1. the client's attempt deadline: a call to an address that accepts
 *      connections and never answers ends with "looks stuck" after the
 *      health check, not after the call's timeout; a worker busy with a
 *      call longer than the attempt timeout is not condemned;
 *   2. two workers, one SIGSTOPped: 2,000 short calls from four threads
 *      are all answered, right; the stopped worker is SIGKILLed and
 *      replaced (the time is printed, never asserted);
 *   2b. a replacement killed while it starts does not leave its slot
 *      empty: the runtime starts another (within the restart budget);
 *   3. no worker outlives its program: one that exits with a worker
 *      stopped, and one SIGKILLed while itself stopped (so that nothing of
 *      it can run) with a worker stopped.
 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <turbolift.h>

#include "rt_check.h"
#include "rt_net.h"
#include "rt_proc.h"
#include "tl_client.h"

#define REPLICAS 2
#define THREADS 4
#define CALLS 2000

static char d_add[2048], d_slow[2048];
static void *s_add, *s_slow;

static int call_add(int a, int b, int *sum)
{
    void *args[] = { &a, &b };
    return __turbolift_call(d_add, &s_add, args, sum);
}

/* Our live children (the add workers), at most max of them. */
static int children(pid_t *pids, int max)
{
    int n = rt_children(pids, max);

    return n < max ? n : max;
}

/* 1. The attempt deadline, on the client alone. */
static void test_attempt_deadline(void)
{
    struct tl_client_opts opts = { 2000, 20000, NULL };
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    struct tl_response resp;
    struct tl_endpoint *ep;
    char base[64], err[256];
    int hole, rc;
    long t0;

    /* A "worker" that the kernel accepts connections for (backlog) and
     * that never reads a byte: what a stopped or hung process looks like
     * from the network. */
    hole = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(hole >= 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(hole, (struct sockaddr *)&a, sizeof a) == 0);
    REQUIRE(listen(hole, 16) == 0);
    REQUIRE(getsockname(hole, (struct sockaddr *)&a, &alen) == 0);
    snprintf(base, sizeof base, "http://127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
    REQUIRE(tl_client_init(err, sizeof err) == 0);
    ep = tl_endpoint_new(base, "add");
    REQUIRE(ep != NULL);
    t0 = tl_now_ms();
    rc = tl_client_post(ep, "\x92\x01\x02", 3, &opts, &resp);
    printf("test_stuck: a silent endpoint was given up after %ld ms "
           "(call timeout 20000 ms): %s\n", tl_now_ms() - t0, resp.error);
    CHECK(rc == -1);
    CHECK_MSG(strstr(resp.error, "failed its health check") != NULL,
              "the attempt ended for another reason: %s", resp.error);
    close(hole);

    /* A worker busy for 1.2 s (beyond the 250 ms floor, so it is checked
     * several times) answers its health checks: the call is answered on
     * the first attempt, never abandoned (abort would kill us). */
    {
        int ms = 1200, pid = 0;
        void *args[] = { &ms };

        CHECK(__turbolift_call(d_slow, &s_slow, args, &pid) == 0 && pid > 0);
    }
}

struct caller {
    int index, errors;
};

static void *caller_main(void *arg)
{
    struct caller *c = arg;

    for (int i = 0; i < CALLS / THREADS; i++) {
        int a = c->index * 100000 + i, b = 7 - i, sum = 0;

        /* on_failure: abort, so an unanswered call ends the test here. */
        if (call_add(a, b, &sum) != 0 || sum != a + b)
            c->errors++;
    }
    return NULL;
}

/* 2. Two workers, one stopped: calls go on, the stopped one is replaced. */
static void test_stopped_worker(void)
{
    pthread_t th[THREADS];
    struct caller c[THREADS];
    pid_t before[8], after[8];
    int n, sum = 0, errors = 0;
    long t0;

    CHECK(call_add(1, 2, &sum) == 0 && sum == 3);
    n = children(before, 8);
    REQUIRE(n == REPLICAS);
    REQUIRE(kill(before[0], SIGSTOP) == 0);
    t0 = tl_now_ms();
    for (int i = 0; i < THREADS; i++) {
        c[i].index = i;
        c[i].errors = 0;
        REQUIRE(pthread_create(&th[i], NULL, caller_main, &c[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        errors += c[i].errors;
    }
    printf("test_stuck: %d calls from %d threads with 1 of %d workers stopped: "
           "%ld ms\n", CALLS, THREADS, REPLICAS, tl_now_ms() - t0);
    CHECK_MSG(errors == 0, "%d calls unanswered or wrong", errors);
    /* The stopped worker was SIGKILLed (reaped by the runtime) and a new
     * one took its slot. */
    CHECK_MSG(rt_wait_gone(before[0], 10000), "stopped worker %d still there",
              (int)before[0]);
    {
        long deadline = tl_now_ms() + 10000;

        while ((n = children(after, 8)) != REPLICAS && tl_now_ms() < deadline)
            tl_wait_ms(20);
    }
    CHECK_MSG(n == REPLICAS, "%d workers after the replacement", n);
    for (int i = 0; i < n; i++)
        CHECK(after[i] != before[0]);
    CHECK(call_add(20, 22, &sum) == 0 && sum == 42);
}

/* 2b. Kill the first new worker the moment it appears (while it starts,
 * unless it is faster than our polling), after killing one worker. */
struct killer {
    pid_t known[8], killed;
    int nknown;
    atomic_int stop;
};

static void *killer_main(void *arg)
{
    struct killer *k = arg;

    while (!atomic_load(&k->stop) && k->killed == 0) {
        pid_t now[8];
        int n = children(now, 8);

        for (int i = 0; i < n && k->killed == 0; i++) {
            int old = 0;
            for (int j = 0; j < k->nknown; j++)
                old |= now[i] == k->known[j];
            if (!old && kill(now[i], SIGKILL) == 0)
                k->killed = now[i];
        }
        tl_wait_ms(1);
    }
    return NULL;
}

static void test_replacement_killed(void)
{
    struct killer k = { .killed = 0 };
    pid_t after[8];
    pthread_t th;
    int sum = 0, n;
    long deadline;

    atomic_init(&k.stop, 0);
    CHECK(call_add(1, 2, &sum) == 0 && sum == 3);
    k.nknown = children(k.known, 8);
    REQUIRE(k.nknown == REPLICAS);
    REQUIRE(pthread_create(&th, NULL, killer_main, &k) == 0);
    REQUIRE(kill(k.known[0], SIGKILL) == 0);     /* the watchdog replaces it */
    deadline = tl_now_ms() + 10000;
    while (k.killed == 0 && tl_now_ms() < deadline)
        tl_wait_ms(5);
    atomic_store(&k.stop, 1);
    pthread_join(th, NULL);
    CHECK_MSG(k.killed != 0, "no replacement appeared");
    printf("test_stuck: killed replacement %d as it started\n", (int)k.killed);
    /* Another replacement takes the slot: two workers again, neither of
     * them a killed one, and calls (abort policy) answered. */
    deadline = tl_now_ms() + 10000;
    for (;;) {
        int fresh = 1;

        n = children(after, 8);
        for (int i = 0; i < n; i++)
            fresh &= after[i] != k.killed && after[i] != k.known[0];
        if ((n == REPLICAS && fresh) || tl_now_ms() > deadline)
            break;
        tl_wait_ms(20);
    }
    CHECK_MSG(n == REPLICAS, "%d workers after a replacement was killed", n);
    for (int i = 0; i < 200; i++)
        CHECK(call_add(i, i, &sum) == 0 && sum == 2 * i);
}

/*
 * 3. A program (a forked child) with two workers; one worker is stopped,
 * then the program ends: by exiting (how == 0), or by SIGKILL while the
 * program itself is stopped, so that neither its exit path nor its
 * watchdog can run (how == 1). Every worker must be gone.
 */
static void test_program_ends(int how)
{
    int report[2], hold[2], status;
    pid_t pids[REPLICAS], kid;
    char c;

    REQUIRE(pipe(report) == 0 && pipe(hold) == 0);
    kid = fork();
    REQUIRE(kid >= 0);
    if (kid == 0) {
        int sum = 0, n;

        close(report[0]);
        close(hold[1]);
        if (call_add(2, 2, &sum) != 0 || sum != 4)
            _exit(2);
        n = children(pids, REPLICAS);
        if (n != REPLICAS || write(report[1], pids, sizeof pids) != sizeof pids)
            _exit(3);
        if (read(hold[0], &c, 1) < 0)   /* until the parent says so */
            _exit(4);
        exit(0);                        /* atexit: turbolift_shutdown */
    }
    close(report[1]);
    close(hold[0]);
    REQUIRE(read(report[0], pids, sizeof pids) == (ssize_t)sizeof pids);
    close(report[0]);
    if (how == 1)
        REQUIRE(kill(kid, SIGSTOP) == 0);
    REQUIRE(kill(pids[0], SIGSTOP) == 0);
    if (how == 0) {
        REQUIRE(write(hold[1], "x", 1) == 1);
    } else {
        REQUIRE(kill(kid, SIGKILL) == 0);
    }
    close(hold[1]);
    REQUIRE(waitpid(kid, &status, 0) == kid);
    if (how == 0)
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "the program ended with status %d", status);
    for (int k = 0; k < REPLICAS; k++)
        CHECK_MSG(rt_wait_gone(pids[k], 10000), "worker %d (%s) outlived its program "
                  "(%s)", (int)pids[k], k == 0 ? "stopped" : "running",
                  how == 0 ? "exit" : "SIGKILL while stopped");
}

/* Run part() in a child process of its own: every part needs a program
 * whose first turbolift call is its own (the runtime's exit path belongs
 * to the process that made the first call). */
static void in_child(void (*part)(void), const char *name)
{
    pid_t kid = fork();
    int status;

    REQUIRE(kid >= 0);
    if (kid == 0) {
        int rc;

        part();
        turbolift_shutdown();
        rc = tl_check_status(name);
        fflush(stdout);
        _exit(rc);
    }
    REQUIRE(waitpid(kid, &status, 0) == kid);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "%s failed (status %d)", name, status);
}

int main(void)
{
    const char *dir = rt_scratch("stuck");
    static char desc_add[2048], desc_slow[2048];

    setenv("TURBOLIFT_REPLICAS", "2", 1);
    setenv("TURBOLIFT_ON_FAILURE", "abort", 1);
    memcpy(d_add, rt_descriptor(desc_add, sizeof desc_add,
                                rt_service_dir(dir, "add", "i4(i4,i4)"),
                                "add", "i4(i4,i4)"), sizeof d_add);
    memcpy(d_slow, rt_descriptor(desc_slow, sizeof desc_slow,
                                 rt_service_dir(dir, "slow", "i4(i4)"),
                                 "slow", "i4(i4)"), sizeof d_slow);
    /* This process makes no turbolift call itself. Workers of a program
     * SIGKILLed are re-parented to us, so that we can see them go. */
    REQUIRE(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
    in_child(test_attempt_deadline, "test_stuck (attempt deadline)");
    in_child(test_stopped_worker, "test_stuck (stopped worker)");
    in_child(test_replacement_killed, "test_stuck (replacement killed)");
    test_program_ends(0);
    test_program_ends(1);
    return tl_check_status("test_stuck");
}
