/* lifecycle: the container state machine on top of the runtime.
 *
 * created ──start──▶ running ──exit──▶ exited ──start──▶ running ...
 *                       │  ▲                │
 *                       │  └── restarting ◀─┘ (restart policy, with Docker's back-off)
 *                       └──────────────────────────▶ removed (rm -f, AutoRemove)
 *
 * The runtime keeps the process alive without us (a detached shim per container); this file
 * watches each shim's pidfd on the event loop, records exits (code, OOM, time) in the store,
 * emits the events, wakes listeners (wait, logs -f), and applies restart policies and
 * AutoRemove. At daemon start it re-adopts what the runtime still runs. Nothing here blocks
 * the loop for long: rt_* calls are short and bounded; waiting for a stop is a timer.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "container-internal.h"
#include "create.h"
#include "dind/ev.h"
#include "dind/image.h"
#include "dind/json.h"
#include "dind/rt.h"
#include "events.h"
#include "lifecycle.h"
#include "ctr-volumes.h"

#define RESTART_DELAY_MIN_MS 100
#define RESTART_DELAY_MAX_MS 60000
#define RESTART_RESET_NS     (10LL * 1000000000LL)

static void watch_exit(struct container *c);
static void handle_exit(struct container *c, bool allow_policy);

static void handle_exit_deferred(void *data)
{
    struct container *c = data;
    if (!c->removed && ctr_is_running(c))
        handle_exit(c, true);
    ctr_unref(c);
}

static int save(struct container *c)
{
    dd_err e = {0};
    int r = ctr_save(c->priv->store, c, &e);
    if (r < 0)
        dd_error("container %s: saving its state: %s", c->id, e.msg);
    return r;
}

void ctr_store_forget(struct container *c)
{
    struct ctr_priv *p = c->priv;
    ev_child_del(p->exit_watch);
    ev_timer_del(p->restart_timer);
    ev_timer_del(p->stop_timer);
    p->exit_watch = NULL;
    p->restart_timer = NULL;
    p->stop_timer = NULL;
}

/* ---- runtime container (rootfs + shim) ---- */

static int lookup_image(struct ctr_store *s, struct container *c, img_image **ret, dd_err *e)
{
    int r = img_lookup(s->images, c->image_id, ret, e);
    if (r < 0)
        return dd_err_wrap(e, "image %s of container %s", c->image, c->id);
    return 0;
}

/* (Re)creates the runtime side of c from its record: rootfs mounted, shim waiting. */
static int rt_prepare(struct ctr_store *s, struct container *c, dd_err *e)
{
    img_image *img = NULL;
    struct rt_spec spec;
    int r = lookup_image(s, c, &img, e);
    if (r < 0)
        return r;
    r = spec_build(s, c, img, &spec, e);
    img_image_free(img);
    if (r < 0)
        return r;
    r = rt_create(&spec, c->state_dir, e);
    rt_spec_release(&spec);
    return r;
}

/* ---- create ---- */

static void random_name(struct ctr_store *s, char **ret)
{
    static const char *const adj[] = {"brave",  "calm",    "eager",    "fervent", "gifted", "happy",
                                      "jolly",  "keen",    "lucid",    "nifty",   "quirky", "sharp",
                                      "tender", "vibrant", "wizardly", "zealous"};
    static const char *const noun[] = {
        "babbage",  "curie",   "darwin", "euler",   "fermi",   "gauss",    "hopper", "knuth",
        "lovelace", "noether", "pascal", "ritchie", "shannon", "thompson", "turing", "wozniak"};
    for (int i = 0;; i++) {
        unsigned char rnd[2] = {0};
        char hex[5];
        dd_random_hex(hex, 2);
        rnd[0] = (unsigned char)strtoul((char[3]){hex[0], hex[1], 0}, NULL, 16);
        rnd[1] = (unsigned char)strtoul((char[3]){hex[2], hex[3], 0}, NULL, 16);
        char *n = i < 8 ? dd_asprintf("/%s_%s", adj[rnd[0] % 16], noun[rnd[1] % 16])
                        : dd_asprintf("/%s_%s%d", adj[rnd[0] % 16], noun[rnd[1] % 16], i);
        if (!ctr_find_name(s, n)) {
            *ret = n;
            return;
        }
        free(n);
    }
}

