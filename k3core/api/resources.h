/* resources: the table of API resources k3core serves — every built-in kind of Kubernetes 1.33,
 * generated from the upstream OpenAPI v3 documents by k3core/gen/gen-resources.py into
 * resources-gen.c, plus CustomResourceDefinitions registered at run time. Prefix: kres_.
 *
 * The server builds discovery (aggregated and legacy) and request routing from this table; the
 * object layer (objects.h) takes its store keys, scope, subresources and schema from it.
 *
 * Lifetime: entries of the built-in table are static. Entries added by kres_register() live
 * until kres_unregister() removes them; a pointer obtained before that must not be used after
 * it (the server looks resources up per request and does not keep them across loop turns).
 * kres_generation() changes whenever the set changes (discovery/OpenAPI caches key on it).
 * Single-threaded like the rest of k3core.
 */
#ifndef K3CORE_API_RESOURCES_H
#define K3CORE_API_RESOURCES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dind/base.h"
#include "dind/json.h"

/* Verbs as discovery spells them, as a bitmask. */
enum kres_verb {
    KRES_GET = 1u << 0,
    KRES_LIST = 1u << 1,
    KRES_WATCH = 1u << 2,
    KRES_CREATE = 1u << 3,
    KRES_UPDATE = 1u << 4,
    KRES_PATCH = 1u << 5,
    KRES_DELETE = 1u << 6,
    KRES_DELETECOLLECTION = 1u << 7,
};
/* Writes the discovery verb names of mask into a JSON array (order as upstream:
 * create delete deletecollection get list patch update watch). */
json_t *kres_verbs_json(unsigned mask);

/* A subresource: pods/status, deployments/scale, pods/log, pods/exec, serviceaccounts/token... */
typedef struct kres_subresource {
    const char *name;    /* "status", "scale", "log", "exec", "attach", "portforward", ... */
    const char *group;   /* of the kind it takes/returns, e.g. "autoscaling" for scale */
    const char *version; /* "v1" */
    const char *kind;    /* "Scale", "Pod", "PodExecOptions", "TokenRequest", ... */
    unsigned verbs;
} kres_subresource;

enum kres_flags {
    KRES_NAMESPACED = 1u << 0,
    KRES_STORAGE_VERSION = 1u << 1, /* this version is the one stored */
    KRES_CUSTOM = 1u << 2,          /* registered from a CRD */
    KRES_VIRTUAL = 1u << 3,         /* create-only review kinds never stored (SelfSubject*Review,
                                       TokenReview, ...): the server answers them itself */
    KRES_PRERELEASE = 1u << 4,      /* alpha/beta version: off by default, as in a default 1.33
                                       cluster; kres_enable_prerelease() turns them on */
};

typedef struct kres_resource {
    const char *group;     /* "" for the core group */
    const char *version;   /* "v1", "v1beta1", ... */
    const char *kind;      /* "Deployment" */
    const char *list_kind; /* "DeploymentList" */
    const char *resource;  /* plural, "deployments" */
    const char *singular;  /* "deployment" */
    unsigned flags;
    unsigned verbs;
    const char *const *short_names; /* NULL-terminated, may be NULL */
    const char *const *categories;  /* NULL-terminated, may be NULL */
    const kres_subresource *subresources;
    size_t n_subresources;
    /* Schema key: the OpenAPI definition name of the kind ("io.k8s.api.apps.v1.Deployment");
     * for CRDs "<crd name>/<version>" ("widgets.example.com/v1"). */
    const char *schema_name;
} kres_resource;

static inline bool kres_namespaced(const kres_resource *r)
{
    return r->flags & KRES_NAMESPACED;
}

/* "apps/v1" or "v1" for the core group; out >= 256 bytes. */
void kres_api_version(const kres_resource *r, char *out, size_t outlen);
/* "deployments.apps" or "pods" (the form used in error messages). */
void kres_qualified_name(const kres_resource *r, char *out, size_t outlen);
const kres_subresource *kres_find_subresource(const kres_resource *r, const char *name);

/* ---- lookup and iteration ---- */

/* Serve alpha/beta versions too (kube-apiserver --runtime-config=api/all=true). Call before the
 * first lookup. */
void kres_enable_prerelease(bool on);
size_t kres_count(void);
const kres_resource *kres_at(size_t i); /* 0 <= i < kres_count(): built-ins first, then CRDs */
uint64_t kres_generation(void);

const kres_resource *kres_lookup(const char *group, const char *version, const char *resource);
const kres_resource *kres_lookup_kind(const char *group, const char *version, const char *kind);
/* Any version of group/resource, preferring the storage version. */
const kres_resource *kres_lookup_any_version(const char *group, const char *resource);

/* Groups in discovery order ("" first, then upstream's order, then CRD groups); versions of a
 * group in preference order (first = preferred). Returned arrays are NULL-terminated and owned
 * by the table (valid until the next register/unregister). */
const char *const *kres_groups(void);
const char *const *kres_group_versions(const char *group);
const char *kres_preferred_version(const char *group);

/* ---- CustomResourceDefinitions ---- */

/* Adds (or replaces) the resources one CRD object (apiextensions.k8s.io/v1 JSON) defines: one
 * entry per served version, with scope, names (plural, singular, kind, listKind, shortNames,
 * categories), status/scale subresources and the structural schema used for pruning. */
int kres_register_crd(const json_t *crd, dd_err *e);
/* Removes the resources of CRD `name` ("widgets.example.com"); absent is success. */
void kres_unregister_crd(const char *name);

/* ---- schema (pruning, defaulting, strategic merge) ----
 * The built-in schemas are a compact JSON extracted from the OpenAPI v3 documents at generation
 * time (only what pruning and patching need: properties, items, additionalProperties, $ref,
 * types, x-kubernetes-patch-merge-key/strategy, list-type, list-map-keys,
 * x-kubernetes-preserve-unknown-fields, int-or-string, embedded-resource) and embedded in the
 * binary (resources-gen.c). It is parsed on first use. A schema node is a JSON object of that
 * shape; NULL means "anything goes" (no pruning below it). */
const json_t *kres_schema(const kres_resource *r);
/* Child schema of a node: property `name` of an object node (additionalProperties when the
 * node is a map). NULL when unknown (*ret_known = false) or untyped. */
const json_t *kres_schema_child(const json_t *node, const char *name, bool *ret_known);
const json_t *kres_schema_items(const json_t *node);
/* Follows "r" ($ref) links to the node carrying the structure (t/p/i/a); NULL stays NULL. */
const json_t *kres_schema_resolve(const json_t *node);

#endif
