/* table-infra.c: Table columns of the remaining built-in kinds as upstream 1.33's printers
 * (pkg/printers/internalversion) define them: pod templates, replication controllers,
 * controller revisions and resource quotas; network policies, ingress classes, IP addresses,
 * service CIDRs and endpoint slices; CSI drivers, nodes and storage capacities, volume
 * attachments and attributes classes; runtime classes, lease candidates, storage versions and
 * their migrations; dynamic resource allocation kinds. Cells are computed from the stored JSON;
 * where upstream prints a field its defaulting always sets, the cell applies that default.
 */
#include <stdio.h>

#include "k3core/server/table-internal.h"

static json_t *int_at(const json_t *o, const char *path)
{
    return json_integer(json_integer_value(tpath(o, path)));
}

static json_t *str_at(const json_t *o, const char *path)
{
    return tstr_or(tstr(o, path), "");
}

/* layoutContainerCells: names or images of containers joined with "," ("" when none) */
static json_t *containers(const json_t *o, const char *path, const char *field)
{
    return join_field(tpath(o, path), field, ",", "");
}

/* ---- pod templates, replication controllers, controller revisions, quotas ---- */

static json_t *pt_names(const json_t *o)
{
    return containers(o, "template.spec.containers", "name");
}

static json_t *pt_images(const json_t *o)
{
    return containers(o, "template.spec.containers", "image");
}

static json_t *pt_labels(const json_t *o)
{
    return format_labels(tpath(o, "template.metadata.labels"));
}

static const struct tcol pt_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Containers", "string", "", 0, pt_names, DESC_CONTAINERS},
    {"Images", "string", "", 0, pt_images, DESC_IMAGES},
    {"Pod Labels", "string", "", 0, pt_labels, "The labels for the pod template."},
};

static json_t *rc_desired(const json_t *o)
{
    const json_t *r = tpath(o, "spec.replicas");
    return json_integer(r ? json_integer_value(r) : 1);
}

static json_t *rc_current(const json_t *o)
{
    return int_at(o, "status.replicas");
}

static json_t *rc_ready(const json_t *o)
{
    return int_at(o, "status.readyReplicas");
}

static json_t *rc_names(const json_t *o)
{
    return containers(o, "spec.template.spec.containers", "name");
}

static json_t *rc_images(const json_t *o)
{
    return containers(o, "spec.template.spec.containers", "image");
}

static json_t *rc_selector(const json_t *o)
{
    return format_labels(tpath(o, "spec.selector"));
}

static const struct tcol rc_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Desired", "integer", "", 0, rc_desired, TD_RC_REPLICAS},
    {"Current", "integer", "", 0, rc_current, TD_RC_CURRENT},
    {"Ready", "integer", "", 0, rc_ready, TD_RC_READY},
    {"Age", "string", "", 0, cell_age, TD_AGE},
    {"Containers", "string", "", 1, rc_names, DESC_CONTAINERS},
    {"Images", "string", "", 1, rc_images, DESC_IMAGES},
    {"Selector", "string", "", 1, rc_selector, TD_RC_SELECTOR},
};

/* "<kind>.<group>/<name>" (lower-case kind.group) of the controlling owner, "<none>" */
static json_t *cr_controller(const json_t *o)
{
    size_t i;
    json_t *ref;
    json_array_foreach(tpath(o, "metadata.ownerReferences"), i, ref)
    {
        if (!json_is_true(json_object_get(ref, "controller")))
            continue;
        const char *av = tstr(ref, "apiVersion") ?: "", *slash = strchr(av, '/');
        const char *kind = tstr(ref, "kind") ?: "", *name = tstr(ref, "name") ?: "";
        int glen = slash ? (int)(slash - av) : 0;
        if (!*kind && !glen)
            return json_string(name);
        char *s = dd_asprintf("%s%s%.*s/%s", kind, glen ? "." : "", glen, av, name);
        for (char *p = s; *p && *p != '/'; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        json_t *j = json_string(s);
        free(s);
        return j;
    }
    return json_string("<none>");
}

static json_t *cr_revision(const json_t *o)
{
    return int_at(o, "revision");
}

static const struct tcol cr_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Controller", "string", "", 0, cr_controller, "Controller of the object"},
    {"Revision", "string", "", 0, cr_revision, TD_CR_REVISION},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

/* "<resource>: <used>/<hard>, ..." over status.hard sorted by name; limits.* (limit column) or
 * the others (request column) */
static json_t *quota_column(const json_t *o, bool limits)
{
    const json_t *hard = tpath(o, "status.hard"), *used = tpath(o, "status.used");
    size_t n, i;
    const char **names = tsorted(json_is_object(hard) ? hard : NULL, &n);
    dd_buf b = DD_BUF_INIT;
    for (i = 0; i < n; i++) {
        const char *dot = strchr(names[i], '.');
        bool is_limit = dot && (size_t)(dot - names[i]) == 6 && !strncmp(names[i], "limits", 6);
        if (is_limit != limits)
            continue;
        const char *u = json_string_value(json_object_get(used, names[i]));
        dd_buf_addf(&b, "%s%s: %s/%s", b.len ? ", " : "", names[i], u ? u : "0",
                    json_string_value(json_object_get(hard, names[i])) ?: "0");
    }
    free(names);
    json_t *j = json_string(b.len ? b.data : "");
    dd_buf_release(&b);
    return j;
}

static json_t *quota_request(const json_t *o)
{
    return quota_column(o, false);
}

static json_t *quota_limit(const json_t *o)
{
    return quota_column(o, true);
}

static const struct tcol quota_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Request", "string", "", 0, quota_request,
     "Request represents a minimum amount of cpu/memory that a container may consume."},
    {"Limit", "string", "", 0, quota_limit,
     "Limits control the maximum amount of cpu/memory that a container may use independent of "
     "contention on the node."},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

