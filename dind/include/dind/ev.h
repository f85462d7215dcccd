/* ev: one epoll event loop per process (redis ae.h in spirit). Prefix: ev_.
 *
 * A loop watches file descriptors, runs one-shot and repeating timers on the monotonic clock,
 * delivers signals through a signalfd, reports process exits through pidfds, and runs deferred
 * callbacks on the next iteration. Everything runs on the thread that calls ev_run(); nothing in
 * this module is thread-safe.
 *
 * Lifetime rules (the reason this module exists):
 *   - Every watcher (ev_io, ev_timer, ev_signal, ev_child) is allocated by its *_add() function and
 *     released by its *_del() function. *_del() may be called from anywhere, including the
 * watcher's own callback: the watcher stops firing at once and its memory is freed later by the
 * loop.
 *   - Never free *your own* object (a connection, a container record) inside a callback that the
 *     object's watcher is running: queue the free with ev_defer(), which runs after the current
 *     callbacks have returned.
 *   - *_del() never closes the fd you passed to ev_io_add(); the caller owns it.
 * ev_child_add_pidfd() is the exception: it takes ownership of the pidfd and ev_child_del() closes
 * it.
 *
 * Typical use:
 *     ev_loop *loop = ev_loop_new(&err);
 *     ev_io *w = ev_io_add(loop, fd, EV_READ, on_readable, obj, &err);
 *     ev_signal_add(loop, SIGTERM, on_term, loop, &err);   // on_term calls ev_stop(loop)
 *     ev_run(loop);
 *     ev_loop_free(loop);
 */
#ifndef DIND_EV_H
#define DIND_EV_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "dind/base.h"

typedef struct ev_loop ev_loop;
typedef struct ev_io ev_io;
typedef struct ev_timer ev_timer;
typedef struct ev_signal ev_signal;
typedef struct ev_child ev_child;

/* Interest and readiness bits for ev_io. EV_HUP is only ever reported, never requested: the fd is
 * hung up or in error (EPOLLHUP/EPOLLERR), e.g. a socket whose peer is fully gone or a pipe whose
 * writers all closed. epoll reports it even with interest 0 and keeps reporting it, so on EV_HUP
 * read what is left and then stop watching (or close). A peer's half-close (shutdown(SHUT_WR)) is
 * not EV_HUP: it shows as EV_READ with read() returning 0. */
enum {
    EV_READ = 1u << 0,
    EV_WRITE = 1u << 1,
    EV_HUP = 1u << 2,
};

/* ---- the loop ---- */

/* Creates a loop (an epoll fd, close-on-exec). Returns NULL and fills e on failure. */
ev_loop *ev_loop_new(dd_err *e);
/* Frees the loop and every watcher still registered (their callbacks are not called), after
 * running pending deferred callbacks. Safe with NULL. Must not be called from inside ev_run(). */
void ev_loop_free(ev_loop *loop);
/* Dispatches events until ev_stop() is called. Returns 0 after ev_stop(), or a negative errno if
 * epoll_wait fails for a reason other than EINTR. */
int ev_run(ev_loop *loop);
/* Runs one iteration: deferred callbacks, then waits at most timeout_ms (-1 = until something
 * happens, 0 = poll) and dispatches what is ready. Returns the number of callbacks run, or a
 * negative errno. Useful in tests that drive the loop step by step. */
int ev_run_once(ev_loop *loop, int timeout_ms);
/* Calls fn(data) from ev_run() once no fd event has arrived for idle_ms after some did (once per
 * quiet period, not repeatedly; timers alone do not count as activity): e.g. to give freed
 * memory back to the system. fn NULL removes it. */
void ev_set_idle(ev_loop *loop, int idle_ms, void (*fn)(void *data), void *data);
/* Makes ev_run() return after the current iteration. Callable from any callback. */
void ev_stop(ev_loop *loop);
/* The loop's idea of now, in monotonic milliseconds, refreshed at each iteration. */
uint64_t ev_now_ms(ev_loop *loop);

/* ---- file descriptors ---- */

/* events: the ready bits (EV_READ / EV_WRITE / EV_HUP). */
typedef void (*ev_io_fn)(ev_io *w, int fd, unsigned events, void *data);