static int resolve_image(struct ctr_store *s, const char *ref, img_image **ret, dd_err *e)
{
    img_ref parsed = {0};
    int r = img_ref_parse(ref, 0, &parsed, NULL);
    r = img_lookup(s->images, ref, ret, e);
    if (r == -ENOENT && parsed.path) {
        _cleanup_free_ char *fam = img_ref_familiar(&parsed);
        r = dd_err_set(e, ENOENT, "No such image: %s", fam);
    }
    img_ref_release(&parsed);
    return r;
}

static void default_hostname(struct container *c)
{
    const char *hn = json_string_value(json_object_get(c->config, "Hostname"));
    if (hn && *hn)
        return;
    char buf[256] = "";
    if (dd_streq(c->network_mode, "host") && gethostname(buf, sizeof(buf) - 1) == 0)
        jx_set_str(c->config, "Hostname", buf);
    else
        jx_set_new(c->config, "Hostname", json_stringn(c->id, 12));
}

static int new_id(struct ctr_store *s, char id[65])
{
    do {
        int r = dd_random_hex(id, 32);
        if (r < 0)
            return r;
    } while (ctr_find_id(s, id));
    return 0;
}

static int build_record(struct ctr_store *s, const char *name, const char *body, size_t len,
                        struct container *c, img_image **ret_img, dd_err *e)
{
    int r;
    if (name && *name) {
        if ((r = ctr_name_validate(name, &c->name, e)) < 0 ||
            (r = ctr_name_conflict(s, c->name, e)) < 0)
            return r;
    }
    if ((r = create_parse(body, len, &c->config, &c->host_config, &c->net_config, e)) < 0)
        return r;
    c->image = dd_strdup(json_string_value(json_object_get(c->config, "Image")));
    if ((r = resolve_image(s, c->image, ret_img, e)) < 0)
        return r;
    create_merge_image(c->config, img_image_runconfig(*ret_img));
    dd_strv_free(c->args);
    c->args = NULL;
    if ((r = create_command(c->config, &c->path, &c->args, e)) < 0)
        return r;
    if ((r = new_id(s, c->id)) < 0)
        return dd_err_set(e, -r, "generating a container id");
    if (!c->name)
        random_name(s, &c->name);
    c->image_id = dd_strdup((*ret_img)->id);
    c->created_ns = dd_now_ns();
    ctr_derive(c);
    default_hostname(c);
    ctr_derive(c);
    ctr_set_paths(c, s->data_root, s->exec_root);
    return 0;
}

int ctr_create(struct ctr_store *s, const char *name, const char *body, size_t len,
               struct container **ret, dd_err *e)
{
    struct container *c = ctr_new();
    img_image *img = NULL;
    struct rt_spec spec = {0};
    bool made = false;
    int r = build_record(s, name, body, len, c, &img, e);
    if (r < 0)
        goto fail;
    made = true;
    if ((r = ctr_volumes_prepare(s, c, e)) < 0)
        goto fail;
    if ((r = dd_mkdir_p(c->dir, 0710, e)) < 0 || (r = spec_build(s, c, img, &spec, e)) < 0 ||
        (r = rt_create(&spec, c->state_dir, e)) < 0 || (r = ctr_store_add(s, c, e)) < 0)
        goto fail;
    rt_spec_release(&spec);
    img_image_free(img);
    events_emit_container(c, "create", NULL);
    *ret = c;
    return 0;
fail:
    rt_spec_release(&spec);
    img_image_free(img);
    if (made) {
        rt_delete(c->state_dir, NULL);
        dd_rm_rf(c->dir, NULL);
        ctr_volumes_discard(s, c);
    }
    ctr_unref(c);
    return r;
}

