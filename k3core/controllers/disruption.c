/* disruption.c: the PodDisruptionBudget status, as upstream's disruption controller keeps it —
 * the pods the selector matches (policy/v1: an empty selector matches every pod of the
 * namespace, none matches nothing), how many are healthy (Ready, not deleting, not recently
 * evicted: the eviction subresource records those in status.disruptedPods, dropped once the pod
 * is deleting or after two minutes), how many must be (minAvailable, or maxUnavailable taken
 * from the expected count; percentages round up against the scale of the pods' controllers:
 * Deployment, ReplicaSet, StatefulSet), and disruptionsAllowed with the DisruptionAllowed
 * condition the eviction subresource checks. Pods without such a controller, when one is
 * needed, make the budget fail safe (no disruption allowed, reason SyncFailed).
 */
#include <stdio.h>

#include "k3core/controllers/ctl-internal.h"

#define DELETION_TIMEOUT_NS (120 * 1000000000LL)

typedef struct pdb_counts {
    int64_t expected, desired, healthy;
} pdb_counts;

static json_t *pdb_pods(kctl *c, const json_t *pdb)
{
    const json_t *sel = json_object_get(json_object_get(pdb, "spec"), "selector");
    json_t *out = json_array();
    ksel *s = json_is_object(sel) ? kctl_selector(sel) : NULL;
    if (!s)
        return out;
    json_t *pods = kctl_list_ns(c, KC_PODS, kctl_ns(pdb)), *pod;
    size_t i;
    json_array_foreach(pods, i, pod)
    {
        if (ksel_match_labels(s, json_object_get(json_object_get(pod, "metadata"), "labels")))
            json_array_append(out, pod);
    }
    json_decref(pods);
    ksel_free(s);
    return out;
}

/* The scale of the controller of pod: a Deployment through its ReplicaSet, a ReplicaSet, a
 * StatefulSet; -ENOENT otherwise (message in why). */
static int controller_scale(kctl *c, const json_t *pod, const char **ret_uid, int64_t *ret_scale,
                            char **why)
{
    const json_t *ref = kctl_controller_ref(pod);
    if (!ref) {
        *why = dd_asprintf("found no controller ref for pod \"%s\"", kctl_name(pod));
        return -ENOENT;
    }
    const char *kind = kctl_str(ref, "kind", NULL), *name = kctl_str(ref, "name", NULL);
    const json_t *owner = NULL;
    if (dd_streq(kind, "ReplicaSet")) {
        owner = kctl_cached(c, KC_RS, kctl_ns(pod), name);
        const json_t *dref = owner ? kctl_controller_ref(owner) : NULL;
        if (dref && dd_streq(kctl_str(dref, "kind", NULL), "Deployment"))
            owner = kctl_cached(c, KC_DEPLOY, kctl_ns(pod), kctl_str(dref, "name", NULL));
    } else if (dd_streq(kind, "StatefulSet")) {
        owner = kctl_cached(c, KC_STS, kctl_ns(pod), name);
    }
    if (!owner) {
        *why = dd_asprintf("found no controllers for pod \"%s\"", kctl_name(pod));
        return -ENOENT;
    }
    *ret_uid = kctl_uid(owner);
    *ret_scale = kctl_int(json_object_get(owner, "spec"), "replicas", NULL, 1);
    return 0;
}

static int expected_scale(kctl *c, const json_t *pods, int64_t *ret, char **why)
{
    json_t *seen = json_object(), *pod;
    size_t i;
    int64_t total = 0;
    int r = 0;
    json_array_foreach(pods, i, pod)
    {
        const char *uid = NULL;
        int64_t scale = 0;
        if ((r = controller_scale(c, pod, &uid, &scale, why)) < 0)
            break;
        if (uid && !json_object_get(seen, uid)) {
            json_object_set_new(seen, uid, json_true());
            total += scale;
        }
    }
    json_decref(seen);
    *ret = total;
    return r;
}

static int desired(kctl *c, const json_t *pdb, const json_t *pods, pdb_counts *n, char **why)
{
    const json_t *spec = json_object_get(pdb, "spec");
    const json_t *max_un = json_object_get(spec, "maxUnavailable");
    const json_t *min_av = json_object_get(spec, "minAvailable");
    int v = 0;
    if (max_un && !json_is_null(max_un)) {
        if (expected_scale(c, pods, &n->expected, why) < 0)
            return -ENOENT;
        if (kctl_scaled_value(max_un, (int)n->expected, true, &v) < 0)
            goto invalid;
        n->desired = n->expected - v < 0 ? 0 : n->expected - v;
    } else if (json_is_integer(min_av)) {
        n->desired = json_integer_value(min_av);
        n->expected = (int64_t)json_array_size(pods);
    } else if (json_is_string(min_av)) {
        if (expected_scale(c, pods, &n->expected, why) < 0)
            return -ENOENT;
        if (kctl_scaled_value(min_av, (int)n->expected, true, &v) < 0)
            goto invalid;
        n->desired = v;
    }
    return 0;
invalid:
    *why = dd_strdup("invalid value for IntOrString: invalid type: string is not a percentage");
    return -EINVAL;
}

