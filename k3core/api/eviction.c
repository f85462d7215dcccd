/* eviction: the pods/eviction subresource (kubectl drain), as upstream's EvictionREST — a delete
 * that a PodDisruptionBudget may refuse. A pod that is Pending, Succeeded, Failed or already
 * deleting is deleted at once; otherwise the one budget of its namespace whose selector matches
 * it (two or more: 500, as upstream does not support that) must allow a disruption: its status
 * must be current (else 429 "still being processed"), and disruptionsAllowed > 0 (else 429 with
 * the budget's healthy counts); the eviction then takes one from disruptionsAllowed and records
 * the pod in status.disruptedPods before deleting it, which the disruption controller reads.
 * An unready pod does not need the budget (unhealthyPodEvictionPolicy AlwaysAllow, or the budget
 * is met). The status write retries on a conflict with a fresh read.
 */
#include <stdio.h>

#include "k3core/api/objects-internal.h"
#include "k3core/api/selector.h"

#define BUDGET_CAUSE      "DisruptionBudget"
#define MAX_DISRUPTED     2000
#define CONFLICT_ATTEMPTS 5

static bool pod_ready(const json_t *pod)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(json_object_get(pod, "status"), "conditions"), i, c)
    {
        if (dd_streq(json_string_value(json_object_get(c, "type")), "Ready"))
            return dd_streq(json_string_value(json_object_get(c, "status")), "True");
    }
    return false;
}

static bool budget_ignored(const json_t *pod)
{
    const char *phase = json_string_value(json_object_get(json_object_get(pod, "status"), "phase"));
    return dd_streq(phase, "Succeeded") || dd_streq(phase, "Failed") ||
           dd_streq(phase, "Pending") || kobj_meta_str(pod, "deletionTimestamp");
}

static int too_many(kobj_status *st, int retry_after, const char *fmt, ...) DD_PRINTF(3, 4);
static int too_many(kobj_status *st, int retry_after, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int r = kobj_fail(st, 429, "TooManyRequests",
                      "Cannot evict pod as it would violate the pod's disruption budget.");
    st->retry_after = retry_after;
    st->causes = json_pack("[{s:s,s:s}]", "reason", BUDGET_CAUSE, "message", msg);
    return r;
}

/* The budgets of pod's namespace that select it (new array). */
static int budgets_of(kobj_api *api, const json_t *pod, json_t **ret, kobj_status *st)
{
    kobj_req req = {.res = kres_lookup("policy", "v1", "poddisruptionbudgets"),
                    .ns = kobj_meta_str(pod, "namespace")};
    kobj_list_opts o = {0};
    json_t *list = NULL;
    int r = kobj_list(api, &req, &o, &list, st);
    if (r < 0)
        return r;
    const json_t *labels = json_object_get(json_object_get(pod, "metadata"), "labels");
    json_t *out = json_array(), *pdb;
    size_t i;
    json_array_foreach(json_object_get(list, "items"), i, pdb)
    {
        ksel *s =
            ksel_from_label_selector(json_object_get(json_object_get(pdb, "spec"), "selector"));
        if (s && ksel_match_labels(s, labels))
            json_array_append(out, pdb);
        ksel_free(s);
    }
    json_decref(list);
    *ret = out;
    return 0;
}

static void set_condition_false(json_t *status, int64_t gen)
{
    json_t *conds = json_object_get(status, "conditions"), *c;
    size_t i;
    json_array_foreach(conds, i, c)
    {
        if (!dd_streq(json_string_value(json_object_get(c, "type")), "DisruptionAllowed") ||
            dd_streq(json_string_value(json_object_get(c, "status")), "False"))
            continue;
        char now[32];
        kobj_now(now);
        jx_set_str(c, "status", "False");
        jx_set_str(c, "reason", "InsufficientPods");
        jx_set_str(c, "lastTransitionTime", now);
        if (gen > 0)
            jx_set_int(c, "observedGeneration", gen);
    }
}

/* Upstream's checkAndDecrement: 0 when pod may go (the budget written unless dry_run), 1 on a
 * write conflict (read again), < 0 with st filled. */
