/* Process exits through pidfds: the pidfd becomes readable when the process exits. For our own
 * children waitid(P_PIDFD) reaps them and yields the status; for anyone else's process (or one a
 * different waiter reaped) only the fact of the exit is reported. */
#include <sys/syscall.h>
#include <sys/wait.h>

#include "ev-internal.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

struct ev_child {
    ev_loop *loop;
    ev_io *io;
    int pidfd;
    pid_t pid;
    bool done;
    ev_child_fn fn;
    void *data;
};

static void child_free(void *p)
{
    ev_child_del(p);
}

static void on_pidfd(ev_io *w, int fd, unsigned events, void *data)
{
    ev_child *c = data;
    /* Once reaped, a pidfd reports EPOLLHUP even with no interest (ev.h): the watcher stays
     * silent until ev_child_del, or a second waitid would fail and report "status unknown". */
    if (c->done)
        return;
    siginfo_t info = {0};
    int r = waitid((idtype_t)P_PIDFD, (id_t)fd, &info, WEXITED | WNOHANG);
    if (r == 0 && info.si_pid == 0)
        return; /* spurious: our child, not exited yet */
    c->done = true;
    ev_io_set(c->io, 0);
    c->fn(c, c->pid, r == 0 ? &info : NULL, c->data);
}

ev_child *ev_child_add_pidfd(ev_loop *loop, int pidfd, pid_t pid, ev_child_fn fn, void *data,
                             dd_err *e)
{
    ev_child *c = dd_calloc(1, sizeof(*c));
    c->loop = loop;
    c->pidfd = pidfd;
    c->pid = pid;
    c->fn = fn;
    c->data = data;
    c->io = ev_io_add(loop, pidfd, EV_READ, on_pidfd, c, e);
    if (!c->io) {
        close(pidfd);
        free(c);
        return NULL;
    }
    c->io->owner = c;
    c->io->owner_free = child_free;
    return c;
}

ev_child *ev_child_add(ev_loop *loop, pid_t pid, ev_child_fn fn, void *data, dd_err *e)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0) {
        dd_err_sys(e, "pidfd_open(%d)", (int)pid);
        return NULL;
    }
    dd_set_cloexec(fd, true);
    return ev_child_add_pidfd(loop, fd, pid, fn, data, e);
}

void ev_child_del(ev_child *c)
{
    if (!c)
        return;
    ev_io_del(c->io);
    close(c->pidfd);
    c->pidfd = -1;
    /* The io watcher is freed after the batch; the child record can go after the iteration. */
    ev_defer(c->loop, free, c);
}

int ev_child_pidfd(const ev_child *c)
{
    return c->pidfd;
}

int ev_child_exit_code(const siginfo_t *info)
{
    if (!info)
        return -1;
    if (info->si_code == CLD_EXITED)
        return info->si_status;
    return 128 + info->si_status;
}
