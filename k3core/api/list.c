/* list: the list verb — selectors, resourceVersion semantics, and limit/continue paging. A
 * continue token is base64url of {"v":"meta.k8s.io/v1","rv":<list RV>,"start":"<last key>"}
 * (upstream's shape); continuing reads the store at that revision, so pages are consistent,
 * and a token whose revision was compacted answers 410 Expired as upstream does.
 */
#include <stdio.h>

#include "k3core/api/objects-internal.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *b64url_encode(const char *s)
{
    size_t n = strlen(s);
    dd_buf b = DD_BUF_INIT;
    dd_buf_init(&b);
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)(unsigned char)s[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)s[i + 2];
        dd_buf_addc(&b, b64[(v >> 18) & 63]);
        dd_buf_addc(&b, b64[(v >> 12) & 63]);
        if (i + 1 < n)
            dd_buf_addc(&b, b64[(v >> 6) & 63]);
        if (i + 2 < n)
            dd_buf_addc(&b, b64[v & 63]);
    }
    return dd_buf_detach(&b, NULL);
}

static char *b64url_decode(const char *s)
{
    dd_buf b = DD_BUF_INIT;
    dd_buf_init(&b);
    uint32_t acc = 0;
    int bits = 0;
    for (; *s && *s != '='; s++) {
        const char *p = strchr(b64, *s == '+' ? '-' : *s == '/' ? '_' : *s);
        if (!p || !*s) {
            dd_buf_release(&b);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)(p - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            dd_buf_addc(&b, (char)((acc >> bits) & 0xff));
        }
    }
    return dd_buf_detach(&b, NULL);
}

static int bad_continue(kobj_status *st)
{
    return kobj_fail(st, 400, "BadRequest",
                     "continue key is not valid: incorrect encoded start "
                     "resourceVersion (version meta.k8s.io/v1)");
}

static int decode_continue(const char *token, const char *prefix, int64_t *ret_rev,
                           char **ret_start, kobj_status *st)
{
    _cleanup_free_ char *raw = b64url_decode(token);
    json_t *j = raw ? json_loads(raw, 0, NULL) : NULL;
    const char *start = json_string_value(json_object_get(j, "start"));
    json_int_t rv = json_integer_value(json_object_get(j, "rv"));
    if (!start || rv <= 0 || strstr(start, "..")) {
        json_decref(j);
        return bad_continue(st);
    }
    *ret_rev = rv;
    *ret_start = dd_asprintf("%s%s", prefix, start);
    json_decref(j);
    return 0;
}

static char *encode_continue(int64_t rev, const char *last_key, const char *prefix)
{
    json_t *j = json_pack("{s:s,s:I,s:s}", "v", "meta.k8s.io/v1", "rv", (json_int_t)rev, "start",
                          last_key + strlen(prefix));
    _cleanup_free_ char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    return b64url_encode(s);
}

static int parse_rv(const char *s, int64_t *ret, kobj_status *st)
{
    *ret = 0;
    if (!s || !*s)
        return 0;
    if (dd_parse_int64(s, ret) < 0 || *ret < 0)
        return kobj_fail(st, 400, "BadRequest", "invalid resource version \"%s\"", s);
    return 0;
}

typedef struct page {
    json_t *items;
    int64_t rev;
    char *last_key;
    bool more;
    int64_t remaining;
} page;

static int scan(kobj_api *api, const kobj_req *req, const char *prefix, const char *start,
                int64_t at_rev, int64_t limit, const ksel *ls, const ksel *fs, page *pg,
                kobj_status *st)
{
    size_t batch = limit > 0 ? (size_t)limit : 0;
    _cleanup_free_ char *cursor = start ? dd_strdup(start) : NULL;
    for (;;) {
        kst_list l;
        dd_err e = {0};
        int r = kst_list_prefix(api->store, prefix, cursor, at_rev, batch, &l, &e);
        if (r < 0)
            return kobj_store_fail(st, &e, r);
        pg->rev = l.rev;
        at_rev = l.rev; /* later batches read the same revision */
        for (size_t i = 0; i < l.n; i++) {
            json_t *o = kobj_from_kv(req->res, &l.items[i]);
            if (o && (!req->name || dd_streq(kobj_meta_str(o, "name"), req->name)) &&
                kobj_matches(req->res, o, ls, fs))
                json_array_append_new(pg->items, o);
            else
                json_decref(o);
            free(pg->last_key);
            pg->last_key = dd_strdup(l.items[i].key);
            if (limit > 0 && (int64_t)json_array_size(pg->items) >= limit &&
                (i + 1 < l.n || l.more)) {
                pg->more = true;
                pg->remaining =
                    ksel_empty(ls) && ksel_empty(fs) ? l.remaining + (int64_t)(l.n - i - 1) : -1;
                kst_list_release(&l);
                return 0;
            }
        }
        bool more = l.more;
        kst_list_release(&l);
        if (!more)
            return 0;
        free(cursor);
        cursor = dd_strdup(pg->last_key);
    }
}

int kobj_list(kobj_api *api, const kobj_req *req, const kobj_list_opts *opts, json_t **ret,
              kobj_status *st)
{
    kobj_list_opts none = {0};
    if (!opts)
        opts = &none;
    _cleanup_ksel_ ksel *ls = NULL;
    _cleanup_ksel_ ksel *fs = NULL;
    dd_err e = {0};
    if (ksel_parse_labels(opts->label_selector, &ls, &e) < 0)
        return kobj_fail(st, 400, "BadRequest", "%s", e.msg);
    int r = kobj_field_selector(req->res, opts->field_selector, &fs, st);
    if (r < 0)
        return r;
    _cleanup_free_ char *prefix = kobj_prefix(req->res, req->ns);
    _cleanup_free_ char *start = NULL;
    int64_t at_rev = 0;
    if (opts->continue_token && *opts->continue_token)
        r = decode_continue(opts->continue_token, prefix, &at_rev, &start, st);
    else
        r = parse_rv(opts->resource_version, &at_rev, st);
    /* resourceVersion N without a continue token means "not older than N": the newest state
     * always qualifies, and N may already be compacted */
    if (!start)
        at_rev = 0;
    if (r < 0)
        return r;
    page pg = {.items = json_array()};
    r = scan(api, req, prefix, start, at_rev, opts->limit, ls, fs, &pg, st);
    if (r < 0) {
        json_decref(pg.items);
        free(pg.last_key);
        return r;
    }
    char av[256], rv[32];
    kres_api_version(req->res, av, sizeof(av));
    snprintf(rv, sizeof(rv), "%lld", (long long)pg.rev);
    json_t *meta = json_pack("{s:s}", "resourceVersion", rv);
    if (pg.more) {
        _cleanup_free_ char *token = encode_continue(pg.rev, pg.last_key, prefix);
        json_object_set_new(meta, "continue", json_string(token));
        if (pg.remaining > 0)
            jx_set_int(meta, "remainingItemCount", pg.remaining);
    }
    *ret = json_pack("{s:s,s:s,s:o,s:o}", "apiVersion", av, "kind", req->res->list_kind, "metadata",
                     meta, "items", pg.items);
    free(pg.last_key);
    return 0;
}
