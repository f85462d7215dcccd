/* container: the in-memory container store, its sqlite persistence, lookups by id / name /
 * prefix, references and state-change listeners.
 *
 * Each container is one row of <data-root>/dindd.db (WAL): its id, its name (UNIQUE, so two
 * containers can never share a name even after a crash) and a JSON record of everything else
 * (identity, canonical Config/HostConfig, state). Rows are rewritten whole by ctr_save() after
 * every change; they are small and changes are rare. This file does not run containers: the
 * lifecycle (create, start, exits, restart policies, removal) lives in lifecycle.c and the
 * translation of the create body in create.c.
 */
#include <ctype.h>
#include <regex.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <sys/stat.h>

#include "dind/json.h"
#include "container-internal.h"

static const char *const status_names[] = {
    [CTR_CREATED] = "created",   [CTR_RUNNING] = "running",
    [CTR_PAUSED] = "paused",     [CTR_RESTARTING] = "restarting",
    [CTR_REMOVING] = "removing", [CTR_EXITED] = "exited",
    [CTR_DEAD] = "dead",
};

const char *ctr_status_name(enum ctr_status st)
{
    return (unsigned)st < DD_ARRAY_SIZE(status_names) ? status_names[st] : "dead";
}

int ctr_status_parse(const char *s)
{
    for (size_t i = 0; i < DD_ARRAY_SIZE(status_names); i++)
        if (dd_streq(s, status_names[i]))
            return (int)i;
    return -EINVAL;
}

bool ctr_is_running(const struct container *c)
{
    return c->st.status == CTR_RUNNING || c->st.status == CTR_PAUSED ||
           c->st.status == CTR_RESTARTING;
}

int ctr_check_running(const struct container *c, dd_err *e)
{
    if (c->st.status == CTR_PAUSED)
        return dd_err_set(e, EBUSY, "Container %s is paused, unpause the container before exec",
                          c->id);
    if (c->st.status != CTR_RUNNING)
        return dd_err_set(e, EBUSY, "Container %s is not running", c->id);
    return 0;
}

bool ctr_rootfs_ready(const struct container *c)
{
    struct stat a, b;
    _cleanup_free_ char *parent = dd_path_join(c->rootfs, "..");
    if (stat(c->rootfs, &a) < 0 || stat(parent, &b) < 0)
        return false;
    return a.st_dev != b.st_dev || a.st_ino == b.st_ino;
}

/* ---- records ---- */

struct container *ctr_new(void)
{
    struct container *c = dd_calloc(1, sizeof(*c));
    c->priv = dd_calloc(1, sizeof(*c->priv));
    c->refs = 1;
    c->args = dd_calloc(1, sizeof(char *));
    c->env = dd_calloc(1, sizeof(char *));
    c->exec_ids = dd_calloc(1, sizeof(char *));
    c->st.error = dd_strdup("");
    return c;
}

static void listeners_free(struct ctr_priv *p)
{
    struct ctr_listener *l = p->listeners;
    while (l) {
        struct ctr_listener *next = l->next;
        free(l);
        l = next;
    }
    p->listeners = NULL;
}

static void ctr_free(struct container *c)
{
    free(c->name);
    free(c->image);
    free(c->image_id);
    free(c->path);
    dd_strv_free(c->args);
    json_decref(c->config);
    json_decref(c->host_config);
    json_decref(c->net_config);
    dd_strv_free(c->env);
    free(c->user);
    free(c->working_dir);
    free(c->hostname);
    free(c->network_mode);
    free(c->dir);
    free(c->state_dir);
    free(c->rootfs);
    free(c->log_path);
    free(c->st.error);
    json_decref(c->health);
    json_decref(c->volumes);
    dd_strv_free(c->exec_ids);
    listeners_free(c->priv);
    free(c->priv);
    free(c);
}

struct container *ctr_ref(struct container *c)
{
    c->refs++;
    return c;
}

void ctr_unref(struct container *c)
{
    if (c && --c->refs == 0)
        ctr_free(c);
}

void ctr_exec_add(struct container *c, const char *exec_id)
{
    c->exec_ids = dd_strv_push(c->exec_ids, exec_id);
}

void ctr_exec_del(struct container *c, const char *exec_id)
{
    size_t j = 0;
    for (size_t i = 0; c->exec_ids[i]; i++) {
        if (dd_streq(c->exec_ids[i], exec_id))
            free(c->exec_ids[i]);
        else
            c->exec_ids[j++] = c->exec_ids[i];
    }
    c->exec_ids[j] = NULL;
}

void ctr_set_error(struct container *c, const char *msg)
{
    free(c->st.error);
    c->st.error = dd_strdup(msg ? msg : "");
}

