/* ctr.c: one container instance of a pod — get the image (pull.c applies the pull policy and
 * pulls from registries), build
 * the environment and mounts, translate with kps_build(), rt_create + rt_start, watch the
 * shim's pidfd on the loop, and when the instance has exited turn its rt_state into a
 * `terminated` containerStatus state (with the termination message the container wrote to its
 * terminationMessagePath, or its log's tail for FallbackToLogsOnError) and delete the instance
 * (logs stay).
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k3core/kubelet/kubelet-internal.h"
#include "k3core/kubelet/podspec.h"

static void on_exit_fd(ev_io *w, int fd, unsigned events, void *data)
{
    struct kl_ctr *c = data;
    (void)fd, (void)events;
    ev_io_del(w);
    c->watch = NULL;
    kl_sync_soon(c->k);
}

static void set_waiting(struct kl_ctr *c, const char *reason, const char *msg)
{
    json_decref(c->state);
    c->state = json_pack("{s:{s:s}}", "waiting", "reason", reason);
    if (msg)
        jx_set_str(json_object_get(c->state, "waiting"), "message", msg);
}

#define TERM_MSG_MAX   4096 /* upstream's cap on a termination message file */
#define TERM_LOG_LINES 80   /* FallbackToLogsOnError: the log's last lines, */
#define TERM_LOG_MAX   2048 /* at most this many bytes */

/* <pod dir>/rw/<rt id>/termination-log: bind-mounted at the container's terminationMessagePath. */
static char *term_file(struct kl_ctr *c)
{
    _cleanup_free_ char *rw = dd_path_join(c->pod->dir, "rw");
    _cleanup_free_ char *mine = dd_path_join(rw, c->rt_id);
    return dd_path_join(mine, "termination-log");
}

/* The log's last lines for FallbackToLogsOnError, both streams, as upstream's kubelet reads
 * them. */
static char *log_tail(const char *path)
{
    struct rt_log_reader *r = NULL;
    if (!path || rt_log_open(path, RT_LOG_CRI, 0, 0, TERM_LOG_LINES, &r, NULL) < 0)
        return NULL;
    dd_buf b;
    dd_buf_init(&b);
    struct rt_log_entry en;
    while (rt_log_next(r, &en, NULL) == 1)
        dd_buf_add(&b, en.data, en.len);
    rt_log_close(r);
    size_t skip = b.len > TERM_LOG_MAX ? b.len - TERM_LOG_MAX : 0;
    char *s = dd_strndup(b.data ? b.data + skip : "", b.len - skip);
    dd_buf_release(&b);
    return s;
}

/* state.terminated.message: what the container wrote to its terminationMessagePath, else with
 * policy FallbackToLogsOnError and a failure the log's tail; NULL when empty. */
static char *term_message(struct kl_ctr *c, int exit_code)
{
    _cleanup_free_ char *path = term_file(c);
    char *msg = NULL;
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0) {
        msg = dd_malloc(TERM_MSG_MAX + 1);
        ssize_t n = read(fd, msg, TERM_MSG_MAX);
        len = n > 0 ? (size_t)n : 0;
        msg[len] = 0;
        close(fd);
    }
    if (len == 0 && exit_code != 0 &&
        dd_streq(kl_str(c->spec, "terminationMessagePolicy", NULL), "FallbackToLogsOnError")) {
        free(msg);
        msg = log_tail(c->log_path);
        len = msg ? strlen(msg) : 0;
    }
    if (len == 0) {
        free(msg);
        return NULL;
    }
    return msg;
}

static json_t *terminated(struct kl_ctr *c, const struct rt_state *s)
{
    const char *reason = s->oom_killed       ? "OOMKilled"
                         : s->error          ? "StartError"
                         : s->exit_code == 0 ? "Completed"
                                             : "Error";
    _cleanup_free_ char *st = kl_rfc3339(s->started_at ? s->started_at : s->finished_at);
    _cleanup_free_ char *fin = kl_rfc3339(s->finished_at ? s->finished_at : dd_now_ns());
    _cleanup_free_ char *cid = dd_asprintf("dind://%s", c->rt_id);
    json_t *t = json_pack("{s:i,s:s,s:s,s:s,s:s}", "exitCode", s->exit_code, "reason", reason,
                          "startedAt", st, "finishedAt", fin, "containerID", cid);
    if (s->exit_signal && !s->error)
        jx_set_int(t, "signal", s->exit_signal);
    _cleanup_free_ char *msg = s->error ? NULL : term_message(c, s->exit_code);
    if (s->error || msg)
        jx_set_str(t, "message", s->error ? s->error : msg);
    return json_pack("{s:o}", "terminated", t);
}

