/* volume.c: the PersistentVolume controller and a local-path provisioner, the roles of upstream's
 * persistentvolume-binder and of k3s's packaged local-path-provisioner. A Pending claim binds to
 * the smallest Available volume that fits (class, access modes, capacity); a claim of the
 * local-path class gets a hostPath volume of its own under the storage directory, on the node of
 * its first consumer (volumeBindingMode WaitForFirstConsumer) or, for Immediate, as soon as it is
 * created. A claim with no class at all gets the default class (upstream's retroactive default
 * StorageClass assignment). When its claim is gone a volume is Released; with reclaimPolicy Delete
 * the provisioned volume and, when it lives on this server's own node, its directory are deleted
 * (a volume on another node is removed by that node's kubelet, see k3core/kubelet/localpath.c).
 *
 * It does not resize, snapshot or clone volumes, and it does not restrict the access modes a
 * hostPath volume really offers (a node-local directory serves any mode on its node).
 */
#include <stdio.h>
#include <sys/stat.h>

#include "k3core/api/quantity.h"
#include "k3core/controllers/ctl-internal.h"

#define PROVISIONER "rancher.io/local-path"
#define CLASS       "local-path"
#define COMPONENT   "persistentvolume-controller"

static const kres_resource *res_of(const char *group, const char *resource)
{
    return kres_lookup(group, "v1", resource);
}

static int64_t storage_bytes(const json_t *resources_or_capacity, const char *key)
{
    const json_t *q = json_object_get(resources_or_capacity, key);
    if (key && !strcmp(key, "requests"))
        q = json_object_get(q, "storage");
    kqty v;
    if (!json_is_string(q) || kqty_parse(json_string_value(q), &v, NULL) < 0)
        return 0;
    return kqty_value(&v);
}

static bool modes_cover(const json_t *pv_modes, const json_t *pvc_modes)
{
    size_t i, j;
    json_t *m, *n;
    json_array_foreach(pvc_modes, i, m)
    {
        bool found = false;
        json_array_foreach(pv_modes, j, n) found = found || json_equal(m, n);
        if (!found)
            return false;
    }
    return true;
}

static const char *class_of(const json_t *obj)
{
    return kctl_str(json_object_get(obj, "spec"), "storageClassName", NULL);
}

/* The default StorageClass (annotation is-default-class "true"), or NULL. */
static json_t *default_class(kctl *c)
{
    const kres_resource *r = res_of("storage.k8s.io", "storageclasses");
    kobj_req req = {.res = r};
    kobj_list_opts o = {0};
    kobj_status st = {0};
    json_t *list = NULL, *found = NULL;
    if (kobj_list(c->api, &req, &o, &list, &st) >= 0) {
        size_t i;
        json_t *sc;
        json_array_foreach(json_object_get(list, "items"), i, sc)
        {
            const json_t *ann = json_object_get(json_object_get(sc, "metadata"), "annotations");
            if (dd_streq(kctl_str(ann, "storageclass.kubernetes.io/is-default-class", NULL),
                         "true"))
                found = json_incref(sc);
        }
    }
    kobj_status_release(&st);
    json_decref(list);
    return found;
}

static json_t *get_obj(kctl *c, const kres_resource *r, const char *ns, const char *name)
{
    kobj_req req = {.res = r, .ns = ns, .name = name};
    json_t *obj = NULL;
    kobj_status st = {0};
    if (kobj_get(c->api, &req, &obj, &st) < 0)
        obj = NULL;
    kobj_status_release(&st);
    return obj;
}

static json_t *get_class(kctl *c, const char *name)
{
    return get_obj(c, res_of("storage.k8s.io", "storageclasses"), NULL, name);
}

/* The node of the first scheduled pod in ns that mounts claim, or NULL. */
static const char *consumer_node(kctl *c, const char *ns, const char *claim)
{
    const char *k;
    json_t *pod;
    json_object_foreach(c->cache[KC_PODS], k, pod)
    {
        const char *node = kctl_str(json_object_get(pod, "spec"), "nodeName", NULL);
        if (!node || !dd_streq(kctl_ns(pod), ns))
            continue;
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(json_object_get(pod, "spec"), "volumes"), i, v)
        {
            if (dd_streq(kctl_str(v, "persistentVolumeClaim", "claimName"), claim))
                return node;
        }
    }
    return NULL;
}

