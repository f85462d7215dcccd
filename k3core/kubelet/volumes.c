/* volumes.c: a pod's volumes on the node, under <pod dir>/volumes/<name>: emptyDir (a directory,
 * or a tmpfs for medium Memory with sizeLimit), hostPath (the host path itself, created for
 * DirectoryOrCreate/FileOrCreate), configMap and secret (one file per key, items/mode honoured),
 * downwardAPI (fieldRef/resourceFieldRef files) and projected (those sources plus a
 * serviceAccountToken minted by the server's signer). Then each container's volumeMounts
 * become rt bind mounts (readOnly, subPath). Teardown unmounts tmpfs volumes.
 */
#include <sys/mount.h>
#include <sys/stat.h>

#include "k3core/kubelet/kubelet-internal.h"
#include "k3core/kubelet/payload.h"
#include "k3core/pki/b64.h"

static mode_t item_mode(const json_t *src, const json_t *item)
{
    const json_t *m = json_object_get(item, "mode") ?: json_object_get(src, "defaultMode");
    return m ? (mode_t)json_integer_value(m) : 0644;
}

/* One key of a configMap or secret: every key goes in, or only the `items` (key → path). */
static int key_item(const json_t *src, const char *key, const char *val, size_t len,
                    struct kl_payload *pl, dd_err *e)
{
    const json_t *items = json_object_get(src, "items"), *item = NULL;
    const char *path = key;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        if (dd_streq(kl_str(it, "key", NULL), key))
            item = it, path = kl_str(it, "path", NULL) ?: key;
    }
    if (items && !item)
        return 0;
    return kl_payload_add(pl, path, val, len, item_mode(src, item), e);
}

/* A configMap (data and binaryData) or secret source. */
static int keys_source(struct kl_pod *p, const json_t *src, bool secret, struct kl_payload *pl,
                       dd_err *e)
{
    const char *name = kl_str(src, "name", NULL) ?: kl_str(src, "secretName", NULL) ?: "";
    json_t *o = kl_get(p->k, "", secret ? "secrets" : "configmaps", p->ns, name);
    if (!o)
        return json_is_true(json_object_get(src, "optional"))
                   ? 0
                   : dd_err_set(e, ENOENT, "%s \"%s\" not found", secret ? "secret" : "configmap",
                                name);
    static const char *const fields[] = {"data", "binaryData"};
    int r = 0;
    for (size_t f = 0; f < DD_ARRAY_SIZE(fields) && r >= 0; f++) {
        bool b64 = secret || f == 1;
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(o, fields[f]), key, v)
        {
            const char *text = json_string_value(v) ?: "";
            _cleanup_free_ char *val = NULL;
            size_t len = strlen(text);
            if (b64 && b64_decode(text, len, &val, &len) < 0)
                val = NULL, len = 0;
            if (r >= 0)
                r = key_item(src, key, b64 ? (val ? val : "") : text, len, pl, e);
        }
    }
    json_decref(o);
    return r;
}

static int downward_source(struct kl_pod *p, const json_t *src, struct kl_payload *pl, dd_err *e)
{
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(src, "items"), i, it)
    {
        const json_t *fr = json_object_get(it, "fieldRef");
        _cleanup_free_ char *v = NULL;
        if (fr) {
            const char *fp = kl_str(fr, "fieldPath", NULL) ?: "";
            const json_t *meta = json_object_get(p->obj, "metadata");
            if (dd_startswith(fp, "metadata.") && kl_str(meta, fp + 9, NULL))
                v = dd_strdup(kl_str(meta, fp + 9, NULL));
            else if (!strcmp(fp, "metadata.labels") || !strcmp(fp, "metadata.annotations")) {
                dd_buf b;
                dd_buf_init(&b);
                const char *k;
                json_t *x;
                json_object_foreach(json_object_get(meta, fp + 9), k, x)
                    dd_buf_addf(&b, "%s=\"%s\"\n", k, json_string_value(x) ?: "");
                v = dd_buf_detach(&b, NULL);
            }
        } else if (json_object_get(it, "resourceFieldRef")) {
            v = kl_resource_value(p, json_object_get(it, "resourceFieldRef"), NULL);
        }
        const char *path = kl_str(it, "path", NULL) ?: "";
        int r = kl_payload_add(pl, path, v ? v : "", v ? strlen(v) : 0, item_mode(src, it), e);
        if (r < 0)
            return r;
    }
    return 0;
}

