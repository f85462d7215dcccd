/* validate: the checks that answer 422 Invalid with details.causes, in upstream's wording —
 * object names (DNS-1123 subdomain, or label/DNS-1035 for namespaces and services), label and
 * annotation keys and values, and required fields of the common kinds (Pod containers' and init
 * containers' name, unique across both, and image; restartPolicy only "Always" and only on init
 * containers; workload selectors matching their template labels, Service ports, Events of both
 * APIs as upstream's events validation). Anything else the schema allows is accepted.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>

#include "k3core/api/objects-internal.h"
#include "k3core/controllers/controllers.h"

typedef struct errs {
    json_t *causes;
} errs;

static void add(errs *e, const char *reason, const char *field, const char *fmt, ...)
    DD_PRINTF(4, 5);
static void add(errs *e, const char *reason, const char *field, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_array_append_new(
        e->causes, json_pack("{s:s,s:s,s:s}", "reason", reason, "message", msg, "field", field));
}

static void required(errs *e, const char *field)
{
    add(e, "FieldValueRequired", field, "Required value");
}

static void invalid_value(errs *e, const char *field, const char *value, const char *why)
{
    add(e, "FieldValueInvalid", field, "Invalid value: \"%s\": %s", value, why);
}

static const char *dns1035(const char *s)
{
    const char *why = ksel_check_dns1123_label(s);
    if (!why && !isalpha((unsigned char)s[0]))
        return "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
               "with an alphabetic character, and end with an alphanumeric character (e.g. "
               "'my-name',  or 'abc-123', regex used for validation is "
               "'[a-z]([-a-z0-9]*[a-z0-9])?')";
    return why;
}

static void check_name(errs *e, const kres_resource *r, const char *name)
{
    const char *why;
    if (!r->group[0] && strcmp(r->resource, "namespaces") == 0)
        why = ksel_check_dns1123_label(name);
    else if (!r->group[0] && strcmp(r->resource, "services") == 0)
        why = dns1035(name);
    else if (r->group[0] && strcmp(r->group, "rbac.authorization.k8s.io") == 0)
        why = strchr(name, '/') || strchr(name, '%') ? "may not contain '/' or '%'" : NULL;
    else
        why = ksel_check_dns1123_subdomain(name);
    if (why)
        invalid_value(e, "metadata.name", name, why);
}

static void check_labels(errs *e, const json_t *labels, const char *path, bool values)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)labels, k, v)
    {
        const char *why = ksel_check_qualified_name(k);
        if (why)
            invalid_value(e, path, k, why);
        if (values && json_is_string(v) && (why = ksel_check_label_value(json_string_value(v)))) {
            _cleanup_free_ char *f = dd_asprintf("%s", path);
            invalid_value(e, f, json_string_value(v), why);
        }
    }
}

/* One container of a pod's containers or initContainers list at index i; names are unique
 * across both lists (seen collects them). */
static void check_container(errs *e, const json_t *c, const char *list, size_t i, json_t *seen)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    _cleanup_free_ char *fn = dd_asprintf("%s[%zu].name", list, i);
    _cleanup_free_ char *fi = dd_asprintf("%s[%zu].image", list, i);
    _cleanup_free_ char *fr = dd_asprintf("%s[%zu].restartPolicy", list, i);
    if (!name || !*name)
        required(e, fn);
    else if (ksel_check_dns1123_label(name))
        invalid_value(e, fn, name, ksel_check_dns1123_label(name));
    else if (json_object_get(seen, name))
        add(e, "FieldValueDuplicate", fn, "Duplicate value: \"%s\"", name);
    else
        json_object_set_new(seen, name, json_true());
    const char *image = json_string_value(json_object_get(c, "image"));
    if (!image || !*image)
        required(e, fi);
    const char *rp = json_string_value(json_object_get(c, "restartPolicy"));
    if (rp && !dd_endswith(list, "initContainers"))
        add(e, "FieldValueForbidden", fr, "Forbidden: may not be set for non-init containers");
    else if (rp && strcmp(rp, "Always"))
        add(e, "FieldValueNotSupported", fr,
            "Unsupported value: \"%s\": supported values: \"Always\"", rp);
}