/* Binds claim to pv: the volume's claimRef and phase, the claim's volumeName, phase and
 * capacity. Each write is idempotent, so a failed step is finished by the next sync. */
static int bind(kctl *c, const json_t *pvc, const json_t *pv)
{
    json_t *v = json_deep_copy(pv);
    json_t *spec = json_object_get(v, "spec");
    json_object_set_new(spec, "claimRef",
                        json_pack("{s:s,s:s,s:s,s:s,s:s}", "kind", "PersistentVolumeClaim",
                                  "apiVersion", "v1", "namespace", kctl_ns(pvc), "name",
                                  kctl_name(pvc), "uid", kctl_uid(pvc)));
    int r = 0;
    if (!json_equal(v, pv))
        r = kctl_update(c, res_of("", "persistentvolumes"), v);
    if (r >= 0 && !dd_streq(kctl_str(json_object_get(v, "status"), "phase", NULL), "Bound")) {
        json_decref(v);
        v = get_obj(c, res_of("", "persistentvolumes"), NULL, kctl_name(pv));
        r = v ? 0 : -ENOENT;
        if (r >= 0) {
            json_object_set_new(v, "status", json_pack("{s:s}", "phase", "Bound"));
            r = kctl_update_status(c, res_of("", "persistentvolumes"), v);
        }
    }
    json_decref(v);
    if (r < 0)
        return r;
    json_t *claim = json_deep_copy(pvc);
    json_t *cspec = json_object_get(claim, "spec");
    if (!dd_streq(kctl_str(cspec, "volumeName", NULL), kctl_name(pv))) {
        json_object_set_new(cspec, "volumeName", json_string(kctl_name(pv)));
        json_t *ann = json_object_get(json_object_get(claim, "metadata"), "annotations");
        if (!ann)
            json_object_set_new(json_object_get(claim, "metadata"), "annotations",
                                ann = json_object());
        json_object_set_new(ann, "pv.kubernetes.io/bind-completed", json_string("yes"));
        r = kctl_update(c, res_of("", "persistentvolumeclaims"), claim);
        json_decref(claim);
        return r; /* the watch brings the claim back for its status */
    }
    json_t *pspec = json_object_get(pv, "spec");
    json_t *status = json_pack("{s:s}", "phase", "Bound");
    json_object_set(status, "accessModes", json_object_get(pspec, "accessModes"));
    json_object_set(status, "capacity", json_object_get(pspec, "capacity"));
    json_object_set_new(claim, "status", status);
    r = kctl_update_status(c, res_of("", "persistentvolumeclaims"), claim);
    json_decref(claim);
    return r;
}

/* The smallest Available volume that fits claim (or is pre-bound to it), or NULL. */
static const json_t *find_volume(kctl *c, const json_t *pvc)
{
    const json_t *spec = json_object_get(pvc, "spec");
    int64_t want = storage_bytes(json_object_get(spec, "resources"), "requests");
    const char *cls = class_of(pvc) ?: "";
    const json_t *best = NULL;
    int64_t best_size = 0;
    const char *k;
    json_t *pv;
    json_object_foreach(c->cache[KC_PVS], k, pv)
    {
        const json_t *ps = json_object_get(pv, "spec");
        const json_t *ref = json_object_get(ps, "claimRef");
        if (ref) {
            if (dd_streq(kctl_str(ref, "namespace", NULL), kctl_ns(pvc)) &&
                dd_streq(kctl_str(ref, "name", NULL), kctl_name(pvc)) &&
                (!kctl_str(ref, "uid", NULL) ||
                 dd_streq(kctl_str(ref, "uid", NULL), kctl_uid(pvc))))
                return pv; /* pre-bound, or our own half-finished binding */
            continue;
        }
        if (kctl_str(json_object_get(pv, "metadata"), "deletionTimestamp", NULL) ||
            !dd_streq(class_of(pv) ?: "", cls) ||
            !modes_cover(json_object_get(ps, "accessModes"), json_object_get(spec, "accessModes")))
            continue;
        int64_t size = storage_bytes(json_object_get(ps, "capacity"), "storage");
        if (size < want || (best && size >= best_size))
            continue;
        best = pv, best_size = size;
    }
    return best;
}

