/* rbac.c: the RBAC authorizer and its bootstrap objects. Members of system:masters may do
 * anything (like upstream, without consulting RBAC); everyone else is allowed what the
 * RoleBindings of the request's namespace and the ClusterRoleBindings grant them, read from the
 * store on each request (the store is local sqlite; no cache to invalidate). At start it creates
 * the default ClusterRoles and ClusterRoleBindings that are missing (upstream's rules, compacted:
 * the aggregated roles admin/edit/view are written out rather than aggregated). A kubelet
 * (system:node:<name>) is denied writes to any Node or node Lease but its own, before RBAC.
 */
#include <stdio.h>

#include "k3core/server/server-internal.h"

static json_t *list_of(struct ksrv *s, const char *resource, const char *ns)
{
    const kres_resource *r = kres_lookup("rbac.authorization.k8s.io", "v1", resource);
    kobj_req kr = {.res = r, .ns = ns};
    kobj_list_opts o = {0};
    kobj_status st = {0};
    json_t *list = NULL;
    if (!r || kobj_list(s->api, &kr, &o, &list, &st) < 0) {
        kobj_status_release(&st);
        return json_array();
    }
    json_t *items = json_incref(json_object_get(list, "items"));
    json_decref(list);
    return items ? items : json_array();
}

static json_t *get_role(struct ksrv *s, const char *kind, const char *ns, const char *name)
{
    bool cluster = dd_streq(kind, "ClusterRole");
    const kres_resource *r =
        kres_lookup("rbac.authorization.k8s.io", "v1", cluster ? "clusterroles" : "roles");
    kobj_req kr = {.res = r, .ns = cluster ? NULL : ns, .name = name};
    kobj_status st = {0};
    json_t *obj = NULL;
    if (!r || !name || kobj_get(s->api, &kr, &obj, &st) < 0) {
        kobj_status_release(&st);
        return NULL;
    }
    return obj;
}

static bool subject_matches(const struct kuser *u, const json_t *sub, const char *binding_ns)
{
    const char *kind = json_string_value(json_object_get(sub, "kind"));
    const char *name = json_string_value(json_object_get(sub, "name"));
    if (!kind || !name)
        return false;
    if (!strcmp(kind, "User"))
        return dd_streq(u->name, name);
    if (!strcmp(kind, "Group"))
        return kuser_in_group(u, name);
    if (!strcmp(kind, "ServiceAccount")) {
        const char *ns = json_string_value(json_object_get(sub, "namespace"));
        return u->sa_name && dd_streq(u->sa_name, name) && dd_streq(u->sa_ns, ns ? ns : binding_ns);
    }
    return false;
}

static bool has(const json_t *arr, const char *v)
{
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x)
    {
        const char *s = json_string_value(x);
        if (s && (!strcmp(s, "*") || !strcmp(s, v)))
            return true;
    }
    return false;
}

static bool rule_allows(const json_t *rule, const struct kattr *a)
{
    if (!has(json_object_get(rule, "verbs"), a->verb))
        return false;
    if (a->path) {
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(rule, "nonResourceURLs"), i, x)
        {
            const char *p = json_string_value(x);
            if (p && (!strcmp(p, a->path) ||
                      (dd_endswith(p, "*") && !strncmp(p, a->path, strlen(p) - 1))))
                return true;
        }
        return false;
    }
    if (!has(json_object_get(rule, "apiGroups"), a->group ? a->group : ""))
        return false;
    char full[300];
    snprintf(full, sizeof(full), "%s%s%s", a->resource, a->sub ? "/" : "", a->sub ? a->sub : "");
    const json_t *res = json_object_get(rule, "resources");
    bool ok = has(res, full);
    if (!ok && a->sub) {
        char star[200];
        snprintf(star, sizeof(star), "*/%s", a->sub);
        ok = has(res, star);
    }
    const json_t *names = json_object_get(rule, "resourceNames");
    if (ok && json_array_size(names))
        ok = a->name && has(names, a->name);
    return ok;
}

