/* pod.c: one pod's state machine on this node, stepped by kl_pod_sync() whenever the pod object
 * changes, a container exits or the sync timer fires: create the sandbox and volumes, run init
 * containers in order (a native sidecar, an init container with restartPolicy Always, only has to
 * have started; it keeps running beside the regular containers, is restarted whatever the pod's
 * policy, and is stopped once they have all finished for good, or after them on deletion),
 * then the regular containers, restart exited ones per restartPolicy with
 * CrashLoopBackOff back-off (10 s doubling to 5 min, the first restart immediate like
 * upstream), report status (phase, conditions, containerStatuses, hostIP, startTime), and on
 * deletion stop the containers gracefully (SIGTERM, SIGKILL after the grace period), tear the
 * sandbox down and remove the object.
 */
#include <signal.h>
#include <stdio.h>

#include "dind/cgroup.h"
#include "k3core/kubelet/kubelet-internal.h"
#include "k3core/kubelet/podspec.h"

#define BACKOFF_START_NS (10LL * 1000000000)
#define BACKOFF_MAX_NS   (300LL * 1000000000)
/* how often configMap/secret/downwardAPI/projected volumes catch up with their sources (upstream:
 * the sync period, about a minute) */
#define VOLUME_REFRESH_NS (10LL * 1000000000)

void kl_ctr_init(struct kl_pod *p, struct kl_ctr *x, const json_t *spec, bool init)
{
    *x = (struct kl_ctr){.k = p->k,
                         .pod = p,
                         .spec = json_incref((json_t *)spec),
                         .init = init,
                         .sidecar = init && dd_streq(kl_str(spec, "restartPolicy", NULL), "Always"),
                         .name = dd_strdup(kl_str(spec, "name", NULL) ?: ""),
                         .watch_fd = -1};
    x->state =
        json_pack("{s:{s:s}}", "waiting", "reason", init ? "PodInitializing" : "ContainerCreating");
}

static void ctrs_from(struct kl_pod *p, const json_t *arr, bool init)
{
    size_t i;
    json_t *c;
    json_array_foreach(arr, i, c)
    {
        p->ctrs = dd_realloc(p->ctrs, (p->n_ctrs + 1) * sizeof(*p->ctrs));
        kl_ctr_init(p, &p->ctrs[p->n_ctrs++], c, init);
    }
}

struct kl_pod *kl_pod_new(kubelet *k, json_t *obj)
{
    struct kl_pod *p = dd_calloc(1, sizeof(*p));
    const json_t *meta = json_object_get(obj, "metadata");
    p->k = k;
    p->ns = dd_strdup(kl_str(meta, "namespace", NULL) ?: "default");
    p->name = dd_strdup(kl_str(meta, "name", NULL) ?: "");
    p->uid = dd_strdup(kl_str(meta, "uid", NULL) ?: "");
    _cleanup_free_ char *pods = dd_path_join(k->agent_dir, "pods");
    _cleanup_free_ char *leaf = dd_asprintf("%s_%s_%s", p->ns, p->name, p->uid);
    p->dir = dd_path_join(pods, leaf);
    p->obj = kobj_without_managed_fields(obj);
    const json_t *spec = json_object_get(obj, "spec");
    ctrs_from(p, json_object_get(spec, "initContainers"), true);
    ctrs_from(p, json_object_get(spec, "containers"), false);
    return p;
}

static const char *policy(struct kl_pod *p)
{
    return kl_str(json_object_get(p->obj, "spec"), "restartPolicy", NULL) ?: "Always";
}

/* Ended and not to be restarted. */
static bool is_terminated(struct kl_pod *p, struct kl_ctr *c);

static int64_t grace_seconds(struct kl_pod *p)
{
    const json_t *g =
        json_object_get(json_object_get(p->obj, "spec"), "terminationGracePeriodSeconds");
    return json_is_integer(g) ? json_integer_value(g) : 30;
}