/* What an ephemeral container may not have (upstream's list), and a target that must exist. */
static void check_ephemeral(errs *e, const json_t *spec, const json_t *c, const char *list,
                            size_t i)
{
    static const char *const no[] = {"ports",        "livenessProbe", "readinessProbe",
                                     "startupProbe", "lifecycle",     "resources",
                                     "resizePolicy", "restartPolicy"};
    for (size_t k = 0; k < DD_ARRAY_SIZE(no); k++) {
        const json_t *v = json_object_get(c, no[k]);
        if (!v || json_is_null(v) || (json_is_object(v) && !json_object_size(v)) ||
            (json_is_array(v) && !json_array_size(v)))
            continue;
        _cleanup_free_ char *f = dd_asprintf("%s[%zu].%s", list, i, no[k]);
        add(e, "FieldValueForbidden", f, "Forbidden: cannot be set for an Ephemeral Container");
    }
    const char *target = json_string_value(json_object_get(c, "targetContainerName"));
    if (!target || !*target)
        return;
    static const char *const lists[] = {"containers", "initContainers"};
    for (size_t l = 0; l < DD_ARRAY_SIZE(lists); l++) {
        size_t j;
        json_t *o;
        json_array_foreach(json_object_get(spec, lists[l]), j, o)
        {
            if (dd_streq(json_string_value(json_object_get(o, "name")), target))
                return;
        }
    }
    _cleanup_free_ char *f = dd_asprintf("%s[%zu].targetContainerName", list, i);
    add(e, "FieldValueNotFound", f, "Not found: \"%s\"", target);
}

static void check_pod_spec(errs *e, const json_t *spec, const char *path)
{
    json_t *cs = json_object_get(spec, "containers");
    if (json_array_size(cs) == 0) {
        _cleanup_free_ char *f = dd_asprintf("%s.containers", path);
        required(e, f);
        return;
    }
    json_t *seen = json_object();
    static const char *const lists[] = {"containers", "initContainers", "ephemeralContainers"};
    for (size_t l = 0; l < DD_ARRAY_SIZE(lists); l++) {
        _cleanup_free_ char *list = dd_asprintf("%s.%s", path, lists[l]);
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(spec, lists[l]), i, c)
        {
            check_container(e, c, list, i, seen);
            if (l == 2)
                check_ephemeral(e, spec, c, list, i);
        }
    }
    json_decref(seen);
    if (strcmp(path, "spec") && json_array_size(json_object_get(spec, "ephemeralContainers"))) {
        _cleanup_free_ char *f = dd_asprintf("%s.ephemeralContainers", path);
        add(e, "FieldValueForbidden", f,
            "Forbidden: ephemeral containers not allowed in pod "
            "template");
    }
}

static bool selector_matches(const json_t *sel, const json_t *labels)
{
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(sel, "matchLabels"), k, v)
    {
        if (!json_equal(json_object_get(labels, k), v))
            return false;
    }
    return true;
}

static void check_workload(errs *e, const json_t *obj)
{
    json_t *spec = json_object_get(obj, "spec");
    json_t *sel = json_object_get(spec, "selector");
    json_t *tmpl = json_object_get(spec, "template");
    json_t *labels = json_object_get(json_object_get(tmpl, "metadata"), "labels");
    if (!sel) {
        required(e, "spec.selector");
    } else if (!json_object_size(json_object_get(sel, "matchLabels")) &&
               !json_array_size(json_object_get(sel, "matchExpressions"))) {
        add(e, "FieldValueInvalid", "spec.selector",
            "Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
            "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid "
            "for deployment");
    } else if (!selector_matches(sel, labels)) {
        add(e, "FieldValueInvalid", "spec.template.metadata.labels",
            "Invalid value: map[string]string{...}: `selector` does not match template `labels`");
    }
    check_pod_spec(e, json_object_get(tmpl, "spec"), "spec.template.spec");
}

static void check_service(errs *e, const json_t *obj)
{
    json_t *spec = json_object_get(obj, "spec");
    const char *type = json_string_value(json_object_get(spec, "type"));
    json_t *ports = json_object_get(spec, "ports");
    if (!dd_streq(type, "ExternalName") &&
        !dd_streq(json_string_value(json_object_get(spec, "clusterIP")), "None") &&
        json_array_size(ports) == 0)
        required(e, "spec.ports");
    size_t i;
    json_t *p;
    json_array_foreach(ports, i, p)
    {
        json_int_t port = json_integer_value(json_object_get(p, "port"));
        if (port < 1 || port > 65535) {
            _cleanup_free_ char *f = dd_asprintf("spec.ports[%zu].port", i);
            add(e, "FieldValueInvalid", f,
                "Invalid value: %lld: must be between 1 and 65535, "
                "inclusive",
                (long long)port);
        }
    }
}

