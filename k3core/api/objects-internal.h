/* objects internals shared by the kobj_ files: the api struct, object helpers and the
 * per-concern entry points (defaults.c, validate.c, prune.c, patch.c, smp.c, managed.c,
 * fields.c, controllers.c, watch.c). Not for other modules. */
#ifndef K3CORE_API_OBJECTS_INTERNAL_H
#define K3CORE_API_OBJECTS_INTERNAL_H

#include "k3core/api/objects.h"
#include "k3core/api/selector.h"

struct kobj_api {
    kst_store *store;
    char *ca_pem;
    uint32_t svc_base, svc_mask; /* service CIDR, host order */
    uint32_t dns_ip;             /* cluster DNS address (kube-dns), host order */
    int node_port_lo, node_port_hi;
    kst_watch *change_watch; /* sets `dirty` on writes the controllers must look at */
    bool dirty;              /* deletions, deletionTimestamps or ownerReferences since the last
                                controller pass that changed nothing */
    int64_t events_swept_ns; /* monotonic time of the last expiry pass over Events */
};

/* metadata helpers (borrowed results) */
json_t *kobj_meta(json_t *obj); /* creates metadata {} when absent */
const char *kobj_meta_str(const json_t *obj, const char *key);
json_t *kobj_parse_value(const char *value, size_t len);
/* Parses a stored value and sets metadata.resourceVersion and apiVersion/kind of r. */
json_t *kobj_from_kv(const kres_resource *r, const kst_kv *kv);
/* The stored form of obj (converted to r's storage version) without metadata.resourceVersion. */
char *kobj_dump_for_store(const kres_resource *r, const json_t *obj);
/* A stored object converted to r's served form (convert.c; takes the reference, NULL passes
 * through). */
json_t *kobj_from_storage(const kres_resource *r, json_t *stored);
void kobj_set_rv(json_t *obj, int64_t rev);
/* convert-hpa.c: HorizontalPodAutoscaler autoscaling/v1 ↔ v2 (new objects), v2's defaults. */
json_t *kobj_hpa_v1_to_v2(const json_t *obj);
json_t *kobj_hpa_v2_to_v1(const json_t *obj);
void kobj_hpa_v2_defaults(json_t *obj);
/* Sets apiVersion and kind of r as the first two keys. */
void kobj_set_type(const kres_resource *r, json_t *obj);

/* Fills details name/group/kind(resource) of st for r and name. */
void kobj_status_details(kobj_status *st, const kres_resource *r, const char *name);
int kobj_not_found(kobj_status *st, const kres_resource *r, const char *name);
int kobj_internal(kobj_status *st, const dd_err *e);
/* 410 Expired for -ERANGE from the store, 500 otherwise. */
int kobj_store_fail(kobj_status *st, const dd_err *e, int r);

/* Prefix of a resource's keys in a namespace (ns NULL = all). */
char *kobj_prefix(const kres_resource *r, const char *ns);
const kres_resource *kobj_res_of(const char *group, const char *kind);

/* Namespace admission: the namespace exists and is not terminating. */
int kobj_check_namespace(kobj_api *api, const kres_resource *r, const char *ns, const char *name,
                         kobj_status *st);

/* Write pipeline pieces. */
int kobj_prune(const kres_resource *r, json_t *obj, enum kobj_validation mode, char ***warnings,
               kobj_status *st);
int kobj_apply_defaults(kobj_api *api, const kres_resource *r, json_t *obj, const json_t *old,
                        kobj_status *st);
int kobj_validate(const kres_resource *r, const json_t *obj, const json_t *old, kobj_status *st);
int kobj_service_defaults(kobj_api *api, json_t *obj, const json_t *old, kobj_status *st);
bool kobj_tracks_generation(const kres_resource *r);
bool kobj_has_status(const kres_resource *r);

