/* probe.c: what happens around one running container instance — the postStart hook (the
 * container shows ContainerCreating until it finishes; a failure is a FailedPostStartHook event
 * and the instance is killed), the startup, liveness and readiness probes on their own timers
 * (upstream's worker: initialDelaySeconds, periodSeconds, timeoutSeconds and the thresholds of
 * kpr_record(); startup holds the other two off; a liveness or startup failure kills the
 * instance with upstream's "Killing" event and the pod's restartPolicy decides what follows),
 * and stopping an instance (preStop bounded by the grace period, then the stop signal, SIGKILL
 * when the grace period is over). Handlers run asynchronously through handler.c. Restarts and
 * status are pod.c's: this file only changes the container's state and asks for a sync.
 */
#include <signal.h>
#include <stdio.h>

#include "k3core/kubelet/kubelet-internal.h"

struct kl_prober {
    struct kl_ctr *c;
    enum kpr_kind kind;
    struct kpr_probe spec;
    char *error; /* the probe could not be parsed: every run reports this */
    struct kpr_state st;
    ev_timer *tick;
    struct kl_hrun *run;
    bool on_hold; /* liveness/startup failed: no more runs for this instance */
};

static void prober_free(void *data)
{
    struct kl_prober *pr = data;
    kpr_probe_release(&pr->spec);
    free(pr->error);
    free(pr);
}

static void prober_stop(struct kl_ctr *c, enum kpr_kind kind)
{
    struct kl_prober *pr = c->probers[kind];
    if (!pr)
        return;
    c->probers[kind] = NULL;
    ev_timer_del(pr->tick);
    kl_hrun_cancel(pr->run);
    ev_defer(c->k->loop, prober_free, pr);
}

static int64_t grace_of(const struct kl_ctr *c, int64_t probe_grace)
{
    if (probe_grace >= 0)
        return probe_grace;
    const json_t *g =
        json_object_get(json_object_get(c->pod->obj, "spec"), "terminationGracePeriodSeconds");
    return json_is_integer(g) ? json_integer_value(g) : 30;
}

static void kill_for_probe(struct kl_ctr *c, enum kpr_kind kind, int64_t probe_grace)
{
    const char *pol = kl_str(json_object_get(c->pod->obj, "spec"), "restartPolicy", NULL);
    bool restart = !dd_streq(pol, "Never");
    kl_event(c->k, c->pod->obj, "Normal", "Killing", "Container %s failed %s probe%s", c->name,
             kind == KPR_LIVENESS ? "liveness" : "startup", restart ? ", will be restarted" : "");
    kl_ctr_stop(c, grace_of(c, probe_grace));
}

static void on_probe_result(void *ud, enum kpr_result res, bool errored, int code, const char *msg)
{
    struct kl_prober *pr = ud;
    struct kl_ctr *c = pr->c;
    pr->run = NULL;
    if (res == KPR_UNKNOWN && !errored)
        return; /* the instance is exiting: the sync that notices it stops this prober */
    if (res != KPR_SUCCESS) {
        kl_event(c->k, c->pod->obj, "Warning", "Unhealthy", "%s probe %s: %s",
                 kpr_kind_title(pr->kind), errored ? "errored" : "failed", msg);
        res = KPR_FAILURE;
    }
    enum kpr_result before = pr->st.result;
    if (!kpr_record(&pr->st, &pr->spec, res))
        return;
    if (pr->st.result != before)
        kl_sync_soon(c->k);
    if (pr->kind == KPR_STARTUP && res == KPR_SUCCESS) {
        c->started_ok = true; /* upstream stops probing startup once it passed */
        prober_stop(c, KPR_STARTUP);
        return;
    }
    if (pr->kind != KPR_READINESS && res == KPR_FAILURE) {
        pr->on_hold = true;
        pr->st.run = 0;
        kill_for_probe(c, pr->kind, pr->spec.termination_grace); /* may free pr */
    }
}

static void on_tick(ev_timer *t, void *data)
{
    struct kl_prober *pr = data;
    struct kl_ctr *c = pr->c;
    (void)t;
    if (pr->run || pr->on_hold || c->stopping || c->hook)
        return;
    if (pr->kind != KPR_STARTUP && !c->started_ok)
        return; /* the startup probe holds liveness and readiness off */
    if (pr->error) {
        on_probe_result(pr, KPR_UNKNOWN, true, -1, pr->error);
        return;
    }
    pr->run = kl_hrun_start(c, &pr->spec.h, pr->spec.timeout, on_probe_result, pr);
}

