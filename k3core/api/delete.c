/* delete: DELETE of one object and of a collection. Objects with finalizers (or Foreground
 * propagation, which adds the foregroundDeletion finalizer) only get deletionTimestamp and stay
 * until the finalizers are gone; namespaces enter phase Terminating and are finished by the
 * namespace controller; scheduled pods with a grace period stay until the kubelet deletes them
 * with grace 0; everything else is removed at once. Orphan removes this owner from the
 * dependents' ownerReferences; Background leaves the dependents to the garbage collector.
 */
#include <stdio.h>

#include "k3core/api/objects-internal.h"

typedef struct del_opts {
    int64_t grace; /* -1 = kind default */
    const char *policy;
    const char *uid, *rv; /* preconditions */
} del_opts;

static int parse_opts(const json_t *o, del_opts *d, kobj_status *st)
{
    memset(d, 0, sizeof(*d));
    d->grace = -1;
    if (!o)
        return 0;
    if (!json_is_object(o))
        return kobj_fail(st, 400, "BadRequest",
                         "the body of the request must be a DeleteOptions "
                         "object");
    json_t *g = json_object_get(o, "gracePeriodSeconds");
    if (json_is_integer(g))
        d->grace = json_integer_value(g) < 0 ? 0 : json_integer_value(g);
    d->policy = json_string_value(json_object_get(o, "propagationPolicy"));
    if (!d->policy && json_is_boolean(json_object_get(o, "orphanDependents")))
        d->policy = json_is_true(json_object_get(o, "orphanDependents")) ? "Orphan" : "Background";
    if (d->policy && strcmp(d->policy, "Background") && strcmp(d->policy, "Foreground") &&
        strcmp(d->policy, "Orphan"))
        return kobj_fail(st, 422, "Invalid",
                         "DeleteOptions.meta.k8s.io \"\" is invalid: "
                         "propagationPolicy: Unsupported value: \"%s\": "
                         "supported values: \"Foreground\", \"Background\", "
                         "\"Orphan\"",
                         d->policy);
    json_t *pre = json_object_get(o, "preconditions");
    d->uid = json_string_value(json_object_get(pre, "uid"));
    d->rv = json_string_value(json_object_get(pre, "resourceVersion"));
    return 0;
}

static int check_preconditions(const kobj_req *req, const del_opts *d, const json_t *obj,
                               kobj_status *st)
{
    const char *uid = kobj_meta_str(obj, "uid");
    const char *rv = kobj_meta_str(obj, "resourceVersion");
    char qn[300];
    kres_qualified_name(req->res, qn, sizeof(qn));
    if (d->uid && !dd_streq(d->uid, uid))
        return kobj_fail(st, 409, "Conflict",
                         "Operation cannot be fulfilled on %s \"%s\": Precondition failed: UID in "
                         "precondition: %s, UID in object meta: %s",
                         qn, req->name, d->uid, uid ? uid : "");
    if (d->rv && !dd_streq(d->rv, rv))
        return kobj_fail(st, 409, "Conflict",
                         "Operation cannot be fulfilled on %s \"%s\": Precondition failed: "
                         "ResourceVersion in precondition: %s, ResourceVersion in meta: %s",
                         qn, req->name, d->rv, rv ? rv : "");
    return 0;
}

static bool is_core(const kres_resource *r, const char *resource)
{
    return !r->group[0] && strcmp(r->resource, resource) == 0;
}

static void add_finalizer(json_t *meta, const char *f)
{
    json_t *fins = json_object_get(meta, "finalizers");
    if (!json_is_array(fins)) {
        fins = json_array();
        json_object_set_new(meta, "finalizers", fins);
    }
    size_t i;
    json_t *v;
    json_array_foreach(fins, i, v) if (dd_streq(json_string_value(v), f)) return;
    json_array_append_new(fins, json_string(f));
}

/* Marks the object as deleting instead of removing it. */
static int mark_deleting(kobj_api *api, const kobj_req *req, const json_t *obj, int64_t rev,
                         const del_opts *d, kobj_result *ret, kobj_status *st)
{
    json_t *upd = json_deep_copy(obj);
    json_t *meta = kobj_meta(upd);
    if (!json_object_get(meta, "deletionTimestamp")) {
        char now[32];
        kobj_now(now);
        jx_set_str(meta, "deletionTimestamp", now);
        jx_set_int(meta, "deletionGracePeriodSeconds", d->grace > 0 ? d->grace : 0);
    } else if (d->grace >= 0) {
        jx_set_int(meta, "deletionGracePeriodSeconds", d->grace);
    }
    if (dd_streq(d->policy, "Foreground"))
        add_finalizer(meta, "foregroundDeletion");
    if (is_core(req->res, "namespaces")) {
        json_t *status = json_object_get(upd, "status");
        if (!json_is_object(status))
            json_object_set_new(upd, "status", status = json_object());
        jx_set_str(status, "phase", "Terminating");
    }
    kobj_req wr = *req;
    wr.subresource = KOBJ_INTERNAL_WRITE;
    wr.validation = KOBJ_VALIDATE_IGNORE;
    int r = kobj_write_update(api, &wr, upd, obj, rev, true, ret, st);
    return r;
}