/* ---- start ---- */

static void set_running(struct container *c, const struct rt_state *st)
{
    c->st.status = CTR_RUNNING;
    c->st.pid = st->pid;
    c->st.started_ns = st->started_at ? st->started_at : dd_now_ns();
    c->st.finished_ns = 0;
    c->st.exit_code = 0;
    c->st.oom_killed = false;
    ctr_set_error(c, "");
}

/* Records the runtime's exit state in c. */
static void record_exit(struct container *c, const struct rt_state *st)
{
    c->st.status = CTR_EXITED;
    c->st.pid = 0;
    c->st.exit_code = st->exit_code;
    c->st.oom_killed = st->oom_killed;
    c->st.finished_ns = st->finished_at ? st->finished_at : dd_now_ns();
    if (st->error)
        ctr_set_error(c, st->error);
}

/* Brings the runtime side back to "created" when it has run before, from the current record
 * (so `docker update` limits apply); the saved spec serves when the image is gone. */
static int rt_reset(struct ctr_store *s, struct container *c, dd_err *e)
{
    struct rt_state st = {0};
    struct rt_spec saved = {0};
    int r = rt_state(c->state_dir, &st, NULL);
    bool fresh = r == 0 && st.status == RT_CREATED;
    rt_state_release(&st);
    if (fresh)
        return 0;
    bool have_saved = r == 0 && rt_spec_load(c->state_dir, &saved, NULL) == 0;
    rt_delete(c->state_dir, NULL);
    r = rt_prepare(s, c, e);
    if (r == -ENOENT && have_saved) {
        dd_err_clear(e);
        r = rt_create(&saved, c->state_dir, e);
    }
    if (have_saved)
        rt_spec_release(&saved);
    return r;
}

static int do_start(struct ctr_store *s, struct container *c, dd_err *e)
{
    struct rt_state st = {0};
    int r = rt_reset(s, c, e);
    if (r < 0)
        return r;
    if ((r = ctr_volumes_populate(c, e)) < 0)
        return r;
    r = rt_start(c->state_dir, e);
    int sr = rt_state(c->state_dir, &st, NULL);
    if (r < 0) {
        if (sr == 0)
            record_exit(c, &st);
        else
            c->st.status = CTR_EXITED;
        ctr_set_error(c, e ? e->msg : "start failed");
        if (c->st.exit_code == 0)
            c->st.exit_code = r == -ENOENT ? 127 : r == -EACCES ? 126 : 128;
        c->st.finished_ns = dd_now_ns();
        rt_state_release(&st);
        save(c);
        ctr_notify(c, CTR_CHANGE_EXITED);
        return r;
    }
    set_running(c, &st);
    rt_state_release(&st);
    save(c);
    watch_exit(c);
    events_emit_container(c, "start", NULL);
    ctr_notify(c, CTR_CHANGE_STARTED);
    return 0;
}

/* dockerd's wording, with Go's lower-case errno texts: the CLI maps "no such file or directory"
 * to exit code 127 and "permission denied" to 126 by matching the message. */
static void start_error_text(dd_err *e)
{
    static const char *const fix[][2] = {{"No such file or directory", "no such file or directory"},
                                         {"Permission denied", "permission denied"}};
    if (!e)
        return;
    for (size_t i = 0; i < DD_ARRAY_SIZE(fix); i++) {
        char *p = strstr(e->msg, fix[i][0]);
        if (p)
            memcpy(p, fix[i][1], strlen(fix[i][1]));
    }
    size_t n = strlen(e->msg);
    if (n + 10 < sizeof(e->msg))
        strcat(e->msg, ": unknown");
    dd_err_wrap(e, "failed to create shim task: OCI runtime create failed: unable to start "
                   "container process");
}

