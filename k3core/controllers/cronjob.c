/* cronjob.c: the CronJob controller, as upstream's — at each scheduled time (cron.c, UTC) since
 * the last one it creates the Job `<cronjob>-<minutes since the epoch>` from jobTemplate (only
 * the most recent missed time runs; startingDeadlineSeconds skips late ones), honouring
 * concurrencyPolicy Allow/Forbid/Replace and suspend; it tracks status.active,
 * lastScheduleTime and lastSuccessfulTime, and deletes finished Jobs beyond
 * successfulJobsHistoryLimit/failedJobsHistoryLimit. spec.timeZone other than UTC is reported
 * with an UnknownTimeZone event and not scheduled.
 */
#include <stdio.h>
#include <stdlib.h>

#include "k3core/controllers/ctl-internal.h"

#define COMPONENT "cronjob-controller"
#define NS_PER_S  1000000000LL

static int64_t secs_of(const char *s)
{
    int64_t t = 0;
    return s && dd_parse_rfc3339(s, &t) == 0 ? t / NS_PER_S : 0;
}

static char *rfc3339(int64_t secs)
{
    char buf[64];
    dd_format_rfc3339nano(secs * NS_PER_S, buf, sizeof(buf));
    buf[19] = 'Z', buf[20] = 0;
    return dd_strdup(buf);
}

/* "Complete", "Failed" or NULL for a running job. */
static const char *finished(const json_t *job)
{
    static const char *const types[] = {"Complete", "Failed"};
    for (size_t i = 0; i < 2; i++) {
        const json_t *c =
            kctl_condition(json_object_get(json_object_get(job, "status"), "conditions"), types[i]);
        if (c && dd_streq(kctl_str(c, "status", NULL), "True"))
            return types[i];
    }
    return NULL;
}

static int cmp_start(const void *a, const void *b)
{
    const char *x = kctl_str(*(json_t *const *)a, "metadata", "creationTimestamp");
    const char *y = kctl_str(*(json_t *const *)b, "metadata", "creationTimestamp");
    return strcmp(x ? x : "", y ? y : "");
}

/* Deletes the oldest finished jobs of one kind beyond limit. */
static void trim(kctl *c, const json_t *cj, json_t *jobs, const char *kind, int64_t limit)
{
    size_t n = 0, i;
    json_t *j;
    json_t **v = dd_calloc(json_array_size(jobs) + 1, sizeof(json_t *));
    json_array_foreach(jobs, i, j) if (dd_streq(finished(j), kind) &&
                                       !kctl_str(j, "metadata", "deletionTimestamp")) v[n++] = j;
    qsort(v, n, sizeof(json_t *), cmp_start);
    for (i = 0; (int64_t)(n - i) > limit; i++)
        if (kctl_delete(c, kctl_res(KC_JOBS), kctl_ns(v[i]), kctl_name(v[i]), "Background") == 0)
            kctl_event(c, cj, "Normal", "SuccessfulDelete", COMPONENT, "Deleted job %s",
                       kctl_name(v[i]));
    free(v);
}

static json_t *job_for(const json_t *cj, int64_t when)
{
    const json_t *jt = json_object_get(json_object_get(cj, "spec"), "jobTemplate");
    const json_t *jm = json_object_get(jt, "metadata");
    _cleanup_free_ char *name = dd_asprintf("%s-%lld", kctl_name(cj), (long long)(when / 60));
    _cleanup_free_ char *ts = rfc3339(when);
    json_t *labels = json_deep_copy(json_object_get(jm, "labels"));
    json_t *ann = json_deep_copy(json_object_get(jm, "annotations"));
    if (!json_is_object(ann)) {
        json_decref(ann);
        ann = json_object();
    }
    jx_set_str(ann, "batch.kubernetes.io/cronjob-scheduled-timestamp", ts);
    json_t *job =
        json_pack("{s:s,s:s,s:{s:s,s:s,s:o,s:[{s:s,s:s,s:s,s:s,s:b,s:b}]},s:O}", "apiVersion",
                  "batch/v1", "kind", "Job", "metadata", "name", name, "namespace", kctl_ns(cj),
                  "annotations", ann, "ownerReferences", "apiVersion", "batch/v1", "kind",
                  "CronJob", "name", kctl_name(cj), "uid", kctl_uid(cj) ?: "", "controller", 1,
                  "blockOwnerDeletion", 1, "spec", json_object_get(jt, "spec"));
    if (job && json_is_object(labels))
        json_object_set(json_object_get(job, "metadata"), "labels", labels);
    json_decref(labels);
    return job;
}

