/* SPDX-License-Identifier: MIT */
/*
 * test_parse.c - manifest, configuration and descriptor parsing: good files
 * give the values, bad files give errors naming file:line and the key.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "rt_check.h"
#include "tl_call.h"
#include "tl_config.h"
#include "tl_manifest.h"

static char dir[512];

static const char *write_in(const char *sub, const char *name, const char *text)
{
    static char path[800];
    char d[700];

    snprintf(d, sizeof d, "%s/%s", dir, sub);
    mkdir(d, 0755);
    snprintf(path, sizeof path, "%s/%s", d, name);
    rt_write_file(path, text);
    return path;
}

static void test_manifest_good(void)
{
    struct tl_manifest *m = NULL;
    char err[512], sdir[700];

    write_in("good", "service.yaml",
             "# written by the plugin\n"
             "turbolift: 1\n"
             "function: price\n"
             "target: local\n"
             "signature: \"f8({40:8:0=f8,8=f8,16=f8,24=f8,32=f8},i4)\"\n"
             "hash: 3f2a9c0d11e4b7a8\n"
             "source: /home/me/src/opt.c\n"
             "line: 12\n"
             "compiler: /usr/bin/gcc\n"
             "compile_flags: [-std=gnu17, -O2, -fopenmp]\n"
             "link_flags:\n  - -fopenmp\n"
             "service_source: service.c\n"
             "service_object: service.o\n"
             "external_symbols: [exp, sqrt, log]\n"
             "future_key: ignored\n");
    snprintf(sdir, sizeof sdir, "%s/good", dir);
    REQUIRE(tl_manifest_load(sdir, &m, err, sizeof err) == 0);
    CHECK(strcmp(m->function, "price") == 0);
    CHECK(strcmp(m->signature, "f8({40:8:0=f8,8=f8,16=f8,24=f8,32=f8},i4)") == 0);
    CHECK(strcmp(m->hash, "3f2a9c0d11e4b7a8") == 0);
    CHECK(m->line == 12);
    CHECK(m->compile_flags.count == 3 && strcmp(m->compile_flags.items[2], "-fopenmp") == 0);
    CHECK(m->link_flags.count == 1 && strcmp(m->link_flags.items[0], "-fopenmp") == 0);
    CHECK(m->external_symbols.count == 3);
    CHECK(strncmp(m->service_object, sdir, strlen(sdir)) == 0 &&
          strcmp(m->service_object + strlen(sdir), "/service.o") == 0);
    tl_manifest_free(m);
}

/* The manifest in sub must fail with an error containing each of want. */
static void manifest_bad(const char *sub, const char *text, const char *want1,
                         const char *want2)
{
    struct tl_manifest *m = NULL;
    char err[512], sdir[700];

    write_in(sub, "service.yaml", text);
    snprintf(sdir, sizeof sdir, "%s/%s", dir, sub);
    CHECK(tl_manifest_load(sdir, &m, err, sizeof err) == -1);
    CHECK(m == NULL);
    CHECK_MSG(strstr(err, want1) != NULL, "'%s' not in '%s'", want1, err);
    CHECK_MSG(want2 == NULL || strstr(err, want2) != NULL, "'%s' not in '%s'", want2, err);
}

static void test_manifest_bad(void)
{
    manifest_bad("bad1", "turbolift: 1\nfunction: f\ntarget: local\nsignature: v()\n"
                 "hash: 00\ncompiler: gcc\nservice_object: s.o\nline: twelve\n",
                 "bad1/service.yaml:8:", "key 'line'");
    manifest_bad("bad2", "turbolift: 1\nfunction: f\ntarget: local\nsignature: v()\n"
                 "hash: 00\ncompiler: gcc\nservice_object: s.o\nlink_flags: -lm\n",
                 "bad2/service.yaml:8:", "key 'link_flags'");
    manifest_bad("bad3", "turbolift: 1\nfunction: f\ntarget: local\nsignature: v()\n"
                 "compiler: gcc\nservice_object: s.o\n",
                 "bad3/service.yaml:", "key 'hash': missing");
    manifest_bad("bad4", "turbolift: 2\nfunction: f\n", "key 'turbolift'", "version 2");
    manifest_bad("bad5", "turbolift: 1\nfunction: [f\n", "bad5/service.yaml:",
                 "YAML error");
    manifest_bad("empty", "", "empty/service.yaml:", "must be a mapping");
    {
        struct tl_manifest *m = NULL;
        char err[512];

        CHECK(tl_manifest_load("/nonexistent/dir", &m, err, sizeof err) == -1);
        CHECK_MSG(strstr(err, "the service folder /nonexistent/dir does not exist: it was "
                         "removed after the program was built, or a compiler cache") != NULL,
                  "%s", err);
        /* the folder is there, the manifest not */
        CHECK(tl_manifest_load("/", &m, err, sizeof err) == -1);
        CHECK_MSG(strstr(err, "//service.yaml: cannot open") != NULL, "%s", err);
    }
}

