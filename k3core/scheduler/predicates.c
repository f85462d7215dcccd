/* predicates.c: the scheduler's filters as pure functions over Pod and Node JSON —
 * NodeUnschedulable, NodeAffinity (nodeSelector; requiredDuringScheduling... nodeSelectorTerms
 * ORed, each term's matchExpressions ANDed: In, NotIn, Exists, DoesNotExist, Gt, Lt; matchFields
 * metadata.name), TaintToleration (NoSchedule and NoExecute taints need a matching toleration:
 * Equal/Exists operators, empty key with Exists tolerates everything) and NodeResourcesFit
 * (requests of regular containers, max'ed with each init container, plus overhead, against
 * allocatable minus the requests of pods bound to the node), and the summary message.
 */
#include <stdio.h>
#include <stdlib.h>

#include "k3core/api/quantity.h"
#include "k3core/scheduler/scheduler.h"

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

char *ksched_check_unschedulable(const json_t *pod, const json_t *node)
{
    if (!json_is_true(json_object_get(json_object_get(node, "spec"), "unschedulable")))
        return NULL;
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(json_object_get(pod, "spec"), "tolerations"), i, t)
    {
        if (dd_streq(str(t, "key"), "node.kubernetes.io/unschedulable") &&
            dd_streq(str(t, "operator"), "Exists"))
            return NULL;
    }
    return dd_strdup("node(s) were unschedulable");
}

static bool match_expr(const json_t *expr, const json_t *labels)
{
    const char *key = str(expr, "key"), *op = str(expr, "operator");
    const char *v = key ? str(labels, key) : NULL;
    const json_t *vals = json_object_get(expr, "values");
    bool in = false;
    size_t i;
    json_t *x;
    json_array_foreach(vals, i, x)
    {
        in = in || (v && dd_streq(json_string_value(x), v));
    }
    if (dd_streq(op, "In"))
        return in;
    if (dd_streq(op, "NotIn"))
        return !in;
    if (dd_streq(op, "Exists"))
        return v != NULL;
    if (dd_streq(op, "DoesNotExist"))
        return v == NULL;
    if ((dd_streq(op, "Gt") || dd_streq(op, "Lt")) && v && json_array_size(vals) == 1) {
        int64_t a, b;
        if (dd_parse_int64(v, &a) < 0 ||
            dd_parse_int64(json_string_value(json_array_get(vals, 0)) ?: "", &b) < 0)
            return false;
        return dd_streq(op, "Gt") ? a > b : a < b;
    }
    return false;
}

static bool match_term(const json_t *term, const json_t *node)
{
    const json_t *meta = json_object_get(node, "metadata");
    const json_t *labels = json_object_get(meta, "labels");
    const json_t *exprs = json_object_get(term, "matchExpressions");
    const json_t *fields = json_object_get(term, "matchFields");
    if (!json_array_size(exprs) && !json_array_size(fields))
        return false; /* an empty term matches nothing, like upstream */
    size_t i;
    json_t *x;
    json_array_foreach(exprs, i, x)
    {
        if (!match_expr(x, labels))
            return false;
    }
    json_t *name_fields = json_pack("{s:s}", "metadata.name", str(meta, "name") ?: "");
    bool ok = true;
    json_array_foreach(fields, i, x)
    {
        ok = ok && match_expr(x, name_fields);
    }
    json_decref(name_fields);
    return ok;
}

char *ksched_check_affinity(const json_t *pod, const json_t *node)
{
    const json_t *spec = json_object_get(pod, "spec");
    const json_t *labels = json_object_get(json_object_get(node, "metadata"), "labels");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)json_object_get(spec, "nodeSelector"), k, v)
    {
        if (!dd_streq(str(labels, k), json_string_value(v)))
            return dd_strdup("node(s) didn't match Pod's node affinity/selector");
    }
    const json_t *req =
        json_object_get(json_object_get(json_object_get(spec, "affinity"), "nodeAffinity"),
                        "requiredDuringSchedulingIgnoredDuringExecution");
    const json_t *terms = json_object_get(req, "nodeSelectorTerms");
    if (!req)
        return NULL;
    size_t i;
    json_t *t;
    json_array_foreach(terms, i, t)
    {
        if (match_term(t, node))
            return NULL;
    }
    return dd_strdup("node(s) didn't match Pod's node affinity/selector");
}

