/* objects: setup of the object layer (service CIDR, CRDs found in the store, bootstrap
 * objects), the helpers every kobj_ file shares (keys, metadata, store-error mapping) and the
 * read verbs get and list with selectors and limit/continue paging. Writes are in
 * objects-write.c, watches in watch.c.
 */
#include <arpa/inet.h>
#include <stdio.h>

#include "k3core/api/objects-internal.h"

/* ---- helpers ---- */

json_t *kobj_meta(json_t *obj)
{
    json_t *m = json_object_get(obj, "metadata");
    if (!json_is_object(m)) {
        m = json_object();
        json_object_set_new(obj, "metadata", m);
    }
    return m;
}

json_t *kobj_without_managed_fields(json_t *obj)
{
    json_t *meta = json_object_get(obj, "metadata");
    if (!json_object_get(meta, "managedFields"))
        return json_incref(obj);
    json_t *slim = json_copy(obj), *m = json_copy(meta);
    json_object_del(m, "managedFields");
    json_object_set_new(slim, "metadata", m);
    return slim;
}

const char *kobj_meta_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

json_t *kobj_parse_value(const char *value, size_t len)
{
    return json_loadb(value, len, 0, NULL);
}

void kobj_set_rv(json_t *obj, int64_t rev)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", (long long)rev);
    jx_set_str(kobj_meta(obj), "resourceVersion", buf);
}

void kobj_set_type(const kres_resource *r, json_t *obj)
{
    char av[256];
    kres_api_version(r, av, sizeof(av));
    if (dd_streq(json_string_value(json_object_get(obj, "apiVersion")), av) &&
        dd_streq(json_string_value(json_object_get(obj, "kind")), r->kind))
        return; /* stored objects already start with both */
    /* apiVersion and kind first, as upstream serialises them */
    json_t *copy = json_copy(obj);
    json_object_clear(obj);
    jx_set_str(obj, "apiVersion", av);
    jx_set_str(obj, "kind", r->kind);
    json_object_update(obj, copy);
    jx_set_str(obj, "apiVersion", av);
    jx_set_str(obj, "kind", r->kind);
    json_decref(copy);
}

json_t *kobj_from_kv(const kres_resource *r, const kst_kv *kv)
{
    json_t *o = kobj_from_storage(r, kobj_parse_value(kv->value, kv->len));
    if (!o)
        return NULL;
    kobj_set_type(r, o);
    kobj_set_rv(o, kv->mod_rev);
    return o;
}

char *kobj_dump_for_store(const kres_resource *r, const json_t *in)
{
    json_t *obj = kobj_to_storage(r, in);
    json_t *meta = json_object_get(obj, "metadata");
    json_t *rv = json_incref(json_object_get(meta, "resourceVersion"));
    json_object_del(meta, "resourceVersion");
    char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (rv)
        json_object_set_new(meta, "resourceVersion", rv);
    json_decref(obj);
    return s;
}

char *kobj_key(const kres_resource *r, const char *ns, const char *name)
{
    r = kobj_storage_res(r);
    const char *g = r->group[0] ? r->group : "core";
    if (kres_namespaced(r))
        return dd_asprintf("/registry/%s/%s/%s/%s", g, r->resource, ns ? ns : "", name);
    return dd_asprintf("/registry/%s/%s/%s", g, r->resource, name);
}

char *kobj_prefix(const kres_resource *r, const char *ns)
{
    r = kobj_storage_res(r);
    const char *g = r->group[0] ? r->group : "core";
    if (kres_namespaced(r) && ns && *ns)
        return dd_asprintf("/registry/%s/%s/%s/", g, r->resource, ns);
    return dd_asprintf("/registry/%s/%s/", g, r->resource);
}

void kobj_status_details(kobj_status *st, const kres_resource *r, const char *name)
{
    snprintf(st->name, sizeof(st->name), "%s", name ? name : "");
    snprintf(st->group, sizeof(st->group), "%s", r->group);
    snprintf(st->kind, sizeof(st->kind), "%s", r->resource);
}

int kobj_not_found(kobj_status *st, const kres_resource *r, const char *name)
{
    char qn[300];
    kres_qualified_name(r, qn, sizeof(qn));
    int ret = kobj_fail(st, 404, "NotFound", "%s \"%s\" not found", qn, name);
    kobj_status_details(st, r, name);
    return ret;
}

int kobj_internal(kobj_status *st, const dd_err *e)
{
    return kobj_fail(st, 500, "InternalError", "Internal error occurred: %s",
                     e && e->msg[0] ? e->msg : "unknown");
}

int kobj_store_fail(kobj_status *st, const dd_err *e, int r)
{
    if (r == -ERANGE)
        return kobj_fail(st, 410, "Expired", "%s", e->msg);
    return kobj_internal(st, e);
}

const kres_resource *kobj_res_of(const char *api_version, const char *kind)
{
    if (!api_version || !kind)
        return NULL;
    const char *slash = strchr(api_version, '/');
    _cleanup_free_ char *group =
        slash ? dd_strndup(api_version, (size_t)(slash - api_version)) : dd_strdup("");
    return kres_lookup_kind(group, slash ? slash + 1 : api_version, kind);
}