/* The most recent scheduled time in (last, now], or 0. */
static int64_t due_time(const kctl_cron *cron, int64_t last, int64_t now)
{
    int64_t t = kctl_cron_next(cron, last), due = 0;
    for (int i = 0; t > 0 && t <= now && i < 100000; i++) {
        due = t;
        t = kctl_cron_next(cron, t);
    }
    return due;
}

static int run(kctl *c, const json_t *cj, json_t *st, const json_t *active, int64_t when)
{
    const json_t *spec = json_object_get(cj, "spec");
    const char *policy = kctl_str(spec, "concurrencyPolicy", NULL) ?: "Allow";
    int64_t sds = kctl_int(spec, "startingDeadlineSeconds", NULL, -1);
    if (sds >= 0 && when + sds < dd_now_ns() / NS_PER_S)
        return 0; /* missed its window */
    if (json_array_size(active) && dd_streq(policy, "Forbid"))
        return 0; /* comes back with the next watch event or resync */
    size_t i;
    json_t *j;
    json_array_foreach(active, i, j)
    {
        if (!dd_streq(policy, "Replace"))
            break;
        if (kctl_delete(c, kctl_res(KC_JOBS), kctl_ns(j), kctl_name(j), "Background") == 0)
            kctl_event(c, cj, "Normal", "SuccessfulDelete", COMPONENT, "Deleted job %s",
                       kctl_name(j));
    }
    json_t *job = job_for(cj, when);
    int r = job ? kctl_create(c, kctl_res(KC_JOBS), kctl_ns(cj), job, NULL) : -EINVAL;
    if (r == 0)
        kctl_event(c, cj, "Normal", "SuccessfulCreate", COMPONENT, "Created job %s",
                   kctl_name(job));
    else if (r != -EEXIST)
        kctl_event(c, cj, "Warning", "FailedCreate", COMPONENT, "Error creating job: %s",
                   strerror(-r));
    json_decref(job);
    if (r < 0 && r != -EEXIST)
        return r;
    _cleanup_free_ char *ts = rfc3339(when);
    jx_set_str(st, "lastScheduleTime", ts);
    return 0;
}

static json_t *track(const json_t *cj, json_t *jobs, json_t *st)
{
    json_t *active = json_array(), *refs = json_array(), *j;
    int64_t last_ok = secs_of(kctl_str(st, "lastSuccessfulTime", NULL));
    size_t i;
    json_array_foreach(jobs, i, j)
    {
        const char *f = finished(j);
        if (!f && !kctl_str(j, "metadata", "deletionTimestamp")) {
            json_array_append(active, j);
            json_array_append_new(
                refs,
                json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "kind", "Job", "namespace", kctl_ns(j),
                          "name", kctl_name(j), "uid", kctl_uid(j) ?: "", "apiVersion", "batch/v1",
                          "resourceVersion", kctl_str(j, "metadata", "resourceVersion") ?: ""));
        }
        int64_t done = secs_of(kctl_str(json_object_get(j, "status"), "completionTime", NULL));
        if (dd_streq(f, "Complete") && done > last_ok)
            last_ok = done;
    }
    if (json_array_size(refs))
        json_object_set(st, "active", refs);
    else
        json_object_del(st, "active");
    json_decref(refs);
    if (last_ok) {
        _cleanup_free_ char *ts = rfc3339(last_ok);
        jx_set_str(st, "lastSuccessfulTime", ts);
    }
    (void)cj;
    return active;
}