static bool tolerates(const json_t *tol, const json_t *taint)
{
    const char *eff = str(tol, "effect");
    if (eff && *eff && !dd_streq(eff, str(taint, "effect")))
        return false;
    const char *key = str(tol, "key"), *op = str(tol, "operator");
    bool exists = dd_streq(op, "Exists");
    if ((!key || !*key))
        return exists;
    if (!dd_streq(key, str(taint, "key")))
        return false;
    return exists || dd_streq(str(tol, "value") ?: "", str(taint, "value") ?: "");
}

char *ksched_check_taints(const json_t *pod, const json_t *node)
{
    const json_t *tols = json_object_get(json_object_get(pod, "spec"), "tolerations");
    size_t i, j;
    json_t *taint, *tol;
    json_array_foreach(json_object_get(json_object_get(node, "spec"), "taints"), i, taint)
    {
        const char *eff = str(taint, "effect");
        if (!dd_streq(eff, "NoSchedule") && !dd_streq(eff, "NoExecute"))
            continue;
        bool ok = false;
        json_array_foreach(tols, j, tol)
        {
            ok = ok || tolerates(tol, taint);
        }
        if (!ok)
            return dd_asprintf("node(s) had untolerated taint {%s: %s}", str(taint, "key") ?: "",
                               str(taint, "value") ?: "");
    }
    return NULL;
}

static int64_t qty_of(const json_t *obj, const char *key, bool milli)
{
    const char *s = str(obj, key);
    kqty q;
    if (!s || kqty_parse(s, &q, NULL) < 0)
        return 0;
    return milli ? kqty_milli(&q) : kqty_value(&q);
}

/* Effective request of a pod for one resource, upstream's rule: the regular containers plus
 * the sidecars (init containers with restartPolicy Always, running beside them), or the largest
 * init container plus the sidecars started before it, whichever is more. */
static int64_t pod_request(const json_t *pod, const char *res, bool milli)
{
    const json_t *spec = json_object_get(pod, "spec");
    int64_t sum = 0, init_max = 0, sidecars = 0;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(spec, "containers"), i, c)
    {
        sum += qty_of(json_object_get(json_object_get(c, "resources"), "requests"), res, milli);
    }
    json_array_foreach(json_object_get(spec, "initContainers"), i, c)
    {
        int64_t v =
            qty_of(json_object_get(json_object_get(c, "resources"), "requests"), res, milli);
        if (dd_streq(str(c, "restartPolicy"), "Always"))
            v = sidecars += v;
        else
            v += sidecars;
        init_max = v > init_max ? v : init_max;
    }
    sum += sidecars;
    return (sum > init_max ? sum : init_max) +
           qty_of(json_object_get(spec, "overhead"), res, milli);
}

static bool finished(const json_t *pod)
{
    const char *ph = str(json_object_get(pod, "status"), "phase");
    return dd_streq(ph, "Succeeded") || dd_streq(ph, "Failed");
}

char *ksched_check_resources(const json_t *pod, const json_t *node, const json_t *bound)
{
    const json_t *alloc = json_object_get(json_object_get(node, "status"), "allocatable");
    static const char *const res[] = {"cpu", "memory", "ephemeral-storage"};
    int64_t npods = 1;
    size_t i;
    json_t *b;
    json_array_foreach(bound, i, b)
    {
        npods += !finished(b);
    }
    if (npods > qty_of(alloc, "pods", false))
        return dd_strdup("Too many pods");
    for (size_t r = 0; r < DD_ARRAY_SIZE(res); r++) {
        bool milli = r == 0;
        int64_t want = pod_request(pod, res[r], milli);
        if (want == 0)
            continue;
        int64_t used = 0;
        json_array_foreach(bound, i, b)
        {
            if (!finished(b))
                used += pod_request(b, res[r], milli);
        }
        if (used + want > qty_of(alloc, res[r], milli))
            return dd_asprintf("Insufficient %s", res[r]);
    }
    return NULL;
}

