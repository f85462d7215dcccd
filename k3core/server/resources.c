/* resources.c: the generic resource endpoint. It parses /api/... and /apis/... paths, looks the
 * resource up in the kres_ table (so CRDs appear as soon as they are registered), decides the
 * verb like upstream's RequestInfo (get, list, watch, create, update, patch, delete,
 * deletecollection), authorizes it, decodes the body and calls the matching kobj_ function.
 * Results go out as JSON or, when the client asks for it, as a meta.k8s.io Table.
 *
 * Object semantics (validation, defaults, patches, finalizers) are kobj_'s; review kinds the
 * server answers itself go to reviews.c, watches to watch.c.
 */
#include <stdio.h>

#include "k3core/server/server-internal.h"

struct call {
    struct ksrv *s;
    http_req *req;
    struct kuser *u;
    struct kpath p;
    const kres_resource *res;
    const char *verb;
    kobj_req kr;
    char agent_manager[132]; /* the field manager taken from the User-Agent */
};

static const char *decide_verb(http_req *req, const struct kpath *p)
{
    const char *m = http_req_method(req);
    if (!strcmp(m, "GET") || !strcmp(m, "HEAD")) {
        if (p->watch_prefix || ksrv_query_bool(req, "watch", false))
            return "watch";
        return p->name ? "get" : "list";
    }
    if (!strcmp(m, "POST"))
        return "create";
    if (!strcmp(m, "PUT"))
        return "update";
    if (!strcmp(m, "PATCH"))
        return "patch";
    if (!strcmp(m, "DELETE"))
        return p->name ? "delete" : "deletecollection";
    return NULL;
}

static bool verb_allowed(const struct call *c)
{
    static const struct {
        const char *name;
        unsigned bit;
    } map[] = {{"get", KRES_GET},       {"list", KRES_LIST},
               {"watch", KRES_WATCH},   {"create", KRES_CREATE},
               {"update", KRES_UPDATE}, {"patch", KRES_PATCH},
               {"delete", KRES_DELETE}, {"deletecollection", KRES_DELETECOLLECTION}};
    unsigned verbs = c->res->verbs;
    if (c->p.sub) {
        const kres_subresource *sr = kres_find_subresource(c->res, c->p.sub);
        verbs = sr ? sr->verbs : 0;
    }
    for (size_t i = 0; i < DD_ARRAY_SIZE(map); i++)
        if (!strcmp(map[i].name, c->verb))
            return verbs & map[i].bit;
    return false;
}

static int reply_result(struct call *c, kobj_result *res)
{
    int code = res->code ? res->code : 200;
    int r = ksrv_reply_json(c->req, code, res->object, res->warnings);
    kobj_result_release(res);
    return r;
}

static int reply_read(struct call *c, json_t *obj, bool list)
{
    const char *tv = ksrv_wants_table(c->req);
    if (tv && !c->p.sub) {
        json_t *t = ksrv_table(c->res, obj, tv, http_req_query(c->req, "includeObject"), list);
        json_decref(obj);
        obj = t;
    }
    int r = ksrv_reply_json(c->req, 200, obj, NULL);
    json_decref(obj);
    return r;
}

static void list_opts(http_req *req, kobj_list_opts *o)
{
    int64_t limit = 0;
    const char *l = http_req_query(req, "limit");
    if (l && dd_parse_int64(l, &limit) < 0)
        limit = 0;
    *o = (kobj_list_opts){.label_selector = http_req_query(req, "labelSelector"),
                          .field_selector = http_req_query(req, "fieldSelector"),
                          .limit = limit < 0 ? 0 : limit,
                          .continue_token = http_req_query(req, "continue"),
                          .resource_version = http_req_query(req, "resourceVersion")};
}

/* CertificateSigningRequests record who asked (upstream's PrepareForCreate): spec.username, uid
 * and groups come from the authenticated user, whatever the body says. */
static void csr_requestor(struct call *c, json_t *body)
{
    const struct kuser *u = ksrv_user(c->req);
    json_t *spec = json_object_get(body, "spec");
    if (!u || !json_is_object(spec))
        return;
    json_object_set_new(spec, "username", json_string(u->name ? u->name : ""));
    if (u->uid && *u->uid)
        json_object_set_new(spec, "uid", json_string(u->uid));
    else
        json_object_del(spec, "uid");
    json_t *groups = json_array();
    for (char **g = u->groups; g && *g; g++)
        json_array_append_new(groups, json_string(*g));
    json_object_set_new(spec, "groups", groups);
    json_object_del(spec, "extra");
}

