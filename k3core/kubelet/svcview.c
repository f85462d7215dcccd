/* svcview.c: the node's cluster-wide view of Services and EndpointSlices, for the node add-ons
 * (service proxy, cluster DNS). In-process (`k3core server`) two kobj_ watches deliver every
 * change with its object; for `k3core agent` the remote watches only say "services (or slices)
 * changed" and the view lists that resource again, cluster-wide. Either way the view keeps
 * trimmed copies — a Service's metadata name/namespace and spec; an EndpointSlice's metadata
 * name/namespace and its kubernetes.io/service-name label, addressType, ports and per endpoint
 * addresses, conditions, hostname, nodeName and targetRef — because every node holds them and the
 * agent's memory counts. Subscribers are called after changes, coalesced on a short timer, never
 * from inside a watch callback. The view never writes to the API.
 */
#include <stdio.h>

#include "k3core/kubelet/kubelet-internal.h"

#define NOTIFY_DELAY_MS 20
#define RELIST_RETRY_MS 2000

struct ksvc_sub {
    ksvc_changed_fn fn;
    void *ud;
};

struct ksvc_view {
    kubelet *k;
    json_t *services, *slices;             /* "ns/name" -> trimmed object */
    kobj_watch *svc_watch, *slice_watch;   /* in-process */
    void *rsvc_watch, *rslice_watch;       /* remote */
    bool relist_svc, relist_slices, dirty; /* remote: list again; subscribers owe a call */
    bool list_failed;                      /* remote: the last list failed (warned) */
    ev_timer *timer;
    struct ksvc_sub *subs;
    size_t n_subs;
};

static json_t *pick(const json_t *from, const char *const *keys)
{
    json_t *o = json_object();
    for (size_t i = 0; keys[i]; i++) {
        json_t *v = json_object_get(from, keys[i]);
        if (v)
            json_object_set_new(o, keys[i], json_deep_copy(v));
    }
    return o;
}

static json_t *trim_meta(const json_t *meta, bool service_name)
{
    static const char *const keys[] = {"name", "namespace", NULL};
    json_t *m = pick(meta, keys);
    const json_t *sn = json_object_get(json_object_get(meta, "labels"), SVC_NAME_LABEL);
    if (service_name && json_is_string(sn))
        json_object_set_new(m, "labels", json_pack("{s:O}", SVC_NAME_LABEL, sn));
    return m;
}

json_t *ksvc_trim_service(const json_t *svc)
{
    const json_t *spec = json_object_get(svc, "spec");
    return json_pack("{s:o,s:o}", "metadata", trim_meta(json_object_get(svc, "metadata"), false),
                     "spec", spec ? json_deep_copy(spec) : json_object());
}

json_t *ksvc_trim_slice(const json_t *slice)
{
    static const char *const ep_keys[] = {"addresses", "conditions", "hostname", "nodeName", NULL};
    static const char *const ref_keys[] = {"kind", "namespace", "name", NULL};
    json_t *eps = json_array();
    size_t i;
    json_t *ep;
    json_array_foreach(json_object_get(slice, "endpoints"), i, ep)
    {
        json_t *t = pick(ep, ep_keys);
        const json_t *ref = json_object_get(ep, "targetRef");
        if (ref)
            json_object_set_new(t, "targetRef", pick(ref, ref_keys));
        json_array_append_new(eps, t);
    }
    const json_t *ports = json_object_get(slice, "ports");
    const json_t *at = json_object_get(slice, "addressType");
    json_t *o =
        json_pack("{s:o,s:o,s:o}", "metadata", trim_meta(json_object_get(slice, "metadata"), true),
                  "endpoints", eps, "ports", ports ? json_deep_copy(ports) : json_array());
    if (json_is_string(at))
        json_object_set(o, "addressType", (json_t *)at);
    return o;
}

static char *key_of(const json_t *obj)
{
    const json_t *meta = json_object_get(obj, "metadata");
    const char *ns = kl_str(meta, "namespace", NULL), *name = kl_str(meta, "name", NULL);
    return ns && name ? dd_asprintf("%s/%s", ns, name) : NULL;
}

static void on_timer(ev_timer *t, void *data);

static void schedule(ksvc_view *v, uint64_t after_ms)
{
    if (!v->k->stopping)
        ev_timer_reset(v->timer, after_ms);
}

static void changed(ksvc_view *v)
{
    if (!v->dirty) {
        v->dirty = true;
        schedule(v, NOTIFY_DELAY_MS);
    }
}

static void apply_event(ksvc_view *v, json_t *map, const char *type, const json_t *obj,
                        json_t *(*trim)(const json_t *))
{
    _cleanup_free_ char *key = key_of(obj);
    if (!key)
        return;
    if (dd_streq(type, "DELETED"))
        json_object_del(map, key);
    else if (dd_streq(type, "ADDED") || dd_streq(type, "MODIFIED"))
        json_object_set_new(map, key, trim(obj));
    else
        return;
    changed(v);
}

static void on_svc_event(void *ud, const char *type, json_t *obj)
{
    ksvc_view *v = ud;
    apply_event(v, v->services, type, obj, ksvc_trim_service);
}

static void on_slice_event(void *ud, const char *type, json_t *obj)
{
    ksvc_view *v = ud;
    apply_event(v, v->slices, type, obj, ksvc_trim_slice);
}

