/* SPDX-License-Identifier: MIT */
/*
 * tl_target_local.c - the "local" target: worker processes on 127.0.0.1.
 *
 * Each worker is the service binary started as
 *
 *   service --port 0 --bind 127.0.0.1 --ready-fd 3 --parent-pid <our pid>
 *
 * It binds an ephemeral port, writes the port number (decimal, then a
 * newline) on fd 3 and closes it, so we learn every port without sleeping;
 * then we poll GET /readyz with backoff until a deadline. Workers inherit
 * our stdout and stderr, so what the function prints shows up as if it ran
 * here (the service's own log level follows TURBOLIFT_LOG, also inherited).
 *
 * Workers must never outlive us: the worker sets PR_SET_PDEATHSIG and
 * checks --parent-pid. PDEATHSIG fires when the *thread* that spawned the
 * child exits, not the process, so every worker is spawned by one runtime
 * thread that lives as long as the process; spawning from the calling
 * thread would kill the workers when, say, a pthread that made the first
 * call returns.
 *
 * Sick workers (issue 12, docs/failures.md). A worker is replaced, within
 * a bounded budget of restarts, when it died, when it is stopped (SIGSTOP:
 * it is SIGKILLed, never waited for), or when a call to it failed and it
 * does not answer GET /healthz. Two paths find them: a call that fails in
 * transport (tl_target_ops failed; the client gives up an attempt whose
 * worker fails its health check at the attempt deadline, tl_client.h),
 * and a watchdog thread that looks at every worker's process state ten
 * times a second and also refills a slot whose replacement failed to
 * start. Workers die with us even when stopped: their parent-death signal
 * is SIGKILL (tl_service_main.c), which a stopped process cannot hold
 * pending, and local_stop SIGKILLs stopped workers instead of waiting.
 */
#define _GNU_SOURCE   /* pipe2, asprintf, posix_spawn_file_actions_addclosefrom_np */
#include "tl_proc.h"
#include "tl_clock.h"
#include "tl_env.h"
#include "tl_target.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tl_build.h"
#include "tl_log.h"
#include "tl_tls.h"

extern char **environ;

#define TL_READY_FD 3          /* the fd number the worker sees            */
#define TL_STOP_GRACE_MS 3000  /* SIGTERM to SIGKILL                       */
#define TL_RESTARTS_PER_WORKER 4
#define TL_EXIT_GRACE_MS 20    /* a worker that dropped a call: is it exiting? */
#define TL_WATCH_MS 100        /* watchdog period                          */
#define TL_HEALTH_MS 1000      /* /healthz of a worker a call failed on    */

struct worker {
    pid_t pid;                 /* 0: not running                           */
    int pidfd;                 /* -1 when the kernel has no pidfd_open     */
    int ready;                 /* read end of the ready pipe while starting */
    unsigned port;
};

struct local {
    pthread_mutex_t lock;      /* workers, slots (writers), retired, budget */
    pid_t owner;               /* the process whose children the workers are */
    char *binary;
    char **envp;               /* ours with TURBOLIFT_TOKEN set to the token */
    char token[65];            /* made here when none is configured        */
    struct tl_tls_identity tls;  /* TURBOLIFT_TLS=1: the workers' certificate */
    const char *pin;           /* tls.pin, or NULL: plain HTTP             */
    struct worker *w;
    unsigned restarts_left;
    int stopped;
    pthread_t watchdog;
    int watching;              /* the watchdog thread runs                 */
    pthread_cond_t wake;       /* signalled by local_stop                  */
    struct tl_target *target;  /* for the watchdog                         */
    struct tl_endpoint *retired;   /* every endpoint ever published, freed
                                      never: a caller may still hold one */
};

/* ------------------------------------------------------------------ */
/* The spawner thread                                                   */

struct spawn_req {
    char **argv;
    char **envp;
    int ready_w;               /* write end of the ready pipe              */
    pid_t pid;
    int err;                   /* errno of posix_spawn                     */
    int done;
    struct spawn_req *next;
};