/* Selectors with per-kind field support; -EINVAL + 400 for unsupported fields. */
int kobj_field_selector(const kres_resource *r, const char *text, ksel **ret, kobj_status *st);
bool kobj_matches(const kres_resource *r, const json_t *obj, const ksel *labels,
                  const ksel *fields);

/* Patches (return a new object or fail with st filled). */
int kobj_json_patch(const json_t *doc, const json_t *patch, json_t **ret, kobj_status *st);
json_t *kobj_merge_patch(const json_t *doc, const json_t *patch);
int kobj_strategic_patch(const json_t *schema, const json_t *doc, const json_t *patch, json_t **ret,
                         kobj_status *st);

/* managedFields: record `manager`'s fields after a write (operation "Update" or "Apply"). */
json_t *kobj_fieldset(const kres_resource *r, const json_t *obj);
void kobj_record_manager(const kres_resource *r, json_t *obj, const json_t *old,
                         const char *manager, const char *operation, const char *subresource);
int kobj_server_side_apply(const kres_resource *r, const json_t *live, const json_t *applied,
                           const char *manager, bool force, json_t **ret, kobj_status *st);

/* Shared write core used by update/patch/apply: writes new_obj over old (stored RV old_rev). */
/* Subresource marker for the layer's own writes (deletion marks, controllers): the object is
 * written as given, with no carried-over metadata or status split. */
#define KOBJ_INTERNAL_WRITE "k3core-internal"

/* kobj_create, keeping the body's managedFields when `applied` (server-side apply create). */
int kobj_create_ex(kobj_api *api, const kobj_req *req, const json_t *body, bool applied,
                   kobj_result *ret, kobj_status *st);

/* Takes ownership of new_obj. `applied`: managedFields were already computed (apply). */
int kobj_write_update(kobj_api *api, const kobj_req *req, json_t *new_obj, const json_t *old,
                      int64_t old_rev, bool applied, kobj_result *ret, kobj_status *st);
/* Side effects after a committed write: CRD (un)registration, per-namespace objects, removal
 * of objects whose deletion finished (deletionTimestamp set, no finalizers left). */
void kobj_after_create(kobj_api *api, const kres_resource *r, const json_t *obj);
int kobj_after_update(kobj_api *api, const kres_resource *r, json_t *obj, kobj_status *st);
void kobj_after_delete(kobj_api *api, const kres_resource *r, const json_t *obj);
/* Scale subresource: the autoscaling/v1 Scale view of an object (NULL when the kind has none)
 * and the object with a Scale's spec.replicas written back. */
json_t *kobj_scale_of(const kres_resource *r, const json_t *obj);
int kobj_scale_apply(const kres_resource *r, const json_t *obj, const json_t *scale, json_t **ret,
                     kobj_status *st);
/* POST on a subresource: pods/binding, pods/eviction. */
/* pods/eviction (eviction.c): a delete the pod's PodDisruptionBudget may refuse (429). */
int kobj_evict(kobj_api *api, const kobj_req *req, const json_t *body, kobj_result *ret,
               kobj_status *st);
int kobj_create_subresource(kobj_api *api, const kobj_req *req, const json_t *body,
                            kobj_result *ret, kobj_status *st);
void kobj_now(char out[32]);
/* Store watch callback marking the controllers dirty (controllers.c). */
void kobj_note_change(void *userdata, const kst_event *ev);
/* Removes ownerReferences to uid from every object (Orphan propagation). */
int kobj_orphan_dependents(kobj_api *api, const char *uid);
int kobj_get_raw(kobj_api *api, const kres_resource *r, const char *ns, const char *name,
                 json_t **ret_obj, int64_t *ret_rev, kobj_status *st);
int kobj_do_delete(kobj_api *api, const kres_resource *r, const char *ns, const char *name,
                   kobj_status *st);

/* Bootstrap objects and per-namespace objects. */
int kobj_bootstrap(kobj_api *api, dd_err *e);
int kobj_namespace_objects(kobj_api *api, const char *ns, dd_err *e);

#endif
