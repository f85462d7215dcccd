/* Exec instances: their records and the four endpoints. A record is created for a running
 * container (409 otherwise), started once through rt_exec (the runtime joins the container's
 * namespaces, cgroup and security settings), inspected any number of times, and freed when its
 * container is removed (a container listener) — or, if its process still runs at that moment,
 * when the process has been reaped. A resize that arrives before the process exists (the CLI
 * sends it concurrently with start) is kept and applied when the pty is created. The streams of
 * a running exec are exec-io.c's; this file never touches a process fd except for a resize.
 * Events: exec_create, exec_start (with dockerd's "exec_start: <cmd line>" action text) and
 * exec_die with the exit code.
 */
#include <sys/ioctl.h>
#include <termios.h>

#include "dind/json.h"
#include "dind/daemon/container.h"
#include "dind/daemon/daemon.h"
#include "dind/daemon/events.h"
#include "dind/daemon/exec-internal.h"

static struct ctr_store *exec_store;
static ev_loop *exec_loop;
static struct exec_inst *exec_list;

static struct exec_inst *exec_find(const char *id)
{
    for (struct exec_inst *x = exec_list; x; x = x->next)
        if (strcmp(x->id, id) == 0)
            return x;
    return NULL;
}

static int exec_lookup(const char *id, struct exec_inst **ret, dd_err *e)
{
    *ret = id ? exec_find(id) : NULL;
    if (!*ret)
        return dd_err_set(e, ENOENT, "No such exec instance: %s", id ? id : "");
    return 0;
}

static void exec_free(struct exec_inst *x)
{
    for (struct exec_inst **p = &exec_list; *p; p = &(*p)->next) {
        if (*p == x) {
            *p = x->next;
            break;
        }
    }
    if (x->c && !x->c->removed)
        ctr_exec_del(x->c, x->id);
    ctr_unref(x->c);
    dd_strv_free(x->cmd);
    dd_strv_free(x->env);
    free(x->user);
    free(x->working_dir);
    free(x->detach_keys);
    dd_buf_release(&x->outq);
    dd_buf_release(&x->inq);
    free(x);
}

/* The container is gone: its records go too (after their process has been reaped). */
static void on_container_change(struct container *c, enum ctr_change what, void *data)
{
    if (what != CTR_CHANGE_REMOVED)
        return;
    struct exec_inst *next;
    for (struct exec_inst *x = exec_list; x; x = next) {
        next = x->next;
        if (x->c != c)
            continue;
        x->removed = true;
        if (!x->running && !x->hold)
            exec_free(x);
    }
}

static bool container_listened(const struct container *c)
{
    for (struct exec_inst *x = exec_list; x; x = x->next)
        if (x->c == c)
            return true;
    return false;
}

static void emit(struct exec_inst *x, const char *what, json_t *extra)
{
    _cleanup_free_ char *line = NULL;
    if (strcmp(what, "exec_die") != 0) {
        _cleanup_free_ char *joined = NULL;
        dd_buf b = DD_BUF_INIT;
        for (char **a = x->cmd; *a; a++) {
            if (a != x->cmd)
                dd_buf_addc(&b, ' ');
            dd_buf_adds(&b, *a);
        }
        joined = dd_buf_detach(&b, NULL);
        line = dd_asprintf("%s: %s", what, joined ? joined : "");
    }
    if (!extra)
        extra = json_object();
    jx_set_str(extra, "execID", x->id);
    events_emit_container(x->c, line ? line : what, extra);
}

/* ---- POST /containers/{id}/exec ---- */

static int parse_create(struct exec_inst *x, const json_t *body, dd_err *e)
{
    const char *s = NULL;
    int r = 0;
    r = r < 0 ? r : jx_strv(body, "Cmd", &x->cmd, e);
    r = r < 0 ? r : jx_strv(body, "Env", &x->env, e);
    r = r < 0 ? r : jx_bool(body, "Tty", &x->tty, e);
    r = r < 0 ? r : jx_bool(body, "Privileged", &x->privileged, e);
    r = r < 0 ? r : jx_bool(body, "AttachStdin", &x->attach_stdin, e);
    r = r < 0 ? r : jx_bool(body, "AttachStdout", &x->attach_stdout, e);
    r = r < 0 ? r : jx_bool(body, "AttachStderr", &x->attach_stderr, e);
    if (r < 0)
        return r;
    if (jx_str(body, "User", &s, e) < 0)
        return -EINVAL;
    x->user = dd_strdup(s ? s : "");
    s = NULL;
    if (jx_str(body, "WorkingDir", &s, e) < 0)
        return -EINVAL;
    x->working_dir = dd_strdup(s ? s : "");
    s = NULL;
    if (jx_str(body, "DetachKeys", &s, e) < 0)
        return -EINVAL;
    x->detach_keys = dd_strdup(s ? s : "");
    if (!x->cmd || !x->cmd[0])
        return dd_err_set(e, EINVAL, "No exec command specified");
    if (x->working_dir[0] && x->working_dir[0] != '/')
        return dd_err_set(e, EINVAL,
                          "the working directory '%s' is invalid, it needs to be an "
                          "absolute path",
                          x->working_dir);
    return 0;
}

