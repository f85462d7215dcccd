/* patch: the PATCH verb — JSON patch (RFC 6902, with RFC 6901 pointers), JSON merge patch
 * (RFC 7386), dispatch to strategic merge (smp.c) and server-side apply (managed.c), and the
 * scale subresource's patch-through. The patched object then goes through the ordinary update
 * pipeline (objects-write.c), so a patch carrying metadata.resourceVersion is a precondition.
 */
#include <stdio.h>

#include "k3core/api/objects-internal.h"

/* ---- JSON pointer ---- */

static char *unescape_token(const char *s, size_t n)
{
    char *out = dd_malloc(n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '~' && i + 1 < n && (s[i + 1] == '0' || s[i + 1] == '1')) {
            *o++ = s[i + 1] == '0' ? '~' : '/';
            i++;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

static bool array_index(const char *tok, size_t size, bool allow_end, size_t *ret)
{
    if (allow_end && strcmp(tok, "-") == 0) {
        *ret = size;
        return true;
    }
    if (!*tok || (tok[0] == '0' && tok[1]) || strspn(tok, "0123456789") != strlen(tok) ||
        strlen(tok) > 9)
        return false;
    *ret = (size_t)strtoul(tok, NULL, 10);
    return *ret < size || (allow_end && *ret == size);
}

/* Resolves all but the last token: *ret_parent and the last token (caller frees). */
static int resolve_parent(json_t *doc, const char *path, json_t **ret_parent, char **ret_last)
{
    if (!path || (path[0] && path[0] != '/'))
        return -EINVAL;
    json_t *cur = doc;
    const char *p = path;
    for (;;) {
        const char *tok = p + 1;
        const char *next = strchr(tok, '/');
        if (!next) {
            *ret_parent = cur;
            *ret_last = unescape_token(tok, strlen(tok));
            return 0;
        }
        _cleanup_free_ char *t = unescape_token(tok, (size_t)(next - tok));
        size_t idx;
        if (json_is_object(cur))
            cur = json_object_get(cur, t);
        else if (json_is_array(cur) && array_index(t, json_array_size(cur), false, &idx))
            cur = json_array_get(cur, idx);
        else
            cur = NULL;
        if (!cur)
            return -ENOENT;
        p = next;
    }
}

static json_t *get_path(json_t *doc, const char *path)
{
    if (!path || !*path)
        return doc;
    json_t *parent;
    _cleanup_free_ char *last = NULL;
    if (resolve_parent(doc, path, &parent, &last) < 0)
        return NULL;
    size_t idx;
    if (json_is_object(parent))
        return json_object_get(parent, last);
    if (json_is_array(parent) && array_index(last, json_array_size(parent), false, &idx))
        return json_array_get(parent, idx);
    return NULL;
}

/* add/replace semantics on one location; value is stolen. */
static int put_path(json_t **doc, const char *path, json_t *value, bool replace)
{
    if (!*path) {
        json_decref(*doc);
        *doc = value;
        return 0;
    }
    json_t *parent;
    _cleanup_free_ char *last = NULL;
    int r = resolve_parent(*doc, path, &parent, &last);
    size_t idx;
    if (r >= 0 && json_is_object(parent)) {
        if (replace && !json_object_get(parent, last))
            r = -ENOENT;
        else
            return json_object_set_new(parent, last, value) == 0 ? 0 : -EINVAL;
    } else if (r >= 0 && json_is_array(parent) &&
               array_index(last, json_array_size(parent), !replace, &idx)) {
        if (replace)
            return json_array_set_new(parent, idx, value) == 0 ? 0 : -EINVAL;
        return json_array_insert_new(parent, idx, value) == 0 ? 0 : -EINVAL;
    } else if (r >= 0) {
        r = -ENOENT;
    }
    json_decref(value);
    return r;
}

static int remove_path(json_t *doc, const char *path)
{
    json_t *parent;
    _cleanup_free_ char *last = NULL;
    if (!*path || resolve_parent(doc, path, &parent, &last) < 0)
        return -ENOENT;
    size_t idx;
    if (json_is_object(parent))
        return json_object_del(parent, last) == 0 ? 0 : -ENOENT;
    if (json_is_array(parent) && array_index(last, json_array_size(parent), false, &idx))
        return json_array_remove(parent, idx) == 0 ? 0 : -ENOENT;
    return -ENOENT;
}

static int patch_op(json_t **doc, const json_t *op, kobj_status *st)
{
    const char *name = json_string_value(json_object_get(op, "op"));
    const char *path = json_string_value(json_object_get(op, "path"));
    const char *from = json_string_value(json_object_get(op, "from"));
    json_t *value = json_object_get(op, "value");
    if (!name || !path)
        return kobj_fail(st, 400, "BadRequest", "json patch operation needs \"op\" and \"path\"");
    int r = -EINVAL;
    if (strcmp(name, "add") == 0 || strcmp(name, "replace") == 0) {
        if (!value)
            return kobj_fail(st, 400, "BadRequest", "json patch %s operation needs a value", name);
        r = put_path(doc, path, json_deep_copy(value), name[0] == 'r');
    } else if (strcmp(name, "remove") == 0) {
        r = remove_path(*doc, path);
    } else if (strcmp(name, "test") == 0) {
        json_t *cur = get_path(*doc, path);
        if (!cur || !json_equal(cur, value))
            return kobj_fail(st, 422, "Invalid",
                             "the server rejected our request due to an "
                             "error in our request: testing value %s failed",
                             path);
        r = 0;
    } else if (strcmp(name, "move") == 0 || strcmp(name, "copy") == 0) {
        json_t *src = from ? get_path(*doc, from) : NULL;
        if (src) {
            json_t *val = json_deep_copy(src);
            r = name[0] == 'm' ? remove_path(*doc, from) : 0;
            if (r >= 0)
                r = put_path(doc, path, val, false);
            else
                json_decref(val);
        } else {
            r = -ENOENT;
        }
    } else {
        return kobj_fail(st, 400, "BadRequest", "Unexpected kind: %s", name);
    }
    if (r < 0)
        return kobj_fail(st, 422, "Invalid",
                         "the server rejected our request due to an error in "
                         "our request: %s operation does not apply: doc is "
                         "missing path: \"%s\"",
                         name, path);
    return 0;
}

int kobj_json_patch(const json_t *doc, const json_t *patch, json_t **ret, kobj_status *st)
{
    if (!json_is_array(patch))
        return kobj_fail(st, 400, "BadRequest",
                         "json: cannot unmarshal object into Go value of "
                         "type jsonpatch.Patch");
    json_t *out = json_deep_copy(doc);
    size_t i;
    json_t *op;
    json_array_foreach(patch, i, op)
    {
        int r = patch_op(&out, op, st);
        if (r < 0) {
            json_decref(out);
            return r;
        }
    }
    *ret = out;
    return 0;
}

json_t *kobj_merge_patch(const json_t *doc, const json_t *patch)
{
    if (!json_is_object(patch))
        return json_deep_copy(patch);
    json_t *out = json_is_object(doc) ? json_deep_copy(doc) : json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)patch, k, v)
    {
        if (json_is_null(v)) {
            json_object_del(out, k);
            continue;
        }
        json_object_set_new(out, k, kobj_merge_patch(json_object_get(out, k), v));
    }
    return out;
}

