/* client.c: the kubelet's API calls (struct kubelet_remote) as REST requests to the server:
 * kobj_req → /api/v1[/namespaces/NS]/RESOURCE[/NAME][/SUB] or /apis/GROUP/VERSION/..., JSON
 * bodies, and a Status answer mapped back into kobj_status (code, reason, message) so the
 * kubelet sees the same errors as in-process. Also TokenRequest for projected token volumes.
 * Watches are change notifications (watch.c) that make the kubelet list sooner.
 */
#include <stdio.h>

#include "k3core/agent/agent.h"

static const char *const reasons[] = {"NotFound",
                                      "AlreadyExists",
                                      "Conflict",
                                      "Invalid",
                                      "BadRequest",
                                      "Forbidden",
                                      "Unauthorized",
                                      "Expired",
                                      "MethodNotAllowed",
                                      "UnsupportedMediaType",
                                      "RequestEntityTooLarge",
                                      "Gone",
                                      "Timeout",
                                      "TooManyRequests",
                                      "ServiceUnavailable"};

/* The static reason string equal to r (kobj_status keeps static reasons only). */
static const char *static_reason(const char *r)
{
    for (size_t i = 0; r && i < DD_ARRAY_SIZE(reasons); i++)
        if (!strcmp(r, reasons[i]))
            return reasons[i];
    return "InternalError";
}

static char *path_of(kag_http *h, const kobj_req *req, const kobj_list_opts *o)
{
    const kres_resource *r = req->res;
    dd_buf b = DD_BUF_INIT;
    if (r->group[0])
        dd_buf_addf(&b, "/apis/%s/%s", r->group, r->version);
    else
        dd_buf_addf(&b, "/api/%s", r->version);
    if (req->ns && kres_namespaced(r))
        dd_buf_addf(&b, "/namespaces/%s", req->ns);
    dd_buf_addf(&b, "/%s", r->resource);
    if (req->name)
        dd_buf_addf(&b, "/%s", req->name);
    if (req->subresource)
        dd_buf_addf(&b, "/%s", req->subresource);
    char sep = '?';
    if (req->field_manager) {
        _cleanup_free_ char *v = kag_http_escape(h, req->field_manager);
        dd_buf_addf(&b, "%cfieldManager=%s", sep, v);
        sep = '&';
    }
    if (o && o->label_selector) {
        _cleanup_free_ char *v = kag_http_escape(h, o->label_selector);
        dd_buf_addf(&b, "%clabelSelector=%s", sep, v);
        sep = '&';
    }
    if (o && o->field_selector) {
        _cleanup_free_ char *v = kag_http_escape(h, o->field_selector);
        dd_buf_addf(&b, "%cfieldSelector=%s", sep, v);
    }
    return dd_buf_detach(&b, NULL);
}

/* Sends one request; on 2xx *ret gets the decoded body (may be NULL for an empty one). */
static int call(kag_http *h, const char *method, const kobj_req *req, const kobj_list_opts *o,
                const json_t *body, json_t **ret, int *ret_code, kobj_status *st)
{
    _cleanup_free_ char *path = path_of(h, req, o);
    _cleanup_free_ char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    _cleanup_free_ char *resp = NULL;
    long code = 0;
    size_t len = 0;
    dd_err e = {0};
    *ret = NULL;
    if (kag_http_do(h, method, path, text, NULL, &code, &resp, &len, &e) < 0)
        return kobj_fail(st, 503, "ServiceUnavailable", "%s", e.msg);
    json_t *v = len ? json_loadb(resp, len, 0, NULL) : NULL;
    if (ret_code)
        *ret_code = (int)code;
    if (code >= 200 && code < 300) {
        *ret = v;
        return 0;
    }
    const char *msg = json_string_value(json_object_get(v, "message"));
    const char *reason = json_string_value(json_object_get(v, "reason"));
    int r = kobj_fail(st, (int)code, static_reason(reason), "%s",
                      msg ? msg : (len ? resp : "no message"));
    json_decref(v);
    return r;
}