/* Fields that may not change after creation. */
/* Ephemeral containers are only ever added: upstream's words for a removed or changed one. */
static void check_ephemeral_update(errs *e, const json_t *now, const json_t *before)
{
    size_t i, j;
    json_t *o, *n;
    json_array_foreach(before, i, o)
    {
        const char *name = json_string_value(json_object_get(o, "name")) ?: "";
        bool found = false;
        json_array_foreach(now, j, n)
        {
            if (!dd_streq(json_string_value(json_object_get(n, "name")), name))
                continue;
            found = true;
            if (!json_equal(n, o)) {
                _cleanup_free_ char *f = dd_asprintf("spec.ephemeralContainers[%zu]", j);
                add(e, "FieldValueForbidden", f,
                    "Forbidden: existing ephemeral containers \"%s\" may not be changed", name);
            }
        }
        if (!found)
            add(e, "FieldValueForbidden", "spec.ephemeralContainers",
                "Forbidden: existing ephemeral containers \"%s\" may not be removed", name);
    }
}

static void check_immutable(errs *e, const kres_resource *r, const json_t *obj, const json_t *old)
{
    const char *g = r->group;
    bool selector = (strcmp(g, "apps") == 0 && strcmp(r->resource, "controllerrevisions") != 0) ||
                    (strcmp(g, "batch") == 0 && strcmp(r->resource, "jobs") == 0);
    json_t *spec = json_object_get(obj, "spec"), *ospec = json_object_get(old, "spec");
    if (selector &&
        !json_equal(json_object_get(spec, "selector"), json_object_get(ospec, "selector")))
        add(e, "FieldValueInvalid", "spec.selector",
            "Invalid value: v1.LabelSelector{...}: field is immutable");
    if (!*g && strcmp(r->resource, "services") == 0 && json_object_get(ospec, "clusterIP") &&
        !json_equal(json_object_get(spec, "clusterIP"), json_object_get(ospec, "clusterIP")))
        add(e, "FieldValueInvalid", "spec.clusterIPs[0]",
            "Invalid value: \"%s\": may not change once set",
            json_string_value(json_object_get(spec, "clusterIP")) ?: "");
    if (!*g && strcmp(r->resource, "pods") == 0)
        check_ephemeral_update(e, json_object_get(spec, "ephemeralContainers"),
                               json_object_get(ospec, "ephemeralContainers"));
    if (!*g && (strcmp(r->resource, "configmaps") == 0 || strcmp(r->resource, "secrets") == 0) &&
        json_is_true(json_object_get(old, "immutable")) &&
        (!json_equal(json_object_get(obj, "data"), json_object_get(old, "data")) ||
         !json_equal(json_object_get(obj, "binaryData"), json_object_get(old, "binaryData"))))
        add(e, "FieldValueForbidden", "data",
            "Forbidden: field is immutable when `immutable` is set");
}

/* The schedule the CronJob controller will parse (k3core/controllers/cron.c). */
static void check_cronjob(errs *e, const json_t *obj)
{
    const json_t *spec = json_object_get(obj, "spec");
    const char *sched = json_string_value(json_object_get(spec, "schedule"));
    kctl_cron c;
    dd_err err = {0};
    if (!sched || !*sched)
        add(e, "FieldValueRequired", "spec.schedule", "Required value");
    else if (kctl_cron_parse(sched, &c, &err) < 0)
        add(e, "FieldValueInvalid", "spec.schedule", "Invalid value: \"%s\": %s", sched, err.msg);
}

static void check_kind(errs *e, const kres_resource *r, const json_t *obj)
{
    const char *g = r->group, *res = r->resource;
    if (!*g && strcmp(res, "pods") == 0)
        check_pod_spec(e, json_object_get(obj, "spec"), "spec");
    else if (strcmp(g, "apps") == 0 && strcmp(res, "controllerrevisions") != 0)
        check_workload(e, obj);
    else if (strcmp(g, "batch") == 0 && strcmp(res, "jobs") == 0)
        check_pod_spec(
            e, json_object_get(json_object_get(json_object_get(obj, "spec"), "template"), "spec"),
            "spec.template.spec");
    else if (!*g && strcmp(res, "services") == 0)
        check_service(e, obj);
    else if (strcmp(g, "batch") == 0 && strcmp(res, "cronjobs") == 0)
        check_cronjob(e, obj);
}

