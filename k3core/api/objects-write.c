/* objects-write: create and update (PUT), the write pipeline they share with patch and apply
 * (type check → prune unknown fields → defaults → validation → metadata the server owns →
 * managedFields → store write with optimistic concurrency), and the status/spec split of
 * subresources. Deletion is in delete.c, patches in patch.c/smp.c/managed.c.
 */
#include <stdio.h>

#include "k3core/api/objects-internal.h"
#include "k3core/pki/b64.h"

static int check_type(const kres_resource *r, const json_t *obj, kobj_status *st)
{
    char av[256];
    kres_api_version(r, av, sizeof(av));
    const char *got_av = json_string_value(json_object_get(obj, "apiVersion"));
    const char *got_kind = json_string_value(json_object_get(obj, "kind"));
    if (got_av && strcmp(got_av, av) != 0)
        return kobj_fail(st, 400, "BadRequest",
                         "the API version in the data (%s) does not match the expected API "
                         "version (%s)",
                         got_av, av);
    if (got_kind && strcmp(got_kind, r->kind) != 0)
        return kobj_fail(st, 400, "BadRequest",
                         "the kind in the data (%s) does not match the expected kind (%s)",
                         got_kind, r->kind);
    return 0;
}

static void gen_uid(char out[37])
{
    unsigned char b[16];
    char hex[33];
    dd_random_hex(hex, 16);
    for (int i = 0; i < 16; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        b[i] = (unsigned char)v;
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

/* A v1 Secret's stringData is write-only: its entries go into data (base64), overriding data's
 * keys of the same name, as upstream's v1 → internal conversion does; it is never stored. */
static void fold_string_data(const kres_resource *r, json_t *obj)
{
    if (r->group[0] || strcmp(r->resource, "secrets"))
        return;
    json_t *sd = json_object_get(obj, "stringData");
    if (json_is_object(sd) && json_object_size(sd)) {
        json_t *data = json_object_get(obj, "data");
        if (!json_is_object(data)) {
            data = json_object();
            json_object_set_new(obj, "data", data);
        }
        const char *k;
        json_t *v;
        json_object_foreach(sd, k, v)
        {
            const char *s = json_string_value(v);
            _cleanup_free_ char *enc = b64_encode(s ? s : "", s ? strlen(s) : 0, false);
            json_object_set_new(data, k, json_string(enc));
        }
    }
    json_object_del(obj, "stringData");
}

void kobj_now(char out[32])
{
    char full[48];
    dd_format_rfc3339nano(dd_now_ns(), full, sizeof(full));
    /* upstream's metav1.Time has second precision: "2026-11-23T09:00:00Z" */
    snprintf(out, 32, "%.19sZ", full);
}

static void gen_name(json_t *meta)
{
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    char hex[11], suffix[6];
    dd_random_hex(hex, 5);
    for (int i = 0; i < 5; i++)
        suffix[i] = alphabet[(unsigned)(hex[2 * i] * 16 + hex[2 * i + 1]) % 27];
    suffix[5] = '\0';
    const char *gn = json_string_value(json_object_get(meta, "generateName"));
    _cleanup_free_ char *name = dd_asprintf("%.*s%s", 58, gn, suffix);
    jx_set_str(meta, "name", name);
}

static int invalid_name(kobj_status *st, const kres_resource *r, const char *name,
                        const char *field, const char *msg)
{
    int ret = kobj_fail(st, 422, "Invalid", "%s \"%s\" is invalid: %s: Required value: %s", r->kind,
                        name ? name : "", field, msg);
    kobj_status_details(st, r, name);
    snprintf(st->kind, sizeof(st->kind), "%s", r->kind);
    st->causes = json_pack("[{s:s,s:s,s:s}]", "reason", "FieldValueRequired", "message",
                           "Required value: name or generateName is required", "field", field);
    return ret;
}

static int fill_identity(const kobj_req *req, json_t *obj, kobj_status *st)
{
    json_t *meta = kobj_meta(obj);
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    if (kres_namespaced(req->res)) {
        if (ns && req->ns && *ns && strcmp(ns, req->ns) != 0)
            return kobj_fail(st, 400, "BadRequest",
                             "the namespace of the provided object does "
                             "not match the namespace sent on the "
                             "request");
        if (req->ns)
            jx_set_str(meta, "namespace", req->ns);
        else if (!ns)
            jx_set_str(meta, "namespace", "default");
    } else {
        json_object_del(meta, "namespace");
    }
    const char *name = json_string_value(json_object_get(meta, "name"));
    if ((!name || !*name) && json_string_value(json_object_get(meta, "generateName")))
        gen_name(meta);
    name = json_string_value(json_object_get(meta, "name"));
    if (!name || !*name)
        return invalid_name(st, req->res, NULL, "metadata.name",
                            "name or generateName is required");
    return 0;
}

static void strip_server_fields(json_t *meta)
{
    static const char *const owned[] = {"resourceVersion",
                                        "uid",
                                        "creationTimestamp",
                                        "deletionTimestamp",
                                        "deletionGracePeriodSeconds",
                                        "generation",
                                        "selfLink",
                                        "managedFields"};
    for (size_t i = 0; i < DD_ARRAY_SIZE(owned); i++)
        json_object_del(meta, owned[i]);
}

bool kobj_has_status(const kres_resource *r)
{
    return kres_find_subresource(r, "status") != NULL;
}

bool kobj_tracks_generation(const kres_resource *r)
{
    static const char *const no_gen[] = {
        "pods",  "services",   "persistentvolumeclaims", "persistentvolumes",
        "nodes", "namespaces", "replicationcontrollers", NULL};
    if (r->flags & KRES_CUSTOM)
        return true;
    if (!r->group[0] && dd_strv_contains((char **)no_gen, r->resource))
        return strcmp(r->resource, "replicationcontrollers") == 0;
    return kobj_has_status(r) || strcmp(r->resource, "networkpolicies") == 0 ||
           strcmp(r->resource, "customresourcedefinitions") == 0;
}

static void init_status(const kres_resource *r, json_t *obj)
{
    if (!kobj_has_status(r))
        return;
    if (!r->group[0] && strcmp(r->resource, "pods") == 0) {
        json_object_set_new(obj, "status", json_pack("{s:s}", "phase", "Pending"));
        return;
    }
    if (!r->group[0] && strcmp(r->resource, "namespaces") == 0)
        return; /* defaults.c sets phase Active */
    if ((!r->group[0] && strcmp(r->resource, "services") == 0) ||
        (!strcmp(r->group, "networking.k8s.io") && !strcmp(r->resource, "ingresses"))) {
        json_object_set_new(obj, "status", json_pack("{s:{}}", "loadBalancer"));
        return;
    }
    json_object_set_new(obj, "status", json_object());
}

static int store_create(kobj_api *api, const kobj_req *req, json_t *obj, kobj_status *st)
{
    const char *name = kobj_meta_str(obj, "name");
    _cleanup_free_ char *key = kobj_key(req->res, kobj_meta_str(obj, "namespace"), name);
    _cleanup_free_ char *val = kobj_dump_for_store(req->res, obj);
    int64_t rev;
    dd_err e = {0};
    int r = kst_create(api->store, key, val, strlen(val), &rev, &e);
    if (r == -EEXIST) {
        char qn[300];
        kres_qualified_name(req->res, qn, sizeof(qn));
        r = kobj_fail(st, 409, "AlreadyExists", "%s \"%s\" already exists", qn, name);
        kobj_status_details(st, req->res, name);
        return r;
    }
    if (r < 0)
        return kobj_internal(st, &e);
    kobj_set_rv(obj, rev);
    return 0;
}

static int create_prepare(kobj_api *api, const kobj_req *req, json_t *obj, bool applied,
                          char ***warnings, kobj_status *st)
{
    int r = check_type(req->res, obj, st);
    if (r >= 0)
        r = fill_identity(req, obj, st);
    if (r < 0)
        return r;
    kobj_set_type(req->res, obj);
    json_t *meta = kobj_meta(obj);
    const char *rv = json_string_value(json_object_get(meta, "resourceVersion"));
    if (rv && *rv)
        return kobj_fail(st, 400, "BadRequest",
                         "resourceVersion should not be set on objects to be created");
    json_t *managed = applied ? json_incref(json_object_get(meta, "managedFields")) : NULL;
    strip_server_fields(meta);
    if (managed)
        json_object_set_new(meta, "managedFields", managed);
    r = kobj_prune(req->res, obj, req->validation, warnings, st);
    fold_string_data(req->res, obj);
    if (r >= 0)
        r = kobj_check_namespace(api, req->res, kobj_meta_str(obj, "namespace"),
                                 kobj_meta_str(obj, "name"), st);
    if (r < 0)
        return r;
    init_status(req->res, obj);
    char uid[37], now[32];
    gen_uid(uid);
    kobj_now(now);
    jx_set_str(meta, "uid", uid);
    jx_set_str(meta, "creationTimestamp", now);
    r = kobj_apply_defaults(api, req->res, obj, NULL, st);
    if (r >= 0)
        r = kobj_validate(req->res, obj, NULL, st);
    if (r < 0)
        return r;
    if (kobj_tracks_generation(req->res))
        jx_set_int(meta, "generation", 1);
    if (!applied)
        kobj_record_manager(req->res, obj, NULL, req->field_manager, "Update", NULL);
    return 0;
}

int kobj_create(kobj_api *api, const kobj_req *req, const json_t *body, kobj_result *ret,
                kobj_status *st)
{
    return kobj_create_ex(api, req, body, false, ret, st);
}

int kobj_create_ex(kobj_api *api, const kobj_req *req, const json_t *body, bool applied,
                   kobj_result *ret, kobj_status *st)
{
    memset(ret, 0, sizeof(*ret));
    if (!(req->res->verbs & KRES_CREATE) || (req->res->flags & KRES_VIRTUAL))
        return kobj_fail(st, 405, "MethodNotAllowed",
                         "the server does not allow this method on the requested resource");
    if (!json_is_object(body))
        return kobj_fail(st, 400, "BadRequest", "the body of the request must be a JSON object");
    if (req->subresource)
        return kobj_create_subresource(api, req, body, ret, st);
    json_t *obj = json_deep_copy(body);
    char **warnings = NULL;
    int r = create_prepare(api, req, obj, applied, &warnings, st);
    if (r >= 0 && !req->dry_run) {
        r = store_create(api, req, obj, st);
        if (r >= 0)
            kobj_after_create(api, req->res, obj);
    }
    if (r < 0) {
        json_decref(obj);
        dd_strv_free(warnings);
        return r;
    }
    ret->object = obj;
    ret->warnings = warnings;
    ret->code = 201;
    return 0;
}

/* ---- update ---- */

static int conflict(kobj_status *st, const kres_resource *r, const char *name)
{
    char qn[300];
    kres_qualified_name(r, qn, sizeof(qn));
    int ret = kobj_fail(st, 409, "Conflict",
                        "Operation cannot be fulfilled on %s \"%s\": the object has been "
                        "modified; please apply your changes to the latest version and try again",
                        qn, name);
    kobj_status_details(st, r, name);
    return ret;
}

/* Carries over what the client cannot change, and splits spec/status by subresource. */
static json_t *merge_for_subresource(const kobj_req *req, json_t *new_obj, const json_t *old,
                                     bool applied)
{
    if (dd_streq(req->subresource, KOBJ_INTERNAL_WRITE))
        return new_obj;
    json_t *nm = kobj_meta(new_obj);
    json_t *om = json_object_get(old, "metadata");
    static const char *const keep[] = {"uid",
                                       "creationTimestamp",
                                       "deletionTimestamp",
                                       "deletionGracePeriodSeconds",
                                       "generation",
                                       "namespace",
                                       "name",
                                       "managedFields"};
    for (size_t i = 0; i < DD_ARRAY_SIZE(keep); i++) {
        if (applied && strcmp(keep[i], "managedFields") == 0)
            continue; /* server-side apply computed them */
        json_t *v = json_object_get(om, keep[i]);
        if (v)
            json_object_set(nm, keep[i], v);
        else
            json_object_del(nm, keep[i]);
    }
    if (dd_streq(req->subresource, "status")) {
        json_t *res = json_deep_copy(old);
        json_t *status = json_object_get(new_obj, "status");
        if (status)
            json_object_set(res, "status", status);
        else
            json_object_del(res, "status");
        json_decref(new_obj);
        return res;
    }
    if (dd_streq(req->subresource, "approval")) {
        /* CSR approval: only status.conditions change (upstream's approval strategy) */
        json_t *res = json_deep_copy(old);
        json_t *conds = json_object_get(json_object_get(new_obj, "status"), "conditions");
        json_t *status = json_object_get(res, "status");
        if (!json_is_object(status)) {
            status = json_object();
            json_object_set_new(res, "status", status);
        }
        if (conds)
            json_object_set(status, "conditions", conds);
        else
            json_object_del(status, "conditions");
        json_decref(new_obj);
        return res;
    }
    if (dd_streq(req->subresource, "ephemeralcontainers")) {
        /* only spec.ephemeralContainers changes through this subresource */
        json_t *res = json_deep_copy(old);
        json_t *eph = json_object_get(json_object_get(new_obj, "spec"), "ephemeralContainers");
        json_t *spec = json_object_get(res, "spec");
        if (eph && spec)
            json_object_set(spec, "ephemeralContainers", eph);
        else if (spec)
            json_object_del(spec, "ephemeralContainers");
        json_decref(new_obj);
        return res;
    }
    if (!req->subresource && json_object_get(old, "spec") && json_object_get(new_obj, "spec") &&
        !strcmp(req->res->resource, "pods") && !*req->res->group) {
        /* and a pod update cannot change them */
        json_t *eph = json_object_get(json_object_get(old, "spec"), "ephemeralContainers");
        json_t *spec = json_object_get(new_obj, "spec");
        if (eph)
            json_object_set(spec, "ephemeralContainers", eph);
        else
            json_object_del(spec, "ephemeralContainers");
    }
    if (kobj_has_status(req->res)) {
        json_t *status = json_object_get(old, "status");
        if (status)
            json_object_set(new_obj, "status", status);
        else
            json_object_del(new_obj, "status");
    }
    return new_obj;
}

static bool same_ignoring_managed(const json_t *a, const json_t *b)
{
    json_t *ca = json_deep_copy(a), *cb = json_deep_copy(b);
    json_t *ma = kobj_meta(ca), *mb = kobj_meta(cb);
    json_object_del(ma, "managedFields");
    json_object_del(mb, "managedFields");
    json_object_del(ma, "resourceVersion");
    json_object_del(mb, "resourceVersion");
    bool eq = json_equal(ca, cb);
    json_decref(ca);
    json_decref(cb);
    return eq;
}

static void bump_generation(const kres_resource *r, json_t *obj, const json_t *old)
{
    if (!kobj_tracks_generation(r))
        return;
    json_int_t gen =
        json_integer_value(json_object_get(json_object_get(old, "metadata"), "generation"));
    if (gen < 1)
        gen = 1;
    bool spec_changed = !json_equal(json_object_get(obj, "spec"), json_object_get(old, "spec"));
    /* kinds without spec (ConfigMap-like custom data) bump on any non-metadata change */
    if (!json_object_get(obj, "spec") && !json_object_get(old, "spec"))
        spec_changed = false;
    jx_set_int(kobj_meta(obj), "generation", spec_changed ? gen + 1 : gen);
}

static int store_update(kobj_api *api, const kres_resource *r, json_t *obj, int64_t old_rev,
                        kobj_status *st)
{
    const char *name = kobj_meta_str(obj, "name");
    _cleanup_free_ char *key = kobj_key(r, kobj_meta_str(obj, "namespace"), name);
    _cleanup_free_ char *val = kobj_dump_for_store(r, obj);
    int64_t rev;
    dd_err e = {0};
    int ret = kst_update(api->store, key, old_rev, val, strlen(val), &rev, &e);
    if (ret == -ESTALE)
        return conflict(st, r, name);
    if (ret == -ENOENT)
        return kobj_not_found(st, r, name);
    if (ret < 0)
        return kobj_internal(st, &e);
    kobj_set_rv(obj, rev);
    return 0;
}

static int check_rv_precondition(const kobj_req *req, const json_t *new_obj, int64_t old_rev,
                                 kobj_status *st)
{
    const char *rv = kobj_meta_str(new_obj, "resourceVersion");
    if (!rv || !*rv)
        return 0;
    int64_t want;
    if (dd_parse_int64(rv, &want) < 0)
        return kobj_fail(st, 400, "BadRequest", "invalid resource version \"%s\"", rv);
    if (want != old_rev)
        return conflict(st, req->res, req->name ? req->name : kobj_meta_str(new_obj, "name"));
    return 0;
}

int kobj_write_update(kobj_api *api, const kobj_req *req, json_t *new_obj, const json_t *old,
                      int64_t old_rev, bool applied, kobj_result *ret, kobj_status *st)
{
    int r = check_rv_precondition(req, new_obj, old_rev, st);
    char **warnings = NULL;
    if (r >= 0)
        r = check_type(req->res, new_obj, st);
    const char *name = kobj_meta_str(new_obj, "name");
    if (r >= 0 && name && req->name && strcmp(name, req->name) != 0)
        r = kobj_fail(st, 400, "BadRequest",
                      "the name of the object (%s) does not match the "
                      "name on the URL (%s)",
                      name, req->name);
    if (r < 0) {
        json_decref(new_obj);
        return r;
    }
    new_obj = merge_for_subresource(req, new_obj, old, applied);
    kobj_set_type(req->res, new_obj);
    r = kobj_prune(req->res, new_obj, req->validation, &warnings, st);
    fold_string_data(req->res, new_obj);
    if (r >= 0)
        r = kobj_apply_defaults(api, req->res, new_obj, old, st);
    if (r >= 0)
        r = kobj_validate(req->res, new_obj, old, st);
    if (r < 0) {
        json_decref(new_obj);
        dd_strv_free(warnings);
        return r;
    }
    bump_generation(req->res, new_obj, old);
    /* an apply that changes only managedFields (a new co-owner of the same values) is written */
    if (same_ignoring_managed(new_obj, old) &&
        (!applied ||
         json_equal(json_object_get(kobj_meta(new_obj), "managedFields"),
                    json_object_get(json_object_get(old, "metadata"), "managedFields")))) {
        json_decref(new_obj);
        ret->object = json_deep_copy(old);
        ret->warnings = warnings;
        ret->code = 200;
        return 0;
    }
    if (!applied)
        kobj_record_manager(req->res, new_obj, old, req->field_manager, "Update",
                            req->managed_as ? req->managed_as : req->subresource);
    if (!req->dry_run)
        r = store_update(api, req->res, new_obj, old_rev, st);
    if (r >= 0 && !req->dry_run)
        r = kobj_after_update(api, req->res, new_obj, st);
    if (r < 0) {
        json_decref(new_obj);
        dd_strv_free(warnings);
        return r;
    }
    ret->object = new_obj;
    ret->warnings = warnings;
    ret->code = 200;
    return 0;
}

int kobj_update(kobj_api *api, const kobj_req *req, const json_t *body, kobj_result *ret,
                kobj_status *st)
{
    memset(ret, 0, sizeof(*ret));
    if (!json_is_object(body))
        return kobj_fail(st, 400, "BadRequest", "the body of the request must be a JSON object");
    if (!(req->res->verbs & KRES_UPDATE) && !req->subresource)
        return kobj_fail(st, 405, "MethodNotAllowed",
                         "the server does not allow this method on the requested resource");
    json_t *old;
    int64_t old_rev;
    int r = kobj_get_raw(api, req->res, req->ns, req->name, &old, &old_rev, st);
    if (r < 0)
        return r;
    json_t *new_obj;
    if (dd_streq(req->subresource, "scale")) {
        r = kobj_scale_apply(req->res, old, body, &new_obj, st);
        kobj_req sub = *req;
        sub.subresource = NULL;
        sub.managed_as = "scale";
        if (r >= 0)
            r = kobj_write_update(api, &sub, new_obj, old, old_rev, false, ret, st);
        if (r >= 0) {
            json_t *scale = kobj_scale_of(req->res, ret->object);
            json_decref(ret->object);
            ret->object = scale;
        }
    } else {
        new_obj = json_deep_copy(body);
        r = kobj_write_update(api, req, new_obj, old, old_rev, false, ret, st);
    }
    json_decref(old);
    return r;
}
