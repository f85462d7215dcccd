/* table-core.c: Table columns for the non-workload kinds, as upstream's printers define them:
 * services, nodes, namespaces, events, configmaps, secrets, serviceaccounts, endpoints,
 * ingresses, persistent volumes and claims, leases, storage classes and CRDs. Workloads and pods
 * are in table-cells.c.
 */
#include <stdio.h>

#include "dind/base.h"
#include "k3core/server/table-internal.h"

static json_t *str_or(const char *s, const char *def)
{
    return json_string(s && *s ? s : def);
}

static json_t *count_keys(const json_t *o, const char *a, const char *b)
{
    return json_integer(
        (json_int_t)(json_object_size(tpath(o, a)) + (b ? json_object_size(tpath(o, b)) : 0)));
}

/* ---- services ---- */

static json_t *svc_type(const json_t *o)
{
    return str_or(tstr(o, "spec.type"), "ClusterIP");
}

static json_t *svc_cip(const json_t *o)
{
    return str_or(tstr(o, "spec.clusterIP"), "<none>");
}

static json_t *svc_eip(const json_t *o)
{
    const char *type = tstr(o, "spec.type");
    if (dd_streq(type, "ExternalName"))
        return str_or(tstr(o, "spec.externalName"), "<none>");
    const json_t *ext = tpath(o, "spec.externalIPs");
    if (dd_streq(type, "LoadBalancer")) {
        json_t *ing = join_field(tpath(o, "status.loadBalancer.ingress"), "ip", ",", "");
        bool empty = !*json_string_value(ing);
        if (empty && !json_array_size(ext)) {
            json_decref(ing);
            return json_string("<pending>");
        }
        if (!empty)
            return ing;
        json_decref(ing);
    }
    return join_field(ext, NULL, ",", "<none>");
}

static json_t *svc_ports(const json_t *o)
{
    dd_buf b = DD_BUF_INIT;
    size_t i;
    json_t *p;
    json_array_foreach(tpath(o, "spec.ports"), i, p)
    {
        const json_t *np = json_object_get(p, "nodePort");
        const char *proto = tstr(p, "protocol") ? tstr(p, "protocol") : "TCP";
        dd_buf_addf(&b, "%s%lld", b.len ? "," : "",
                    (long long)json_integer_value(json_object_get(p, "port")));
        if (np && json_integer_value(np))
            dd_buf_addf(&b, ":%lld", (long long)json_integer_value(np));
        dd_buf_addf(&b, "/%s", proto);
    }
    json_t *j = json_string(b.len ? b.data : "<none>");
    dd_buf_release(&b);
    return j;
}

static json_t *svc_selector(const json_t *o)
{
    return format_labels(tpath(o, "spec.selector"));
}

static const struct tcol svc_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Type", "string", "", 0, svc_type, TD_SVC_TYPE},
    {"Cluster-IP", "string", "", 0, svc_cip, TD_SVC_CLUSTERIP},
    {"External-IP", "string", "", 0, svc_eip, TD_SVC_EXTERNALIPS},
    {"Port(s)", "string", "", 0, svc_ports, TD_SVC_PORTS},
    {"Age", "string", "", 0, cell_age, TD_AGE},
    {"Selector", "string", "", 1, svc_selector, TD_SVC_SELECTOR},
};

/* ---- nodes, namespaces ---- */

static json_t *node_status(const json_t *o)
{
    size_t i;
    json_t *c;
    const char *st = "Unknown";
    json_array_foreach(tpath(o, "status.conditions"), i, c)
    {
        if (dd_streq(tstr(c, "type"), "Ready"))
            st = dd_streq(tstr(c, "status"), "True") ? "Ready" : "NotReady";
    }
    if (json_is_true(tpath(o, "spec.unschedulable"))) {
        char buf[64];
        snprintf(buf, sizeof(buf), "%s,SchedulingDisabled", st);
        return json_string(buf);
    }
    return json_string(st);
}

static json_t *node_roles(const json_t *o)
{
    dd_buf b = DD_BUF_INIT;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)tpath(o, "metadata.labels"), k, v)
    {
        if (dd_startswith(k, "node-role.kubernetes.io/") && k[24])
            dd_buf_addf(&b, "%s%s", b.len ? "," : "", k + 24);
    }
    json_t *j = json_string(b.len ? b.data : "<none>");
    dd_buf_release(&b);
    return j;
}

static json_t *node_addr(const json_t *o, const char *type)
{
    size_t i;
    json_t *a;
    json_array_foreach(tpath(o, "status.addresses"), i,
                       a) if (dd_streq(tstr(a, "type"), type)) return str_or(tstr(a, "address"),
                                                                             "<none>");
    return json_string("<none>");
}

