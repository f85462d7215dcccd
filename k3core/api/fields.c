/* fields: which field selectors each kind supports (upstream's per-kind field label
 * conversion functions, research §2) and how a field's value is read from an object. Every kind
 * supports metadata.name and metadata.namespace; unsupported fields are a 400 BadRequest
 * `field label not supported: <f>` as upstream answers.
 */
#include <stdio.h>

#include "k3core/api/objects-internal.h"

typedef struct kind_fields {
    const char *group, *kind;
    const char *const fields[16];
} kind_fields;

static const kind_fields table[] = {
    {"",
     "Pod",
     {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
      "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs",
      "status.nominatedNodeName", NULL}},
    {"",
     "Event",
     {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
      "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
      "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type", NULL}},
    {"events.k8s.io",
     "Event",
     {"regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid",
      "regarding.apiVersion", "regarding.resourceVersion", "regarding.fieldPath", "reason",
      "reportingController", "source", "type", NULL}},
    {"", "Secret", {"type", NULL}},
    {"", "Namespace", {"status.phase", NULL}},
    {"", "Node", {"spec.unschedulable", NULL}},
    {"", "ReplicationController", {"status.replicas", NULL}},
    {"apps", "ReplicaSet", {"status.replicas", NULL}},
    {"batch", "Job", {"status.successful", NULL}},
    {"certificates.k8s.io", "CertificateSigningRequest", {"spec.signerName", NULL}},
    {"", "PersistentVolumeClaim", {"spec.volumeName", NULL}},
};

static bool supported(const kres_resource *r, const char *f)
{
    if (strcmp(f, "metadata.name") == 0 || strcmp(f, "metadata.namespace") == 0)
        return true;
    for (size_t i = 0; i < DD_ARRAY_SIZE(table); i++) {
        if (strcmp(table[i].group, r->group) || strcmp(table[i].kind, r->kind))
            continue;
        for (size_t j = 0; table[i].fields[j]; j++)
            if (strcmp(table[i].fields[j], f) == 0)
                return true;
    }
    return false;
}

int kobj_field_selector(const kres_resource *r, const char *text, ksel **ret, kobj_status *st)
{
    dd_err e = {0};
    ksel *s = NULL;
    if (ksel_parse_fields(text, &s, &e) < 0)
        return kobj_fail(st, 400, "BadRequest", "%s", e.msg);
    for (size_t i = 0; ksel_key(s, i); i++) {
        if (!supported(r, ksel_key(s, i))) {
            int rr =
                kobj_fail(st, 400, "BadRequest", "field label not supported: %s", ksel_key(s, i));
            ksel_free(s);
            return rr;
        }
    }
    *ret = s;
    return 0;
}

typedef struct getter {
    const json_t *obj;
    const char *source; /* the key `source` selects on: deprecatedSource for events.k8s.io */
    char buf[64];
} getter;

static const char *get_field(void *ud, const char *field)
{
    getter *g = ud;
    const json_t *v = g->obj;
    _cleanup_free_ char *copy = dd_strdup(strcmp(field, "source") ? field : g->source);
    char *save = NULL;
    for (char *part = strtok_r(copy, ".", &save); part && v; part = strtok_r(NULL, ".", &save))
        v = json_object_get(v, part);
    /* status.podIPs matches the first address, source the component */
    if (json_is_array(v))
        v = json_object_get(json_array_get(v, 0), "ip");
    if (json_is_object(v) && strcmp(field, "source") == 0)
        v = json_object_get(v, "component");
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_boolean(v))
        return json_is_true(v) ? "true" : "false";
    if (json_is_integer(v)) {
        snprintf(g->buf, sizeof(g->buf), "%lld", (long long)json_integer_value(v));
        return g->buf;
    }
    /* unset booleans/ints compare as their zero value, as upstream's conversions do */
    if (!v && (strcmp(field, "spec.unschedulable") == 0 || strcmp(field, "spec.hostNetwork") == 0))
        return "false";
    if (!v && (strcmp(field, "status.replicas") == 0 || strcmp(field, "status.successful") == 0))
        return "0";
    return NULL;
}

bool kobj_matches(const kres_resource *r, const json_t *obj, const ksel *labels, const ksel *fields)
{
    json_t *meta = json_object_get(obj, "metadata");
    if (!ksel_empty(labels) && !ksel_match_labels(labels, json_object_get(meta, "labels")))
        return false;
    if (ksel_empty(fields))
        return true;
    /* events.k8s.io keeps upstream's `source` selector, on the field it is converted to */
    getter g = {.obj = obj,
                .source = strcmp(r->group, "events.k8s.io") ? "source" : "deprecatedSource"};
    return ksel_match_fields(fields, get_field, &g);
}
