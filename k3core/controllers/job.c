/* job.c: the Job controller, as upstream's for NonIndexed jobs — keeps min(parallelism,
 * completions - succeeded) pods running from the template (with the job-name/controller-uid
 * labels), counts succeeded and failed pods, backs off after failures (10 s doubling, capped at
 * 6 min), and finishes the job: SuccessCriteriaMet + Complete with completionTime once enough
 * pods succeeded, FailureTarget + Failed with BackoffLimitExceeded or DeadlineExceeded (active
 * pods are then deleted). Finished jobs with ttlSecondsAfterFinished are deleted when it runs
 * out. With restartPolicy OnFailure container restarts count against backoffLimit, as upstream.
 * Indexed jobs give each pod a completion index (annotation, label, hostname `<job>-<i>`,
 * JOB_COMPLETION_INDEX) and report completedIndexes. Not done: backoffLimitPerIndex,
 * podFailurePolicy, successPolicy, suspend conditions.
 */
#include <stdio.h>
#include <stdlib.h>

#include "k3core/controllers/ctl-internal.h"

#define COMPONENT "job-controller"
#define NS_PER_S  1000000000LL

#define INDEX_KEY "batch.kubernetes.io/job-completion-index"

typedef struct jstate {
    json_t *job;
    json_t *active; /* running or pending pods, scale-down order */
    int64_t succeeded, failed, ready, terminating;
    int64_t last_failure_ns;
    int64_t n;         /* Indexed: completions; 0 for NonIndexed */
    bool *done, *busy; /* Indexed: succeeded / active per index */
} jstate;

/* A pod's completion index, or -1. */
static int64_t index_of(const jstate *s, const json_t *pod)
{
    const char *v = json_string_value(json_object_get(
        json_object_get(json_object_get(pod, "metadata"), "annotations"), INDEX_KEY));
    char *end = NULL;
    long long i = v ? strtoll(v, &end, 10) : -1;
    return v && !*end && i >= 0 && i < s->n ? i : -1;
}

static void count_indexes(jstate *s, const json_t *pods)
{
    size_t i;
    json_t *p;
    kctl_parse_indexes(kctl_str(json_object_get(s->job, "status"), "completedIndexes", NULL),
                       s->done, s->n);
    json_array_foreach(pods, i, p)
    {
        int64_t x = index_of(s, p);
        const char *phase = kctl_str(json_object_get(p, "status"), "phase", NULL);
        if (x >= 0 && dd_streq(phase, "Succeeded"))
            s->done[x] = true;
    }
    json_array_foreach(s->active, i, p)
    {
        int64_t x = index_of(s, p);
        if (x >= 0)
            s->busy[x] = true;
    }
    s->succeeded = 0;
    for (int64_t x = 0; x < s->n; x++)
        s->succeeded += s->done[x];
}

static bool cond_true(const json_t *job, const char *type)
{
    const json_t *c =
        kctl_condition(json_object_get(json_object_get(job, "status"), "conditions"), type);
    return c && dd_streq(kctl_str(c, "status", NULL), "True");
}

static int64_t time_of(const char *s)
{
    int64_t t = 0;
    return s && dd_parse_rfc3339(s, &t) == 0 ? t : 0;
}

static int64_t pod_finished_at(const json_t *pod)
{
    int64_t best = 0;
    size_t i;
    json_t *cs;
    json_array_foreach(json_object_get(json_object_get(pod, "status"), "containerStatuses"), i, cs)
    {
        int64_t t = time_of(kctl_str(json_object_get(json_object_get(cs, "state"), "terminated"),
                                     "finishedAt", NULL));
        if (t > best)
            best = t;
    }
    return best;
}