/* Called when the instance may have exited: 1 when it has (state is now terminated). */
int kl_ctr_check(struct kl_ctr *c)
{
    if (!c->rt_id)
        return 0;
    struct rt_state s = {0};
    dd_err e = {0};
    if (rt_state(c->state_dir, &s, &e) < 0) {
        s.status = RT_EXITED;
        s.exit_code = 128;
        s.error = dd_strdup(e.msg);
    }
    if (s.status == RT_RUNNING || s.status == RT_CREATED) {
        rt_state_release(&s);
        return 0;
    }
    json_decref(c->state);
    c->state = terminated(c, &s);
    c->exit_code = s.exit_code;
    rt_state_release(&s);
    kl_ctr_remove(c);
    return 1;
}

void kl_ctr_remove(struct kl_ctr *c)
{
    kl_ctr_runtime_stop(c);
    if (!c->rt_id)
        return;
    ev_io_del(c->watch);
    c->watch = NULL;
    if (c->watch_fd >= 0)
        close(c->watch_fd);
    c->watch_fd = -1;
    dd_err e = {0};
    if (rt_delete(c->state_dir, &e) < 0)
        dd_warn("container %s: %s", c->rt_id, e.msg);
    _cleanup_free_ char *rw = dd_path_join(c->pod->dir, "rw");
    _cleanup_free_ char *mine = dd_path_join(rw, c->rt_id);
    dd_rm_rf(mine, NULL);
    free(c->rt_id), c->rt_id = NULL;
    free(c->state_dir), c->state_dir = NULL;
}

static int prepare_dirs(struct kl_ctr *c, char **ret_upper, char **ret_work, dd_err *e)
{
    _cleanup_free_ char *rw = dd_path_join(c->pod->dir, "rw");
    _cleanup_free_ char *mine = dd_path_join(rw, c->rt_id);
    *ret_upper = dd_path_join(mine, "upper");
    *ret_work = dd_path_join(mine, "work");
    _cleanup_free_ char *logdir = dd_path_join(c->pod->dir, c->name);
    int r = dd_mkdir_p(*ret_upper, 0755, e);
    if (r >= 0)
        r = dd_mkdir_p(*ret_work, 0700, e);
    if (r >= 0)
        r = dd_mkdir_p(logdir, 0755, e);
    return r;
}

static char *instance_log(struct kl_ctr *c)
{
    _cleanup_free_ char *logdir = dd_path_join(c->pod->dir, c->name);
    _cleanup_free_ char *f = dd_asprintf("%d.log", c->restarts);
    return dd_path_join(logdir, f);
}

/* An empty, world-writable termination message file mounted at terminationMessagePath. */
static int term_mount(struct kl_ctr *c, struct rt_mount **m, size_t *n, dd_err *e)
{
    const char *dest = kl_str(c->spec, "terminationMessagePath", NULL) ?: "/dev/termination-log";
    if (dest[0] != '/')
        return 0;
    _cleanup_free_ char *path = term_file(c);
    int r = dd_write_file_replace(path, "", 0, 0666, e);
    if (r >= 0 && chmod(path, 0666) < 0)
        r = dd_err_sys(e, "chmod %s", path);
    if (r < 0)
        return r;
    *m = dd_realloc(*m, (*n + 1) * sizeof(**m));
    (*m)[(*n)++] = (struct rt_mount){.destination = dd_strdup(dest),
                                     .type = dd_strdup("bind"),
                                     .source = TAKE_PTR(path),
                                     .options = dd_strv_push(dd_strv_push(NULL, "bind"), "rw")};
    return 0;
}

