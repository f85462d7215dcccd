/* The built-in init (HostConfig.Init, tini's role) for containers whose process does not reap
 * orphans or handle signals as PID 1. It is the container child itself after a fork, so no
 * binary has to exist in the image: it forwards every catchable signal to the real process,
 * reaps every zombie, and when the process exits, exits the same way (its code, or 128+signal
 * as tini does). Signals sent to a namespace's PID 1 from outside are only delivered when a
 * handler is installed, hence the no-op handlers before the signals are blocked and waited for. */
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/close_range.h>

#include "dind/lib/rt/rt-internal.h"

static void noop(int sig)
{
    (void)sig;
}

void rt_init_run(pid_t child)
{
    syscall(SYS_close_range, 3, ~0U, 0);
    sigset_t all;
    sigfillset(&all);
    struct sigaction sa = {.sa_handler = noop};
    for (int sig = 1; sig < SIGRTMIN; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &sa, NULL);
    sigprocmask(SIG_BLOCK, &all, NULL);
    int status = 0;
    bool done = false;
    while (!done) {
        siginfo_t si;
        int sig = sigwaitinfo(&all, &si);
        if (sig < 0)
            continue;
        if (sig != SIGCHLD) {
            /* Job-control stops of the init itself make no sense; forward everything. */
            kill(child, sig);
            continue;
        }
        for (;;) {
            int st = 0;
            pid_t p = waitpid(-1, &st, WNOHANG);
            if (p <= 0)
                break;
            if (p == child) {
                status = st;
                done = true;
            }
        }
    }
    /* Orphans still running die with the namespace when we exit; reap what already exited. */
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    if (WIFSIGNALED(status))
        _exit(128 + WTERMSIG(status));
    _exit(WEXITSTATUS(status));
}