static kag_http *http_of(void *ud)
{
    return ((struct kag_client *)ud)->http;
}

static int r_get(void *ud, const kobj_req *req, json_t **ret, kobj_status *st)
{
    return call(http_of(ud), "GET", req, NULL, NULL, ret, NULL, st);
}

static int r_list(void *ud, const kobj_req *req, const kobj_list_opts *o, json_t **ret,
                  kobj_status *st)
{
    return call(http_of(ud), "GET", req, o, NULL, ret, NULL, st);
}

static int write_call(void *ud, const char *method, const kobj_req *req, const json_t *body,
                      kobj_result *ret, kobj_status *st)
{
    int code = 0;
    int r = call(http_of(ud), method, req, NULL, body, &ret->object, &code, st);
    ret->code = code;
    return r;
}

static int r_create(void *ud, const kobj_req *req, const json_t *body, kobj_result *ret,
                    kobj_status *st)
{
    return write_call(ud, "POST", req, body, ret, st);
}

static int r_update(void *ud, const kobj_req *req, const json_t *body, kobj_result *ret,
                    kobj_status *st)
{
    return write_call(ud, "PUT", req, body, ret, st);
}

static int r_delete(void *ud, const kobj_req *req, const json_t *opts, kobj_result *ret,
                    kobj_status *st)
{
    return write_call(ud, "DELETE", req, opts, ret, st);
}

static int r_watch(void *ud, const kres_resource *res, const char *field_selector,
                   void (*changed)(void *), void *cb_ud, void **ret, dd_err *e)
{
    struct kag_client *c = ud;
    kobj_req req = {.res = res};
    kobj_list_opts o = {.field_selector = field_selector};
    _cleanup_free_ char *path = path_of(c->http, &req, &o);
    _cleanup_free_ char *url =
        dd_asprintf("%s%s%cwatch=true", c->base_url, path, strchr(path, '?') ? '&' : '?');
    kag_watch *w = NULL;
    int r = kag_watch_start(c->loop, url, &c->tls, changed, cb_ud, &w, e);
    *ret = w;
    return r < 0 ? dd_err_wrap(e, "watching %s", res->resource) : 0;
}

static void r_unwatch(void *handle)
{
    kag_watch_stop(handle);
}

void kag_client_init(struct kubelet_remote *ops, struct kag_client *c)
{
    *ops = (struct kubelet_remote){.ud = c,
                                   .get = r_get,
                                   .list = r_list,
                                   .create = r_create,
                                   .update = r_update,
                                   .del = r_delete,
                                   .watch = r_watch,
                                   .unwatch = r_unwatch};
}

char *kag_client_mint(void *ud, const char *ns, const char *sa, const char *pod,
                      const char *pod_uid, int64_t ttl, int64_t *ret_exp)
{
    kobj_req req = {.res = kres_lookup("", "v1", "serviceaccounts"),
                    .ns = ns,
                    .name = sa,
                    .subresource = "token"};
    json_t *body =
        json_pack("{s:s,s:s,s:{s:[],s:I,s:{s:s,s:s,s:s,s:s}}}", "apiVersion",
                  "authentication.k8s.io/v1", "kind", "TokenRequest", "spec", "audiences",
                  "expirationSeconds", (json_int_t)(ttl ? ttl : 3607), "boundObjectRef", "kind",
                  "Pod", "apiVersion", "v1", "name", pod, "uid", pod_uid);
    json_t *out = NULL;
    kobj_status st = {0};
    int r = call(http_of(ud), "POST", &req, NULL, body, &out, NULL, &st);
    json_decref(body);
    if (r < 0) {
        dd_warn("token for %s/%s: %s", ns, sa, st.message);
        kobj_status_release(&st);
        return NULL;
    }
    const json_t *status = json_object_get(out, "status");
    const char *tok = json_string_value(json_object_get(status, "token"));
    char *ret = tok ? dd_strdup(tok) : NULL;
    if (ret_exp)
        *ret_exp = dd_now_ns() / 1000000000LL + (ttl ? ttl : 3607);
    json_decref(out);
    return ret;
}
