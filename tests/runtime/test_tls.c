/* SPDX-License-Identifier: MIT */
/*
 * test_tls.c - TURBOLIFT_TLS=1 on the local target (issue 12, item 5),
 * with real workers and real connections, on_failure: abort:
 *
 *   - calls are answered over HTTPS, right;
 *   - the worker does not speak plain HTTP;
 *   - what crosses the wire is not readable: a relay between a client and
 *     the worker records every byte; the token and the arguments are not
 *     in them and the first byte is a TLS handshake record, while the same
 *     relay in front of a plain-HTTP worker (TURBOLIFT_TLS=0) does see the
 *     token, which shows the recording works;
 *   - a client that pins another key is refused.
 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <turbolift.h>

#include "rt_check.h"
#include "rt_net.h"
#include "rt_proc.h"
#include "tl_client.h"
#include "tl_tls.h"

static char d_add[2048], d_who[2048];
static void *s_add, *s_who;

static int call_add(int a, int b, int *sum)
{
    void *args[] = { &a, &b };
    return __turbolift_call(d_add, &s_add, args, sum);
}

static int call_who(int *pid)
{
    return __turbolift_call(d_who, &s_who, NULL, pid);
}

/* ---- a recording relay: 127.0.0.1:listen <-> 127.0.0.1:to ---- */

struct relay {
    int listen_fd;
    unsigned port, to;
    atomic_int stop;
    pthread_mutex_t lock;
    unsigned char seen[1 << 16];    /* client -> server, then server -> client */
    size_t nseen;
};

static void record(struct relay *r, const unsigned char *p, size_t n)
{
    pthread_mutex_lock(&r->lock);
    if (n > sizeof r->seen - r->nseen)
        n = sizeof r->seen - r->nseen;
    memcpy(r->seen + r->nseen, p, n);
    r->nseen += n;
    pthread_mutex_unlock(&r->lock);
}

static void *relay_main(void *arg)
{
    struct relay *r = arg;

    for (;;) {                 /* one connection at a time, until closed */
        int in = accept(r->listen_fd, NULL, NULL), out;
        struct pollfd p[2];

        if (in < 0)
            return NULL;
        out = rt_connect(r->to);
        if (out < 0) {
            close(in);
            continue;
        }
        p[0] = (struct pollfd){ in, POLLIN, 0 };
        p[1] = (struct pollfd){ out, POLLIN, 0 };
        for (;;) {
            unsigned char buf[4096];
            ssize_t n;
            int from;

            int ready = poll(p, 2, 50);

            if (ready < 0 || atomic_load(&r->stop))
                break;
            if (ready == 0)
                continue;      /* a kept-alive connection: until stop */
            from = (p[0].revents != 0) ? 0 : 1;
            n = read(p[from].fd, buf, sizeof buf);
            if (n <= 0)
                break;
            record(r, buf, (size_t)n);
            if (write(p[1 - from].fd, buf, (size_t)n) != n)
                break;
        }
        close(in);
        close(out);
    }
}

static void relay_start(struct relay *r, unsigned to, pthread_t *th)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof a;

    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    r->to = to;
    r->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(r->listen_fd >= 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(r->listen_fd, (struct sockaddr *)&a, sizeof a) == 0);
    REQUIRE(listen(r->listen_fd, 4) == 0);
    REQUIRE(getsockname(r->listen_fd, (struct sockaddr *)&a, &alen) == 0);
    r->port = ntohs(a.sin_port);
    REQUIRE(pthread_create(th, NULL, relay_main, r) == 0);
}

static void relay_stop(struct relay *r, pthread_t th)
{
    atomic_store(&r->stop, 1);            /* ends the connection being relayed */
    shutdown(r->listen_fd, SHUT_RDWR);    /* accept() returns: the thread ends */
    pthread_join(th, NULL);
    close(r->listen_fd);
}

static int seen_has(struct relay *r, const void *needle, size_t len)
{
    int found;

    pthread_mutex_lock(&r->lock);
    found = memmem(r->seen, r->nseen, needle, len) != NULL;
    pthread_mutex_unlock(&r->lock);
    return found;
}

/* Our live child processes' pids whose environment has TURBOLIFT_TLS_CERT
 * set (with) or not (!with): the https or http workers. */
static pid_t worker(int with)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    pid_t found = 0;

    REQUIRE(d != NULL);
    while (found == 0 && (e = readdir(d)) != NULL) {
        char path[300], line[256], cert[8192];
        long ppid = -1;
        pid_t pid;
        FILE *f;

        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        pid = (pid_t)atol(e->d_name);
        snprintf(path, sizeof path, "/proc/%s/status", e->d_name);
        if ((f = fopen(path, "r")) == NULL)
            continue;
        while (fgets(line, sizeof line, f))
            sscanf(line, "PPid: %ld", &ppid);
        fclose(f);
        if (ppid != (long)getpid())
            continue;
        if ((rt_environ_of(pid, "TURBOLIFT_TLS_CERT", cert, sizeof cert) == 0) == with)
            found = pid;
    }
    closedir(d);
    return found;
}

