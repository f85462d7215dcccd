/* deployment.c: the Deployment controller, as upstream's — the pod template's hash names the
 * new ReplicaSet `<deployment>-<hash>`; RollingUpdate scales it up within maxSurge and the old
 * ones down within maxUnavailable (unhealthy old replicas first), Recreate scales the old ones
 * to zero and waits for their pods before scaling the new one up. ReplicaSets carry the
 * revision/desired-replicas/max-replicas annotations kubectl rollout history/undo rely on; old
 * ReplicaSets beyond revisionHistoryLimit are deleted; status and the Available/Progressing
 * conditions use upstream's reasons so `kubectl rollout status` completes. Each sync makes at
 * most one scaling step; the ReplicaSet watch brings the deployment back for the next.
 */
#include <stdio.h>
#include <stdlib.h>

#include "k3core/controllers/ctl-internal.h"

#define COMPONENT   "deployment-controller"
#define HASH_LABEL  "pod-template-hash"
#define REV_ANN     "deployment.kubernetes.io/revision"
#define DESIRED_ANN "deployment.kubernetes.io/desired-replicas"
#define MAX_ANN     "deployment.kubernetes.io/max-replicas"

typedef struct dstate {
    json_t *d;      /* the deployment (reference) */
    json_t *rss;    /* ReplicaSets it controls, oldest first */
    json_t *new_rs; /* borrowed from rss, or NULL */
    int64_t want;   /* spec.replicas */
    int surge, unavail;
    int64_t max_old_rev;
} dstate;

static int64_t spec_replicas(const json_t *rs)
{
    return kctl_int(json_object_get(rs, "spec"), "replicas", NULL, 1);
}

static int64_t status_int(const json_t *rs, const char *k)
{
    return kctl_int(json_object_get(rs, "status"), k, NULL, 0);
}

static int64_t revision(const json_t *rs)
{
    const char *s = json_string_value(
        json_object_get(json_object_get(json_object_get(rs, "metadata"), "annotations"), REV_ANN));
    return s ? strtoll(s, NULL, 10) : 0;
}

static bool same_template(const json_t *rs_tmpl, const json_t *d_tmpl)
{
    json_t *a = json_deep_copy(rs_tmpl), *b = json_deep_copy(d_tmpl);
    json_object_del(json_object_get(json_object_get(a, "metadata"), "labels"), HASH_LABEL);
    json_object_del(json_object_get(json_object_get(b, "metadata"), "labels"), HASH_LABEL);
    kctl_strip_nulls(a);
    kctl_strip_nulls(b);
    bool eq = json_equal(a, b);
    json_decref(a);
    json_decref(b);
    return eq;
}

static int cmp_created(const void *a, const void *b)
{
    const char *x = kctl_str(*(json_t *const *)a, "metadata", "creationTimestamp");
    const char *y = kctl_str(*(json_t *const *)b, "metadata", "creationTimestamp");
    int r = strcmp(x ? x : "", y ? y : "");
    return r ? r : strcmp(kctl_name(*(json_t *const *)a), kctl_name(*(json_t *const *)b));
}

/* ReplicaSets d controls or adopts, oldest first. */
static json_t *claim_rss(kctl *c, const json_t *d)
{
    ksel *sel = kctl_selector(json_object_get(json_object_get(d, "spec"), "selector"));
    json_t *all = kctl_list_ns(c, KC_RS, kctl_ns(d)), *rs;
    size_t n = 0, i;
    json_t **v = dd_calloc(json_array_size(all) + 1, sizeof(json_t *));
    json_array_foreach(all, i, rs)
    {
        const json_t *ref = kctl_controller_ref(rs);
        const json_t *labels = json_object_get(json_object_get(rs, "metadata"), "labels");
        bool match = sel && ksel_match_labels(sel, labels);
        if (ref && dd_streq(kctl_str(ref, "uid", NULL), kctl_uid(d))) {
            if (match || kctl_str(rs, "metadata", "deletionTimestamp"))
                v[n++] = rs;
            else
                kctl_set_owner(c, kctl_res(KC_RS), rs, NULL, kctl_uid(d));
        } else if (!ref && match && !kctl_str(rs, "metadata", "deletionTimestamp") &&
                   !kctl_str(d, "metadata", "deletionTimestamp")) {
            if (kctl_set_owner(c, kctl_res(KC_RS), rs, d, NULL) == 0)
                v[n++] = rs;
        }
    }
    qsort(v, n, sizeof(json_t *), cmp_created);
    json_t *out = json_array();
    for (i = 0; i < n; i++)
        json_array_append(out, v[i]);
    free(v);
    json_decref(all);
    ksel_free(sel);
    return out;
}

