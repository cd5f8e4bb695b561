/* SPDX-License-Identifier: MIT */
/*
 * test_k8s_tools.c - what the k8s target builds on, without a cluster:
 * running a tool with input, output, status and a deadline (tl_proc.c),
 * the buffer that collects output (tl_buf.c), reading the registry's JSON
 * lists (tl_registry.c), the one kubectl command line (tl_kubectl.c), image
 * layers and digests (tl_oci.c) and reading holds (tl_lease.c).
 */
#define _GNU_SOURCE   /* strdup */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/tl_check.h"
#include "tl_clock.h"
#include "tl_buf.h"
#include "tl_kubectl.h"
#include "tl_lease.h"
#include "tl_oci.h"
#include "tl_proc.h"
#include "tl_registry.h"

#include <archive.h>
#include <archive_entry.h>
#include <time.h>
#include <unistd.h>

/* The buffer behind a tool's stdout, HTTP bodies and emitted YAML. */
static void test_buf(void)
{
    struct tl_buf b = { NULL, 0, 0 };
    char chunk[1000];

    memset(chunk, 'y', sizeof chunk);
    for (int i = 0; i < 100; i++)           /* grows past its first size */
        CHECK(tl_buf_append(&b, chunk, sizeof chunk, 100001) == 0);
    CHECK(b.len == 100000 && b.data[b.len] == '\0' && b.data[99999] == 'y');
    /* max counts the NUL: one more byte would reach it. */
    CHECK(tl_buf_append(&b, "z", 1, 100001) != 0 && b.len == 100000);
    CHECK(tl_buf_append(&b, "", 0, 100001) == 0);
    tl_buf_free(&b);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
    CHECK(tl_buf_append(&b, "ab", 2, 8) == 0 && strcmp(b.data, "ab") == 0);
    tl_buf_free(&b);
}

static void test_proc(void)
{
    struct tl_proc_out r;
    char *cat[] = { "cat", NULL };
    char *fail[] = { "sh", "-c", "echo oops >&2; exit 3", NULL };
    char *slow[] = { "sleep", "10", NULL };
    char *early[] = { "true", NULL };
    char *missing[] = { "/nonexistent/tool", NULL };
    char *both[] = { "sh", "-c", "echo one; echo two >&2; exit 3", NULL };
    char *big;
    size_t n = 1 << 20;
    long t0;

    /* Input through stdin, output back: a manifest going to kubectl. */
    CHECK(tl_proc_run(cat, "apiVersion: v1\n", 15, 5000, &r) == 0);
    CHECK(r.status == 0 && strcmp(r.out, "apiVersion: v1\n") == 0);
    tl_proc_out_free(&r);

    /* More input than a pipe holds, echoed back in full. */
    big = malloc(n + 1);
    REQUIRE(big != NULL);
    memset(big, 'x', n);
    big[n] = '\0';
    CHECK(tl_proc_run(cat, big, n, 10000, &r) == 0);
    CHECK(r.outlen == n && memcmp(r.out, big, n) == 0);
    tl_proc_out_free(&r);

    /* A child that reads none of its input: no SIGPIPE for us. */
    CHECK(tl_proc_run(early, big, n, 5000, &r) == 0);
    tl_proc_out_free(&r);
    free(big);

    /* Status and stderr of a failure. */
    CHECK(tl_proc_run(fail, NULL, 0, 5000, &r) != 0);
    CHECK_MSG(r.status == 3 && strcmp(r.err, "oops") == 0, "status %d err '%s'", r.status, r.err);
    tl_proc_out_free(&r);

    /* The deadline kills. */
    t0 = tl_now_ms();
    CHECK(tl_proc_run(slow, NULL, 0, 200, &r) != 0);
    CHECK_MSG(tl_now_ms() - t0 < 5000, "took %ld ms", tl_now_ms() - t0);
    CHECK(strstr(r.err, "timeout") != NULL);
    tl_proc_out_free(&r);

    CHECK(tl_proc_run(missing, NULL, 0, 1000, &r) != 0);
    CHECK(strstr(r.err, "/nonexistent/tool") != NULL);
    tl_proc_out_free(&r);

    /* stderr merged into stdout, in the order written: a compiler's output. */
    CHECK(tl_proc_run_merged(both, 5000, &r) != 0);
    CHECK_MSG(r.status == 3 && strcmp(r.out, "one\ntwo\n") == 0 &&
              strstr(r.err, "status 3") != NULL,
              "status %d out '%s' err '%s'", r.status, r.out, r.err);
    tl_proc_out_free(&r);
}