static pthread_mutex_t sp_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sp_work = PTHREAD_COND_INITIALIZER;
static pthread_cond_t sp_done = PTHREAD_COND_INITIALIZER;
static struct spawn_req *sp_queue;
static int sp_running;
static pthread_once_t sp_atfork_once = PTHREAD_ONCE_INIT;

/* A forked child has no spawner thread (only the forking thread survives
 * fork) and may have inherited sp_lock held: start from scratch. */
static void sp_after_fork_child(void)
{
    pthread_mutex_init(&sp_lock, NULL);
    pthread_cond_init(&sp_work, NULL);
    pthread_cond_init(&sp_done, NULL);
    sp_queue = NULL;
    sp_running = 0;
}

static void sp_register_atfork(void)
{
    pthread_atfork(NULL, NULL, sp_after_fork_child);
}

static int do_spawn(struct spawn_req *r)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int wfd = r->ready_w, dupfd = -1, rc;

    /* dup2(3, 3) would keep close-on-exec set: move the pipe off fd 3. */
    if (wfd == TL_READY_FD) {
        dupfd = fcntl(wfd, F_DUPFD_CLOEXEC, TL_READY_FD + 1);
        if (dupfd < 0)
            return errno;
        wfd = dupfd;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_adddup2(&fa, wfd, TL_READY_FD);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    /* The program's own descriptors are none of the worker's business. */
    posix_spawn_file_actions_addclosefrom_np(&fa, TL_READY_FD + 1);
#endif
    /* This thread blocks every signal; the worker must start with none
     * blocked and with default dispositions for the ones that stop it. */
    tl_proc_child_signals(&attr);
    rc = posix_spawn(&r->pid, r->argv[0], &fa, &attr, r->argv, r->envp);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    if (dupfd >= 0)
        close(dupfd);
    return rc;
}

static void *spawner(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&sp_lock);
    for (;;) {                 /* lives as long as the process, by design */
        struct spawn_req *r;

        while (sp_queue == NULL)
            pthread_cond_wait(&sp_work, &sp_lock);
        r = sp_queue;
        sp_queue = r->next;
        pthread_mutex_unlock(&sp_lock);
        r->err = do_spawn(r);
        pthread_mutex_lock(&sp_lock);
        r->done = 1;
        pthread_cond_broadcast(&sp_done);
    }
    return NULL;
}