static bool unset(const json_t *v)
{
    return !v || json_is_null(v) || (json_is_string(v) && !*json_string_value(v)) ||
           (json_is_integer(v) && !json_integer_value(v)) ||
           (json_is_object(v) && !json_object_size(v));
}

/* A string field of obj (`cause` is the path the cause names): required and/or at most max. */
static void check_len(errs *e, const json_t *obj, const char *field, const char *cause, size_t max,
                      bool need)
{
    const char *v = json_string_value(json_object_get(obj, field));
    if (need && (!v || !*v))
        required(e, cause);
    else if (v && strlen(v) > max)
        add(e, "FieldValueInvalid", cause, "Invalid value: \"\": can have at most %zu characters",
            max);
}

/* reportingController is a qualified name; an empty one fails both the length and the pattern
 * check (upstream lists both after "Required value"; "_" fails only the pattern). */
static void check_reporting_controller(errs *e, const char *v)
{
    const char *why = ksel_check_qualified_name(v ? v : "");
    if (why)
        invalid_value(e, "reportingController", v ? v : "", why);
    if (!v || !*v)
        invalid_value(e, "reportingController", "", ksel_check_qualified_name("_"));
}

/* Upstream's legacyValidateEvent, run on every Event create and update of both APIs (v1: the
 * events.k8s.io field names). Upstream validates the internal (core-shaped) Event, so its
 * causes name the core fields (involvedObject, message) and reportingController. */
static void check_event_legacy(errs *e, const json_t *obj, bool v1)
{
    const char *ns = kobj_meta_str(obj, "namespace");
    const json_t *ref = json_object_get(obj, v1 ? "regarding" : "involvedObject");
    const char *rns = json_string_value(json_object_get(ref, "namespace"));
    const char *rc = v1 ? "reportingController" : "reportingComponent";
    if (!unset(json_object_get(obj, "eventTime"))) {
        if ((!rns || !*rns) && !dd_streq(ns, "default") && !dd_streq(ns, "kube-system"))
            invalid_value(e, "involvedObject.namespace", "", "does not match event.namespace");
        check_len(e, obj, rc, "reportingController", SIZE_MAX, true);
        check_reporting_controller(e, json_string_value(json_object_get(obj, rc)));
        check_len(e, obj, "reportingInstance", "reportingInstance", 128, true);
        check_len(e, obj, "action", "action", 128, true);
        check_len(e, obj, "reason", "reason", 128, true);
        check_len(e, obj, v1 ? "note" : "message", "message", 1024, false);
    } else if ((rns && *rns) ? !dd_streq(ns, rns) : (ns && *ns && !dd_streq(ns, "default"))) {
        invalid_value(e, "involvedObject.namespace", rns ? rns : "",
                      "does not match event.namespace");
    }
}

/* events.k8s.io/v1 create: upstream's ValidateEventCreate for that version — the legacy checks,
 * then the strict ones (causes again on the core field names: count, source...). */
static void check_event_v1(errs *e, const json_t *obj)
{
    const json_t *et = json_object_get(obj, "eventTime");
    const json_t *series = json_object_get(obj, "series");
    if (json_is_object(series)) {
        if (json_integer_value(json_object_get(series, "count")) < 2)
            invalid_value(e, "series.count", "", "should be at least 2");
        if (unset(json_object_get(series, "lastObservedTime")))
            required(e, "series.lastObservedTime");
    }
    if (unset(et))
        required(e, "eventTime");
    const char *type = json_string_value(json_object_get(obj, "type"));
    if (!dd_streq(type, "Normal") && !dd_streq(type, "Warning"))
        add(e, "FieldValueInvalid", "type", "Invalid value: \"\": has invalid value: %s",
            type ? type : "");
    static const char *const deprecated[][2] = {{"deprecatedFirstTimestamp", "firstTimestamp"},
                                                {"deprecatedLastTimestamp", "lastTimestamp"},
                                                {"deprecatedCount", "count"},
                                                {"deprecatedSource", "source"}};
    for (size_t i = 0; i < DD_ARRAY_SIZE(deprecated); i++) {
        const json_t *v = json_object_get(obj, deprecated[i][0]);
        if (json_is_object(v)) /* a source counts when component or host is set */
            v = unset(json_object_get(v, "component")) ? json_object_get(v, "host") : v;
        if (!unset(v))
            invalid_value(e, deprecated[i][1], "", "needs to be unset");
    }
}