static void prober_start(struct kl_ctr *c, enum kpr_kind kind)
{
    const json_t *o = json_object_get(c->spec, kpr_kind_field(kind));
    if (!json_is_object(o))
        return;
    struct kl_prober *pr = dd_calloc(1, sizeof(*pr));
    pr->c = c;
    pr->kind = kind;
    dd_err e = {0};
    if (kpr_probe_parse(o, c->spec, &pr->spec, &e) < 0) {
        pr->error = dd_strdup(e.msg);
        pr->spec = (struct kpr_probe){
            .period = 10, .failure_threshold = 3, .success_threshold = 1, .termination_grace = -1};
    }
    /* upstream's initial results: not ready, alive, not started */
    pr->st.result = kind == KPR_READINESS  ? KPR_FAILURE
                    : kind == KPR_LIVENESS ? KPR_SUCCESS
                                           : KPR_UNKNOWN;
    pr->tick = ev_timer_add(c->k->loop, (uint64_t)pr->spec.initial_delay * 1000,
                            (uint64_t)pr->spec.period * 1000, on_tick, pr);
    c->probers[kind] = pr;
}

static void set_running(struct kl_ctr *c)
{
    _cleanup_free_ char *now = kl_now_rfc3339();
    json_decref(c->state);
    c->state = json_pack("{s:{s:s}}", "running", "startedAt", now);
    c->started_ok = !json_is_object(json_object_get(c->spec, "startupProbe"));
    for (int k = 0; k < KPR_N_KINDS; k++)
        prober_start(c, (enum kpr_kind)k);
    kl_sync_soon(c->k);
}

/* Go's %q of s: quoted, with \n, \t, \", \\ and \xNN escapes. */
static void go_quote(dd_buf *b, const char *s)
{
    dd_buf_addc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            dd_buf_addf(b, "\\%c", *p);
        else if (*p == '\n' || *p == '\t' || *p == '\r')
            dd_buf_adds(b, *p == '\n' ? "\\n" : *p == '\t' ? "\\t" : "\\r");
        else if (*p < 0x20 || *p == 0x7f)
            dd_buf_addf(b, "\\x%02x", *p);
        else
            dd_buf_addc(b, (char)*p);
    }
    dd_buf_addc(b, '"');
}

/* Upstream's FailedPostStartHook/FailedPreStopHook message. */
static char *hook_failure(struct kl_ctr *c, int code, const char *msg)
{
    const struct kpr_handler *h = &c->hook_h;
    dd_buf b;
    dd_buf_init(&b);
    if (h->action == KPR_EXEC) {
        dd_buf cmd;
        dd_buf_init(&cmd);
        for (size_t i = 0; h->cmd && h->cmd[i]; i++)
            dd_buf_addf(&cmd, "%s%s", i ? " " : "", h->cmd[i]);
        dd_buf_addf(&b,
                    "Exec lifecycle hook ([%s]) for Container \"%s\" in Pod \"%s_%s(%s)\" failed - "
                    "error: ",
                    cmd.data ? cmd.data : "", c->name, c->pod->name, c->pod->ns, c->pod->uid);
        if (code >= 0)
            dd_buf_addf(&b, "command '%s' exited with %d: , message: ", cmd.data ? cmd.data : "",
                        code);
        else
            dd_buf_addf(&b, "%s, message: ", msg), msg = "";
        go_quote(&b, msg);
        dd_buf_release(&cmd);
    } else {
        dd_buf_addf(&b,
                    "%s lifecycle hook (%s) for Container \"%s\" in Pod \"%s_%s(%s)\" failed - "
                    "error: %s",
                    h->action == KPR_HTTP ? "HTTP" : "Sleep", h->path ? h->path : "", c->name,
                    c->pod->name, c->pod->ns, c->pod->uid, msg);
    }
    return dd_buf_detach(&b, NULL);
}

static void on_post_start(void *ud, enum kpr_result res, bool errored, int code, const char *msg)
{
    struct kl_ctr *c = ud;
    (void)errored;
    c->hook = NULL;
    _cleanup_free_ char *m = res == KPR_SUCCESS ? NULL : hook_failure(c, code, msg);
    kpr_handler_release(&c->hook_h);
    if (res == KPR_SUCCESS) {
        set_running(c);
        return;
    }
    kl_event(c->k, c->pod->obj, "Warning", "FailedPostStartHook", "%s", m);
    json_decref(c->state);
    c->state = json_pack("{s:{s:s,s:s}}", "waiting", "reason", "PostStartHookError", "message", m);
    kl_event(c->k, c->pod->obj, "Normal", "Killing", "FailedPostStartHook");
    kl_ctr_stop(c, grace_of(c, -1));
}

