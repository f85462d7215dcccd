/* endpoints.c: the Endpoints and EndpointSlice controllers for Services with a selector — the
 * pods the selector matches that have an IP give ready or not-ready addresses (pod Ready
 * condition, or every pod with publishNotReadyAddresses), each Service port resolved per pod
 * (a named targetPort through the containers' named ports). Endpoints `<service>` groups
 * addresses by resolved ports into subsets; EndpointSlices (one per port set, IPv4) carry
 * kubernetes.io/service-name and are owned by the Service, so the garbage collector removes
 * them with it; the Endpoints object is deleted here when its Service goes.
 */
#include <stdio.h>
#include <stdlib.h>

#include "k3core/controllers/ctl-internal.h"

#define EP_MANAGED     "endpoints.kubernetes.io/managed-by"
#define EP_MANAGER     "endpoint-controller"
#define SLICE_MANAGED  "endpointslice.kubernetes.io/managed-by"
#define SLICE_MANAGER  "endpointslice-controller.k8s.io"
#define SVC_NAME_LABEL "kubernetes.io/service-name"

static const kres_resource *res(const char *group, const char *resource)
{
    return kres_lookup(group, "v1", resource);
}

static const json_t *svc_selector(const json_t *svc)
{
    const json_t *spec = json_object_get(svc, "spec");
    if (dd_streq(kctl_str(spec, "type", NULL), "ExternalName"))
        return NULL;
    const json_t *sel = json_object_get(spec, "selector");
    return json_object_size(sel) ? sel : NULL;
}

static bool selects(const json_t *svc, const json_t *pod)
{
    const json_t *sel = svc_selector(svc);
    if (!sel || !pod)
        return false;
    const json_t *labels = json_object_get(json_object_get(pod, "metadata"), "labels");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)sel, k, v)
    {
        if (!json_equal(json_object_get(labels, k), v))
            return false;
    }
    return true;
}

/* What of a pod the endpoints show: a change elsewhere (e.g. container restarts) is ignored. */
static json_t *fingerprint(const json_t *pod)
{
    if (!pod)
        return json_null();
    return json_pack("{s:O?,s:O?,s:O?,s:b,s:O?,s:O?,s:O?}", "ip",
                     json_object_get(json_object_get(pod, "status"), "podIP"), "labels",
                     json_object_get(json_object_get(pod, "metadata"), "labels"), "del",
                     json_object_get(json_object_get(pod, "metadata"), "deletionTimestamp"),
                     "ready", kctl_pod_ready(pod), "phase",
                     json_object_get(json_object_get(pod, "status"), "phase"), "node",
                     json_object_get(json_object_get(pod, "spec"), "nodeName"), "containers",
                     json_object_get(json_object_get(pod, "spec"), "containers"));
}

void kctl_endpoints_pod_changed(kctl *c, const json_t *old, const json_t *pod)
{
    json_t *a = fingerprint(old), *b = fingerprint(pod);
    bool same = json_equal(a, b);
    json_decref(a);
    json_decref(b);
    if (same)
        return;
    const char *ns = kctl_ns(pod ? pod : old), *k;
    json_t *svc;
    json_object_foreach(c->cache[KC_SERVICES], k, svc)
    {
        if (dd_streq(kctl_ns(svc), ns) && (selects(svc, old) || selects(svc, pod)))
            kctl_enqueue(c, KC_SERVICES, ns, kctl_name(svc));
    }
}

/* The port a Service port reaches on pod; 0 when a named targetPort is not found. */
static int64_t target_port(const json_t *sp, const json_t *pod)
{
    const json_t *tp = json_object_get(sp, "targetPort");
    if (json_is_integer(tp))
        return json_integer_value(tp);
    const char *name = json_string_value(tp);
    if (!name)
        return kctl_int(sp, "port", NULL, 0);
    const char *proto = kctl_str(sp, "protocol", NULL) ?: "TCP";
    size_t i, j;
    json_t *ct, *p;
    json_array_foreach(json_object_get(json_object_get(pod, "spec"), "containers"), i, ct)
    {
        json_array_foreach(json_object_get(ct, "ports"), j, p)
        {
            if (dd_streq(kctl_str(p, "name", NULL), name) &&
                dd_streq(kctl_str(p, "protocol", NULL) ?: "TCP", proto))
                return kctl_int(p, "containerPort", NULL, 0);
        }
    }
    return 0;
}