/* events.k8s.io/v1 update (upstream ValidateEventUpdate for that version): a changed series
 * is validated, everything else an Event reports is immutable. Causes name the core fields;
 * reason is listed twice, as upstream does. Non-string values are shown as JSON. */
static void check_event_v1_update(errs *e, const json_t *obj, const json_t *old)
{
    if (!json_equal(json_object_get(obj, "series"), json_object_get(old, "series"))) {
        const json_t *series = json_object_get(obj, "series");
        if (json_is_object(series) && json_integer_value(json_object_get(series, "count")) < 2)
            invalid_value(e, "series.count", "", "should be at least 2");
        if (json_is_object(series) && unset(json_object_get(series, "lastObservedTime")))
            required(e, "series.lastObservedTime");
    }
    static const char *const fields[][2] = {
        {"regarding", "involvedObject"},
        {"reason", "reason"},
        {"note", "message"},
        {"deprecatedSource", "source"},
        {"deprecatedFirstTimestamp", "firstTimestamp"},
        {"deprecatedLastTimestamp", "lastTimestamp"},
        {"deprecatedCount", "count"},
        {"reason", "reason"},
        {"type", "type"},
        {"eventTime", "eventTime"},
        {"action", "action"},
        {"related", "related"},
        {"reportingController", "reportingController"},
        {"reportingInstance", "reportingInstance"},
    };
    for (size_t i = 0; i < DD_ARRAY_SIZE(fields); i++) {
        const json_t *a = json_object_get(obj, fields[i][0]),
                     *b = json_object_get(old, fields[i][0]);
        if ((unset(a) && unset(b)) || json_equal(a, b))
            continue;
        if (json_is_string(a) || !a) {
            invalid_value(e, fields[i][1], a ? json_string_value(a) : "", "field is immutable");
            continue;
        }
        _cleanup_free_ char *v = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
        add(e, "FieldValueInvalid", fields[i][1], "Invalid value: %s: field is immutable", v);
    }
}

static int fail_invalid(kobj_status *st, const kres_resource *r, const char *name, json_t *causes)
{
    dd_buf b = DD_BUF_INIT;
    dd_buf_init(&b);
    size_t n = json_array_size(causes), i;
    json_t *c;
    if (n > 1)
        dd_buf_addc(&b, '[');
    json_array_foreach(causes, i, c)
        dd_buf_addf(&b, "%s%s: %s", i ? ", " : "", json_string_value(json_object_get(c, "field")),
                    json_string_value(json_object_get(c, "message")));
    if (n > 1)
        dd_buf_addc(&b, ']');
    char qkind[300];
    if (r->group[0])
        snprintf(qkind, sizeof(qkind), "%s.%s", r->kind, r->group);
    else
        snprintf(qkind, sizeof(qkind), "%s", r->kind);
    int ret =
        kobj_fail(st, 422, "Invalid", "%s \"%s\" is invalid: %s", qkind, name ? name : "", b.data);
    dd_buf_release(&b);
    snprintf(st->name, sizeof(st->name), "%s", name ? name : "");
    snprintf(st->group, sizeof(st->group), "%s", r->group);
    snprintf(st->kind, sizeof(st->kind), "%s", r->kind);
    st->causes = causes;
    return ret;
}

int kobj_validate(const kres_resource *r, const json_t *obj, const json_t *old, kobj_status *st)
{
    errs e = {.causes = json_array()};
    json_t *meta = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(meta, "name"));
    if (name && !old)
        check_name(&e, r, name);
    check_labels(&e, json_object_get(meta, "labels"), "metadata.labels", true);
    check_labels(&e, json_object_get(meta, "annotations"), "metadata.annotations", false);
    check_kind(&e, r, obj);
    if (!old && !*r->group && !strcmp(r->resource, "pods") &&
        json_array_size(json_object_get(json_object_get(obj, "spec"), "ephemeralContainers")))
        add(&e, "FieldValueForbidden", "spec.ephemeralContainers",
            "Forbidden: cannot be set on create");
    if (!strcmp(r->resource, "events") && (!*r->group || !strcmp(r->group, "events.k8s.io"))) {
        bool v1 = *r->group != '\0';
        check_event_legacy(&e, obj, v1);
        if (v1 && !old)
            check_event_v1(&e, obj);
        else if (v1)
            check_event_v1_update(&e, obj, old);
    }
    if (old)
        check_immutable(&e, r, obj, old);
    if (json_array_size(e.causes) == 0) {
        json_decref(e.causes);
        return 0;
    }
    return fail_invalid(st, r, name, e.causes);
}
