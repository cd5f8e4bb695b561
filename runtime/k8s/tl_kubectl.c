/* SPDX-License-Identifier: MIT */
/*
 * tl_kubectl.c - the start of a kubectl command line.
 */
#include "tl_kubectl.h"

#include "tl_config.h"
#include "tl_env.h"

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
