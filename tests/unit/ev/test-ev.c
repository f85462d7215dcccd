/* Unit tests for dind/lib/ev: timers, deferred callbacks, fd watchers, signals, pidfd exits. */
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "dind/ev.h"
#include "tests/unit/unit.h"

static int order[8];
static int norder;

static void timer_rec(ev_timer *t, void *data)
{
    order[norder++] = (int)(intptr_t)data;
}

TEST(timers_fire_in_due_order)
{
    ev_loop *loop = ev_loop_new(NULL);
    ev_timer *a = ev_timer_add(loop, 30, 0, timer_rec, (void *)3);
    ev_timer *b = ev_timer_add(loop, 10, 0, timer_rec, (void *)1);
    ev_timer *c = ev_timer_add(loop, 20, 0, timer_rec, (void *)2);
    ev_timer *d = ev_timer_add(loop, 15, 0, timer_rec, (void *)9);
    ev_timer_del(d);
    while (norder < 3)
        ev_run_once(loop, -1);
    CHECK_EQ_INT(order[0], 1);
    CHECK_EQ_INT(order[1], 2);
    CHECK_EQ_INT(order[2], 3);
    ev_timer_del(a);
    ev_timer_del(b);
    ev_timer_del(c);
    ev_loop_free(loop);
}

static void repeat_cb(ev_timer *t, void *data)
{
    int *n = data;
    if (++*n == 3)
        ev_timer_del(t); /* deleting from inside its own callback is allowed */
}

TEST(repeating_timer_deletes_itself)
{
    ev_loop *loop = ev_loop_new(NULL);
    int n = 0;
    ev_timer_add(loop, 1, 1, repeat_cb, &n);
    while (n < 3)
        ev_run_once(loop, -1);
    ev_run_once(loop, 5);
    CHECK_EQ_INT(n, 3);
    ev_loop_free(loop);
}

static void defer_cb(void *data)
{
    order[norder++] = (int)(intptr_t)data;
}

TEST(deferred_callbacks_run_next_iteration_in_order)
{
    ev_loop *loop = ev_loop_new(NULL);
    norder = 0;
    ev_defer(loop, defer_cb, (void *)1);
    ev_defer(loop, defer_cb, (void *)2);
    CHECK_EQ_INT(norder, 0);
    ev_run_once(loop, 0);
    CHECK_EQ_INT(norder, 2);
    CHECK_EQ_INT(order[0], 1);
    CHECK_EQ_INT(order[1], 2);
    ev_loop_free(loop);
}

struct io_state {
    int reads;
    char buf[16];
};

static void io_cb(ev_io *w, int fd, unsigned events, void *data)
{
    struct io_state *s = data;
    if (events & EV_READ) {
        ssize_t n = read(fd, s->buf, sizeof(s->buf) - 1);
        if (n > 0)
            s->buf[n] = '\0';
        s->reads++;
        ev_io_del(w); /* safe inside its own callback */
    }
}

TEST(io_watcher_reports_readable)
{
    ev_loop *loop = ev_loop_new(NULL);
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    struct io_state s = {0};
    CHECK(ev_io_add(loop, sv[0], EV_READ, io_cb, &s, NULL) != NULL);
    CHECK(write(sv[1], "hi", 2) == 2);
    while (s.reads == 0)
        ev_run_once(loop, -1);
    CHECK_EQ_STR(s.buf, "hi");
    CHECK(write(sv[1], "again", 5) == 5);
    ev_run_once(loop, 10);
    CHECK_EQ_INT(s.reads, 1);
    close(sv[0]);
    close(sv[1]);
    ev_loop_free(loop);
}

static void sig_cb(ev_signal *s, int signo, void *data)
{
    *(int *)data = signo;
}

TEST(signal_delivered_through_signalfd)
{
    ev_loop *loop = ev_loop_new(NULL);
    int got = 0;
    ev_signal *s = ev_signal_add(loop, SIGUSR1, sig_cb, &got, NULL);
    CHECK(s != NULL);
    CHECK(ev_signal_add(loop, SIGUSR1, sig_cb, &got, NULL) == NULL);
    kill(getpid(), SIGUSR1);
    while (!got)
        ev_run_once(loop, -1);
    CHECK_EQ_INT(got, SIGUSR1);
    ev_signal_del(s);
    ev_loop_free(loop);
}

struct child_state {
    int calls;
    bool had_info;
    int code;
};

static void child_cb(ev_child *c, pid_t pid, const siginfo_t *info, void *data)
{
    struct child_state *s = data;
    s->calls++;
    s->had_info = info != NULL;
    s->code = ev_child_exit_code(info);
    ev_child_del(c);
}