static json_t *node_iip(const json_t *o)
{
    return node_addr(o, "InternalIP");
}

static json_t *node_eip(const json_t *o)
{
    return node_addr(o, "ExternalIP");
}

#define STR_CELL(fn, path, def)                                                                    \
    static json_t *fn(const json_t *o)                                                             \
    {                                                                                              \
        return str_or(tstr(o, path), def);                                                         \
    }
STR_CELL(node_version, "status.nodeInfo.kubeletVersion", "")
STR_CELL(node_os, "status.nodeInfo.osImage", "<unknown>")
STR_CELL(node_kernel, "status.nodeInfo.kernelVersion", "<unknown>")
STR_CELL(node_runtime, "status.nodeInfo.containerRuntimeVersion", "<unknown>")
STR_CELL(ns_status, "status.phase", "Active")
STR_CELL(secret_type, "type", "Opaque")
STR_CELL(pvc_status, "status.phase", "Pending")
STR_CELL(pvc_volume, "spec.volumeName", "")
STR_CELL(pvc_capacity, "status.capacity.storage", "")
STR_CELL(pvc_sc, "spec.storageClassName", "<unset>")
STR_CELL(pvc_vac, "spec.volumeAttributesClassName", "<unset>")
STR_CELL(pvc_mode, "spec.volumeMode", "Filesystem")
STR_CELL(pv_capacity, "spec.capacity.storage", "")
STR_CELL(pv_policy, "spec.persistentVolumeReclaimPolicy", "Retain")
STR_CELL(pv_reason, "status.reason", "")
STR_CELL(lease_holder, "spec.holderIdentity", "<none>")
STR_CELL(ev_type, "type", "")
STR_CELL(ev_reason, "reason", "")
STR_CELL(ev_message, "message", "")
STR_CELL(ev_source, "source.component", "")
STR_CELL(ev_subobject, "involvedObject.fieldPath", "")
STR_CELL(sc_provisioner, "provisioner", "")
STR_CELL(sc_reclaim, "reclaimPolicy", "Delete")
STR_CELL(sc_binding, "volumeBindingMode", "Immediate")
STR_CELL(ing_class, "spec.ingressClassName", "<none>")

/* upstream's printer marks the default class in the NAME cell */
static json_t *sc_name(const json_t *o)
{
    const char *name = tstr(o, "metadata.name");
    const json_t *ann = json_object_get(json_object_get(o, "metadata"), "annotations");
    bool def =
        dd_streq(
            json_string_value(json_object_get(ann, "storageclass.kubernetes.io/is-default-class")),
            "true") ||
        dd_streq(json_string_value(
                     json_object_get(ann, "storageclass.beta.kubernetes.io/is-default-class")),
                 "true");
    return def ? json_sprintf("%s (default)", name ? name : "") : json_string(name ? name : "");
}

static json_t *sc_expansion(const json_t *o)
{
    return json_boolean(json_is_true(json_object_get(o, "allowVolumeExpansion")));
}

static const struct tcol node_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Status", "string", "", 0, node_status, "The status of the node"},
    {"Roles", "string", "", 0, node_roles, "The roles of the node"},
    {"Age", "string", "", 0, cell_age, TD_AGE},
    {"Version", "string", "", 0, node_version, TD_NODE_KUBELET},
    {"Internal-IP", "string", "", 1, node_iip, TD_NODE_ADDRESSES},
    {"External-IP", "string", "", 1, node_eip, TD_NODE_ADDRESSES},
    {"OS-Image", "string", "", 1, node_os, TD_NODE_OS},
    {"Kernel-Version", "string", "", 1, node_kernel, TD_NODE_KERNEL},
    {"Container-Runtime", "string", "", 1, node_runtime, TD_NODE_RUNTIME},
};

static const struct tcol ns_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Status", "string", "", 0, ns_status, "The status of the namespace"},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

/* ---- config ---- */

static json_t *cm_data(const json_t *o)
{
    return count_keys(o, "data", "binaryData");
}

static json_t *secret_data(const json_t *o)
{
    return count_keys(o, "data", NULL);
}

static json_t *sa_secrets(const json_t *o)
{
    return json_integer((json_int_t)json_array_size(tpath(o, "secrets")));
}

static const struct tcol cm_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Data", "string", "", 0, cm_data, TD_CM_DATA},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

static const struct tcol secret_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Type", "string", "", 0, secret_type, TD_SECRET_TYPE},
    {"Data", "string", "", 0, secret_data, TD_SECRET_DATA},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

static const struct tcol sa_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Secrets", "string", "", 0, sa_secrets, TD_SA_SECRETS},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

/* ---- events ---- */

