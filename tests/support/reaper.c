/* SPDX-License-Identifier: MIT */
/*
 * reaper.c - run a program and report every process it left behind.
 *
 *   reaper PROGRAM [ARG...]
 *
 * Becomes a child subreaper (PR_SET_CHILD_SUBREAPER), runs PROGRAM and waits
 * for it. A process whose parent exits is handed to the nearest subreaper,
 * and the kernel does that inside the parent's exit, before the parent's
 * status can be collected. So once PROGRAM has been waited for, a child of
 * ours other than PROGRAM is a process PROGRAM started and did not wait for
 * itself, alive or not: the runtime's own stop of its workers is then tested
 * with no help from the workers' parent-death watch (PR_SET_PDEATHSIG and
 * --parent-pid), which would otherwise stop them a moment later anyway.
 *
 * Exit status: PROGRAM's (128 + signal when a signal ended it), or 125 when
 * anything outlived it; each such process is named on stderr
 * ("reaper: pid N (comm) outlived ...") and then killed, so it cannot leak.
 * 126/127 when PROGRAM cannot be started.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define REAPER_OUTLIVED 125

/* The short name of a process, or "?" when it is already gone. */
static void reaper_comm(pid_t pid, char *out, size_t outlen)
{
    char path[64];
    FILE *f;

    snprintf(out, outlen, "?");
    snprintf(path, sizeof path, "/proc/%ld/comm", (long)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return;
    if (fgets(out, (int)outlen, f) != NULL)
        out[strcspn(out, "\n")] = '\0';
    fclose(f);
}

/* Name, kill and collect every child left; returns how many there were.
 * /proc/<pid>/task/<tid>/children lists zombies too, and we have one thread. */
static int reaper_collect_orphans(const char *program)
{
    char path[64], comm[32];
    long pids[256];
    int n = 0, status;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%ld/task/%ld/children", (long)getpid(),
             (long)getpid());
    f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "reaper: %s: %s\n", path, strerror(errno));
        return -1;
    }
    while (n < 256 && fscanf(f, "%ld", &pids[n]) == 1) {
        reaper_comm((pid_t)pids[n], comm, sizeof comm);
        fprintf(stderr, "reaper: pid %ld (%s) outlived %s\n", pids[n], comm, program);
        kill((pid_t)pids[n], SIGKILL);
        n++;
    }
    fclose(f);
    for (int i = 0; i < n; i++)
        while (waitpid((pid_t)pids[i], &status, 0) < 0 && errno == EINTR)
            ;
    return n;
}

int main(int argc, char **argv)
{
    int status, orphans;
    pid_t child;

    if (argc < 2) {
        fprintf(stderr, "usage: reaper PROGRAM [ARG...]\n");
        return 126;
    }
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        fprintf(stderr, "reaper: PR_SET_CHILD_SUBREAPER: %s\n", strerror(errno));
        return 126;
    }
    child = fork();
    if (child < 0) {
        fprintf(stderr, "reaper: fork: %s\n", strerror(errno));
        return 126;
    }
    if (child == 0) {
        execvp(argv[1], argv + 1);
        fprintf(stderr, "reaper: %s: %s\n", argv[1], strerror(errno));
        _exit(127);
    }
    while (waitpid(child, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "reaper: waitpid: %s\n", strerror(errno));
            return 126;
        }
    }
    orphans = reaper_collect_orphans(argv[1]);
    if (orphans != 0)
        return REAPER_OUTLIVED;
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}
