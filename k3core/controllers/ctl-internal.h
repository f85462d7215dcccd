/* ctl-internal.h: what the controller files share — the cache fed by watches, the work queue
 * and the write helpers over the object API. Not included outside k3core/controllers/.
 */
#ifndef K3CORE_CONTROLLERS_INTERNAL_H
#define K3CORE_CONTROLLERS_INTERNAL_H

#include "k3core/api/selector.h"
#include "k3core/controllers/controllers.h"

enum kctl_kind {
    KC_PODS,
    KC_RS,
    KC_DEPLOY,
    KC_JOBS,
    KC_SERVICES,
    KC_CRONJOBS,
    KC_STS,
    KC_DS,
    KC_PVCS,
    KC_PVS,
    KC_PDBS,
    KC_HPAS,
    KC_N
};

struct kctl {
    ev_loop *loop;
    kobj_api *api;
    ev_timer *timer;
    kobj_watch *watches[KC_N];
    json_t *cache[KC_N]; /* "ns/name" → object (as last seen by the watch) */
    json_t *queue[KC_N]; /* "ns/name" → true: objects to sync */
    char *storage_dir;   /* local-path provisioner's directory; NULL = no provisioning */
    char *storage_node;  /* this server's own node (its in-process agent); NULL = none */
    json_t *warned;      /* "ns/name" → last warning recorded for a CronJob (no repeats) */
    int64_t last_resync_ns;
    uint64_t resyncs;
    bool armed;
    struct kctl_watch_ud {
        kctl *c;
        enum kctl_kind kind;
    } wud[KC_N];
};

const kres_resource *kctl_res(enum kctl_kind kind);
/* Marks ns/name of kind for the next sync and arms the timer. */
void kctl_enqueue(kctl *c, enum kctl_kind kind, const char *ns, const char *name);
const json_t *kctl_cached(kctl *c, enum kctl_kind kind, const char *ns, const char *name);

/* Objects of kind in ns (new array of references, stable while the cache changes). */
json_t *kctl_list_ns(kctl *c, enum kctl_kind kind, const char *ns);
/* Pods in ns whose controller ownerReference has uid (terminal and deleting ones included). */
json_t *kctl_pods_controlled_by(kctl *c, const char *ns, const char *uid);
/* The controller ownerReference of obj, or NULL. */
const json_t *kctl_controller_ref(const json_t *obj);
/* Label selector {matchLabels, matchExpressions} → ksel; NULL for a missing or invalid one. */
ksel *kctl_selector(const json_t *label_selector);
ksel *kctl_map_selector(const json_t *labels); /* a Service's spec.selector map */

const char *kctl_str(const json_t *obj, const char *k1, const char *k2);
int64_t kctl_int(const json_t *obj, const char *k1, const char *k2, int64_t def);
const char *kctl_name(const json_t *obj);
const char *kctl_ns(const json_t *obj);
const char *kctl_uid(const json_t *obj);
char *kctl_now(void); /* RFC 3339 seconds */

/* Writes; each returns 0 or a negative errno, logging the API's message at debug level.
 * Objects are borrowed. */
int kctl_create(kctl *c, const kres_resource *r, const char *ns, const json_t *obj,
                json_t **ret_created);
int kctl_update(kctl *c, const kres_resource *r, const json_t *obj);
int kctl_update_status(kctl *c, const kres_resource *r, const json_t *obj);
int kctl_delete(kctl *c, const kres_resource *r, const char *ns, const char *name,
                const char *policy);
/* An Event (events v1 core) about obj from component, like upstream's recorder. */
void kctl_event(kctl *c, const json_t *obj, const char *type, const char *reason,
                const char *component, const char *fmt, ...) DD_PRINTF(6, 7);

/* A condition list helper: sets type to status/reason/message, keeping lastTransitionTime when
 * the status does not change; lastUpdateTime too when with_update. */
void kctl_set_condition(json_t *conds, const char *type, const char *status, const char *reason,
                        const char *message, bool with_update);
const json_t *kctl_condition(const json_t *conds, const char *type);

/* Creates a pod from owner's template (generateName "<owner>-" unless the template's metadata
 * has one, controller ownerReference)
 * and records SuccessfulCreate from component. */
int kctl_create_pod(kctl *c, const json_t *owner, const json_t *tmpl, const char *component,
                    json_t *extra_labels);
/* Deletes a pod and records SuccessfulDelete. */
int kctl_delete_pod(kctl *c, const json_t *owner, const json_t *pod, const char *component);
/* Pods matching owner's selector that it controls or adopts (orphans it no longer selects are
 * released); new array. */
json_t *kctl_claim_pods(kctl *c, const json_t *owner, const ksel *sel);
/* Rewrites obj's ownerReferences: adds owner's controller reference, or (owner NULL) drops the
 * reference to uid. */
int kctl_set_owner(kctl *c, const kres_resource *res, const json_t *obj, const json_t *owner,
                   const char *uid);
/* Scale-down order (kctl_pod_cmp) of an array of pods, in place. */
void kctl_sort_pods(json_t *pods);

/* The ControllerRevision `name` for owner's current template exists with the highest
 * revision; old ones beyond revisionHistoryLimit are deleted, except in_use (may be NULL). */
int kctl_ensure_revision(kctl *c, const json_t *owner, const char *name, const char *hash,
                         const char *in_use);

/* The per-kind syncs (one object each) and the pod → owner fan-out. */
int kctl_sync_rs(kctl *c, const char *ns, const char *name);
int kctl_sync_deploy(kctl *c, const char *ns, const char *name);
int kctl_sync_job(kctl *c, const char *ns, const char *name);
int kctl_sync_service(kctl *c, const char *ns, const char *name);
int kctl_sync_cronjob(kctl *c, const char *ns, const char *name);
int kctl_sync_sts(kctl *c, const char *ns, const char *name);
int kctl_sync_ds(kctl *c, const char *ns, const char *name);
int kctl_sync_pvc(kctl *c, const char *ns, const char *name);
int kctl_sync_pv(kctl *c, const char *ns, const char *name);
int kctl_sync_pdb(kctl *c, const char *ns, const char *name);
int kctl_sync_hpa(kctl *c, const char *ns, const char *name);
/* A Deployment, StatefulSet or ReplicaSet changed: queue the autoscalers that target it. */
void kctl_hpa_target_changed(kctl *c, enum kctl_kind kind, const json_t *obj);
/* A pod changed: queue the disruption budgets of its namespace. */
void kctl_disruption_pod_changed(kctl *c, const json_t *pod);
/* A pod changed: queue the claims it mounts once it has a node (WaitForFirstConsumer). */
void kctl_volumes_pod_changed(kctl *c, const json_t *pod);
/* A pod changed (old may be NULL): queue the services whose selector matches either. */
void kctl_endpoints_pod_changed(kctl *c, const json_t *old, const json_t *pod);

#endif
