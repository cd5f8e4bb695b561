/* SPDX-License-Identifier: MIT */
/*
 * test_main.c - a real service binary (service_table.c linked with
 * libturbolift-service.a), run as the local target runs it: command line,
 * --ready-fd, the probes, draining on SIGTERM while a call runs, the drain
 * bound, --parent-pid when the parent is SIGKILLed, and exit status 2 for a
 * broken service table.
 *
 * argv[1]: the good service binary, argv[2]: the one with a bad signature.
 */
#define _GNU_SOURCE     /* prctl, pipe2 */

#include "tl_check.h"
#include "tl_clock.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *service_bin;
static const char *bad_bin;

/* Start the service with extra arguments; its port comes back through
 * --ready-fd 3. Returns the pid, or -1. */
static pid_t spawn(const char *binary, const char *const *extra, unsigned *port)
{
    const char *argv[16] = { binary, "--port", "0", "--ready-fd", "3" };
    int fds[2];
    pid_t pid;
    int n = 5;

    for (; extra && *extra && n < 15; extra++)
        argv[n++] = *extra;
    argv[n] = NULL;
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        dup2(fds[1], 3);    /* dup2 clears FD_CLOEXEC on fd 3 */
        execv(binary, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    if (port != NULL) {
        char line[32] = "";
        ssize_t got = 0, r;
        while ((r = read(fds[0], line + got, sizeof line - 1 - (size_t)got)) > 0)
            got += r;
        line[got > 0 ? got : 0] = '\0';
        *port = (unsigned)strtoul(line, NULL, 10);
        if (got <= 0 || line[got - 1] != '\n' || *port == 0)
            *port = 0;
    }
    close(fds[0]);
    return pid;
}

/* waitpid with a deadline; the exit status, or -1 on timeout, -2 if the
 * process died of a signal. */
static int wait_exit(pid_t pid, unsigned timeout_ms)
{
    long deadline = tl_now_ms() + (long)timeout_ms;
    int status;

    while (tl_now_ms() < deadline) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -2;
        tl_wait_ms(10);
    }
    return -1;
}

static size_t discard(char *data, size_t size, size_t n, void *userdata)
{
    (void)data;
    (void)userdata;
    return size * n;
}

/* One HTTP request; the status, or -1 when the connection failed. */
static long request(unsigned port, const char *path, const void *body, size_t len)
{
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = curl_slist_append(NULL, "Expect:");
    char url[128];
    long status = -1;

    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
    if (body != NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)len);
    }
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return status;
}

struct nap { unsigned port; unsigned ms; long status; };

static void *nap_thread(void *arg)
{
    struct nap *nap = arg;
    unsigned char body[6] = { 0x91, 0xce };   /* [uint32 ms] */

    body[2] = (unsigned char)(nap->ms >> 24);
    body[3] = (unsigned char)(nap->ms >> 16);
    body[4] = (unsigned char)(nap->ms >> 8);
    body[5] = (unsigned char)nap->ms;
    nap->status = request(nap->port, "/v1/call/nap", body, sizeof body);
    return NULL;
}

/* --help prints the usage, every option and the environment it reads,
 * and exits 0 (the exit status alone would pass for an empty text). */
static void check_help(void)
{
    static const char *const words[] = { "usage:", "--port N", "--bind ADDR",
        "--ready-fd FD", "--parent-pid PID", "TURBOLIFT_TOKEN", "TURBOLIFT_MAX_REQUEST",
        "TURBOLIFT_DRAIN_TIMEOUT" };
    char command[1024], text[4096];
    size_t got = 0, r;
    FILE *p;

    snprintf(command, sizeof command, "'%s' --help 2>&1", service_bin);
    p = popen(command, "r");
    REQUIRE(p != NULL);
    while (got < sizeof text - 1 && (r = fread(text + got, 1, sizeof text - 1 - got, p)) > 0)
        got += r;
    text[got] = '\0';
    CHECK(pclose(p) == 0);
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        CHECK_MSG(strstr(text, words[i]) != NULL, "--help does not mention %s:\n%s",
                  words[i], text);
}

static void test_command_line(void)
{
    static const char *const bad_port[] = { "--port", "99999", NULL };
    static const char *const unknown[] = { "--frobnicate", NULL };
    static const char *const help[] = { "--help", NULL };
    static const char *const bad_bind[] = { "--bind", "not-an-address", NULL };

    CHECK(wait_exit(spawn(service_bin, bad_port, NULL), 5000) == 1);
    CHECK(wait_exit(spawn(service_bin, unknown, NULL), 5000) == 1);
    CHECK(wait_exit(spawn(service_bin, help, NULL), 5000) == 0);
    check_help();
    CHECK(wait_exit(spawn(service_bin, bad_bind, NULL), 5000) == 1);
    /* a signature the runtime cannot parse: refuse to start, status 2 */
    CHECK(wait_exit(spawn(bad_bin, NULL, NULL), 5000) == 2);
}

