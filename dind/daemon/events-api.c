/* events-api: GET /events. Replays matching events from the bus's ring (since/until), then
 * streams new ones as chunked JSON lines until `until` passes or the client leaves. Filters:
 * type, event (Action), container (id or name), image, label, network, volume, daemon. A slow
 * client's stream is dropped once it exceeds the connection's hard buffer cap rather than
 * growing without bound.
 */
#include <stdio.h>

#include "dind/daemon/daemon.h"
#include "dind/json.h"
#include "events.h"
#include "filters.h"
#include "handlers.h"
#include "streams.h"

struct evstream {
    http_req *req;
    struct events_sub *sub;
    ev_timer *until_timer;
    struct flt f;
    int64_t until;
    bool done;
};

static bool any_eq(char *const *vals, const char *s)
{
    if (!vals || !vals[0])
        return true;
    for (size_t i = 0; s && vals[i]; i++)
        if (dd_streq(vals[i], s) || (strlen(vals[i]) >= 12 && dd_startswith(s, vals[i])))
            return true;
    return false;
}

static bool event_match(const struct flt *f, const json_t *ev)
{
    const char *type = json_string_value(json_object_get(ev, "Type"));
    const char *action = json_string_value(json_object_get(ev, "Action"));
    json_t *actor = json_object_get(ev, "Actor");
    json_t *attrs = json_object_get(actor, "Attributes");
    const char *id = json_string_value(json_object_get(actor, "ID"));
    const char *name = json_string_value(json_object_get(attrs, "name"));
    if (!any_eq(flt_get(f, "type"), type))
        return false;
    char *const *ev_f = flt_get(f, "event");
    if (ev_f && ev_f[0] && !any_eq(ev_f, action)) {
        /* "exec_start: sh" style actions match on their prefix */
        bool m = false;
        for (size_t i = 0; ev_f[i] && action; i++)
            m = m || (dd_startswith(action, ev_f[i]) && action[strlen(ev_f[i])] == ':');
        if (!m)
            return false;
    }
    static const char *const scoped[] = {"container", "image", "network", "volume", "daemon"};
    for (size_t i = 0; i < DD_ARRAY_SIZE(scoped); i++) {
        char *const *v = flt_get(f, scoped[i]);
        if (!v || !v[0])
            continue;
        bool own_type = dd_streq(type, scoped[i]);
        const char *img = json_string_value(json_object_get(attrs, "image"));
        if (dd_streq(scoped[i], "image") && !own_type) {
            if (!any_eq(v, img))
                return false;
            continue;
        }
        if (!own_type || (!any_eq(v, id) && !any_eq(v, name)))
            return false;
    }
    char *const *labels = flt_get(f, "label");
    for (size_t i = 0; labels && labels[i]; i++)
        if (!flt_label_match(attrs, labels[i]))
            return false;
    return true;
}

static void es_end(struct evstream *s)
{
    if (s->done)
        return;
    s->done = true;
    events_unsubscribe(s->sub);
    ev_timer_del(s->until_timer);
    flt_release(&s->f);
    http_stream_end(s->req);
    free(s);
}

static void send_event(const json_t *ev, void *data)
{
    struct evstream *s = data;
    if (s->done || !event_match(&s->f, ev))
        return;
    if (s->until && json_integer_value(json_object_get(ev, "timeNano")) > s->until)
        return;
    char *text = jx_dump(ev);
    size_t n = strlen(text);
    text = dd_realloc(text, n + 2);
    text[n] = '\n';
    http_stream_write(s->req, text, n + 1);
    free(text);
}

static void on_until(ev_timer *t, void *data)
{
    es_end(data);
}

static void on_gone(http_req *req, void *data)
{
    es_end(data);
}

static const char *const event_filters[] = {"type",    "event",   "container", "image",  "label",
                                            "network", "volume",  "daemon",    "scope",  "node",
                                            "plugin",  "service", "config",    "secret", NULL};

void events_h_events(http_req *req)
{
    struct evstream *s = dd_calloc(1, sizeof(*s));
    dd_err e = {0};
    int64_t since = 0;
    s->req = req;
    if (stream_parse_time(http_req_query(req, "since"), &since, &e) < 0 ||
        stream_parse_time(http_req_query(req, "until"), &s->until, &e) < 0 ||
        flt_parse(http_req_query(req, "filters"), event_filters, &s->f, &e) < 0) {
        flt_release(&s->f);
        free(s);
        dindd_reply_err(req, &e);
        return;
    }
    http_stream_start(req, 200, "application/json");
    http_req_on_close(req, on_gone, s);
    if (http_req_query(req, "since"))
        events_replay(since, s->until, send_event, s);
    int64_t now = dd_now_ns();
    if (s->until && s->until <= now) {
        es_end(s);
        return;
    }
    s->sub = events_subscribe(send_event, s);
    if (s->until)
        s->until_timer = ev_timer_add(dindd_from_req(req)->loop,
                                      (uint64_t)((s->until - now) / 1000000) + 1, 0, on_until, s);
}

static const http_route routes[] = {
    {"GET", "/events", events_h_events},
};

const dindd_area dindd_area_events = {
    .name = "events",
    .routes = routes,
    .nroutes = DD_ARRAY_SIZE(routes),
};