/* The "iat" of the token in file path, 0 when there is none. */
static int64_t token_issued_at(const char *path)
{
    _cleanup_free_ char *tok = NULL, *claims = NULL;
    size_t len = 0;
    if (dd_read_file(path, 65536, &tok, NULL, NULL) < 0)
        return 0;
    const char *a = strchr(tok, '.'), *b = a ? strchr(a + 1, '.') : NULL;
    if (!b || b64_decode(a + 1, (size_t)(b - a - 1), &claims, &len) < 0)
        return 0;
    json_t *c = json_loadb(claims, len, 0, NULL);
    int64_t iat = json_integer_value(json_object_get(c, "iat"));
    json_decref(c);
    return iat;
}

/* A serviceAccountToken source: the token already in dir is kept until 80% of its lifetime has
 * passed (upstream's kubelet refresh rule), else a new one is minted. */
static int token_source(struct kl_pod *p, const json_t *src, const char *dir, struct kl_payload *pl,
                        dd_err *e)
{
    kubelet *k = p->k;
    if (!k->mint_token)
        return dd_err_set(e, ENOTSUP, "serviceAccountToken volumes need the server's signer");
    const char *sa = kl_str(json_object_get(p->obj, "spec"), "serviceAccountName", NULL);
    const char *path = kl_str(src, "path", NULL) ?: "token";
    int64_t ttl = json_integer_value(json_object_get(src, "expirationSeconds"));
    ttl = ttl > 0 ? ttl : 3607;
    _cleanup_free_ char *data = dd_path_join(dir, "..data");
    _cleanup_free_ char *cur = dd_path_join(data, path);
    int64_t iat = token_issued_at(cur), now = dd_now_ns() / 1000000000LL;
    _cleanup_free_ char *tok = NULL;
    if (iat > 0 && now - iat < ttl * 8 / 10)
        dd_read_file(cur, 65536, &tok, NULL, NULL);
    int64_t exp = 0;
    if (!tok)
        tok = k->mint_token(k->mint_ud, p->ns, sa ? sa : "default", p->name, p->uid, ttl, &exp);
    if (!tok)
        return dd_err_set(e, EIO, "minting a token for serviceaccount %s/%s failed", p->ns,
                          sa ? sa : "default");
    return kl_payload_add(pl, path, tok, strlen(tok), 0644, e);
}

static int projected(struct kl_pod *p, const json_t *src, const char *dir, struct kl_payload *pl,
                     dd_err *e)
{
    size_t i;
    json_t *s;
    int r = 0;
    json_array_foreach(json_object_get(src, "sources"), i, s)
    {
        const json_t *x;
        if ((x = json_object_get(s, "configMap")))
            r = keys_source(p, x, false, pl, e);
        else if ((x = json_object_get(s, "secret")))
            r = keys_source(p, x, true, pl, e);
        else if ((x = json_object_get(s, "downwardAPI")))
            r = downward_source(p, x, pl, e);
        else if ((x = json_object_get(s, "serviceAccountToken")))
            r = token_source(p, x, dir, pl, e);
        if (r < 0)
            return r;
    }
    return 0;
}

/* The payload of a configMap, secret, downwardAPI or projected volume; 0 = not such a volume. */
static int payload_of(struct kl_pod *p, const json_t *vol, const char *dir, struct kl_payload *pl,
                      dd_err *e)
{
    const json_t *s;
    int r;
    if ((s = json_object_get(vol, "configMap")))
        r = keys_source(p, s, false, pl, e);
    else if ((s = json_object_get(vol, "secret")))
        r = keys_source(p, s, true, pl, e);
    else if ((s = json_object_get(vol, "downwardAPI")))
        r = downward_source(p, s, pl, e);
    else if ((s = json_object_get(vol, "projected")))
        r = projected(p, s, dir, pl, e);
    else
        return 0;
    return r < 0 ? r : 1;
}

/* (Re)writes a payload volume; 0 when vol is another kind. */
static int write_volume(struct kl_pod *p, const json_t *vol, const char *dir, dd_err *e)
{
    struct kl_payload pl = {0};
    int r = payload_of(p, vol, dir, &pl, e);
    if (r > 0)
        r = kl_payload_write(dir, &pl, e);
    kl_payload_release(&pl);
    return r;
}