int ctr_start(struct ctr_store *s, struct container *c, dd_err *e)
{
    if (ctr_is_running(c) && c->st.status != CTR_RESTARTING)
        return 1;
    if (c->st.status == CTR_REMOVING || c->removed)
        return dd_err_set(e, EBUSY, "container is marked for removal and cannot be started");
    if (!dd_streq(c->network_mode, "default") && !dd_streq(c->network_mode, "bridge") &&
        !dd_streq(c->network_mode, "host") && !dd_streq(c->network_mode, "none") &&
        !dd_startswith(c->network_mode, "container:"))
        return dd_err_set(e, ENOENT, "network %s not found", c->network_mode);
    ev_timer_del(c->priv->restart_timer);
    c->priv->restart_timer = NULL;
    c->st.manual_stop = false;
    c->priv->stopping = false;
    c->priv->restart_delay_ms = 0;
    int r = do_start(s, c, e);
    if (r < 0) {
        start_error_text(e);
        return r == -ENOENT || r == -EACCES ? -EIO : r;
    }
    return 0;
}

/* ---- exits ---- */

static void on_shim_exit(ev_child *w, pid_t pid, const siginfo_t *info, void *data)
{
    struct container *c = data;
    ev_child_del(w);
    c->priv->exit_watch = NULL;
    handle_exit(c, true);
}

static void watch_exit(struct container *c)
{
    struct rt_state st = {0};
    dd_err e = {0};
    int fd = rt_watch_fd(c->state_dir, &e);
    if (fd < 0 || rt_state(c->state_dir, &st, NULL) < 0) {
        if (fd >= 0)
            close(fd);
        rt_state_release(&st);
        ev_defer(c->priv->store->loop, handle_exit_deferred, ctr_ref(c));
        return;
    }
    c->priv->exit_watch =
        ev_child_add_pidfd(c->priv->store->loop, fd, st.shim_pid, on_shim_exit, c, &e);
    rt_state_release(&st);
    if (!c->priv->exit_watch)
        dd_error("container %s: watching its exit: %s", c->id, e.msg);
}

static const char *restart_policy(const struct container *c, int64_t *ret_max)
{
    json_t *rp = json_object_get(c->host_config, "RestartPolicy");
    const char *name = json_string_value(json_object_get(rp, "Name"));
    if (ret_max)
        *ret_max = json_integer_value(json_object_get(rp, "MaximumRetryCount"));
    return name && *name ? name : "no";
}

static bool should_restart(struct container *c)
{
    int64_t max = 0;
    const char *p = restart_policy(c, &max);
    if (c->priv->stopping || c->st.manual_stop || c->removed)
        return false;
    if (dd_streq(p, "always") || dd_streq(p, "unless-stopped"))
        return true;
    if (dd_streq(p, "on-failure"))
        return c->st.exit_code != 0 && (max == 0 || c->st.restart_count < max);
    return false;
}

static void on_restart_timer(ev_timer *t, void *data)
{
    struct container *c = data;
    dd_err e = {0};
    ev_timer_del(t);
    c->priv->restart_timer = NULL;
    if (c->removed || c->st.status != CTR_RESTARTING)
        return;
    c->st.restart_count++;
    if (do_start(c->priv->store, c, &e) < 0) {
        dd_warn("container %s: restart by policy failed: %s", c->id, e.msg);
        handle_exit(c, true);
    }
}

static void schedule_restart(struct container *c)
{
    struct ctr_priv *p = c->priv;
    int64_t ran = c->st.finished_ns - c->st.started_ns;
    if (p->restart_delay_ms == 0 || ran >= RESTART_RESET_NS)
        p->restart_delay_ms = RESTART_DELAY_MIN_MS;
    else if (p->restart_delay_ms < RESTART_DELAY_MAX_MS)
        p->restart_delay_ms *= 2;
    if (p->restart_delay_ms > RESTART_DELAY_MAX_MS)
        p->restart_delay_ms = RESTART_DELAY_MAX_MS;
    c->st.status = CTR_RESTARTING;
    save(c);
    p->restart_timer =
        ev_timer_add(p->store->loop, (uint64_t)p->restart_delay_ms, 0, on_restart_timer, c);
}