static void set_ann(json_t *obj, const char *k, const char *v)
{
    json_t *meta = json_object_get(obj, "metadata");
    json_t *ann = json_object_get(meta, "annotations");
    if (!json_is_object(ann)) {
        ann = json_object();
        json_object_set_new(meta, "annotations", ann);
    }
    jx_set_str(ann, k, v);
}

static void set_ann_int(json_t *obj, const char *k, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", (long long)v);
    set_ann(obj, k, buf);
}

/* Writes rs with spec.replicas = to and the deployment annotations; 1 when it wrote. */
static int scale_rs(kctl *c, dstate *s, const json_t *rs, int64_t to, int64_t rev)
{
    json_t *upd = json_deep_copy(rs);
    jx_set_int(json_object_get(upd, "spec"), "replicas", to);
    set_ann_int(upd, DESIRED_ANN, s->want);
    set_ann_int(upd, MAX_ANN, s->want + s->surge);
    if (rev)
        set_ann_int(upd, REV_ANN, rev);
    int r = 0;
    if (!json_equal(upd, rs)) {
        r = kctl_update(c, kctl_res(KC_RS), upd);
        int64_t from = spec_replicas(rs);
        if (r == 0 && from != to)
            kctl_event(c, s->d, "Normal", "ScalingReplicaSet", COMPONENT,
                       "Scaled %s replica set %s from %lld to %lld", to > from ? "up" : "down",
                       kctl_name(rs), (long long)from, (long long)to);
        r = r < 0 ? r : 1;
    }
    json_decref(upd);
    return r;
}

static json_t *new_rs_object(dstate *s, const char *hash, int64_t replicas)
{
    const json_t *spec = json_object_get(s->d, "spec");
    json_t *tmpl = json_deep_copy(json_object_get(spec, "template"));
    json_t *tm = json_object_get(tmpl, "metadata");
    if (!json_is_object(tm)) {
        tm = json_object();
        json_object_set_new(tmpl, "metadata", tm);
    }
    json_t *labels = json_object_get(tm, "labels");
    if (!json_is_object(labels)) {
        labels = json_object();
        json_object_set_new(tm, "labels", labels);
    }
    jx_set_str(labels, HASH_LABEL, hash);
    json_t *sel = json_deep_copy(json_object_get(spec, "selector"));
    json_t *ml = json_object_get(sel, "matchLabels");
    if (!json_is_object(ml)) {
        ml = json_object();
        json_object_set_new(sel, "matchLabels", ml);
    }
    jx_set_str(ml, HASH_LABEL, hash);
    _cleanup_free_ char *name = dd_asprintf("%s-%s", kctl_name(s->d), hash);
    json_t *ann = json_deep_copy(json_object_get(json_object_get(s->d, "metadata"), "annotations"));
    if (!json_is_object(ann)) {
        json_decref(ann);
        ann = json_object();
    }
    json_object_del(ann, "kubectl.kubernetes.io/last-applied-configuration");
    json_t *rs = json_pack(
        "{s:s,s:s,s:{s:s,s:s,s:O,s:o,s:[{s:s,s:s,s:s,s:s,s:b,s:b}]},s:{s:I,s:I,s:o,s:o}}",
        "apiVersion", "apps/v1", "kind", "ReplicaSet", "metadata", "name", name, "namespace",
        kctl_ns(s->d), "labels", labels, "annotations", ann, "ownerReferences", "apiVersion",
        "apps/v1", "kind", "Deployment", "name", kctl_name(s->d), "uid", kctl_uid(s->d),
        "controller", 1, "blockOwnerDeletion", 1, "spec", "replicas", (json_int_t)replicas,
        "minReadySeconds", (json_int_t)kctl_int(spec, "minReadySeconds", NULL, 0), "selector", sel,
        "template", tmpl);
    set_ann_int(rs, REV_ANN, s->max_old_rev + 1);
    set_ann_int(rs, DESIRED_ANN, s->want);
    set_ann_int(rs, MAX_ANN, s->want + s->surge);
    return rs;
}