TEST(child_exit_status_via_pidfd)
{
    ev_loop *loop = ev_loop_new(NULL);
    pid_t pid = fork();
    if (pid == 0)
        _exit(3);
    struct child_state s = {0};
    CHECK(ev_child_add(loop, pid, child_cb, &s, NULL) != NULL);
    while (!s.calls)
        ev_run_once(loop, -1);
    CHECK(s.had_info);
    CHECK_EQ_INT(s.code, 3);
    CHECK(waitpid(pid, NULL, WNOHANG) < 0); /* already reaped */
    ev_loop_free(loop);
}

TEST(child_killed_reports_128_plus_signal)
{
    ev_loop *loop = ev_loop_new(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        pause();
        _exit(0);
    }
    struct child_state s = {0};
    CHECK(ev_child_add(loop, pid, child_cb, &s, NULL) != NULL);
    kill(pid, SIGKILL);
    while (!s.calls)
        ev_run_once(loop, -1);
    CHECK_EQ_INT(s.code, 137);
    ev_loop_free(loop);
}

TEST(non_child_exit_is_reported_without_status)
{
    ev_loop *loop = ev_loop_new(NULL);
    int pidp[2], gate[2];
    CHECK(pipe(pidp) == 0 && pipe(gate) == 0);
    pid_t mid = fork();
    if (mid == 0) {
        pid_t g = fork();
        if (g == 0) {
            char c;
            close(gate[1]);
            (void)!read(gate[0], &c, 1); /* exits when the test closes the gate */
            _exit(0);
        }
        (void)!write(pidp[1], &g, sizeof(g));
        _exit(0);
    }
    pid_t grandchild;
    CHECK(read(pidp[0], &grandchild, sizeof(grandchild)) == sizeof(grandchild));
    waitpid(mid, NULL, 0);
    struct child_state s = {0};
    CHECK(ev_child_add(loop, grandchild, child_cb, &s, NULL) != NULL);
    close(gate[1]);
    close(gate[0]);
    close(pidp[0]);
    close(pidp[1]);
    while (!s.calls)
        ev_run_once(loop, -1);
    CHECK(!s.had_info);
    ev_loop_free(loop);
}

struct idle_state {
    ev_loop *loop;
    int idle_calls, ticks, reads;
    int fd;
};

static void idle_cb(void *data)
{
    struct idle_state *s = data;
    s->idle_calls++;
}

static void idle_tick(ev_timer *t, void *data)
{
    struct idle_state *s = data;
    if (++s->ticks == 12) /* ~240 ms: long after the idle period */
        ev_stop(s->loop);
}

static void idle_read(ev_io *w, int fd, unsigned events, void *data)
{
    struct idle_state *s = data;
    char c;
    if (read(fd, &c, 1) == 1)
        s->reads++;
}

/* The idle callback runs once per quiet period after fd activity, and a periodic timer alone
 * neither triggers it again nor keeps it from running. */
TEST(idle_callback_once_after_io_despite_periodic_timer)
{
    struct idle_state s = {0};
    int p[2];
    CHECK(pipe(p) == 0);
    s.loop = ev_loop_new(NULL);
    ev_io *w = ev_io_add(s.loop, p[0], EV_READ, idle_read, &s, NULL);
    ev_timer *t = ev_timer_add(s.loop, 20, 20, idle_tick, &s);
    ev_set_idle(s.loop, 50, idle_cb, &s);
    CHECK(write(p[1], "x", 1) == 1);
    CHECK_EQ_INT(ev_run(s.loop), 0);
    CHECK_EQ_INT(s.reads, 1);
    CHECK_EQ_INT(s.idle_calls, 1);
    ev_io_del(w);
    ev_timer_del(t);
    ev_loop_free(s.loop);
    close(p[0]);
    close(p[1]);
}

static void child_keep_cb(ev_child *c, pid_t pid, const siginfo_t *info, void *data)
{
    struct child_state *s = data;
    s->calls++;
    s->had_info = info != NULL;
    s->code = ev_child_exit_code(info);
    /* not deleted here: the owner may keep it until its streams are done */
}

/* A reaped child's pidfd keeps reporting EPOLLHUP: a watcher kept after its callback must not
 * call it again (a second waitid would fail and turn a known status into an unknown one). */
TEST(child_watcher_kept_after_exit_is_called_once)
{
    ev_loop *loop = ev_loop_new(NULL);
    pid_t pid = fork();
    if (pid == 0)
        _exit(7);
    struct child_state s = {0};
    ev_child *c = ev_child_add(loop, pid, child_keep_cb, &s, NULL);
    CHECK(c != NULL);
    while (!s.calls)
        ev_run_once(loop, -1);
    for (int i = 0; i < 5; i++)
        ev_run_once(loop, 10);
    CHECK_EQ_INT(s.calls, 1);
    CHECK(s.had_info);
    CHECK_EQ_INT(s.code, 7);
    ev_child_del(c);
    ev_loop_free(loop);
}