static void auto_remove(void *data)
{
    struct container *c = data;
    dd_err e = {0};
    if (!c->removed && ctr_remove(c->priv->store, c, true, true, &e) < 0)
        dd_warn("container %s: auto-remove: %s", c->id, e.msg);
    ctr_unref(c);
}

/* The process has exited: record it, tell everyone, then restart or auto-remove. */
static void handle_exit(struct container *c, bool allow_policy)
{
    struct rt_state st = {0};
    dd_err e = {0};
    ev_timer_del(c->priv->stop_timer);
    c->priv->stop_timer = NULL;
    if (rt_state(c->state_dir, &st, &e) == 0 && st.status == RT_EXITED) {
        record_exit(c, &st);
    } else {
        c->st.status = CTR_EXITED;
        c->st.pid = 0;
        c->st.finished_ns = dd_now_ns();
        if (c->st.exit_code == 0)
            c->st.exit_code = 137;
    }
    rt_state_release(&st);
    save(c);
    if (c->st.oom_killed)
        events_emit_container(c, "oom", NULL);
    json_t *attrs = json_object();
    jx_set_new(attrs, "exitCode", json_sprintf("%d", c->st.exit_code));
    events_emit_container(c, "die", attrs);
    ctr_notify(c, CTR_CHANGE_EXITED);
    bool ar = false;
    jx_bool(c->host_config, "AutoRemove", &ar, NULL);
    if (c->removed || c->st.status != CTR_EXITED)
        return;
    if (ar && !c->priv->auto_remove_pending) {
        c->priv->auto_remove_pending = true;
        ev_defer(c->priv->store->loop, auto_remove, ctr_ref(c));
    } else if (allow_policy && should_restart(c)) {
        schedule_restart(c);
    }
}

/* ---- stop, kill, restart ---- */

struct stop_op {
    struct container *c;
    struct ctr_listener *l;
    ctr_done_fn done;
    void *data;
    bool restart;
};

static void stop_finish(struct stop_op *op)
{
    struct container *c = op->c;
    dd_err e = {0};
    ctr_unlisten(op->l);
    if (op->restart && !c->removed) {
        if (ctr_start(c->priv->store, c, &e) < 0)
            dd_warn("container %s: restart: %s", c->id, e.msg);
        else
            events_emit_container(c, "restart", NULL);
    }
    if (op->done)
        op->done(c, op->data);
    ctr_unref(c);
    free(op);
}

static void on_stop_change(struct container *c, enum ctr_change what, void *data)
{
    if (what == CTR_CHANGE_EXITED || what == CTR_CHANGE_REMOVED)
        stop_finish(data);
}

static void on_stop_timeout(ev_timer *t, void *data)
{
    struct container *c = data;
    ev_timer_del(t);
    c->priv->stop_timer = NULL;
    if (ctr_is_running(c)) {
        rt_kill(c->state_dir, SIGKILL, NULL);
        json_t *a = json_object();
        jx_set_str(a, "signal", "9");
        events_emit_container(c, "kill", a);
    }
}