static int run_write(struct call *c, json_t *body, kobj_status *st)
{
    kobj_result res = {0};
    int r;
    if (!strcmp(c->verb, "create") || !strcmp(c->verb, "update")) {
        if (!body || !json_is_object(body))
            return kobj_fail(st, 400, "BadRequest", "the request body must be a JSON object");
        if (!strcmp(c->verb, "create") && !c->p.sub &&
            !strcmp(c->res->group, "certificates.k8s.io") &&
            !strcmp(c->res->resource, "certificatesigningrequests"))
            csr_requestor(c, body);
        r = !strcmp(c->verb, "create") ? kobj_create(c->s->api, &c->kr, body, &res, st)
                                       : kobj_update(c->s->api, &c->kr, body, &res, st);
    } else if (!strcmp(c->verb, "patch")) {
        enum kobj_patch_type pt;
        if (kobj_patch_type_parse(http_req_header(c->req, "Content-Type"), &pt, st) < 0)
            return -EINVAL;
        if (!body)
            return kobj_fail(st, 400, "BadRequest", "the patch body is empty");
        r = kobj_patch(c->s->api, &c->kr, pt, body, &res, st);
    } else if (!strcmp(c->verb, "delete")) {
        r = kobj_delete(c->s->api, &c->kr, body, &res, st);
    } else {
        kobj_list_opts o;
        list_opts(c->req, &o);
        r = kobj_delete_collection(c->s->api, &c->kr, &o, body, &res, st);
    }
    if (r < 0)
        return r;
    if (!strcmp(c->verb, "create") && !c->kr.dry_run && !c->res->group[0] &&
        !strcmp(c->res->resource, "secrets") && !c->p.sub) {
        json_t *filled = ksrv_fill_token_secret(c->s, res.object);
        if (filled) {
            json_decref(res.object);
            res.object = filled;
        }
    }
    reply_result(c, &res);
    return 0;
}

/* componentstatuses: a read-only view computed on each read, as upstream's apiserver probes the
 * scheduler, the controller manager and etcd. Here all three live in this process and the
 * store is its sqlite database, so they are healthy whenever this request is being answered. */
static json_t *component_status(const char *name)
{
    const char *msg = strcmp(name, "etcd-0") ? "ok" : "{\"health\":\"true\",\"reason\":\"\"}";
    return json_pack("{s:s,s:s,s:{s:s,s:n},s:[{s:s,s:s,s:s}]}", "kind", "ComponentStatus",
                     "apiVersion", "v1", "metadata", "name", name, "creationTimestamp",
                     "conditions", "type", "Healthy", "status", "True", "message", msg);
}

static int read_component_statuses(struct call *c, kobj_status *st)
{
    static const char *const names[] = {"scheduler", "controller-manager", "etcd-0"};
    char deprecated[] = "v1 ComponentStatus is deprecated in v1.19+";
    char *warn[] = {deprecated, NULL};
    ksrv_add_warnings(c->req, warn);
    if (!strcmp(c->verb, "watch"))
        return kobj_fail(st, 405, "MethodNotAllowed",
                         "the server does not allow this method on the requested resource");
    if (c->p.name) {
        for (size_t i = 0; i < DD_ARRAY_SIZE(names); i++)
            if (!strcmp(c->p.name, names[i]))
                return reply_read(c, component_status(names[i]), false);
        return kobj_fail(st, 404, "NotFound", "componentstatuses \"%s\" not found", c->p.name);
    }
    json_t *items = json_array();
    for (size_t i = 0; i < DD_ARRAY_SIZE(names); i++)
        json_array_append_new(items, component_status(names[i]));
    return reply_read(c,
                      json_pack("{s:s,s:s,s:{},s:o}", "kind", "ComponentStatusList", "apiVersion",
                                "v1", "metadata", "items", items),
                      true);
}

static int run_read(struct call *c, kobj_status *st)
{
    json_t *obj = NULL;
    if (!c->res->group[0] && !strcmp(c->res->resource, "componentstatuses"))
        return read_component_statuses(c, st);
    if (!strcmp(c->verb, "get")) {
        if (kobj_get(c->s->api, &c->kr, &obj, st) < 0)
            return -1;
        reply_read(c, obj, false);
        return 0;
    }
    if (!strcmp(c->verb, "watch")) {
        ksrv_watch(c->s, c->req, &c->kr, ksrv_wants_table(c->req));
        return 0;
    }
    kobj_list_opts o;
    list_opts(c->req, &o);
    if (kobj_list(c->s->api, &c->kr, &o, &obj, st) < 0)
        return -1;
    reply_read(c, obj, true);
    return 0;
}

/* Upstream's managerOrUserAgent: a write without fieldManager is recorded under the client's
 * User-Agent up to its first '/' ("kubectl", "helm"), printable characters only, at most about
 * 128. Server-side apply keeps requiring an explicit fieldManager, as upstream validates the
 * query before this fallback. */
static const char *field_manager(struct call *c)
{
    const char *fm = http_req_query(c->req, "fieldManager");
    const char *ct = http_req_header(c->req, "Content-Type");
    if ((fm && *fm) || (ct && dd_startswith(ct, "application/apply-patch")))
        return fm;
    const char *ua = http_req_header(c->req, "User-Agent");
    size_t n = 0;
    for (; ua && *ua && *ua != '/' && n < sizeof(c->agent_manager) - 1; ua++)
        if ((unsigned char)*ua >= 0x20 && *ua != 0x7f)
            c->agent_manager[n++] = *ua;
    c->agent_manager[n] = '\0';
    return n ? c->agent_manager : NULL;
}

