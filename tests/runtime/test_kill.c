/* SPDX-License-Identifier: MIT */
/*
 * test_kill.c - workers never outlive a parent that is SIGKILLed (no
 * atexit, no shutdown: only the workers' parent-death watch can act).
 *
 * We become a child subreaper, so the orphaned workers are re-parented to
 * us and we can see them exit and reap them, whatever PID 1 does.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <turbolift.h>

#include "rt_check.h"
#include "rt_proc.h"

#define REPLICAS 3

static const char *descriptor;
static void *state;

static int whoami(int *pid)
{
    return __turbolift_call(descriptor, &state, NULL, pid);
}

static void child(int out, int hold)
{
    int pids[REPLICAS], n;
    char c;

    n = rt_pids_from_threads(whoami, 2 * REPLICAS, pids, REPLICAS);
    if (n != REPLICAS)
        _exit(2);
    if (write(out, pids, sizeof pids) < 0)
        _exit(3);
    close(out);
    /* Wait to be killed: the parent closes nothing, so read blocks until
     * SIGKILL (or returns 0 if the parent died, then we leave). */
    if (read(hold, &c, 1) < 0)
        _exit(4);
    _exit(0);
}

int main(void)
{
    const char *dir = rt_scratch("kill");
    static char desc[2048];
    int pids[REPLICAS], report[2], hold[2], status;
    ssize_t got;
    pid_t pid;

    setenv("TURBOLIFT_REPLICAS", "3", 1);
    descriptor = rt_descriptor(desc, sizeof desc, rt_service_dir(dir, "whoami", "i4()"),
                  "whoami", "i4()");
    REQUIRE(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
    REQUIRE(pipe(report) == 0 && pipe(hold) == 0);
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        close(report[0]);
        close(hold[1]);
        child(report[1], hold[0]);
    }
    close(report[1]);
    close(hold[0]);
    got = read(report[0], pids, sizeof pids);
    REQUIRE(got == (ssize_t)sizeof pids);
    for (int k = 0; k < REPLICAS; k++)
        CHECK(!rt_pid_gone(pids[k]));

    REQUIRE(kill(pid, SIGKILL) == 0);
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    for (int k = 0; k < REPLICAS; k++)
        CHECK_MSG(rt_wait_gone(pids[k], 10000), "worker %d outlived its parent", pids[k]);
    close(hold[1]);
    return tl_check_status("test_kill");
}