/* Remote: replaces *map with the trimmed items of a cluster-wide list; false when it failed. */
static bool relist(ksvc_view *v, const char *group, const char *resource, json_t **map,
                   json_t *(*trim)(const json_t *))
{
    kobj_req req = {.res = kl_res(group, resource)};
    kobj_list_opts o = {0};
    kobj_status st = {0};
    json_t *list = NULL;
    if (kl_api_list(v->k, &req, &o, &list, &st) < 0) {
        if (!v->list_failed) /* retried every 2 s: said once per outage */
            dd_warn("kubelet: listing %s: %s", resource, st.message);
        v->list_failed = true;
        kobj_status_release(&st);
        return false;
    }
    v->list_failed = false;
    kobj_status_release(&st);
    json_t *m = json_object();
    size_t i;
    json_t *obj;
    json_array_foreach(json_object_get(list, "items"), i, obj)
    {
        _cleanup_free_ char *key = key_of(obj);
        if (key)
            json_object_set_new(m, key, trim(obj));
    }
    json_decref(list);
    if (!json_equal(m, *map))
        changed(v);
    json_decref(*map);
    *map = m;
    return true;
}

static void on_timer(ev_timer *t, void *data)
{
    (void)t;
    ksvc_view *v = data;
    if (v->relist_svc && relist(v, "", "services", &v->services, ksvc_trim_service))
        v->relist_svc = false;
    if (v->relist_slices &&
        relist(v, "discovery.k8s.io", "endpointslices", &v->slices, ksvc_trim_slice))
        v->relist_slices = false;
    if (v->relist_svc || v->relist_slices)
        schedule(v, RELIST_RETRY_MS);
    if (!v->dirty || v->k->stopping)
        return;
    v->dirty = false;
    dd_debug("kubelet: service view: %zu services, %zu endpointslices",
             json_object_size(v->services), json_object_size(v->slices));
    /* a subscriber may subscribe another: index, not pointer */
    for (size_t i = 0; i < v->n_subs; i++)
        v->subs[i].fn(v->subs[i].ud);
}

static void on_remote_svc(void *ud)
{
    ksvc_view *v = ud;
    v->relist_svc = true;
    schedule(v, NOTIFY_DELAY_MS);
}

static void on_remote_slices(void *ud)
{
    ksvc_view *v = ud;
    v->relist_slices = true;
    schedule(v, NOTIFY_DELAY_MS);
}

static int start_remote(ksvc_view *v, dd_err *e)
{
    const struct kubelet_remote *rm = v->k->remote;
    v->relist_svc = v->relist_slices = true;
    on_timer(v->timer, v); /* the first state now; a failure is retried */
    if (!rm->watch)
        return 0;
    int r = rm->watch(rm->ud, kl_res("", "services"), NULL, on_remote_svc, v, &v->rsvc_watch, e);
    if (r >= 0)
        r = rm->watch(rm->ud, kl_res("discovery.k8s.io", "endpointslices"), NULL, on_remote_slices,
                      v, &v->rslice_watch, e);
    return r;
}

static int start_local(ksvc_view *v, dd_err *e)
{
    kobj_req sreq = {.res = kl_res("", "services")};
    kobj_req ereq = {.res = kl_res("discovery.k8s.io", "endpointslices")};
    kobj_watch_opts o = {0}; /* current objects first, as ADDED */
    kobj_status st = {0};
    int r = kobj_watch_start(v->k->api, &sreq, &o, on_svc_event, v, &v->svc_watch, &st);
    if (r >= 0)
        r = kobj_watch_start(v->k->api, &ereq, &o, on_slice_event, v, &v->slice_watch, &st);
    if (r < 0)
        dd_err_set(e, -r, "%s", st.message);
    kobj_status_release(&st);
    return r;
}

int kl_svcview_start(kubelet *k, dd_err *e)
{
    ksvc_view *v = dd_calloc(1, sizeof(*v));
    v->k = k;
    v->services = json_object();
    v->slices = json_object();
    v->timer = ev_timer_add(k->loop, 0, 0, on_timer, v);
    ev_timer_stop(v->timer);
    int r = k->remote ? start_remote(v, e) : start_local(v, e);
    if (r < 0) {
        kl_svcview_stop(v);
        return dd_err_wrap(e, "watching services and endpointslices");
    }
    k->svcview = v;
    return 0;
}

void kl_svcview_stop(ksvc_view *v)
{
    if (!v)
        return;
    kobj_watch_stop(v->svc_watch);
    kobj_watch_stop(v->slice_watch);
    const struct kubelet_remote *rm = v->k->remote;
    if (rm && rm->unwatch) {
        if (v->rsvc_watch)
            rm->unwatch(v->rsvc_watch);
        if (v->rslice_watch)
            rm->unwatch(v->rslice_watch);
    }
    ev_timer_del(v->timer);
    json_decref(v->services);
    json_decref(v->slices);
    free(v->subs);
    free(v);
}

ksvc_view *kl_service_view(kubelet *k)
{
    return k ? k->svcview : NULL;
}

const json_t *ksvc_services(const ksvc_view *v)
{
    return v->services;
}

const json_t *ksvc_slices(const ksvc_view *v)
{
    return v->slices;
}

void ksvc_subscribe(ksvc_view *v, ksvc_changed_fn fn, void *ud)
{
    v->subs = dd_realloc(v->subs, (v->n_subs + 1) * sizeof(*v->subs));
    v->subs[v->n_subs++] = (struct ksvc_sub){fn, ud};
}

void ksvc_unsubscribe(ksvc_view *v, ksvc_changed_fn fn, void *ud)
{
    for (size_t i = 0; v && i < v->n_subs; i++)
        if (v->subs[i].fn == fn && v->subs[i].ud == ud) {
            memmove(&v->subs[i], &v->subs[i + 1], (v->n_subs - i - 1) * sizeof(*v->subs));
            v->n_subs--;
            return;
        }
}