static int create_start(struct kl_ctr *c, img_image *img, dd_err *e)
{
    struct kl_pod *p = c->pod;
    _cleanup_strv_free_ char **env = NULL;
    _cleanup_free_ char *upper = NULL, *work = NULL;
    _cleanup_free_ char *cg = dd_asprintf("kubepods/pod%s", p->uid);
    _cleanup_free_ char *pidns = NULL;
    struct rt_mount *mounts = NULL;
    size_t n_mounts = 0;
    int r = c->ephemeral ? kl_eph_target_pidns(c, &pidns, e) : 0;
    if (r >= 0)
        r = kl_env(p, c->spec, img_image_runconfig(img), &env, e);
    dd_strv_free(c->env);
    c->env = dd_strv_copy(env);
    if (r >= 0)
        r = kl_volume_mounts(p, c->spec, &mounts, &n_mounts, e);
    if (r >= 0)
        r = prepare_dirs(c, &upper, &work, e);
    if (r >= 0)
        r = term_mount(c, &mounts, &n_mounts, e);
    free(c->log_path);
    c->log_path = instance_log(c);
    struct kps_in in = {.pod = p->obj,
                        .ctr = c->spec,
                        .runconfig = img_image_runconfig(img),
                        .lower_dirs = img->layer_dirs,
                        .env = env,
                        .id = c->rt_id,
                        .upper_dir = upper,
                        .work_dir = work,
                        .log_path = c->log_path,
                        .cgroup_parent = cg,
                        .netns = p->netns,
                        .ipcns = p->ipcns,
                        .utsns = p->utsns,
                        .pidns = pidns,
                        .mounts = mounts,
                        .n_mounts = n_mounts};
    struct rt_spec spec = {0};
    if (r >= 0)
        r = kps_build(&in, &spec, e);
    free(c->user), free(c->cwd);
    c->user = r >= 0 && spec.process.user ? dd_strdup(spec.process.user) : NULL;
    c->cwd = r >= 0 && spec.process.cwd ? dd_strdup(spec.process.cwd) : NULL;
    kl_mounts_free(mounts, n_mounts);
    if (r >= 0)
        r = rt_create(&spec, c->state_dir, e);
    rt_spec_release(&spec);
    if (r < 0)
        return r;
    c->created = true;
    kl_event(c->k, p->obj, "Normal", "Created", "Created container %s", c->name);
    return rt_start(c->state_dir, e);
}

static void watch_exit(struct kl_ctr *c)
{
    dd_err e = {0};
    c->watch_fd = rt_watch_fd(c->state_dir, &e);
    if (c->watch_fd >= 0)
        c->watch = ev_io_add(c->k->loop, c->watch_fd, EV_READ, on_exit_fd, c, &e);
}

/* containerStatuses[].imageID as containerd reports it: the fully qualified repo digest
 * ("docker.io/library/busybox@sha256:...") when the image has one, else its ID. */
static char *image_id(const img_image *img)
{
    img_ref ref;
    if (!img->repo_digests[0] || img_ref_parse(img->repo_digests[0], 0, &ref, NULL) < 0)
        return dd_strdup(img->id);
    char *s = img_ref_string(&ref);
    img_ref_release(&ref);
    return s;
}

/* Starts a new instance; on failure the container is left in a waiting or terminated state. */
int kl_ctr_start(struct kl_ctr *c)
{
    const char *image = kl_str(c->spec, "image", NULL);
    img_image *img = NULL;
    if (kl_image_ensure(c, image ? image : "", &img) < 0)
        return -ENOENT;
    c->pull_failed = 0;
    free(c->image_id);
    c->image_id = image_id(img);
    c->rt_id = dd_asprintf("%s-%s-%d", c->pod->uid, c->name, c->restarts);
    _cleanup_free_ char *cdir = dd_path_join(c->k->agent_dir, "containers");
    c->state_dir = dd_path_join(cdir, c->rt_id);
    dd_err e = {0};
    c->created = false;
    int r = create_start(c, img, &e);
    img_image_free(img);
    if (r < 0 && !c->created) {
        set_waiting(c, "CreateContainerError", e.msg);
        kl_event(c->k, c->pod->obj, "Warning", "Failed", "Error: %s", e.msg);
        kl_ctr_remove(c);
        return r;
    }
    if (r < 0) {
        kl_event(c->k, c->pod->obj, "Warning", "Failed", "Error: %s", e.msg);
        kl_ctr_check(c);
        return r;
    }
    kl_event(c->k, c->pod->obj, "Normal", "Started", "Started container %s", c->name);
    set_waiting(c, "ContainerCreating", NULL);
    watch_exit(c);
    kl_ctr_started(c);
    return 0;
}
