/* convert: resources served in one group/version but stored as another — today
 * events.k8s.io/v1 Events, kept under the core Events' keys (/registry/core/events/...) as
 * upstream does, so `kubectl get events` and events.k8s.io clients see one set of Events.
 *
 * A small table maps a served (group, resource) to its storage (group, version, resource) and
 * two field renamings (upstream pkg/apis/events/v1 conversion: note↔message,
 * regarding↔involvedObject, reportingController↔reportingComponent,
 * deprecatedSource↔source, deprecatedFirstTimestamp↔firstTimestamp,
 * deprecatedLastTimestamp↔lastTimestamp, deprecatedCount↔count; eventTime, series, action,
 * reason, type, related, reportingInstance keep their names). The object layer converts at its
 * only two store boundaries: kobj_dump_for_store (to storage) and kobj_from_kv (from storage),
 * and takes keys from the storage resource, so create/update/patch/get/list/watch/delete and
 * the Event expiry need no other special case.
 *
 * autoscaling/v1 HorizontalPodAutoscalers are stored as autoscaling/v2 (upstream's storage
 * version) through convert-hpa.c's structural conversion.
 */
#include <string.h>

#include "k3core/api/objects-internal.h"

typedef struct field_rename {
    const char *served, *stored;
} field_rename;

static const field_rename event_fields[] = {
    {"note", "message"},
    {"regarding", "involvedObject"},
    {"reportingController", "reportingComponent"},
    {"deprecatedSource", "source"},
    {"deprecatedFirstTimestamp", "firstTimestamp"},
    {"deprecatedLastTimestamp", "lastTimestamp"},
    {"deprecatedCount", "count"},
};

typedef struct conversion {
    const char *group, *resource, *version;          /* served (version NULL: any) */
    const char *st_group, *st_version, *st_resource; /* stored */
    const field_rename *fields;                      /* top-level renames, or */
    size_t n_fields;
    json_t *(*to_storage)(const json_t *);   /* a structural conversion (new object) */
    json_t *(*from_storage)(const json_t *); /* and its inverse */
} conversion;

static const conversion table[] = {
    {"events.k8s.io", "events", NULL, "", "v1", "events", event_fields, DD_ARRAY_SIZE(event_fields),
     NULL, NULL},
    {"autoscaling", "horizontalpodautoscalers", "v1", "autoscaling", "v2",
     "horizontalpodautoscalers", NULL, 0, kobj_hpa_v1_to_v2, kobj_hpa_v2_to_v1},
};

static const conversion *find(const kres_resource *r)
{
    for (size_t i = 0; r && i < DD_ARRAY_SIZE(table); i++)
        if (!strcmp(table[i].group, r->group) && !strcmp(table[i].resource, r->resource) &&
            (!table[i].version || !strcmp(table[i].version, r->version)))
            return &table[i];
    return NULL;
}

const kres_resource *kobj_storage_res(const kres_resource *r)
{
    const conversion *c = find(r);
    if (!c)
        return r;
    const kres_resource *s = kres_lookup(c->st_group, c->st_version, c->st_resource);
    return s ? s : r;
}

/* A copy of obj with top-level keys renamed (to_storage: served → stored), order kept. */
static json_t *renamed(const conversion *c, const json_t *obj, bool to_storage)
{
    json_t *out = json_object(), *v;
    const char *key;
    json_object_foreach((json_t *)obj, key, v)
    {
        const char *name = key;
        for (size_t i = 0; i < c->n_fields; i++) {
            const char *from = to_storage ? c->fields[i].served : c->fields[i].stored;
            if (!strcmp(key, from))
                name = to_storage ? c->fields[i].stored : c->fields[i].served;
        }
        json_object_set(out, name, v);
    }
    return out;
}

json_t *kobj_to_storage(const kres_resource *r, const json_t *obj)
{
    const conversion *c = find(r);
    if (!c)
        return json_incref((json_t *)obj);
    json_t *out = c->to_storage ? c->to_storage(obj) : renamed(c, obj, true);
    kobj_set_type(kobj_storage_res(r), out);
    return out;
}

json_t *kobj_from_storage(const kres_resource *r, json_t *stored)
{
    const conversion *c = find(r);
    if (!c || !stored)
        return stored;
    json_t *out = c->from_storage ? c->from_storage(stored) : renamed(c, stored, false);
    json_decref(stored);
    kobj_set_type(r, out);
    return out;
}