static void count(jstate *s, const json_t *pods)
{
    size_t i;
    json_t *p;
    s->active = json_array();
    json_array_foreach(pods, i, p)
    {
        const char *phase = kctl_str(json_object_get(p, "status"), "phase", NULL);
        if (dd_streq(phase, "Succeeded"))
            s->succeeded++;
        else if (dd_streq(phase, "Failed")) {
            s->failed++;
            int64_t t = pod_finished_at(p);
            if (t > s->last_failure_ns)
                s->last_failure_ns = t;
        } else if (kctl_str(p, "metadata", "deletionTimestamp"))
            s->terminating++;
        else {
            json_array_append(s->active, p);
            s->ready += kctl_pod_ready(p);
        }
    }
    /* pods deleted by someone else are gone from the list but stay counted */
    const json_t *st = json_object_get(s->job, "status");
    if (kctl_int(st, "succeeded", NULL, 0) > s->succeeded)
        s->succeeded = kctl_int(st, "succeeded", NULL, 0);
    if (kctl_int(st, "failed", NULL, 0) > s->failed)
        s->failed = kctl_int(st, "failed", NULL, 0);
    kctl_sort_pods(s->active);
    if (s->n)
        count_indexes(s, pods);
}

static void add_condition(json_t *conds, const char *type, const char *reason, const char *msg)
{
    kctl_set_condition(conds, type, "True", reason, msg, false);
    json_t *c = (json_t *)kctl_condition(conds, type);
    json_object_set(c, "lastProbeTime", json_object_get(c, "lastTransitionTime"));
}

static json_t *conditions_of(json_t *st)
{
    json_t *conds = json_object_get(st, "conditions");
    if (!json_is_array(conds)) {
        conds = json_array();
        json_object_set_new(st, "conditions", conds);
    }
    return conds;
}

static void delete_active(kctl *c, jstate *s)
{
    size_t i;
    json_t *p;
    json_array_foreach(s->active, i, p)
    {
        if (kctl_delete_pod(c, s->job, p, COMPONENT) == 0)
            s->terminating++;
    }
    json_array_clear(s->active);
}

/* With restartPolicy OnFailure, container restarts of active pods count as failures. */
static int64_t restarts(const jstate *s)
{
    const json_t *tspec =
        json_object_get(json_object_get(json_object_get(s->job, "spec"), "template"), "spec");
    if (!dd_streq(kctl_str(tspec, "restartPolicy", NULL), "OnFailure"))
        return 0;
    static const char *const lists[] = {"containerStatuses", "initContainerStatuses"};
    int64_t n = 0;
    size_t i, j;
    json_t *p, *cs;
    json_array_foreach(s->active, i, p)
    {
        for (size_t l = 0; l < 2; l++) {
            const json_t *statuses = json_object_get(json_object_get(p, "status"), lists[l]);
            json_array_foreach(statuses, j, cs)
            {
                n += kctl_int(cs, "restartCount", NULL, 0);
            }
        }
    }
    return n;
}

/* Returns the failure reason when the job must fail now, else NULL. */
static const char *failure(const jstate *s, const char **ret_msg)
{
    const json_t *spec = json_object_get(s->job, "spec");
    if (s->failed + restarts(s) > kctl_int(spec, "backoffLimit", NULL, 6)) {
        *ret_msg = "Job has reached the specified backoff limit";
        return "BackoffLimitExceeded";
    }
    int64_t ads = kctl_int(spec, "activeDeadlineSeconds", NULL, 0);
    int64_t start = time_of(kctl_str(json_object_get(s->job, "status"), "startTime", NULL));
    if (ads > 0 && start && start + ads * NS_PER_S <= dd_now_ns()) {
        *ret_msg = "Job was active longer than specified deadline";
        return "DeadlineExceeded";
    }
    return NULL;
}

static bool complete(const jstate *s)
{
    const json_t *comp = json_object_get(json_object_get(s->job, "spec"), "completions");
    if (json_is_integer(comp))
        return s->succeeded >= json_integer_value(comp);
    return s->succeeded > 0 && json_array_size(s->active) == 0;
}

static int64_t wanted(const jstate *s)
{
    const json_t *spec = json_object_get(s->job, "spec");
    int64_t par = kctl_int(spec, "parallelism", NULL, 1);
    const json_t *comp = json_object_get(spec, "completions");
    if (json_is_true(json_object_get(spec, "suspend")))
        return 0;
    if (!json_is_integer(comp))
        return s->succeeded > 0 ? (int64_t)json_array_size(s->active) : par;
    int64_t left = json_integer_value(comp) - s->succeeded;
    return left < par ? (left < 0 ? 0 : left) : par;
}

