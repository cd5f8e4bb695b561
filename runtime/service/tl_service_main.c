/* SPDX-License-Identifier: MIT */
/*
 * tl_service_main.c - main() of every service binary. The binary is this
 * file (in libturbolift-service.a) linked with a generated service.o that
 * defines the table below (docs/abi.md, section 4).
 *
 *   service [--port N] [--bind ADDR] [--ready-fd FD] [--parent-pid PID]
 *
 * Signals: SIGTERM or SIGINT start a drain (readyz and new calls answer
 * 503, running calls finish, bounded by TURBOLIFT_DRAIN_TIMEOUT), then the
 * process exits 0. A second signal during the drain exits at once.
 *
 * Exit status: 0 after a drain, 1 on a usage or startup error, 2 when the
 * service table itself is bad (a signature the runtime cannot parse).
 */
#define _GNU_SOURCE     /* prctl, dprintf, sigtimedwait */

#include "tl_clock.h"
#include "tl_log.h"
#include "tl_service.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

extern const struct tl_service_entry tl_service_entries[];
extern const unsigned tl_service_entry_count;

/* How often main() looks at its parent when --parent-pid is given. */
#define TL_PARENT_POLL_MS 500

struct tl_main_args {
    struct tl_service_options options;
    int ready_fd;               /* -1: none */
    long parent_pid;            /* 0: none  */
};

static void tl_usage(FILE *out, const char *argv0)
{
    fprintf(out,
            "usage: %s [--port N] [--bind ADDR] [--ready-fd FD] [--parent-pid PID]\n"
            "  --port N          TCP port, 0 for any free one (TURBOLIFT_PORT, 8080)\n"
            "  --bind ADDR       numeric address to listen on (TURBOLIFT_BIND, 127.0.0.1)\n"
            "  --ready-fd FD     once listening, write the port and a newline to FD\n"
            "  --parent-pid PID  exit when process PID is gone\n"
            "environment: TURBOLIFT_TOKEN, TURBOLIFT_MAX_REQUEST, TURBOLIFT_MAX_ALLOC,\n"
            "  TURBOLIFT_MAX_MEMORY, TURBOLIFT_DRAIN_TIMEOUT, TURBOLIFT_MAX_CONNECTIONS,\n"
            "  TURBOLIFT_LOG\n",
            argv0);
}

static int tl_parse_long(const char *text, long min, long max, long *out)
{
    char *end;
    long value;

    errno = 0;
    value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min || value > max)
        return -1;
    *out = value;
    return 0;
}