static int stop_begin(struct ctr_store *s, struct container *c, int timeout, bool restart,
                      ctr_done_fn done, void *data, dd_err *e)
{
    if (c->st.status == CTR_RESTARTING) {
        ev_timer_del(c->priv->restart_timer);
        c->priv->restart_timer = NULL;
        c->st.status = CTR_EXITED;
        c->st.manual_stop = true;
        save(c);
    }
    if (!ctr_is_running(c))
        return 1;
    struct stop_op *op = dd_calloc(1, sizeof(*op));
    op->c = ctr_ref(c);
    op->done = done;
    op->data = data;
    op->restart = restart;
    op->l = ctr_listen(c, on_stop_change, op);
    c->priv->stopping = true;
    c->st.manual_stop = !restart;
    save(c);
    if (timeout < 0)
        timeout = c->stop_timeout >= 0 ? c->stop_timeout : 10;
    json_t *a = json_object();
    jx_set_new(a, "signal", json_sprintf("%d", c->stop_signal));
    events_emit_container(c, "kill", a);
    if (rt_kill(c->state_dir, c->stop_signal, NULL) < 0 || timeout == 0)
        rt_kill(c->state_dir, SIGKILL, NULL);
    if (!c->priv->stop_timer)
        c->priv->stop_timer =
            ev_timer_add(s->loop, (uint64_t)timeout * 1000, 0, on_stop_timeout, c);
    return 0;
}

static void emit_stop(struct container *c, void *data)
{
    if (!c->removed)
        events_emit_container(c, "stop", NULL);
    struct stop_op *user = data;
    if (user->done)
        user->done(c, user->data);
    free(user);
}

int ctr_stop(struct ctr_store *s, struct container *c, int timeout, ctr_done_fn done, void *data,
             dd_err *e)
{
    struct stop_op *user = dd_calloc(1, sizeof(*user));
    user->done = done;
    user->data = data;
    int r = stop_begin(s, c, timeout, false, emit_stop, user, e);
    if (r != 0)
        free(user);
    return r;
}

int ctr_restart(struct ctr_store *s, struct container *c, int timeout, ctr_done_fn done, void *data,
                dd_err *e)
{
    int r = stop_begin(s, c, timeout, true, done, data, e);
    if (r != 1)
        return r;
    if ((r = ctr_start(s, c, e)) < 0)
        return r;
    events_emit_container(c, "restart", NULL);
    if (done)
        done(c, data);
    return 0;
}

int ctr_kill(struct ctr_store *s, struct container *c, const char *ref, int sig, dd_err *e)
{
    if (sig == 0)
        sig = SIGKILL;
    if (c->st.status != CTR_RUNNING && c->st.status != CTR_PAUSED)
        return dd_err_set(e, EBUSY, "Cannot kill container: %s: Container %s is not running", ref,
                          c->id);
    if (sig == SIGKILL)
        c->st.manual_stop = false;
    int r = rt_kill(c->state_dir, sig, e);
    if (r < 0)
        return dd_err_wrap(e, "Cannot kill container: %s", ref);
    json_t *a = json_object();
    jx_set_new(a, "signal", json_sprintf("%d", sig));
    events_emit_container(c, "kill", a);
    return 0;
}

/* ---- remove ---- */

int ctr_remove(struct ctr_store *s, struct container *c, bool force, bool volumes, dd_err *e)
{
    if (ctr_is_running(c) && c->st.status != CTR_RESTARTING && !force)
        return dd_err_set(e, EBUSY,
                          "You cannot remove a running container %s. Stop the container before "
                          "attempting removal or force remove",
                          c->id);
    if (c->st.status == CTR_REMOVING)
        return dd_err_set(e, EBUSY, "removal of container %s is already in progress", c->id);
    bool was_running = c->st.status == CTR_RUNNING || c->st.status == CTR_PAUSED;
    ctr_ref(c);
    c->priv->stopping = true;
    ctr_store_forget(c);
    if (was_running) {
        json_t *a = json_object();
        jx_set_str(a, "signal", "9");
        events_emit_container(c, "kill", a);
        rt_kill(c->state_dir, SIGKILL, NULL);
    }
    _cleanup_free_ char *trash = ctr_trash_path(c->state_dir);
    int r = trash ? rt_delete_detached(c->state_dir, trash, e) : rt_delete(c->state_dir, e);
    if (r < 0) {
        if (was_running)
            watch_exit(c);
        ctr_unref(c);
        return dd_err_wrap(e, "removing container %s", c->id);
    }
    if (was_running)
        handle_exit(c, false);
    c->st.status = CTR_REMOVING;
    ctr_store_discard_dir(s, c->dir);
    if ((r = ctr_store_remove(s, c, e)) < 0) {
        ctr_unref(c);
        return r;
    }
    events_emit_container(c, "destroy", NULL);
    if (volumes)
        ctr_volumes_release(s, c);
    ctr_unref(c);
    return 0;
}

