/* openapi.c: /openapi/v2 and /openapi/v3 as kube-openapi serves them. Built-in documents are the
 * embedded upstream 1.33 ones (k3core/data); /openapi/v2 answers protobuf (gnostic bytes) when the
 * Accept header names protobuf, else JSON. /openapi/v3 lists one document per served group/version
 * with `?hash=` (upper-case hex SHA-512); a matching hash gets immutable caching, a stale one a 301
 * to the current URL. Group/versions defined by CRDs get a generated document with each version's
 * schema and PATCH operations that advertise `fieldValidation`, so kubectl leaves validation to us.
 */
#include <openssl/sha.h>
#include <stdio.h>

#include "k3core/data/kdata.h"
#include "k3core/server/server-internal.h"

#define PB_TYPE "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"

static char *sha512_hex(const char *data, size_t len)
{
    unsigned char md[SHA512_DIGEST_LENGTH];
    SHA512((const unsigned char *)data, len, md);
    char *out = dd_malloc(2 * sizeof(md) + 1);
    for (size_t i = 0; i < sizeof(md); i++)
        sprintf(out + 2 * i, "%02X", md[i]);
    return out;
}

static void serve_v2(http_req *req)
{
    const char *accept = http_req_header(req, "Accept");
    bool pb = accept && strstr(accept, "protobuf");
    const struct kdata_doc *d = kdata_find(pb ? "v2.pb" : "v2.json");
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    dd_err e = {0};
    if (!d || kdata_load(d, &data, &len, &e) < 0) {
        ksrv_fail(req, 500, "InternalError", "%s", e.msg);
        return;
    }
    _cleanup_free_ char *etag = dd_asprintf("\"%s\"", d->hash);
    http_add_header(req, "Etag", etag);
    http_add_header(req, "Vary", "Accept");
    http_reply(req, 200, pb ? PB_TYPE : "application/json", data, len);
}

/* ---- CRD documents ---- */