static json_t *pod_ports(const json_t *svc, const json_t *pod)
{
    json_t *out = json_array(), *sp;
    size_t i;
    json_array_foreach(json_object_get(json_object_get(svc, "spec"), "ports"), i, sp)
    {
        int64_t port = target_port(sp, pod);
        if (port <= 0)
            continue;
        json_t *p = json_pack("{s:I,s:s}", "port", (json_int_t)port, "protocol",
                              kctl_str(sp, "protocol", NULL) ?: "TCP");
        if (kctl_str(sp, "name", NULL) && *kctl_str(sp, "name", NULL))
            jx_set_str(p, "name", kctl_str(sp, "name", NULL));
        if (kctl_str(sp, "appProtocol", NULL))
            jx_set_str(p, "appProtocol", kctl_str(sp, "appProtocol", NULL));
        json_array_append_new(out, p);
    }
    return out;
}

static int cmp_ip(const void *a, const void *b)
{
    return strcmp(kctl_str(*(json_t *const *)a, "ip", NULL),
                  kctl_str(*(json_t *const *)b, "ip", NULL));
}

static void sort_by_ip(json_t *arr)
{
    size_t n = json_array_size(arr);
    json_t **v = dd_calloc(n + 1, sizeof(json_t *));
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(arr, i));
    qsort(v, n, sizeof(json_t *), cmp_ip);
    json_array_clear(arr);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, v[i]);
    free(v);
}

/* Groups: ports JSON text → {ports, addresses, notReadyAddresses}. */
static json_t *collect(kctl *c, const json_t *svc)
{
    bool all_ready =
        json_is_true(json_object_get(json_object_get(svc, "spec"), "publishNotReadyAddresses"));
    bool want_ports = json_array_size(json_object_get(json_object_get(svc, "spec"), "ports"));
    json_t *groups = json_object(), *pods = kctl_list_ns(c, KC_PODS, kctl_ns(svc)), *pod;
    size_t i;
    json_array_foreach(pods, i, pod)
    {
        const char *ip = kctl_str(json_object_get(pod, "status"), "podIP", NULL);
        if (!selects(svc, pod) || !ip || !*ip || kctl_pod_terminal(pod) ||
            kctl_str(pod, "metadata", "deletionTimestamp"))
            continue;
        json_t *ports = pod_ports(svc, pod);
        if (want_ports && !json_array_size(ports)) {
            json_decref(ports);
            continue;
        }
        _cleanup_free_ char *key = json_dumps(ports, JSON_COMPACT | JSON_SORT_KEYS);
        json_t *g = json_object_get(groups, key);
        if (!g) {
            g = json_pack("{s:O,s:[],s:[]}", "ports", ports, "addresses", "notReadyAddresses");
            json_object_set_new(groups, key, g);
        }
        json_decref(ports);
        json_t *addr = json_pack("{s:s,s:{s:s,s:s,s:s,s:s}}", "ip", ip, "targetRef", "kind", "Pod",
                                 "namespace", kctl_ns(pod), "name", kctl_name(pod), "uid",
                                 kctl_uid(pod) ?: "");
        const char *node = kctl_str(json_object_get(pod, "spec"), "nodeName", NULL);
        if (node)
            jx_set_str(addr, "nodeName", node);
        /* a pod naming this Service as its subdomain is reachable as <hostname>.<svc> in DNS */
        const char *host = kctl_str(json_object_get(pod, "spec"), "hostname", NULL);
        if (host && *host &&
            dd_streq(kctl_str(json_object_get(pod, "spec"), "subdomain", NULL), kctl_name(svc)))
            jx_set_str(addr, "hostname", host);
        bool ready = all_ready || kctl_pod_ready(pod);
        json_array_append_new(json_object_get(g, ready ? "addresses" : "notReadyAddresses"), addr);
    }
    json_decref(pods);
    return groups;
}

static json_t *subsets_of(const json_t *groups)
{
    json_t *subsets = json_array(), *g;
    const char *k;
    json_object_foreach((json_t *)groups, k, g)
    {
        json_t *s = json_object();
        static const char *const lists[] = {"addresses", "notReadyAddresses"};
        for (size_t i = 0; i < 2; i++) {
            json_t *a = json_deep_copy(json_object_get(g, lists[i]));
            sort_by_ip(a);
            if (json_array_size(a))
                json_object_set(s, lists[i], a);
            json_decref(a);
        }
        if (json_array_size(json_object_get(g, "ports")))
            json_object_set(s, "ports", json_object_get(g, "ports"));
        json_array_append_new(subsets, s);
    }
    return subsets;
}

