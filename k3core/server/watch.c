/* watch.c: `?watch=true` as a chunked stream of JSON lines {"type":…,"object":…}, one flush per
 * event. kobj_ delivers the events (initial ADDED, replayed history, live changes, DELETED when
 * an object leaves the selector, BOOKMARKs); this file frames them, converts objects to one-row
 * Tables for `kubectl get -w`, sends periodic bookmarks when allowed, ends the stream after
 * timeoutSeconds (default 30 minutes, as upstream's request timeout), and tears down when the
 * client leaves. A too-old resourceVersion becomes an ERROR event carrying a 410 Expired Status.
 */
#include <stdio.h>

#include "k3core/server/server-internal.h"

#define DEFAULT_TIMEOUT_S 1800
#define BOOKMARK_EVERY_MS 30000

struct kwatch {
    struct ksrv *s;
    http_req *req;
    kobj_watch *w;
    ev_timer *timeout, *bookmarks;
    char *group, *version, *resource, *table_version, *include;
    bool started, finished;
};

static void kwatch_free(void *data)
{
    struct kwatch *kw = data;
    free(kw->group);
    free(kw->version);
    free(kw->resource);
    free(kw->table_version);
    free(kw->include);
    free(kw);
}

/* Stops everything and finishes the request once; the struct is freed on the next loop turn. */
static void kwatch_finish(struct kwatch *kw)
{
    if (kw->finished)
        return;
    kw->finished = true;
    kobj_watch_stop(kw->w);
    kw->w = NULL;
    ev_timer_del(kw->timeout);
    ev_timer_del(kw->bookmarks);
    kw->timeout = kw->bookmarks = NULL;
    if (kw->started)
        http_stream_end(kw->req);
    else
        http_req_abort(kw->req);
    ev_defer(kw->s->loop, kwatch_free, kw);
}

static void start_stream(struct kwatch *kw)
{
    if (kw->started)
        return;
    kw->started = true;
    char ct[96] = "application/json";
    if (kw->table_version)
        snprintf(ct, sizeof(ct), "application/json;as=Table;v=%s;g=meta.k8s.io", kw->table_version);
    http_stream_start(kw->req, 200, ct);
}

static void on_event(void *data, const char *type, json_t *object)
{
    struct kwatch *kw = data;
    if (kw->finished)
        return;
    start_stream(kw);
    json_t *obj = json_incref(object);
    bool plain = !strcmp(type, "BOOKMARK") || !strcmp(type, "ERROR");
    const kres_resource *r = kres_lookup(kw->group, kw->version, kw->resource);
    if (kw->table_version && !plain && r) {
        json_decref(obj);
        obj = ksrv_table(r, object, kw->table_version, kw->include, false);
    }
    json_t *ev = json_pack("{s:s, s:o}", "type", type, "object", obj);
    _cleanup_free_ char *line = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    size_t n = strlen(line);
    line[n] = '\n';
    int r2 = http_stream_write(kw->req, line, n + 1);
    line[n] = '\0';
    if (r2 < 0) {
        /* The client is gone or stopped reading: ending the stream from inside kobj's callback is
         * allowed (kobj_watch_stop is safe here). */
        kwatch_finish(kw);
    }
}

static void on_timeout(ev_timer *t, void *data)
{
    kwatch_finish(data);
}

static void on_bookmark(ev_timer *t, void *data)
{
    struct kwatch *kw = data;
    if (kw->w)
        kobj_watch_bookmark(kw->w);
}

static void on_close(http_req *req, void *data)
{
    kwatch_finish(data);
}

static int64_t timeout_seconds(http_req *req)
{
    int64_t t = 0;
    const char *v = http_req_query(req, "timeoutSeconds");
    if (!v || dd_parse_int64(v, &t) < 0 || t <= 0)
        return DEFAULT_TIMEOUT_S;
    return t;
}

int ksrv_watch(struct ksrv *s, http_req *req, const kobj_req *kr, const char *table_version)
{
    struct kwatch *kw = dd_calloc(1, sizeof(*kw));
    *kw = (struct kwatch){.s = s,
                          .req = req,
                          .group = dd_strdup(kr->res->group),
                          .version = dd_strdup(kr->res->version),
                          .resource = dd_strdup(kr->res->resource),
                          .table_version = table_version ? dd_strdup(table_version) : NULL,
                          .include = http_req_query(req, "includeObject")
                                         ? dd_strdup(http_req_query(req, "includeObject"))
                                         : NULL};
    kobj_watch_opts o = {.label_selector = http_req_query(req, "labelSelector"),
                         .field_selector = http_req_query(req, "fieldSelector"),
                         .resource_version = http_req_query(req, "resourceVersion"),
                         .allow_bookmarks = ksrv_query_bool(req, "allowWatchBookmarks", false),
                         .send_initial_events = ksrv_query_bool(req, "sendInitialEvents", false)};
    kobj_status st = {0};
    http_req_on_close(req, on_close, kw);
    if (kobj_watch_start(s->api, kr, &o, on_event, kw, &kw->w, &st) < 0) {
        if (st.code == 410 || kw->started) {
            json_t *status = kobj_status_json(&st);
            on_event(kw, "ERROR", status);
            json_decref(status);
            kwatch_finish(kw);
        } else if (!kw->finished) {
            kw->finished = true;
            ksrv_reply_status(req, &st);
            ev_defer(s->loop, kwatch_free, kw);
        }
        kobj_status_release(&st);
        return -1;
    }
    if (kw->finished)
        return 0;
    start_stream(kw);
    kw->timeout = ev_timer_add(s->loop, (uint64_t)timeout_seconds(req) * 1000, 0, on_timeout, kw);
    if (o.allow_bookmarks)
        kw->bookmarks =
            ev_timer_add(s->loop, BOOKMARK_EVERY_MS, BOOKMARK_EVERY_MS, on_bookmark, kw);
    return 0;
}