/* ---- networking, discovery ---- */

static json_t *np_selector(const json_t *o)
{
    return format_label_selector(tpath(o, "spec.podSelector"));
}

static const struct tcol np_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Pod-Selector", "string", "", 0, np_selector, TD_NP_SELECTOR},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

static json_t *ic_controller(const json_t *o)
{
    return str_at(o, "spec.controller");
}

static json_t *ic_parameters(const json_t *o)
{
    const json_t *p = tpath(o, "spec.parameters");
    if (!p)
        return json_string("<none>");
    const char *group = tstr(p, "apiGroup");
    return json_sprintf("%s%s%s/%s", tstr(p, "kind") ?: "", group ? "." : "", group ? group : "",
                        tstr(p, "name") ?: "");
}

static const struct tcol ic_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Controller", "string", "", 0, ic_controller,
     "Controller that is responsible for handling this class"},
    {"Parameters", "string", "", 0, ic_parameters,
     "A reference to a resource with additional parameters"},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

/* "<resource>[.<group>][/<namespace>]/<name>", lower case, or "<none>" */
static json_t *ip_parent(const json_t *o)
{
    const json_t *p = tpath(o, "spec.parentRef");
    if (!p)
        return json_string("<none>");
    const char *group = tstr(p, "group"), *ns = tstr(p, "namespace");
    char *gr = dd_asprintf("%s%s%s", tstr(p, "resource") ?: "", group && *group ? "." : "",
                           group && *group ? group : "");
    for (char *c = gr; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
    json_t *j = json_sprintf("%s%s%s/%s", gr, ns && *ns ? "/" : "", ns && *ns ? ns : "",
                             tstr(p, "name") ?: "");
    free(gr);
    return j;
}

/* upstream's rows carry an age cell past its two columns; kubectl prints only the two */
static const struct tcol ip_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"ParentRef", "string", "", 0, ip_parent, TD_IP_PARENT},
};

static json_t *scidr_cidrs(const json_t *o)
{
    return join_field(tpath(o, "spec.cidrs"), NULL, ",", "");
}

static const struct tcol scidr_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"CIDRs", "string", "", 0, scidr_cidrs, TD_SCIDR_CIDRS},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

static json_t *es_type(const json_t *o)
{
    return str_at(o, "addressType");
}

static json_t *es_ports(const json_t *o)
{
    struct tmore m = {DD_BUF_INIT, 0, 3};
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(o, "ports"), i, p)
    {
        const json_t *port = json_object_get(p, "port");
        char buf[24];
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(port));
        tmore_add(&m, json_is_integer(port) ? buf : tstr(p, "name") ? tstr(p, "name") : "*");
    }
    return tmore_done(&m);
}

static json_t *es_endpoints(const json_t *o)
{
    struct tmore m = {DD_BUF_INIT, 0, 3};
    size_t i, k;
    json_t *e, *a;
    json_array_foreach(json_object_get(o, "endpoints"), i, e)
        json_array_foreach(json_object_get(e, "addresses"), k, a)
            tmore_add(&m, json_string_value(a) ?: "");
    return tmore_done(&m);
}

static const struct tcol es_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"AddressType", "string", "", 0, es_type, TD_ES_TYPE},
    {"Ports", "string", "", 0, es_ports, TD_ES_PORTS},
    {"Endpoints", "string", "", 0, es_endpoints, TD_ES_ENDPOINTS},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