static json_t *labels_for(const json_t *svc, const char *k, const char *v)
{
    json_t *l = json_deep_copy(json_object_get(json_object_get(svc, "metadata"), "labels"));
    if (!json_is_object(l)) {
        json_decref(l);
        l = json_object();
    }
    jx_set_str(l, k, v);
    if (dd_streq(kctl_str(json_object_get(svc, "spec"), "clusterIP", NULL), "None"))
        jx_set_str(l, "service.kubernetes.io/headless", "");
    return l;
}

static int get(kctl *c, const kres_resource *r, const char *ns, const char *name, json_t **ret)
{
    kobj_req req = {.res = r, .ns = ns, .name = name};
    kobj_status st = {0};
    int rc = kobj_get(c->api, &req, ret, &st);
    kobj_status_release(&st);
    return rc;
}

static int sync_endpoints(kctl *c, const json_t *svc, const json_t *groups)
{
    const kres_resource *r = res("", "endpoints");
    json_t *cur = NULL;
    json_t *want = json_pack("{s:s,s:s,s:{s:s,s:s,s:o}}", "apiVersion", "v1", "kind", "Endpoints",
                             "metadata", "name", kctl_name(svc), "namespace", kctl_ns(svc),
                             "labels", labels_for(svc, EP_MANAGED, EP_MANAGER));
    json_t *subsets = subsets_of(groups);
    if (json_array_size(subsets))
        json_object_set(want, "subsets", subsets);
    int rc;
    if (get(c, r, kctl_ns(svc), kctl_name(svc), &cur) < 0) {
        rc = kctl_create(c, r, kctl_ns(svc), want, NULL);
    } else {
        json_t *upd = json_deep_copy(cur);
        json_object_set(json_object_get(upd, "metadata"), "labels",
                        json_object_get(json_object_get(want, "metadata"), "labels"));
        if (json_array_size(subsets))
            json_object_set(upd, "subsets", subsets);
        else
            json_object_del(upd, "subsets");
        rc = json_equal(upd, cur) ? 0 : kctl_update(c, r, upd);
        json_decref(upd);
    }
    json_decref(subsets);
    json_decref(cur);
    json_decref(want);
    return rc;
}

static json_t *slice_endpoints(const json_t *g)
{
    json_t *out = json_array(), *a;
    static const char *const lists[] = {"addresses", "notReadyAddresses"};
    for (size_t l = 0; l < 2; l++) {
        size_t i;
        json_array_foreach(json_object_get(g, lists[l]), i, a)
        {
            json_t *e =
                json_pack("{s:[O],s:{s:b,s:b,s:b},s:O}", "addresses", json_object_get(a, "ip"),
                          "conditions", "ready", l == 0, "serving", l == 0, "terminating", 0,
                          "targetRef", json_object_get(a, "targetRef"));
            if (json_object_get(a, "nodeName"))
                json_object_set(e, "nodeName", json_object_get(a, "nodeName"));
            if (json_object_get(a, "hostname"))
                json_object_set(e, "hostname", json_object_get(a, "hostname"));
            json_array_append_new(out, e);
        }
    }
    return out;
}

static json_t *new_slice(const json_t *svc, const json_t *ports, json_t *endpoints)
{
    _cleanup_free_ char *gen = dd_asprintf("%s-", kctl_name(svc));
    json_t *labels = labels_for(svc, SLICE_MANAGED, SLICE_MANAGER);
    jx_set_str(labels, SVC_NAME_LABEL, kctl_name(svc));
    json_t *s = json_pack("{s:s,s:s,s:{s:s,s:s,s:o,s:[{s:s,s:s,s:s,s:s,s:b,s:b}]},s:s,s:o}",
                          "apiVersion", "discovery.k8s.io/v1", "kind", "EndpointSlice", "metadata",
                          "generateName", gen, "namespace", kctl_ns(svc), "labels", labels,
                          "ownerReferences", "apiVersion", "v1", "kind", "Service", "name",
                          kctl_name(svc), "uid", kctl_uid(svc) ?: "", "controller", 1,
                          "blockOwnerDeletion", 1, "addressType", "IPv4", "endpoints", endpoints);
    if (json_array_size(ports)) {
        /* a slice port's name is a pointer upstream, always set ("" for an unnamed Service
         * port); kubectl describe dereferences it */
        json_t *sp = json_deep_copy(ports), *p;
        size_t i;
        json_array_foreach(sp, i, p)
        {
            if (!json_object_get(p, "name"))
                jx_set_str(p, "name", "");
        }
        json_object_set_new(s, "ports", sp);
    }
    return s;
}

