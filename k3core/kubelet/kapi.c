/* kapi.c: the kubelet's and scheduler's small helpers over the object layer: get an object,
 * replace a pod's status (no resourceVersion precondition: the kubelet owns pod status), and
 * record core/v1 Events the way upstream's recorder does (name "<object>.<hex>", source
 * component, first/last timestamps). An event identical to a recent one (same object, type,
 * reason and message) bumps that Event's count and lastTimestamp instead of creating another,
 * as upstream's EventCorrelator does, so a probe failing every second does not flood the
 * store. Failures are logged and do not stop the caller.
 * Every call goes through kl_api_*: the in-process object layer, or the remote server of
 * `k3core agent`.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "k3core/kubelet/kubelet-internal.h"

int kl_api_get(kubelet *k, const kobj_req *req, json_t **ret, kobj_status *st)
{
    return k->remote ? k->remote->get(k->remote->ud, req, ret, st) : kobj_get(k->api, req, ret, st);
}

int kl_api_list(kubelet *k, const kobj_req *req, const kobj_list_opts *o, json_t **ret,
                kobj_status *st)
{
    return k->remote ? k->remote->list(k->remote->ud, req, o, ret, st)
                     : kobj_list(k->api, req, o, ret, st);
}

int kl_api_create(kubelet *k, const kobj_req *req, const json_t *body, kobj_result *ret,
                  kobj_status *st)
{
    return k->remote ? k->remote->create(k->remote->ud, req, body, ret, st)
                     : kobj_create(k->api, req, body, ret, st);
}

int kl_api_update(kubelet *k, const kobj_req *req, const json_t *body, kobj_result *ret,
                  kobj_status *st)
{
    return k->remote ? k->remote->update(k->remote->ud, req, body, ret, st)
                     : kobj_update(k->api, req, body, ret, st);
}

int kl_api_delete(kubelet *k, const kobj_req *req, const json_t *opts, kobj_result *ret,
                  kobj_status *st)
{
    return k->remote ? k->remote->del(k->remote->ud, req, opts, ret, st)
                     : kobj_delete(k->api, req, opts, ret, st);
}

const kres_resource *kl_res(const char *group, const char *resource)
{
    return kres_lookup(group, group[0] ? "v1" : "v1", resource);
}

const char *kl_str(const json_t *obj, const char *k1, const char *k2)
{
    const json_t *v = json_object_get(obj, k1);
    if (k2)
        v = json_object_get(v, k2);
    return json_string_value(v);
}

char *kl_now_rfc3339(void)
{
    return kl_rfc3339(dd_now_ns());
}

char *kl_rfc3339(int64_t ns)
{
    time_t t = (time_t)(ns / 1000000000);
    struct tm tm;
    char buf[32];
    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return dd_strdup(buf);
}

json_t *kl_get(kubelet *k, const char *group, const char *res, const char *ns, const char *name)
{
    kobj_req req = {.res = kl_res(group, res), .ns = ns, .name = name};
    kobj_status st = {0};
    json_t *obj = NULL;
    if (!req.res || kl_api_get(k, &req, &obj, &st) < 0)
        obj = NULL;
    kobj_status_release(&st);
    return obj;
}

int kl_put_status(kubelet *k, const char *ns, const char *name, json_t *status)
{
    json_t *cur = kl_get(k, "", "pods", ns, name);
    if (!cur)
        return -ENOENT;
    int r = 0;
    if (!json_equal(json_object_get(cur, "status"), status)) {
        json_object_set(cur, "status", status);
        json_object_del(json_object_get(cur, "metadata"), "resourceVersion");
        kobj_req req = {.res = kl_res("", "pods"),
                        .ns = ns,
                        .name = name,
                        .subresource = "status",
                        .field_manager = "k3core-kubelet"};
        kobj_result res = {0};
        kobj_status st = {0};
        r = kl_api_update(k, &req, cur, &res, &st);
        if (r < 0)
            dd_debug("pod %s/%s status: %s", ns, name, st.message);
        kobj_result_release(&res);
        kobj_status_release(&st);
    }
    json_decref(cur);
    return r;
}

static json_t *event_new(kubelet *k, const json_t *obj, const char *type, const char *reason,
                         const char *msg)
{
    const json_t *meta = json_object_get(obj, "metadata");
    char hex[17];
    dd_random_hex(hex, 8);
    _cleanup_free_ char *name = dd_asprintf("%s.%s", kl_str(meta, "name", NULL), hex);
    _cleanup_free_ char *now = kl_now_rfc3339();
    return json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s,s:s,s:s,s:s},s:s,s:s,s:s,s:{s:s,s:s},"
                     "s:s,s:s,s:i,s:s,s:s}",
                     "apiVersion", "v1", "kind", "Event", "metadata", "name", name, "namespace",
                     kl_str(meta, "namespace", NULL) ?: "default", "involvedObject", "kind",
                     kl_str(obj, "kind", NULL) ?: "Pod", "apiVersion", "v1", "namespace",
                     kl_str(meta, "namespace", NULL) ?: "", "name", kl_str(meta, "name", NULL),
                     "uid", kl_str(meta, "uid", NULL) ?: "", "type", type, "reason", reason,
                     "message", msg, "source", "component",
                     strcmp(reason, "Scheduled") && strcmp(reason, "FailedScheduling")
                         ? "kubelet"
                         : "default-scheduler",
                     "host", k->node_name, "firstTimestamp", now, "lastTimestamp", now, "count", 1,
                     "reportingComponent", "kubelet", "reportingInstance", k->node_name);
}

#define EVENT_CACHE 256

/* A recently recorded Event, for aggregation (a ring: the oldest entry is reused). */
struct kl_event_seen {
    char *key; /* uid \n type \n reason \n message */
    char *ns, *name;
    int count;
};