/* Every regular container has ended and none will be restarted: sidecars are no longer needed. */
static bool regulars_finished(struct kl_pod *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n_ctrs; i++) {
        if (p->ctrs[i].init)
            continue;
        if (!is_terminated(p, &p->ctrs[i]))
            return false;
        n++;
    }
    return n > 0;
}

static bool wants_restart(struct kl_pod *p, struct kl_ctr *c)
{
    const char *pol = policy(p);
    if (c->ephemeral)
        return false;
    if (c->sidecar)
        return !regulars_finished(p);
    if (c->init)
        return c->exit_code != 0 && strcmp(pol, "Never");
    return !strcmp(pol, "Always") || (!strcmp(pol, "OnFailure") && c->exit_code != 0);
}

static bool is_terminated(struct kl_pod *p, struct kl_ctr *c)
{
    return json_object_get(c->state, "terminated") && !c->restart_pending && !wants_restart(p, c);
}

static void back_off(struct kl_pod *p, struct kl_ctr *c)
{
    _cleanup_free_ char *msg =
        dd_asprintf("back-off %llds restarting failed container=%s pod=%s_%s(%s)",
                    (long long)(c->backoff_step_ns / 1000000000), c->name, p->name, p->ns, p->uid);
    json_decref(c->state);
    c->state = json_pack("{s:{s:s,s:s}}", "waiting", "reason", "CrashLoopBackOff", "message", msg);
    if (!c->restart_pending)
        kl_event(p->k, p->obj, "Warning", "BackOff",
                 "Back-off restarting failed container %s "
                 "in pod %s_%s(%s)",
                 c->name, p->name, p->ns, p->uid);
    c->restart_pending = true;
}

/* Arms the back-off for the next restart when an instance just ended. */
static void note_exit(struct kl_ctr *c)
{
    if (c->exit_code == 0 && (!c->init || c->sidecar) && c->backoff_ns == 0)
        return;
    if (c->backoff_ns == 0) {
        c->backoff_ns = BACKOFF_START_NS;
        return;
    }
    c->backoff_until_ns = dd_now_ns() + c->backoff_ns;
    c->backoff_step_ns = c->backoff_ns;
    c->backoff_ns = c->backoff_ns * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS : c->backoff_ns * 2;
}

/* After an instance ended: decide and maybe start the next one. The terminated state moves to
 * lastState as soon as a restart is decided, as upstream shows it during CrashLoopBackOff. */
static void after_exit(struct kl_pod *p, struct kl_ctr *c)
{
    if (c->init && !c->sidecar && c->exit_code == 0) {
        c->done = true;
        return;
    }
    if (!wants_restart(p, c))
        return;
    if (json_object_get(c->state, "terminated")) {
        json_decref(c->last_state);
        c->last_state = json_incref(c->state);
        free(c->prev_log);
        c->prev_log = c->log_path ? dd_strdup(c->log_path) : NULL;
        note_exit(c);
    }
    if (c->backoff_until_ns > dd_now_ns()) {
        back_off(p, c);
        return;
    }
    c->restarts++;
    c->restart_pending = false;
    if (kl_ctr_start(c) < 0 && json_object_get(c->state, "waiting")) {
        c->restarts--;
        c->restart_pending = true; /* image or config problem: retried on the next sync */
    }
}

static void step_ctr(struct kl_pod *p, struct kl_ctr *c)
{
    if (c->rt_id) {
        if (kl_ctr_check(c) == 1)
            after_exit(p, c);
        return;
    }
    if (json_object_get(c->state, "terminated") || c->restart_pending) {
        after_exit(p, c);
        return;
    }
    if (!c->done)
        kl_ctr_start(c);
}

/* An init container lets the next one start: it finished with 0, or it is a sidecar that has
 * started (and passed its startup probe) once. */
static bool init_complete(struct kl_ctr *c)
{
    if (c->sidecar && kl_ctr_is_started(c))
        c->sidecar_up = true;
    return c->sidecar ? c->sidecar_up : c->done;
}