static bool same_ports(const json_t *a, const json_t *b)
{
    return json_array_size(a) == json_array_size(b) &&
           (json_array_size(a) == 0 || json_equal(a, b));
}

static json_t *list_slices(kctl *c, const json_t *svc)
{
    _cleanup_free_ char *sel =
        dd_asprintf("%s=%s,%s=%s", SVC_NAME_LABEL, kctl_name(svc), SLICE_MANAGED, SLICE_MANAGER);
    kobj_req req = {.res = res("discovery.k8s.io", "endpointslices"), .ns = kctl_ns(svc)};
    kobj_list_opts o = {.label_selector = sel};
    kobj_status st = {0};
    json_t *l = NULL;
    if (kobj_list(c->api, &req, &o, &l, &st) < 0)
        dd_debug("controllers: listing slices: %s", st.message);
    kobj_status_release(&st);
    json_t *items = json_incref(json_object_get(l, "items"));
    json_decref(l);
    return items ? items : json_array();
}

static int sync_slices(kctl *c, const json_t *svc, const json_t *groups)
{
    const kres_resource *r = res("discovery.k8s.io", "endpointslices");
    json_t *have = list_slices(c, svc), *wanted = json_array(), *g, *s;
    const char *k;
    json_object_foreach((json_t *)groups, k, g) json_array_append_new(
        wanted, new_slice(svc, json_object_get(g, "ports"), slice_endpoints(g)));
    if (!json_array_size(wanted)) /* upstream keeps one empty slice per service */
        json_array_append_new(wanted, new_slice(svc, NULL, json_array()));
    int rc = 0;
    size_t i, j;
    json_array_foreach(wanted, i, s)
    {
        json_t *match = NULL, *h;
        json_array_foreach(have, j, h)
        {
            if (same_ports(json_object_get(h, "ports"), json_object_get(s, "ports"))) {
                match = h;
                break;
            }
        }
        if (!match) {
            rc |= kctl_create(c, r, kctl_ns(svc), s, NULL);
            continue;
        }
        json_t *upd = json_deep_copy(match);
        json_object_set(upd, "endpoints", json_object_get(s, "endpoints"));
        json_object_set(json_object_get(upd, "metadata"), "labels",
                        json_object_get(json_object_get(s, "metadata"), "labels"));
        if (!json_equal(upd, match))
            rc |= kctl_update(c, r, upd);
        json_decref(upd);
        json_array_remove(have, j);
    }
    json_array_foreach(have, j, s) rc |= kctl_delete(c, r, kctl_ns(s), kctl_name(s), NULL);
    json_decref(have);
    json_decref(wanted);
    return rc < 0 ? -EIO : 0;
}

int kctl_sync_service(kctl *c, const char *ns, const char *name)
{
    const json_t *svc = kctl_cached(c, KC_SERVICES, ns, name);
    if (!svc) {
        json_t *ep = NULL;
        const kres_resource *r = res("", "endpoints");
        int rc = 0;
        if (get(c, r, ns, name, &ep) == 0 &&
            dd_streq(json_string_value(json_object_get(
                         json_object_get(json_object_get(ep, "metadata"), "labels"), EP_MANAGED)),
                     EP_MANAGER))
            rc = kctl_delete(c, r, ns, name, NULL);
        json_decref(ep);
        return rc == -ENOENT ? 0 : rc;
    }
    if (!svc_selector(svc) || kctl_str(svc, "metadata", "deletionTimestamp"))
        return 0;
    json_t *keep = json_incref((json_t *)svc);
    json_t *groups = collect(c, keep);
    int rc = sync_endpoints(c, keep, groups);
    if (rc >= 0)
        rc = sync_slices(c, keep, groups);
    json_decref(groups);
    json_decref(keep);
    return rc;
}
