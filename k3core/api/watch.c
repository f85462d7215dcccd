/* watch: object watches on top of the store's prefix watches. Translates store events into
 * ADDED/MODIFIED/DELETED with upstream's selector semantics (an object entering the selection is
 * ADDED, one leaving it is DELETED), sends current objects first when no resourceVersion is
 * given (and the initial-events-end BOOKMARK for sendInitialEvents), and bookmarks on request.
 */
#include <stdio.h>

#include "k3core/api/objects-internal.h"

struct kobj_watch {
    kobj_api *api;
    /* a private copy of the table entry: a CRD's entry goes away when the CRD is deleted while
     * its watches still receive the DELETED events of its custom resources */
    kres_resource res_copy;
    const kres_resource *res;
    char *name;
    ksel *labels, *fields;
    bool bookmarks;
    kobj_watch_fn fn;
    void *userdata;
    kst_watch *sw;
};

static bool matches(kobj_watch *w, const json_t *o)
{
    if (!o)
        return false;
    if (w->name && !dd_streq(kobj_meta_str(o, "name"), w->name))
        return false;
    return kobj_matches(w->res, o, w->labels, w->fields);
}

static json_t *decode(kobj_watch *w, const kst_kv *kv, int64_t rev)
{
    if (!kv || !kv->value)
        return NULL;
    json_t *o = kobj_from_kv(w->res, kv);
    if (o && rev)
        kobj_set_rv(o, rev);
    return o;
}

static void on_event(void *ud, const kst_event *ev)
{
    kobj_watch *w = ud;
    json_t *now = ev->type == KST_EV_DELETE ? NULL : decode(w, ev->kv, 0);
    /* a deleted object is shown as last stored, with the deletion's revision */
    json_t *before = decode(w, ev->prev, ev->type == KST_EV_DELETE ? ev->kv->mod_rev : 0);
    bool was = matches(w, before), is = matches(w, now);
    if (ev->type == KST_EV_DELETE) {
        if (was)
            w->fn(w->userdata, "DELETED", before);
    } else if (is && !was) {
        w->fn(w->userdata, ev->type == KST_EV_CREATE || !ev->prev ? "ADDED" : "ADDED", now);
    } else if (is && was) {
        w->fn(w->userdata, "MODIFIED", now);
    } else if (was && !is) {
        /* left the selection: DELETED with the new state, as upstream */
        w->fn(w->userdata, "DELETED", now);
    }
    json_decref(now);
    json_decref(before);
}

static void copy_res(kobj_watch *w, const kres_resource *r)
{
    w->res_copy = (kres_resource){
        .group = dd_strdup(r->group),
        .version = dd_strdup(r->version),
        .kind = dd_strdup(r->kind),
        .list_kind = dd_strdup(r->list_kind),
        .resource = dd_strdup(r->resource),
        .singular = dd_strdup(r->singular),
        .flags = r->flags,
        .verbs = r->verbs,
        .schema_name = dd_strdup(r->schema_name ? r->schema_name : ""),
    };
    w->res = &w->res_copy;
}

static void free_watch(kobj_watch *w)
{
    free((char *)w->res_copy.group);
    free((char *)w->res_copy.version);
    free((char *)w->res_copy.kind);
    free((char *)w->res_copy.list_kind);
    free((char *)w->res_copy.resource);
    free((char *)w->res_copy.singular);
    free((char *)w->res_copy.schema_name);
    free(w->name);
    ksel_free(w->labels);
    ksel_free(w->fields);
    free(w);
}

void kobj_watch_stop(kobj_watch *w)
{
    if (!w)
        return;
    kst_watch_cancel(w->sw);
    free_watch(w);
}

static void send_bookmark(kobj_watch *w, bool initial_end)
{
    char av[256];
    kres_api_version(w->res, av, sizeof(av));
    json_t *o = json_pack("{s:s,s:s,s:{}}", "kind", w->res->kind, "apiVersion", av, "metadata");
    kobj_set_rv(o, kobj_current_rv(w->api));
    if (initial_end)
        json_object_set_new(kobj_meta(o), "annotations",
                            json_pack("{s:s}", "k8s.io/initial-events-end", "true"));
    w->fn(w->userdata, "BOOKMARK", o);
    json_decref(o);
}

void kobj_watch_bookmark(kobj_watch *w)
{
    if (w && w->bookmarks)
        send_bookmark(w, false);
}

/* Current objects as ADDED; returns the list's revision. */
static int initial_events(kobj_watch *w, const kobj_req *req, int64_t *ret_rev, kobj_status *st)
{
    json_t *list;
    kobj_req lr = *req;
    lr.name = NULL;
    int r = kobj_list(w->api, &lr, NULL, &list, st);
    if (r < 0)
        return r;
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(list, "items"), i, o) if (matches(w, o))
        w->fn(w->userdata, "ADDED", o);
    dd_parse_int64(kobj_meta_str(list, "resourceVersion"), ret_rev);
    json_decref(list);
    return 0;
}

static int start(kobj_watch *w, const kobj_req *req, const kobj_watch_opts *opts, kobj_status *st)
{
    const char *rv = opts->resource_version;
    int64_t from = 0;
    int r;
    if (opts->send_initial_events && !opts->allow_bookmarks)
        return kobj_fail(st, 422, "Invalid",
                         "ListOptions.meta.k8s.io \"\" is invalid: "
                         "allowWatchBookmarks: Forbidden: sendInitialEvents "
                         "requires setting allowWatchBookmarks to true");
    if (opts->send_initial_events || !rv || !*rv || strcmp(rv, "0") == 0) {
        r = initial_events(w, req, &from, st);
        if (r < 0)
            return r;
    } else if (dd_parse_int64(rv, &from) < 0 || from < 0) {
        return kobj_fail(st, 400, "BadRequest", "invalid resource version \"%s\"", rv);
    }
    if (opts->send_initial_events)
        send_bookmark(w, true);
    _cleanup_free_ char *prefix = kobj_prefix(req->res, req->ns);
    dd_err e = {0};
    if (from == 0)
        from = kobj_current_rv(w->api);
    r = kst_watch_prefix(w->api->store, prefix, from, on_event, w, &w->sw, &e);
    if (r == -ERANGE)
        return kobj_fail(st, 410, "Expired", "%s", e.msg);
    if (r < 0)
        return kobj_internal(st, &e);
    return 0;
}

int kobj_watch_start(kobj_api *api, const kobj_req *req, const kobj_watch_opts *opts,
                     kobj_watch_fn fn, void *userdata, kobj_watch **ret, kobj_status *st)
{
    kobj_watch_opts none = {0};
    if (!opts)
        opts = &none;
    if (!(req->res->verbs & KRES_WATCH))
        return kobj_fail(st, 405, "MethodNotAllowed",
                         "the server does not allow this method on the requested resource");
    kobj_watch *w = dd_calloc(1, sizeof(*w));
    w->api = api;
    copy_res(w, req->res);
    w->name = req->name ? dd_strdup(req->name) : NULL;
    w->bookmarks = opts->allow_bookmarks;
    w->fn = fn;
    w->userdata = userdata;
    dd_err e = {0};
    int r = ksel_parse_labels(opts->label_selector, &w->labels, &e);
    if (r < 0)
        r = kobj_fail(st, 400, "BadRequest", "%s", e.msg);
    if (r >= 0)
        r = kobj_field_selector(req->res, opts->field_selector, &w->fields, st);
    if (r >= 0)
        r = start(w, req, opts, st);
    if (r < 0) {
        kst_watch_cancel(w->sw);
        free_watch(w);
        return r;
    }
    *ret = w;
    return 0;
}