static bool needs_mark(const kobj_req *req, const json_t *obj, const del_opts *d)
{
    json_t *meta = json_object_get(obj, "metadata");
    if (json_array_size(json_object_get(meta, "finalizers")) > 0)
        return true;
    if (dd_streq(d->policy, "Foreground"))
        return true;
    if (is_core(req->res, "namespaces"))
        return true;
    if (is_core(req->res, "pods")) {
        const char *node =
            json_string_value(json_object_get(json_object_get(obj, "spec"), "nodeName"));
        const char *phase =
            json_string_value(json_object_get(json_object_get(obj, "status"), "phase"));
        bool done = dd_streq(phase, "Succeeded") || dd_streq(phase, "Failed");
        return node && *node && d->grace != 0 && !done;
    }
    return false;
}

static int delete_one(kobj_api *api, const kobj_req *req, const del_opts *d, kobj_result *ret,
                      kobj_status *st)
{
    json_t *obj;
    int64_t rev;
    int r = kobj_get_raw(api, req->res, req->ns, req->name, &obj, &rev, st);
    if (r < 0)
        return r;
    r = check_preconditions(req, d, obj, st);
    del_opts eff = *d;
    if (r >= 0 && is_core(req->res, "pods") && eff.grace < 0) {
        json_t *tg = json_object_get(json_object_get(obj, "spec"), "terminationGracePeriodSeconds");
        eff.grace = json_is_integer(tg) ? json_integer_value(tg) : 30;
    }
    if (r >= 0 && needs_mark(req, obj, &eff)) {
        r = mark_deleting(api, req, obj, rev, &eff, ret, st);
        json_decref(obj);
        return r;
    }
    if (r >= 0 && dd_streq(eff.policy, "Orphan") && !req->dry_run)
        kobj_orphan_dependents(api, kobj_meta_str(obj, "uid"));
    if (r >= 0 && !req->dry_run)
        r = kobj_do_delete(api, req->res, req->ns, req->name, st);
    if (r < 0) {
        json_decref(obj);
        return r;
    }
    if (is_core(req->res, "pods")) {
        ret->object = obj;
    } else {
        ret->object = kobj_status_success(req->res, obj);
        json_decref(obj);
    }
    ret->code = 200;
    return 0;
}

int kobj_delete(kobj_api *api, const kobj_req *req, const json_t *delete_options, kobj_result *ret,
                kobj_status *st)
{
    memset(ret, 0, sizeof(*ret));
    if (!(req->res->verbs & KRES_DELETE))
        return kobj_fail(st, 405, "MethodNotAllowed",
                         "the server does not allow this method on the requested resource");
    if (is_core(req->res, "namespaces") &&
        (dd_streq(req->name, "default") || dd_streq(req->name, "kube-system") ||
         dd_streq(req->name, "kube-public"))) {
        /* upstream's NamespaceLifecycle admission keeps these forever */
        int r = kobj_fail(st, 403, "Forbidden",
                          "namespaces \"%s\" is forbidden: this namespace may not be deleted",
                          req->name);
        kobj_status_details(st, req->res, req->name);
        return r;
    }
    del_opts d;
    int r = parse_opts(delete_options, &d, st);
    if (r < 0)
        return r;
    return delete_one(api, req, &d, ret, st);
}

int kobj_delete_collection(kobj_api *api, const kobj_req *req, const kobj_list_opts *opts,
                           const json_t *delete_options, kobj_result *ret, kobj_status *st)
{
    memset(ret, 0, sizeof(*ret));
    if (!(req->res->verbs & KRES_DELETECOLLECTION))
        return kobj_fail(st, 405, "MethodNotAllowed",
                         "the server does not allow this method on the requested resource");
    del_opts d;
    int r = parse_opts(delete_options, &d, st);
    if (r < 0)
        return r;
    kobj_list_opts lo = opts ? *opts : (kobj_list_opts){0};
    lo.limit = 0;
    lo.continue_token = NULL;
    json_t *list;
    r = kobj_list(api, req, &lo, &list, st);
    if (r < 0)
        return r;
    json_t *items = json_object_get(list, "items"), *deleted = json_array();
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        kobj_req one = *req;
        one.ns = kobj_meta_str(it, "namespace");
        one.name = kobj_meta_str(it, "name");
        kobj_result res = {0};
        kobj_status ist = {0};
        if (delete_one(api, &one, &d, &res, &ist) >= 0)
            json_array_append(deleted, it);
        kobj_result_release(&res);
        kobj_status_release(&ist);
    }
    json_object_set_new(list, "items", deleted);
    ret->object = list;
    ret->code = 200;
    return 0;
}