static int empty_dir(const json_t *src, const char *dir, dd_err *e)
{
    if (!dd_streq(kl_str(src, "medium", NULL), "Memory"))
        return 0;
    const char *size = kl_str(src, "sizeLimit", NULL);
    _cleanup_free_ char *opts =
        size ? dd_asprintf("mode=0777,size=%s", size) : dd_strdup("mode=0777");
    for (char *c = opts; *c; c++)
        if (c[0] == 'i' && c > opts && (c[-1] == 'K' || c[-1] == 'M' || c[-1] == 'G'))
            memmove(c, c + 1, strlen(c)); /* "64Mi" → "64M" */
    if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
        return dd_err_sys(e, "mounting tmpfs at %s", dir);
    return 0;
}

/* A persistentVolumeClaim: the bound PersistentVolume's directory (hostPath or local) takes the
 * place of the volume's directory as a symlink, which the bind mount follows. Until the claim is
 * bound the pod waits (the sync retries). */
static int claim_path(struct kl_pod *p, const char *claim, char **ret, bool *ret_create,
                      json_t **ret_pv, dd_err *e)
{
    json_t *pvc = kl_get(p->k, "", "persistentvolumeclaims", p->ns, claim);
    const char *pv_name = kl_str(json_object_get(pvc, "spec"), "volumeName", NULL);
    int r = 0;
    if (!pvc)
        r = dd_err_set(e, ENOENT, "persistentvolumeclaim \"%s\" not found", claim);
    else if (kl_str(json_object_get(pvc, "metadata"), "deletionTimestamp", NULL))
        r = dd_err_set(e, EAGAIN, "error processing PVC %s/%s: PVC is being deleted", p->ns, claim);
    else if (!pv_name || !dd_streq(kl_str(json_object_get(pvc, "status"), "phase", NULL), "Bound"))
        r = dd_err_set(e, EAGAIN, "persistentvolumeclaim \"%s\" is not bound yet", claim);
    json_t *pv = r < 0 ? NULL : kl_get(p->k, "", "persistentvolumes", NULL, pv_name);
    const json_t *spec = json_object_get(pv, "spec");
    const json_t *hp = json_object_get(spec, "hostPath");
    const char *path = kl_str(hp, "path", NULL);
    if (!path)
        path = kl_str(json_object_get(spec, "local"), "path", NULL);
    if (r >= 0 && !pv)
        r = dd_err_set(e, ENOENT, "persistentvolume \"%s\" not found", pv_name);
    else if (r >= 0 && (!path || path[0] != '/'))
        r = dd_err_set(e, ENOTSUP,
                       "persistentvolume \"%s\": only hostPath and local volumes can be mounted "
                       "on this node",
                       pv_name);
    if (r >= 0) {
        *ret = dd_strdup(path);
        *ret_create = dd_streq(kl_str(hp, "type", NULL), "DirectoryOrCreate");
        *ret_pv = json_incref(pv);
    }
    json_decref(pv);
    json_decref(pvc);
    return r;
}

/* A persistentVolumeClaim: the bound PersistentVolume's directory (hostPath or local) takes the
 * place of the volume's directory as a symlink, which the bind mount follows. Until the claim is
 * bound the pod waits (the sync retries). */
static int claim_source(struct kl_pod *p, const json_t *src, const char *dir, dd_err *e)
{
    _cleanup_free_ char *path = NULL;
    bool create = false;
    json_t *pv = NULL;
    int r = claim_path(p, kl_str(src, "claimName", NULL) ?: "", &path, &create, &pv, e);
    if (r >= 0 && create && access(path, F_OK) != 0) {
        r = dd_mkdir_p(path, 0777, e);
        if (r >= 0)
            kl_localpath_created(p->k, pv, path); /* ours to remove once the volume is gone */
    }
    json_decref(pv);
    if (r < 0)
        return r;
    if (rmdir(dir) < 0 && errno != ENOENT && unlink(dir) < 0)
        return dd_err_sys(e, "replacing %s", dir);
    if (symlink(path, dir) < 0)
        return dd_err_sys(e, "linking %s to %s", dir, path);
    return 0;
}

