/* SPDX-License-Identifier: MIT */
/*
 * tl_kubectl.h - the one way the k8s target and the `turbolift` command run
 * kubectl, so that both talk to the same cluster with the same tool.
 *
 * kubectl is a child process (tl_proc.c, never a shell): $TURBOLIFT_KUBECTL
 * or kubectl from PATH, with --context $TURBOLIFT_KUBE_CONTEXT when set
 * (else kubectl's current context), honouring KUBECONFIG.
 */
#ifndef TL_KUBECTL_H
#define TL_KUBECTL_H

#include <stddef.h>
#include <sys/types.h>

#include "tl_proc.h"

#define TL_KUBECTL_PREFIX_MAX 3
#define TL_KUBECTL_MAX_ARGS 32
#define TL_KUBECTL_ALL_NAMESPACES "*"   /* ns: every namespace (-A) */

/*
 * Write "kubectl [--context C]" into argv[0..n) and return n (for a child
 * that is spawned otherwise, such as port-forward). argv must hold
 * TL_KUBECTL_PREFIX_MAX.
 */
size_t tl_kubectl_argv(const char **argv);

/*
 * kubectl [--context C] ARGS... [-n NS | --all-namespaces], with input on
 * stdin when not NULL. The namespace comes after the subcommand and its
 * arguments (kubectl reads a flag it does not know before the subcommand
 * as a plugin's name); NULL: none (--raw requests, cluster-wide objects).
 * args is NULL-terminated. 0 when kubectl exited 0; r is always filled:
 * free it.
 */
int tl_kubectl_run(const char *ns, const char *input, long timeout_ms,
                   const char *const *args, struct tl_proc_out *r);

/* The same with the arguments listed in the call, ending in NULL. */
int tl_kubectl(const char *ns, const char *input, long timeout_ms,
               struct tl_proc_out *r, ...);

/* The same with stdout and stderr left to the caller's (kubectl logs);
 * *status is kubectl's exit status. */
int tl_kubectl_inherit(const char *ns, long timeout_ms, const char *const *args,
                       int *status);

/*
 * `kubectl get OBJECT --ignore-not-found -o jsonpath=JSONPATH` in ns: the
 * text in out (empty when the object or the field is missing). 0, or -1
 * with err.
 */
int tl_kubectl_get(const char *ns, const char *object, const char *jsonpath,
                   char *out, size_t outlen, long timeout_ms, char *err, size_t errlen);

/* A Secret's .data value as kubectl prints it (standard base64), decoded
 * into out as a string. 0, or -1 when it is not base64 or does not fit. */
int tl_kubectl_b64_decode(const char *in, char *out, size_t outlen);

/* A running `kubectl port-forward`. */
struct tl_kubectl_pf {
    pid_t pid;                  /* 0 when none                                */
    int out;                    /* its stdout: an unlinked temp file, so that
                                   its per-connection lines never fill a pipe */
};

/*
 * Start `kubectl port-forward --address 127.0.0.1 TARGET :REMOTE` in ns
 * (TARGET: svc/NAME or pod/NAME) and wait, until deadline (tl_now_ms), for
 * it to name its local port: *local_port. 0, or -1 with err (pf is then
 * stopped). The child gets default signal handling whatever this thread
 * blocks, so tl_kubectl_pf_stop can always end it.
 */
int tl_kubectl_port_forward(const char *ns, const char *target, int remote,
                            long deadline, struct tl_kubectl_pf *pf, int *local_port,
                            char *err, size_t errlen);

/* 1 when the port-forward has exited (it is then reaped: pid 0), else 0. */
int tl_kubectl_pf_exited(struct tl_kubectl_pf *pf);

/* SIGTERM, reap, close. Safe on a stopped or never started one. */
void tl_kubectl_pf_stop(struct tl_kubectl_pf *pf);

#endif /* TL_KUBECTL_H */