int kobj_patch_type_parse(const char *content_type, enum kobj_patch_type *ret, kobj_status *st)
{
    size_t n = content_type ? strcspn(content_type, "; ") : 0;
    static const struct {
        const char *type;
        enum kobj_patch_type t;
    } types[] = {{"application/json-patch+json", KOBJ_PATCH_JSON},
                 {"application/merge-patch+json", KOBJ_PATCH_MERGE},
                 {"application/strategic-merge-patch+json", KOBJ_PATCH_STRATEGIC},
                 {"application/apply-patch+yaml", KOBJ_PATCH_APPLY},
                 {"application/apply-patch+cbor", KOBJ_PATCH_APPLY}};
    for (size_t i = 0; i < DD_ARRAY_SIZE(types); i++) {
        if (n == strlen(types[i].type) && strncmp(content_type, types[i].type, n) == 0) {
            *ret = types[i].t;
            return 0;
        }
    }
    return kobj_fail(st, 415, "UnsupportedMediaType",
                     "the body of the request was in an unknown "
                     "format - accepted media types include: "
                     "application/json-patch+json, "
                     "application/merge-patch+json, "
                     "application/apply-patch+yaml");
}

static int apply_type(const kobj_req *req, enum kobj_patch_type type, const json_t *target,
                      const json_t *patch, json_t **ret, kobj_status *st)
{
    switch (type) {
    case KOBJ_PATCH_JSON:
        return kobj_json_patch(target, patch, ret, st);
    case KOBJ_PATCH_MERGE:
        if (!json_is_object(patch))
            return kobj_fail(st, 400, "BadRequest", "merge patch body must be a JSON object");
        *ret = kobj_merge_patch(target, patch);
        return 0;
    case KOBJ_PATCH_STRATEGIC: {
        const json_t *schema = dd_streq(req->subresource, "scale") ? NULL : kres_schema(req->res);
        if (req->res->flags & KRES_CUSTOM)
            return kobj_fail(st, 415, "UnsupportedMediaType",
                             "strategic merge patch is not supported for custom resources: use "
                             "application/merge-patch+json");
        return kobj_strategic_patch(schema, target, patch, ret, st);
    }
    case KOBJ_PATCH_APPLY:
        return kobj_server_side_apply(req->res, target, patch, req->field_manager, req->force, ret,
                                      st);
    }
    return kobj_fail(st, 415, "UnsupportedMediaType", "unknown patch type");
}

