/* events: the daemon-wide event bus (a bounded ring of recent events plus live subscribers).
 *
 * Producers call events_emit() from anywhere on the loop thread; the message is built once,
 * stored in the ring (the oldest falls out after EVENTS_RING_SIZE) and handed to each
 * subscriber synchronously. Subscribers must not block: the /events endpoint (events-api.c)
 * queues the bytes on its connection, which has its own backpressure. This file knows nothing
 * of HTTP or filters.
 */
#include <stdio.h>

#include "container.h"
#include "dind/json.h"
#include "events.h"

struct events_sub {
    struct events_sub *next;
    events_fn fn;
    void *data;
    bool dead;
};

static json_t *ring[EVENTS_RING_SIZE];
static size_t ring_head, ring_len; /* ring_head: index of the oldest */
static struct events_sub *subs;
static int dispatching;
static int64_t last_ns;

static void ring_push(json_t *ev)
{
    size_t idx = (ring_head + ring_len) % EVENTS_RING_SIZE;
    if (ring_len == EVENTS_RING_SIZE) {
        json_decref(ring[ring_head]);
        ring[ring_head] = ev;
        ring_head = (ring_head + 1) % EVENTS_RING_SIZE;
    } else {
        ring[idx] = ev;
        ring_len++;
    }
}

static void subs_sweep(void)
{
    struct events_sub **pp = &subs;
    while (*pp) {
        struct events_sub *s = *pp;
        if (s->dead) {
            *pp = s->next;
            free(s);
        } else {
            pp = &s->next;
        }
    }
}

/* Strictly increasing timestamps keep since/until replays exact. */
static int64_t event_time(void)
{
    int64_t now = dd_now_ns();
    if (now <= last_ns)
        now = last_ns + 1;
    return last_ns = now;
}

void events_emit(const char *type, const char *action, const char *id, json_t *attributes)
{
    json_t *ev = json_object();
    int64_t ns = event_time();
    bool legacy = dd_streq(type, "container") || dd_streq(type, "image");
    json_t *from = attributes ? json_object_get(attributes, "image") : NULL;
    if (legacy) {
        jx_set_str(ev, "status", action);
        jx_set_str(ev, "id", id);
        if (from && dd_streq(type, "container"))
            json_object_set(ev, "from", from);
    }
    jx_set_str(ev, "Type", type);
    jx_set_str(ev, "Action", action);
    json_t *actor = json_object();
    jx_set_str(actor, "ID", id);
    jx_set_new(actor, "Attributes", attributes ? attributes : json_object());
    jx_set_new(ev, "Actor", actor);
    jx_set_str(ev, "scope", "local");
    jx_set_int(ev, "time", ns / 1000000000);
    jx_set_int(ev, "timeNano", ns);
    ring_push(ev);
    dispatching++;
    for (struct events_sub *s = subs; s; s = s->next)
        if (!s->dead)
            s->fn(ev, s->data);
    dispatching--;
    if (!dispatching)
        subs_sweep();
}

void events_emit_container(const struct container *c, const char *action, json_t *extra)
{
    json_t *attrs = json_object();
    json_t *labels = json_object_get(c->config, "Labels");
    const char *key;
    json_t *v;
    if (json_is_object(labels))
        json_object_foreach(labels, key, v) json_object_set(attrs, key, v);
    if (extra)
        json_object_update(attrs, extra);
    json_decref(extra);
    jx_set_str(attrs, "image", c->image);
    jx_set_str(attrs, "name", c->name + 1);
    events_emit("container", action, c->id, attrs);
}

struct events_sub *events_subscribe(events_fn fn, void *data)
{
    struct events_sub *s = dd_calloc(1, sizeof(*s));
    s->fn = fn;
    s->data = data;
    s->next = subs;
    subs = s;
    return s;
}

void events_unsubscribe(struct events_sub *s)
{
    if (!s)
        return;
    s->dead = true;
    if (!dispatching)
        subs_sweep();
}

void events_replay(int64_t since_ns, int64_t until_ns, events_fn fn, void *data)
{
    for (size_t i = 0; i < ring_len; i++) {
        json_t *ev = ring[(ring_head + i) % EVENTS_RING_SIZE];
        int64_t t = json_integer_value(json_object_get(ev, "timeNano"));
        if (t < since_ns || (until_ns && t > until_ns))
            continue;
        fn(ev, data);
    }
}

void events_shutdown(void)
{
    /* Subscribers stay: their streams unsubscribe when the server tears the connections down,
     * which happens after the areas are finalised. */
    for (size_t i = 0; i < ring_len; i++)
        json_decref(ring[(ring_head + i) % EVENTS_RING_SIZE]);
    ring_len = ring_head = 0;
}