/* ---- storage ---- */

/* a stored flag, false when absent (the API layer defaults the CSIDriver ones at write time) */
static json_t *bool_at(const json_t *o, const char *path)
{
    return json_boolean(json_is_true(tpath(o, path)));
}

static json_t *csid_attach(const json_t *o)
{
    return bool_at(o, "spec.attachRequired");
}

static json_t *csid_podinfo(const json_t *o)
{
    return bool_at(o, "spec.podInfoOnMount");
}

static json_t *csid_capacity(const json_t *o)
{
    return bool_at(o, "spec.storageCapacity");
}

static json_t *csid_republish(const json_t *o)
{
    return bool_at(o, "spec.requiresRepublish");
}

static json_t *csid_tokens(const json_t *o)
{
    const json_t *t = tpath(o, "spec.tokenRequests");
    return t ? join_field(t, "audience", ",", "") : json_string("<unset>");
}

static json_t *csid_modes(const json_t *o)
{
    return join_field(tpath(o, "spec.volumeLifecycleModes"), NULL, ",", "<none>");
}

static const struct tcol csid_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"AttachRequired", "boolean", "", 0, csid_attach, TD_CSID_ATTACH},
    {"PodInfoOnMount", "boolean", "", 0, csid_podinfo, TD_CSID_PODINFO},
    {"StorageCapacity", "boolean", "", 0, csid_capacity, TD_CSID_CAPACITY},
    {"TokenRequests", "string", "", 0, csid_tokens, TD_CSID_TOKENS},
    {"RequiresRepublish", "boolean", "", 0, csid_republish, TD_CSID_REPUBLISH},
    {"Modes", "string", "", 0, csid_modes, TD_CSID_MODES},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

static json_t *csin_drivers(const json_t *o)
{
    return json_integer((json_int_t)json_array_size(tpath(o, "spec.drivers")));
}

static const struct tcol csin_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Drivers", "integer", "", 0, csin_drivers,
     "Drivers indicates the number of CSI drivers registered on the node"},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

static json_t *csc_class(const json_t *o)
{
    return str_at(o, "storageClassName");
}

static json_t *csc_capacity(const json_t *o)
{
    return tstr_or(tstr(o, "capacity"), "<unset>");
}

static const struct tcol csc_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"StorageClassName", "string", "", 0, csc_class, TD_CSC_CLASS},
    {"Capacity", "string", "", 0, csc_capacity, TD_CSC_CAPACITY},
};

static json_t *va_attacher(const json_t *o)
{
    return str_at(o, "spec.attacher");
}

static json_t *va_pv(const json_t *o)
{
    return str_at(o, "spec.source.persistentVolumeName");
}

static json_t *va_node(const json_t *o)
{
    return str_at(o, "spec.nodeName");
}

static json_t *va_attached(const json_t *o)
{
    return bool_at(o, "status.attached");
}

static const struct tcol va_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Attacher", "string", "name", 0, va_attacher, TD_VA_ATTACHER},
    {"PV", "string", "", 0, va_pv, TD_VA_PV},
    {"Node", "string", "", 0, va_node, TD_VA_NODE},
    {"Attached", "boolean", "", 0, va_attached, TD_VA_ATTACHED},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

static json_t *vac_name(const json_t *o)
{
    const char *name = tstr(o, "metadata.name") ?: "";
    const json_t *ann = tpath(o, "metadata.annotations");
    const char *def = json_string_value(
        json_object_get(ann, "volumeattributesclass.alpha.kubernetes.io/is-default-class"));
    return dd_streq(def, "true") ? json_sprintf("%s (default)", name) : json_string(name);
}

static json_t *vac_driver(const json_t *o)
{
    return str_at(o, "driverName");
}

static const struct tcol vac_cols[] = {
    {"Name", "string", "name", 0, vac_name, TD_NAME},
    {"DriverName", "string", "", 0, vac_driver, TD_VAC_DRIVER},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

/* ---- node, coordination, apiserver internals ---- */

static json_t *rtc_handler(const json_t *o)
{
    return str_at(o, "handler");
}

/* upstream's handler description looks up a key ObjectMeta does not document: empty */
static const struct tcol rtc_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Handler", "string", "", 0, rtc_handler, ""},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

static json_t *lc_lease(const json_t *o)
{
    return str_at(o, "spec.leaseName");
}

static json_t *lc_binary(const json_t *o)
{
    return str_at(o, "spec.binaryVersion");
}

static json_t *lc_emulation(const json_t *o)
{
    return str_at(o, "spec.emulationVersion");
}

static const struct tcol lc_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"LeaseName", "string", "", 0, lc_lease, TD_LC_LEASE},
    {"BinaryVersion", "string", "", 0, lc_binary, ""},
    {"EmulationVersion", "string", "", 0, lc_emulation, ""},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