static struct kl_event_seen *seen_find(kubelet *k, const char *key)
{
    struct kl_event_seen *c = k->events_seen;
    for (size_t i = 0; c && i < EVENT_CACHE; i++)
        if (c[i].key && !strcmp(c[i].key, key))
            return &c[i];
    return NULL;
}

static void seen_add(kubelet *k, const char *key, const json_t *ev)
{
    if (!k->events_seen)
        k->events_seen = dd_calloc(EVENT_CACHE, sizeof(struct kl_event_seen));
    struct kl_event_seen *s = &((struct kl_event_seen *)k->events_seen)[k->events_next];
    k->events_next = (k->events_next + 1) % EVENT_CACHE;
    free(s->key), free(s->ns), free(s->name);
    const json_t *meta = json_object_get(ev, "metadata");
    *s = (struct kl_event_seen){.key = dd_strdup(key),
                                .ns = dd_strdup(kl_str(meta, "namespace", NULL) ?: ""),
                                .name = dd_strdup(kl_str(meta, "name", NULL) ?: ""),
                                .count = 1};
}

void kl_events_free(kubelet *k)
{
    struct kl_event_seen *c = k->events_seen;
    for (size_t i = 0; c && i < EVENT_CACHE; i++)
        free(c[i].key), free(c[i].ns), free(c[i].name);
    free(c);
    k->events_seen = NULL;
}

/* Bumps count and lastTimestamp of the recorded Event; false when it is gone. */
static bool event_bump(kubelet *k, struct kl_event_seen *s)
{
    json_t *ev = kl_get(k, "", "events", s->ns, s->name);
    if (!ev)
        return false;
    _cleanup_free_ char *now = kl_now_rfc3339();
    jx_set_int(ev, "count", ++s->count);
    jx_set_str(ev, "lastTimestamp", now);
    json_object_del(json_object_get(ev, "metadata"), "resourceVersion");
    kobj_req req = {.res = kl_res("", "events"),
                    .ns = s->ns,
                    .name = s->name,
                    .field_manager = "k3core-kubelet"};
    kobj_result res = {0};
    kobj_status st = {0};
    int r = kobj_update(k->api, &req, ev, &res, &st);
    kobj_result_release(&res);
    kobj_status_release(&st);
    json_decref(ev);
    return r >= 0;
}

void kl_event(kubelet *k, const json_t *obj, const char *type, const char *reason, const char *fmt,
              ...)
{
    va_list ap;
    va_start(ap, fmt);
    dd_buf b;
    dd_buf_init(&b);
    dd_buf_vaddf(&b, fmt, ap);
    va_end(ap);
    _cleanup_free_ char *msg = dd_buf_detach(&b, NULL);
    const json_t *meta = json_object_get(obj, "metadata");
    _cleanup_free_ char *key =
        dd_asprintf("%s\n%s\n%s\n%s", kl_str(meta, "uid", NULL) ?: "", type, reason, msg);
    struct kl_event_seen *s = seen_find(k, key);
    if (s && event_bump(k, s))
        return;
    json_t *ev = event_new(k, obj, type, reason, msg);
    if (!ev)
        return;
    kobj_req req = {.res = kl_res("", "events"),
                    .ns = kl_str(json_object_get(ev, "metadata"), "namespace", NULL),
                    .field_manager = "k3core-kubelet"};
    kobj_result res = {0};
    kobj_status st = {0};
    if (kl_api_create(k, &req, ev, &res, &st) < 0)
        dd_debug("event %s: %s", reason, st.message);
    else if (s) { /* the old Event is gone (deleted or expired): follow the new one */
        free(s->name);
        s->name = dd_strdup(kl_str(json_object_get(ev, "metadata"), "name", NULL) ?: "");
        s->count = 1;
    } else {
        seen_add(k, key, ev);
    }
    kobj_result_release(&res);
    kobj_status_release(&st);
    json_decref(ev);
}

/* Keeps lastTransitionTime of conditions whose status did not change. */
void kl_keep_transitions(json_t *conds, const json_t *old)
{
    size_t i, j;
    json_t *c, *o;
    json_array_foreach(conds, i, c)
    {
        json_array_foreach(old, j, o)
        {
            if (dd_streq(kl_str(o, "type", NULL), kl_str(c, "type", NULL)) &&
                dd_streq(kl_str(o, "status", NULL), kl_str(c, "status", NULL)) &&
                json_object_get(o, "lastTransitionTime"))
                json_object_set(c, "lastTransitionTime", json_object_get(o, "lastTransitionTime"));
        }
    }
}
