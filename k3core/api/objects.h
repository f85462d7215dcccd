/* objects: Kubernetes object semantics over the store — generic CRUD for every resource in the
 * table (resources.h), patches, server-side apply, validation, defaults, finalizers, namespace
 * lifecycle, garbage collection, bootstrap objects and watches with selectors. Prefix: kobj_.
 *
 * The HTTP server (k3core/server/) decodes the request (JSON, YAML or protobuf → json_t), looks
 * the resource up in the table, fills a kobj_req and calls one function here; it maps the
 * returned kobj_status to the `Status` JSON with kobj_status_json() exactly once. Nothing here
 * knows HTTP, Tables or content types.
 *
 * Objects are JSON (jansson) in their served version with apiVersion/kind set. Store keys are
 * "/registry/<group or core>/<resource>/<namespace>/<name>" ("/registry/core/namespaces/x"
 * for cluster-scoped; one key space per group/resource, whatever the served version: no
 * conversion between versions is done, except for the resources convert.c maps onto another:
 * events.k8s.io/v1 Events live under /registry/core/events/). The stored JSON has no
 * metadata.resourceVersion: it is the row's revision, filled in on every read.
 *
 * Ownership: json_t results are new references the caller decrefs; inputs are borrowed.
 * Threading: single loop; watch callbacks run synchronously from the write that caused them.
 */
#ifndef K3CORE_API_OBJECTS_H
#define K3CORE_API_OBJECTS_H

#include <stdbool.h>
#include <stdint.h>

#include "dind/base.h"
#include "dind/json.h"
#include "k3core/api/resources.h"
#include "k3core/store/store.h"

typedef struct kobj_api kobj_api;
typedef struct kobj_watch kobj_watch;

/* ---- errors: one structured status, mapped to Status JSON once by the server ---- */

typedef struct kobj_status {
    int code;           /* HTTP status; 0 when no error was set */
    const char *reason; /* "NotFound", "AlreadyExists", "Conflict", "Invalid", "BadRequest",
                           "Forbidden", "Expired", "MethodNotAllowed", "UnsupportedMediaType",
                           "RequestEntityTooLarge", "Gone", "InternalError" (static) */
    char message[1024]; /* exactly as upstream, e.g. `pods "x" not found` */
    char name[254];     /* details.name ("" = none) */
    char group[254];    /* details.group */
    char kind[128];     /* details.kind (upstream puts the resource plural here for most errors) */
    json_t *causes;     /* details.causes: array of {reason,message,field}, or NULL */
    int retry_after;    /* details.retryAfterSeconds (0 = none) */
} kobj_status;
void kobj_status_release(kobj_status *st); /* frees causes; leaves code/message */
/* Sets code/reason/message; returns -1 mapped from code (e.g. -ENOENT for 404). */
int kobj_fail(kobj_status *st, int code, const char *reason, const char *fmt, ...) DD_PRINTF(4, 5);
/* The `Status` object (kind Status, apiVersion v1, status Failure, message, reason, details,
 * code). */
json_t *kobj_status_json(const kobj_status *st);
/* A `Status` of success ({"status":"Success","details":{name,group,kind,uid}}) as returned by
 * deletes of non-pod kinds. */
json_t *kobj_status_success(const kres_resource *r, const json_t *obj);

/* ---- setup ---- */

typedef struct kobj_config {
    const char *service_cidr;    /* "10.43.0.0/16" when NULL (k3s's default) */
    const char *node_port_range; /* "30000-32767" when NULL */
    const char *ca_pem;          /* content of the kube-root-ca.crt ConfigMaps; NULL = none */
    /* The cluster DNS address (--cluster-dns), "10.43.0.10" when NULL: the bootstrap `kube-dns`
     * Service in kube-system holds it, and the ClusterIP allocator never hands it out. */
    const char *cluster_dns;
} kobj_config;