static bool backing_off(const jstate *s)
{
    if (s->failed == 0 || !s->last_failure_ns)
        return false;
    int64_t delay = 10 * NS_PER_S;
    for (int64_t i = 1; i < s->failed && delay < 360 * NS_PER_S; i++)
        delay *= 2;
    if (delay > 360 * NS_PER_S)
        delay = 360 * NS_PER_S;
    return s->last_failure_ns + delay > dd_now_ns();
}

static void add_index_env(json_t *containers)
{
    size_t i;
    json_t *ct;
    json_array_foreach(containers, i, ct)
    {
        json_t *env = json_object_get(ct, "env");
        if (!json_is_array(env)) {
            env = json_array();
            json_object_set_new(ct, "env", env);
        }
        json_array_append_new(env, json_pack("{s:s,s:{s:{s:s}}}", "name", "JOB_COMPLETION_INDEX",
                                             "valueFrom", "fieldRef", "fieldPath",
                                             "metadata.annotations['" INDEX_KEY "']"));
    }
}

/* The template for index x: annotation and label, hostname `<job>-<x>`, JOB_COMPLETION_INDEX. */
static json_t *indexed_template(const jstate *s, int64_t x)
{
    json_t *t = json_deep_copy(json_object_get(json_object_get(s->job, "spec"), "template"));
    json_t *meta = json_object_get(t, "metadata"), *spec = json_object_get(t, "spec");
    if (!json_is_object(meta)) {
        meta = json_object();
        json_object_set_new(t, "metadata", meta);
    }
    char idx[24];
    snprintf(idx, sizeof(idx), "%lld", (long long)x);
    static const char *const maps[] = {"annotations", "labels"};
    for (size_t i = 0; i < 2; i++) {
        json_t *m = json_object_get(meta, maps[i]);
        if (!json_is_object(m)) {
            m = json_object();
            json_object_set_new(meta, maps[i], m);
        }
        jx_set_str(m, INDEX_KEY, idx);
    }
    _cleanup_free_ char *host = dd_asprintf("%s-%lld", kctl_name(s->job), (long long)x);
    _cleanup_free_ char *gen = dd_asprintf("%s-", host);
    jx_set_str(meta, "generateName", gen);
    if (!json_object_get(spec, "hostname"))
        jx_set_str(spec, "hostname", host);
    add_index_env(json_object_get(spec, "containers"));
    add_index_env(json_object_get(spec, "initContainers"));
    return t;
}

static int create_pods(kctl *c, jstate *s, int64_t count)
{
    json_t *labels =
        json_pack("{s:s,s:s,s:s,s:s}", "batch.kubernetes.io/job-name", kctl_name(s->job),
                  "job-name", kctl_name(s->job), "batch.kubernetes.io/controller-uid",
                  kctl_uid(s->job), "controller-uid", kctl_uid(s->job));
    const json_t *tmpl = json_object_get(json_object_get(s->job, "spec"), "template");
    int r = 0;
    for (int64_t x = 0; !s->n && x < count && r >= 0; x++)
        r = kctl_create_pod(c, s->job, tmpl, COMPONENT, labels);
    for (int64_t x = 0; s->n && x < s->n && count > 0 && r >= 0; x++) {
        if (s->done[x] || s->busy[x])
            continue; /* lowest free indexes first */
        json_t *t = indexed_template(s, x);
        r = kctl_create_pod(c, s->job, t, COMPONENT, labels);
        json_decref(t);
        count--;
    }
    json_decref(labels);
    return r;
}

static int manage(kctl *c, jstate *s)
{
    int64_t want = wanted(s), have = (int64_t)json_array_size(s->active);
    int r = 0;
    if (have < want && !backing_off(s))
        r = create_pods(c, s, want - have);
    for (int64_t i = want; i < have && r >= 0; i++) {
        r = kctl_delete_pod(c, s->job, json_array_get(s->active, (size_t)(i - want)), COMPONENT);
        s->terminating++;
    }
    return r;
}

static int finish(kctl *c, jstate *s, json_t *st)
{
    const char *msg = NULL, *reason = failure(s, &msg);
    json_t *conds = conditions_of(st);
    if (reason) {
        delete_active(c, s);
        add_condition(conds, "FailureTarget", reason, msg);
        add_condition(conds, "Failed", reason, msg);
        kctl_event(c, s->job, "Warning", reason, COMPONENT, "%s", msg);
        return 1;
    }
    if (!complete(s))
        return 0;
    delete_active(c, s);
    static const char done_msg[] = "Reached expected number of succeeded pods";
    add_condition(conds, "SuccessCriteriaMet", "CompletionsReached", done_msg);
    add_condition(conds, "Complete", "CompletionsReached", done_msg);
    _cleanup_free_ char *now = kctl_now();
    jx_set_str(st, "completionTime", now);
    kctl_event(c, s->job, "Normal", "Completed", COMPONENT, "Job completed");
    return 1;
}