static void run_containers(struct kl_pod *p)
{
    for (size_t i = 0; i < p->n_ctrs; i++) {
        struct kl_ctr *c = &p->ctrs[i];
        if (c->init && !c->sidecar && c->done)
            continue;
        step_ctr(p, c);
        if (c->init && !init_complete(c))
            return; /* later containers wait for this init container */
    }
    /* regular containers done for good: stop the sidecars, last one first, as upstream */
    if (regulars_finished(p))
        for (size_t i = p->n_ctrs; i-- > 0;)
            if (p->ctrs[i].sidecar && p->ctrs[i].rt_id && !p->ctrs[i].stopping) {
                kl_event(p->k, p->obj, "Normal", "Killing", "Stopping container %s",
                         p->ctrs[i].name);
                kl_ctr_stop(&p->ctrs[i], grace_seconds(p));
            }
}

/* The sandbox, volumes and pod cgroup exist once; errors are reported as events and retried. */
static int ensure_sandbox(struct kl_pod *p)
{
    if (p->netns)
        return 0;
    dd_err e = {0};
    int r = dd_mkdir_p(p->dir, 0755, &e);
    if (r >= 0)
        r = kl_sandbox_create(p, &e);
    if (r >= 0 && (r = kl_volumes_setup(p, &e)) < 0)
        kl_event(p->k, p->obj, "Warning", "FailedMount", "MountVolume.SetUp failed: %s", e.msg);
    else if (r < 0)
        kl_event(p->k, p->obj, "Warning", "FailedCreatePodSandBox",
                 "Failed to create pod sandbox: %s", e.msg);
    if (r < 0) {
        kl_volumes_teardown(p);
        kl_sandbox_destroy(p);
        return r;
    }
    p->start_ns = dd_now_ns();
    return 0;
}

static bool any_running(struct kl_pod *p)
{
    bool any = false;
    for (size_t i = 0; i < kl_pod_n_all(p); i++)
        if (kl_pod_ctr(p, i)->rt_id && kl_ctr_check(kl_pod_ctr(p, i)) == 0)
            any = true;
    return any;
}

static void delete_object(struct kl_pod *p)
{
    kobj_req req = {.res = kl_res("", "pods"), .ns = p->ns, .name = p->name};
    json_t *opts =
        json_pack("{s:i,s:{s:s}}", "gracePeriodSeconds", 0, "preconditions", "uid", p->uid);
    kobj_result res = {0};
    kobj_status st = {0};
    if (kl_api_delete(p->k, &req, opts, &res, &st) < 0 && st.code != 404)
        dd_warn("deleting pod %s/%s: %s", p->ns, p->name, st.message);
    kobj_result_release(&res);
    kobj_status_release(&st);
    json_decref(opts);
}

/* Stops the running containers of one kind (regular and ephemeral, or sidecar; sidecars last
 * one first) with what is left of the deletion grace period. */
static void stop_kind(struct kl_pod *p, bool sidecars, int64_t now)
{
    int64_t left = (p->kill_deadline_ns - now + 999999999) / 1000000000;
    size_t n = kl_pod_n_all(p);
    for (size_t j = 0; j < n; j++) {
        struct kl_ctr *c = kl_pod_ctr(p, sidecars ? n - 1 - j : j);
        if (!c->rt_id || c->sidecar != sidecars || (p->killing && c->stopping))
            continue;
        kl_event(p->k, p->obj, "Normal", "Killing", "Stopping container %s", c->name);
        c->stopping = false; /* a liveness kill in progress gives way to deletion */
        kl_ctr_stop(c, left > 0 ? left : 0);
    }
}

static bool regulars_running(struct kl_pod *p)
{
    for (size_t i = 0; i < kl_pod_n_all(p); i++) {
        struct kl_ctr *c = kl_pod_ctr(p, i);
        if (!c->sidecar && c->rt_id && kl_ctr_check(c) == 0)
            return true;
    }
    return false;
}

