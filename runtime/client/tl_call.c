/* SPDX-License-Identifier: MIT */
/*
 * tl_call.c - __turbolift_call: what every call of a tagged function does.
 *
 * First call of a function (once, even when many threads make it at once):
 * parse the descriptor and the signature, read the manifest and the user
 * configuration, choose the target, prepare it (link the service binary)
 * and start it (workers up and ready), then publish the function's state in
 * the stub's *state with a release store. Every later call loads *state
 * (acquire) and goes straight to encode, POST, decode.
 *
 * Failure policy (docs/failures.md). A call is sent at most 1 + retries
 * times, all within timeout_ms:
 *   - transport errors (refused, reset, timeout) and HTTP 503 are
 *     transient: the next attempt goes to another worker, after an
 *     exponential backoff with jitter (backoff_ms, 2x, 4x, ...);
 *   - any other status (4xx, 500) and a reply that does not decode are
 *     not retried: sending the same bytes again would fail the same way;
 *   - when the call cannot be answered, on_failure decides: "fallback"
 *     (default) warns once per function with the reason and returns 1, so
 *     the stub runs the body in-process; "abort" prints the function, its
 *     source location and the reason, then abort()s.
 * A failure to set a function up (bad manifest, link error, workers that
 * do not start) takes the same policy on every call of that function.
 * The caller never gets a value that a service did not compute for it.
 */
#define _GNU_SOURCE   /* strndup */
#include "tl_clock.h"
#include "tl_call.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <turbolift.h>

#include "tl_abi.h"
#include "tl_buf.h"
#include "tl_client.h"
#include "tl_codec.h"
#include "tl_config.h"
#include "tl_env.h"
#include "tl_log.h"
#include "tl_manifest.h"
#include "tl_sig.h"
#include "tl_target.h"
#include "tl_unit_globals.h"

struct tl_fn {
    const void *key;                /* the stub's state address          */
    struct tl_descriptor d;
    struct tl_sig *sig;
    struct tl_sig *wire_sig;        /* sig plus the block of the program's
                                       variables the service keeps, or sig */
    size_t globals_size;            /* that block's bytes (0: none)        */
    size_t globals_strings;         /* and the char pointers after it     */
    struct tl_manifest *manifest;
    struct tl_fn_config cfg;
    struct tl_target target;
    int started;                    /* target started: stop at shutdown  */
    int broken;                     /* set-up failed: reason says why    */
    char reason[2048];
    atomic_int shut;                /* turbolift_shutdown ran            */
    atomic_int warned;              /* the fallback warning was printed  */
    pthread_mutex_t init_lock;
    int init_done;
    struct tl_fn *next;
};

/* Per-thread scratch: the request buffer is reused so that a call
 * allocates nothing once the buffer has grown to size. */
struct tl_scratch {
    msgpack_sbuffer sb;             /* the request, but for its pieces:   */
    struct tl_pieces pieces;        /* big blocks sent from the caller's
                                       memory (tl_encode_request_pieces)  */
    void **all;                     /* arguments, then captured globals  */
    unsigned all_cap;
    unsigned char *globals;         /* the block of tl_unit_globals      */
    size_t globals_cap;
    uint64_t rng;
    unsigned home;                  /* preferred slot, see tl_client_pick */
};

static pthread_once_t call_once = PTHREAD_ONCE_INIT;
static int inprocess;               /* TURBOLIFT_MODE=inprocess          */
static pid_t owner_pid;             /* atexit stops workers only here    */
static pthread_key_t scratch_key;
static atomic_uint homes;           /* hands out tl_scratch.home          */
static pthread_mutex_t call_fns_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tl_fn *call_fns;
static struct tl_config *config;    /* loaded once, kept for the process */
static char config_error[1024];     /* non-empty: the file was bad       */

/* ------------------------------------------------------------------ */
/* Descriptor                                                          */

void tl_descriptor_clear(struct tl_descriptor *d)
{
    free(d->function);
    free(d->target);
    free(d->signature);
    free(d->hash);
    free(d->service_dir);
    free(d->source);
    memset(d, 0, sizeof *d);
}

