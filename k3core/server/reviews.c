/* reviews.c: the create-only kinds the API server answers itself instead of storing:
 * SelfSubjectAccessReview, SelfSubjectRulesReview, SubjectAccessReview and
 * LocalSubjectAccessReview (answered by the RBAC authorizer), SelfSubjectReview (v1, v1beta1)
 * and TokenReview (the authenticator), and TokenRequest (serviceaccounts/{name}/token). Each
 * answer is the request body with `status` filled, 201 Created, as upstream.
 * Also fills legacy kubernetes.io/service-account-token Secrets after they are created.
 */
#include <stdio.h>

#include "k3core/pki/b64.h"
#include "k3core/server/server-internal.h"

#define DEFAULT_TOKEN_TTL 3600

bool ksrv_is_review(const kres_resource *r, const char *sub)
{
    if (sub)
        return !r->group[0] && !strcmp(r->resource, "serviceaccounts") && !strcmp(sub, "token");
    return (r->flags & KRES_VIRTUAL) && (!strcmp(r->group, "authorization.k8s.io") ||
                                         !strcmp(r->group, "authentication.k8s.io"));
}

static json_t *answer_base(const kres_resource *r, json_t *body)
{
    json_t *out = json_is_object(body) ? json_deep_copy(body) : json_object();
    char api[256];
    kres_api_version(r, api, sizeof(api));
    json_object_set_new(out, "apiVersion", json_string(api));
    json_object_set_new(out, "kind", json_string(r->kind));
    if (!json_object_get(out, "metadata"))
        json_object_set_new(out, "metadata", json_object());
    json_t *m = json_object_get(out, "metadata");
    if (!json_object_get(m, "creationTimestamp"))
        json_object_set_new(m, "creationTimestamp", json_null());
    return out;
}

static json_t *access_status(struct ksrv *s, const struct kuser *u, const json_t *spec,
                             const char *local_ns)
{
    const json_t *ra = json_object_get(spec, "resourceAttributes");
    const json_t *nra = json_object_get(spec, "nonResourceAttributes");
    const char *sv = NULL;
    struct kattr a = {0};
    if (ra) {
        a.verb = (sv = json_string_value(json_object_get(ra, "verb"))) ? sv : "";
        a.group = json_string_value(json_object_get(ra, "group"));
        a.resource = json_string_value(json_object_get(ra, "resource"));
        a.sub = json_string_value(json_object_get(ra, "subresource"));
        a.ns = local_ns ? local_ns : json_string_value(json_object_get(ra, "namespace"));
        a.name = json_string_value(json_object_get(ra, "name"));
        if (a.sub && !*a.sub)
            a.sub = NULL;
        if (a.ns && !*a.ns)
            a.ns = NULL;
        if (!a.resource)
            a.resource = "";
    } else if (nra) {
        a.verb = (sv = json_string_value(json_object_get(nra, "verb"))) ? sv : "";
        a.path = (sv = json_string_value(json_object_get(nra, "path"))) ? sv : "";
    } else {
        return json_pack("{s:b, s:s}", "allowed", false, "evaluationError",
                         "spec has neither resourceAttributes nor nonResourceAttributes");
    }
    bool ok = ksrv_authorize(s, u, &a, NULL);
    json_t *st = json_pack("{s:b}", "allowed", ok);
    if (ok && !kuser_in_group(u, "system:masters"))
        json_object_set_new(st, "reason", json_string("allowed by RBAC"));
    return st;
}

static json_t *user_info(const struct kuser *u)
{
    json_t *ui = json_pack("{s:s, s:o}", "username", u->name ? u->name : "", "groups",
                           jx_strv_new(u->groups));
    if (u->uid)
        json_object_set_new(ui, "uid", json_string(u->uid));
    return ui;
}