static int64_t sum(const json_t *rss, const json_t *skip, bool status, const char *k)
{
    int64_t n = 0;
    size_t i;
    json_t *rs;
    json_array_foreach(rss, i, rs)
    {
        if (rs != skip)
            n += status ? status_int(rs, k) : spec_replicas(rs);
    }
    return n;
}

static bool is_recreate(const dstate *s)
{
    return dd_streq(
        kctl_str(json_object_get(json_object_get(s->d, "spec"), "strategy"), "type", NULL),
        "Recreate");
}

static int create_new_rs(kctl *c, dstate *s)
{
    const json_t *tmpl = json_object_get(json_object_get(s->d, "spec"), "template");
    int64_t collisions = kctl_int(json_object_get(s->d, "status"), "collisionCount", NULL, 0);
    char hash[16];
    kctl_template_hash(tmpl, collisions, hash);
    int64_t olds = sum(s->rss, NULL, false, NULL), replicas = s->want;
    if (is_recreate(s) && olds > 0)
        replicas = 0;
    else if (!is_recreate(s) && json_array_size(s->rss) > 0) {
        int64_t room = s->want + s->surge - olds;
        replicas = room < 0 ? 0 : room < s->want ? room : s->want;
    }
    json_t *rs = new_rs_object(s, hash, replicas);
    int r = kctl_create(c, kctl_res(KC_RS), kctl_ns(s->d), rs, NULL);
    if (r == -EEXIST) {
        /* a ReplicaSet of that name with another template: rehash with a bumped count */
        json_t *upd = json_deep_copy(s->d);
        json_t *st = json_object_get(upd, "status");
        if (!json_is_object(st)) {
            st = json_object();
            json_object_set_new(upd, "status", st);
        }
        jx_set_int(st, "collisionCount", collisions + 1);
        r = kctl_update_status(c, kctl_res(KC_DEPLOY), upd);
        json_decref(upd);
    } else if (r == 0 && replicas > 0) {
        kctl_event(c, s->d, "Normal", "ScalingReplicaSet", COMPONENT,
                   "Scaled up replica set %s from 0 to %lld", kctl_name(rs), (long long)replicas);
    }
    json_decref(rs);
    return r < 0 ? r : 1;
}

static int rolling_new(kctl *c, dstate *s)
{
    int64_t cur = spec_replicas(s->new_rs), to = cur;
    if (cur > s->want)
        to = s->want;
    else if (cur < s->want) {
        int64_t up = s->want + s->surge - sum(s->rss, NULL, false, NULL);
        if (up > 0)
            to = cur + up < s->want ? cur + up : s->want;
    }
    return scale_rs(c, s, s->new_rs, to, 0);
}

static int rolling_old(kctl *c, dstate *s)
{
    if (sum(s->rss, s->new_rs, false, NULL) == 0)
        return 0;
    int64_t min_avail = s->want - s->unavail;
    int64_t new_unavail = spec_replicas(s->new_rs) - status_int(s->new_rs, "availableReplicas");
    int64_t max_down = sum(s->rss, NULL, false, NULL) - min_avail - new_unavail;
    if (max_down <= 0)
        return 0;
    size_t i;
    json_t *rs;
    json_array_foreach(s->rss, i, rs) /* unhealthy old replicas first */
    {
        int64_t n = spec_replicas(rs), bad = n - status_int(rs, "availableReplicas");
        if (rs == s->new_rs || n == 0 || bad <= 0)
            continue;
        int64_t down = bad < max_down ? bad : max_down;
        return scale_rs(c, s, rs, n - down, 0);
    }
    int64_t total_down = sum(s->rss, NULL, true, "availableReplicas") - min_avail;
    json_array_foreach(s->rss, i, rs)
    {
        int64_t n = spec_replicas(rs);
        if (rs == s->new_rs || n == 0 || total_down <= 0)
            continue;
        return scale_rs(c, s, rs, n - (n < total_down ? n : total_down), 0);
    }
    return 0;
}

