/* SPDX-License-Identifier: MIT */
/*
 * tl_proc.c - run a tool as a child process, with input, output and a deadline.
 *
 * stdin is a socketpair rather than a pipe: a child that exits before it
 * has read everything would make a write on a pipe raise SIGPIPE in the
 * user's program, while send(MSG_NOSIGNAL) on a socket just fails.
 */
#define _GNU_SOURCE   /* pipe2, posix_spawn_file_actions_addclosefrom_np */
#include "tl_proc.h"

#include "tl_buf.h"
#include "tl_clock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define TL_PROC_OUT_MAX ((size_t)64 << 20)   /* kubectl -o json of a big namespace */

void tl_proc_describe(char *const argv[], char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; argv[i] != NULL && used + 1 < len; i++) {
        int n = snprintf(buf + used, len - used, "%s%s", i ? " " : "", argv[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

void tl_proc_out_free(struct tl_proc_out *r)
{
    free(r->out);
    r->out = NULL;
    r->outlen = 0;
}

/* The child starts with no blocked signals and default dispositions for
 * the ones a caller (or our spawner thread) may have changed. */
void tl_proc_child_signals(posix_spawnattr_t *attr)
{
    sigset_t none, defaults;

    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGHUP);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGCHLD);
    posix_spawnattr_setsigmask(attr, &none);
    posix_spawnattr_setsigdefault(attr, &defaults);
    posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
}

/* Keep the last part of stderr: the error is at the end. */
static void keep_tail(char *dst, size_t cap, size_t *used, const char *src, size_t n)
{
    if (n >= cap - 1) {
        src += n - (cap - 1);
        n = cap - 1;
    }
    if (*used + n > cap - 1) {
        size_t drop = *used + n - (cap - 1);
        memmove(dst, dst + drop, *used - drop);
        *used -= drop;
    }
    memcpy(dst + *used, src, n);
    *used += n;
    dst[*used] = '\0';
}

static void reap(pid_t pid, int *status)
{
    while (waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
}

/* merged: the child's stderr goes to the same pipe as its stdout, so that
 * r->out holds both in the order they were written. */
static int proc_run(char *const argv[], const char *input, size_t inlen,
                    long timeout_ms, int merged, struct tl_proc_out *r)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int in[2] = { -1, -1 }, out[2] = { -1, -1 }, errp[2] = { -1, -1 };
    long deadline = tl_now_ms() + timeout_ms;
    struct tl_buf out_buf = { NULL, 0, 0 };
    size_t sent = 0, errused = 0;
    int rc = -1, status = -1, spawned = 0;
    pid_t pid = -1;

    memset(r, 0, sizeof *r);
    r->status = -1;
    if (pipe2(out, O_CLOEXEC) != 0 || (!merged && pipe2(errp, O_CLOEXEC) != 0) ||
        (input != NULL && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0)) {
        snprintf(r->err, sizeof r->err, "pipe: %s", strerror(errno));
        goto cleanup;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    if (input != NULL)
        posix_spawn_file_actions_adddup2(&fa, in[1], 0);
    else
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, merged ? out[1] : errp[1], 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
    tl_proc_child_signals(&attr);
    errno = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    if (errno != 0) {
        snprintf(r->err, sizeof r->err, "cannot run %s: %s", argv[0], strerror(errno));
        goto cleanup;
    }
    spawned = 1;
    close(out[1]);
    if (errp[1] >= 0)
        close(errp[1]);
    out[1] = errp[1] = -1;
    if (input != NULL) {
        close(in[1]);
        in[1] = -1;
        if (inlen == 0) {
            close(in[0]);
            in[0] = -1;
        }
    }

    while (out[0] >= 0 || errp[0] >= 0) {   /* until both EOF, or the deadline */
        struct pollfd p[3] = { { out[0], POLLIN, 0 }, { errp[0], POLLIN, 0 },
                               { in[0], POLLOUT, 0 } };
        long left = deadline - tl_now_ms();
        char buf[16384];
        ssize_t n;

        if (left <= 0) {
            kill(pid, SIGKILL);
            snprintf(r->err, sizeof r->err, "killed after %ld ms (timeout)", timeout_ms);
            reap(pid, &status);
            spawned = 0;
            goto cleanup;
        }
        if (poll(p, 3, (int)(left > 1000 ? 1000 : left)) < 0) {
            if (errno == EINTR)
                continue;
            snprintf(r->err, sizeof r->err, "poll: %s", strerror(errno));
            break;
        }
        if (p[2].revents != 0) {
            n = send(in[0], input + sent, inlen - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0)
                sent += (size_t)n;
            if ((n < 0 && errno != EAGAIN && errno != EINTR) || sent == inlen) {
                close(in[0]);   /* EOF for the child; or it stopped reading */
                in[0] = -1;
            }
        }
        if (p[0].revents != 0) {
            n = read(out[0], buf, sizeof buf);
            if (n > 0) {
                if (tl_buf_append(&out_buf, buf, (size_t)n, TL_PROC_OUT_MAX) != 0) {
                    kill(pid, SIGKILL);
                    snprintf(r->err, sizeof r->err, "%s printed too much", argv[0]);
                    reap(pid, &status);
                    spawned = 0;
                    goto cleanup;
                }
            } else if (n == 0 || errno != EINTR) {
                close(out[0]);
                out[0] = -1;
            }
        }
        if (p[1].revents != 0) {
            n = read(errp[0], buf, sizeof buf);
            if (n > 0) {
                keep_tail(r->err, sizeof r->err, &errused, buf, (size_t)n);
            } else if (n == 0 || errno != EINTR) {
                close(errp[0]);
                errp[0] = -1;
            }
        }
    }
    reap(pid, &status);
    spawned = 0;
    r->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (r->status == 0)
        rc = 0;
    else if (errused == 0)
        snprintf(r->err, sizeof r->err, "%s %s %d", argv[0],
                 WIFSIGNALED(status) ? "killed by signal" : "exited with status",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
cleanup:
    if (spawned) {
        kill(pid, SIGKILL);
        reap(pid, &status);
    }
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0)
            close(in[i]);
        if (out[i] >= 0)
            close(out[i]);
        if (errp[i] >= 0)
            close(errp[i]);
    }
    r->out = out_buf.data;
    r->outlen = out_buf.len;
    if (r->out == NULL && (r->out = calloc(1, 1)) == NULL)
        rc = -1;
    /* Trailing newlines are noise in every message. */
    for (size_t l = strlen(r->err); l > 0 && (r->err[l - 1] == '\n' || r->err[l - 1] == '\r'); l--)
        r->err[l - 1] = '\0';
    return rc;
}

int tl_proc_run(char *const argv[], const char *input, size_t inlen,
                long timeout_ms, struct tl_proc_out *r)
{
    return proc_run(argv, input, inlen, timeout_ms, 0, r);
}

int tl_proc_run_merged(char *const argv[], long timeout_ms, struct tl_proc_out *r)
{
    return proc_run(argv, NULL, 0, timeout_ms, 1, r);
}

int tl_proc_run_inherit(char *const argv[], long timeout_ms, int *status)
{
    posix_spawnattr_t attr;
    long deadline = tl_now_ms() + timeout_ms;
    pid_t pid, got;
    int st = -1;

    *status = -1;
    posix_spawnattr_init(&attr);
    tl_proc_child_signals(&attr);
    errno = posix_spawnp(&pid, argv[0], NULL, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    if (errno != 0)
        return -1;
    for (;;) {        /* bounded by the deadline; polls every 50 ms */
        got = waitpid(pid, &st, WNOHANG);
        if (got == pid)
            break;
        if (got < 0 && errno != EINTR)
            return -1;
        if (tl_now_ms() >= deadline) {
            kill(pid, SIGKILL);
            reap(pid, &st);
            return -1;
        }
        tl_wait_ms(50);
    }
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return *status == 0 ? 0 : -1;
}
