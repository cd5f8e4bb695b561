/* SPDX-License-Identifier: MIT */
/*
 * bench_call.c - what the runtime costs over the bare transport.
 *
 * The same request bytes go either through the full runtime path
 * (__turbolift_call with a hand-written descriptor: encode, pick a local
 * worker, POST, decode) or straight from libcurl to a tiny libmicrohttpd
 * server in a child process that answers with the precomputed reply. Both
 * servers use the same MHD threading (a thread per connection, as the
 * service does), both clients keep connections alive.
 *
 *   1. sequential: one thread, latency per call, ratio turbolift / raw
 *      (target <= 1.25);
 *   2. concurrent: 8 threads, calls per second, ratio turbolift / raw
 *      (target >= 0.7).
 *
 * The four measurements are interleaved in rounds; each ratio uses the best
 * round of each side (the usual way to see through scheduler noise on a
 * small shared machine) and the medians are printed too.
 * The service folder is written as the runtime tests write theirs
 * (rt_check.h), from RT_SERVICE_OBJECT and RT_CC (set by bench/meson.build).
 * BENCH_CALLS: sequential calls per round, default 5000; each of the 8
 * threads makes BENCH_CALLS / 2 per round.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <microhttpd.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <turbolift.h>

#include "tl_codec.h"
#include "../tests/runtime/rt_check.h"

#define THREADS 8
#define ROUNDS 7

static char descriptor[4096];
static void *state;
static msgpack_sbuffer request, reply;
static unsigned raw_port;
static int raw_stop_fd = -1;
static long calls_seq, calls_per_thread;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_call: %s\n", what);
    exit(1);
}

/* ---------------------------------------------------------------- */
/* The raw server                                                     */

static enum MHD_Result raw_handler(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version,
                                   const char *upload, size_t *upload_size, void **ctx)
{
    static int marker;
    struct MHD_Response *r;
    enum MHD_Result rc;

    (void)cls; (void)url; (void)method; (void)version; (void)upload;
    if (*ctx == NULL) {          /* headers only: wait for the body */
        *ctx = &marker;
        return MHD_YES;
    }
    if (*upload_size != 0) {     /* consume the body; its bytes are known */
        *upload_size = 0;
        return MHD_YES;
    }
    r = MHD_create_response_from_buffer(reply.size, reply.data, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/msgpack");
    rc = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return rc;
}

/*
 * The raw server runs in a process of its own, like the workers do, so
 * that both sides pay for crossing between processes and the ratio shows
 * what the runtime and the service add, not what a process boundary costs.
 * It reports its port on a pipe and exits when that pipe closes (or when
 * we die: PR_SET_PDEATHSIG).
 */
static pid_t raw_start(void)
{
    int up[2], down[2];
    pid_t pid;

    if (pipe(up) != 0 || pipe(down) != 0)
        die("pipe");
    pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        struct sockaddr_in sa;
        struct MHD_Daemon *d;
        const union MHD_DaemonInfo *info;
        unsigned port;
        char c;

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(up[0]);
        close(down[1]);
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                             MHD_USE_POLL | MHD_USE_ITC, 0, NULL, NULL, raw_handler, NULL,
                             MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
        if (d == NULL)
            _exit(1);
        info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        port = info->port;
        if (write(up[1], &port, sizeof port) != (ssize_t)sizeof port)
            _exit(1);
        while (read(down[0], &c, 1) < 0 && errno == EINTR)
            ;                      /* until the parent closes the pipe */
        MHD_stop_daemon(d);
        _exit(0);
    }
    close(up[1]);
    close(down[0]);
    if (read(up[0], &raw_port, sizeof raw_port) != (ssize_t)sizeof raw_port)
        die("the raw server did not start");
    close(up[0]);
    raw_stop_fd = down[1];
    return pid;
}

/* ---------------------------------------------------------------- */
/* The two clients                                                    */

struct sink { char buf[256]; size_t len; };

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
    struct sink *s = user;
    size_t n = size * nmemb;

    if (n > sizeof s->buf - s->len)
        return 0;
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    return n;
}

static void raw_calls(long n)
{
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/msgpack");
    CURL *c = curl_easy_init();
    struct sink s;
    char url[64];

    h = curl_slist_append(h, "Expect:");
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/call/add", raw_port);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.data);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)request.size);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    for (long i = 0; i < n; i++) {
        long status = 0;

        s.len = 0;
        if (curl_easy_perform(c) != CURLE_OK)
            die("raw call failed");
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200 || s.len != reply.size)
            die("raw call: unexpected reply");
    }
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
}

static void turbolift_calls(long n)
{
    for (long i = 0; i < n; i++) {
        int a = (int)i, b = 2, r = 0;
        void *args[] = { &a, &b };

        /* 1 would mean the body should run here: a fallback, which would
         * make the benchmark meaningless, so it is fatal. */
        if (__turbolift_call(descriptor, &state, args, &r) != 0 || r != a + b)
            die("turbolift call was not answered by a worker");
    }
}

