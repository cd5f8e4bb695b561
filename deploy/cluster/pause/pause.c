/* pause: the pod sandbox process of the local test cluster.
 *
 * It holds the pod's namespaces open by existing, reaps any zombie it inherits
 * (it is PID 1 when the pod shares one PID namespace) and exits cleanly on
 * SIGINT or SIGTERM.  Built static, so the image needs nothing else.
 *
 * MIT License, Turbolift for C authors. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig) { stop_signal = sig; }

static void on_child(int sig)
{
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

static int install(int sig, void (*fn)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    return sigaction(sig, &sa, NULL);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        puts("turbolift-pause 1");
        return 0;
    }
    if (getpid() != 1)
        fputs("pause: warning: not PID 1\n", stderr);
    if (install(SIGINT, on_stop) || install(SIGTERM, on_stop) ||
        install(SIGCHLD, on_child)) {
        perror("pause: sigaction");
        return 1;
    }
    while (!stop_signal)
        pause();
    fprintf(stderr, "pause: shutting down on signal %d\n", (int)stop_signal);
    return 0;
}