static int recreate(kctl *c, dstate *s)
{
    size_t i;
    json_t *rs;
    int wrote = 0;
    json_array_foreach(s->rss, i, rs)
    {
        if (rs != s->new_rs && spec_replicas(rs) > 0) {
            int r = scale_rs(c, s, rs, 0, 0);
            if (r < 0)
                return r;
            wrote |= r;
        }
    }
    if (wrote || sum(s->rss, s->new_rs, true, "replicas") > 0)
        return wrote; /* old pods still running: wait for them */
    return scale_rs(c, s, s->new_rs, s->want, 0);
}

/* Deletes old, scaled-down ReplicaSets beyond spec.revisionHistoryLimit, oldest revision first. */
static void cleanup_history(kctl *c, dstate *s)
{
    int64_t limit = kctl_int(json_object_get(s->d, "spec"), "revisionHistoryLimit", NULL, 10);
    json_t *cand = json_array(), *rs;
    size_t i;
    json_array_foreach(s->rss, i, rs)
    {
        if (rs != s->new_rs && spec_replicas(rs) == 0 && status_int(rs, "replicas") == 0 &&
            !kctl_str(rs, "metadata", "deletionTimestamp"))
            json_array_append(cand, rs);
    }
    for (int64_t excess = (int64_t)json_array_size(cand) - limit; excess > 0; excess--) {
        size_t oldest = 0;
        json_array_foreach(cand, i, rs) if (revision(rs) < revision(json_array_get(cand, oldest)))
            oldest = i;
        rs = json_array_get(cand, oldest);
        kctl_delete(c, kctl_res(KC_RS), kctl_ns(rs), kctl_name(rs), NULL);
        json_array_remove(cand, oldest);
    }
    json_decref(cand);
}

/* The new ReplicaSet's revision must be the highest (after an undo it was an old one). */
static int bump_revision(kctl *c, dstate *s)
{
    if (revision(s->new_rs) > s->max_old_rev)
        return 0;
    return scale_rs(c, s, s->new_rs, spec_replicas(s->new_rs), s->max_old_rev + 1);
}

/* Annotations the deployment does not hand on to its ReplicaSets (upstream's skip list). */
static bool own_annotation(const char *k)
{
    static const char *const skip[] = {"kubectl.kubernetes.io/last-applied-configuration",
                                       REV_ANN,
                                       "deployment.kubernetes.io/revision-history",
                                       DESIRED_ANN,
                                       MAX_ANN,
                                       "deprecated.deployment.rollback.to"};
    for (size_t i = 0; i < DD_ARRAY_SIZE(skip); i++)
        if (!strcmp(k, skip[i]))
            return true;
    return false;
}

/* The new ReplicaSet gets the deployment's other annotations on every sync, as upstream copies
 * them (added or changed, never removed): `kubectl annotate deploy kubernetes.io/change-cause=...`
 * after a rollout is what `rollout history` shows for it. */
static int sync_rs_annotations(kctl *c, dstate *s)
{
    const json_t *want = json_object_get(json_object_get(s->d, "metadata"), "annotations");
    json_t *upd = json_deep_copy(s->new_rs), *v;
    const char *k;
    json_object_foreach((json_t *)want, k, v)
    {
        if (json_is_string(v) && !own_annotation(k))
            set_ann(upd, k, json_string_value(v));
    }
    int r = 0;
    if (!json_equal(upd, s->new_rs)) {
        r = kctl_update(c, kctl_res(KC_RS), upd);
        r = r < 0 ? r : 1;
    }
    json_decref(upd);
    return r;
}

