/* discovery.c: API discovery built from the kres_ resource table on every request (so CRDs show
 * up as soon as they are registered): aggregated discovery (apidiscovery.k8s.io v2 and v2beta1,
 * whichever the Accept header asks first, echoed in body and Content-Type) for /api and /apis, and
 * the legacy APIVersions, APIGroupList, APIGroup and APIResourceList documents.
 */
#include <stdio.h>

#include "k3core/server/server-internal.h"

static json_t *gvk(const char *group, const char *version, const char *kind)
{
    return json_pack("{s:s, s:s, s:s}", "group", group, "version", version, "kind", kind);
}

static json_t *strs(const char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; v && v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *agg_resource(const kres_resource *r)
{
    json_t *o =
        json_pack("{s:s, s:o, s:s, s:s}", "resource", r->resource, "responseKind",
                  gvk(r->group, r->version, r->kind), "scope",
                  kres_namespaced(r) ? "Namespaced" : "Cluster", "singularResource", r->singular);
    if (r->short_names && r->short_names[0])
        json_object_set_new(o, "shortNames", strs(r->short_names));
    if (r->categories && r->categories[0])
        json_object_set_new(o, "categories", strs(r->categories));
    json_object_set_new(o, "verbs", kres_verbs_json(r->verbs));
    if (r->n_subresources) {
        json_t *subs = json_array();
        for (size_t i = 0; i < r->n_subresources; i++) {
            const kres_subresource *sr = &r->subresources[i];
            json_array_append_new(subs,
                                  json_pack("{s:s, s:o, s:o}", "subresource", sr->name,
                                            "responseKind", gvk(sr->group, sr->version, sr->kind),
                                            "verbs", kres_verbs_json(sr->verbs)));
        }
        json_object_set_new(o, "subresources", subs);
    }
    return o;
}

static json_t *agg_group(const char *group)
{
    json_t *versions = json_array();
    const char *const *vs = kres_group_versions(group);
    for (size_t v = 0; vs && vs[v]; v++) {
        json_t *res = json_array();
        for (size_t i = 0; i < kres_count(); i++) {
            const kres_resource *r = kres_at(i);
            if (!strcmp(r->group, group) && !strcmp(r->version, vs[v]))
                json_array_append_new(res, agg_resource(r));
        }
        json_array_append_new(versions, json_pack("{s:s, s:o, s:s}", "version", vs[v], "resources",
                                                  res, "freshness", "Current"));
    }
    return json_pack("{s:{s:s}, s:o}", "metadata", "name", group, "versions", versions);
}

/* "v2" / "v2beta1" when Accept asks for APIGroupDiscoveryList, else NULL. */
static const char *wants_aggregated(http_req *req)
{
    const char *accept = http_req_header(req, "Accept");
    if (!accept)
        return NULL;
    _cleanup_free_ char *copy = dd_strdup(accept);
    char *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!strstr(t, "as=APIGroupDiscoveryList") || !strstr(t, "g=apidiscovery.k8s.io"))
            continue;
        if (strstr(t, "v=v2beta1"))
            return "v2beta1";
        if (strstr(t, "v=v2"))
            return "v2";
    }
    return NULL;
}

static void reply_aggregated(http_req *req, const char *v, bool core)
{
    json_t *items = json_array();
    const char *const *groups = kres_groups();
    for (size_t i = 0; groups && groups[i]; i++)
        if (core == !groups[i][0])
            json_array_append_new(items, agg_group(groups[i]));
    _cleanup_free_ char *api = dd_asprintf("apidiscovery.k8s.io/%s", v);
    json_t *doc = json_pack("{s:s, s:s, s:{}, s:o}", "kind", "APIGroupDiscoveryList", "apiVersion",
                            api, "metadata", "items", items);
    _cleanup_free_ char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    char ct[128];
    snprintf(ct, sizeof(ct), "application/json;g=apidiscovery.k8s.io;v=%s;as=APIGroupDiscoveryList",
             v);
    http_add_header(req, "Vary", "Accept");
    http_reply(req, 200, ct, text, strlen(text));
}

static json_t *gv_json(const char *group, const char *version)
{
    _cleanup_free_ char *gv = *group ? dd_asprintf("%s/%s", group, version) : dd_strdup(version);
    return json_pack("{s:s, s:s}", "groupVersion", gv, "version", version);
}

static json_t *legacy_group(const char *group)
{
    json_t *versions = json_array();
    const char *const *vs = kres_group_versions(group);
    for (size_t v = 0; vs && vs[v]; v++)
        json_array_append_new(versions, gv_json(group, vs[v]));
    return json_pack("{s:s, s:o, s:o}", "name", group, "versions", versions, "preferredVersion",
                     gv_json(group, kres_preferred_version(group)));
}

