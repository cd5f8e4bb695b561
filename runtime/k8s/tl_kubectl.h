/* SPDX-License-Identifier: MIT */
/*
 * tl_kubectl.h - how every kubectl we run begins, so that the k8s target
 * and the `turbolift` command talk to the same cluster with the same tool.
 */
#ifndef TL_KUBECTL_H
#define TL_KUBECTL_H

#include <stddef.h>

#define TL_KUBECTL_PREFIX_MAX 3

/*
 * Write "kubectl [--context C]" into argv[0..n) and return n: the binary is
 * $TURBOLIFT_KUBECTL or kubectl from PATH, the context $TURBOLIFT_KUBE_CONTEXT
 * (none: kubectl's current context). argv must hold TL_KUBECTL_PREFIX_MAX.
 */
size_t tl_kubectl_argv(const char **argv);

#endif /* TL_KUBECTL_H */