static json_t *ev_last(const json_t *o)
{
    const char *t = tstr(o, "lastTimestamp");
    if (!t)
        t = tstr(o, "eventTime");
    if (!t)
        t = tstr(o, "metadata.creationTimestamp");
    return age_of(t);
}

static json_t *ev_first(const json_t *o)
{
    const char *t = tstr(o, "firstTimestamp");
    return t ? age_of(t) : ev_last(o);
}

static json_t *ev_object(const json_t *o)
{
    char buf[512];
    const char *kind = tstr(o, "involvedObject.kind");
    snprintf(buf, sizeof(buf), "%s/%s", kind ? kind : "",
             tstr(o, "involvedObject.name") ? tstr(o, "involvedObject.name") : "");
    for (char *p = buf; *p && *p != '/'; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    return json_string(buf);
}

static json_t *ev_count(const json_t *o)
{
    const json_t *c = tpath(o, "count");
    return json_integer(c ? json_integer_value(c) : 1);
}

static const struct tcol event_cols[] = {
    {"Last Seen", "string", "", 0, ev_last, TD_EV_LAST},
    {"Type", "string", "", 0, ev_type, TD_EV_TYPE},
    {"Reason", "string", "", 0, ev_reason, TD_EV_REASON},
    {"Object", "string", "", 0, ev_object, TD_EV_OBJECT},
    {"Subobject", "string", "", 1, ev_subobject, TD_EV_FIELDPATH},
    {"Source", "string", "", 1, ev_source, TD_EV_SOURCE},
    {"Message", "string", "", 0, ev_message, TD_EV_MESSAGE},
    {"First Seen", "string", "", 1, ev_first, TD_EV_FIRST},
    {"Count", "string", "", 1, ev_count, TD_EV_COUNT},
    {"Name", "string", "name", 1, cell_name, TD_NAME},
};

/* ---- network, storage, coordination ---- */

/* formatEndpoints: "ip:port" for every port of every subset (bare IPs without ports), the
 * first three then " + N more..."; "<none>" without subsets */
static json_t *ep_addrs(const json_t *o)
{
    const json_t *subsets = tpath(o, "subsets");
    if (!json_array_size(subsets))
        return json_string("<none>");
    dd_buf b = DD_BUF_INIT;
    size_t i, k, p, n = 0, listed = 0;
    bool more = false;
    json_t *s, *a, *port;
    json_array_foreach(subsets, i, s)
    {
        const json_t *ports = json_object_get(s, "ports"), *addrs = json_object_get(s, "addresses");
        size_t nports = json_array_size(ports);
        for (p = 0; p < (nports ? nports : 1); p++) {
            port = json_array_get(ports, p);
            n += json_array_size(addrs);
            json_array_foreach(addrs, k, a)
            {
                if (listed == 3) {
                    more = true;
                    break;
                }
                const char *ip = tstr(a, "ip") ?: "";
                bool v6 = strchr(ip, ':') != NULL;
                dd_buf_addf(&b, "%s%s%s%s", listed++ ? "," : "", v6 && port ? "[" : "", ip,
                            v6 && port ? "]" : "");
                if (port)
                    dd_buf_addf(&b, ":%lld",
                                (long long)json_integer_value(json_object_get(port, "port")));
            }
        }
    }
    if (more)
        dd_buf_addf(&b, " + %zu more...", n - 3);
    json_t *j = json_string(b.len ? b.data : "");
    dd_buf_release(&b);
    return j;
}

static json_t *ing_hosts(const json_t *o)
{
    return join_field(tpath(o, "spec.rules"), "host", ",", "*");
}

static json_t *ing_address(const json_t *o)
{
    return join_field(tpath(o, "status.loadBalancer.ingress"), "ip", ",", "");
}

static json_t *ing_ports(const json_t *o)
{
    return json_string(json_array_size(tpath(o, "spec.tls")) ? "80, 443" : "80");
}

static json_t *access_modes(const json_t *o, const char *path)
{
    static const char *const map[][2] = {{"ReadWriteOnce", "RWO"},
                                         {"ReadOnlyMany", "ROX"},
                                         {"ReadWriteMany", "RWX"},
                                         {"ReadWriteOncePod", "RWOP"}};
    dd_buf b = DD_BUF_INIT;
    size_t i;
    json_t *m;
    json_array_foreach(tpath(o, path), i,
                       m) for (size_t k = 0; k < DD_ARRAY_SIZE(map);
                               k++) if (dd_streq(json_string_value(m), map[k][0]))
        dd_buf_addf(&b, "%s%s", b.len ? "," : "", map[k][1]);
    json_t *j = json_string(b.len ? b.data : "");
    dd_buf_release(&b);
    return j;
}

static json_t *pvc_modes(const json_t *o)
{
    return access_modes(o, "status.accessModes");
}

static json_t *pv_modes(const json_t *o)
{
    return access_modes(o, "spec.accessModes");
}

static json_t *pv_status(const json_t *o)
{
    return str_or(tstr(o, "status.phase"), "Pending");
}

static json_t *pv_claim(const json_t *o)
{
    const char *ns = tstr(o, "spec.claimRef.namespace"), *n = tstr(o, "spec.claimRef.name");
    if (!n)
        return json_string("");
    char buf[512];
    snprintf(buf, sizeof(buf), "%s/%s", ns ? ns : "", n);
    return json_string(buf);
}

static json_t *pv_sc(const json_t *o)
{
    return str_or(tstr(o, "spec.storageClassName"), "");
}

static json_t *crd_created(const json_t *o)
{
    return str_or(tstr(o, "metadata.creationTimestamp"), "");
}

static const struct tcol ep_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Endpoints", "string", "", 0, ep_addrs, TD_EP_SUBSETS},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

static const struct tcol ing_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Class", "string", "", 0, ing_class,
     "The name of the IngressClass resource that should be used for additional configuration"},
    {"Hosts", "string", "", 0, ing_hosts,
     "Hosts that incoming requests are matched against before the ingress rule"},
    {"Address", "string", "", 0, ing_address,
     "Address is a list containing ingress points for the load-balancer"},
    {"Ports", "string", "", 0, ing_ports, "Ports of TLS configurations that open"},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