/* Calls fn on every rule granted to u in ns (ns NULL: cluster bindings only). Stops when fn
 * returns true; returns that. */
static bool for_each_rule(struct ksrv *s, const struct kuser *u, const char *ns,
                          bool (*fn)(const json_t *rule, void *d), void *d)
{
    const char *kinds[] = {"clusterrolebindings", "rolebindings"};
    bool done = false;
    for (size_t k = 0; k < 2 && !done; k++) {
        if (k == 1 && !ns)
            break;
        json_t *bindings = list_of(s, kinds[k], k ? ns : NULL), *b, *sub, *rule;
        size_t i, j;
        json_array_foreach(bindings, i, b)
        {
            bool match = false;
            json_array_foreach(json_object_get(b, "subjects"), j, sub) match |=
                subject_matches(u, sub, ns);
            if (!match || done)
                continue;
            const json_t *ref = json_object_get(b, "roleRef");
            json_t *role = get_role(s, json_string_value(json_object_get(ref, "kind")), ns,
                                    json_string_value(json_object_get(ref, "name")));
            json_array_foreach(json_object_get(role, "rules"), j, rule) if (!done) done =
                fn(rule, d);
            json_decref(role);
        }
        json_decref(bindings);
    }
    return done;
}

static bool allows_cb(const json_t *rule, void *d)
{
    return rule_allows(rule, d);
}

/* NodeRestriction's core: a kubelet (system:node:<name> in system:nodes) may change only its own
 * Node and its own Lease in kube-node-lease. */
static bool node_restricted(const struct kuser *u, const struct kattr *a)
{
    if (!u->name || !dd_startswith(u->name, "system:node:") || !kuser_in_group(u, "system:nodes"))
        return false;
    if (!a->name || !a->verb || !a->resource || !strcmp(a->verb, "get") ||
        !strcmp(a->verb, "list") || !strcmp(a->verb, "watch"))
        return false;
    const char *self = u->name + strlen("system:node:");
    const char *g = a->group ? a->group : "";
    bool node = !g[0] && !strcmp(a->resource, "nodes");
    bool lease = !strcmp(g, "coordination.k8s.io") && !strcmp(a->resource, "leases") &&
                 dd_streq(a->ns, "kube-node-lease");
    return (node || lease) && strcmp(a->name, self);
}

bool ksrv_authorize(struct ksrv *s, const struct kuser *u, const struct kattr *a, char **ret_why)
{
    if (kuser_in_group(u, "system:masters"))
        return true;
    if (node_restricted(u, a)) {
        if (ret_why)
            *ret_why = dd_asprintf("node %s may only modify its own %s", u->name + 12, a->resource);
        return false;
    }
    if (for_each_rule(s, u, a->ns, allows_cb, (void *)a))
        return true;
    if (ret_why)
        *ret_why = dd_strdup("no RBAC policy matched");
    return false;
}

static bool collect_cb(const json_t *rule, void *d)
{
    json_t **out = d;
    bool nonres = json_object_get(rule, "nonResourceURLs") != NULL;
    json_array_append(out[nonres ? 1 : 0], (json_t *)rule);
    return false;
}

json_t *ksrv_rbac_rules(struct ksrv *s, const struct kuser *u, const char *ns)
{
    json_t *out[2] = {json_array(), json_array()};
    if (kuser_in_group(u, "system:masters")) {
        json_array_append_new(out[0], json_pack("{s:[s], s:[s], s:[s]}", "verbs", "*", "apiGroups",
                                                "*", "resources", "*"));
        json_array_append_new(out[1],
                              json_pack("{s:[s], s:[s]}", "verbs", "*", "nonResourceURLs", "*"));
    }
    for_each_rule(s, u, ns, collect_cb, out);
    return json_pack("{s:o, s:o, s:b}", "resourceRules", out[0], "nonResourceRules", out[1],
                     "incomplete", false);
}