static int setup_one(struct kl_pod *p, const json_t *vol, const char *dir, dd_err *e)
{
    const json_t *s;
    int r = write_volume(p, vol, dir, e);
    if (r != 0)
        return r < 0 ? r : 0;
    if ((s = json_object_get(vol, "emptyDir")))
        return empty_dir(s, dir, e);
    if ((s = json_object_get(vol, "persistentVolumeClaim")))
        return claim_source(p, s, dir, e);
    if ((s = json_object_get(vol, "hostPath"))) {
        const char *t = kl_str(s, "type", NULL) ?: "";
        const char *path = kl_str(s, "path", NULL) ?: "";
        if (!strcmp(t, "DirectoryOrCreate"))
            return dd_mkdir_p(path, 0755, e);
        if (!strcmp(t, "FileOrCreate") && access(path, F_OK) != 0)
            return dd_write_file_atomic(path, "", 0, 0644, e);
        return 0;
    }
    return dd_err_set(e, ENOTSUP, "volume \"%s\": this volume type is not supported by this node",
                      kl_str(vol, "name", NULL) ?: "");
}

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* Upstream's ServiceAccount admission adds a projected kube-api-access volume (token, ca.crt,
 * namespace) to every pod that does not opt out; this API server has no such admission, so the
 * kubelet provides the same files at the same path. */
static bool wants_sa_volume(struct kl_pod *p)
{
    const json_t *spec = json_object_get(p->obj, "spec");
    if (json_is_false(json_object_get(spec, "automountServiceAccountToken")) || !p->k->mint_token)
        return false;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(spec, "volumes"), i, v)
    {
        if (dd_startswith(kl_str(v, "name", NULL) ?: "", "kube-api-access"))
            return false;
    }
    return true;
}

static int sa_volume(struct kl_pod *p, dd_err *e)
{
    _cleanup_free_ char *base = dd_path_join(p->dir, "volumes");
    _cleanup_free_ char *dir = dd_path_join(base, "kube-api-access");
    json_t *src = json_pack("{s:i,s:s}", "expirationSeconds", 3607, "path", "token");
    struct kl_payload pl = {0};
    int r = dd_mkdir_p(dir, 0755, e);
    if (r >= 0)
        r = token_source(p, src, dir, &pl, e);
    json_decref(src);
    if (r >= 0 && p->k->ca_pem)
        r = kl_payload_add(&pl, "ca.crt", p->k->ca_pem, strlen(p->k->ca_pem), 0644, e);
    if (r >= 0)
        r = kl_payload_add(&pl, "namespace", p->ns, strlen(p->ns), 0644, e);
    if (r >= 0)
        r = kl_payload_write(dir, &pl, e);
    kl_payload_release(&pl);
    return r;
}

int kl_volumes_setup(struct kl_pod *p, dd_err *e)
{
    if (wants_sa_volume(p) && sa_volume(p, e) < 0)
        return dd_err_wrap(e, "volume \"kube-api-access\"");
    size_t i;
    json_t *vol;
    json_array_foreach(json_object_get(json_object_get(p->obj, "spec"), "volumes"), i, vol)
    {
        _cleanup_free_ char *base = dd_path_join(p->dir, "volumes");
        _cleanup_free_ char *dir = dd_path_join(base, kl_str(vol, "name", NULL) ?: "_");
        int r = dd_mkdir_p(dir, 0777, e);
        if (r >= 0)
            r = setup_one(p, vol, dir, e);
        if (r < 0)
            return dd_err_wrap(e, "volume \"%s\"", kl_str(vol, "name", NULL) ?: "");
    }
    return 0;
}

void kl_volumes_refresh(struct kl_pod *p)
{
    dd_err e = {0};
    if (wants_sa_volume(p) && sa_volume(p, &e) < 0)
        dd_warn("pod %s/%s: refreshing volume \"kube-api-access\": %s", p->ns, p->name, e.msg);
    size_t i;
    json_t *vol;
    json_array_foreach(json_object_get(json_object_get(p->obj, "spec"), "volumes"), i, vol)
    {
        _cleanup_free_ char *base = dd_path_join(p->dir, "volumes");
        _cleanup_free_ char *dir = dd_path_join(base, kl_str(vol, "name", NULL) ?: "_");
        e = (dd_err){0};
        /* on an error (a source that went away) the volume keeps its last content, as upstream */
        if (write_volume(p, vol, dir, &e) < 0)
            dd_warn("pod %s/%s: refreshing volume \"%s\": %s", p->ns, p->name,
                    kl_str(vol, "name", NULL) ?: "", e.msg);
    }
}