static json_t *list_crds(struct ksrv *s)
{
    const kres_resource *r = kres_lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions");
    kobj_req kr = {.res = r};
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

static json_t *patch_op(const char *group, const char *version, const char *kind)
{
    return json_pack("{s:{s:s, s:s, s:s}, s:[{s:s, s:s, s:{s:s}}], s:{s:{s:s}}}",
                     "x-kubernetes-group-version-kind", "group", group, "version", version, "kind",
                     kind, "parameters", "name", "fieldValidation", "in", "query", "schema", "type",
                     "string", "responses", "200", "description", "OK");
}

static void add_crd_version(json_t *doc, const json_t *crd, const json_t *ver)
{
    const json_t *spec = json_object_get(crd, "spec");
    const char *group = json_string_value(json_object_get(spec, "group"));
    const char *kind = json_string_value(json_object_get(json_object_get(spec, "names"), "kind"));
    const char *plural =
        json_string_value(json_object_get(json_object_get(spec, "names"), "plural"));
    const char *version = json_string_value(json_object_get(ver, "name"));
    bool ns = dd_streq(json_string_value(json_object_get(spec, "scope")), "Namespaced");
    if (!group || !kind || !plural || !version)
        return;
    json_t *schema =
        json_deep_copy(json_object_get(json_object_get(ver, "schema"), "openAPIV3Schema"));
    if (!json_is_object(schema))
        json_decref(schema), schema = json_pack("{s:s}", "type", "object");
    json_object_set_new(
        schema, "x-kubernetes-group-version-kind",
        json_pack("[{s:s, s:s, s:s}]", "group", group, "version", version, "kind", kind));
    _cleanup_free_ char *def = dd_asprintf("%s.%s.%s", group, version, kind);
    json_object_set_new(json_object_get(json_object_get(doc, "components"), "schemas"), def,
                        schema);
    _cleanup_free_ char *path =
        ns ? dd_asprintf("/apis/%s/%s/namespaces/{namespace}/%s/{name}", group, version, plural)
           : dd_asprintf("/apis/%s/%s/%s/{name}", group, version, plural);
    json_object_set_new(json_object_get(doc, "paths"), path,
                        json_pack("{s:o}", "patch", patch_op(group, version, kind)));
}

/* The generated document of a CRD group/version ("apis/example.com/v1"), or NULL. */
static json_t *crd_doc(struct ksrv *s, const char *gvpath)
{
    json_t *crds = list_crds(s), *doc = NULL;
    size_t i, k;
    json_t *crd, *ver;
    json_array_foreach(crds, i, crd)
    {
        const json_t *spec = json_object_get(crd, "spec");
        const char *group = json_string_value(json_object_get(spec, "group"));
        json_array_foreach(json_object_get(spec, "versions"), k, ver)
        {
            const char *v = json_string_value(json_object_get(ver, "name"));
            _cleanup_free_ char *p = dd_asprintf("apis/%s/%s", group ? group : "", v ? v : "");
            if (strcmp(p, gvpath) || json_is_false(json_object_get(ver, "served")))
                continue;
            if (!doc)
                doc = json_pack("{s:s, s:{s:s, s:s}, s:{}, s:{s:{}}}", "openapi", "3.0.0", "info",
                                "title", "Kubernetes CRD Swagger", "version", "v0.1.0", "paths",
                                "components", "schemas");
            add_crd_version(doc, crd, ver);
        }
    }
    json_decref(crds);
    return doc;
}

/* ---- v3 ---- */

static bool served_gv(const char *group, const char *version)
{
    const char *const *vs = kres_group_versions(group);
    for (size_t i = 0; vs && vs[i]; i++)
        if (!strcmp(vs[i], version))
            return true;
    return false;
}

/* Loads the document for path ("api/v1", "apis/g/v"): embedded or generated. */
static int load_v3(struct ksrv *s, const char *path, char **ret, size_t *ret_len, char **ret_hash)
{
    const struct kdata_doc *d = kdata_find(path);
    if (d && dd_startswith(path, "api")) {
        dd_err e = {0};
        if (kdata_load(d, ret, ret_len, &e) < 0)
            return -EIO;
        *ret_hash = dd_strdup(d->hash);
        return 0;
    }
    json_t *doc = dd_startswith(path, "apis/") ? crd_doc(s, path) : NULL;
    if (!doc)
        return -ENOENT;
    *ret = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    *ret_len = strlen(*ret);
    *ret_hash = sha512_hex(*ret, *ret_len);
    return 0;
}

static void serve_index(struct ksrv *s, http_req *req)
{
    json_t *paths = json_object();
    const char *const *groups = kres_groups();
    for (size_t g = 0; groups && groups[g]; g++) {
        const char *const *vs = kres_group_versions(groups[g]);
        for (size_t v = 0; vs && vs[v]; v++) {
            _cleanup_free_ char *p = groups[g][0] ? dd_asprintf("apis/%s/%s", groups[g], vs[v])
                                                  : dd_asprintf("api/%s", vs[v]);
            const struct kdata_doc *d = kdata_find(p);
            _cleanup_free_ char *data = NULL, *hash = NULL;
            size_t len;
            if (!d && load_v3(s, p, &data, &len, &hash) < 0)
                continue;
            _cleanup_free_ char *url = dd_asprintf("/openapi/v3/%s?hash=%s", p, d ? d->hash : hash);
            json_object_set_new(paths, p, json_pack("{s:s}", "serverRelativeURL", url));
        }
    }
    json_t *doc = json_pack("{s:o}", "paths", paths);
    ksrv_reply_json(req, 200, doc, NULL);
    json_decref(doc);
}

static void serve_v3_doc(struct ksrv *s, http_req *req, const char *path)
{
    _cleanup_free_ char *data = NULL, *hash = NULL;
    size_t len = 0;
    _cleanup_free_ char *gv = dd_strdup(path);
    char *slash = strrchr(gv, '/');
    bool core = dd_startswith(path, "api/");
    if (slash)
        *slash = '\0';
    const char *group = core ? "" : gv + 5;
    if (!slash || (!core && !dd_startswith(path, "apis/")) || !served_gv(group, slash + 1) ||
        load_v3(s, path, &data, &len, &hash) < 0) {
        ksrv_fail(req, 404, "NotFound", "the server could not find the requested resource");
        return;
    }
    const char *want = http_req_query(req, "hash");
    if (want && strcmp(want, hash)) {
        _cleanup_free_ char *loc = dd_asprintf("/openapi/v3/%s?hash=%s", path, hash);
        http_add_header(req, "Location", loc);
        http_reply(req, 301, NULL, NULL, 0);
        return;
    }
    _cleanup_free_ char *etag = dd_asprintf("\"%s\"", hash);
    http_add_header(req, "Etag", etag);
    if (want) {
        char date[40];
        http_add_header(req, "Cache-Control", "public, immutable");
        time_t t = time(NULL) + 365L * 86400;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        http_add_header(req, "Expires", date);
    }
    http_reply(req, 200, "application/json", data, len);
}

void ksrv_handle_openapi(http_req *req)
{
    struct ksrv *s = ksrv_of(req);
    const char *path = http_req_path(req);
    if (!strcmp(path, "/openapi/v2"))
        serve_v2(req);
    else if (!strcmp(path, "/openapi/v3") || !strcmp(path, "/openapi/v3/"))
        serve_index(s, req);
    else
        serve_v3_doc(s, req, http_req_param(req, "path"));
}