static void exec_create(http_req *req)
{
    dd_err e = {0};
    struct container *c = NULL;
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    json_t *j = NULL;
    if (ctr_lookup(exec_store, http_req_param(req, "id"), &c, &e) < 0 ||
        jx_parse(body ? body : "", len, &j, &e) < 0) {
        dindd_reply_err(req, &e);
        return;
    }
    struct exec_inst *x = dd_calloc(1, sizeof(*x));
    x->io.pidfd = x->io.stdin_fd = x->io.stdout_fd = x->io.stderr_fd = -1;
    int r = parse_create(x, j, &e);
    json_decref(j);
    if (r >= 0)
        r = ctr_check_running(c, &e);
    if (r < 0) {
        exec_free(x); /* not listed, no container reference yet */
        dindd_reply_err(req, &e);
        return;
    }
    dd_random_hex(x->id, 32);
    if (!container_listened(c))
        ctr_listen(c, on_container_change, NULL);
    x->c = ctr_ref(c);
    x->next = exec_list;
    exec_list = x;
    ctr_exec_add(c, x->id);
    emit(x, "exec_create", NULL);
    json_t *out = json_object();
    jx_set_str(out, "Id", x->id);
    http_reply_json(req, 201, out);
    json_decref(out);
}

/* ---- POST /exec/{id}/start ---- */

static char **exec_env(const struct exec_inst *x)
{
    char **env = dd_strv_copy(x->c->env);
    for (char **kv = x->env; kv && *kv; kv++) {
        const char *eq = strchr(*kv, '=');
        size_t kl = eq ? (size_t)(eq - *kv) : strlen(*kv);
        bool replaced = false;
        for (char **o = env; o && *o; o++) {
            if (strncmp(*o, *kv, kl) == 0 && ((*o)[kl] == '=' || (*o)[kl] == '\0')) {
                free(*o);
                *o = dd_strdup(*kv);
                replaced = true;
            }
        }
        if (!replaced)
            env = dd_strv_push(env, *kv);
    }
    bool has_term = false;
    for (char **o = env; o && *o; o++)
        has_term = has_term || dd_startswith(*o, "TERM=");
    if (x->tty && !has_term)
        env = dd_strv_push(env, "TERM=xterm");
    return env;
}

static void fill_process(const struct exec_inst *x, struct rt_process *p)
{
    memset(p, 0, sizeof(*p));
    p->args = dd_strv_copy(x->cmd);
    p->env = exec_env(x);
    const char *cwd = x->working_dir[0] ? x->working_dir : x->c->working_dir;
    p->cwd = dd_strdup(cwd && *cwd ? cwd : "/");
    p->user = dd_strdup(x->user[0] ? x->user : (x->c->user ? x->c->user : ""));
    p->terminal = x->tty;
    p->rows = x->rows ? x->rows : 24;
    p->cols = x->cols ? x->cols : 80;
    p->open_stdin = x->attach_stdin;
    p->privileged = x->privileged;
}

static int check_startable(const struct exec_inst *x, dd_err *e)
{
    if (x->running)
        return dd_err_set(e, EBUSY, "Error: Exec command %s is already running", x->id);
    if (x->started)
        return dd_err_set(e, EBUSY, "Error: Exec command %s has already run", x->id);
    if (x->removed)
        return dd_err_set(e, EBUSY, "Container %s is not running", x->c->id);
    return ctr_check_running(x->c, e);
}

/* The process could not be started: Docker's 126 and its message on the stream. */
static void start_failed(http_req *req, struct exec_inst *x, bool detach, const dd_err *err)
{
    _cleanup_free_ char *msg = dd_asprintf("OCI runtime exec failed: %s: unknown", err->msg);
    x->started = true;
    x->exited = true;
    x->exit_code = 126;
    json_t *extra = json_object();
    jx_set_str(extra, "exitCode", "126");
    emit(x, "exec_die", extra);
    if (detach) {
        http_reply_error(req, 500, msg);
        return;
    }
    exec_io_fail(x, exec_loop, http_hijack(req, &exec_raw_ops, x), msg);
}

static void exec_start(http_req *req)
{
    dd_err e = {0};
    struct exec_inst *x = NULL;
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    json_t *j = NULL;
    bool detach = false;
    if (exec_lookup(http_req_param(req, "id"), &x, &e) < 0 || check_startable(x, &e) < 0 ||
        (len && jx_parse(body, len, &j, &e) < 0) || jx_bool(j, "Detach", &detach, &e) < 0) {
        json_decref(j);
        dindd_reply_err(req, &e);
        return;
    }
    json_decref(j);
    struct rt_process proc;
    fill_process(x, &proc);
    int r = rt_exec(x->c->state_dir, &proc, &x->io, &e);
    rt_process_release(&proc);
    if (r < 0) {
        start_failed(req, x, detach, &e);
        return;
    }
    x->started = x->running = true;
    x->pid = x->io.pid;
    emit(x, "exec_start", NULL);
    http_raw *raw = NULL;
    if (detach)
        http_reply(req, 200, NULL, NULL, 0);
    else
        raw = http_hijack(req, &exec_raw_ops, x);
    if (exec_io_begin(x, exec_loop, raw, &e) < 0)
        dd_error("exec %.12s: watching the process: %s", x->id, e.msg);
}

