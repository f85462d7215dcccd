/* Signals through one signalfd per loop: a handled signal is blocked in the thread's mask and read
 * from the fd on the loop, so handlers run as ordinary callbacks (no async-signal-safety rules). */
#include <sys/signalfd.h>

#include "ev-internal.h"

static void on_sigfd(ev_io *w, int fd, unsigned events, void *data)
{
    ev_loop *loop = data;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        int signo = (int)si.ssi_signo;
        if (signo > 0 && signo < (int)DD_ARRAY_SIZE(loop->signals) && loop->signals[signo]) {
            ev_signal *s = loop->signals[signo];
            s->fn(s, signo, s->data);
        }
    }
}

static int update_sigfd(ev_loop *loop, dd_err *e)
{
    int fd = signalfd(loop->sigfd, &loop->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return dd_err_sys(e, "signalfd");
    if (loop->sigfd < 0) {
        loop->sigfd = fd;
        loop->sigw = ev_io_add(loop, fd, EV_READ, on_sigfd, loop, e);
        if (!loop->sigw) {
            close(fd);
            loop->sigfd = -1;
            return -(e ? e->code : EINVAL);
        }
    }
    return 0;
}

ev_signal *ev_signal_add(ev_loop *loop, int signo, ev_signal_fn fn, void *data, dd_err *e)
{
    if (signo <= 0 || signo >= (int)DD_ARRAY_SIZE(loop->signals)) {
        dd_err_set(e, EINVAL, "invalid signal number %d", signo);
        return NULL;
    }
    if (loop->signals[signo]) {
        dd_err_set(e, EEXIST, "signal %d already has a handler", signo);
        return NULL;
    }
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, signo);
    sigaddset(&loop->sigmask, signo);
    if (pthread_sigmask(SIG_BLOCK, &one, NULL) != 0 || update_sigfd(loop, e) < 0) {
        sigdelset(&loop->sigmask, signo);
        if (e && !e->code)
            dd_err_set(e, EINVAL, "blocking signal %d", signo);
        return NULL;
    }
    ev_signal *s = dd_calloc(1, sizeof(*s));
    s->loop = loop;
    s->signo = signo;
    s->fn = fn;
    s->data = data;
    loop->signals[signo] = s;
    return s;
}

void ev_signal_del(ev_signal *s)
{
    if (!s)
        return;
    ev_loop *loop = s->loop;
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, s->signo);
    sigdelset(&loop->sigmask, s->signo);
    loop->signals[s->signo] = NULL;
    if (loop->sigfd >= 0)
        signalfd(loop->sigfd, &loop->sigmask, 0);
    pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    /* Handlers may delete themselves while on_sigfd iterates; freeing later keeps that safe. */
    ev_defer(loop, free, s);
}

void ev_signals_free_all(ev_loop *loop)
{
    for (size_t i = 0; i < DD_ARRAY_SIZE(loop->signals); i++)
        if (loop->signals[i])
            ev_signal_del(loop->signals[i]);
    if (loop->sigfd >= 0) {
        ev_io_del(loop->sigw);
        close(loop->sigfd);
        loop->sigfd = -1;
    }
}