/* Opens the object layer on an open store, loads CRDs from the store into the resource table
 * and creates the bootstrap objects that are missing (namespaces default/kube-system/
 * kube-public/kube-node-lease, the `kubernetes` Service, k3s's `kube-dns` Service on the cluster
 * DNS address (answered by every node's kubelet, k3core/kubelet/dns.c), ServiceAccount `default`
 * and ConfigMap `kube-root-ca.crt` in every namespace). The store stays owned by the caller. */
int kobj_open(kst_store *store, const kobj_config *cfg, kobj_api **ret, dd_err *e);
void kobj_close(kobj_api *api); /* cancels watches; NULL-safe */
kst_store *kobj_store(kobj_api *api);
/* Newest resourceVersion (for bookmarks and list RVs). */
int64_t kobj_current_rv(kobj_api *api);

/* ---- requests ---- */

enum kobj_validation { KOBJ_VALIDATE_WARN = 0, KOBJ_VALIDATE_STRICT, KOBJ_VALIDATE_IGNORE };

typedef struct kobj_req {
    const kres_resource *res;
    const char *subresource;   /* NULL, "status", "scale", "finalize", "binding", ... */
    const char *ns;            /* namespace; NULL for cluster-scoped or an all-namespaces list */
    const char *name;          /* object name; NULL for collections and for create */
    const char *field_manager; /* ?fieldManager=, else derived from the User-Agent by the
                                  server (not for apply); NULL → "unknown" */
    bool dry_run;              /* ?dryRun=All */
    enum kobj_validation validation; /* ?fieldValidation= (upstream default: Warn) */
    bool force;                      /* ?force=true (server-side apply) */
    const char *managed_as; /* the subresource managedFields records when the write runs as the
                               main resource (a scale write is an update of the object) */
} kobj_req;

/* Parses "Strict"/"Warn"/"Ignore" ("" / NULL → Warn); -EINVAL with a 400 in st otherwise. */
int kobj_parse_validation(const char *s, enum kobj_validation *ret, kobj_status *st);

/* The result of a write: the object as stored (or as it would be with dry_run), warnings for
 * `Warning: 299 - "<text>"` headers, and the HTTP code (200, 201 created, 202 accepted for an
 * asynchronous delete). */
typedef struct kobj_result {
    json_t *object;
    char **warnings; /* strv, may be NULL */
    int code;
} kobj_result;
void kobj_result_release(kobj_result *r);

int kobj_get(kobj_api *api, const kobj_req *req, json_t **ret, kobj_status *st);

typedef struct kobj_list_opts {
    const char *label_selector;   /* ?labelSelector= */
    const char *field_selector;   /* ?fieldSelector= */
    int64_t limit;                /* 0 = all */
    const char *continue_token;   /* ?continue= */
    const char *resource_version; /* ?resourceVersion= ("", "0" = newest) */
} kobj_list_opts;

/* Returns the <Kind>List: {apiVersion, kind, metadata{resourceVersion, continue,
 * remainingItemCount}, items}. Items carry apiVersion/kind. */
int kobj_list(kobj_api *api, const kobj_req *req, const kobj_list_opts *opts, json_t **ret,
              kobj_status *st);

int kobj_create(kobj_api *api, const kobj_req *req, const json_t *body, kobj_result *ret,
                kobj_status *st);
/* PUT: full replacement (respecting the status/spec split of subresources); body's
 * metadata.resourceVersion, when set, must match (409 Conflict otherwise). */
int kobj_update(kobj_api *api, const kobj_req *req, const json_t *body, kobj_result *ret,
                kobj_status *st);