/* ---- daemon start: re-adoption ---- */

static void adopt_one(struct ctr_store *s, struct container *c)
{
    struct rt_state st = {0};
    dd_err e = {0};
    bool was_running = ctr_is_running(c);
    if (access(c->state_dir, F_OK) < 0) {
        if (rt_prepare(s, c, &e) < 0)
            dd_warn("container %s: recreating its rootfs: %s", c->id, e.msg);
        if (was_running) {
            c->st.status = CTR_EXITED;
            c->st.pid = 0;
            c->st.finished_ns = c->st.finished_ns ? c->st.finished_ns : dd_now_ns();
            save(c);
        }
        return;
    }
    if (rt_state(c->state_dir, &st, &e) < 0) {
        dd_warn("container %s: reading its runtime state: %s", c->id, e.msg);
        c->st.status = c->st.started_ns ? CTR_EXITED : CTR_CREATED;
        save(c);
        return;
    }
    if (st.status == RT_RUNNING) {
        bool paused = c->st.status == CTR_PAUSED;
        set_running(c, &st);
        if (paused)
            c->st.status = CTR_PAUSED;
        c->st.started_ns = st.started_at;
        save(c);
        watch_exit(c);
    } else if (st.status == RT_EXITED && (was_running || c->st.status == CTR_CREATED)) {
        record_exit(c, &st);
        save(c);
        json_t *attrs = json_object();
        jx_set_new(attrs, "exitCode", json_sprintf("%d", c->st.exit_code));
        events_emit_container(c, "die", attrs);
    }
    rt_state_release(&st);
}

/* Removes directories of containers the database does not know (a crash mid-create), and
 * those a crash left awaiting their background removal (ctr_store_discard_dir). */
static void sweep_orphans(struct ctr_store *s, const char *root, bool runtime)
{
    _cleanup_free_ char *dir = dd_path_join(root, "containers");
    DIR *d = opendir(dir);
    struct dirent *de;
    if (!d)
        return;
    while ((de = readdir(d))) {
        bool trash = dd_startswith(de->d_name, CTR_TRASH_PREFIX);
        if (!trash &&
            (de->d_name[0] == '.' || strlen(de->d_name) != 64 || ctr_find_id(s, de->d_name)))
            continue;
        _cleanup_free_ char *p = dd_path_join(dir, de->d_name);
        if (runtime)
            rt_delete(p, NULL);
        else
            dd_rm_rf(p, NULL);
    }
    closedir(d);
}

void ctr_adopt_all(struct ctr_store *s)
{
    sweep_orphans(s, s->exec_root, true);
    sweep_orphans(s, s->data_root, false);
    for (size_t i = 0; i < s->n; i++)
        adopt_one(s, s->items[i]);
    for (size_t i = 0; i < s->n; i++) {
        struct container *c = s->items[i];
        const char *p = restart_policy(c, NULL);
        bool want = dd_streq(p, "always") || (dd_streq(p, "unless-stopped") && !c->st.manual_stop);
        if (ctr_is_running(c) || !c->st.started_ns || !want)
            continue;
        dd_err e = {0};
        if (ctr_start(s, c, &e) < 0)
            dd_warn("container %s: restart at daemon start: %s", c->id, e.msg);
    }
}