/* SubjectAccessReview: the user comes from spec.user/groups/uid. */
static void subject_from_spec(const json_t *spec, struct kuser *u)
{
    const char *user = json_string_value(json_object_get(spec, "user"));
    size_t i;
    json_t *g;
    u->name = dd_strdup(user ? user : "");
    json_array_foreach(json_object_get(spec, "groups"), i, g) if (json_is_string(g)) u->groups =
        dd_strv_push(u->groups, json_string_value(g));
    if (dd_startswith(u->name, "system:serviceaccount:")) {
        const char *rest = u->name + 22;
        const char *colon = strchr(rest, ':');
        if (colon) {
            u->sa_ns = dd_strndup(rest, (size_t)(colon - rest));
            u->sa_name = dd_strdup(colon + 1);
        }
    }
}

static int token_review(struct ksrv *s, json_t *out)
{
    const char *tok = json_string_value(json_object_get(json_object_get(out, "spec"), "token"));
    struct kuser tu = {0};
    json_t *st;
    if (tok && ksrv_token_user(s, tok, &tu) == 0) {
        st = json_pack("{s:b, s:o, s:[s]}", "authenticated", true, "user", user_info(&tu),
                       "audiences", s->issuer);
        kuser_release(&tu);
    } else {
        st = json_pack("{s:b, s:o, s:s}", "authenticated", false, "user", json_object(), "error",
                       "invalid bearer token");
    }
    json_object_set_new(out, "status", st);
    return 201;
}

static int token_request(struct ksrv *s, http_req *req, const char *ns, const char *name,
                         json_t *out)
{
    const kres_resource *sar = kres_lookup("", "v1", "serviceaccounts");
    kobj_req kr = {.res = sar, .ns = ns, .name = name};
    kobj_status st = {0};
    json_t *sa = NULL;
    if (kobj_get(s->api, &kr, &sa, &st) < 0) {
        ksrv_reply_status(req, &st);
        kobj_status_release(&st);
        return 0;
    }
    const json_t *spec = json_object_get(out, "spec");
    json_int_t ttl = json_integer_value(json_object_get(spec, "expirationSeconds"));
    if (ttl <= 0)
        ttl = DEFAULT_TOKEN_TTL;
    if (ttl < 600) {
        json_decref(sa);
        ksrv_fail(req, 400, "BadRequest",
                  "spec.expirationSeconds: Invalid value: %lld: may not specify a duration less "
                  "than 10 minutes",
                  (long long)ttl);
        return 0;
    }
    const json_t *bound = json_object_get(spec, "boundObjectRef");
    const char *uid = json_string_value(json_object_get(json_object_get(sa, "metadata"), "uid"));
    int64_t exp = 0;
    _cleanup_free_ char *tok =
        ksrv_mint_token(s, ns, name, uid, json_object_get(spec, "audiences"), ttl,
                        json_string_value(json_object_get(bound, "kind")),
                        json_string_value(json_object_get(bound, "name")),
                        json_string_value(json_object_get(bound, "uid")), &exp);
    json_decref(sa);
    if (!tok) {
        ksrv_fail(req, 500, "InternalError", "signing the token failed");
        return 0;
    }
    char ts[64];
    dd_format_rfc3339nano(exp * 1000000000LL, ts, sizeof(ts));
    char *dot = strchr(ts, '.');
    if (dot)
        strcpy(dot, "Z");
    json_object_set_new(out, "status",
                        json_pack("{s:s, s:s}", "token", tok, "expirationTimestamp", ts));
    if (!json_object_get(spec, "expirationSeconds"))
        json_object_set_new(json_object_get(out, "spec"), "expirationSeconds", json_integer(ttl));
    return 201;
}

