/* SPDX-License-Identifier: MIT */
/*
 * tl_image.c - build and push a FROM-scratch image of a service binary.
 *
 * The service binary is dynamic (libmicrohttpd, msgpack-c, libc, ...). A
 * fully static glibc binary is fragile (NSS, dlopen), so the image holds
 * the binary plus the files ldd resolves for it, copied (symlinks
 * followed) to the very paths ldd printed, plus the loader at its
 * PT_INTERP path. The loader then finds everything where it looks on the
 * build machine, and nothing else is in the image.
 *
 * Steps, each bounded by a deadline:
 *   ldd -> hash of all bytes = tag -> registry HEAD (hit: done) ->
 *   direct (the default): strip a copy of the binary -> tl_oci_push: two
 *     layers (the libraries and loader; the binary) written in memory and
 *     pushed over the registry API, no container tool, no daemon
 *   with a container tool (TURBOLIFT_CONTAINER_TOOL, or an image_base
 *     other than scratch, whose layers only a tool pulls):
 *     context dir (rootfs/ + Dockerfile) -> <tool> build -> <tool> push.
 * Both give the same files, user, environment and entrypoint.
 */
#define _GNU_SOURCE   /* asprintf, nftw */
#include "tl_files.h"
#include "tl_image.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tl_build.h"
#include "tl_config.h"
#include "tl_env.h"
#include "tl_log.h"
#include "tl_oci.h"
#include "tl_proc.h"
#include "tl_protocol.h"
#include "tl_registry.h"

#define TL_IMAGE_MAX_FILES 64

/* What every image holds besides its files, whichever way it is made. */
#define TL_IMAGE_ENTRYPOINT "/service"
#define TL_IMAGE_USER "65532:65532"          /* not root: the pods run as 65532 */
#define TL_IMAGE_LABEL_KEY "app.kubernetes.io/managed-by"
#define TL_IMAGE_LABEL_VALUE "turbolift"     /* what `turbolift gc` looks for  */
#define TL_STR_(x) #x
#define TL_STR(x) TL_STR_(x)
static const char *const tl_image_env[] = {
    "TURBOLIFT_BIND=0.0.0.0", "TURBOLIFT_PORT=" TL_STR(TL_PROTO_PORT), NULL
};

struct files {
    char *path[TL_IMAGE_MAX_FILES];   /* absolute, as ldd printed them */
    size_t n;
};

static void files_free(struct files *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->path[i]);
    f->n = 0;
}

static int find_in_path(const char *name)
{
    const char *path = getenv("PATH");
    char buf[4096];

    if (path == NULL)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {                      /* one PATH entry per round */
        const char *colon = strchr(path, ':');
        size_t len = colon ? (size_t)(colon - path) : strlen(path);

        if (len > 0 && (size_t)snprintf(buf, sizeof buf, "%.*s/%s", (int)len, path, name) < sizeof buf &&
            access(buf, X_OK) == 0)
            return 1;
        path += len;
        if (*path == ':')
            path++;
    }
    return 0;
}

const char *tl_image_tool(void)
{
    static const char *const tools[] = { "docker", "podman", "buildah" };
    const char *env = tl_env("TURBOLIFT_CONTAINER_TOOL", NULL);

    if (env != NULL)
        return env;
    for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++)
        if (find_in_path(tools[i]))
            return tools[i];
    return NULL;
}

/* The files the loader maps for binary, by ldd (which asks the loader). */
static int ldd_files(const char *binary, long timeout_ms, struct files *f,
                     char *err, size_t errlen)
{
    char *argv[] = { "ldd", (char *)binary, NULL };
    struct tl_proc_out r;
    char *line, *save = NULL;
    int rc = -1;

    if (tl_proc_run(argv, NULL, 0, timeout_ms, &r) != 0) {
        snprintf(err, errlen, "ldd %s: %s", binary, r.err);
        goto cleanup;
    }
    /* "\tlibx.so.1 => /lib/.../libx.so.1 (0x...)", "\t/lib64/ld-linux... (0x...)",
     * "\tlinux-vdso.so.1 (0x...)" (no file), "\tlibx.so.1 => not found". */
    for (line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *arrow = strstr(line, "=> "), *p, *end;

        if (strstr(line, "not found") != NULL) {
            snprintf(err, errlen, "ldd %s: a library is missing:%s", binary, line);
            goto cleanup;
        }
        p = arrow ? arrow + 3 : line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != '/')
            continue;                    /* the vDSO: no file */
        end = strchr(p, ' ');
        if (end != NULL)
            *end = '\0';
        if (f->n == TL_IMAGE_MAX_FILES) {
            snprintf(err, errlen, "%s needs more than %d libraries", binary,
                     TL_IMAGE_MAX_FILES);
            goto cleanup;
        }
        if ((f->path[f->n] = strdup(p)) == NULL) {
            snprintf(err, errlen, "out of memory");
            goto cleanup;
        }
        f->n++;
    }
    if (f->n == 0) {
        snprintf(err, errlen, "ldd %s named no library (a static binary is not "
                 "what the runtime links)", binary);
        goto cleanup;
    }
    rc = 0;
