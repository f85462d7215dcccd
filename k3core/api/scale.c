/* scale: the autoscaling/v1 Scale view of workloads (deployments, replicasets, statefulsets,
 * replicationcontrollers, custom resources with a scale subresource) and the POST
 * subresources pods/binding (the scheduler's assignment) and pods/eviction (eviction.c).
 */
#include <stdio.h>

#include "k3core/api/objects-internal.h"

/* Paths of replicas/selector as ".spec.replicas"-style strings (CRDs) or the built-in ones. */
static void scale_paths(const kres_resource *r, const char **spec, const char **status,
                        const char **sel)
{
    *spec = ".spec.replicas";
    *status = ".status.replicas";
    *sel = NULL;
    const json_t *sc = json_object_get(kres_schema(r), "sc");
    if (sc) {
        *spec = json_string_value(json_object_get(sc, "spec"));
        *status = json_string_value(json_object_get(sc, "status"));
        *sel = json_string_value(json_object_get(sc, "sel"));
    }
}

static json_t *at_path(const json_t *obj, const char *path, json_t **ret_parent, char **ret_leaf)
{
    if (!path || path[0] != '.')
        return NULL;
    _cleanup_free_ char *copy = dd_strdup(path + 1);
    json_t *cur = (json_t *)obj, *parent = NULL;
    char *save = NULL, *leaf = NULL;
    for (char *p = strtok_r(copy, ".", &save); p; p = strtok_r(NULL, ".", &save)) {
        parent = cur;
        leaf = p;
        cur = json_object_get(cur, p);
    }
    if (ret_parent)
        *ret_parent = parent;
    if (ret_leaf)
        *ret_leaf = leaf ? dd_strdup(leaf) : NULL;
    return cur;
}

static char *selector_string(const json_t *sel)
{
    json_t *ml = json_object_get(sel, "matchLabels");
    dd_buf b = DD_BUF_INIT;
    dd_buf_init(&b);
    const char *k;
    json_t *v;
    json_object_foreach(ml, k, v)
    {
        if (b.len)
            dd_buf_addc(&b, ',');
        dd_buf_addf(&b, "%s=%s", k, json_string_value(v) ? json_string_value(v) : "");
    }
    return dd_buf_detach(&b, NULL);
}

json_t *kobj_scale_of(const kres_resource *r, const json_t *obj)
{
    if (!kres_find_subresource(r, "scale"))
        return NULL;
    const char *sp, *stp, *selp;
    scale_paths(r, &sp, &stp, &selp);
    json_t *meta = json_object_get(obj, "metadata");
    json_t *m = json_object();
    static const char *const keep[] = {"name", "namespace", "uid", "resourceVersion",
                                       "creationTimestamp"};
    for (size_t i = 0; i < DD_ARRAY_SIZE(keep); i++)
        if (json_object_get(meta, keep[i]))
            json_object_set(m, keep[i], json_object_get(meta, keep[i]));
    json_int_t want = json_integer_value(at_path(obj, sp, NULL, NULL));
    json_int_t have = json_integer_value(at_path(obj, stp, NULL, NULL));
    json_t *status = json_pack("{s:I}", "replicas", have);
    if (selp) {
        json_t *s = at_path(obj, selp, NULL, NULL);
        if (json_is_string(s))
            json_object_set(status, "selector", s);
    } else {
        _cleanup_free_ char *s =
            selector_string(json_object_get(json_object_get(obj, "spec"), "selector"));
        if (*s)
            jx_set_str(status, "selector", s);
    }
    return json_pack("{s:s,s:s,s:o,s:{s:I},s:o}", "kind", "Scale", "apiVersion", "autoscaling/v1",
                     "metadata", m, "spec", "replicas", want, "status", status);
}

int kobj_scale_apply(const kres_resource *r, const json_t *obj, const json_t *scale, json_t **ret,
                     kobj_status *st)
{
    json_t *rep = json_object_get(json_object_get(scale, "spec"), "replicas");
    if (rep && (!json_is_integer(rep) || json_integer_value(rep) < 0))
        return kobj_fail(st, 422, "Invalid",
                         "Scale.autoscaling \"%s\" is invalid: spec.replicas: "
                         "Invalid value: %s: must be greater than or equal "
                         "to 0",
                         kobj_meta_str(obj, "name"), json_is_integer(rep) ? "-1" : "null");
    const char *sp, *stp, *selp;
    scale_paths(r, &sp, &stp, &selp);
    json_t *out = json_deep_copy(obj);
    json_t *parent = NULL;
    _cleanup_free_ char *leaf = NULL;
    at_path(out, sp, &parent, &leaf);
    if (!json_is_object(parent) && dd_startswith(sp, ".spec.")) {
        json_object_set_new(out, "spec", json_object());
        at_path(out, sp, &parent, NULL);
    }
    if (json_is_object(parent) && leaf)
        json_object_set_new(parent, leaf, json_integer(json_integer_value(rep)));
    const char *rv = kobj_meta_str(scale, "resourceVersion");
    if (rv && *rv)
        jx_set_str(kobj_meta(out), "resourceVersion", rv);
    *ret = out;
    return 0;
}

static int bind_pod(kobj_api *api, const kobj_req *req, const json_t *body, kobj_result *ret,
                    kobj_status *st)
{
    const char *node = json_string_value(json_object_get(json_object_get(body, "target"), "name"));
    if (!node || !*node)
        return kobj_fail(st, 422, "Invalid",
                         "Binding \"%s\" is invalid: target.name: Required "
                         "value",
                         req->name ? req->name : "");
    json_t *pod;
    int64_t rev;
    int r = kobj_get_raw(api, req->res, req->ns, req->name, &pod, &rev, st);
    if (r < 0)
        return r;
    const char *cur = json_string_value(json_object_get(json_object_get(pod, "spec"), "nodeName"));
    if (cur && *cur) {
        r = kobj_fail(st, 409, "Conflict",
                      "Operation cannot be fulfilled on pods/binding \"%s\": "
                      "pod %s is already assigned to node \"%s\"",
                      req->name, req->name, cur);
        json_decref(pod);
        return r;
    }
    json_t *upd = json_deep_copy(pod);
    jx_set_str(json_object_get(upd, "spec"), "nodeName", node);
    kobj_req wr = *req;
    wr.subresource = KOBJ_INTERNAL_WRITE;
    r = kobj_write_update(api, &wr, upd, pod, rev, false, ret, st);
    json_decref(pod);
    if (r >= 0) {
        json_decref(ret->object);
        ret->object = json_pack("{s:s,s:s,s:{},s:s,s:i}", "kind", "Status", "apiVersion", "v1",
                                "metadata", "status", "Success", "code", 201);
        ret->code = 201;
    }
    return r;
}

int kobj_create_subresource(kobj_api *api, const kobj_req *req, const json_t *body,
                            kobj_result *ret, kobj_status *st)
{
    bool pods = !req->res->group[0] && strcmp(req->res->resource, "pods") == 0;
    if (pods && strcmp(req->subresource, "binding") == 0)
        return bind_pod(api, req, body, ret, st);
    if (pods && strcmp(req->subresource, "eviction") == 0)
        return kobj_evict(api, req, body, ret, st);
    return kobj_fail(st, 405, "MethodNotAllowed",
                     "the server does not allow this method on the requested resource");
}