static json_t *sv_common(const json_t *o)
{
    return tstr_or(tstr(o, "status.commonEncodingVersion"), "<unset>");
}

static json_t *sv_versions(const json_t *o)
{
    struct tmore m = {DD_BUF_INIT, 0, 3};
    size_t i;
    json_t *v;
    json_array_foreach(tpath(o, "status.storageVersions"), i, v)
    {
        char *s =
            dd_asprintf("%s=%s", tstr(v, "apiServerID") ?: "", tstr(v, "encodingVersion") ?: "");
        tmore_add(&m, s);
        free(s);
    }
    return tmore_done(&m);
}

static const struct tcol sv_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"CommonEncodingVersion", "string", "", 0, sv_common, TD_SV_COMMON},
    {"StorageVersions", "string", "", 0, sv_versions, TD_SV_VERSIONS},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

static json_t *svm_resource(const json_t *o)
{
    return json_sprintf("%s.%s.%s", tstr(o, "spec.resource.resource") ?: "",
                        tstr(o, "spec.resource.version") ?: "",
                        tstr(o, "spec.resource.group") ?: "");
}

static const struct tcol svm_cols[] = {
    {"Name", "string", "", 0, cell_name, TD_NAME},
    {"Resource", "string", "", 0, svm_resource, "Fully qualified resource to migrate"},
};

/* ---- dynamic resource allocation ---- */

static json_t *claim_state(const json_t *o)
{
    bool deleted = tpath(o, "metadata.deletionTimestamp") != NULL;
    const char *alloc = !tpath(o, "status.allocation") ? (deleted ? "" : "pending")
                        : json_array_size(tpath(o, "status.reservedFor")) ? "allocated,reserved"
                                                                          : "allocated";
    return json_sprintf("%s%s%s", deleted ? "deleted" : "", deleted && *alloc ? "," : "", alloc);
}

static json_t *slice_node(const json_t *o)
{
    return str_at(o, "spec.nodeName");
}

static json_t *slice_driver(const json_t *o)
{
    return str_at(o, "spec.driver");
}

static json_t *slice_pool(const json_t *o)
{
    return str_at(o, "spec.pool.name");
}

static const struct tcol name_age_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

static const struct tcol claim_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"State", "string", "", 0, claim_state,
     "A summary of the current state (allocated, pending, reserved, etc.)."},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

static const struct tcol slice_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Node", "string", "", 0, slice_node, TD_RS_NODE},
    {"Driver", "string", "", 0, slice_driver, TD_RS_DRIVER},
    {"Pool", "string", "", 0, slice_pool, TD_RS_POOL},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

#define NET "networking.k8s.io"
#define STO "storage.k8s.io"
#define DRA "resource.k8s.io"
const struct tkind ktable_infra[] = {
    KIND("", "podtemplates", pt_cols),
    KIND("", "replicationcontrollers", rc_cols),
    KIND("", "resourcequotas", quota_cols),
    KIND("apps", "controllerrevisions", cr_cols),
    KIND(NET, "networkpolicies", np_cols),
    KIND(NET, "ingressclasses", ic_cols),
    KIND(NET, "ipaddresses", ip_cols),
    KIND(NET, "servicecidrs", scidr_cols),
    KIND("discovery.k8s.io", "endpointslices", es_cols),
    KIND(STO, "csidrivers", csid_cols),
    KIND(STO, "csinodes", csin_cols),
    KIND(STO, "csistoragecapacities", csc_cols),
    KIND(STO, "volumeattachments", va_cols),
    KIND(STO, "volumeattributesclasses", vac_cols),
    KIND("node.k8s.io", "runtimeclasses", rtc_cols),
    KIND("coordination.k8s.io", "leasecandidates", lc_cols),
    KIND("internal.apiserver.k8s.io", "storageversions", sv_cols),
    KIND("storagemigration.k8s.io", "storageversionmigrations", svm_cols),
    KIND(DRA, "deviceclasses", name_age_cols),
    KIND(DRA, "resourceclaims", claim_cols),
    KIND(DRA, "resourceclaimtemplates", name_age_cols),
    KIND(DRA, "resourceslices", slice_cols),
};
const size_t ktable_ninfra = DD_ARRAY_SIZE(ktable_infra);