cleanup:
    tl_proc_out_free(&r);
    return rc;
}

static int copy_file(const char *src, const char *dst, char *err, size_t errlen)
{
    char buf[65536], *d = strdup(dst);
    int in = -1, out = -1, rc = -1;
    ssize_t n;

    if (d == NULL || tl_mkdirs(d, 0) != 0) {
        snprintf(err, errlen, "cannot create the folder of %s: %s", dst, strerror(errno));
        goto cleanup;
    }
    in = open(src, O_RDONLY | O_CLOEXEC);
    out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    if (in < 0 || out < 0) {
        snprintf(err, errlen, "copy %s to %s: %s", src, dst, strerror(errno));
        goto cleanup;
    }
    while ((n = read(in, buf, sizeof buf)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || write(out, buf, (size_t)n) != n) {
            snprintf(err, errlen, "copy %s to %s: %s", src, dst, strerror(errno));
            goto cleanup;
        }
    }
    rc = 0;
cleanup:
    if (in >= 0)
        close(in);
    if (out >= 0 && close(out) != 0 && rc == 0) {
        snprintf(err, errlen, "write %s: %s", dst, strerror(errno));
        rc = -1;
    }
    free(d);
    return rc;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_tree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The binary without its debug information (about 140 KB of the runtime's
 * service library the image has no use for), at out. Optional: when strip
 * fails, the image holds the binary as it is. */
static int strip_copy(const char *binary, const char *out)
{
    char *argv[] = { "strip", "--strip-debug", "-o", (char *)out, (char *)binary, NULL };
    struct tl_proc_out r;
    int rc = tl_proc_run(argv, NULL, 0, 30000, &r);

    if (rc != 0)
        tl_log_debug("strip %s: %s (the image keeps the debug information)", binary, r.err);
    tl_proc_out_free(&r);
    return rc;
}

/* rootfs/ + Dockerfile in dir. */
static int make_context(const char *dir, const char *binary, const struct files *f,
                        const char *base, char *err, size_t errlen)
{
    char *path = NULL;
    FILE *df = NULL;
    int rc = -1;

    if (asprintf(&path, "%s/rootfs/service", dir) < 0) {
        path = NULL;              /* undefined after a failure */
        goto cleanup;
    }
    if (tl_mkdirs(path, 0) != 0) {
        snprintf(err, errlen, "cannot create the folder of %s: %s", path, strerror(errno));
        goto cleanup;
    }
    if (strip_copy(binary, path) != 0 && copy_file(binary, path, err, errlen) != 0)
        goto cleanup;
    for (size_t i = 0; i < f->n; i++) {
        free(path);
        if (asprintf(&path, "%s/rootfs%s", dir, f->path[i]) < 0) {
            path = NULL;
            goto cleanup;
        }
        if (copy_file(f->path[i], path, err, errlen) != 0)
            goto cleanup;
    }
    free(path);
    if (asprintf(&path, "%s/Dockerfile", dir) < 0) {
        path = NULL;
        goto cleanup;
    }
    df = fopen(path, "w");
    if (df == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto cleanup;
    }
    /* Not YAML: a Dockerfile, in the container tool's own syntax. */
    fprintf(df, "FROM %s\n"
            "COPY rootfs/ /\n"
            "LABEL %s=%s\n"
            "ENV %s %s\n"
            "USER %s\n"
            "EXPOSE %d\n"
            "ENTRYPOINT [\"%s\"]\n", base, TL_IMAGE_LABEL_KEY, TL_IMAGE_LABEL_VALUE,
            tl_image_env[0], tl_image_env[1], TL_IMAGE_USER, TL_PROTO_PORT,
            TL_IMAGE_ENTRYPOINT);
    if (fclose(df) != 0) {
        df = NULL;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto cleanup;
    }
    df = NULL;
    rc = 0;
cleanup:
    if (rc != 0 && err[0] == '\0')
        snprintf(err, errlen, "out of memory");
    if (df != NULL)
        fclose(df);
    free(path);
    return rc;
}

/*
 * The direct push: the libraries (and loader) as one layer, which every
 * service linked the same way shares, so a new build of a function sends
 * only its binary's layer; the binary as the other.
 */
static int push_direct(const char *binary, const struct files *f,
                       const struct tl_image_opts *o, const char *tag,
                       struct tl_image *img, char *err, size_t errlen)
{
    struct tl_oci_file libs[TL_IMAGE_MAX_FILES], service;
    struct tl_oci_layer layers[2];
    struct tl_oci_config cfg = {
        .entrypoint = TL_IMAGE_ENTRYPOINT,
        .env = tl_image_env,
        .user = TL_IMAGE_USER,
        .port = TL_PROTO_PORT,
        .label_key = TL_IMAGE_LABEL_KEY,
        .label_value = TL_IMAGE_LABEL_VALUE,
    };
    struct tl_oci_stats st;
    char host[256], prefix[256], repo[512], *root = NULL, *stripped = NULL;
    char *layer_cache = NULL;
    struct stat sb;
    int rc = -1;

    root = tl_cache_dir("image", err, errlen);
    if (root == NULL)
        goto cleanup;
    if (asprintf(&stripped, "%s/%s.%ld.service", root, tag, (long)getpid()) < 0) {
        stripped = NULL;          /* undefined after a failure */
        snprintf(err, errlen, "out of memory");
        goto cleanup;
    }
    service.dst = TL_IMAGE_ENTRYPOINT;
    service.src = strip_copy(binary, stripped) == 0 ? stripped : binary;
    for (size_t i = 0; i < f->n; i++) {
        libs[i].src = f->path[i];
        libs[i].dst = f->path[i];
    }
    if (asprintf(&layer_cache, "%s/layers", root) < 0) {
        layer_cache = NULL;
        snprintf(err, errlen, "out of memory");
        goto cleanup;
    }
    /* The libraries' layer is the same for every service linked the same
     * way: kept in the cache, it is compressed once per machine. */
    layers[0] = (struct tl_oci_layer){ libs, f->n, "turbolift: shared libraries (ldd)",
                                       layer_cache };
    layers[1] = (struct tl_oci_layer){ &service, 1, "turbolift: service binary", NULL };
    {
        /* Say what the image holds: the binary as stripped. */
        struct stat before;

        if (service.src == stripped && stat(binary, &before) == 0 && stat(stripped, &sb) == 0)
            img->bytes = img->bytes - (unsigned long long)before.st_size +
                         (unsigned long long)sb.st_size;
    }
    tl_registry_split(o->registry, host, sizeof host, prefix, sizeof prefix);
    snprintf(repo, sizeof repo, "%s%s", prefix, o->repository);
    tl_log_progress(o->progress, "writing image %s/%s:%s (%.1f MB, %zu files; no container "
                    "tool needed)", o->registry, o->repository, tag,
                    (double)img->bytes / 1e6, f->n + 1);
    if (tl_oci_push(host, repo, tag, layers, 2, &cfg, o->timeout_ms, &st, err, errlen) != 0)
        goto cleanup;
    tl_log_progress(o->progress, "pushed %s/%s:%s: %.1f MB compressed, %u blob%s sent, %u "
                    "there already, %u layer%s from the cache (pack %.2f s, push %.2f s)",
                    o->registry, o->repository, tag, (double)st.gz_bytes / 1e6,
                    st.blobs_sent, st.blobs_sent == 1 ? "" : "s", st.blobs_skipped,
                    st.layers_cached, st.layers_cached == 1 ? "" : "s",
                    (double)st.pack_ms / 1000, (double)st.push_ms / 1000);
    rc = 0;
cleanup:
    if (stripped != NULL)
        unlink(stripped);
    free(stripped);
    free(layer_cache);
    free(root);
    return rc;
}

static int tool_run(char **argv, long timeout_ms, const char *what, char *err, size_t errlen)
{
    struct tl_proc_out r;
    char cmd[512];
    int rc = tl_proc_run(argv, NULL, 0, timeout_ms, &r);

    if (rc != 0) {
        tl_proc_describe(argv, cmd, sizeof cmd);
        snprintf(err, errlen, "%s failed: %s\n  command: %s", what, r.err, cmd);
    }
    tl_proc_out_free(&r);
    return rc;
}

void tl_image_clear(struct tl_image *img)
{
    free(img->ref);
    memset(img, 0, sizeof *img);
}

int tl_image_ensure(const char *binary, const struct tl_image_opts *o,
                    struct tl_image *img, char *err, size_t errlen)
{
    struct files f = { .n = 0 };
    const char *tool;
    const char *base = o->base && *o->base ? o->base : "scratch";
    char *push_ref = NULL, *root = NULL, *dir = NULL;
    uint64_t h = TL_FNV_OFFSET;
    char why[512] = "";
    int rc = -1, has;

    memset(img, 0, sizeof *img);
    err[0] = '\0';
    if (ldd_files(binary, o->timeout_ms, &f, err, errlen) != 0)
        goto cleanup;
    /* The tag covers every byte and path that goes into the image. */
    h = tl_fnv1a(h, base, strlen(base) + 1);
    if (tl_hash_file(&h, binary, &img->bytes, err, errlen) != 0)
        goto cleanup;
    for (size_t i = 0; i < f.n; i++) {
        h = tl_fnv1a(h, f.path[i], strlen(f.path[i]) + 1);
        if (tl_hash_file(&h, f.path[i], &img->bytes, err, errlen) != 0)
            goto cleanup;
    }
    snprintf(img->tag, sizeof img->tag, "%016llx", (unsigned long long)h);
    if (asprintf(&push_ref, "%s/%s:%s", o->registry, o->repository, img->tag) < 0) {
        push_ref = NULL;          /* undefined after a failure */
        goto oom;
    }
    if (asprintf(&img->ref, "%s/%s:%s", o->pull_registry ? o->pull_registry : o->registry,
                 o->repository, img->tag) < 0) {
        img->ref = NULL;
        goto oom;
    }

    {
        char host[256], prefix[256], repo[512];

        tl_registry_split(o->registry, host, sizeof host, prefix, sizeof prefix);
        snprintf(repo, sizeof repo, "%s%s", prefix, o->repository);
        has = tl_registry_has(host, repo, img->tag, o->timeout_ms, why, sizeof why);
    }
    if (has == 1) {
        img->cached = 1;
        tl_log_debug("image %s is in the registry already", push_ref);
        rc = 0;
        goto cleanup;
    }
    if (has < 0)
        tl_log_debug("cannot ask the registry for %s (%s): building and pushing",
                     push_ref, why);
    /* Direct unless a tool is asked for, or the base is an image whose
     * layers only a container tool would pull. */
    tool = o->tool ? o->tool : tl_env("TURBOLIFT_CONTAINER_TOOL", NULL);
    if (tool == NULL && strcmp(base, "scratch") == 0) {
        if (push_direct(binary, &f, o, img->tag, img, err, errlen) != 0)
            goto cleanup;
        rc = 0;
        goto cleanup;
    }
    if (tool == NULL)
        tool = tl_image_tool();
    if (tool == NULL) {
        snprintf(err, errlen, "image_base %s needs a container tool to pull it: install "
                 "docker, podman or buildah, or set TURBOLIFT_CONTAINER_TOOL (an image "
                 "FROM scratch needs none)", base);
        goto cleanup;
    }
    if (strchr(tool, '/') ? access(tool, X_OK) != 0 : !find_in_path(tool)) {
        snprintf(err, errlen, "container tool %s is not an executable (in PATH)", tool);
        goto cleanup;
    }

    root = tl_cache_dir("image", err, errlen);
    if (root == NULL)
        goto cleanup;
    if (asprintf(&dir, "%s/%s.%ld", root, img->tag, (long)getpid()) < 0) {
        dir = NULL;
        goto oom;
    }
    rm_tree(dir);           /* a leftover of a process with our pid */
    if (make_context(dir, binary, &f, base, err, errlen) != 0)
        goto cleanup;
    {
        /* Say what the image holds: the binary as stripped. */
        struct stat before, after;
        char *copy = NULL;

        if (asprintf(&copy, "%s/rootfs/service", dir) < 0)
            copy = NULL;
        if (copy != NULL && stat(binary, &before) == 0 && stat(copy, &after) == 0)
            img->bytes = img->bytes - (unsigned long long)before.st_size +
                         (unsigned long long)after.st_size;
        free(copy);
    }
    tl_log_progress(o->progress, "building image %s (%.1f MB, %zu files)", push_ref,
                    (double)img->bytes / 1e6, f.n + 1);
    {
        char *build_docker[] = { (char *)tool, "build", "-q", "-t", push_ref, dir, NULL };
        char *build_bud[] = { (char *)tool, "bud", "-q", "-t", push_ref, dir, NULL };

        if (tool_run(strstr(tool, "buildah") ? build_bud : build_docker, o->timeout_ms,
                     "building the image", err, errlen) != 0)
            goto cleanup;
    }
    tl_log_progress(o->progress, "pushing %s", push_ref);
    {
        /* podman and buildah want to be told that a local registry is http. */
        char *push_plain[] = { (char *)tool, "push", "--tls-verify=false", push_ref, NULL };
        char *push[] = { (char *)tool, "push", push_ref, NULL };
        int tls_flag = strstr(tool, "docker") == NULL && tl_registry_plain_http(o->registry);

        if (tool_run(tls_flag ? push_plain : push, o->timeout_ms, "pushing the image",
                     err, errlen) != 0)
            goto cleanup;
    }
    rc = 0;
    goto cleanup;
oom:
    snprintf(err, errlen, "out of memory");
cleanup:
    if (dir != NULL)
        rm_tree(dir);
    files_free(&f);
    free(push_ref);
    free(root);
    free(dir);
    if (rc != 0)
        tl_image_clear(img);
    return rc;
}