static int fill_kobj_req(struct call *c, kobj_status *st)
{
    const char *dry = http_req_query(c->req, "dryRun");
    if (dry && *dry && strcmp(dry, "All"))
        return kobj_fail(st, 400, "BadRequest", "Invalid dry run value: %s", dry);
    c->kr = (kobj_req){.res = c->res,
                       .subresource = c->p.sub,
                       .ns = c->p.ns,
                       .name = c->p.name,
                       .field_manager = field_manager(c),
                       .dry_run = dry && !strcmp(dry, "All"),
                       .force = ksrv_query_bool(c->req, "force", false)};
    return kobj_parse_validation(http_req_query(c->req, "fieldValidation"), &c->kr.validation, st);
}

static int check_scope(struct call *c, kobj_status *st)
{
    bool namespaced = kres_namespaced(c->res);
    if (!namespaced && c->p.ns)
        return kobj_fail(st, 404, "NotFound", "the server could not find the requested resource");
    if (namespaced && !c->p.ns &&
        (c->p.name || !strcmp(c->verb, "create") || !strcmp(c->verb, "deletecollection")))
        return kobj_fail(st, 404, "NotFound", "the server could not find the requested resource");
    if (c->p.sub && !kres_find_subresource(c->res, c->p.sub))
        return kobj_fail(st, 404, "NotFound", "the server could not find the requested resource");
    if (!verb_allowed(c))
        return kobj_fail(st, 405, "MethodNotAllowed",
                         "the server does not allow this method on "
                         "the requested resource");
    return 0;
}

static int authorize(struct call *c, kobj_status *st)
{
    struct kattr a = {.verb = c->verb,
                      .group = c->res->group,
                      .resource = c->res->resource,
                      .sub = c->p.sub,
                      .ns = c->p.ns,
                      .name = c->p.name};
    _cleanup_free_ char *why = NULL;
    if (ksrv_authorize(c->s, c->u, &a, &why))
        return 0;
    char q[256];
    kres_qualified_name(c->res, q, sizeof(q));
    const char *scope = c->p.ns ? "in the namespace \"" : "at the cluster scope";
    return kobj_fail(st, 403, "Forbidden",
                     "%s%s%s is forbidden: User \"%s\" cannot %s resource "
                     "\"%s%s%s\" in API group \"%s\" %s%s%s",
                     q, c->p.name ? " \"" : "", c->p.name ? c->p.name : "", c->u->name, c->verb,
                     c->res->resource, c->p.sub ? "/" : "", c->p.sub ? c->p.sub : "", c->res->group,
                     scope, c->p.ns ? c->p.ns : "", c->p.ns ? "\"" : "");
}

static int dispatch(struct call *c, kobj_status *st)
{
    if (check_scope(c, st) < 0 || authorize(c, st) < 0 || fill_kobj_req(c, st) < 0)
        return -1;
    if (ksrv_is_pod_stream(c->res, c->p.sub))
        return ksrv_handle_pod_stream(c->s, c->req, &c->kr, st);
    if (dd_streq(c->p.sub, "proxy")) /* the apiserver proxy to pods, services and nodes */
        return kobj_fail(st, 503, "ServiceUnavailable",
                         "the %s/proxy subresource is not supported by this server; use kubectl "
                         "port-forward to reach %s",
                         c->res->resource, c->p.name ? c->p.name : "it");
    bool write = strcmp(c->verb, "get") && strcmp(c->verb, "list") && strcmp(c->verb, "watch");
    if (!write)
        return run_read(c, st);
    json_t *body = NULL;
    if (ksrv_decode_body(c->req, &body, st) < 0)
        return -1;
    if (ksrv_is_review(c->res, c->p.sub)) {
        ksrv_handle_review(c->s, c->req, c->u, c->res, c->p.ns, c->p.name, body);
        json_decref(body);
        return 0;
    }
    int r = run_write(c, body, st);
    json_decref(body);
    return r;
}

void ksrv_handle_resource(http_req *req)
{
    struct call c = {.s = ksrv_of(req), .req = req, .u = ksrv_user(req)};
    kobj_status st = {0};
    int kind = kpath_parse(http_req_path(req), &c.p);
    if (kind == 1 || kind == 2) {
        kpath_release(&c.p);
        if (ksrv_authorize_path(c.s, req, c.u))
            ksrv_handle_discovery(req);
        return;
    }
    if (kind == 0)
        c.res = kres_lookup(c.p.group, c.p.version, c.p.resource);
    c.verb = decide_verb(req, &c.p);
    if (kind < 0 || !c.res || !c.verb)
        kobj_fail(&st, 404, "NotFound", "the server could not find the requested resource");
    if (st.code || dispatch(&c, &st) < 0) {
        if (!st.code)
            kobj_fail(&st, 500, "InternalError", "internal error");
        ksrv_reply_status(req, &st);
    }
    kobj_status_release(&st);
    kpath_release(&c.p);
}
