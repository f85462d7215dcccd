/* health: the monitors that probe running containers (health.h has the behaviour). One monitor
 * per running container with a check: an interval timer; when it fires, one probe process
 * through rt_exec whose output pipes, exit (pidfd) and deadline are watched by the event loop.
 * The result is applied with health_apply() (health-state.c), persisted with the container's
 * record, and announced with events. A monitor stopped while its probe runs (the container
 * exited or was removed) kills the probe and is freed once the probe has been reaped; its result
 * is dropped. This file does not know the HTTP side: inspect and ps read c->health.
 */
#include <signal.h>

#include "container-internal.h"
#include "dind/ev.h"
#include "dind/json.h"
#include "dind/rt.h"
#include "events.h"
#include "health.h"

struct health_mon {
    struct health_mon *next;
    struct container *c; /* referenced */
    ev_loop *loop;
    struct health_config cfg;
    ev_timer *tick;
    bool stopped; /* the container stopped: drop the probe's result, free after the reap */

    /* the probe in flight */
    bool probing;
    char exec_id[65];
    int64_t start_ns;
    struct rt_exec_result io;
    ev_child *child;
    ev_io *out_w, *err_w;
    ev_timer *deadline;
    bool timed_out;
    dd_buf out;
    bool truncated;
};

static struct health_mon *mons;

static struct health_mon *mon_find(const struct container *c)
{
    for (struct health_mon *m = mons; m; m = m->next)
        if (m->c == c && !m->stopped)
            return m;
    return NULL;
}

static void mon_free(struct health_mon *m)
{
    for (struct health_mon **p = &mons; *p; p = &(*p)->next) {
        if (*p == m) {
            *p = m->next;
            break;
        }
    }
    ev_timer_del(m->tick);
    ev_timer_del(m->deadline);
    ev_io_del(m->out_w);
    ev_io_del(m->err_w);
    ev_child_del(m->child);
    rt_exec_result_close(&m->io);
    health_config_release(&m->cfg);
    dd_buf_release(&m->out);
    ctr_unref(m->c);
    free(m);
}

static void mon_free_deferred(void *data)
{
    mon_free(data);
}

static char *cmd_line(const struct health_mon *m)
{
    dd_buf b = DD_BUF_INIT;
    for (char **a = m->cfg.cmd; *a; a++) {
        if (a != m->cfg.cmd)
            dd_buf_addc(&b, ' ');
        dd_buf_adds(&b, *a);
    }
    char *s = dd_buf_detach(&b, NULL);
    return s ? s : dd_strdup("");
}

static void emit_exec(struct health_mon *m, const char *what, json_t *extra)
{
    _cleanup_free_ char *line = cmd_line(m);
    _cleanup_free_ char *action = dd_asprintf("%s: %s", what, line);
    if (!extra)
        extra = json_object();
    jx_set_str(extra, "execID", m->exec_id);
    events_emit_container(m->c, dd_streq(what, "exec_die") ? what : action, extra);
}

static void collect(struct health_mon *m, const char *data, size_t n)
{
    size_t room = m->out.len < HEALTH_MAX_OUTPUT ? HEALTH_MAX_OUTPUT - m->out.len : 0;
    if (n > room) {
        m->truncated = true;
        n = room;
    }
    dd_buf_add(&m->out, data, n);
}

/* Reads what fd has now; true at EOF or error. */
static bool pump(struct health_mon *m, int fd)
{
    char buf[8192];
    for (int i = 0; i < 64; i++) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0) {
            collect(m, buf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        return !(n < 0 && errno == EAGAIN);
    }
    return false;
}

static void on_output(ev_io *w, int fd, unsigned events, void *data)
{
    struct health_mon *m = data;
    if (!pump(m, fd))
        return;
    ev_io_del(w);
    if (w == m->out_w)
        m->out_w = NULL;
    else
        m->err_w = NULL;
}

static void schedule(struct health_mon *m);

static void record(struct health_mon *m, const struct health_result *r)
{
    struct container *c = m->c;
    if (!c->health)
        c->health = health_reset(NULL);
    if (!health_apply(c->health, &m->cfg, r, c->st.started_ns))
        return; /* like dockerd: the log alone is written with the record's next save */
    _cleanup_free_ char *action = dd_asprintf("health_status: %s", health_status(c->health));
    events_emit_container(c, action, NULL);
    dd_err e = {0};
    if (ctr_save(c->priv->store, c, &e) < 0)
        dd_warn("container %.12s: saving its health: %s", c->id, e.msg);
}