/* Docker signal names, with or without "SIG", any case, or a number (1..64). */
int ctr_signal_parse(const char *s, int *ret)
{
    static const struct {
        const char *name;
        int sig;
    } names[] = {
        {"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},     {"ILL", SIGILL},
        {"TRAP", SIGTRAP},     {"ABRT", SIGABRT}, {"IOT", SIGIOT},       {"BUS", SIGBUS},
        {"FPE", SIGFPE},       {"KILL", SIGKILL}, {"USR1", SIGUSR1},     {"SEGV", SIGSEGV},
        {"USR2", SIGUSR2},     {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},     {"TERM", SIGTERM},
        {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT},     {"STOP", SIGSTOP},
        {"TSTP", SIGTSTP},     {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},
        {"XCPU", SIGXCPU},     {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
        {"WINCH", SIGWINCH},   {"IO", SIGIO},     {"POLL", SIGPOLL},     {"PWR", SIGPWR},
        {"SYS", SIGSYS},
    };
    int64_t n;
    if (!s || !*s)
        return -EINVAL;
    if (dd_parse_int64(s, &n) == 0) {
        if (n < 1 || n > 64)
            return -EINVAL;
        *ret = (int)n;
        return 0;
    }
    const char *p = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
    for (size_t i = 0; i < DD_ARRAY_SIZE(names); i++) {
        if (strcasecmp(p, names[i].name) == 0) {
            *ret = names[i].sig;
            return 0;
        }
    }
    if (strncasecmp(p, "RTMIN", 5) == 0 || strncasecmp(p, "RTMAX", 5) == 0) {
        int64_t off = 0;
        if (p[5] && (dd_parse_int64(p + 5 + (p[5] == '+'), &off) < 0))
            return -EINVAL;
        int sig = tolower(p[3]) == 'i' ? SIGRTMIN + (int)off : SIGRTMAX + (int)off;
        if (sig < SIGRTMIN || sig > SIGRTMAX)
            return -EINVAL;
        *ret = sig;
        return 0;
    }
    return -EINVAL;
}

/* ---- derived fields ---- */

static char *str_or_empty(const json_t *obj, const char *key)
{
    const char *s = NULL;
    jx_str(obj, key, &s, NULL);
    return dd_strdup(s ? s : "");
}

/* Fills the typed copies from c->config / c->host_config. */
void ctr_derive(struct container *c)
{
    const json_t *cfg = c->config, *hc = c->host_config;
    const char *sig = NULL;
    int64_t timeout = 10;
    jx_bool(cfg, "Tty", &c->tty, NULL);
    jx_bool(cfg, "OpenStdin", &c->open_stdin, NULL);
    jx_bool(cfg, "StdinOnce", &c->stdin_once, NULL);
    dd_strv_free(c->env);
    c->env = NULL;
    jx_strv(cfg, "Env", &c->env, NULL);
    if (!c->env)
        c->env = dd_calloc(1, sizeof(char *));
    free(c->user);
    c->user = str_or_empty(cfg, "User");
    free(c->working_dir);
    c->working_dir = str_or_empty(cfg, "WorkingDir");
    free(c->hostname);
    c->hostname = str_or_empty(cfg, "Hostname");
    free(c->network_mode);
    c->network_mode = str_or_empty(hc, "NetworkMode");
    c->stop_signal = SIGTERM;
    if (jx_str(cfg, "StopSignal", &sig, NULL) == 0 && sig)
        ctr_signal_parse(sig, &c->stop_signal);
    jx_int(cfg, "StopTimeout", &timeout, NULL);
    c->stop_timeout = timeout < 0 ? -1 : (int)timeout;
}

void ctr_set_paths(struct container *c, const char *data_root, const char *exec_root)
{
    free(c->dir);
    free(c->state_dir);
    free(c->rootfs);
    free(c->log_path);
    c->dir = dd_asprintf("%s/containers/%s", data_root, c->id);
    c->state_dir = dd_asprintf("%s/containers/%s", exec_root, c->id);
    c->rootfs = dd_asprintf("%s/rootfs", c->state_dir);
    c->log_path = dd_asprintf("%s/%s-json.log", c->dir, c->id);
}

/* ---- serialisation of a record ---- */

static json_t *state_to_json(const struct ctr_state *st)
{
    json_t *o = json_object();
    jx_set_str(o, "Status", ctr_status_name(st->status));
    jx_set_int(o, "Pid", st->pid);
    jx_set_int(o, "ExitCode", st->exit_code);
    jx_set_bool(o, "OOMKilled", st->oom_killed);
    jx_set_str(o, "Error", st->error);
    jx_set_int(o, "StartedAt", st->started_ns);
    jx_set_int(o, "FinishedAt", st->finished_ns);
    jx_set_int(o, "RestartCount", st->restart_count);
    jx_set_bool(o, "ManualStop", st->manual_stop);
    return o;
}

char *ctr_record_dump(const struct container *c)
{
    json_t *o = json_object();
    jx_set_str(o, "Id", c->id);
    jx_set_str(o, "Name", c->name);
    jx_set_int(o, "Created", c->created_ns);
    jx_set_str(o, "Image", c->image);
    jx_set_str(o, "ImageID", c->image_id);
    jx_set_str(o, "Path", c->path);
    jx_set_new(o, "Args", jx_strv_new(c->args));
    jx_set_new(o, "Config", json_incref(c->config));
    jx_set_new(o, "HostConfig", json_incref(c->host_config));
    jx_set_new(o, "NetworkingConfig", c->net_config ? json_incref(c->net_config) : json_null());
    json_t *st = state_to_json(&c->st);
    if (c->health)
        jx_set_new(st, "Health", json_deep_copy(c->health));
    jx_set_new(o, "State", st);
    if (c->volumes)
        jx_set_new(o, "MountPoints", json_incref(c->volumes));
    char *s = jx_dump(o);
    json_decref(o);
    return s;
}

static int state_from_json(const json_t *o, struct ctr_state *st, dd_err *e)
{
    const char *status = "created", *err = "";
    int64_t pid = 0, code = 0, rc = 0;
    if (jx_str(o, "Status", &status, e) < 0 || jx_int(o, "Pid", &pid, e) < 0 ||
        jx_int(o, "ExitCode", &code, e) < 0 || jx_bool(o, "OOMKilled", &st->oom_killed, e) < 0 ||
        jx_str(o, "Error", &err, e) < 0 || jx_int(o, "StartedAt", &st->started_ns, e) < 0 ||
        jx_int(o, "FinishedAt", &st->finished_ns, e) < 0 || jx_int(o, "RestartCount", &rc, e) < 0 ||
        jx_bool(o, "ManualStop", &st->manual_stop, e) < 0)
        return -EINVAL;
    int s = ctr_status_parse(status);
    if (s < 0)
        return dd_err_set(e, EINVAL, "unknown status %s", status);
    st->status = s;
    st->pid = (pid_t)pid;
    st->exit_code = (int)code;
    st->restart_count = (int)rc;
    free(st->error);
    st->error = dd_strdup(err ? err : "");
    return 0;
}

static int record_strings(const json_t *o, struct container *c, dd_err *e)
{
    const char *id = NULL, *name = NULL, *image = "", *image_id = "", *path = "";
    if (jx_str(o, "Id", &id, e) < 0 || jx_str(o, "Name", &name, e) < 0 ||
        jx_str(o, "Image", &image, e) < 0 || jx_str(o, "ImageID", &image_id, e) < 0 ||
        jx_str(o, "Path", &path, e) < 0 || jx_int(o, "Created", &c->created_ns, e) < 0)
        return -EINVAL;
    if (!id || strlen(id) != 64 || !name || name[0] != '/')
        return dd_err_set(e, EINVAL, "record without a valid id or name");
    memcpy(c->id, id, 65);
    c->name = dd_strdup(name);
    c->image = dd_strdup(image ? image : "");
    c->image_id = dd_strdup(image_id ? image_id : "");
    c->path = dd_strdup(path ? path : "");
    return 0;
}

int ctr_record_load(const char *text, struct container **ret, dd_err *e)
{
    json_t *o = NULL, *cfg = NULL, *hc = NULL, *st = NULL;
    struct container *c = ctr_new();
    int r = jx_parse(text, strlen(text), &o, e);
    if (r < 0)
        goto fail;
    if ((r = record_strings(o, c, e)) < 0)
        goto fail;
    dd_strv_free(c->args);
    c->args = NULL;
    if ((r = jx_strv(o, "Args", &c->args, e)) < 0 || (r = jx_obj(o, "Config", &cfg, e)) < 0 ||
        (r = jx_obj(o, "HostConfig", &hc, e)) < 0 || (r = jx_obj(o, "State", &st, e)) < 0)
        goto fail;
    if (!c->args)
        c->args = dd_calloc(1, sizeof(char *));
    c->config = json_incref(cfg ? cfg : json_object());
    c->host_config = json_incref(hc ? hc : json_object());
    json_t *nc = jx_get(o, "NetworkingConfig");
    c->net_config = nc ? json_incref(nc) : NULL;
    if (st && (r = state_from_json(st, &c->st, e)) < 0)
        goto fail;
    json_t *health = st ? jx_get(st, "Health") : NULL;
    c->health = json_is_object(health) ? json_deep_copy(health) : NULL;
    json_t *mps = jx_get(o, "MountPoints");
    c->volumes = json_is_array(mps) ? json_incref(mps) : NULL;
    ctr_derive(c);
    json_decref(o);
    *ret = c;
    return 0;
fail:
    json_decref(o);
    ctr_unref(c);
    return r < 0 ? r : -EINVAL;
}