int kobj_get_raw(kobj_api *api, const kres_resource *r, const char *ns, const char *name,
                 json_t **ret_obj, int64_t *ret_rev, kobj_status *st)
{
    _cleanup_free_ char *key = kobj_key(r, ns, name);
    kst_kv kv;
    dd_err e = {0};
    int ret = kst_get(api->store, key, 0, &kv, &e);
    if (ret == -ENOENT)
        return kobj_not_found(st, r, name);
    if (ret < 0)
        return kobj_store_fail(st, &e, ret);
    *ret_obj = kobj_from_kv(r, &kv);
    if (ret_rev)
        *ret_rev = kv.mod_rev;
    kst_kv_release(&kv);
    if (!*ret_obj)
        return kobj_fail(st, 500, "InternalError", "stored object %s is not valid JSON", key);
    return 0;
}

/* ---- setup ---- */

static int parse_cidr(const char *cidr, uint32_t *base, uint32_t *mask, dd_err *e)
{
    char ip[64];
    int bits;
    struct in_addr a;
    if (sscanf(cidr, "%63[0-9.]/%d", ip, &bits) != 2 || bits < 8 || bits > 30 ||
        inet_pton(AF_INET, ip, &a) != 1)
        return dd_err_set(e, EINVAL, "service CIDR '%s': expected an IPv4 a.b.c.d/n (8..30)", cidr);
    *mask = bits == 0 ? 0 : 0xffffffffu << (32 - bits);
    *base = ntohl(a.s_addr) & *mask;
    return 0;
}

static int load_crds(kobj_api *api, dd_err *e)
{
    kst_list l;
    int r = kst_list_prefix(api->store, "/registry/apiextensions.k8s.io/customresourcedefinitions/",
                            NULL, 0, 0, &l, e);
    if (r < 0)
        return r;
    for (size_t i = 0; i < l.n; i++) {
        json_t *crd = kobj_parse_value(l.items[i].value, l.items[i].len);
        if (crd)
            kres_register_crd(crd, NULL);
        json_decref(crd);
    }
    kst_list_release(&l);
    return 0;
}

int kobj_open(kst_store *store, const kobj_config *cfg, kobj_api **ret, dd_err *e)
{
    kobj_api *api = dd_calloc(1, sizeof(*api));
    api->store = store;
    api->ca_pem = cfg && cfg->ca_pem ? dd_strdup(cfg->ca_pem) : NULL;
    const char *cidr = cfg && cfg->service_cidr ? cfg->service_cidr : "10.43.0.0/16";
    const char *ports = cfg && cfg->node_port_range ? cfg->node_port_range : "30000-32767";
    int r = parse_cidr(cidr, &api->svc_base, &api->svc_mask, e);
    const char *dns = cfg && cfg->cluster_dns ? cfg->cluster_dns : "10.43.0.10";
    struct in_addr da;
    if (r >= 0 && inet_pton(AF_INET, dns, &da) != 1)
        r = dd_err_set(e, EINVAL, "cluster DNS address '%s': not an IPv4 address", dns);
    api->dns_ip = ntohl(da.s_addr);
    if (r >= 0 && (sscanf(ports, "%d-%d", &api->node_port_lo, &api->node_port_hi) != 2 ||
                   api->node_port_lo < 1 || api->node_port_hi > 65535 ||
                   api->node_port_lo > api->node_port_hi))
        r = dd_err_set(e, EINVAL, "node port range '%s': expected lo-hi", ports);
    if (r >= 0)
        r = load_crds(api, e);
    if (r >= 0)
        r = kobj_bootstrap(api, e);
    if (r >= 0)
        r = kst_watch_prefix(store, "/registry/", 0, kobj_note_change, api, &api->change_watch, e);
    api->dirty = true; /* the first pass looks at whatever a previous run left */
    if (r < 0) {
        kobj_close(api);
        return r;
    }
    *ret = api;
    return 0;
}

void kobj_close(kobj_api *api)
{
    if (!api)
        return;
    kst_watch_cancel(api->change_watch);
    free(api->ca_pem);
    free(api);
}

kst_store *kobj_store(kobj_api *api)
{
    return api->store;
}

int64_t kobj_current_rv(kobj_api *api)
{
    return kst_current_rev(api->store);
}

int kobj_parse_validation(const char *s, enum kobj_validation *ret, kobj_status *st)
{
    if (!s || !*s || strcmp(s, "Warn") == 0)
        *ret = KOBJ_VALIDATE_WARN;
    else if (strcmp(s, "Strict") == 0)
        *ret = KOBJ_VALIDATE_STRICT;
    else if (strcmp(s, "Ignore") == 0)
        *ret = KOBJ_VALIDATE_IGNORE;
    else
        return kobj_fail(st, 400, "BadRequest",
                         "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\"; got "
                         "\"%s\"",
                         s);
    return 0;
}

/* ---- get ---- */

static int check_scope(const kobj_req *req, kobj_status *st)
{
    if (kres_namespaced(req->res) && req->name && (!req->ns || !*req->ns))
        return kobj_fail(st, 400, "BadRequest",
                         "an empty namespace may not be set when a "
                         "resource name is provided");
    return 0;
}

int kobj_get(kobj_api *api, const kobj_req *req, json_t **ret, kobj_status *st)
{
    int r = check_scope(req, st);
    if (r < 0)
        return r;
    json_t *obj;
    r = kobj_get_raw(api, req->res, req->ns, req->name, &obj, NULL, st);
    if (r < 0)
        return r;
    if (dd_streq(req->subresource, "scale")) {
        json_t *scale = kobj_scale_of(req->res, obj);
        json_decref(obj);
        if (!scale)
            return kobj_fail(st, 404, "NotFound",
                             "the server could not find the requested "
                             "resource");
        obj = scale;
    }
    *ret = obj;
    return 0;
}