static int patch_missing(kobj_api *api, const kobj_req *req, enum kobj_patch_type type,
                         const json_t *patch, kobj_result *ret, kobj_status *st)
{
    /* server-side apply creates; every other patch of a missing object is a 404 */
    if (type != KOBJ_PATCH_APPLY || req->subresource)
        return kobj_not_found(st, req->res, req->name);
    if (!json_is_object(patch))
        return kobj_fail(st, 400, "BadRequest", "apply patch body must be an object");
    json_t *obj = NULL;
    int r = kobj_server_side_apply(req->res, NULL, patch, req->field_manager, req->force, &obj, st);
    if (r < 0)
        return r;
    jx_set_str(kobj_meta(obj), "name", req->name);
    r = kobj_create_ex(api, req, obj, true, ret, st);
    json_decref(obj);
    return r;
}

int kobj_patch(kobj_api *api, const kobj_req *req, enum kobj_patch_type type, const json_t *patch,
               kobj_result *ret, kobj_status *st)
{
    memset(ret, 0, sizeof(*ret));
    if (!patch)
        return kobj_fail(st, 400, "BadRequest", "the body of the request is empty");
    json_t *old;
    int64_t rev;
    kobj_status nf = {0};
    int r = kobj_get_raw(api, req->res, req->ns, req->name, &old, &rev, &nf);
    if (r < 0 && nf.code == 404) {
        kobj_status_release(&nf);
        return patch_missing(api, req, type, patch, ret, st);
    }
    if (r < 0) {
        *st = nf;
        return r;
    }
    bool scale = dd_streq(req->subresource, "scale");
    json_t *target = scale ? kobj_scale_of(req->res, old) : json_incref(old);
    json_t *patched = NULL;
    r = target ? apply_type(req, type, target, patch, &patched, st)
               : kobj_fail(st, 404, "NotFound", "the server could not find the requested resource");
    json_decref(target);
    kobj_req wr = *req;
    if (r >= 0 && scale) {
        json_t *full;
        r = kobj_scale_apply(req->res, old, patched, &full, st);
        json_decref(patched);
        patched = r >= 0 ? full : NULL;
        wr.subresource = NULL;
        wr.managed_as = "scale";
    }
    if (r >= 0)
        r = kobj_write_update(api, &wr, patched, old, rev, type == KOBJ_PATCH_APPLY, ret, st);
    if (r >= 0 && scale) {
        json_t *s = kobj_scale_of(req->res, ret->object);
        json_decref(ret->object);
        ret->object = s;
    }
    json_decref(old);
    return r;
}
