/* hello-server: a tiny HTTP/1.0 server for the cluster test suite.
 *
 *   hello-server [PORT]        (default 8080, or $PORT)
 *
 * GET /healthz -> 200 "ok"; GET / -> 200 "hello from HOSTNAME"; anything
 * else -> 404 or 405.  One connection at a time, each bounded by a receive
 * timeout; exits 0 on SIGTERM/SIGINT.  Built static: the FROM-scratch image
 * holds this one file.
 *
 * MIT License, Turbolift for C authors. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
    (void)sig;
    stopping = 1;
}

static void reply(int fd, const char *status, const char *body)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf,
                     "HTTP/1.0 %s\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     status, strlen(body), body);
    if (n < 0 || (size_t)n >= sizeof buf)
        return;
    for (int off = 0; off < n;) {
        ssize_t w = write(fd, buf + off, (size_t)(n - off));
        if (w <= 0)
            return;
        off += (int)w;
    }
}

static void serve(int fd, const char *hello)
{
    char req[4096];
    size_t len = 0;
    struct timeval tv = {.tv_sec = 2, .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (len < sizeof req - 1) {
        ssize_t r = read(fd, req + len, sizeof req - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        req[len] = '\0';
        if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
            break;
    }
    req[len] = '\0';
    if (strncmp(req, "GET ", 4) != 0) {
        reply(fd, "405 Method Not Allowed", "only GET\n");
        return;
    }
    const char *path = req + 4;
    size_t plen = strcspn(path, " \r\n");
    if (plen == 8 && strncmp(path, "/healthz", 8) == 0)
        reply(fd, "200 OK", "ok\n");
    else if (plen == 1 && path[0] == '/')
        reply(fd, "200 OK", hello);
    else
        reply(fd, "404 Not Found", "not found\n");
}

int main(int argc, char **argv)
{
    const char *ps = argc > 1 ? argv[1] : getenv("PORT");
    long port = ps ? strtol(ps, NULL, 10) : 8080;
    if (port <= 0 || port > 65535) {
        fprintf(stderr, "hello-server: bad port\n");
        return 2;
    }

    char host[256] = "unknown";
    if (gethostname(host, sizeof host - 1) != 0)
        strcpy(host, "unknown");
    host[sizeof host - 1] = '\0';
    char hello[320];
    snprintf(hello, sizeof hello, "hello from %s\n", host);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop; /* no SA_RESTART: accept() returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int ls = socket(AF_INET, SOCK_STREAM, 0);
    if (ls < 0) {
        perror("hello-server: socket");
        return 1;
    }
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(ls, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(ls, 64) != 0) {
        perror("hello-server: bind/listen");
        return 1;
    }
    fprintf(stderr, "hello-server: %s listening on :%ld\n", host, port);
    while (!stopping) {
        int fd = accept(ls, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            perror("hello-server: accept");
            continue;
        }
        serve(fd, hello);
        close(fd);
    }
    close(ls);
    fprintf(stderr, "hello-server: stopping\n");
    return 0;
}