int tl_descriptor_parse(const char *text, struct tl_descriptor *out,
                        char *err, size_t errlen)
{
    static const struct { const char *key; size_t off; } fields[] = {
        { TL_ABI_DESC_FUNCTION,    offsetof(struct tl_descriptor, function) },
        { TL_ABI_DESC_TARGET,      offsetof(struct tl_descriptor, target) },
        { TL_ABI_DESC_SIGNATURE,   offsetof(struct tl_descriptor, signature) },
        { TL_ABI_DESC_HASH,        offsetof(struct tl_descriptor, hash) },
        { TL_ABI_DESC_SERVICE_DIR, offsetof(struct tl_descriptor, service_dir) },
        { TL_ABI_DESC_SOURCE,      offsetof(struct tl_descriptor, source) },
    };
    const char *line = text;
    unsigned lineno = 0;

    memset(out, 0, sizeof *out);
    while (line != NULL && *line != '\0') {   /* one line per round */
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        const char *eq = memchr(line, '=', len);
        size_t klen;

        lineno++;
        if (len == 0)
            goto next;
        if (eq == NULL) {
            snprintf(err, errlen, "descriptor line %u: expected key=value, got '%.*s'",
                     lineno, (int)len, line);
            goto fail;
        }
        klen = (size_t)(eq - line);
        if (klen == strlen(TL_ABI_DESC_VERSION) &&
            memcmp(line, TL_ABI_DESC_VERSION, klen) == 0) {
            out->version = atoi(eq + 1);
            goto next;
        }
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
            char **f = (char **)((char *)out + fields[i].off);
            if (strlen(fields[i].key) != klen || memcmp(line, fields[i].key, klen) != 0)
                continue;
            free(*f);
            *f = strndup(eq + 1, len - klen - 1);
            if (*f == NULL) {
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
        }
next:
        line = nl ? nl + 1 : NULL;
    }
    if (out->version != TL_ABI_DESCRIPTOR_VERSION) {
        snprintf(err, errlen, "descriptor version %d is not supported (this runtime "
                 "reads %d): rebuild with a matching plugin", out->version,
                 TL_ABI_DESCRIPTOR_VERSION);
        goto fail;
    }
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        char **f = (char **)((char *)out + fields[i].off);
        if (strcmp(fields[i].key, TL_ABI_DESC_SOURCE) != 0 && (*f == NULL || **f == '\0')) {
            snprintf(err, errlen, "descriptor of %s has no %s",
                     out->function ? out->function : "a function", fields[i].key);
            goto fail;
        }
    }
    return 0;
fail:
    tl_descriptor_clear(out);
    return -1;
}

/* ------------------------------------------------------------------ */
/* Process-wide set-up                                                  */

static void scratch_free(void *p)
{
    struct tl_scratch *s = p;

    if (s != NULL) {
        msgpack_sbuffer_destroy(&s->sb);
        free(s->pieces.v);
        free(s->all);
        free(s->globals);
        free(s);
    }
}

static void at_exit(void)
{
    /* A forked child inherits our atexit list but not our workers. */
    if (getpid() == owner_pid)
        turbolift_shutdown();
}

static void call_init_once(void)
{
    const char *mode = tl_env("TURBOLIFT_MODE", "distributed");
    char err[256];

    if (strcmp(mode, "inprocess") == 0) {
        inprocess = 1;
        return;
    }
    if (strcmp(mode, "distributed") != 0)
        tl_log_warn("TURBOLIFT_MODE=%s is not 'inprocess' or 'distributed'; "
                    "calls go to services", mode);
    owner_pid = getpid();
    pthread_key_create(&scratch_key, scratch_free);
    if (tl_client_init(err, sizeof err) != 0)
        tl_log_error("%s", err);
    if (tl_config_load(&config, config_error, sizeof config_error) != 0)
        config = NULL;
    atexit(at_exit);
}

static struct tl_scratch *scratch(void)
{
    struct tl_scratch *s = pthread_getspecific(scratch_key);

    if (s == NULL) {
        s = calloc(1, sizeof *s);
        if (s == NULL)
            return NULL;
        msgpack_sbuffer_init(&s->sb);
        /* Seed the jitter per thread, so threads do not back off in step. */
        s->rng = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)s ^ 0x9e3779b97f4a7c15ULL;
        /* Round robin over threads: thread k prefers worker k mod n. */
        s->home = atomic_fetch_add_explicit(&homes, 1, memory_order_relaxed);
        if (pthread_setspecific(scratch_key, s) != 0) {
            scratch_free(s);
            return NULL;
        }
    }
    return s;
}

const struct tl_target_ops *const tl_targets[] = {
    &tl_target_local,
    &tl_target_k8s,
    NULL,
};