/* Accept "--name value" and "--name=value". */
static const char *tl_option_value(int argc, char **argv, int *i, const char *name)
{
    size_t len = strlen(name);

    if (strncmp(argv[*i], name, len) != 0)
        return NULL;
    if (argv[*i][len] == '=')
        return argv[*i] + len + 1;
    if (argv[*i][len] == '\0' && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

static int tl_parse_args(int argc, char **argv, struct tl_main_args *args)
{
    char err[256];
    long number;

    if (tl_service_options_from_env(&args->options, err, sizeof err) < 0) {
        tl_log_error("%s", err);
        return -1;
    }
    args->ready_fd = -1;
    args->parent_pid = 0;
    for (int i = 1; i < argc; i++) {
        const char *option = argv[i];
        const char *value;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            tl_usage(stdout, argv[0]);
            exit(0);
        } else if ((value = tl_option_value(argc, argv, &i, "--port")) != NULL) {
            if (tl_parse_long(value, 0, 65535, &number) < 0)
                goto bad_value;
            args->options.port = (unsigned)number;
        } else if ((value = tl_option_value(argc, argv, &i, "--bind")) != NULL) {
            args->options.bind_address = value;
        } else if ((value = tl_option_value(argc, argv, &i, "--ready-fd")) != NULL) {
            if (tl_parse_long(value, 0, 1 << 20, &number) < 0)
                goto bad_value;
            args->ready_fd = (int)number;
        } else if ((value = tl_option_value(argc, argv, &i, "--parent-pid")) != NULL) {
            if (tl_parse_long(value, 1, 1L << 30, &number) < 0)
                goto bad_value;
            args->parent_pid = number;
        } else {
            tl_log_error("unknown or incomplete option \"%s\"", argv[i]);
            tl_usage(stderr, argv[0]);
            return -1;
        }
        continue;
bad_value:
        tl_log_error("bad value \"%s\" for %s", value, option);
        return -1;
    }
    return 0;
}

/* Tell whoever started us which port we got, then let go of the fd. */
static int tl_report_ready(int fd, unsigned port)
{
    char line[16];
    int len = snprintf(line, sizeof line, "%u\n", port);
    ssize_t written;

    do {
        written = write(fd, line, (size_t)len);
    } while (written < 0 && errno == EINTR);
    close(fd);
    if (written != len) {
        tl_log_error("cannot write the port to --ready-fd %d: %s", fd,
                     written < 0 ? strerror(errno) : "short write");
        return -1;
    }
    return 0;
}

/* Wait for SIGTERM/SIGINT, or for the parent to vanish. */
static void tl_wait_for_stop(const sigset_t *stop_signals, long parent_pid)
{
    const struct timespec poll = { TL_PARENT_POLL_MS / 1000,
                                   (TL_PARENT_POLL_MS % 1000) * 1000000L };
    siginfo_t info;

    for (;;) {
        int sig = sigtimedwait(stop_signals, &info, &poll);
        if (sig > 0) {
            tl_log_info("signal %d: draining", sig);
            return;
        }
        /* PR_SET_PDEATHSIG fires when the thread that forked us exits, and
         * not at all if the parent died before prctl(); the reparenting
         * check catches what it misses. */
        if (parent_pid != 0 && getppid() != (pid_t)parent_pid) {
            tl_log_info("parent %ld is gone: draining", parent_pid);
            return;
        }
    }
}

/* Let running calls finish; a second signal cuts the wait short. */
static int tl_drain(struct tl_service *service, const sigset_t *stop_signals,
                    unsigned timeout_ms)
{
    const struct timespec slice = { 0, 20 * 1000 * 1000 };
    long deadline = tl_now_ms() + (long)timeout_ms;
    siginfo_t info;

    tl_service_begin_drain(service);
    while (tl_service_in_flight(service) > 0) {
        if (tl_now_ms() >= deadline) {
            tl_log_warn("%u call(s) still running after %u ms; exiting anyway",
                        tl_service_in_flight(service), timeout_ms);
            return -1;
        }
        if (sigtimedwait(stop_signals, &info, &slice) > 0) {
            tl_log_warn("second signal: exiting with %u call(s) running",
                        tl_service_in_flight(service));
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct tl_main_args args;
    struct tl_service *service;
    sigset_t stop_signals;
    char err[512];

    if (tl_parse_args(argc, argv, &args) < 0)
        return 1;

    if (args.parent_pid != 0) {
        /* SIGKILL, not SIGTERM: a stopped worker (SIGSTOP, a debugger that
         * let go of it) keeps SIGTERM pending until someone continues it,
         * and would outlive its parent; SIGKILL ends it stopped or not.
         * With the parent gone there is nobody to drain for. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
            tl_log_warn("prctl(PR_SET_PDEATHSIG): %s", strerror(errno));
        /* The parent may have died before prctl() took effect. */
        if (getppid() != (pid_t)args.parent_pid) {
            tl_log_info("parent %ld is already gone; not starting", args.parent_pid);
            return 1;
        }
    }

    if (tl_service_check_entries(tl_service_entries, tl_service_entry_count,
                                 err, sizeof err) < 0) {
        tl_log_error("this service binary is broken: %s", err);
        return 2;
    }

    /* Block the stop signals before any thread exists, so that every MHD
     * thread inherits the mask and only sigtimedwait() below sees them. */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    if (pthread_sigmask(SIG_BLOCK, &stop_signals, NULL) != 0) {
        tl_log_error("cannot block SIGTERM");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);

    if (tl_service_start(tl_service_entries, tl_service_entry_count, &args.options,
                         &service, err, sizeof err) < 0) {
        tl_log_error("%s", err);
        return 1;
    }
    if (args.ready_fd >= 0 && tl_report_ready(args.ready_fd, tl_service_port(service)) < 0) {
        tl_service_stop(service);
        return 1;
    }

    tl_wait_for_stop(&stop_signals, args.parent_pid);
    if (tl_drain(service, &stop_signals, args.options.drain_timeout_ms) < 0) {
        /* Calls still run on MHD's threads: stopping the daemon would wait
         * for them, so leave without running any more of this process. */
        fflush(NULL);
        _exit(0);
    }
    tl_service_stop(service);
    tl_log_info("drained; exiting");
    return 0;
}