/* Deletion: regular containers get SIGTERM first, sidecars once they are gone, all within the
 * grace period; then everything is removed and the object deleted. */
static bool kill_step(struct kl_pod *p)
{
    int64_t now = dd_now_ns();
    if (!p->killing) {
        const json_t *g =
            json_object_get(json_object_get(p->obj, "metadata"), "deletionGracePeriodSeconds");
        p->kill_deadline_ns = now + (g ? json_integer_value(g) : 30) * 1000000000LL;
        stop_kind(p, false, now);
        p->killing = true;
    }
    if (!regulars_running(p))
        stop_kind(p, true, now);
    if (any_running(p) && now < p->kill_deadline_ns)
        return false;
    kl_pod_cleanup(p);
    delete_object(p);
    return true;
}

/* containerStatuses[].image: the spec's image fully qualified, as containerd reports it. */
static char *status_image(const struct kl_ctr *c)
{
    const char *image = kl_str(c->spec, "image", NULL) ?: "";
    img_ref ref;
    if (img_ref_parse(image, 0, &ref, NULL) < 0)
        return dd_strdup(image);
    char *s = img_ref_string(&ref);
    img_ref_release(&ref);
    return s;
}

json_t *kl_ctr_status(struct kl_ctr *c)
{
    _cleanup_free_ char *image = status_image(c);
    bool ready = c->init && !c->sidecar ? c->done : !c->ephemeral && kl_ctr_is_ready(c);
    /* "o" steals: a fresh {} must not get a second reference */
    json_t *s = json_pack("{s:s,s:O,s:o,s:b,s:i,s:s,s:s,s:b}", "name", c->name, "state", c->state,
                          "lastState", c->last_state ? json_incref(c->last_state) : json_object(),
                          "ready", ready, "restartCount", c->restarts, "image", image, "imageID",
                          c->image_id ? c->image_id : "", "started", kl_ctr_is_started(c));
    if (c->rt_id)
        json_object_set_new(s, "containerID", json_sprintf("dind://%s", c->rt_id));
    else if (json_object_get(json_object_get(c->state, "terminated"), "containerID"))
        json_object_set(s, "containerID",
                        json_object_get(json_object_get(c->state, "terminated"), "containerID"));
    return s;
}

/* Phase from the containers, upstream's rules (init failures with restartPolicy Never fail the
 * pod; all regular containers terminated: Succeeded when all exited 0, else Failed). */
static const char *phase(struct kl_pod *p, bool *ret_init)
{
    size_t n = 0, running = 0, term = 0, ok = 0, waiting = 0;
    bool init_done = true, init_failed = false;
    for (size_t i = 0; i < p->n_ctrs; i++) {
        struct kl_ctr *c = &p->ctrs[i];
        bool t = is_terminated(p, c);
        if (c->init) {
            init_done = init_done && init_complete(c);
            init_failed = init_failed || (!c->sidecar && t && c->exit_code != 0);
            continue;
        }
        n++;
        running += json_object_get(c->state, "running") != NULL;
        term += t;
        ok += t && c->exit_code == 0;
        waiting += !json_object_get(c->state, "running") && !t;
    }
    *ret_init = init_done;
    if (init_failed)
        return "Failed";
    if (!init_done || (running == 0 && waiting > 0 && p->n_ctrs && term == 0))
        return "Pending";
    if (term == n)
        return ok == n ? "Succeeded" : "Failed";
    return "Running";
}

static json_t *cond(const char *type, bool ok, const char *reason, const char *msg)
{
    _cleanup_free_ char *now = kl_now_rfc3339();
    json_t *c = json_pack("{s:s,s:s,s:n,s:s}", "type", type, "status", ok ? "True" : "False",
                          "lastProbeTime", "lastTransitionTime", now);
    if (reason)
        jx_set_str(c, "reason", reason);
    if (msg && *msg)
        jx_set_str(c, "message", msg);
    return c;
}

/* "[a b]" of the init containers (init) or of the containers that must be ready (regular ones
 * and sidecars) for which bad() holds. */