/* The deployment's own revision annotation follows its new ReplicaSet's. */
static int sync_deploy_revision(kctl *c, dstate *s)
{
    const char *want = json_string_value(json_object_get(
        json_object_get(json_object_get(s->new_rs, "metadata"), "annotations"), REV_ANN));
    const char *have = json_string_value(json_object_get(
        json_object_get(json_object_get(s->d, "metadata"), "annotations"), REV_ANN));
    if (!want || dd_streq(want, have))
        return 0;
    json_t *upd = json_deep_copy(s->d);
    set_ann(upd, REV_ANN, want);
    int r = kctl_update(c, kctl_res(KC_DEPLOY), upd);
    json_decref(upd);
    return r < 0 ? r : 1;
}

static void progressing(dstate *s, json_t *st, const json_t *old, json_t *conds)
{
    const json_t *spec = json_object_get(s->d, "spec");
    const char *nrs = s->new_rs ? kctl_name(s->new_rs) : kctl_name(s->d);
    _cleanup_free_ char *msg = NULL;
    bool complete = s->new_rs && kctl_int(st, "updatedReplicas", NULL, 0) == s->want &&
                    kctl_int(st, "replicas", NULL, 0) == s->want &&
                    kctl_int(st, "availableReplicas", NULL, 0) == s->want;
    if (json_is_true(json_object_get(spec, "paused"))) {
        kctl_set_condition(conds, "Progressing", "Unknown", "DeploymentPaused",
                           "Deployment is paused", true);
        return;
    }
    const json_t *prev = kctl_condition(conds, "Progressing");
    if (complete) {
        msg = dd_asprintf("ReplicaSet \"%s\" has successfully progressed.", nrs);
        kctl_set_condition(conds, "Progressing", "True", "NewReplicaSetAvailable", msg, true);
        return;
    }
    bool moved = !json_equal(json_object_get(st, "updatedReplicas"),
                             json_object_get(old, "updatedReplicas")) ||
                 !json_equal(json_object_get(st, "availableReplicas"),
                             json_object_get(old, "availableReplicas")) ||
                 !json_equal(json_object_get(st, "replicas"), json_object_get(old, "replicas"));
    /* timed out stays timed out until something moves (upstream's DeploymentTimedOut) */
    if (!moved && dd_streq(kctl_str(prev, "reason", NULL), "ProgressDeadlineExceeded"))
        return;
    int64_t deadline = kctl_int(spec, "progressDeadlineSeconds", NULL, 600), since = 0;
    const char *lut = kctl_str(prev, "lastUpdateTime", NULL);
    if (!moved && prev && lut && dd_parse_rfc3339(lut, &since) == 0 &&
        since + deadline * 1000000000LL < dd_now_ns()) {
        msg = dd_asprintf("ReplicaSet \"%s\" has timed out progressing.", nrs);
        kctl_set_condition(conds, "Progressing", "False", "ProgressDeadlineExceeded", msg, true);
        return;
    }
    if (!moved && prev && dd_streq(kctl_str(prev, "status", NULL), "True") &&
        !dd_streq(kctl_str(prev, "reason", NULL), "NewReplicaSetAvailable"))
        return; /* still progressing, nothing new */
    msg = dd_asprintf("ReplicaSet \"%s\" is progressing.", nrs);
    kctl_set_condition(conds, "Progressing", "True", "ReplicaSetUpdated", msg, true);
    json_t *c = (json_t *)kctl_condition(conds, "Progressing");
    _cleanup_free_ char *now = kctl_now();
    jx_set_str(c, "lastUpdateTime", now);
}