static int take_disruption(kobj_api *api, const json_t *pdb, const char *pod, bool dry_run,
                           kobj_status *st)
{
    const char *name = kobj_meta_str(pdb, "name");
    const json_t *status = json_object_get(pdb, "status");
    int64_t gen =
        json_integer_value(json_object_get(json_object_get(pdb, "metadata"), "generation"));
    int64_t seen = json_integer_value(json_object_get(status, "observedGeneration"));
    int64_t allowed = json_integer_value(json_object_get(status, "disruptionsAllowed"));
    if (seen < gen)
        return too_many(st, 10, "The disruption budget %s is still being processed by the server.",
                        name);
    if (allowed < 0 || json_object_size(json_object_get(status, "disruptedPods")) > MAX_DISRUPTED) {
        int r = kobj_fail(st, 403, "Forbidden",
                          "poddisruptionbudget.policy \"%s\" is forbidden: %s", name,
                          allowed < 0 ? "pdb disruptions allowed is negative"
                                      : "DisruptedPods map too big - too many evictions not "
                                        "confirmed by PDB controller");
        snprintf(st->name, sizeof(st->name), "%s", name);
        snprintf(st->group, sizeof(st->group), "policy");
        snprintf(st->kind, sizeof(st->kind), "poddisruptionbudget");
        return r;
    }
    if (allowed == 0)
        return too_many(
            st, 0, "The disruption budget %s needs %lld healthy pods and has %lld currently", name,
            (long long)json_integer_value(json_object_get(status, "desiredHealthy")),
            (long long)json_integer_value(json_object_get(status, "currentHealthy")));
    if (dry_run)
        return 0;
    json_t *upd = json_deep_copy(pdb);
    json_t *ust = json_object_get(upd, "status");
    jx_set_int(ust, "disruptionsAllowed", allowed - 1);
    if (allowed - 1 == 0)
        set_condition_false(ust, seen);
    json_t *dp = json_object_get(ust, "disruptedPods");
    if (!json_is_object(dp)) {
        dp = json_object();
        json_object_set_new(ust, "disruptedPods", dp);
    }
    char now[32];
    kobj_now(now);
    jx_set_str(dp, pod, now);
    kobj_req req = {.res = kres_lookup("policy", "v1", "poddisruptionbudgets"),
                    .subresource = "status",
                    .ns = kobj_meta_str(pdb, "namespace"),
                    .name = name,
                    .field_manager = "kube-apiserver"};
    kobj_result res = {0};
    int r = kobj_update(api, &req, upd, &res, st);
    kobj_result_release(&res);
    json_decref(upd);
    if (r < 0 && st->code == 409) {
        kobj_status_release(st);
        *st = (kobj_status){0};
        return 1;
    }
    return r < 0 ? r : 0;
}

/* 0 when the pod may be deleted, < 0 with st filled. */
static int check_budget(kobj_api *api, const kobj_req *req, kobj_status *st)
{
    for (int attempt = 0; attempt < CONFLICT_ATTEMPTS; attempt++) {
        json_t *pod = NULL, *pdbs = NULL;
        int64_t rev;
        int r = kobj_get_raw(api, req->res, req->ns, req->name, &pod, &rev, st);
        if (r < 0)
            return r;
        if (budget_ignored(pod) || (r = budgets_of(api, pod, &pdbs, st)) < 0 ||
            json_array_size(pdbs) == 0) {
            json_decref(pod);
            json_decref(pdbs);
            return r < 0 ? r : 0;
        }
        const json_t *pdb = json_array_get(pdbs, 0);
        const json_t *spec = json_object_get(pdb, "spec");
        const json_t *status = json_object_get(pdb, "status");
        int64_t want = json_integer_value(json_object_get(status, "desiredHealthy"));
        if (json_array_size(pdbs) > 1)
            r = kobj_fail(st, 500, "",
                          "This pod has more than one PodDisruptionBudget, which the "
                          "eviction subresource does not support.");
        else if (!pod_ready(pod) &&
                 (dd_streq(json_string_value(json_object_get(spec, "unhealthyPodEvictionPolicy")),
                           "AlwaysAllow") ||
                  (want > 0 &&
                   json_integer_value(json_object_get(status, "currentHealthy")) >= want)))
            r = 0;
        else
            r = take_disruption(api, pdb, req->name, req->dry_run, st);
        json_decref(pod);
        json_decref(pdbs);
        if (r != 1)
            return r;
    }
    return kobj_fail(st, 429, "TooManyRequests",
                     "Cannot evict pod as it would violate the pod's disruption budget.");
}

int kobj_evict(kobj_api *api, const kobj_req *req, const json_t *body, kobj_result *ret,
               kobj_status *st)
{
    const char *named = kobj_meta_str(body, "name");
    if (named && *named && strcmp(named, req->name))
        return kobj_fail(st, 400, "BadRequest",
                         "name in URL does not match name in Eviction object");
    int r = check_budget(api, req, st);
    if (r < 0)
        return r;
    kobj_req del = *req;
    del.subresource = NULL;
    r = kobj_delete(api, &del, json_object_get(body, "deleteOptions"), ret, st);
    if (r >= 0) {
        json_decref(ret->object);
        ret->object = json_pack("{s:s,s:s,s:{},s:s,s:i}", "kind", "Status", "apiVersion", "v1",
                                "metadata", "status", "Success", "code", 201);
        ret->code = 201;
    }
    return r;
}