static void test_drain_on_sigterm(void)
{
    static const unsigned char add[] = { 0x92, 0x01, 0x02 };
    unsigned port = 0;
    pid_t pid = spawn(service_bin, NULL, &port);
    struct nap nap;
    pthread_t thread;
    long start;

    REQUIRE(pid > 0);
    CHECK(port > 0);
    CHECK(request(port, "/healthz", NULL, 0) == 200);
    CHECK(request(port, "/readyz", NULL, 0) == 200);
    CHECK(request(port, "/v1/call/add", add, sizeof add) == 400);  /* ints, not floats */

    nap.port = port;
    nap.ms = 700;
    REQUIRE(pthread_create(&thread, NULL, nap_thread, &nap) == 0);
    tl_wait_ms(150);
    start = tl_now_ms();
    CHECK(kill(pid, SIGTERM) == 0);
    tl_wait_ms(50);
    CHECK(request(port, "/readyz", NULL, 0) == 503);
    CHECK(request(port, "/v1/call/nap", "\x91\x00", 2) == 503);
    CHECK(wait_exit(pid, 5000) == 0);
    pthread_join(thread, NULL);
    CHECK(nap.status == 200);                  /* the running call finished */
    CHECK(tl_now_ms() - start >= 400);         /* ...before the process left */
    CHECK(request(port, "/healthz", NULL, 0) == -1);
}

static void test_drain_bound(void)
{
    unsigned port = 0;
    pid_t pid;
    struct nap nap;
    pthread_t thread;
    long start;

    setenv("TURBOLIFT_DRAIN_TIMEOUT", "1", 1);
    pid = spawn(service_bin, NULL, &port);     /* inherits the variable */
    unsetenv("TURBOLIFT_DRAIN_TIMEOUT");
    REQUIRE(pid > 0 && port > 0);
    nap.port = port;
    nap.ms = 8000;
    REQUIRE(pthread_create(&thread, NULL, nap_thread, &nap) == 0);
    tl_wait_ms(150);
    start = tl_now_ms();
    kill(pid, SIGTERM);
    CHECK(wait_exit(pid, 5000) == 0);          /* exits 0 despite the call */
    CHECK(tl_now_ms() - start < 3000);
    pthread_join(thread, NULL);
    CHECK(nap.status == -1);                   /* that call was cut off */

    /* a second signal ends the drain at once */
    pid = spawn(service_bin, NULL, &port);
    REQUIRE(pid > 0 && port > 0);
    nap.port = port;
    REQUIRE(pthread_create(&thread, NULL, nap_thread, &nap) == 0);
    tl_wait_ms(150);
    start = tl_now_ms();
    kill(pid, SIGTERM);
    tl_wait_ms(100);
    kill(pid, SIGINT);
    CHECK(wait_exit(pid, 5000) == 0);
    CHECK(tl_now_ms() - start < 3000);
    pthread_join(thread, NULL);
    CHECK(nap.status == -1);                   /* cut off, never answered */
}

/* The local target passes its own pid; if it is SIGKILLed, no worker may
 * stay behind. This process is a subreaper, so the orphaned service comes
 * back to it and can be waited for. */
static void test_parent_death(void)
{
    int fds[2];
    pid_t parent, service = 0;
    unsigned port = 0;

    REQUIRE(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
    REQUIRE(pipe(fds) == 0);
    parent = fork();
    if (parent == 0) {
        char me[32];
        const char *extra[] = { "--parent-pid", me, NULL };
        pid_t child;
        snprintf(me, sizeof me, "%ld", (long)getpid());
        child = spawn(service_bin, extra, &port);
        if (write(fds[1], &child, sizeof child) != sizeof child ||
            write(fds[1], &port, sizeof port) != sizeof port)
            _exit(1);
        pause();
        _exit(0);
    }
    close(fds[1]);
    CHECK(read(fds[0], &service, sizeof service) == sizeof service);
    CHECK(read(fds[0], &port, sizeof port) == sizeof port);
    close(fds[0]);
    REQUIRE(service > 0);
    CHECK(port > 0 && request(port, "/healthz", NULL, 0) == 200);
    kill(parent, SIGKILL);
    waitpid(parent, NULL, 0);
    /* Killed by its parent-death signal, SIGKILL (so that a stopped worker
     * dies too: issue 12): wait_exit says -2 for "killed by a signal". */
    CHECK(wait_exit(service, 5000) == -2);
    if (kill(service, 0) == 0) {
        kill(service, SIGKILL);
        waitpid(service, NULL, 0);
    }

    /* --parent-pid naming a process that is not the parent: no start */
    char other[32];
    const char *extra[] = { "--parent-pid", other, NULL };
    snprintf(other, sizeof other, "%ld", (long)getpid() + 100000);
    CHECK(wait_exit(spawn(service_bin, extra, NULL), 5000) == 1);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s SERVICE_BINARY BAD_SERVICE_BINARY\n", argv[0]);
        return 2;
    }
    service_bin = argv[1];
    bad_bin = argv[2];
    signal(SIGPIPE, SIG_IGN);
    REQUIRE(curl_global_init(CURL_GLOBAL_DEFAULT) == 0);
    test_command_line();
    test_drain_on_sigterm();
    test_drain_bound();
    test_parent_death();
    curl_global_cleanup();
    return tl_check_status("test_main");
}