void exec_exited(struct exec_inst *x, int code)
{
    x->running = false;
    x->exited = true;
    x->exit_code = code;
    char buf[16];
    snprintf(buf, sizeof(buf), "%d", code);
    json_t *extra = json_object();
    jx_set_str(extra, "exitCode", buf);
    emit(x, "exec_die", extra);
}

void exec_io_done(struct exec_inst *x)
{
    if (x->removed)
        exec_free(x);
}

/* ---- GET /exec/{id}/json ---- */

static json_t *process_config(const struct exec_inst *x)
{
    json_t *pc = json_object();
    jx_set_bool(pc, "tty", x->tty);
    jx_set_str(pc, "entrypoint", x->cmd[0]);
    jx_set_new(pc, "arguments", jx_strv_new(x->cmd + 1));
    jx_set_bool(pc, "privileged", x->privileged);
    if (x->user[0])
        jx_set_str(pc, "user", x->user);
    return pc;
}

static void exec_inspect(http_req *req)
{
    dd_err e = {0};
    struct exec_inst *x = NULL;
    if (exec_lookup(http_req_param(req, "id"), &x, &e) < 0) {
        dindd_reply_err(req, &e);
        return;
    }
    json_t *o = json_object();
    jx_set_str(o, "ID", x->id);
    jx_set_bool(o, "Running", x->running);
    jx_set_new(o, "ExitCode", x->exited ? json_integer(x->exit_code) : json_null());
    jx_set_new(o, "ProcessConfig", process_config(x));
    jx_set_bool(o, "OpenStdin", x->attach_stdin);
    jx_set_bool(o, "OpenStderr", x->attach_stderr);
    jx_set_bool(o, "OpenStdout", x->attach_stdout);
    jx_set_bool(o, "CanRemove", false);
    jx_set_str(o, "ContainerID", x->c->id);
    jx_set_str(o, "DetachKeys", x->detach_keys);
    jx_set_int(o, "Pid", x->pid);
    http_reply_json(req, 200, o);
    json_decref(o);
}

/* ---- POST /exec/{id}/resize ---- */

static int parse_dim(http_req *req, const char *key, unsigned short *ret, dd_err *e)
{
    const char *s = http_req_query(req, key);
    int64_t v;
    if (!s || dd_parse_int64(s, &v) < 0 || v < 0 || v > 65535)
        return dd_err_set(e, EINVAL, "strconv.Atoi: parsing \"%s\": invalid syntax", s ? s : "");
    *ret = (unsigned short)v;
    return 0;
}

static void exec_resize(http_req *req)
{
    dd_err e = {0};
    struct exec_inst *x = NULL;
    unsigned short h = 0, w = 0;
    if (exec_lookup(http_req_param(req, "id"), &x, &e) < 0 || parse_dim(req, "h", &h, &e) < 0 ||
        parse_dim(req, "w", &w, &e) < 0) {
        dindd_reply_err(req, &e);
        return;
    }
    x->rows = h;
    x->cols = w;
    if (x->running && x->tty && x->io.stdin_fd >= 0) {
        struct winsize ws = {.ws_row = h, .ws_col = w};
        if (ioctl(x->io.stdin_fd, TIOCSWINSZ, &ws) < 0) {
            dd_err_sys(&e, "resizing the exec's terminal");
            dindd_reply_err(req, &e);
            return;
        }
    }
    http_reply(req, 200, NULL, NULL, 0);
}

static void exec_shutdown(dindd_ctx *d)
{
    while (exec_list) {
        struct exec_inst *x = exec_list;
        ev_io_del(x->out_w);
        ev_io_del(x->err_w);
        ev_io_del(x->in_w);
        ev_child_del(x->child);
        ev_timer_del(x->hold);
        if (x->raw)
            http_raw_close(x->raw);
        rt_exec_result_close(&x->io);
        exec_free(x);
    }
}

static int exec_area_init(dindd_ctx *d, dd_err *e)
{
    if (!d->containers)
        return dd_err_set(e, EINVAL, "exec: the containers area must be initialised first");
    exec_store = d->containers;
    exec_loop = d->loop;
    return 0;
}

static const http_route exec_routes[] = {
    {"POST", "/containers/{id}/exec", exec_create},
    {"POST", "/exec/{id}/start", exec_start},
    {"GET", "/exec/{id}/json", exec_inspect},
    {"POST", "/exec/{id}/resize", exec_resize},
};

const dindd_area dindd_area_exec = {
    .name = "exec",
    .routes = exec_routes,
    .nroutes = DD_ARRAY_SIZE(exec_routes),
    .init = exec_area_init,
    .fini = exec_shutdown,
};
