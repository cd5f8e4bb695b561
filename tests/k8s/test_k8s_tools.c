/* SPDX-License-Identifier: MIT */
/*
 * test_k8s_tools.c - what the k8s target builds on, without a cluster:
 * running a tool with input, output, status and a deadline (tl_proc.c),
 * the buffer that collects output (tl_buf.c), and reading the registry's
 * JSON lists (tl_registry.c).
 */
#define _GNU_SOURCE   /* strdup */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/tl_check.h"
#include "tl_clock.h"
#include "tl_buf.h"
#include "tl_proc.h"
#include "tl_registry.h"

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

int main(void)
{
    signal(SIGPIPE, SIG_DFL);     /* a SIGPIPE would kill this test: it must not come */
    test_buf();
    test_proc();
    test_json();
    test_registry_split();
    return tl_check_failures ? 1 : 0;
}
