/* auth.c: who is calling. A verified client certificate (signed by the client CA; user = CN,
 * groups = O) or a bearer ServiceAccount token (ES256 JWT signed with service.key, issuer ours,
 * not expired, its ServiceAccount — and bound Secret or Pod, if any — still present with the same
 * uid). Everything else is anonymous, which the server answers with 401 except on the health and
 * version endpoints. Also mints tokens (TokenRequest, legacy token Secrets).
 *
 * The cluster join token (--token) is deliberately not an API credential.
 */
#include <stdio.h>
#include <strings.h>

#include "k3core/server/server-internal.h"

static int lookup(struct ksrv *s, const char *group, const char *resource, const char *ns,
                  const char *name, json_t **ret)
{
    const kres_resource *r = kres_lookup(group, "v1", resource);
    kobj_req kr = {.res = r, .ns = ns, .name = name};
    kobj_status st = {0};
    int rc = r ? kobj_get(s->api, &kr, ret, &st) : -ENOENT;
    kobj_status_release(&st);
    return rc < 0 ? -ENOENT : 0;
}

/* The object named by claims["kubernetes.io"][field] must exist with the same uid. */
static bool bound_object_alive(struct ksrv *s, const json_t *k8s, const char *field,
                               const char *resource, const char *ns)
{
    const json_t *ref = json_object_get(k8s, field);
    if (!ref)
        return true;
    const char *name = json_string_value(json_object_get(ref, "name"));
    const char *uid = json_string_value(json_object_get(ref, "uid"));
    json_t *obj = NULL;
    if (!name || lookup(s, "", resource, ns, name, &obj) < 0)
        return false;
    const char *have = json_string_value(json_object_get(json_object_get(obj, "metadata"), "uid"));
    bool ok = !uid || dd_streq(uid, have);
    json_decref(obj);
    return ok;
}

static int check_claims(struct ksrv *s, const json_t *c, struct kuser *u)
{
    const char *iss = json_string_value(json_object_get(c, "iss"));
    json_int_t exp = json_integer_value(json_object_get(c, "exp"));
    const json_t *k8s = json_object_get(c, "kubernetes.io");
    const char *ns = json_string_value(json_object_get(k8s, "namespace"));
    const json_t *sa = json_object_get(k8s, "serviceaccount");
    const char *name = json_string_value(json_object_get(sa, "name"));
    if (!dd_streq(iss, s->issuer) || !ns || !name)
        return -EACCES;
    if (exp && exp < dd_now_ns() / 1000000000LL)
        return -EACCES;
    if (!bound_object_alive(s, k8s, "serviceaccount", "serviceaccounts", ns) ||
        !bound_object_alive(s, k8s, "secret", "secrets", ns) ||
        !bound_object_alive(s, k8s, "pod", "pods", ns))
        return -EACCES;
    u->name = dd_asprintf("system:serviceaccount:%s:%s", ns, name);
    const char *uid = json_string_value(json_object_get(sa, "uid"));
    u->uid = uid ? dd_strdup(uid) : NULL;
    u->groups = dd_strv_push(u->groups, "system:serviceaccounts");
    u->groups = dd_strv_consume(u->groups, dd_asprintf("system:serviceaccounts:%s", ns));
    u->groups = dd_strv_push(u->groups, "system:authenticated");
    u->sa_ns = dd_strdup(ns);
    u->sa_name = dd_strdup(name);
    return 0;
}

int ksrv_token_user(struct ksrv *s, const char *token, struct kuser *u)
{
    _cleanup_free_ char *claims = NULL;
    dd_err e = {0};
    if (pki_jwt_verify(s->pki, token, &claims, &e) < 0)
        return -EACCES;
    json_t *c = NULL;
    if (jx_parse(claims, strlen(claims), &c, &e) < 0)
        return -EACCES;
    int r = check_claims(s, c, u);
    json_decref(c);
    if (r < 0)
        kuser_release(u);
    return r;
}

int ksrv_authenticate(struct ksrv *s, http_req *req, struct kuser *u)
{
    memset(u, 0, sizeof(*u));
    X509 *cert = http_req_peer_cert(req);
    if (cert && pki_cert_identity(cert, &u->name, &u->groups) == 0) {
        if (!dd_strv_contains(u->groups, "system:authenticated"))
            u->groups = dd_strv_push(u->groups, "system:authenticated");
        return 0;
    }
    const char *authz = http_req_header(req, "Authorization");
    if (authz && !strncasecmp(authz, "Bearer ", 7)) {
        const char *tok = authz + 7;
        while (*tok == ' ')
            tok++;
        return ksrv_token_user(s, tok, u);
    }
    return -EACCES;
}

#define WARN_ONLY_TOKEN_TTL 3607
#define EXTENDED_TOKEN_TTL  (365LL * 24 * 3600)

/* Signs a token for ServiceAccount ns/name (uid sa_uid), valid for ttl seconds, optionally bound
 * to a Secret or Pod (bound_kind "Secret"/"Pod"). ttl 0 = no expiry (legacy Secret tokens). */
char *ksrv_mint_token(struct ksrv *s, const char *ns, const char *name, const char *sa_uid,
                      const json_t *audiences, int64_t ttl, const char *bound_kind,
                      const char *bound_name, const char *bound_uid, int64_t *ret_exp)
{
    int64_t now = dd_now_ns() / 1000000000LL;
    char jti[33];
    dd_random_hex(jti, 16);
    json_t *k8s = json_pack("{s:s, s:{s:s, s:s}}", "namespace", ns, "serviceaccount", "name", name,
                            "uid", sa_uid ? sa_uid : "");
    if (bound_kind)
        json_object_set_new(
            k8s, !strcmp(bound_kind, "Pod") ? "pod" : "secret",
            json_pack("{s:s, s:s}", "name", bound_name, "uid", bound_uid ? bound_uid : ""));
    _cleanup_free_ char *sub = dd_asprintf("system:serviceaccount:%s:%s", ns, name);
    json_t *aud = audiences && json_array_size(audiences) ? json_deep_copy(audiences)
                                                          : json_pack("[s]", s->issuer);
    json_t *c =
        json_pack("{s:o, s:I, s:s, s:s, s:o, s:I, s:s}", "aud", aud, "iat", (json_int_t)now, "iss",
                  s->issuer, "jti", jti, "kubernetes.io", k8s, "nbf", (json_int_t)now, "sub", sub);
    /* upstream's --service-account-extend-token-expiration (on by default): a pod's token asked
     * for the kubelet's 3607 s stays valid a year, with warnafter at the asked time, so pods that
     * run longer than an hour keep their API access without a token refresh */
    bool extend = ttl == WARN_ONLY_TOKEN_TTL && dd_streq(bound_kind, "Pod");
    if (extend)
        json_object_set_new(k8s, "warnafter", json_integer(now + ttl));
    if (ttl > 0)
        json_object_set_new(c, "exp", json_integer(now + (extend ? EXTENDED_TOKEN_TTL : ttl)));
    if (ret_exp)
        *ret_exp = ttl > 0 ? now + ttl : 0;
    _cleanup_free_ char *text = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    return pki_jwt_sign(s->pki, text);
}
