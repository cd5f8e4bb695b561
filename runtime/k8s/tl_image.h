/* SPDX-License-Identifier: MIT */
/*
 * tl_image.h - a service binary as a container image, in a registry.
 *
 * The image is FROM scratch (or the configured image_base) plus the
 * binary at /service and exactly the shared libraries and the dynamic
 * loader that ldd names for it, at the same paths. Its tag is a hash of
 * all those bytes, so the same service is built and pushed once: before
 * building we ask the registry for the tag. By default the image is written
 * and pushed by the runtime itself (tl_oci.c): no container tool, no
 * daemon; TURBOLIFT_CONTAINER_TOOL (or an image_base other than scratch)
 * builds and pushes it with docker, podman or buildah instead.
 */
#ifndef TL_IMAGE_H
#define TL_IMAGE_H

#include <stddef.h>

struct tl_image_opts {
    const char *registry;       /* push here, e.g. 127.0.0.1:5000             */
    const char *pull_registry;  /* the nodes pull from here (same by default) */
    const char *repository;     /* e.g. turbolift/price                      */
    const char *base;           /* FROM; "scratch" by default                 */
    const char *tool;           /* docker, podman or buildah; NULL: the direct
                                   push (TURBOLIFT_CONTAINER_TOOL names one) */
    long timeout_ms;            /* for each of: ldd, build, push              */
    int progress;               /* say what happens on stderr                 */
};

struct tl_image {
    char tag[17];               /* 16 hex digits                              */
    char *ref;                  /* pull reference: pull_registry/repo:tag     */
    int cached;                 /* already in the registry: nothing built     */
    unsigned long long bytes;   /* what the image holds (binary + libraries)  */
};

/* Make sure the image of binary is in the registry. 0, or -1 with err set. */
int tl_image_ensure(const char *binary, const struct tl_image_opts *o,
                    struct tl_image *img, char *err, size_t errlen);
void tl_image_clear(struct tl_image *img);

/* The container tool: $TURBOLIFT_CONTAINER_TOOL, else the first of docker,
 * podman, buildah found in PATH; NULL when none (turbolift gc asks it for
 * local images; an image_base other than scratch is built with it). */
const char *tl_image_tool(void);

#endif /* TL_IMAGE_H */