static char *names_where(struct kl_pod *p, bool init, bool (*bad)(struct kl_ctr *))
{
    dd_buf b;
    dd_buf_init(&b);
    for (size_t i = 0; i < p->n_ctrs; i++)
        if ((init ? p->ctrs[i].init : !p->ctrs[i].init || p->ctrs[i].sidecar) && bad(&p->ctrs[i]))
            dd_buf_addf(&b, "%s%s", b.len ? " " : "", p->ctrs[i].name);
    char *list = b.len ? dd_asprintf("[%s]", b.data) : NULL;
    dd_buf_release(&b);
    return list;
}

static bool not_ready(struct kl_ctr *c)
{
    return !kl_ctr_is_ready(c);
}

static bool not_done(struct kl_ctr *c)
{
    return !init_complete(c);
}

/* The first readiness gate whose condition is not True, as upstream words it; NULL = none. */
static char *gate_problem(const json_t *spec, const json_t *old_conds)
{
    size_t i, j;
    json_t *g, *c;
    json_array_foreach(json_object_get(spec, "readinessGates"), i, g)
    {
        const char *t = kl_str(g, "conditionType", NULL);
        const char *status = NULL;
        json_array_foreach(old_conds, j, c) if (dd_streq(kl_str(c, "type", NULL), t)) status =
            kl_str(c, "status", NULL);
        if (!status)
            return dd_asprintf("corresponding condition of pod readiness gate \"%s\" does not "
                               "exist.",
                               t ? t : "");
        if (strcmp(status, "True"))
            return dd_asprintf("the status of pod readiness gate \"%s\" is not \"True\", but %s",
                               t ? t : "", status);
    }
    return NULL;
}

static bool kubelet_owned(const char *type)
{
    static const char *const own[] = {"PodReadyToStartContainers", "Initialized", "Ready",
                                      "ContainersReady", "PodScheduled"};
    for (size_t i = 0; i < DD_ARRAY_SIZE(own); i++)
        if (dd_streq(type, own[i]))
            return true;
    return false;
}

static json_t *conditions(struct kl_pod *p, const char *ph, bool init, const json_t *old)
{
    bool done = !strcmp(ph, "Succeeded") || !strcmp(ph, "Failed");
    const json_t *old_conds = json_object_get(old, "conditions");
    _cleanup_free_ char *unready = done ? NULL : names_where(p, false, not_ready);
    _cleanup_free_ char *uninit = names_where(p, true, not_done);
    _cleanup_free_ char *gate = gate_problem(json_object_get(p->obj, "spec"), old_conds);
    _cleanup_free_ char *msg_ready =
        unready ? dd_asprintf("containers with unready status: %s", unready) : NULL;
    _cleanup_free_ char *msg_init =
        uninit ? dd_asprintf("containers with incomplete status: %s", uninit) : NULL;
    bool cready = !done && init && !unready;
    const char *why = done ? "PodCompleted" : "ContainersNotReady";
    json_t *conds = json_array();
    /* upstream's sandbox is gone once the pod completed */
    json_array_append_new(conds, cond("PodReadyToStartContainers", p->netns && !done, NULL, NULL));
    json_array_append_new(
        conds, cond("Initialized", init,
                    init ? (done ? "PodCompleted" : NULL) : "ContainersNotInitialized", msg_init));
    json_array_append_new(conds, cond("Ready", cready && !gate,
                                      cready ? (gate ? "ReadinessGatesNotReady" : NULL) : why,
                                      cready ? gate : msg_ready));
    json_array_append_new(conds, cond("ContainersReady", cready, cready ? NULL : why, msg_ready));
    json_array_append_new(conds, cond("PodScheduled", true, NULL, NULL));
    size_t i;
    json_t *c;
    json_array_foreach(old_conds, i, c) if (!kubelet_owned(kl_str(c, "type", NULL)))
        json_array_append(conds, c);
    kl_keep_transitions(conds, old_conds);
    return conds;
}