/* A finished job: deleted once ttlSecondsAfterFinished has passed since it finished. */
static int expire(kctl *c, const json_t *job)
{
    const json_t *ttl = json_object_get(json_object_get(job, "spec"), "ttlSecondsAfterFinished");
    if (!json_is_integer(ttl))
        return 0;
    const json_t *st = json_object_get(job, "status");
    int64_t t = time_of(kctl_str(st, "completionTime", NULL));
    const json_t *f = kctl_condition(json_object_get(st, "conditions"), "Failed");
    if (!t && f)
        t = time_of(kctl_str(f, "lastTransitionTime", NULL));
    if (!t || t + json_integer_value(ttl) * NS_PER_S > dd_now_ns())
        return 0;
    return kctl_delete(c, kctl_res(KC_JOBS), kctl_ns(job), kctl_name(job), "Background");
}

static int sync_pods(kctl *c, jstate *s)
{
    ksel *sel = kctl_selector(json_object_get(json_object_get(s->job, "spec"), "selector"));
    json_t *pods = kctl_claim_pods(c, s->job, sel);
    ksel_free(sel);
    count(s, pods);
    json_decref(pods);
    json_t *old = json_incref(json_object_get(s->job, "status"));
    json_t *st = json_is_object(old) ? json_deep_copy(old) : json_object();
    if (!json_object_get(st, "startTime") &&
        !json_is_true(json_object_get(json_object_get(s->job, "spec"), "suspend"))) {
        _cleanup_free_ char *now = kctl_now();
        jx_set_str(st, "startTime", now);
        json_object_set(s->job, "status", st); /* the deadline counts from here */
    }
    int r = finish(c, s, st);
    if (r == 0)
        r = manage(c, s);
    if (r >= 0) {
        jx_set_int(st, "active", (int64_t)json_array_size(s->active));
        jx_set_int(st, "succeeded", s->succeeded);
        jx_set_int(st, "failed", s->failed);
        jx_set_int(st, "ready", s->ready);
        jx_set_int(st, "terminating", s->terminating);
        if (s->n) {
            _cleanup_free_ char *ci = kctl_format_indexes(s->done, s->n);
            jx_set_str(st, "completedIndexes", ci);
        }
        json_object_set_new(st, "uncountedTerminatedPods", json_object());
        json_t *upd = json_deep_copy(s->job);
        json_object_set(upd, "status", st);
        r = json_equal(st, old) ? 0 : kctl_update_status(c, kctl_res(KC_JOBS), upd);
        json_decref(upd);
    }
    json_decref(st);
    json_decref(old);
    return r;
}

int kctl_sync_job(kctl *c, const char *ns, const char *name)
{
    const json_t *cached = kctl_cached(c, KC_JOBS, ns, name);
    if (!cached || kctl_str(cached, "metadata", "deletionTimestamp"))
        return 0;
    if (cond_true(cached, "Complete") || cond_true(cached, "Failed")) {
        json_t *job = json_incref((json_t *)cached); /* the delete drops it from the cache */
        int r = expire(c, job);
        json_decref(job);
        return r;
    }
    jstate s = {.job = json_deep_copy(cached)};
    const json_t *spec = json_object_get(s.job, "spec");
    if (dd_streq(kctl_str(spec, "completionMode", NULL), "Indexed")) {
        int64_t n = kctl_int(spec, "completions", NULL, 1);
        s.n = n < 1 ? 1 : n > 100000 ? 100000 : n;
        s.done = dd_calloc((size_t)s.n, sizeof(bool));
        s.busy = dd_calloc((size_t)s.n, sizeof(bool));
    }
    int r = sync_pods(c, &s);
    free(s.done);
    free(s.busy);
    json_decref(s.active);
    json_decref(s.job);
    return r < 0 ? r : 0;
}