static char *provision_path(kctl *c, const json_t *pvc, const char *pv_name)
{
    return dd_asprintf("%s/%s_%s_%s", c->storage_dir, pv_name, kctl_ns(pvc), kctl_name(pvc));
}

static int provision(kctl *c, const json_t *pvc, const json_t *cls, const char *node)
{
    _cleanup_free_ char *name = dd_asprintf("pvc-%s", kctl_uid(pvc));
    _cleanup_free_ char *path = provision_path(c, pvc, name);
    const json_t *spec = json_object_get(pvc, "spec");
    const char *req =
        kctl_str(json_object_get(json_object_get(spec, "resources"), "requests"), "storage", NULL);
    json_t *pv = json_pack(
        "{s:{s:s,s:{s:s}},s:{s:{s:s},s:O,s:s,s:s,s:{s:s,s:s},s:s}}", "metadata", "name", name,
        "annotations", "pv.kubernetes.io/provisioned-by", PROVISIONER, "spec", "capacity",
        "storage", req ? req : "1Gi", "accessModes",
        json_object_get(spec, "accessModes") ?: json_array(), "persistentVolumeReclaimPolicy",
        kctl_str(cls, "reclaimPolicy", NULL) ?: "Delete", "storageClassName", kctl_name(cls),
        "hostPath", "path", path, "type", "DirectoryOrCreate", "volumeMode", "Filesystem");
    if (node)
        json_object_set_new(json_object_get(pv, "spec"), "nodeAffinity",
                            json_pack("{s:{s:[{s:[{s:s,s:s,s:[s]}]}]}}", "required",
                                      "nodeSelectorTerms", "matchExpressions", "key",
                                      "kubernetes.io/hostname", "operator", "In", "values", node));
    json_object_set_new(json_object_get(pv, "spec"), "claimRef",
                        json_pack("{s:s,s:s,s:s,s:s,s:s}", "kind", "PersistentVolumeClaim",
                                  "apiVersion", "v1", "namespace", kctl_ns(pvc), "name",
                                  kctl_name(pvc), "uid", kctl_uid(pvc)));
    json_t *created = NULL;
    int r = kctl_create(c, res_of("", "persistentvolumes"), NULL, pv, &created);
    json_decref(pv);
    if (r >= 0) {
        kctl_event(c, pvc, "Normal", "ProvisioningSucceeded", PROVISIONER,
                   "Successfully provisioned volume %s", name);
        r = bind(c, pvc, created);
    }
    json_decref(created);
    return r;
}

static int set_default_class(kctl *c, const json_t *pvc)
{
    json_t *cls = default_class(c);
    if (!cls)
        return 0;
    json_t *claim = json_deep_copy(pvc);
    json_object_set_new(json_object_get(claim, "spec"), "storageClassName",
                        json_string(kctl_name(cls)));
    int r = kctl_update(c, res_of("", "persistentvolumeclaims"), claim);
    json_decref(claim);
    json_decref(cls);
    return r;
}

/* Lifts a protection finalizer (upstream's pvc-protection and pv-protection controllers). */
static int drop_finalizer(kctl *c, const kres_resource *r, const json_t *obj, const char *fin)
{
    const json_t *fins = json_object_get(json_object_get(obj, "metadata"), "finalizers");
    json_t *keep = json_array();
    size_t i;
    json_t *f;
    json_array_foreach(fins, i, f)
    {
        if (!dd_streq(json_string_value(f), fin))
            json_array_append(keep, f);
    }
    if (json_array_size(keep) == json_array_size(fins)) {
        json_decref(keep);
        return 0;
    }
    json_t *o = json_deep_copy(obj);
    json_object_set_new(json_object_get(o, "metadata"), "finalizers", keep);
    int r2 = kctl_update(c, r, o);
    json_decref(o);
    return r2;
}

/* Is the claim mounted by a scheduled pod that has not finished? Such a pod keeps a deleted
 * claim (and so its volume) alive until it ends or is gone, as upstream. */