static void reply_obj(http_req *req, json_t *doc)
{
    ksrv_reply_json(req, 200, doc, NULL);
    json_decref(doc);
}

static void legacy_root(struct ksrv *s, http_req *req, bool core)
{
    if (core) {
        _cleanup_free_ char *addr =
            dd_asprintf("%s:%d", s->cfg->advertise_addr ? s->cfg->advertise_addr : "127.0.0.1",
                        s->cfg->https_port);
        reply_obj(req, json_pack("{s:s, s:[s], s:[{s:s, s:s}]}", "kind", "APIVersions", "versions",
                                 "v1", "serverAddressByClientCIDRs", "clientCIDR", "0.0.0.0/0",
                                 "serverAddress", addr));
        return;
    }
    json_t *groups = json_array();
    const char *const *gs = kres_groups();
    for (size_t i = 0; gs && gs[i]; i++)
        if (gs[i][0])
            json_array_append_new(groups, legacy_group(gs[i]));
    reply_obj(req, json_pack("{s:s, s:s, s:o}", "kind", "APIGroupList", "apiVersion", "v1",
                             "groups", groups));
}

static json_t *legacy_resource(const kres_resource *r, const kres_subresource *sr)
{
    _cleanup_free_ char *name =
        sr ? dd_asprintf("%s/%s", r->resource, sr->name) : dd_strdup(r->resource);
    json_t *o =
        json_pack("{s:s, s:s, s:b, s:s, s:o}", "name", name, "singularName", sr ? "" : r->singular,
                  "namespaced", kres_namespaced(r), "kind", sr ? sr->kind : r->kind, "verbs",
                  kres_verbs_json(sr ? sr->verbs : r->verbs));
    if (sr && (strcmp(sr->group, r->group) || strcmp(sr->version, r->version))) {
        json_object_set_new(o, "group", json_string(sr->group));
        json_object_set_new(o, "version", json_string(sr->version));
    }
    if (!sr && r->short_names && r->short_names[0])
        json_object_set_new(o, "shortNames", strs(r->short_names));
    if (!sr && r->categories && r->categories[0])
        json_object_set_new(o, "categories", strs(r->categories));
    return o;
}

static void legacy_version(http_req *req, const char *group, const char *version)
{
    json_t *res = json_array();
    for (size_t i = 0; i < kres_count(); i++) {
        const kres_resource *r = kres_at(i);
        if (strcmp(r->group, group) || strcmp(r->version, version))
            continue;
        json_array_append_new(res, legacy_resource(r, NULL));
        for (size_t k = 0; k < r->n_subresources; k++)
            json_array_append_new(res, legacy_resource(r, &r->subresources[k]));
    }
    if (!json_array_size(res)) {
        json_decref(res);
        ksrv_fail(req, 404, "NotFound", "the server could not find the requested resource");
        return;
    }
    _cleanup_free_ char *gv = *group ? dd_asprintf("%s/%s", group, version) : dd_strdup(version);
    reply_obj(req, json_pack("{s:s, s:s, s:s, s:o}", "kind", "APIResourceList", "apiVersion", "v1",
                             "groupVersion", gv, "resources", res));
}

static void reply_group(http_req *req, const char *group)
{
    json_t *g = json_pack("{s:s, s:s}", "kind", "APIGroup", "apiVersion", "v1");
    json_t *lg = legacy_group(group);
    json_object_update(g, lg);
    json_decref(lg);
    reply_obj(req, g);
}

void ksrv_handle_discovery(http_req *req)
{
    struct ksrv *s = ksrv_of(req);
    const char *path = http_req_path(req);
    if (strcmp(http_req_method(req), "GET")) {
        ksrv_fail(req, 405, "MethodNotAllowed", "the server does not allow this method");
        return;
    }
    bool core = dd_startswith(path, "/api/") || !strcmp(path, "/api");
    struct kpath p;
    int kind = kpath_parse(path, &p);
    const char *agg = wants_aggregated(req);
    if (kind < 0 && agg)
        reply_aggregated(req, agg, core);
    else if (kind < 0)
        legacy_root(s, req, core);
    else if (kind == 1 && kres_group_versions(p.group) && kres_group_versions(p.group)[0])
        reply_group(req, p.group);
    else if (kind == 2)
        legacy_version(req, p.group, p.version);
    else
        ksrv_fail(req, 404, "NotFound", "the server could not find the requested resource");
    kpath_release(&p);
}
