/* SPDX-License-Identifier: MIT */
/*
 * tl_proc.h - run a tool (kubectl, docker, ldd) as a child process.
 *
 * The Kubernetes target drives kubectl and the container tool; a shell
 * never sees our arguments (no string is ever parsed as a command line),
 * manifests go in on stdin, and every run has a deadline.
 */
#ifndef TL_PROC_H
#define TL_PROC_H

#include <spawn.h>
#include <stddef.h>

struct tl_proc_out {
    char *out;              /* the child's stdout, NUL-terminated (malloc'd) */
    size_t outlen;
    char err[2048];         /* the tail of its stderr, or why it did not run  */
    int status;             /* exit status, or -1 when killed or not started  */
};

/*
 * Run argv[0] (searched in PATH) with argv, writing input[0..inlen) to its
 * stdin (none when input is NULL: stdin is /dev/null), collecting stdout
 * in r->out and stderr in r->err. The child is killed when timeout_ms
 * passes. Returns 0 when it exited with status 0, -1 otherwise (r->err
 * says why). Free r->out with tl_proc_out_free.
 */
int tl_proc_run(char *const argv[], const char *input, size_t inlen,
                long timeout_ms, struct tl_proc_out *r);
void tl_proc_out_free(struct tl_proc_out *r);

/* Spawn attributes for a child: no signal blocked, the ones that stop a
 * process at their defaults, whatever the spawning thread changed. */
void tl_proc_child_signals(posix_spawnattr_t *attr);

/* Like tl_proc_run with no input, but stderr goes into r->out too,
 * interleaved with stdout as written (a compiler's diagnostics, whose first
 * lines matter most); r->err then only says how the child ended. */
int tl_proc_run_merged(char *const argv[], long timeout_ms, struct tl_proc_out *r);

/* Like tl_proc_run, but stdout and stderr stay ours (kubectl logs). */
int tl_proc_run_inherit(char *const argv[], long timeout_ms, int *status);

/* "argv[0] argv[1] ..." for messages, truncated to len. */
void tl_proc_describe(char *const argv[], char *buf, size_t len);

#endif /* TL_PROC_H */