void ksrv_handle_review(struct ksrv *s, http_req *req, struct kuser *u, const kres_resource *r,
                        const char *ns, const char *name, json_t *body)
{
    json_t *out = answer_base(r, body);
    if (!json_object_get(out, "spec"))
        json_object_set_new(out, "spec", json_object());
    json_t *spec = json_object_get(out, "spec");
    int code = 201;
    if (!strcmp(r->resource, "serviceaccounts")) {
        json_decref(out);
        out = json_is_object(body) ? json_deep_copy(body) : json_object();
        json_object_set_new(out, "apiVersion", json_string("authentication.k8s.io/v1"));
        json_object_set_new(out, "kind", json_string("TokenRequest"));
        if (!json_object_get(out, "spec"))
            json_object_set_new(out, "spec", json_object());
        code = token_request(s, req, ns, name, out);
    } else if (!strcmp(r->resource, "selfsubjectaccessreviews")) {
        json_object_set_new(out, "status", access_status(s, u, spec, NULL));
    } else if (!strcmp(r->resource, "localsubjectaccessreviews") ||
               !strcmp(r->resource, "subjectaccessreviews")) {
        struct kuser su = {0};
        subject_from_spec(spec, &su);
        json_object_set_new(out, "status", access_status(s, &su, spec, ns));
        kuser_release(&su);
    } else if (!strcmp(r->resource, "selfsubjectrulesreviews")) {
        const char *rns = json_string_value(json_object_get(spec, "namespace"));
        json_object_set_new(out, "status", ksrv_rbac_rules(s, u, rns && *rns ? rns : NULL));
    } else if (!strcmp(r->resource, "selfsubjectreviews")) {
        json_object_set_new(out, "status", json_pack("{s:o}", "userInfo", user_info(u)));
    } else if (!strcmp(r->resource, "tokenreviews")) {
        code = token_review(s, out);
    } else {
        ksrv_fail(req, 405, "MethodNotAllowed", "%s cannot be created here", r->kind);
        code = 0;
    }
    if (code)
        ksrv_reply_json(req, code, out, NULL);
    json_decref(out);
}

json_t *ksrv_fill_token_secret(struct ksrv *s, const json_t *secret)
{
    const json_t *md = json_object_get(secret, "metadata");
    const char *ns = json_string_value(json_object_get(md, "namespace"));
    const char *name = json_string_value(json_object_get(md, "name"));
    const char *suid = json_string_value(json_object_get(md, "uid"));
    const char *sa_name = json_string_value(
        json_object_get(json_object_get(md, "annotations"), "kubernetes.io/service-account.name"));
    if (!dd_streq(json_string_value(json_object_get(secret, "type")),
                  "kubernetes.io/service-account-token") ||
        !ns || !name || !sa_name || json_object_get(json_object_get(secret, "data"), "token"))
        return NULL;
    const kres_resource *sar = kres_lookup("", "v1", "serviceaccounts");
    kobj_req kr = {.res = sar, .ns = ns, .name = sa_name};
    kobj_status st = {0};
    json_t *sa = NULL;
    if (kobj_get(s->api, &kr, &sa, &st) < 0) {
        kobj_status_release(&st);
        return NULL;
    }
    const char *uid = json_string_value(json_object_get(json_object_get(sa, "metadata"), "uid"));
    _cleanup_free_ char *tok =
        ksrv_mint_token(s, ns, sa_name, uid, NULL, 0, "Secret", name, suid, NULL);
    json_t *patch = json_pack("{s:{s:{s:s}}, s:{}}", "metadata", "annotations",
                              "kubernetes.io/service-account.uid", uid ? uid : "", "data");
    json_decref(sa);
    _cleanup_free_ char *t64 = b64_encode(tok, strlen(tok), false);
    _cleanup_free_ char *ca64 =
        b64_encode(s->pki->server_ca_pem, strlen(s->pki->server_ca_pem), false);
    _cleanup_free_ char *ns64 = b64_encode(ns, strlen(ns), false);
    json_t *data = json_object_get(patch, "data");
    json_object_set_new(data, "token", json_string(t64));
    json_object_set_new(data, "ca.crt", json_string(ca64));
    json_object_set_new(data, "namespace", json_string(ns64));
    const kres_resource *secr = kres_lookup("", "v1", "secrets");
    kobj_req pr = {.res = secr, .ns = ns, .name = name, .field_manager = "k3core-tokens"};
    kobj_result res = {0};
    int rc = kobj_patch(s->api, &pr, KOBJ_PATCH_MERGE, patch, &res, &st);
    json_decref(patch);
    kobj_status_release(&st);
    json_t *obj = rc < 0 ? NULL : json_incref(res.object);
    kobj_result_release(&res);
    return obj;
}