/* One call of add(20, 22) through the relay, as a client that has the
 * token (and, for https, the pin) would make it. */
static int call_through(struct relay *r, int https, const char *token, const char *pin)
{
    static const char body[] = "\x92\x14\x16";      /* [20, 22] */
    struct tl_client_opts opts = { 2000, 10000, token };
    struct tl_endpoint *ep;
    struct tl_response resp;
    char base[64];
    int rc;

    snprintf(base, sizeof base, "%s://127.0.0.1:%u", https ? "https" : "http", r->port);
    ep = tl_endpoint_new(base, "add");
    REQUIRE(ep != NULL);
    ep->pin = pin ? strdup(pin) : NULL;
    rc = tl_client_post(ep, body, 3, &opts, &resp);
    if (rc == 0 && resp.status == 200)
        return 0;
    fprintf(stderr, "test_tls: call through the relay: rc %d, status %ld, %s\n", rc,
            resp.status, resp.error);
    return -1;
}

int main(void)
{
    const char *dir = rt_scratch("tls");
    char token[256], cert[8192], pin[TL_TLS_PIN_MAX], err[256];
    pid_t tls_worker, plain_worker;
    struct relay relay;
    pthread_t th;
    int sum = 0, pid = 0;

    setenv("TURBOLIFT_REPLICAS", "1", 1);
    setenv("TURBOLIFT_ON_FAILURE", "abort", 1);
    unsetenv("TURBOLIFT_TOKEN");
    rt_descriptor(d_add, sizeof d_add, rt_service_dir(dir, "add", "i4(i4,i4)"),
                  "add", "i4(i4,i4)");
    rt_descriptor(d_who, sizeof d_who, rt_service_dir(dir, "whoami", "i4()"),
                  "whoami", "i4()");

    /* add on HTTPS workers, whoami on plain ones (the control). */
    setenv("TURBOLIFT_TLS", "1", 1);
    for (int i = 0; i < 50; i++)
        CHECK(call_add(i, 3 * i, &sum) == 0 && sum == 4 * i);
    setenv("TURBOLIFT_TLS", "0", 1);
    CHECK(call_who(&pid) == 0 && pid > 0);
    tls_worker = worker(1);
    plain_worker = worker(0);
    REQUIRE(tls_worker > 0 && plain_worker == pid);

    /* The HTTPS worker does not answer plain HTTP. */
    CHECK(rt_http(rt_listen_port(tls_worker), "GET", "/healthz", NULL, NULL, 0,
                  NULL, 0) == 0);

    /* Through the relay, with the token and the pin. */
    REQUIRE(rt_environ_of(tls_worker, "TURBOLIFT_TOKEN", token, sizeof token) == 0);
    REQUIRE(rt_environ_of(tls_worker, "TURBOLIFT_TLS_CERT", cert, sizeof cert) == 0);
    REQUIRE(tl_tls_pin(cert, pin, sizeof pin, err, sizeof err) == 0);
    relay_start(&relay, rt_listen_port(tls_worker), &th);
    CHECK(call_through(&relay, 1, token, pin) == 0);
    relay_stop(&relay, th);
    printf("test_tls: %zu bytes crossed the relay; first byte 0x%02x\n", relay.nseen,
           relay.nseen ? relay.seen[0] : 0);
    CHECK(relay.nseen > 100);
    CHECK_MSG(relay.seen[0] == 0x16, "not a TLS handshake record: 0x%02x", relay.seen[0]);
    CHECK_MSG(!seen_has(&relay, token, strlen(token)), "the token crossed in clear");
    CHECK(!seen_has(&relay, "Authorization", 13));
    CHECK(!seen_has(&relay, "/v1/call/add", 12));
    CHECK(!seen_has(&relay, "\x92\x14\x16", 3));

    /* A client that pins another key gets nothing. */
    {
        struct tl_tls_identity other;

        REQUIRE(tl_tls_make(&other, err, sizeof err) == 0);
        CHECK(strcmp(other.pin, pin) != 0);
        relay_start(&relay, rt_listen_port(tls_worker), &th);
        CHECK(call_through(&relay, 1, token, other.pin) != 0);
        relay_stop(&relay, th);
        CHECK(!seen_has(&relay, token, strlen(token)));
        tl_tls_identity_clear(&other);
    }

    /* The control: the same relay in front of a plain worker sees it all. */
    REQUIRE(rt_environ_of(plain_worker, "TURBOLIFT_TOKEN", token, sizeof token) == 0);
    relay_start(&relay, rt_listen_port(plain_worker), &th);
    call_through(&relay, 0, token, NULL);    /* the service object holds add too */
    relay_stop(&relay, th);
    CHECK_MSG(seen_has(&relay, token, strlen(token)),
              "the relay did not record a plaintext request");

    turbolift_shutdown();
    CHECK(rt_count_children() == 0);
    return tl_check_status("test_tls");
}