static void test_config_good(void)
{
    struct tl_config *cfg = NULL;
    struct tl_fn_config fc;
    char err[512];
    const char *path;

    path = write_in("cfg", "good.yaml",
                    "defaults:\n"
                    "  replicas: 3\n"
                    "  timeout_ms: 1000\n"
                    "functions:\n"
                    "  price:\n"
                    "    replicas: 8\n"
                    "    on_failure: abort\n"
                    "    retries: 0\n"
                    "    namespace: quant\n"
                    "    resources: { cpu: 500m, memory: 256Mi }\n"
                    "    min_replicas: 2\n"
                    "    max_replicas: 10\n");
    REQUIRE(tl_config_load_file(path, &cfg, err, sizeof err) == 0);
    REQUIRE(tl_config_resolve(cfg, "price", &fc, err, sizeof err) == 0);
    CHECK(fc.replicas == 8);
    CHECK(fc.timeout_ms == 1000);
    CHECK(fc.on_failure == TL_ON_FAILURE_ABORT);
    CHECK(fc.retries == 0);
    CHECK(fc.backoff_ms == 50);
    CHECK(strcmp(fc.k8s_namespace, "quant") == 0);
    CHECK(strcmp(fc.cpu, "500m") == 0 && strcmp(fc.memory, "256Mi") == 0);
    CHECK(fc.min_replicas == 2 && fc.max_replicas == 10);
    REQUIRE(tl_config_resolve(cfg, "other", &fc, err, sizeof err) == 0);
    CHECK(fc.replicas == 3);
    CHECK(fc.on_failure == TL_ON_FAILURE_FALLBACK);
    CHECK(fc.retries == 2);

    /* The environment wins over the file. */
    setenv("TURBOLIFT_TIMEOUT_MS", "250", 1);
    setenv("TURBOLIFT_ON_FAILURE", "fallback", 1);
    REQUIRE(tl_config_resolve(cfg, "price", &fc, err, sizeof err) == 0);
    CHECK(fc.timeout_ms == 250);
    CHECK(fc.on_failure == TL_ON_FAILURE_FALLBACK);
    setenv("TURBOLIFT_ON_FAILURE", "maybe", 1);
    CHECK(tl_config_resolve(cfg, "price", &fc, err, sizeof err) == -1);
    CHECK(strstr(err, "TURBOLIFT_ON_FAILURE") != NULL);
    unsetenv("TURBOLIFT_ON_FAILURE");
    unsetenv("TURBOLIFT_TIMEOUT_MS");
    tl_config_free(cfg);

    /* Nothing configured: every value has a working default. */
    REQUIRE(tl_config_resolve(NULL, "price", &fc, err, sizeof err) == 0);
    CHECK(fc.replicas >= 1 && fc.timeout_ms == 30000 && fc.retries == 2);
    CHECK(fc.on_failure == TL_ON_FAILURE_FALLBACK);
}

static void config_bad(const char *name, const char *text, const char *want1,
                       const char *want2)
{
    struct tl_config *cfg = NULL;
    char err[1024];
    const char *path = write_in("cfg", name, text);

    CHECK(tl_config_load_file(path, &cfg, err, sizeof err) == -1);
    CHECK(cfg == NULL);
    CHECK_MSG(strstr(err, want1) != NULL, "'%s' not in '%s'", want1, err);
    CHECK_MSG(strstr(err, want2) != NULL, "'%s' not in '%s'", want2, err);
}

static void test_config_bad(void)
{
    config_bad("b1.yaml", "defaults:\n  replicas: 2\n  replica: 3\n",
               "b1.yaml:3:", "key 'replica': unknown key");
    config_bad("b2.yaml", "functions:\n  f:\n    timeout_ms: -5\n",
               "b2.yaml:3:", "key 'timeout_ms'");
    config_bad("b3.yaml", "functions:\n  f:\n    on_failure: explode\n",
               "b3.yaml:3:", "key 'on_failure': expected 'fallback' or 'abort'");
    config_bad("b4.yaml", "default:\n  replicas: 2\n", "b4.yaml:1:",
               "key 'default': unknown top-level key");
    config_bad("b5.yaml", "functions:\n  f:\n    replicas: [1, 2]\n", "b5.yaml:3:",
               "key 'replicas'");
    config_bad("b6.yaml", "functions:\n  f:\n    resources: { gpu: 1 }\n", "b6.yaml:3:",
               "key 'gpu'");
    config_bad("b7.yaml", "functions: {f: {replicas: 1}, f: {replicas: 2}}\n",
               "b7.yaml:1:", "function given twice");
}

static void test_descriptor(void)
{
    struct tl_descriptor d;
    char err[256];

    REQUIRE(tl_descriptor_parse("version=1\nfunction=price\ntarget=k8s\n"
                                "signature=f8({8:8:0=f8},i4)\nhash=3f2a9c0d11e4b7a8\n"
                                "service_dir=/tmp/x/price-3f2a\nsource=opt.c:12\n"
                                "later=ignored\n", &d, err, sizeof err) == 0);
    CHECK(d.version == 1);
    CHECK(strcmp(d.function, "price") == 0);
    CHECK(strcmp(d.target, "k8s") == 0);
    CHECK(strcmp(d.signature, "f8({8:8:0=f8},i4)") == 0);   /* '=' inside the value */
    CHECK(strcmp(d.service_dir, "/tmp/x/price-3f2a") == 0);
    CHECK(strcmp(d.source, "opt.c:12") == 0);
    tl_descriptor_clear(&d);

    CHECK(tl_descriptor_parse("version=2\nfunction=f\n", &d, err, sizeof err) == -1);
    CHECK(strstr(err, "version 2") != NULL);
    CHECK(tl_descriptor_parse("version=1\nfunction=f\ntarget=local\nsignature=v()\n"
                              "hash=00\n", &d, err, sizeof err) == -1);
    CHECK(strstr(err, "service_dir") != NULL);
    CHECK(tl_descriptor_parse("version=1\nfunction\n", &d, err, sizeof err) == -1);
    CHECK(strstr(err, "line 2") != NULL);
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s", rt_scratch("parse"));
    test_manifest_good();
    test_manifest_bad();
    test_config_good();
    test_config_bad();
    test_descriptor();
    return tl_check_status("test_parse");
}
