/* SPDX-License-Identifier: MIT */
/*
 * tl_kubectl.c - run kubectl: its command line, its namespace, its output.
 */
#define _GNU_SOURCE   /* asprintf, mkostemp */
#include "tl_kubectl.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tl_clock.h"
#include "tl_env.h"

extern char **environ;

size_t tl_kubectl_argv(const char **argv)
{
    const char *ctx = tl_env("TURBOLIFT_KUBE_CONTEXT", NULL);
    size_t n = 0;

    argv[n++] = tl_env("TURBOLIFT_KUBECTL", "kubectl");
    if (ctx != NULL) {
        argv[n++] = "--context";
        argv[n++] = ctx;
    }
    return n;
}

/* The whole command line in argv (TL_KUBECTL_MAX_ARGS + the prefix + 3);
 * -1 when args are too many. */
static int command(const char *ns, const char *const *args, const char **argv)
{
    size_t n = tl_kubectl_argv(argv);

    for (size_t i = 0; args[i] != NULL; i++) {
        if (i == TL_KUBECTL_MAX_ARGS)
            return -1;
        argv[n++] = args[i];
    }
    if (ns != NULL && strcmp(ns, TL_KUBECTL_ALL_NAMESPACES) == 0) {
        argv[n++] = "--all-namespaces";
    } else if (ns != NULL) {
        argv[n++] = "-n";
        argv[n++] = ns;
    }
    argv[n] = NULL;
    return 0;
}

int tl_kubectl_run(const char *ns, const char *input, long timeout_ms,
                   const char *const *args, struct tl_proc_out *r)
{
    const char *argv[TL_KUBECTL_PREFIX_MAX + TL_KUBECTL_MAX_ARGS + 3];

    if (command(ns, args, argv) != 0) {
        memset(r, 0, sizeof *r);
        r->status = -1;
        snprintf(r->err, sizeof r->err, "more than %d kubectl arguments", TL_KUBECTL_MAX_ARGS);
        return -1;
    }
    return tl_proc_run((char *const *)argv, input, input ? strlen(input) : 0, timeout_ms, r);
}

int tl_kubectl(const char *ns, const char *input, long timeout_ms,
               struct tl_proc_out *r, ...)
{
    const char *args[TL_KUBECTL_MAX_ARGS + 2];
    size_t n = 0;
    va_list ap;

    va_start(ap, r);
    for (const char *a = va_arg(ap, const char *); a != NULL; a = va_arg(ap, const char *))
        if (n <= TL_KUBECTL_MAX_ARGS)       /* one too many: tl_kubectl_run says so */
            args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    return tl_kubectl_run(ns, input, timeout_ms, args, r);
}

int tl_kubectl_inherit(const char *ns, long timeout_ms, const char *const *args,
                       int *status)
{
    const char *argv[TL_KUBECTL_PREFIX_MAX + TL_KUBECTL_MAX_ARGS + 3];

    *status = -1;
    if (command(ns, args, argv) != 0)
        return -1;
    return tl_proc_run_inherit((char *const *)argv, timeout_ms, status);
}

int tl_kubectl_get(const char *ns, const char *object, const char *jsonpath,
                   char *out, size_t outlen, long timeout_ms, char *err, size_t errlen)
{
    struct tl_proc_out r;
    char *jp = NULL;
    int rc = -1;

    if (asprintf(&jp, "jsonpath=%s", jsonpath) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (tl_kubectl(ns, NULL, timeout_ms, &r, "get", object, "--ignore-not-found",
                   "-o", jp, (char *)NULL) != 0) {
        snprintf(err, errlen, "kubectl get %s: %s", object, r.err);
        goto cleanup;
    }
    snprintf(out, outlen, "%s", r.out);
    rc = 0;
cleanup:
    tl_proc_out_free(&r);
    free(jp);
    return rc;
}

int tl_kubectl_port_forward(const char *ns, const char *target, int remote,
                            long deadline, struct tl_kubectl_pf *pf, int *local_port,
                            char *err, size_t errlen)
{
    char tmpl[] = "/tmp/turbolift-pf-XXXXXX", port[16];
    const char *args[] = { "port-forward", "--address", "127.0.0.1", target, port, NULL };
    const char *argv[TL_KUBECTL_PREFIX_MAX + TL_KUBECTL_MAX_ARGS + 3];
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int fd;

    pf->pid = 0;
    pf->out = -1;
    snprintf(port, sizeof port, ":%d", remote);
    command(ns, args, argv);
    fd = mkostemp(tmpl, O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", tmpl, strerror(errno));
        return -1;
    }
    unlink(tmpl);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, 1);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawnattr_init(&attr);
    tl_proc_child_signals(&attr);
    errno = posix_spawnp(&pf->pid, argv[0], &fa, &attr, (char *const *)argv, environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    if (errno != 0) {
        snprintf(err, errlen, "cannot run %s port-forward: %s", argv[0], strerror(errno));
        pf->pid = 0;
        close(fd);
        return -1;
    }
    pf->out = fd;
    for (;;) {               /* bounded by the deadline */
        char buf[512];
        ssize_t got = pread(fd, buf, sizeof buf - 1, 0);
        const char *p;

        if (got > 0) {
            buf[got] = '\0';
            p = strstr(buf, "Forwarding from 127.0.0.1:");
            if (p != NULL && strchr(p, '\n') != NULL) {
                *local_port = atoi(p + 26);
                return 0;
            }
        }
        if (tl_kubectl_pf_exited(pf)) {
            snprintf(err, errlen, "kubectl port-forward %s exited", target);
            tl_kubectl_pf_stop(pf);
            return -1;
        }
        if (tl_now_ms() > deadline) {
            snprintf(err, errlen, "kubectl port-forward %s did not report a port in time",
                     target);
            tl_kubectl_pf_stop(pf);
            return -1;
        }
        tl_wait_ms(50);
    }
}

int tl_kubectl_pf_exited(struct tl_kubectl_pf *pf)
{
    int status;

    if (pf->pid > 0 && waitpid(pf->pid, &status, WNOHANG) == pf->pid) {
        pf->pid = 0;
        return 1;
    }
    return pf->pid <= 0;
}

void tl_kubectl_pf_stop(struct tl_kubectl_pf *pf)
{
    int status;

    if (pf->pid > 0) {
        kill(pf->pid, SIGTERM);
        while (waitpid(pf->pid, &status, 0) < 0 && errno == EINTR)
            ;
        pf->pid = 0;
    }
    if (pf->out >= 0)
        close(pf->out);
    pf->out = -1;
}

static int b64_value(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int tl_kubectl_b64_decode(const char *in, char *out, size_t outlen)
{
    unsigned acc = 0, bits = 0;
    size_t n = 0;

    for (const char *p = in; *p && *p != '='; p++) {
        int v = b64_value((unsigned char)*p);

        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n + 1 >= outlen)
                return -1;
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[n] = '\0';
    return 0;
}