struct seen {
    char all[256];
    int n;
};

static void collect(const char *s, void *arg)
{
    struct seen *x = arg;

    strncat(x->all, s, sizeof x->all - strlen(x->all) - 2);
    strcat(x->all, ",");
    x->n++;
}

static void test_json(void)
{
    struct seen s = { "", 0 };

    CHECK(tl_json_strings("{\"repositories\":[\"turbolift/price\",\"turbolift/pause\"]}",
                          "repositories", collect, &s) == 2);
    CHECK_MSG(strcmp(s.all, "turbolift/price,turbolift/pause,") == 0, "%s", s.all);
    memset(&s, 0, sizeof s);
    CHECK(tl_json_strings("{\"name\":\"turbolift/price\",\"tags\": [ \"0123456789abcdef\" ]}\n",
                          "tags", collect, &s) == 1);
    CHECK(strcmp(s.all, "0123456789abcdef,") == 0);
    memset(&s, 0, sizeof s);
    CHECK(tl_json_strings("{\"name\":\"x\",\"tags\":null}", "tags", collect, &s) == 0);
    CHECK(tl_json_strings("{\"name\":\"x\"}", "tags", collect, &s) == -1);
    CHECK(tl_json_strings("{\"tags\":[]}", "tags", collect, &s) == 0);
    CHECK(s.n == 0);
}

/* A registry with a path prefix: the API at the host, the prefix in names. */
static void test_registry_split(void)
{
    char host[64], prefix[64];

    tl_registry_split("127.0.0.1:5000", host, sizeof host, prefix, sizeof prefix);
    CHECK(strcmp(host, "127.0.0.1:5000") == 0 && strcmp(prefix, "") == 0);
    tl_registry_split("registry.example:443/team/ml", host, sizeof host, prefix, sizeof prefix);
    CHECK(strcmp(host, "registry.example:443") == 0 && strcmp(prefix, "team/ml/") == 0);
    CHECK(tl_registry_plain_http("127.0.0.1:5000") && tl_registry_plain_http("[::1]:5000"));
    CHECK(!tl_registry_plain_http("registry.example:443"));
}