static bool claim_in_use(kctl *c, const json_t *pvc)
{
    const char *k;
    json_t *pod;
    json_object_foreach(c->cache[KC_PODS], k, pod)
    {
        const char *phase = kctl_str(json_object_get(pod, "status"), "phase", NULL);
        if (!dd_streq(kctl_ns(pod), kctl_ns(pvc)) ||
            !kctl_str(json_object_get(pod, "spec"), "nodeName", NULL) ||
            dd_streq(phase, "Succeeded") || dd_streq(phase, "Failed"))
            continue;
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(json_object_get(pod, "spec"), "volumes"), i, v)
        {
            if (dd_streq(kctl_str(v, "persistentVolumeClaim", "claimName"), kctl_name(pvc)))
                return true;
        }
    }
    return false;
}

int kctl_sync_pvc(kctl *c, const char *ns, const char *name)
{
    const json_t *pvc = kctl_cached(c, KC_PVCS, ns, name);
    if (pvc && kctl_str(json_object_get(pvc, "metadata"), "deletionTimestamp", NULL))
        return claim_in_use(c, pvc) ? 0
                                    : drop_finalizer(c, res_of("", "persistentvolumeclaims"), pvc,
                                                     "kubernetes.io/pvc-protection");
    if (!pvc)
        return 0;
    const json_t *spec = json_object_get(pvc, "spec");
    const char *vol = kctl_str(spec, "volumeName", NULL);
    if (vol) {
        const json_t *pv = kctl_cached(c, KC_PVS, "", vol);
        if (!pv) {
            if (!dd_streq(kctl_str(json_object_get(pvc, "status"), "phase", NULL), "Lost"))
                kctl_event(c, pvc, "Warning", "ClaimLost", COMPONENT,
                           "Bound claim has lost its PersistentVolume");
            return 0;
        }
        if (dd_streq(kctl_str(json_object_get(pvc, "status"), "phase", NULL), "Bound"))
            return 0;
        return bind(c, pvc, pv);
    }
    if (!json_object_get(spec, "storageClassName"))
        return set_default_class(c, pvc);
    const json_t *pv = find_volume(c, pvc);
    if (pv)
        return bind(c, pvc, pv);
    const char *cls_name = class_of(pvc);
    if (!cls_name || !*cls_name || !c->storage_dir)
        return 0;
    json_t *cls = get_class(c, cls_name);
    int r = 0;
    if (cls && dd_streq(kctl_str(cls, "provisioner", NULL), PROVISIONER)) {
        const char *node = consumer_node(c, ns, name);
        if (node || !dd_streq(kctl_str(cls, "volumeBindingMode", NULL), "WaitForFirstConsumer"))
            r = provision(c, pvc, cls, node);
        else if (!json_object_get(c->warned, kctl_uid(pvc)) &&
                 !json_object_set_new(c->warned, kctl_uid(pvc), json_true()))
            kctl_event(c, pvc, "Normal", "WaitForFirstConsumer", COMPONENT,
                       "waiting for first consumer to be created before binding");
    }
    json_decref(cls);
    return r;
}

/* The node named by a provisioned volume's affinity (kubernetes.io/hostname In [node]), or NULL. */
static const char *pv_node(const json_t *pv)
{
    const json_t *terms = json_object_get(
        json_object_get(json_object_get(json_object_get(pv, "spec"), "nodeAffinity"), "required"),
        "nodeSelectorTerms");
    const json_t *expr =
        json_array_get(json_object_get(json_array_get(terms, 0), "matchExpressions"), 0);
    if (!dd_streq(kctl_str(expr, "key", NULL), "kubernetes.io/hostname"))
        return NULL;
    return json_string_value(json_array_get(json_object_get(expr, "values"), 0));
}

/* Removes a provisioned volume's directory when it is on this host: the path is ours (under the
 * storage directory) and the volume belongs to this server's own node (or to no node). A volume
 * on another node is cleaned up by that node's kubelet once the volume is gone (kl_localpath_*). */
static void remove_local_dir(kctl *c, const json_t *pv)
{
    const char *path =
        kctl_str(json_object_get(json_object_get(pv, "spec"), "hostPath"), "path", NULL);
    size_t n = strlen(c->storage_dir);
    const char *node = pv_node(pv);
    if (!path || strncmp(path, c->storage_dir, n) || path[n] != '/' || strstr(path, "/..") ||
        (node && !dd_streq(node, c->storage_node)))
        return;
    dd_err e = {0};
    if (dd_rm_rf(path, &e) < 0)
        dd_warn("local-path: removing %s: %s", path, e.msg);
}