static void probe_done(struct health_mon *m, int code)
{
    char tb[32];
    _cleanup_free_ char *out = NULL;
    dd_buf_addc(&m->out, '\0');
    m->out.len--;
    if (m->timed_out) {
        health_go_duration(m->cfg.timeout_ns, tb, sizeof(tb));
        out = m->out.len ? dd_asprintf("Health check exceeded timeout (%s): %s%s", tb, m->out.data,
                                       m->truncated ? "..." : "")
                         : dd_asprintf("Health check exceeded timeout (%s)", tb);
    } else {
        out = dd_asprintf("%s%s", m->out.len ? m->out.data : "", m->truncated ? "..." : "");
    }
    struct health_result r = {.start_ns = m->start_ns,
                              .end_ns = dd_now_ns(),
                              .exit_code = m->timed_out ? -1 : code,
                              .output = out};
    record(m, &r);
}

static void on_probe_exit(ev_child *w, pid_t pid, const siginfo_t *info, void *data)
{
    struct health_mon *m = data;
    int code = info ? ev_child_exit_code(info) : -1;
    for (int i = 0; i < 2; i++) {
        int fd = i ? m->io.stderr_fd : m->io.stdout_fd;
        if (fd >= 0 && (i ? m->err_w : m->out_w)) {
            dd_set_nonblock(fd, true);
            pump(m, fd);
        }
    }
    char buf[16];
    snprintf(buf, sizeof(buf), "%d", code);
    json_t *extra = json_object();
    jx_set_str(extra, "exitCode", buf);
    emit_exec(m, "exec_die", extra);
    ev_io_del(m->out_w);
    ev_io_del(m->err_w);
    m->out_w = m->err_w = NULL;
    ev_timer_del(m->deadline);
    m->deadline = NULL;
    ev_child_del(m->child); /* safe in its own callback */
    m->child = NULL;
    rt_exec_result_close(&m->io);
    m->probing = false;
    if (m->stopped) {
        ev_defer(m->loop, mon_free_deferred, m);
        return;
    }
    probe_done(m, code);
    dd_buf_reset(&m->out);
    m->truncated = m->timed_out = false;
    schedule(m);
}

static void on_deadline(ev_timer *t, void *data)
{
    struct health_mon *m = data;
    m->timed_out = true;
    if (m->io.pid > 0)
        kill(m->io.pid, SIGKILL); /* our unreaped child: the pid cannot have been reused */
}

/* A probe that could not start counts as a failure with the runtime's message. */
static void probe_failed(struct health_mon *m, const char *msg)
{
    _cleanup_free_ char *out = dd_asprintf("OCI runtime exec failed: %s: unknown", msg);
    json_t *extra = json_object();
    jx_set_str(extra, "exitCode", "126");
    emit_exec(m, "exec_die", extra);
    struct health_result r = {
        .start_ns = m->start_ns, .end_ns = dd_now_ns(), .exit_code = -1, .output = out};
    record(m, &r);
    schedule(m);
}

static void fill_process(const struct health_mon *m, struct rt_process *p)
{
    const struct container *c = m->c;
    memset(p, 0, sizeof(*p));
    p->args = dd_strv_copy(m->cfg.cmd);
    p->env = dd_strv_copy(c->env);
    p->cwd = dd_strdup(c->working_dir && *c->working_dir ? c->working_dir : "/");
    p->user = dd_strdup(c->user ? c->user : "");
}

static int watch_probe(struct health_mon *m, dd_err *e)
{
    int pidfd = m->io.pidfd;
    m->io.pidfd = -1;
    m->child = ev_child_add_pidfd(m->loop, pidfd, m->io.pid, on_probe_exit, m, e);
    if (!m->child)
        return -1;
    if (m->io.stdout_fd >= 0) {
        dd_set_nonblock(m->io.stdout_fd, true);
        m->out_w = ev_io_add(m->loop, m->io.stdout_fd, EV_READ, on_output, m, e);
    }
    if (m->io.stderr_fd >= 0) {
        dd_set_nonblock(m->io.stderr_fd, true);
        m->err_w = ev_io_add(m->loop, m->io.stderr_fd, EV_READ, on_output, m, e);
    }
    if ((m->io.stdout_fd >= 0 && !m->out_w) || (m->io.stderr_fd >= 0 && !m->err_w))
        return -1;
    m->deadline = ev_timer_add(m->loop, (uint64_t)((m->cfg.timeout_ns + 999999) / 1000000), 0,
                               on_deadline, m);
    return 0;
}