/* Watches fd (level-triggered) for `interest` (EV_READ | EV_WRITE, or 0 to register it paused).
 * The fd should be non-blocking. Returns NULL and fills e on failure (e.g. fd already watched). */
ev_io *ev_io_add(ev_loop *loop, int fd, unsigned interest, ev_io_fn fn, void *data, dd_err *e);
/* Changes the interest set (0 pauses the watcher without removing it). Returns 0 or -errno. */
int ev_io_set(ev_io *w, unsigned interest);
unsigned ev_io_interest(const ev_io *w);
/* Stops watching; the fd stays open. Safe inside the watcher's own callback and with NULL. */
void ev_io_del(ev_io *w);

/* ---- timers (monotonic clock, millisecond resolution) ---- */

typedef void (*ev_timer_fn)(ev_timer *t, void *data);

/* Fires once after after_ms, then every repeat_ms if repeat_ms > 0. A one-shot timer stays
 * allocated after it fired (re-arm it with ev_timer_reset()) until ev_timer_del(). Never fails. */
ev_timer *ev_timer_add(ev_loop *loop, uint64_t after_ms, uint64_t repeat_ms, ev_timer_fn fn,
                       void *data);
/* Re-arms the timer to fire after_ms from now (keeps its repeat interval). */
void ev_timer_reset(ev_timer *t, uint64_t after_ms);
/* Disarms the timer without freeing it. */
void ev_timer_stop(ev_timer *t);
/* Disarms and frees (later). Safe inside its own callback and with NULL. */
void ev_timer_del(ev_timer *t);

/* ---- signals (one signalfd per loop) ---- */

typedef void (*ev_signal_fn)(ev_signal *s, int signo, void *data);

/* Blocks signo in the calling thread's mask and delivers it to fn through the loop's signalfd.
 * One handler per signal number (-EEXIST otherwise). ev_signal_del() unblocks it again.
 * The blocked mask is inherited across fork() and execve(): a child that runs other programs must
 * reset it (sigprocmask(SIG_SETMASK, empty)) before exec, as rt does for containers. */
ev_signal *ev_signal_add(ev_loop *loop, int signo, ev_signal_fn fn, void *data, dd_err *e);
void ev_signal_del(ev_signal *s);

/* ---- process exits (pidfd) ---- */

/* Called once when the process has exited. `info` is the reaped child's status from
 * waitid(P_PIDFD, ..., WEXITED) when the process was our child (info->si_code is CLD_EXITED,
 * CLD_KILLED or CLD_DUMPED, info->si_status the exit code or signal). It is NULL when the process
 * was not our child (or was reaped by someone else): only the fact that it exited is known.
 * After the callback the watcher is inert; release it with ev_child_del(). */
typedef void (*ev_child_fn)(ev_child *c, pid_t pid, const siginfo_t *info, void *data);

/* Opens a pidfd for pid and watches it. -ESRCH in e if the process is already gone. */
ev_child *ev_child_add(ev_loop *loop, pid_t pid, ev_child_fn fn, void *data, dd_err *e);
/* Watches a pidfd the caller already has (e.g. from clone3 CLONE_PIDFD); takes ownership of it
 * even on failure. */
ev_child *ev_child_add_pidfd(ev_loop *loop, int pidfd, pid_t pid, ev_child_fn fn, void *data,
                             dd_err *e);
/* Stops watching and closes the pidfd; does not reap or signal. Safe in its own callback. */
void ev_child_del(ev_child *c);
/* The pidfd (e.g. for pidfd_send_signal); stays valid until ev_child_del(). */
int ev_child_pidfd(const ev_child *c);
/* Docker's exit-code convention for a status: the exit code, or 128 + signal number. */
int ev_child_exit_code(const siginfo_t *info);

/* ---- deferred callbacks ---- */

typedef void (*ev_defer_fn)(void *data);

/* Runs fn(data) at the start of the next loop iteration, in the order queued. This is the safe way
 * to free an object from inside one of its own callbacks, or to continue work without recursion. */
void ev_defer(ev_loop *loop, ev_defer_fn fn, void *data);

/* Runs every deferred callback now, including those queued meanwhile, and nothing else (no fd,
 * timer or signal dispatch). For shutdown: objects freed by deferred callbacks (closed
 * connections) are gone before the state they point into is released. */
void ev_run_deferred(ev_loop *loop);

#endif