int kctl_sync_pv(kctl *c, const char *ns, const char *name)
{
    (void)ns;
    const json_t *pv = kctl_cached(c, KC_PVS, "", name);
    const char *phase = kctl_str(json_object_get(pv, "status"), "phase", NULL);
    if (pv && kctl_str(json_object_get(pv, "metadata"), "deletionTimestamp", NULL)) {
        /* a volume bound to a claim that still exists stays until the claim lets go */
        const json_t *ref = json_object_get(json_object_get(pv, "spec"), "claimRef");
        const json_t *pvc = kctl_cached(c, KC_PVCS, kctl_str(ref, "namespace", NULL) ?: "",
                                        kctl_str(ref, "name", NULL) ?: "");
        if (dd_streq(phase, "Bound") && pvc && dd_streq(kctl_uid(pvc), kctl_str(ref, "uid", NULL)))
            return 0;
        return drop_finalizer(c, res_of("", "persistentvolumes"), pv,
                              "kubernetes.io/pv-protection");
    }
    if (!pv)
        return 0;
    const json_t *spec = json_object_get(pv, "spec");
    const json_t *ref = json_object_get(spec, "claimRef");
    const char *want = "Available";
    if (ref) {
        const json_t *pvc = kctl_cached(c, KC_PVCS, kctl_str(ref, "namespace", NULL) ?: "",
                                        kctl_str(ref, "name", NULL) ?: "");
        bool gone = kctl_str(ref, "uid", NULL) &&
                    (!pvc || !dd_streq(kctl_uid(pvc), kctl_str(ref, "uid", NULL)));
        want = gone ? "Released" : (kctl_str(ref, "uid", NULL) ? "Bound" : "Available");
        if (gone && dd_streq(kctl_str(spec, "persistentVolumeReclaimPolicy", NULL), "Delete") &&
            dd_streq(kctl_str(json_object_get(json_object_get(pv, "metadata"), "annotations"),
                              "pv.kubernetes.io/provisioned-by", NULL),
                     PROVISIONER)) {
            if (c->storage_dir)
                remove_local_dir(c, pv);
            return kctl_delete(c, res_of("", "persistentvolumes"), NULL, name, NULL);
        }
    }
    if (dd_streq(phase, want))
        return 0;
    json_t *v = json_deep_copy(pv);
    json_object_set_new(v, "status", json_pack("{s:s}", "phase", want));
    int r = kctl_update_status(c, res_of("", "persistentvolumes"), v);
    json_decref(v);
    return r;
}

void kctl_volumes_pod_changed(kctl *c, const json_t *pod)
{
    if (!kctl_str(json_object_get(pod, "spec"), "nodeName", NULL))
        return;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(json_object_get(pod, "spec"), "volumes"), i, v)
    {
        const char *claim = kctl_str(v, "persistentVolumeClaim", "claimName");
        if (claim)
            kctl_enqueue(c, KC_PVCS, kctl_ns(pod), claim);
    }
}

int kctl_local_storage(kctl *c, const char *storage_dir, const char *node, dd_err *e)
{
    free(c->storage_dir);
    free(c->storage_node);
    c->storage_dir = dd_strdup(storage_dir);
    c->storage_node = node ? dd_strdup(node) : NULL;
    json_t *cur = get_class(c, CLASS);
    if (cur) {
        json_decref(cur);
        return 0;
    }
    json_t *sc =
        json_pack("{s:s,s:s,s:{s:s,s:{s:s}},s:s,s:s,s:s}", "apiVersion", "storage.k8s.io/v1",
                  "kind", "StorageClass", "metadata", "name", CLASS, "annotations",
                  "storageclass.kubernetes.io/is-default-class", "true", "provisioner", PROVISIONER,
                  "reclaimPolicy", "Delete", "volumeBindingMode", "WaitForFirstConsumer");
    int r = kctl_create(c, res_of("storage.k8s.io", "storageclasses"), NULL, sc, NULL);
    json_decref(sc);
    if (r < 0 && r != -EEXIST)
        return dd_err_set(e, -r, "creating the %s StorageClass", CLASS);
    return 0;
}
