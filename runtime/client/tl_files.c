/* SPDX-License-Identifier: MIT */
/*
 * tl_files.c - content hashes of files and folders made on demand.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tl_files.h"

uint64_t tl_fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;

    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

int tl_hash_file(uint64_t *h, const char *path, unsigned long long *bytes,
                 char *err, size_t errlen)
{
    char buf[65536];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    while ((n = read(fd, buf, sizeof buf)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        *h = tl_fnv1a(*h, buf, (size_t)n);
        if (bytes != NULL)
            *bytes += (unsigned long long)n;
    }
    close(fd);
    return 0;
}

int tl_mkdirs(char *path, int whole)
{
    /* cut the string at each '/' in turn rather than copy it */
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            *p = '/';
            return -1;
        }
        *p = '/';
    }
    if (whole && mkdir(path, 0755) != 0 && errno != EEXIST)
        return -1;
    return 0;
}