static const struct tcol pvc_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Status", "string", "", 0, pvc_status, TD_PVC_PHASE},
    {"Volume", "string", "", 0, pvc_volume, TD_PVC_VOLUME},
    {"Capacity", "string", "", 0, pvc_capacity, TD_PVC_CAPACITY},
    {"Access Modes", "string", "", 0, pvc_modes, TD_PVC_MODES},
    {"StorageClass", "string", "", 0, pvc_sc, "StorageClass of the pvc"},
    {"VolumeAttributesClass", "string", "", 0, pvc_vac, "VolumeAttributesClass of the pvc"},
    {"Age", "string", "", 0, cell_age, TD_AGE},
    {"VolumeMode", "string", "", 1, pvc_mode, TD_PVC_VOLUMEMODE},
};

static const struct tcol pv_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Capacity", "string", "", 0, pv_capacity, TD_PV_CAPACITY},
    {"Access Modes", "string", "", 0, pv_modes, TD_PV_MODES},
    {"Reclaim Policy", "string", "", 0, pv_policy, TD_PV_RECLAIM},
    {"Status", "string", "", 0, pv_status, TD_PV_PHASE},
    {"Claim", "string", "", 0, pv_claim, TD_PV_CLAIM},
    {"StorageClass", "string", "", 0, pv_sc, "StorageClass of the pv"},
    {"VolumeAttributesClass", "string", "", 0, pvc_vac, "VolumeAttributesClass of the pv"},
    {"Reason", "string", "", 0, pv_reason, TD_PV_REASON},
    {"Age", "string", "", 0, cell_age, TD_AGE},
    {"VolumeMode", "string", "", 1, pvc_mode, TD_PV_VOLUMEMODE},
};

static const struct tcol lease_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Holder", "string", "", 0, lease_holder, TD_LEASE_HOLDER},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

static const struct tcol sc_cols[] = {
    {"Name", "string", "name", 0, sc_name, TD_NAME},
    {"Provisioner", "string", "", 0, sc_provisioner, TD_SC_PROVISIONER},
    {"ReclaimPolicy", "string", "", 0, sc_reclaim, TD_SC_RECLAIM},
    {"VolumeBindingMode", "string", "", 0, sc_binding, TD_SC_BINDING},
    {"AllowVolumeExpansion", "string", "", 0, sc_expansion, TD_SC_EXPANSION},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

static const struct tcol crd_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Created At", "date", "", 0, crd_created, TD_AGE},
};

const struct tkind ktable_core[] = {
    KIND("", "services", svc_cols),
    KIND("", "nodes", node_cols),
    KIND("", "namespaces", ns_cols),
    KIND("", "configmaps", cm_cols),
    KIND("", "secrets", secret_cols),
    KIND("", "serviceaccounts", sa_cols),
    KIND("", "events", event_cols),
    KIND("", "endpoints", ep_cols),
    KIND("", "persistentvolumeclaims", pvc_cols),
    KIND("", "persistentvolumes", pv_cols),
    KIND("networking.k8s.io", "ingresses", ing_cols),
    KIND("coordination.k8s.io", "leases", lease_cols),
    KIND("storage.k8s.io", "storageclasses", sc_cols),
    KIND("apiextensions.k8s.io", "customresourcedefinitions", crd_cols),
};
const size_t ktable_ncore = DD_ARRAY_SIZE(ktable_core);