void kl_volumes_teardown(struct kl_pod *p)
{
    size_t i;
    json_t *vol;
    json_array_foreach(json_object_get(json_object_get(p->obj, "spec"), "volumes"), i, vol)
    {
        _cleanup_free_ char *base = dd_path_join(p->dir, "volumes");
        _cleanup_free_ char *dir = dd_path_join(base, kl_str(vol, "name", NULL) ?: "_");
        if (dd_streq(kl_str(json_object_get(vol, "emptyDir"), "medium", NULL), "Memory"))
            umount2(dir, MNT_DETACH);
    }
}

static const json_t *find_volume(struct kl_pod *p, const char *name)
{
    size_t i;
    json_t *vol;
    json_array_foreach(json_object_get(json_object_get(p->obj, "spec"), "volumes"), i, vol)
    {
        if (dd_streq(kl_str(vol, "name", NULL), name))
            return vol;
    }
    return NULL;
}

void kl_mounts_free(struct rt_mount *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].destination), free(m[i].type), free(m[i].source);
        dd_strv_free(m[i].options);
    }
    free(m);
}

static bool mounted_at(const json_t *vms, const char *path)
{
    size_t i;
    json_t *vm;
    json_array_foreach(vms, i, vm) if (dd_streq(kl_str(vm, "mountPath", NULL), path)) return true;
    return false;
}

/* The pod's /etc/hosts, /etc/resolv.conf and /etc/hostname (sandbox.c writes them), unless the
 * container mounts something of its own there. */
static struct rt_mount *pod_files(struct kl_pod *p, const json_t *vms, struct rt_mount *m,
                                  size_t *n)
{
    static const char *const files[] = {"hosts", "resolv.conf", "hostname"};
    _cleanup_free_ char *dir = dd_path_join(p->dir, "etc");
    for (size_t i = 0; i < DD_ARRAY_SIZE(files); i++) {
        _cleanup_free_ char *dest = dd_path_join("/etc", files[i]);
        if (mounted_at(vms, dest))
            continue;
        m = dd_realloc(m, (*n + 1) * sizeof(*m));
        m[(*n)++] = (struct rt_mount){.destination = TAKE_PTR(dest),
                                      .type = dd_strdup("bind"),
                                      .source = dd_path_join(dir, files[i]),
                                      .options = dd_strv_push(dd_strv_push(NULL, "rbind"), "rw")};
    }
    return m;
}

int kl_volume_mounts(struct kl_pod *p, const json_t *ctr, struct rt_mount **ret, size_t *ret_n,
                     dd_err *e)
{
    const json_t *vms = json_object_get(ctr, "volumeMounts");
    size_t n = json_array_size(vms), i;
    struct rt_mount *m = dd_calloc(n ? n : 1, sizeof(*m));
    json_t *vm;
    json_array_foreach(vms, i, vm)
    {
        const char *name = kl_str(vm, "name", NULL) ?: "";
        const json_t *vol = find_volume(p, name);
        if (!vol) {
            kl_mounts_free(m, n);
            return dd_err_set(e, ENOENT, "volume \"%s\" not found in the pod", name);
        }
        const char *hp = kl_str(json_object_get(vol, "hostPath"), "path", NULL);
        _cleanup_free_ char *base = dd_path_join(p->dir, "volumes");
        char *src = hp ? dd_strdup(hp) : dd_path_join(base, name);
        const char *sub = kl_str(vm, "subPath", NULL);
        if (sub && *sub) {
            char *s2 = dd_path_join(src, sub);
            free(src);
            src = s2;
        }
        m[i].destination = dd_strdup(kl_str(vm, "mountPath", NULL) ?: "/");
        m[i].type = dd_strdup("bind");
        m[i].source = src;
        m[i].options = dd_strv_push(dd_strv_push(NULL, "rbind"),
                                    json_is_true(json_object_get(vm, "readOnly")) ? "ro" : "rw");
    }
    m = pod_files(p, vms, m, &n);
    if (wants_sa_volume(p)) {
        m = dd_realloc(m, (n + 1) * sizeof(*m));
        _cleanup_free_ char *base = dd_path_join(p->dir, "volumes");
        m[n] = (struct rt_mount){.destination = dd_strdup(SA_DIR),
                                 .type = dd_strdup("bind"),
                                 .source = dd_path_join(base, "kube-api-access"),
                                 .options = dd_strv_push(dd_strv_push(NULL, "rbind"), "ro")};
        n++;
    }
    *ret = m;
    *ret_n = n;
    return 0;
}