static json_t *pod_status(struct kl_pod *p)
{
    bool init;
    const char *ph = phase(p, &init);
    const json_t *old = json_object_get(p->obj, "status");
    json_t *st =
        json_pack("{s:s,s:o,s:s,s:[{s:s}],s:s}", "phase", ph, "conditions",
                  conditions(p, ph, init, old), "hostIP", p->k->node_ip, "hostIPs", "ip",
                  p->k->node_ip, "qosClass", kps_qos_class(json_object_get(p->obj, "spec")));
    if (p->pod_ip[0]) {
        jx_set_str(st, "podIP", p->pod_ip);
        json_object_set_new(st, "podIPs", json_pack("[{s:s}]", "ip", p->pod_ip));
    }
    if (p->start_ns) {
        _cleanup_free_ char *t = kl_str(old, "startTime", NULL)
                                     ? dd_strdup(kl_str(old, "startTime", NULL))
                                     : kl_now_rfc3339();
        jx_set_str(st, "startTime", t);
    }
    json_t *cs = json_array(), *ics = json_array();
    for (size_t i = 0; i < p->n_ctrs; i++)
        json_array_append_new(p->ctrs[i].init ? ics : cs, kl_ctr_status(&p->ctrs[i]));
    json_object_set_new(st, "containerStatuses", cs);
    if (json_array_size(ics))
        json_object_set_new(st, "initContainerStatuses", ics);
    else
        json_decref(ics);
    json_t *eph = kl_eph_statuses(p);
    if (eph)
        json_object_set_new(st, "ephemeralContainerStatuses", eph);
    return st;
}

bool kl_pod_sync(struct kl_pod *p)
{
    if (kl_str(json_object_get(p->obj, "metadata"), "deletionTimestamp", NULL))
        return kill_step(p);
    if (ensure_sandbox(p) == 0) {
        int64_t now = dd_now_ns();
        if (!p->volumes_at_ns)
            p->volumes_at_ns = now;
        else if (now - p->volumes_at_ns >= VOLUME_REFRESH_NS) {
            kl_volumes_refresh(p);
            p->volumes_at_ns = now;
        }
        run_containers(p);
        kl_eph_sync(p);
    }
    json_t *st = pod_status(p);
    if (kl_put_status(p->k, p->ns, p->name, st) == 0) {
        json_object_set(p->obj, "status", st);
    }
    json_decref(st);
    return false;
}

/* Kills and removes every container, the volumes, the sandbox, the pod cgroup and directory. */
void kl_pod_cleanup(struct kl_pod *p)
{
    for (size_t i = 0; i < kl_pod_n_all(p); i++)
        kl_ctr_remove(kl_pod_ctr(p, i));
    kl_volumes_teardown(p);
    kl_sandbox_destroy(p);
    _cleanup_free_ char *cg = dd_asprintf("kubepods/pod%s", p->uid);
    cg_prune(cg, NULL);
    cg_prune("kubepods", NULL);
    dd_rm_rf(p->dir, NULL);
}

void kl_ctr_release(struct kl_ctr *c)
{
    json_decref(c->spec), json_decref(c->state), json_decref(c->last_state);
    free(c->name), free(c->log_path), free(c->prev_log), free(c->image_id);
    dd_strv_free(c->env);
    free(c->user), free(c->cwd);
}

void kl_pod_free(struct kl_pod *p)
{
    for (size_t i = 0; i < p->n_ctrs; i++)
        kl_ctr_release(&p->ctrs[i]);
    free(p->ctrs);
    for (size_t i = 0; i < p->n_eph; i++) {
        kl_ctr_release(p->eph[i]);
        free(p->eph[i]);
    }
    free(p->eph);
    json_decref(p->obj);
    free(p->ns), free(p->name), free(p->uid), free(p->dir);
    dd_strv_free(p->events_sent);
    free(p);
}

void kl_pod_teardown(struct kl_pod *p)
{
    kl_pod_cleanup(p);
    kl_pod_free(p);
}