/* A Warning event about cj, unless the same one was the last recorded for it. */
static void warn_once(kctl *c, const json_t *cj, const char *reason, const char *msg)
{
    _cleanup_free_ char *key = dd_asprintf("%s/%s", kctl_ns(cj), kctl_name(cj));
    _cleanup_free_ char *text = dd_asprintf("%s %s %s", kctl_uid(cj) ?: "", reason, msg);
    if (dd_streq(json_string_value(json_object_get(c->warned, key)), text))
        return;
    json_object_set_new(c->warned, key, json_string(text));
    kctl_event(c, cj, "Warning", reason, COMPONENT, "%s", msg);
}

static int schedule(kctl *c, const json_t *cj, json_t *st, const json_t *active)
{
    const json_t *spec = json_object_get(cj, "spec");
    const char *tz = kctl_str(spec, "timeZone", NULL);
    kctl_cron cron;
    dd_err e = {0};
    if (json_is_true(json_object_get(spec, "suspend")))
        return 0;
    if (tz && !dd_streq(tz, "UTC") && !dd_streq(tz, "Etc/UTC")) {
        _cleanup_free_ char *msg = dd_asprintf("invalid timeZone: %s: only UTC is supported", tz);
        warn_once(c, cj, "UnknownTimeZone", msg);
        return 0;
    }
    if (kctl_cron_parse(kctl_str(spec, "schedule", NULL), &cron, &e) < 0) {
        _cleanup_free_ char *msg = dd_asprintf("unparseable schedule: %s : %s",
                                               kctl_str(spec, "schedule", NULL) ?: "", e.msg);
        warn_once(c, cj, "UnparseableSchedule", msg);
        return 0;
    }
    int64_t last = secs_of(kctl_str(st, "lastScheduleTime", NULL));
    if (!last)
        last = secs_of(kctl_str(cj, "metadata", "creationTimestamp"));
    int64_t when = due_time(&cron, last, dd_now_ns() / NS_PER_S);
    return when ? run(c, cj, st, active, when) : 0;
}

int kctl_sync_cronjob(kctl *c, const char *ns, const char *name)
{
    json_t *cj = json_incref((json_t *)kctl_cached(c, KC_CRONJOBS, ns, name));
    if (!cj || kctl_str(cj, "metadata", "deletionTimestamp")) {
        json_decref(cj);
        return 0;
    }
    json_t *all = kctl_list_ns(c, KC_JOBS, ns), *jobs = json_array(), *j;
    size_t i;
    json_array_foreach(all, i, j) if (dd_streq(kctl_str(kctl_controller_ref(j), "uid", NULL),
                                               kctl_uid(cj))) json_array_append(jobs, j);
    json_decref(all);
    json_t *old = json_object_get(cj, "status");
    json_t *st = json_is_object(old) ? json_deep_copy(old) : json_object();
    json_t *active = track(cj, jobs, st);
    int r = schedule(c, cj, st, active);
    const json_t *spec = json_object_get(cj, "spec");
    trim(c, cj, jobs, "Complete", kctl_int(spec, "successfulJobsHistoryLimit", NULL, 3));
    trim(c, cj, jobs, "Failed", kctl_int(spec, "failedJobsHistoryLimit", NULL, 1));
    if (r >= 0 && !json_equal(st, old)) {
        json_t *upd = json_deep_copy(cj);
        json_object_set(upd, "status", st);
        r = kctl_update_status(c, kctl_res(KC_CRONJOBS), upd);
        json_decref(upd);
    }
    json_decref(active);
    json_decref(st);
    json_decref(jobs);
    json_decref(cj);
    return r;
}