/* ---------------------------------------------------------------- */
/* Measurement                                                        */

static void (*thread_fn)(long);
static pthread_barrier_t go;

static void *thread_main(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&go);
    thread_fn(calls_per_thread);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Seconds for one round. */
static double round_seq(void (*fn)(long))
{
    double t0 = now_s();

    fn(calls_seq);
    return now_s() - t0;
}

static double round_conc(void (*fn)(long))
{
    pthread_t th[THREADS];
    double t0;

    thread_fn = fn;
    pthread_barrier_init(&go, NULL, THREADS + 1);
    for (int i = 0; i < THREADS; i++)
        if (pthread_create(&th[i], NULL, thread_main, NULL) != 0)
            die("pthread_create");
    pthread_barrier_wait(&go);
    t0 = now_s();
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    return now_s() - t0;
}

int main(void)
{
    const char *n = getenv("BENCH_CALLS");
    double t[4][ROUNDS], best[4], med[4];
    pid_t raw_pid;
    struct tl_sig *sig;
    char err[256];
    int a = 1, b = 2, r = 0;
    void *args[] = { &a, &b };
    msgpack_packer pk;

    if (getenv("RT_SERVICE_OBJECT") == NULL || getenv("RT_CC") == NULL ||
        getenv("XDG_CACHE_HOME") == NULL)
        die("run me through meson: ninja -C build bench (RT_SERVICE_OBJECT, "
            "RT_CC and XDG_CACHE_HOME are needed)");
    calls_seq = n ? atol(n) : 5000;
    if (calls_seq < 100)
        calls_seq = 100;
    calls_per_thread = calls_seq / 2;

    /* The service folder the plugin would have written. */
    rt_descriptor(descriptor, sizeof descriptor,
                  rt_service_dir(rt_scratch("bench"), "add", "i4(i4,i4)"),
                  "add", "i4(i4,i4)");

    /* The exact bytes both paths carry. */
    msgpack_sbuffer_init(&request);
    msgpack_sbuffer_init(&reply);
    if (tl_sig_parse("i4(i4,i4)", &sig, err, sizeof err) != 0 ||
        tl_encode_request(sig, args, &request, err, sizeof err) != 0)
        die(err);
    msgpack_packer_init(&pk, &reply, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "result", 6);
    msgpack_pack_int(&pk, 3);
    msgpack_pack_str_with_body(&pk, "out", 3);
    msgpack_pack_array(&pk, 0);

    raw_pid = raw_start();
    curl_global_init(CURL_GLOBAL_DEFAULT);

    /* Warm up: starts the workers and opens the connections. */
    if (__turbolift_call(descriptor, &state, args, &r) != 0 || r != 3)
        die("the first turbolift call was not answered by a worker");
    raw_calls(1000);
    turbolift_calls(1000);

    for (int i = 0; i < ROUNDS; i++) {
        t[0][i] = round_seq(raw_calls);
        t[1][i] = round_seq(turbolift_calls);
        t[2][i] = round_conc(raw_calls);
        t[3][i] = round_conc(turbolift_calls);
    }
    for (int k = 0; k < 4; k++) {
        qsort(t[k], ROUNDS, sizeof t[k][0], cmp_double);
        best[k] = t[k][0];
        med[k] = t[k][ROUNDS / 2];
    }

    {
        double per = 1e6 / (double)calls_seq, total = (double)(calls_per_thread * THREADS);
        double ratio_seq = best[1] / best[0], ratio_conc = best[2] / best[3];

        printf("sequential, %ld calls per round, %d rounds (best / median):\n"
               "  raw libcurl -> MHD   %8.1f / %8.1f us/call\n"
               "  __turbolift_call     %8.1f / %8.1f us/call\n"
               "  latency ratio        %8.2f / %8.2f   (target <= 1.25)%s\n",
               calls_seq, ROUNDS, best[0] * per, med[0] * per, best[1] * per, med[1] * per,
               ratio_seq, med[1] / med[0], ratio_seq <= 1.25 ? "" : "   MISSED");
        printf("concurrent, %d threads x %ld calls per round, %d rounds (best / median):\n"
               "  raw libcurl -> MHD   %8.0f / %8.0f calls/s\n"
               "  __turbolift_call     %8.0f / %8.0f calls/s\n"
               "  throughput ratio     %8.2f / %8.2f   (target >= 0.70)%s\n",
               THREADS, calls_per_thread, ROUNDS, total / best[2], total / med[2],
               total / best[3], total / med[3], ratio_conc, med[2] / med[3],
               ratio_conc >= 0.7 ? "" : "   MISSED");
    }
    turbolift_shutdown();
    close(raw_stop_fd);
    waitpid(raw_pid, NULL, 0);
    tl_sig_free(sig);
    msgpack_sbuffer_destroy(&request);
    msgpack_sbuffer_destroy(&reply);
    return 0;
}
