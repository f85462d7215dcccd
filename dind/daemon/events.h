/* events: the daemon's event bus. Prefix: events_.
 *
 * Every module of dindd reports what happened with events_emit() (containers: create, attach,
 * start, die, stop, kill, destroy, rename, restart, pause, unpause, resize, oom, exec_create,
 * exec_start, exec_die; images: pull, load, tag, untag, delete, import, save; networks and
 * volumes alike). The bus keeps the last EVENTS_RING_SIZE events in memory (so `GET /events` with
 * a `since` in the past replays them) and hands each new event to every subscriber at once.
 * Events are Docker's JSON messages:
 *     {"status":"die","id":"<id>","from":"busybox","Type":"container","Action":"die",
 *      "Actor":{"ID":"<id>","Attributes":{"exitCode":"0","image":"busybox","name":"web"}},
 *      "scope":"local","time":1795374931,"timeNano":1795374931684493079}
 * ("status", "id" and "from" are the pre-1.22 fields; only container and image events carry
 * them). The bus lives for the whole process and runs on the event-loop thread only.
 */
#ifndef DINDD_EVENTS_H
#define DINDD_EVENTS_H

#include <jansson.h>

#include "dind/base.h"

#define EVENTS_RING_SIZE 1024

struct container;

/* Emits one event. type: "container", "image", "network", "volume", "daemon"; attributes: a
 * JSON object of string values, stolen (NULL = none). Never fails. */
void events_emit(const char *type, const char *action, const char *id, json_t *attributes);

/* A container event: adds the container's image, name (without '/') and labels to the
 * attributes (extra: stolen, may be NULL, e.g. {"exitCode":"0"} or {"signal":"15"}). */
void events_emit_container(const struct container *c, const char *action, json_t *extra);

/* ---- subscribers (GET /events) ---- */

/* Called for every event after subscription, with the event message (borrowed). */
typedef void (*events_fn)(const json_t *event, void *data);
struct events_sub;
struct events_sub *events_subscribe(events_fn fn, void *data);
void events_unsubscribe(struct events_sub *s); /* NULL-safe; fine inside fn */

/* Calls fn for every event still in the ring whose timeNano is in [since_ns, until_ns]
 * (until_ns 0 = no bound), oldest first. */
void events_replay(int64_t since_ns, int64_t until_ns, events_fn fn, void *data);

/* Releases the ring (at daemon exit, for leak checkers); subscribers unsubscribe themselves. */
void events_shutdown(void);

#endif