static int spawn_worker(char **argv, char **envp, int ready_w, pid_t *pid)
{
    struct spawn_req r = { argv, envp, ready_w, 0, 0, 0, NULL };
    int rc = 0;

    pthread_once(&sp_atfork_once, sp_register_atfork);
    pthread_mutex_lock(&sp_lock);
    if (!sp_running) {
        sigset_t all, old;
        pthread_attr_t attr;
        pthread_t tid;

        /* Created with every signal blocked so that the program's signal
         * handlers never run on our thread. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        rc = pthread_create(&tid, &attr, spawner, NULL);
        pthread_attr_destroy(&attr);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc != 0) {
            pthread_mutex_unlock(&sp_lock);
            return rc;
        }
        sp_running = 1;
    }
    r.next = sp_queue;
    sp_queue = &r;
    pthread_cond_signal(&sp_work);
    while (!r.done)
        pthread_cond_wait(&sp_done, &sp_lock);
    pthread_mutex_unlock(&sp_lock);
    *pid = r.pid;
    return r.err;
}

/* ------------------------------------------------------------------ */
/* Workers                                                              */

static void describe_exit(int status, char *buf, size_t len)
{
    if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
}

/* Reap w if it has exited; 1 if it is gone (reason in why). */
static int worker_gone(struct worker *w, char *why, size_t len)
{
    int status;
    pid_t r;

    if (w->pid <= 0)
        return 1;
    r = waitpid(w->pid, &status, WNOHANG);
    if (r == 0)
        return 0;
    if (r == w->pid)
        describe_exit(status, why, len);
    else
        snprintf(why, len, "is gone (%s)", strerror(errno));
    if (w->pidfd >= 0)
        close(w->pidfd);
    w->pidfd = -1;
    w->pid = 0;
    return 1;
}

/* Like worker_gone, but give an exit in progress up to ms to finish: a
 * dying process closes its pipes and sockets before it can be reaped. */
static int worker_gone_within(struct worker *w, int ms, char *why, size_t len)
{
    if (worker_gone(w, why, len))
        return 1;
    if (w->pidfd >= 0) {
        struct pollfd p = { w->pidfd, POLLIN, 0 };
        poll(&p, 1, ms);   /* readable when the process exits */
    }
    return worker_gone(w, why, len);
}

static int worker_launch(struct local *l, struct worker *w, char *err, size_t errlen)
{
    char port[] = "0", readyfd[16], ppid[32];
    char *argv[] = { l->binary, "--port", port, "--bind", "127.0.0.1",
                     "--ready-fd", readyfd, "--parent-pid", ppid, NULL };
    int p[2], rc;

    snprintf(readyfd, sizeof readyfd, "%d", TL_READY_FD);
    snprintf(ppid, sizeof ppid, "%ld", (long)getpid());
    w->pid = 0;
    w->pidfd = -1;
    w->ready = -1;
    w->port = 0;
    if (pipe2(p, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    rc = spawn_worker(argv, l->envp, p[1], &w->pid);
    close(p[1]);            /* only the worker holds the write end now */
    if (rc != 0) {
        close(p[0]);
        w->pid = 0;
        snprintf(err, errlen, "cannot start %s: %s", l->binary, strerror(rc));
        return -1;
    }
    w->ready = p[0];
    /* The child is ours and unreaped, so its pid cannot be reused: the
     * pidfd refers to it for sure. Lets stop() wait with a bound. */
    w->pidfd = (int)syscall(SYS_pidfd_open, w->pid, 0);
    return 0;
}

/* Read the port each starting worker writes on its ready pipe. */
static int collect_ports(struct local *l, unsigned first, unsigned n, long deadline,
                         char *err, size_t errlen)
{
    struct pollfd pfd[n];
    char buf[n][16];
    size_t got[n];
    unsigned pending = n;

    for (unsigned i = 0; i < n; i++) {
        pfd[i].fd = l->w[first + i].ready;
        pfd[i].events = POLLIN;
        got[i] = 0;
    }
    while (pending > 0) {          /* each round consumes input or time */
        long left = deadline - tl_now_ms();
        int r;

        if (left <= 0) {
            snprintf(err, errlen, "%u worker(s) did not report a port in time", pending);
            return -1;
        }
        r = poll(pfd, n, (int)left);
        if (r < 0 && errno != EINTR) {
            snprintf(err, errlen, "poll: %s", strerror(errno));
            return -1;
        }
        for (unsigned i = 0; r > 0 && i < n; i++) {
            struct worker *w = &l->w[first + i];
            unsigned long port;
            char *end, why[128];
            ssize_t k;

            if (pfd[i].fd < 0 || pfd[i].revents == 0)
                continue;
            k = read(pfd[i].fd, buf[i] + got[i], sizeof buf[i] - 1 - got[i]);
            if (k < 0 && errno == EINTR)
                continue;
            if (k > 0)
                got[i] += (size_t)k;
            buf[i][got[i]] = '\0';
            if (k > 0 && strchr(buf[i], '\n') == NULL && got[i] < sizeof buf[i] - 1)
                continue;      /* a partial line: wait for the rest */
            if (k == 0 && got[i] == 0) {
                /* EOF without a port: it failed to start; say why. */
                if (!worker_gone_within(w, 1000, why, sizeof why))
                    snprintf(why, sizeof why, "closed its ready fd");
                snprintf(err, errlen, "worker %s %s before it was ready "
                         "(its messages are above)", l->binary, why);
                return -1;
            }
            port = strtoul(buf[i], &end, 10);
            if (end == buf[i] || port == 0 || port > 65535) {
                snprintf(err, errlen, "worker wrote '%s' on its ready fd, not a port",
                         buf[i]);
                return -1;
            }
            w->port = (unsigned)port;
            close(pfd[i].fd);
            w->ready = -1;
            pfd[i].fd = -1;          /* poll ignores negative fds */
            pending--;
        }
    }
    return 0;
}

/* Poll GET /readyz until 200 or the deadline. */
static int wait_ready(const struct local *l, struct worker *w, long deadline,
                      char *err, size_t errlen)
{
    char url[64], why[128], last[256] = "no answer";
    long pause = 1;

    snprintf(url, sizeof url, "%s://127.0.0.1:%u/readyz", l->pin ? "https" : "http",
             w->port);
    for (;;) {                /* bounded by the deadline */
        long left = deadline - tl_now_ms();
        long status;

        if (left <= 0) {
            snprintf(err, errlen, "worker %ld on port %u not ready in time: %s",
                     (long)w->pid, w->port, last);
            return -1;
        }
        status = tl_client_get_status_pinned(url, l->pin, left < 1000 ? left : 1000,
                                             last, sizeof last);
        if (status == 200)
            return 0;
        if (status != 0)
            snprintf(last, sizeof last, "GET /readyz answered %ld", status);
        if (worker_gone(w, why, sizeof why)) {
            snprintf(err, errlen, "worker on port %u %s", w->port, why);
            return -1;
        }
        tl_wait_ms(pause < left ? pause : left);
        pause = pause < 50 ? pause * 2 : 50;
    }
}

/* SIGTERM, a bounded wait, then SIGKILL. */
static void worker_stop(struct worker *w, long deadline)
{
    char why[128];
    int status;

    if (w->ready >= 0) {
        close(w->ready);
        w->ready = -1;
    }
    if (w->pid <= 0)
        return;
    while (!worker_gone(w, why, sizeof why)) {
        long left = deadline - tl_now_ms();

        if (left <= 0) {
            kill(w->pid, SIGKILL);
            while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
                ;
            break;
        }
        if (w->pidfd >= 0) {
            struct pollfd p = { w->pidfd, POLLIN, 0 };
            poll(&p, 1, (int)left);   /* readable when the process exits */
        } else {
            tl_wait_ms(left < 10 ? left : 10);   /* old kernels: poll by time */
        }
    }
    if (w->pidfd >= 0)
        close(w->pidfd);
    w->pidfd = -1;
    w->pid = 0;
}

/* 1 when the worker is stopped ('T', or 't' under a tracer): it will
 * answer nothing until someone continues it. */
static int worker_stopped(const struct worker *w)
{
    char path[64], buf[512], *p;
    size_t n;
    FILE *f;

    if (w->pid <= 0)
        return 0;
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)w->pid);
    if ((f = fopen(path, "r")) == NULL)
        return 0;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');       /* the name before it may hold anything */
    return p != NULL && p[1] == ' ' && (p[2] == 'T' || p[2] == 't');
}

/* SIGKILL and reap at once: a stopped process cannot delay SIGKILL. */
static void worker_kill(struct worker *w)
{
    int status;

    if (w->ready >= 0) {
        close(w->ready);
        w->ready = -1;
    }
    if (w->pid > 0) {
        kill(w->pid, SIGKILL);
        while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    if (w->pidfd >= 0)
        close(w->pidfd);
    w->pidfd = -1;
    w->pid = 0;
}

static void watchdog_start(struct tl_target *t);

/* Start workers [first, first + n) and publish their endpoints. */
static int start_workers(struct tl_target *t, unsigned first, unsigned n,
                         char *err, size_t errlen)
{
    struct local *l = t->priv;
    long deadline = tl_now_ms() + t->config->start_timeout_ms;
    unsigned i;

    for (i = 0; i < n; i++)
        if (worker_launch(l, &l->w[first + i], err, errlen) != 0)
            goto fail;
    if (collect_ports(l, first, n, deadline, err, errlen) != 0)
        goto fail;
    for (i = 0; i < n; i++)
        if (wait_ready(l, &l->w[first + i], deadline, err, errlen) != 0)
            goto fail;
    for (i = 0; i < n; i++) {
        char base[64];

        snprintf(base, sizeof base, "%s://127.0.0.1:%u", l->pin ? "https" : "http",
                 l->w[first + i].port);
        if (tl_endpoint_publish_pinned(&t->slots[first + i], &l->retired, base,
                                       t->manifest->function, l->pin) == NULL) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        tl_log_debug("%s: worker %ld listening on %s", t->manifest->function,
                     (long)l->w[first + i].pid, base);
    }
    return 0;
fail:
    for (i = 0; i < n; i++)
        worker_stop(&l->w[first + i], 0);   /* deadline passed: SIGKILL at once */
    return -1;
}

/* ------------------------------------------------------------------ */
/* The target interface                                                 */

/*
 * The service reads its token from TURBOLIFT_TOKEN, and its certificate
 * and key from TURBOLIFT_TLS_CERT and TURBOLIFT_TLS_KEY: our environment
 * with those set to token and (when cert is not NULL) cert and key, and
 * without them otherwise (a copy of the pointers; the other strings stay
 * environ's). The environment of a process is readable by its user only.
 */
static char **worker_env(const char *token, const char *cert, const char *key)
{
    static const char *const ours[] = { "TURBOLIFT_TOKEN=", "TURBOLIFT_TLS_CERT=",
                                         "TURBOLIFT_TLS_KEY=" };
    size_t n = 0, k = 0;
    char **env;

    while (environ[n] != NULL)
        n++;
    env = calloc(n + 4, sizeof *env);
    if (env == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        int skip = 0;
        for (size_t j = 0; j < sizeof ours / sizeof ours[0]; j++)
            skip |= strncmp(environ[i], ours[j], strlen(ours[j])) == 0;
        if (!skip)
            env[k++] = environ[i];
    }
    if (asprintf(&env[k++], "TURBOLIFT_TOKEN=%s", token) < 0 ||
        (cert != NULL && (asprintf(&env[k++], "TURBOLIFT_TLS_CERT=%s", cert) < 0 ||
                          asprintf(&env[k++], "TURBOLIFT_TLS_KEY=%s", key) < 0))) {
        free(env);             /* out of memory: what was made leaks */
        return NULL;
    }
    return env;
}

/* 32 random bytes as hex: the run's token when none is configured, so that
 * no other local user can call (or read the metrics of) our workers. */
static int new_token(char *out, size_t outlen, char *err, size_t errlen)
{
    unsigned char raw[32];
    size_t got = 0;

    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "getrandom: %s", strerror(errno));
            return -1;
        }
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof raw && 2 * i + 2 < outlen; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

static int local_prepare(struct tl_target *t, char *err, size_t errlen)
{
    const char *token;
    struct local *l;
    int hit;

    l = calloc(1, sizeof *l);
    if (l == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    pthread_mutex_init(&l->lock, NULL);
    l->owner = getpid();
    if (tl_build_service(t->manifest, t->config->start_timeout_ms, &l->binary, &hit,
                         &t->globals, err, errlen) != 0)
        goto fail;
    /* A token always: the configured one, or one made for this run. It
     * goes in the workers' environment (readable only by our user), never
     * on their command line (readable by everyone through ps). */
    token = t->config->token;
    if (token == NULL || token[0] == '\0') {
        if (new_token(l->token, sizeof l->token, err, errlen) != 0)
            goto fail;
        token = l->token;
        t->token = l->token;
    }
    /* TURBOLIFT_TLS=1: HTTPS to the workers, with a certificate made for
     * this function and run, pinned (tl_tls.h). */
    {
        unsigned long long tls = 0;

        if (tl_env_number("TURBOLIFT_TLS", 0, 1, &tls, err, errlen) != 0)
            goto fail;
        if (tls) {
            if (tl_tls_make(&l->tls, err, errlen) != 0)
                goto fail;
            l->pin = l->tls.pin;
        }
    }
    l->envp = worker_env(token, l->tls.cert_pem, l->tls.key_pem);
    if (l->envp == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    tl_log_debug("%s: service binary %s (%s)", t->manifest->function, l->binary,
                 hit ? "cached" : "linked now");
    t->priv = l;
    return 0;
fail:
    tl_tls_identity_clear(&l->tls);
    free(l->binary);
    pthread_mutex_destroy(&l->lock);
    free(l);
    return -1;
}

static int local_start(struct tl_target *t, char *err, size_t errlen)
{
    struct local *l = t->priv;
    unsigned n = (unsigned)t->config->replicas;

    l->w = calloc(n, sizeof *l->w);
    t->slots = calloc(n, sizeof *t->slots);
    if (l->w == NULL || t->slots == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (unsigned i = 0; i < n; i++) {
        l->w[i].pidfd = l->w[i].ready = -1;
        atomic_init(&t->slots[i], NULL);
    }
    l->restarts_left = n * TL_RESTARTS_PER_WORKER;
    pthread_mutex_lock(&l->lock);
    if (start_workers(t, 0, n, err, errlen) != 0) {
        pthread_mutex_unlock(&l->lock);
        return -1;
    }
    t->nslots = n;
    pthread_mutex_unlock(&l->lock);
    watchdog_start(t);
    tl_log_info("%s: %u local worker(s) ready", t->manifest->function, n);
    return 0;
}

/*
 * Slot i is empty (its worker gone): start a new one. A replacement that
 * fails to start (killed while starting, say) is tried again while the
 * budget lasts, so a slot is left empty only when the budget is spent.
 * Called with l->lock held.
 */
static void replace_worker(struct tl_target *t, unsigned i, const char *base,
                           const char *why)
{
    struct local *l = t->priv;
    char err[512];

    while (!l->stopped) {      /* each round spends one restart */
        if (l->restarts_left == 0) {
            tl_log_warn("%s: worker on %s %s; restart budget spent, not replacing it",
                        t->manifest->function, base, why);
            return;
        }
        l->restarts_left--;
        tl_log_warn("%s: worker on %s %s; starting a new one", t->manifest->function,
                    base, why);
        if (start_workers(t, i, 1, err, sizeof err) == 0)
            return;
        tl_log_warn("%s: could not start the replacement: %s", t->manifest->function, err);
        why = "failed to start";
    }
}

/* A worker a call just failed on but that is still there: stopped, or not
 * answering /healthz, means it is stuck (why says how). */
static int worker_stuck(struct worker *w, const struct tl_endpoint *ep,
                        char *why, size_t len)
{
    char url[96], reason[256] = "";
    long status;

    if (worker_stopped(w)) {
        snprintf(why, len, "is stopped (SIGSTOP or a debugger); killed it");
        return 1;
    }
    snprintf(url, sizeof url, "%.64s/healthz", ep->base);
    status = tl_client_get_status_pinned(url, ep->pin, TL_HEALTH_MS, reason, sizeof reason);
    if (status == 200)
        return 0;
    if (status != 0)
        snprintf(reason, sizeof reason, "it answered %ld", status);
    snprintf(why, len, "does not answer GET /healthz (%.200s); killed it", reason);
    return 1;
}

static void local_failed(struct tl_target *t, struct tl_endpoint *ep)
{
    struct local *l = t->priv;
    char why[320];

    /* A forked child calls its parent's workers but may not manage them:
     * they are not its children. */
    if (getpid() != l->owner)
        return;
    pthread_mutex_lock(&l->lock);
    for (unsigned i = 0; i < t->nslots && !l->stopped; i++) {
        if (atomic_load_explicit(&t->slots[i], memory_order_relaxed) != ep)
            continue;
        if (!worker_gone_within(&l->w[i], TL_EXIT_GRACE_MS, why, sizeof why)) {
            /* Alive: a slow or refused call, or a stuck worker. */
            if (!worker_stuck(&l->w[i], ep, why, sizeof why))
                break;
            worker_kill(&l->w[i]);
        }
        atomic_store_explicit(&t->slots[i], NULL, memory_order_release);
        replace_worker(t, i, ep->base, why);
        break;
    }
    pthread_mutex_unlock(&l->lock);
}

/*
 * The watchdog: ten times a second, a worker that died or is stopped is
 * replaced (a stopped one SIGKILLed first) without waiting for a call to
 * trip over it, and an empty slot is refilled while the budget lasts.
 */
static void *watchdog(void *arg)
{
    struct local *l = arg;
    struct tl_target *t = l->target;

    pthread_mutex_lock(&l->lock);
    while (!l->stopped) {      /* until local_stop */
        struct timespec until;

        for (unsigned i = 0; i < t->nslots && !l->stopped; i++) {
            struct tl_endpoint *ep = atomic_load_explicit(&t->slots[i],
                                                          memory_order_relaxed);
            const char *base = ep ? ep->base : "(empty slot)";
            char why[160];

            if (ep == NULL || worker_gone(&l->w[i], why, sizeof why)) {
                if (ep == NULL && l->restarts_left == 0)
                    continue;  /* said once, when the budget ran out */
                if (ep == NULL)
                    snprintf(why, sizeof why, "never came up");
            } else if (worker_stopped(&l->w[i])) {
                snprintf(why, sizeof why, "is stopped (SIGSTOP or a debugger); "
                         "killed it");
                worker_kill(&l->w[i]);
            } else {
                continue;
            }
            atomic_store_explicit(&t->slots[i], NULL, memory_order_release);
            replace_worker(t, i, base, why);
        }
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += TL_WATCH_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&l->wake, &l->lock, &until);
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

static void watchdog_start(struct tl_target *t)
{
    struct local *l = t->priv;
    pthread_condattr_t ca;
    sigset_t all, old;

    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->wake, &ca);
    pthread_condattr_destroy(&ca);
    l->target = t;
    /* No signal of the program's may run on our thread. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    l->watching = pthread_create(&l->watchdog, NULL, watchdog, l) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!l->watching)
        tl_log_warn("%s: no watchdog thread; stopped workers are found by calls only",
                    t->manifest->function);
}

static void local_stop(struct tl_target *t)
{
    struct local *l = t->priv;
    long deadline = tl_now_ms() + TL_STOP_GRACE_MS;

    if (l == NULL || getpid() != l->owner)
        return;            /* a forked child: the workers are the parent's */
    pthread_mutex_lock(&l->lock);
    if (!l->stopped) {
        l->stopped = 1;
        if (l->watching)
            pthread_cond_signal(&l->wake);
        for (unsigned i = 0; i < t->nslots; i++) {
            atomic_store_explicit(&t->slots[i], NULL, memory_order_release);
            /* A stopped worker would hold SIGTERM pending for ever. */
            if (worker_stopped(&l->w[i]))
                worker_kill(&l->w[i]);
            else if (l->w[i].pid > 0)
                kill(l->w[i].pid, SIGTERM);   /* all at once: they drain in parallel */
        }
        for (unsigned i = 0; i < t->nslots; i++)
            worker_stop(&l->w[i], deadline);
    }
    pthread_mutex_unlock(&l->lock);
    if (l->watching) {
        pthread_join(l->watchdog, NULL);
        l->watching = 0;
    }
}

const struct tl_target_ops tl_target_local = {
    .name = "local",
    .prepare = local_prepare,
    .start = local_start,
    .failed = local_failed,
    .stop = local_stop,
};
