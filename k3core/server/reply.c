/* reply.c: answers in Kubernetes' formats — the one mapping from kobj_status to a `Status`
 * response, JSON objects with `Warning: 299` headers, Accept negotiation for Tables, and Go-style
 * boolean query values (python sends `True`).
 *
 * Responses are always JSON (clients that prefer protobuf also accept JSON).
 */
#include "k3core/server/server-internal.h"

#include <stdio.h>
#include <strings.h>

void kuser_release(struct kuser *u)
{
    free(u->name);
    free(u->uid);
    dd_strv_free(u->groups);
    free(u->sa_ns);
    free(u->sa_name);
    memset(u, 0, sizeof(*u));
}

bool kuser_in_group(const struct kuser *u, const char *group)
{
    return dd_strv_contains(u->groups, group);
}

void ksrv_add_warnings(http_req *req, char *const *warnings)
{
    for (size_t i = 0; warnings && warnings[i]; i++) {
        dd_buf b = DD_BUF_INIT;
        dd_buf_adds(&b, "299 - \"");
        for (const char *p = warnings[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                dd_buf_addc(&b, '\\');
            dd_buf_addc(&b, (*p == '\n' || *p == '\r') ? ' ' : *p);
        }
        dd_buf_addc(&b, '"');
        http_add_header(req, "Warning", b.data);
        dd_buf_release(&b);
    }
}

int ksrv_reply_json(http_req *req, int code, const json_t *obj, char *const *warnings)
{
    ksrv_add_warnings(req, warnings);
    _cleanup_free_ char *text = json_dumps(obj, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return http_reply(req, 500, "application/json", "{}", 2);
    size_t n = strlen(text);
    const char *ct = "application/json";
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const char *api = json_string_value(json_object_get(obj, "apiVersion"));
    char buf[96];
    if (kind && !strcmp(kind, "Table") && api && dd_startswith(api, "meta.k8s.io/")) {
        snprintf(buf, sizeof(buf), "application/json;as=Table;v=%s;g=meta.k8s.io", api + 12);
        ct = buf;
    }
    return http_reply(req, code, ct, text, n);
}

int ksrv_reply_status(http_req *req, const kobj_status *st)
{
    json_t *j = kobj_status_json(st);
    int r = ksrv_reply_json(req, st->code ? st->code : 500, j, NULL);
    json_decref(j);
    return r;
}

int ksrv_fail(http_req *req, int code, const char *reason, const char *fmt, ...)
{
    kobj_status st = {0};
    st.code = code;
    st.reason = reason;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st.message, sizeof(st.message), fmt, ap);
    va_end(ap);
    return ksrv_reply_status(req, &st);
}

/* Accept: application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;... */
const char *ksrv_wants_table(http_req *req)
{
    const char *accept = http_req_header(req, "Accept");
    if (!accept)
        return NULL;
    _cleanup_free_ char *copy = dd_strdup(accept);
    char *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        bool table = false, meta = false;
        const char *v = NULL;
        char *s2 = NULL;
        for (char *p = strtok_r(t, ";", &s2); p; p = strtok_r(NULL, ";", &s2)) {
            while (*p == ' ')
                p++;
            if (!strcmp(p, "as=Table"))
                table = true;
            else if (!strcmp(p, "g=meta.k8s.io"))
                meta = true;
            else if (!strcmp(p, "v=v1"))
                v = "v1";
            else if (!strcmp(p, "v=v1beta1"))
                v = "v1beta1";
        }
        if (table && meta && v)
            return v;
    }
    return NULL;
}

bool ksrv_query_bool(http_req *req, const char *key, bool def)
{
    const char *v = http_req_query(req, key);
    if (!v)
        return def;
    if (!*v)
        return true;
    return !strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "t");
}
