/* localpath.c: the node side of the local-path provisioner's cleanup. A local-path volume is a
 * hostPath directory (type DirectoryOrCreate) on the node of its first consumer; the server's
 * provisioner deletes the PersistentVolume once its claim is gone, but can only remove
 * directories on its own node. So the kubelet keeps a record of every local-path directory it
 * created itself (<agent>/localpath/<pv name>: the volume's uid and path), and once the API
 * server says that volume is gone (404, or a new volume of the same name) it removes the
 * directory and the record, unless a pod on this node still mounts it. A directory that existed
 * before the kubelet needed it is never recorded, so a hand-written volume naming some host path
 * cannot make the kubelet delete it. Records survive restarts: a volume deleted while the node
 * was down is cleaned up when it comes back.
 */
#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>

#include "k3core/kubelet/kubelet-internal.h"

#define LOCALPATH_PROVISIONER "rancher.io/local-path"
#define SWEEP_EVERY_NS        (2 * 1000000000LL)

static char *records_dir(kubelet *k)
{
    return dd_path_join(k->agent_dir, "localpath");
}

static bool is_local_path(const json_t *pv)
{
    const json_t *ann = json_object_get(json_object_get(pv, "metadata"), "annotations");
    return dd_streq(kl_str(ann, "pv.kubernetes.io/provisioned-by", NULL), LOCALPATH_PROVISIONER);
}

void kl_localpath_created(kubelet *k, const json_t *pv, const char *path)
{
    const json_t *md = json_object_get(pv, "metadata");
    const char *name = kl_str(md, "name", NULL), *uid = kl_str(md, "uid", NULL);
    if (!is_local_path(pv) || !name || !uid || strchr(name, '/') || name[0] == '.')
        return;
    _cleanup_free_ char *dir = records_dir(k);
    _cleanup_free_ char *rec = dd_path_join(dir, name);
    _cleanup_free_ char *data = dd_asprintf("%s\n%s\n", uid, path);
    dd_err e = {0};
    if (dd_mkdir_p(dir, 0700, &e) < 0 ||
        dd_write_file_atomic(rec, data, strlen(data), 0600, &e) < 0)
        dd_warn("local-path: recording %s for volume %s: %s", path, name, e.msg);
}

/* Does a pod on this node still have path as a persistentVolumeClaim volume? */
static bool in_use(kubelet *k, const char *path)
{
    for (struct kl_pod *p = k->pods; p; p = p->next) {
        size_t i;
        json_t *vol;
        json_array_foreach(json_object_get(json_object_get(p->obj, "spec"), "volumes"), i, vol)
        {
            if (!json_object_get(vol, "persistentVolumeClaim"))
                continue;
            _cleanup_free_ char *link =
                dd_asprintf("%s/volumes/%s", p->dir, kl_str(vol, "name", NULL) ?: "_");
            char target[4096];
            ssize_t n = readlink(link, target, sizeof(target) - 1);
            if (n > 0 && (target[n] = '\0', !strcmp(target, path)))
                return true;
        }
    }
    return false;
}

/* One record: the directory goes once its volume is gone; an unusable record goes at once. */
static void sweep_one(kubelet *k, const char *dir, const char *name)
{
    _cleanup_free_ char *rec = dd_path_join(dir, name);
    _cleanup_free_ char *data = NULL;
    dd_err e = {0};
    if (dd_read_file(rec, 8192, &data, NULL, &e) < 0)
        return;
    char *uid = data, *path = strchr(data, '\n');
    if (path) {
        *path++ = '\0';
        path[strcspn(path, "\n")] = '\0';
    }
    if (!path || path[0] != '/' || strstr(path, "/..") || !strcmp(path, "/")) {
        unlink(rec);
        return;
    }
    kobj_req req = {.res = kl_res("", "persistentvolumes"), .name = name};
    kobj_status st = {0};
    json_t *pv = NULL;
    int r = kl_api_get(k, &req, &pv, &st);
    bool gone = (r < 0 && st.code == 404) ||
                (r >= 0 && !dd_streq(kl_str(json_object_get(pv, "metadata"), "uid", NULL), uid));
    json_decref(pv);
    kobj_status_release(&st);
    if (!gone || in_use(k, path))
        return;
    if (dd_rm_rf(path, &e) < 0) {
        dd_warn("local-path: removing %s of deleted volume %s: %s", path, name, e.msg);
        return;
    }
    dd_info("local-path: removed %s of deleted volume %s", path, name);
    unlink(rec);
}

void kl_localpath_sweep(kubelet *k)
{
    int64_t now = dd_now_ns();
    if (now < k->localpath_next_ns)
        return;
    k->localpath_next_ns = now + SWEEP_EVERY_NS;
    _cleanup_free_ char *dir = records_dir(k);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            sweep_one(k, dir, de->d_name);
    closedir(d);
}