/* status.disruptedPods kept: pods still there, not deleting, evicted less than 2 min ago. */
static json_t *disrupted(const json_t *pdb, const json_t *pods, int64_t now)
{
    const json_t *have = json_object_get(json_object_get(pdb, "status"), "disruptedPods");
    json_t *out = json_object(), *pod;
    size_t i;
    json_array_foreach(pods, i, pod)
    {
        const char *t = json_string_value(json_object_get(have, kctl_name(pod)));
        int64_t at = 0;
        if (!t || kctl_str(pod, "metadata", "deletionTimestamp") || dd_parse_rfc3339(t, &at) < 0)
            continue;
        if (at + DELETION_TIMEOUT_NS >= now)
            json_object_set_new(out, kctl_name(pod), json_string(t));
    }
    return out;
}

static int64_t healthy(const json_t *pods, const json_t *gone)
{
    int64_t n = 0;
    size_t i;
    json_t *pod;
    json_array_foreach(pods, i, pod)
    {
        if (!kctl_str(pod, "metadata", "deletionTimestamp") &&
            !json_object_get(gone, kctl_name(pod)) && kctl_pod_ready(pod))
            n++;
    }
    return n;
}

/* metav1.Condition DisruptionAllowed (lastTransitionTime kept while the status holds). */
static void set_allowed(json_t *st, const char *status, const char *reason, const char *msg,
                        int64_t gen)
{
    json_t *conds = json_object_get(st, "conditions");
    if (!json_is_array(conds)) {
        conds = json_array();
        json_object_set_new(st, "conditions", conds);
    }
    json_t *cond = (json_t *)kctl_condition(conds, "DisruptionAllowed");
    if (!cond) {
        cond = json_pack("{s:s}", "type", "DisruptionAllowed");
        json_array_append_new(conds, cond);
    }
    if (!dd_streq(kctl_str(cond, "status", NULL), status) ||
        !json_object_get(cond, "lastTransitionTime")) {
        _cleanup_free_ char *now = kctl_now();
        jx_set_str(cond, "lastTransitionTime", now);
    }
    jx_set_str(cond, "status", status);
    jx_set_str(cond, "reason", reason);
    jx_set_str(cond, "message", msg);
    if (gen > 0)
        jx_set_int(cond, "observedGeneration", gen);
}

int kctl_sync_pdb(kctl *c, const char *ns, const char *name)
{
    json_t *pdb = json_incref((json_t *)kctl_cached(c, KC_PDBS, ns, name));
    if (!pdb)
        return 0;
    json_t *old = json_object_get(pdb, "status");
    json_t *st = json_is_object(old) ? json_deep_copy(old) : json_object();
    json_t *pods = pdb_pods(c, pdb);
    pdb_counts n = {0};
    _cleanup_free_ char *why = NULL;
    int64_t gen = kctl_int(json_object_get(pdb, "metadata"), "generation", NULL, 1);
    if (desired(c, pdb, pods, &n, &why) < 0) {
        jx_set_int(st, "disruptionsAllowed", 0);
        set_allowed(st, "False", "SyncFailed", why, kctl_int(st, "observedGeneration", NULL, 0));
    } else {
        json_t *gone = disrupted(pdb, pods, dd_now_ns());
        n.healthy = healthy(pods, gone);
        int64_t allowed = n.healthy - n.desired;
        if (n.expected <= 0 || allowed < 0)
            allowed = 0;
        jx_set_int(st, "currentHealthy", n.healthy);
        jx_set_int(st, "desiredHealthy", n.desired);
        jx_set_int(st, "expectedPods", n.expected);
        jx_set_int(st, "disruptionsAllowed", allowed);
        jx_set_int(st, "observedGeneration", gen);
        if (json_object_size(gone))
            json_object_set(st, "disruptedPods", gone);
        else
            json_object_del(st, "disruptedPods");
        json_decref(gone);
        set_allowed(st, allowed > 0 ? "True" : "False",
                    allowed > 0 ? "SufficientPods" : "InsufficientPods", "", gen);
    }
    int r = 0;
    if (!json_equal(st, old)) {
        json_t *upd = json_deep_copy(pdb);
        json_object_set(upd, "status", st);
        r = kctl_update_status(c, kctl_res(KC_PDBS), upd);
        json_decref(upd);
    }
    json_decref(st);
    json_decref(pods);
    json_decref(pdb);
    return r;
}

void kctl_disruption_pod_changed(kctl *c, const json_t *pod)
{
    const char *k;
    json_t *pdb;
    json_object_foreach(c->cache[KC_PDBS], k, pdb)
    {
        if (dd_streq(kctl_ns(pdb), kctl_ns(pod)))
            kctl_enqueue(c, KC_PDBS, kctl_ns(pdb), kctl_name(pdb));
    }
}