static int update_status(kctl *c, dstate *s)
{
    json_t *old = json_object_get(s->d, "status");
    json_t *st = json_is_object(old) ? json_deep_copy(old) : json_object();
    int64_t avail = sum(s->rss, NULL, true, "availableReplicas");
    int64_t unavail = sum(s->rss, NULL, false, NULL) - avail;
    jx_set_int(st, "observedGeneration", kctl_int(s->d, "metadata", "generation", 1));
    jx_set_int(st, "replicas", sum(s->rss, NULL, true, "replicas"));
    jx_set_int(st, "updatedReplicas", s->new_rs ? status_int(s->new_rs, "replicas") : 0);
    jx_set_int(st, "readyReplicas", sum(s->rss, NULL, true, "readyReplicas"));
    jx_set_int(st, "availableReplicas", avail);
    jx_set_int(st, "unavailableReplicas", unavail < 0 ? 0 : unavail);
    json_t *conds = json_object_get(st, "conditions");
    if (!json_is_array(conds)) {
        conds = json_array();
        json_object_set_new(st, "conditions", conds);
    }
    if (avail >= s->want - s->unavail)
        kctl_set_condition(conds, "Available", "True", "MinimumReplicasAvailable",
                           "Deployment has minimum availability.", true);
    else
        kctl_set_condition(conds, "Available", "False", "MinimumReplicasUnavailable",
                           "Deployment does not have minimum availability.", true);
    progressing(s, st, old, conds);
    int r = 0;
    if (!json_equal(st, old)) {
        json_t *upd = json_deep_copy(s->d);
        json_object_set(upd, "status", st);
        r = kctl_update_status(c, kctl_res(KC_DEPLOY), upd);
        json_decref(upd);
    }
    json_decref(st);
    return r;
}

static int step(kctl *c, dstate *s)
{
    const json_t *spec = json_object_get(s->d, "spec");
    if (json_is_true(json_object_get(spec, "paused"))) {
        /* paused: only `kubectl scale` is honoured, on the current ReplicaSet */
        if (s->new_rs && sum(s->rss, s->new_rs, false, NULL) == 0)
            return scale_rs(c, s, s->new_rs, s->want, 0);
        return 0;
    }
    if (!s->new_rs)
        return create_new_rs(c, s);
    int r = bump_revision(c, s);
    if (r == 0)
        r = sync_rs_annotations(c, s);
    if (r == 0)
        r = sync_deploy_revision(c, s);
    if (r == 0)
        r = is_recreate(s) ? recreate(c, s) : rolling_new(c, s);
    if (r == 0 && !is_recreate(s))
        r = rolling_old(c, s);
    if (r == 0 && sum(s->rss, s->new_rs, false, NULL) == 0)
        cleanup_history(c, s);
    return r;
}

int kctl_sync_deploy(kctl *c, const char *ns, const char *name)
{
    dstate s = {.d = json_incref((json_t *)kctl_cached(c, KC_DEPLOY, ns, name))};
    if (!s.d || kctl_str(s.d, "metadata", "deletionTimestamp")) {
        json_decref(s.d);
        return 0;
    }
    const json_t *spec = json_object_get(s.d, "spec");
    const json_t *ru = json_object_get(json_object_get(spec, "strategy"), "rollingUpdate");
    s.want = kctl_int(spec, "replicas", NULL, 1);
    if (is_recreate(&s))
        s.unavail = (int)s.want;
    else if (kctl_resolve_fenceposts(json_object_get(ru, "maxSurge"),
                                     json_object_get(ru, "maxUnavailable"), (int)s.want, &s.surge,
                                     &s.unavail) < 0)
        s.surge = 0, s.unavail = 1;
    s.rss = claim_rss(c, s.d);
    const json_t *tmpl = json_object_get(spec, "template");
    size_t i;
    json_t *rs;
    json_array_foreach(s.rss, i, rs)
    {
        if (!s.new_rs &&
            same_template(json_object_get(json_object_get(rs, "spec"), "template"), tmpl))
            s.new_rs = rs;
    }
    json_array_foreach(s.rss, i, rs) if (rs != s.new_rs && revision(rs) > s.max_old_rev)
        s.max_old_rev = revision(rs);
    int r = step(c, &s);
    if (r == 0) /* nothing scaled: report; a write brings us back through the watches */
        r = update_status(c, &s);
    json_decref(s.rss);
    json_decref(s.d);
    return r < 0 ? r : 0;
}