static void probe_start(struct health_mon *m)
{
    struct container *c = m->c;
    dd_err e = {0};
    dd_random_hex(m->exec_id, 32);
    m->start_ns = dd_now_ns();
    emit_exec(m, "exec_create", NULL);
    struct rt_process proc;
    fill_process(m, &proc);
    m->io.pidfd = m->io.stdin_fd = m->io.stdout_fd = m->io.stderr_fd = -1;
    int r = rt_exec(c->state_dir, &proc, &m->io, &e);
    rt_process_release(&proc);
    if (r < 0) {
        probe_failed(m, e.msg);
        return;
    }
    emit_exec(m, "exec_start", NULL);
    m->probing = true;
    if (watch_probe(m, &e) < 0) {
        /* Cannot watch it: kill it; the pidfd watcher (if any) still reaps it. */
        dd_warn("container %.12s: watching its health probe: %s", c->id, e.msg);
        kill(m->io.pid, SIGKILL);
        if (!m->child) {
            m->probing = false;
            rt_exec_result_close(&m->io);
            probe_failed(m, e.msg);
        }
    }
}

static void on_tick(ev_timer *t, void *data)
{
    struct health_mon *m = data;
    if (m->probing)
        return;
    if (m->c->st.status != CTR_RUNNING) { /* paused: no probes until unpaused */
        schedule(m);
        return;
    }
    probe_start(m);
}

static void schedule(struct health_mon *m)
{
    int64_t since = dd_now_ns() - m->c->st.started_ns;
    int64_t ns = health_next_delay(&m->cfg, m->c->health, since < 0 ? 0 : since);
    uint64_t ms = (uint64_t)((ns + 999999) / 1000000);
    if (!m->tick)
        m->tick = ev_timer_add(m->loop, ms, 0, on_tick, m);
    else
        ev_timer_reset(m->tick, ms);
}

static void mon_stop(struct health_mon *m)
{
    m->stopped = true;
    ev_timer_del(m->tick);
    m->tick = NULL;
    if (m->probing) {
        kill(m->io.pid, SIGKILL); /* freed once reaped (on_probe_exit) */
        return;
    }
    mon_free(m);
}

static void mon_start(struct container *c, bool keep_state)
{
    struct health_config cfg;
    health_config_get(c->config, &cfg);
    if (cfg.kind == HEALTH_NONE) {
        health_config_release(&cfg);
        return;
    }
    struct health_mon *old = mon_find(c);
    if (old)
        mon_stop(old);
    if (!keep_state || !c->health) {
        json_t *h = health_reset(c->health);
        json_decref(c->health);
        c->health = h;
        dd_err e = {0};
        if (ctr_save(c->priv->store, c, &e) < 0)
            dd_warn("container %.12s: saving its health: %s", c->id, e.msg);
    }
    struct health_mon *m = dd_calloc(1, sizeof(*m));
    m->c = ctr_ref(c);
    m->loop = ctr_store_loop(c->priv->store);
    m->cfg = cfg;
    m->io.pidfd = m->io.stdin_fd = m->io.stdout_fd = m->io.stderr_fd = -1;
    m->next = mons;
    mons = m;
    schedule(m);
}

void health_on_change(struct container *c, enum ctr_change what)
{
    if (what == CTR_CHANGE_STARTED) {
        mon_start(c, false);
        return;
    }
    struct health_mon *m = mon_find(c);
    if (m)
        mon_stop(m);
}

void health_resume(struct ctr_store *s)
{
    size_t n = 0;
    struct container **v = ctr_list(s, &n);
    for (size_t i = 0; i < n; i++)
        if (ctr_is_running(v[i]) && !mon_find(v[i]))
            mon_start(v[i], true);
    free(v);
}

void health_shutdown(void)
{
    while (mons) {
        struct health_mon *m = mons;
        if (m->probing && m->io.pid > 0)
            kill(m->io.pid, SIGKILL);
        mon_free(m);
    }
}