enum kobj_patch_type {
    KOBJ_PATCH_JSON,      /* application/json-patch+json (RFC 6902) */
    KOBJ_PATCH_MERGE,     /* application/merge-patch+json (RFC 7386) */
    KOBJ_PATCH_STRATEGIC, /* application/strategic-merge-patch+json */
    KOBJ_PATCH_APPLY,     /* application/apply-patch+yaml (server-side apply; body as JSON) */
};
/* Maps a Content-Type (parameters ignored) to a patch type; -EINVAL with 415 in st otherwise. */
int kobj_patch_type_parse(const char *content_type, enum kobj_patch_type *ret, kobj_status *st);
int kobj_patch(kobj_api *api, const kobj_req *req, enum kobj_patch_type type, const json_t *patch,
               kobj_result *ret, kobj_status *st);

/* DELETE with a DeleteOptions body (may be NULL): gracePeriodSeconds, propagationPolicy,
 * preconditions {uid, resourceVersion}. Pods come back as the object; other kinds as a
 * success Status, or the object with deletionTimestamp while finalizers remain. */
int kobj_delete(kobj_api *api, const kobj_req *req, const json_t *delete_options, kobj_result *ret,
                kobj_status *st);
/* DELETE on a collection: deletes every match; returns the <Kind>List of deleted objects. */
int kobj_delete_collection(kobj_api *api, const kobj_req *req, const kobj_list_opts *opts,
                           const json_t *delete_options, kobj_result *ret, kobj_status *st);

/* ---- watch ---- */

typedef struct kobj_watch_opts {
    const char *label_selector;
    const char *field_selector;
    const char *resource_version; /* NULL/"" /"0": current objects as ADDED first */
    bool allow_bookmarks;
    bool send_initial_events; /* ADDED for current matches, then a BOOKMARK with annotation
                                 k8s.io/initial-events-end: "true" (needs allow_bookmarks) */
} kobj_watch_opts;

/* type is "ADDED", "MODIFIED", "DELETED", "BOOKMARK" or "ERROR"; object is borrowed for the
 * call. An object that stops matching the selectors arrives as DELETED, one that starts
 * matching as ADDED (upstream's semantics). ERROR carries a Status object. */
typedef void (*kobj_watch_fn)(void *userdata, const char *type, json_t *object);

/* Starts a watch on req->res in req->ns (NULL = all namespaces; req->name restricts to one
 * object). Initial events and the replayed history are delivered through fn before this
 * returns. A resourceVersion older than the compacted history fails with 410 Expired
 * ("too old resource version: R (C)"); the server turns that into an ERROR event. */
int kobj_watch_start(kobj_api *api, const kobj_req *req, const kobj_watch_opts *opts,
                     kobj_watch_fn fn, void *userdata, kobj_watch **ret, kobj_status *st);
/* Sends a BOOKMARK with the current resourceVersion (only when allow_bookmarks). */
void kobj_watch_bookmark(kobj_watch *w);
void kobj_watch_stop(kobj_watch *w); /* safe inside the callback; NULL-safe */

/* ---- controllers ----
 * Namespace finalization (Terminating namespaces: delete contents, then finalize and remove),
 * garbage collection by ownerReferences (Background/Foreground/Orphan), removal of objects whose
 * deletionTimestamp has passed with no finalizers left, and compaction of the store. Call from a
 * loop timer; returns the number of objects it changed (call again soon when > 0). */
int kobj_run_controllers(kobj_api *api, dd_err *e);

/* ---- helpers the server and controllers share ---- */

/* Version conversion (convert.c): the resource whose keys and form r is stored under (r itself
 * for most; events.k8s.io/v1 Events are stored as core/v1 Events) and obj converted to that
 * form (new reference). The Table printer uses them to share the stored kind's columns. */
const kres_resource *kobj_storage_res(const kres_resource *r);
json_t *kobj_to_storage(const kres_resource *r, const json_t *obj);
/* obj without metadata.managedFields (new reference; obj itself when it has none, else a copy
 * sharing everything else): for caches that never read them, where they are a large share of
 * every object's memory. */
json_t *kobj_without_managed_fields(json_t *obj);
/* Store key of an object (of its storage resource). */
char *kobj_key(const kres_resource *r, const char *ns, const char *name);

#endif