/* SHA-256 as the registry computes it (FIPS 180-2's "abc" vector). */
static void test_digest(void)
{
    char d[72];

    REQUIRE(tl_oci_digest("abc", 3, d) == 0);
    CHECK(strcmp(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
          == 0);
    REQUIRE(tl_oci_digest("", 0, d) == 0);
    CHECK(strcmp(d, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
          == 0);
}

/* A layer is a gzip'd tar with the folders first, the files at their image
 * paths with mode 0755, owner 0 and mtime 0; its digests are those of the
 * bytes; writing it twice gives the same bytes (a re-push sends nothing). */
static void test_layer(void)
{
    char src[] = "/tmp/tl-oci-XXXXXX", d1[72], d2[72], id1[72], id2[72], err[256] = "";
    struct tl_oci_file files[] = { { src, "/usr/lib/x/libdemo.so.1" }, { src, "/svc" } };
    struct tl_oci_layer l = { files, 2, "test", NULL };
    struct tl_buf a = { 0 }, b = { 0 };
    unsigned long long tar1 = 0, tar2 = 0;
    const char *want[] = { "usr/", "usr/lib/", "usr/lib/x/", "usr/lib/x/libdemo.so.1", "svc" };
    struct archive_entry *e;
    struct archive *r;
    char buf[64];
    int fd = mkstemp(src), i = 0;

    REQUIRE(fd >= 0);
    REQUIRE(write(fd, "hello layer\n", 12) == 12);
    close(fd);
    REQUIRE(tl_oci_layer_write(&l, &a, d1, id1, &tar1, err, sizeof err) == 0);
    sleep(1);               /* a time stamp would differ now: none may be written */
    REQUIRE(tl_oci_layer_write(&l, &b, d2, id2, &tar2, err, sizeof err) == 0);
    CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    CHECK(strcmp(d1, d2) == 0 && strcmp(id1, id2) == 0 && strcmp(d1, id1) != 0);
    REQUIRE(tl_oci_digest(a.data, a.len, d2) == 0);
    CHECK(strcmp(d1, d2) == 0);
    CHECK(tar1 % 512 == 0 && tar1 >= 512 * 7);      /* 5 headers, 2 data blocks */

    r = archive_read_new();
    archive_read_support_filter_gzip(r);
    archive_read_support_format_tar(r);
    REQUIRE(archive_read_open_memory(r, a.data, a.len) == ARCHIVE_OK);
    while (archive_read_next_header(r, &e) == ARCHIVE_OK) {
        CHECK_MSG(i < 5 && strcmp(archive_entry_pathname(e), want[i]) == 0, "entry %d: %s", i,
                  archive_entry_pathname(e));
        CHECK((archive_entry_perm(e) & 0777) == 0755);
        CHECK(archive_entry_uid(e) == 0 && archive_entry_gid(e) == 0);
        CHECK(archive_entry_mtime(e) == 0);
        if (archive_entry_filetype(e) == AE_IFREG) {
            CHECK(archive_entry_size(e) == 12);
            CHECK(archive_read_data(r, buf, sizeof buf) == 12 && memcmp(buf, "hello layer\n", 12) == 0);
        }
        i++;
    }
    CHECK(i == 5);
    archive_read_free(r);

    /* A file that is not there is an error naming it. */
    files[0].src = "/nonexistent/lib.so";
    tl_buf_free(&b);
    CHECK(tl_oci_layer_write(&l, &b, d2, id2, &tar2, err, sizeof err) != 0 &&
          strstr(err, "/nonexistent/lib.so") != NULL);
    tl_buf_free(&a);
    tl_buf_free(&b);
    unlink(src);
}

/* kubectl [--context C] ARGS [-n NS | --all-namespaces], seen through a
 * kubectl that prints its arguments. */
static void test_kubectl_args(void)
{
    struct tl_proc_out r;
    char data[64];

    setenv("TURBOLIFT_KUBECTL", "echo", 1);
    unsetenv("TURBOLIFT_KUBE_CONTEXT");
    CHECK(tl_kubectl("team", NULL, 5000, &r, "get", "pods", (char *)NULL) == 0);
    CHECK_MSG(strcmp(r.out, "get pods -n team\n") == 0, "%s", r.out);
    tl_proc_out_free(&r);
    setenv("TURBOLIFT_KUBE_CONTEXT", "ctx", 1);
    {
        const char *args[] = { "get", "deployments", NULL };

        CHECK(tl_kubectl_run(TL_KUBECTL_ALL_NAMESPACES, NULL, 5000, args, &r) == 0);
        CHECK_MSG(strcmp(r.out, "--context ctx get deployments --all-namespaces\n") == 0,
                  "%s", r.out);
        tl_proc_out_free(&r);
    }
    CHECK(tl_kubectl(NULL, NULL, 5000, &r, "delete", "--raw", "/x", (char *)NULL) == 0);
    CHECK_MSG(strcmp(r.out, "--context ctx delete --raw /x\n") == 0, "%s", r.out);
    tl_proc_out_free(&r);
    unsetenv("TURBOLIFT_KUBE_CONTEXT");
    unsetenv("TURBOLIFT_KUBECTL");

    CHECK(tl_kubectl_b64_decode("dG9rZW4tMTIz", data, sizeof data) == 0 &&
          strcmp(data, "token-123") == 0);
    CHECK(tl_kubectl_b64_decode("dG9rZW4=", data, sizeof data) == 0 && strcmp(data, "token") == 0);
    CHECK(tl_kubectl_b64_decode("not base64!", data, sizeof data) != 0);
    CHECK(tl_kubectl_b64_decode("dG9rZW4tMTIz", data, 4) != 0);     /* does not fit */
}

/* Holds as kubectl prints a Deployment's annotations. */
static void test_lease_parse(void)
{
    struct tl_lease_info li;
    char ann[1024];
    long now = 1000000;

    snprintf(ann, sizeof ann,
             "{\"deployment.kubernetes.io/revision\":\"1\","
             "\"holder.turbolift.dev/hosta-12-abcdef\":\"%ld\","
             "\"holder.turbolift.dev/hostb-13-012345\":\"%ld\","
             "\"holder.turbolift.dev/hostc-14-999999\":\"%ld\","
             "\"kubectl.kubernetes.io/last-applied-configuration\":\"{\\\"holder.turbolift."
             "dev/ghost\\\":\\\"9999999999\\\"}\"}", now + 40, now - 1, now + 10);
    tl_lease_parse(ann, now, NULL, &li);
    CHECK_MSG(li.live == 2 && li.expired == 1 && !li.keep, "live %d expired %d", li.live,
              li.expired);
    CHECK(li.next_expiry == now + 40);
    CHECK_MSG(strcmp(li.holders, "hosta-12-abcdef (40s), hostc-14-999999 (10s)") == 0, "%s",
              li.holders);
    CHECK(!li.excepted);
    /* our own hold does not count when we ask whether others hold it */
    tl_lease_parse(ann, now, "hosta-12-abcdef", &li);
    CHECK(li.live == 1 && strcmp(li.holders, "hostc-14-999999 (10s)") == 0 && li.excepted);
    /* ... nor does it when it has expired (a rollout longer than the lease):
     * reclaim must still see the Deployment as ours */
    tl_lease_parse(ann, now, "hostb-13-012345", &li);
    CHECK(li.live == 2 && li.expired == 0 && li.excepted);
    /* everything expired; keep */
    tl_lease_parse("{\"holder.turbolift.dev/x\":\"5\",\"turbolift.dev/keep\":\"true\"}", now,
                   NULL, &li);
    CHECK(li.live == 0 && li.expired == 1 && li.keep);
    tl_lease_parse("", now, NULL, &li);
    CHECK(li.live == 0 && li.expired == 0 && !li.keep);

    /* a run id is a valid annotation name: [a-z0-9-], at most 63 */
    {
        const char *id = tl_lease_run_id();

        CHECK(strlen(id) > 0 && strlen(id) <= 63 && id == tl_lease_run_id());
        for (const char *p = id; *p; p++)
            CHECK((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-');
    }
    {
        char err[256] = "";
        int sec = 0;

        setenv("TURBOLIFT_LEASE_SECONDS", "7", 1);
        CHECK(tl_lease_seconds(&sec, err, sizeof err) == 0 && sec == 7);
        setenv("TURBOLIFT_LEASE_SECONDS", "1", 1);      /* below 3: an error, no default */
        CHECK(tl_lease_seconds(&sec, err, sizeof err) != 0 &&
              strstr(err, "TURBOLIFT_LEASE_SECONDS") != NULL);
        unsetenv("TURBOLIFT_LEASE_SECONDS");
        CHECK(tl_lease_seconds(&sec, err, sizeof err) == 0 && sec == TL_LEASE_DEFAULT_SECONDS);
    }
}

int main(void)
{
    signal(SIGPIPE, SIG_DFL);     /* a SIGPIPE would kill this test: it must not come */
    test_buf();
    test_proc();
    test_json();
    test_registry_split();
    test_digest();
    test_layer();
    test_kubectl_args();
    test_lease_parse();
    return tl_check_failures ? 1 : 0;
}
