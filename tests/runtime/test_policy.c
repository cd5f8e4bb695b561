/* SPDX-License-Identifier: MIT */
/*
 * test_policy.c - what a call does when it cannot be answered:
 *   fallback (default): warn once per function with the reason, return 1;
 *   abort: name the function, its source and the reason, then abort();
 *   a call that outlives timeout_ms is given up, never answered late;
 *   TURBOLIFT_MODE=inprocess: return 1 and start nothing.
 * Each case that changes the process-wide policy runs in a child process.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <turbolift.h>

#include "rt_check.h"
#include "rt_proc.h"

static const char *dir;

/* Run fn in a child with stderr captured; returns its wait status. The
 * child's workers inherit the pipe and may outlive it for a while (a
 * drain), so stop reading when the child is gone, not at EOF. */
static int in_child(void (*fn)(void), char *out, size_t outlen)
{
    int p[2], status = 0, exited = 0;
    size_t used = 0;
    pid_t pid;

    REQUIRE(pipe(p) == 0);
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        fn();
        _exit(0);
    }
    close(p[1]);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    for (int round = 0; round < 1200; round++) {   /* 120 s at most */
        struct pollfd pfd = { p[0], POLLIN, 0 };
        ssize_t n = -1;

        poll(&pfd, 1, exited ? 0 : 100);
        while (used + 1 < outlen && (n = read(p[0], out + used, outlen - used - 1)) > 0)
            used += (size_t)n;
        if (exited)
            break;                 /* read once more after the exit */
        /* EOF: every writer is gone, the child is exiting: wait for it. */
        exited = waitpid(pid, &status, n == 0 ? 0 : WNOHANG) == pid;
    }
    out[used] = '\0';
    close(p[0]);
    REQUIRE(exited);
    return status;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;

    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* A function the service does not have: the service answers 404. */
static int call_missing(void)
{
    static char d[2048];
    static void *state;
    int a = 1, b = 2, r = 0;
    void *args[] = { &a, &b };

    if (d[0] == '\0')
        rt_descriptor(d, sizeof d, rt_service_dir(dir, "nosuch", "i4(i4,i4)"),
                      "nosuch", "i4(i4,i4)");
    return __turbolift_call(d, &state, args, &r);
}

static void fallback_case(void)
{
    int rc[3];

    for (int i = 0; i < 3; i++)
        rc[i] = call_missing();
    /* Exit status says what the calls returned: 0 = all ran in-process. */
    _exit(rc[0] == 1 && rc[1] == 1 && rc[2] == 1 ? 0 : 1);
}

static void abort_case(void)
{
    setenv("TURBOLIFT_ON_FAILURE", "abort", 1);
    call_missing();
    _exit(7);           /* not reached: abort() */
}

static void broken_case(void)
{
    static void *state;
    int a = 1, b = 2, r = 0;
    void *args[] = { &a, &b };
    const char *d = "version=1\nfunction=gone\ntarget=local\nsignature=i4(i4,i4)\n"
                    "hash=0123456789abcdef\nservice_dir=/nonexistent/gone\n"
                    "source=app.c:7\n";

    _exit(__turbolift_call(d, &state, args, &r) == 1 &&
          __turbolift_call(d, &state, args, &r) == 1 ? 0 : 1);
}

static void timeout_case(void)
{
    static char d[2048];
    static void *state;
    int ms, r = 0, rc;
    void *args[] = { &ms };

    setenv("TURBOLIFT_TIMEOUT_MS", "1000", 1);
    setenv("TURBOLIFT_REPLICAS", "1", 1);
    rt_descriptor(d, sizeof d, rt_service_dir(dir, "slow", "i4(i4)"), "slow", "i4(i4)");
    ms = 0;
    if (__turbolift_call(d, &state, args, &r) != 0)   /* starts the worker */
        _exit(2);
    ms = 3000;     /* three times the deadline; the warm-up call has 1 s even on a busy CI */
    rc = __turbolift_call(d, &state, args, &r);
    _exit(rc == 1 ? 0 : 1);
}

/* A function tagged for k8s: its set-up fails in k8s_case, and
 * TURBOLIFT_TARGET=local sends it to local workers. */
static int call_k8s(void)
{
    static char d[2048];
    static void *state;
    int a = 20, b = 22, r = 0, rc;
    void *args[] = { &a, &b };
    char *k;

    rt_descriptor(d, sizeof d, rt_service_dir(dir, "add", "i4(i4,i4)"), "add", "i4(i4,i4)");
    k = strstr(d, "target=local");
    REQUIRE(k != NULL);
    memcpy(k, "target=k8s\n\n", 12);   /* same length; empty lines are skipped */
    rc = __turbolift_call(d, &state, args, &r);
    return rc == 0 ? (r == 42 ? 0 : 3) : rc;
}

static void k8s_case(void)
{
    /* The k8s target exists now: make it fail at the image step, before
     * any registry or cluster is touched, whatever this machine has. */
    setenv("TURBOLIFT_REGISTRY", "127.0.0.1:1", 1);
    setenv("TURBOLIFT_CONTAINER_TOOL", "/nonexistent/docker", 1);
    _exit(call_k8s() == 1 ? 0 : 1);
}

static void k8s_local_case(void)
{
    setenv("TURBOLIFT_TARGET", "local", 1);
    _exit(call_k8s() == 0 ? 0 : 1);
}