static const struct tl_target_ops *find_target(const char *name)
{
    for (size_t i = 0; tl_targets[i] != NULL; i++)
        if (strcmp(name, tl_targets[i]->name) == 0)
            return tl_targets[i];
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Failure policy                                                       */

static int fail_policy(struct tl_fn *fn, const char *reason)
{
    const char *src = fn->d.source ? fn->d.source : "unknown location";
    const char *name = fn->d.function ? fn->d.function : "a tagged function";

    if (fn->cfg.on_failure == TL_ON_FAILURE_ABORT) {
        tl_log_error("call of %s (%s) failed: %s; aborting (on_failure: abort)",
                     name, src, reason);
        /* The message must reach the terminal before the core dump. */
        fflush(stderr);
        abort();
    }
    if (atomic_exchange(&fn->warned, 1) == 0)
        tl_log_warn("call of %s (%s) failed: %s; running it in-process instead "
                    "(on_failure: fallback; said once per function)",
                    name, src, reason);
    else
        tl_log_debug("call of %s failed: %s; running it in-process", name, reason);
    return 1;
}

/* ------------------------------------------------------------------ */
/* First call                                                           */

/*
 * The service keeps variables of the program's files (tl_unit_globals.h):
 * their bytes travel as one more captured value, "[SIZE]u1", after the
 * stub's own (docs/abi.md, section 2); the service adds the same to its
 * signature from the list in its binary.
 */
static int with_globals_signature(struct tl_fn *fn, char *err, size_t errlen)
{
    size_t size = tl_unit_globals_size(fn->target.globals);
    size_t strings = tl_unit_globals_strings(fn->target.globals);

    if (fn->target.globals != NULL)
        tl_log_info("%s: variables of the program that its service uses: %s", fn->d.function,
                    tl_unit_globals_describe(fn->target.globals));
    if (size == 0 && strings == 0)
        return 0;
    if (tl_sig_parse_with_globals(fn->d.signature, fn->sig->capture_count, size, strings,
                                  &fn->wire_sig, err, errlen) != 0)
        return -1;
    fn->globals_size = size;
    fn->globals_strings = strings;
    return 0;
}

static void setup(struct tl_fn *fn, const char *descriptor)
{
    char err[sizeof fn->reason - 64];
    const char *target;

    if (tl_descriptor_parse(descriptor, &fn->d, err, sizeof err) != 0) {
        /* No name yet: the defaults and the environment set the policy. */
        tl_config_resolve(config, NULL, &fn->cfg, fn->reason, sizeof fn->reason);
        goto broken;
    }
    /* Policy first: even a set-up failure is reported as it says. */
    if (tl_config_resolve(config, fn->d.function, &fn->cfg, err, sizeof err) != 0) {
        tl_config_resolve(NULL, NULL, &fn->cfg, fn->reason, sizeof fn->reason);
        goto broken;
    }
    if (config_error[0] != '\0') {
        snprintf(err, sizeof err, "%s", config_error);
        goto broken;
    }
    if (tl_sig_parse(fn->d.signature, &fn->sig, err, sizeof err) != 0)
        goto broken;
    if (tl_manifest_load(fn->d.service_dir, &fn->manifest, err, sizeof err) != 0)
        goto broken;
    if (strcmp(fn->manifest->signature, fn->d.signature) != 0 ||
        strcmp(fn->manifest->hash, fn->d.hash) != 0) {
        snprintf(err, sizeof err, "%s/" TL_ABI_MANIFEST_FILE " belongs to another build of %s "
                 "(signature or hash differ from the program's); rebuild the program",
                 fn->d.service_dir, fn->d.function);
        goto broken;
    }
    target = fn->cfg.target ? fn->cfg.target : fn->d.target;
    fn->target.ops = find_target(target);
    if (fn->target.ops == NULL) {
        snprintf(err, sizeof err, "target '%s' is not available in this runtime "
                 "(TURBOLIFT_TARGET=local runs it on local workers)", target);
        goto broken;
    }
    fn->target.manifest = fn->manifest;
    fn->target.config = &fn->cfg;
    if (fn->target.ops->prepare(&fn->target, err, sizeof err) != 0)
        goto broken;
    fn->wire_sig = fn->sig;
    if (with_globals_signature(fn, err, sizeof err) != 0) {
        fn->started = 1;    /* stop() releases whatever prepare made */
        goto broken;
    }
    if (fn->target.ops->start(&fn->target, err, sizeof err) != 0) {
        fn->started = 1;    /* stop() releases whatever prepare made */
        goto broken;
    }
    fn->started = 1;
    tl_log_debug("%s: calls go to target %s", fn->d.function, target);
    return;
broken:
    fn->broken = 1;
    snprintf(fn->reason, sizeof fn->reason, "cannot set up the service: %s", err);
}

static struct tl_fn *lookup(const char *descriptor, void **state)
{
    const void *key = state ? (const void *)state : (const void *)descriptor;
    struct tl_fn *fn;

    pthread_mutex_lock(&call_fns_lock);
    for (fn = call_fns; fn != NULL; fn = fn->next)
        if (fn->key == key)
            break;
    if (fn == NULL && (fn = calloc(1, sizeof *fn)) != NULL) {
        fn->key = key;
        pthread_mutex_init(&fn->init_lock, NULL);
        fn->next = call_fns;
        call_fns = fn;
    }
    pthread_mutex_unlock(&call_fns_lock);
    if (fn == NULL)
        return NULL;

    /* One set-up per function; other functions' first calls are not held
     * up behind it (a k8s rollout can take minutes). */
    pthread_mutex_lock(&fn->init_lock);
    if (!fn->init_done) {
        setup(fn, descriptor);
        fn->init_done = 1;
        if (state != NULL)
            atomic_store_explicit((_Atomic(void *) *)state, fn, memory_order_release);
    }
    pthread_mutex_unlock(&fn->init_lock);
    return fn;
}

/* ------------------------------------------------------------------ */
/* Each call                                                            */

static long backoff(struct tl_scratch *s, long base, unsigned attempt)
{
    long b = base << (attempt < 16 ? attempt : 16);

    /* "Equal jitter": half fixed, half random, so retries from many
     * threads spread out but still wait at least b/2. xorshift64. */
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return b / 2 + (b > 1 ? (long)(s->rng % (uint64_t)(b / 2 + 1)) : 0);
}

/* The codec reads the arguments and then the captured globals through one
 * array (docs/abi.md, section 1): args[0..n) then captured[0..k). The
 * globals are read here, on the calling thread, when the call is made. */
static int with_captures(struct tl_fn *fn, struct tl_scratch *s, void *const *args,
                         void *const *captured, void *const **all,
                         char *err, size_t errlen)
{
    unsigned k = fn->sig->capture_count, n = fn->sig->param_count - k;
    unsigned b = fn->globals_size > 0, g = b + (unsigned)fn->globals_strings;

    *all = args;                    /* NULL for a function without parameters */
    if (k + g == 0)
        return 0;
    if (k > 0 && captured == NULL) {
        snprintf(err, errlen, "the signature captures %u global(s) but the stub "
                 "sent none: the object was built by an older plugin; rebuild it", k);
        return -1;
    }
    if (s->all_cap < n + k + g) {
        void **grown = realloc(s->all, (n + k + g) * sizeof *grown);
        if (grown == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        s->all = grown;
        s->all_cap = n + k + g;
    }
    for (unsigned i = 0; i < n; i++)
        s->all[i] = args[i];
    for (unsigned i = 0; i < k; i++)
        s->all[n + i] = captured[i];
    if (b) {
        /* the program's variables of other files, read now, like the
         * stub's captured globals (tl_unit_globals.c) */
        if (s->globals_cap < fn->globals_size) {
            unsigned char *grown = realloc(s->globals, fn->globals_size);

            if (grown == NULL) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            s->globals = grown;
            s->globals_cap = fn->globals_size;
        }
        s->all[n + k] = s->globals;
    }
    if (g > 0 && tl_unit_globals_gather(fn->target.globals, s->globals, s->all + n + k + b,
                                        err, errlen) != 0)
        return -1;
    *all = (void *const *)s->all;
    return 0;
}

static int remote_call(struct tl_fn *fn, void *const *args, void *result,
                       void *const *captured)
{
    void *const *all;
    struct tl_client_opts opts = { fn->cfg.connect_timeout_ms, 0,
                                   fn->target.token ? fn->target.token : fn->cfg.token };
    struct tl_endpoint *ep = NULL, *avoid = NULL;
    long deadline = tl_now_ms() + fn->cfg.timeout_ms;
    unsigned attempts = (unsigned)fn->cfg.retries + 1;
    struct tl_response resp;
    struct tl_scratch *s;
    char reason[768] = "no attempt was made";

    s = scratch();
    if (s == NULL)
        return fail_policy(fn, "out of memory");
    msgpack_sbuffer_clear(&s->sb);
    if (with_captures(fn, s, args, captured, &all, reason, sizeof reason) != 0 ||
        tl_encode_request_pieces(fn->wire_sig, all, &s->sb, &s->pieces, reason,
                                 sizeof reason) != 0)
        return fail_policy(fn, reason);

    unsigned attempt, sent = 0;

    for (attempt = 0; attempt < attempts; attempt++) {
        long left = deadline - tl_now_ms();

        if (attempt > 0) {
            long pause = backoff(s, fn->cfg.backoff_ms, attempt - 1);

            if (pause >= left) {
                snprintf(reason + strlen(reason), sizeof reason - strlen(reason),
                         "; no time left for another attempt within timeout_ms=%d",
                         fn->cfg.timeout_ms);
                break;
            }
            tl_wait_ms(pause);
            left = deadline - tl_now_ms();
        }
        if (left <= 0)
            break;
        ep = tl_client_pick(fn->target.slots, fn->target.nslots, avoid, s->home);
        if (ep == NULL) {
            /* Every replica is gone and none could be replaced (targets
             * replace them synchronously in failed()): waiting would not
             * bring one back within this call. */
            if (sent == 0)
                snprintf(reason, sizeof reason, "no worker is up");
            else
                snprintf(reason + strlen(reason), sizeof reason - strlen(reason),
                         "; then no worker was left");
            break;
        }
        opts.timeout_ms = left;
        sent++;
        atomic_fetch_add_explicit(&ep->inflight, 1, memory_order_relaxed);
        int rc = tl_client_post_pieces(ep, s->sb.data, s->sb.size, &s->pieces, &opts,
                                       &resp);
        atomic_fetch_sub_explicit(&ep->inflight, 1, memory_order_relaxed);

        if (rc != 0) {                                   /* transport */
            snprintf(reason, sizeof reason, "%s", resp.error);
            fn->target.ops->failed(&fn->target, ep);
            avoid = ep;
            continue;
        }
        if (resp.status == 200) {
            char why[512];

            if (tl_decode_reply(fn->sig, resp.body, resp.len, args, result,
                                why, sizeof why) == 0)
                return 0;
            /* A reply that does not fit the signature: not transient. */
            snprintf(reason, sizeof reason, "bad reply from %s: %s", ep->base, why);
            return fail_policy(fn, reason);
        }
        {
            /* The service's text ends in a newline; the reason goes on
             * with "; aborting ..." or "; running it in-process ...". */
            size_t shown = resp.len < 300 ? resp.len : 300;
            while (shown > 0 && (resp.body[shown - 1] == '\n' || resp.body[shown - 1] == '\r'))
                shown--;
            snprintf(reason, sizeof reason, "%s answered HTTP %ld: %.*s", ep->base,
                     resp.status, (int)shown, resp.body);
        }
        if (resp.status != 503)
            return fail_policy(fn, reason);    /* 4xx, 500: never retried */
        avoid = ep;
    }
    /* A call that was under way when the program called
     * turbolift_shutdown (or exited) runs here; that is no fault. */
    if (atomic_load_explicit(&fn->shut, memory_order_acquire))
        return 1;
    snprintf(reason + strlen(reason), sizeof reason - strlen(reason),
             " (%u of at most %u attempts made)", sent, attempts);
    return fail_policy(fn, reason);
}

int __turbolift_call(const char *descriptor, void **state,
                     void *const *args, void *result)
{
    return __turbolift_call_captured(descriptor, state, args, result, NULL);
}

int __turbolift_call_captured(const char *descriptor, void **state,
                              void *const *args, void *result,
                              void *const *captured)
{
    struct tl_fn *fn;

    pthread_once(&call_once, call_init_once);
    if (inprocess)
        return 1;
    fn = state ? atomic_load_explicit((_Atomic(void *) *)state, memory_order_acquire) : NULL;
    if (fn == NULL) {
        fn = lookup(descriptor, state);
        if (fn == NULL) {
            tl_log_warn("out of memory setting up a turbolift call; running it in-process");
            return 1;
        }
    }
    if (atomic_load_explicit(&fn->shut, memory_order_acquire)) {
        /* The program released the services itself; its later calls run
         * here, which is what it asked for. */
        return 1;
    }
    if (fn->broken)
        return fail_policy(fn, fn->reason);
    return remote_call(fn, args, result, captured);
}

void turbolift_shutdown(void)
{
    struct tl_fn *fn;

    pthread_mutex_lock(&call_fns_lock);
    for (fn = call_fns; fn != NULL; fn = fn->next) {
        pthread_mutex_lock(&fn->init_lock);
        atomic_store_explicit(&fn->shut, 1, memory_order_release);
        if (fn->started) {
            fn->target.ops->stop(&fn->target);
            fn->started = 0;
        }
        pthread_mutex_unlock(&fn->init_lock);
    }
    pthread_mutex_unlock(&call_fns_lock);
}
