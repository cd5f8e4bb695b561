/* SPDX-License-Identifier: MIT */
/*
 * tl_kubectl.c - the start of a kubectl command line.
 */
#include "tl_kubectl.h"

#include <stdlib.h>

size_t tl_kubectl_argv(const char **argv)
{
    const char *bin = getenv("TURBOLIFT_KUBECTL"), *ctx = getenv("TURBOLIFT_KUBE_CONTEXT");
    size_t n = 0;

    argv[n++] = bin != NULL && *bin != '\0' ? bin : "kubectl";
    if (ctx != NULL && *ctx != '\0') {
        argv[n++] = "--context";
        argv[n++] = ctx;
    }
    return n;
}