/* Calls fn for every hostPort of the pod's containers and init containers. */
static bool any_port(const json_t *pod, bool (*fn)(const json_t *port, const void *ud),
                     const void *ud)
{
    static const char *const lists[] = {"initContainers", "containers"};
    const json_t *spec = json_object_get(pod, "spec");
    for (size_t l = 0; l < DD_ARRAY_SIZE(lists); l++) {
        size_t i, j;
        json_t *c, *p;
        json_array_foreach(json_object_get(spec, lists[l]), i, c)
        {
            json_array_foreach(json_object_get(c, "ports"), j, p)
            {
                if (json_integer_value(json_object_get(p, "hostPort")) > 0 && fn(p, ud))
                    return true;
            }
        }
    }
    return false;
}

static bool wildcard_ip(const char *ip)
{
    return !ip || !*ip || !strcmp(ip, "0.0.0.0");
}

/* Same hostPort and protocol on addresses that overlap (either one is every address). */
static bool port_conflicts(const json_t *a, const void *ud)
{
    const json_t *b = ud;
    const char *pa = str(a, "protocol") ?: "TCP", *pb = str(b, "protocol") ?: "TCP";
    const char *ia = str(a, "hostIP"), *ib = str(b, "hostIP");
    return json_integer_value(json_object_get(a, "hostPort")) ==
               json_integer_value(json_object_get(b, "hostPort")) &&
           !strcmp(pa, pb) && (wildcard_ip(ia) || wildcard_ip(ib) || !strcmp(ia, ib));
}

static bool port_used_by(const json_t *port, const void *bound_pod)
{
    return any_port(bound_pod, port_conflicts, port);
}

struct port_scan {
    const json_t *bound;
};

static bool port_taken(const json_t *port, const void *ud)
{
    size_t i;
    json_t *b;
    json_array_foreach(((const struct port_scan *)ud)->bound, i, b)
    {
        if (!finished(b) && port_used_by(port, b))
            return true;
    }
    return false;
}

char *ksched_check_ports(const json_t *pod, const json_t *bound)
{
    struct port_scan sc = {bound};
    if (any_port(pod, port_taken, &sc))
        return dd_strdup("node(s) didn't have free ports for the requested pod ports");
    return NULL;
}

char *ksched_check_volumes(const json_t *volumes, const json_t *node)
{
    const char *claim;
    json_t *pv;
    json_object_foreach((json_t *)volumes, claim, pv)
    {
        if (json_is_string(pv)) /* the claim's own problem, the same on every node */
            return dd_strdup(json_string_value(pv));
        const json_t *terms = json_object_get(
            json_object_get(json_object_get(json_object_get(pv, "spec"), "nodeAffinity"),
                            "required"),
            "nodeSelectorTerms");
        if (!json_array_size(terms))
            continue;
        bool ok = false;
        size_t i;
        json_t *t;
        json_array_foreach(terms, i, t) ok = ok || match_term(t, node);
        if (!ok)
            return dd_strdup("node(s) had volume node affinity conflict");
    }
    return NULL;
}

char *ksched_filter(const json_t *pod, const json_t *node, const json_t *bound)
{
    char *why = ksched_check_unschedulable(pod, node);
    if (!why)
        why = ksched_check_affinity(pod, node);
    if (!why)
        why = ksched_check_taints(pod, node);
    if (!why)
        why = ksched_check_ports(pod, bound);
    if (!why)
        why = ksched_check_resources(pod, node, bound);
    return why;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *ksched_summary(char *const *reasons, size_t n_nodes)
{
    char **sorted = dd_calloc(n_nodes + 1, sizeof(char *));
    size_t n = 0, avail = 0;
    for (size_t i = 0; i < n_nodes; i++) {
        if (reasons[i])
            sorted[n++] = reasons[i];
        else
            avail++;
    }
    qsort(sorted, n, sizeof(char *), cmp_str);
    dd_buf b;
    dd_buf_init(&b);
    dd_buf_addf(&b, "%zu/%zu nodes are available", avail, n_nodes);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && !strcmp(sorted[j], sorted[i]))
            j++;
        dd_buf_addf(&b, "%s %zu %s", i == 0 ? ":" : ",", j - i, sorted[i]);
        i = j;
    }
    dd_buf_addf(&b,
                ". preemption: %zu/%zu nodes are available: %zu Preemption is not helpful "
                "for scheduling.",
                avail, n_nodes, n_nodes - avail);
    free(sorted);
    return dd_buf_detach(&b, NULL);
}
