/* status: the structured error every kobj_ function fills, and its one mapping to the
 * Kubernetes `Status` object. Messages are composed by the callers exactly as upstream prints
 * them; this file only carries and serialises them.
 */
#include <stdio.h>

#include "k3core/api/objects.h"

void kobj_status_release(kobj_status *st)
{
    if (!st)
        return;
    json_decref(st->causes);
    st->causes = NULL;
}

static int errno_for(int code)
{
    switch (code) {
    case 404:
        return ENOENT;
    case 409:
        return EEXIST;
    case 403:
        return EPERM;
    case 410:
        return ERANGE;
    case 413:
        return E2BIG;
    case 415:
        return ENOTSUP;
    case 500:
        return EIO;
    default:
        return EINVAL;
    }
}

int kobj_fail(kobj_status *st, int code, const char *reason, const char *fmt, ...)
{
    if (st) {
        st->code = code;
        st->reason = reason;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(st->message, sizeof(st->message), fmt, ap);
        va_end(ap);
    }
    return -errno_for(code);
}

json_t *kobj_status_json(const kobj_status *st)
{
    json_t *details = json_object();
    if (st->name[0])
        jx_set_str(details, "name", st->name);
    if (st->group[0])
        jx_set_str(details, "group", st->group);
    if (st->kind[0])
        jx_set_str(details, "kind", st->kind);
    if (st->causes && json_array_size(st->causes))
        json_object_set(details, "causes", st->causes);
    if (st->retry_after > 0)
        jx_set_int(details, "retryAfterSeconds", st->retry_after);
    json_t *o = json_pack("{s:s,s:s,s:{},s:s,s:s,s:s}", "kind", "Status", "apiVersion", "v1",
                          "metadata", "status", "Failure", "message", st->message, "reason",
                          st->reason ? st->reason : "InternalError");
    if (st->reason && !*st->reason) /* a Status without a reason (omitempty upstream) */
        json_object_del(o, "reason");
    if (json_object_size(details))
        json_object_set_new(o, "details", details);
    else
        json_decref(details);
    jx_set_int(o, "code", st->code ? st->code : 500);
    return o;
}

json_t *kobj_status_success(const kres_resource *r, const json_t *obj)
{
    json_t *meta = json_object_get(obj, "metadata");
    json_t *details = json_object();
    jx_set_str(details, "name", json_string_value(json_object_get(meta, "name")));
    if (r->group[0])
        jx_set_str(details, "group", r->group);
    jx_set_str(details, "kind", r->resource);
    if (json_object_get(meta, "uid"))
        json_object_set(details, "uid", json_object_get(meta, "uid"));
    return json_pack("{s:s,s:s,s:{},s:s,s:o}", "kind", "Status", "apiVersion", "v1", "metadata",
                     "status", "Success", "details", details);
}

void kobj_result_release(kobj_result *r)
{
    if (!r)
        return;
    json_decref(r->object);
    dd_strv_free(r->warnings);
    memset(r, 0, sizeof(*r));
}