void kl_ctr_started(struct kl_ctr *c)
{
    const json_t *h = json_object_get(json_object_get(c->spec, "lifecycle"), "postStart");
    if (!json_is_object(h)) {
        set_running(c);
        return;
    }
    dd_err e = {0};
    if (kpr_handler_parse(h, c->spec, &c->hook_h, &e) < 0) {
        kl_event(c->k, c->pod->obj, "Warning", "FailedPostStartHook", "%s", e.msg);
        kl_ctr_stop(c, grace_of(c, -1));
        return;
    }
    c->hook = kl_hrun_start(c, &c->hook_h, 0, on_post_start, c);
}

static void on_kill_timer(ev_timer *t, void *data)
{
    struct kl_ctr *c = data;
    (void)t;
    if (c->state_dir)
        rt_kill(c->state_dir, SIGKILL, NULL);
}

static void send_stop_signal(struct kl_ctr *c, int64_t left_ms)
{
    if (c->state_dir)
        rt_kill(c->state_dir, 0, NULL);
    ev_timer_del(c->kill_timer);
    c->kill_timer =
        ev_timer_add(c->k->loop, left_ms > 0 ? (uint64_t)left_ms : 0, 0, on_kill_timer, c);
}

static void on_pre_stop(void *ud, enum kpr_result res, bool errored, int code, const char *msg)
{
    struct kl_ctr *c = ud;
    (void)errored;
    c->hook = NULL;
    if (res != KPR_SUCCESS) {
        _cleanup_free_ char *m = hook_failure(c, code, msg);
        kl_event(c->k, c->pod->obj, "Warning", "FailedPreStopHook", "%s", m);
    }
    kpr_handler_release(&c->hook_h);
    /* upstream grants 2 s more when preStop used the whole grace period */
    int64_t left = (c->stop_deadline_ns - dd_now_ns()) / 1000000;
    send_stop_signal(c, left > 2000 ? left : 2000);
}

void kl_ctr_stop(struct kl_ctr *c, int64_t grace_s)
{
    if (c->stopping || !c->rt_id)
        return;
    c->stopping = true;
    c->stop_deadline_ns = dd_now_ns() + grace_s * 1000000000LL;
    for (int k = 0; k < KPR_N_KINDS; k++)
        prober_stop(c, (enum kpr_kind)k);
    kl_hrun_cancel(c->hook);
    c->hook = NULL;
    kpr_handler_release(&c->hook_h);
    const json_t *h = json_object_get(json_object_get(c->spec, "lifecycle"), "preStop");
    dd_err e = {0};
    if (!json_is_object(h) || grace_s <= 0 || kpr_handler_parse(h, c->spec, &c->hook_h, &e) < 0) {
        if (json_is_object(h) && grace_s > 0)
            kl_event(c->k, c->pod->obj, "Warning", "FailedPreStopHook", "%s", e.msg);
        send_stop_signal(c, grace_s * 1000);
        return;
    }
    c->hook = kl_hrun_start(c, &c->hook_h, (int)grace_s, on_pre_stop, c);
}

void kl_ctr_runtime_stop(struct kl_ctr *c)
{
    for (int k = 0; k < KPR_N_KINDS; k++)
        prober_stop(c, (enum kpr_kind)k);
    kl_hrun_cancel(c->hook);
    c->hook = NULL;
    kpr_handler_release(&c->hook_h);
    ev_timer_del(c->kill_timer);
    c->kill_timer = NULL;
    c->stopping = false;
    c->started_ok = false;
}

bool kl_ctr_is_started(const struct kl_ctr *c)
{
    return json_object_get(c->state, "running") && c->started_ok;
}

bool kl_ctr_is_ready(const struct kl_ctr *c)
{
    const struct kl_prober *r = c->probers[KPR_READINESS];
    if (!kl_ctr_is_started(c) || c->stopping)
        return false;
    if (!json_is_object(json_object_get(c->spec, "readinessProbe")))
        return true;
    return r && r->st.result == KPR_SUCCESS;
}
