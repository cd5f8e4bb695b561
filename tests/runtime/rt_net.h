/* SPDX-License-Identifier: MIT */
/*
 * rt_net.h - look at a running worker from outside, as another program on
 * the machine would: the port it listens on (from /proc/net/tcp), a
 * variable of its environment, and raw HTTP requests to it.
 */
#ifndef RT_NET_H
#define RT_NET_H

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "rt_check.h"

/* The TCP port pid listens on (its first listening IPv4 socket), or 0. */
static inline unsigned rt_listen_port(pid_t pid)
{
    char path[64], line[512];
    unsigned long inodes[64];
    int ninodes = 0;
    unsigned port = 0;
    struct dirent *e;
    DIR *d;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%ld/fd", (long)pid);
    if ((d = opendir(path)) == NULL)
        return 0;
    while ((e = readdir(d)) != NULL && ninodes < 64) {
        char link[320], target[128];
        ssize_t n;

        snprintf(link, sizeof link, "%s/%s", path, e->d_name);
        n = readlink(link, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        if (sscanf(target, "socket:[%lu]", &inodes[ninodes]) == 1)
            ninodes++;
    }
    closedir(d);
    if ((f = fopen("/proc/net/tcp", "r")) == NULL)
        return 0;
    while (port == 0 && fgets(line, sizeof line, f)) {
        unsigned lport, st;
        unsigned long inode;

        /* sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode */
        if (sscanf(line, " %*d: %*x:%x %*x:%*x %x %*x:%*x %*x:%*x %*x %*u %*u %lu",
                   &lport, &st, &inode) != 3 || st != 0x0A)
            continue;
        for (int i = 0; i < ninodes; i++)
            if (inodes[i] == inode)
                port = lport;
    }
    fclose(f);
    return port;
}

/* The value of variable name in pid's environment, copied to buf; 0 when
 * found. */
static inline int rt_environ_of(pid_t pid, const char *name, char *buf, size_t len)
{
    char path[64], env[65536];
    size_t n, nlen = strlen(name);
    FILE *f;

    snprintf(path, sizeof path, "/proc/%ld/environ", (long)pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    n = fread(env, 1, sizeof env - 1, f);
    fclose(f);
    env[n] = '\0';
    for (size_t i = 0; i < n; i += strlen(env + i) + 1) {
        if (strncmp(env + i, name, nlen) == 0 && env[i + nlen] == '=') {
            snprintf(buf, len, "%s", env + i + nlen + 1);
            return 0;
        }
    }
    return -1;
}

/* 1 when text (NUL-terminated) occurs in pid's command line. */
static inline int rt_cmdline_has(pid_t pid, const char *text)
{
    char path[64], cmd[8192];
    size_t n;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%ld/cmdline", (long)pid);
    if ((f = fopen(path, "r")) == NULL)
        return 0;
    n = fread(cmd, 1, sizeof cmd - 1, f);
    fclose(f);
    for (size_t i = 0; i < n; i++)
        if (cmd[i] == '\0')
            cmd[i] = ' ';
    cmd[n] = '\0';
    return strstr(cmd, text) != NULL;
}

/* A connected TCP socket to 127.0.0.1:port, or -1. */
static inline int rt_connect(unsigned port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/*
 * One HTTP/1.1 request on a fresh connection (Connection: close) to
 * 127.0.0.1:port; token NULL sends no Authorization. Returns the status,
 * 0 when no status line came back. The reply's first bytes go to reply
 * when it is not NULL.
 */
static inline int rt_http(unsigned port, const char *method, const char *path,
                          const char *token, const void *body, size_t len,
                          char *reply, size_t replylen)
{
    char head[1024], buf[4096];
    size_t got = 0;
    int fd = rt_connect(port), status = 0;
    ssize_t n;

    if (fd < 0)
        return 0;
    snprintf(head, sizeof head,
             "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
             "Content-Type: application/msgpack\r\nContent-Length: %zu\r\n%s%s%s\r\n",
             method, path, len, token ? "Authorization: Bearer " : "",
             token ? token : "", token ? "\r\n" : "");
    if (write(fd, head, strlen(head)) < 0 || (len > 0 && write(fd, body, len) < 0)) {
        close(fd);
        return 0;
    }
    while (got < sizeof buf - 1 && (n = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)n;
    buf[got] = '\0';
    close(fd);
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        status = 0;
    if (reply != NULL)
        snprintf(reply, replylen, "%s", buf);
    return status;
}

#endif /* RT_NET_H */