/* replicas and token from the configuration file. */
static void config_case(void)
{
    char path[700], d[2048];
    static void *state;
    int a = 1, b = 2, r = 0;
    void *args[] = { &a, &b };

    snprintf(path, sizeof path, "%s/config-good.yaml", dir);
    /* The token is the configuration's: the runtime must hand it to the
     * workers (TURBOLIFT_TOKEN in their environment) and send it, or the
     * service answers 401 and the call falls back. */
    rt_write_file(path, "defaults:\n  replicas: 1\n  token: s3cret\n"
                  "functions:\n  add:\n    replicas: 3\n");
    unsetenv("TURBOLIFT_TOKEN");
    setenv("TURBOLIFT_CONFIG", path, 1);
    unsetenv("TURBOLIFT_REPLICAS");
    rt_descriptor(d, sizeof d, rt_service_dir(dir, "add", "i4(i4,i4)"), "add", "i4(i4,i4)");
    _exit(__turbolift_call(d, &state, args, &r) == 0 && r == 3 &&
          rt_count_children() == 3 ? 0 : 1);
}

/* A bad configuration file: every call follows the policy, and the
 * warning names file, line and key. */
static void bad_config_case(void)
{
    char path[700], d[2048];
    static void *state;
    int a = 1, b = 2, r = 0;
    void *args[] = { &a, &b };

    snprintf(path, sizeof path, "%s/config-bad.yaml", dir);
    rt_write_file(path, "functions:\n  add:\n    replica: 3\n");
    setenv("TURBOLIFT_CONFIG", path, 1);
    rt_descriptor(d, sizeof d, rt_service_dir(dir, "add", "i4(i4,i4)"), "add", "i4(i4,i4)");
    _exit(__turbolift_call(d, &state, args, &r) == 1 && rt_count_children() == 0 ? 0 : 1);
}

/* Every attempt kills its worker: each is replaced, the call is tried
 * 1 + retries times, then falls back; the next harmless call is answered
 * by a replacement. */
static void crash_case(void)
{
    static char d[2048];
    static void *state;
    int n = 1, r = -1, rc1, rc2;
    void *args[] = { &n };

    setenv("TURBOLIFT_REPLICAS", "1", 1);
    rt_descriptor(d, sizeof d, rt_service_dir(dir, "crash", "i4(i4)"), "crash", "i4(i4)");
    rc1 = __turbolift_call(d, &state, args, &r);
    n = 0;
    rc2 = __turbolift_call(d, &state, args, &r);
    _exit(rc1 == 1 && rc2 == 0 && r == 0 ? 0 : 1);
}

static void inprocess_case(void)
{
    static void *state;
    int a = 1, b = 2, r = 0;
    void *args[] = { &a, &b };
    char d[2048];

    setenv("TURBOLIFT_MODE", "inprocess", 1);
    rt_descriptor(d, sizeof d, rt_service_dir(dir, "add", "i4(i4,i4)"), "add", "i4(i4,i4)");
    _exit(__turbolift_call(d, &state, args, &r) == 1 && rt_count_children() == 0 &&
          state == NULL ? 0 : 1);
}

int main(void)
{
    char out[8192];
    int st;

    dir = rt_scratch("policy");
    unsetenv("TURBOLIFT_ON_FAILURE");
    unsetenv("TURBOLIFT_MODE");
    setenv("TURBOLIFT_REPLICAS", "1", 1);

    st = in_child(fallback_case, out, sizeof out);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fallback calls did not return 1");
    CHECK_MSG(count(out, "warning: call of nosuch") == 1, "expected one warning, got:\n%s", out);
    CHECK_MSG(strstr(out, "404") != NULL, "no reason in:\n%s", out);
    CHECK_MSG(strstr(out, "in-process") != NULL, "no consequence in:\n%s", out);

    st = in_child(abort_case, out, sizeof out);
    CHECK_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "on_failure=abort did not abort");
    CHECK_MSG(strstr(out, "call of nosuch") != NULL && strstr(out, "rt_check.h:") != NULL /* source= of rt_descriptor */ &&
              strstr(out, "404") != NULL && strstr(out, "abort") != NULL,
              "abort message lacks function, source or reason:\n%s", out);

    st = in_child(broken_case, out, sizeof out);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a broken set-up did not fall back");
    CHECK_MSG(count(out, "warning: call of gone (app.c:7) failed") == 1 &&
              strstr(out, "the service folder /nonexistent/gone does not exist") != NULL,
              "set-up failure not reported once with its reason:\n%s", out);

    st = in_child(timeout_case, out, sizeof out);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a call past timeout_ms was not given up");
    CHECK_MSG(strstr(out, "call of slow") != NULL, "timeout not reported:\n%s", out);

    st = in_child(k8s_case, out, sizeof out);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a k8s function did not fall back");
    CHECK_MSG(strstr(out, "container tool /nonexistent/docker") != NULL, "reason missing:\n%s", out);
    st = in_child(k8s_local_case, out, sizeof out);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "TURBOLIFT_TARGET=local was not obeyed:\n%s",
              out);

    st = in_child(config_case, out, sizeof out);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "replicas from the configuration not "
              "obeyed:\n%s", out);
    st = in_child(bad_config_case, out, sizeof out);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a bad configuration did not fall back");
    CHECK_MSG(strstr(out, "config-bad.yaml:3: key 'replica'") != NULL,
              "configuration error not named:\n%s", out);

    st = in_child(crash_case, out, sizeof out);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "crashing calls: no fallback, or no "
              "replacement worker:\n%s", out);
    CHECK_MSG(strstr(out, "3 of at most 3 attempts made") != NULL &&
              count(out, "starting a new one") >= 3,
              "crashing calls not retried and replaced:\n%s", out);

    st = in_child(inprocess_case, out, sizeof out);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "TURBOLIFT_MODE=inprocess did not "
              "run in-process without workers");
    return tl_check_status("test_policy");
}
