/* kubelet.c: the agent's lifecycle and pod table. kubelet_start() prepares <data-dir>/agent,
 * opens the image store and loads the airgap tarballs from <agent>/images/, registers the Node,
 * then watches pods: every change schedules a sync that lists the pods bound to this node,
 * creates table entries for new ones, steps each through kl_pod_sync(), and tears down entries
 * whose object is gone. The 10 s heartbeat renews Node status and Lease. Also the lookups the
 * streaming endpoints use (kubelet_container_ref and friends).
 */
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "k3core/kubelet/kubelet-internal.h"
#include "k3core/scheduler/scheduler.h"

static void load_tarballs(kubelet *k)
{
    DIR *d = opendir(k->images_dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (!dd_endswith(de->d_name, ".tar") && !dd_endswith(de->d_name, ".tar.gz") &&
            !dd_endswith(de->d_name, ".tar.zst"))
            continue;
        _cleanup_free_ char *path = dd_path_join(k->images_dir, de->d_name);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        img_load_result res = {0};
        dd_err e = {0};
        if (fd < 0 || img_load(k->images, fd, &res, &e) < 0)
            dd_warn("importing images from %s: %s", path, fd < 0 ? strerror(errno) : e.msg);
        else
            for (size_t i = 0; i < res.n; i++)
                dd_info("Imported images from %s: %s", path,
                        res.images[i].tags[0] ? res.images[i].tags[0] : res.images[i].id);
        img_load_result_release(&res);
    }
    if (d)
        closedir(d);
}

static struct kl_pod *find_pod(kubelet *k, const char *uid)
{
    for (struct kl_pod *p = k->pods; p; p = p->next)
        if (!strcmp(p->uid, uid))
            return p;
    return NULL;
}

static json_t *list_my_pods(kubelet *k)
{
    _cleanup_free_ char *fs = dd_asprintf("spec.nodeName=%s", k->node_name);
    kobj_req req = {.res = kl_res("", "pods")};
    kobj_list_opts o = {.field_selector = fs};
    kobj_status st = {0};
    json_t *list = NULL;
    if (kl_api_list(k, &req, &o, &list, &st) < 0)
        dd_warn("listing pods: %s", st.message);
    kobj_status_release(&st);
    return list;
}

static void sync_pods(kubelet *k, json_t *items)
{
    size_t i;
    json_t *obj;
    json_array_foreach(items, i, obj)
    {
        const char *uid = kl_str(json_object_get(obj, "metadata"), "uid", NULL);
        if (!uid)
            continue;
        struct kl_pod *p = find_pod(k, uid);
        if (!p) {
            const char *ph = kl_str(json_object_get(obj, "status"), "phase", NULL);
            if (dd_streq(ph, "Succeeded") || dd_streq(ph, "Failed"))
                continue; /* finished before this agent started */
            p = kl_pod_new(k, obj);
            p->next = k->pods;
            k->pods = p;
        } else {
            json_decref(p->obj);
            p->obj = kobj_without_managed_fields(obj); /* the kubelet never reads them */
        }
        p->seen = true;
    }
}

static void sync_all(kubelet *k)
{
    json_t *list = list_my_pods(k);
    if (!list)
        return;
    for (struct kl_pod *p = k->pods; p; p = p->next)
        p->seen = false;
    sync_pods(k, json_object_get(list, "items"));
    json_decref(list);
    for (struct kl_pod **pp = &k->pods; *pp;) {
        struct kl_pod *p = *pp;
        if (!p->seen || kl_pod_sync(p)) {
            *pp = p->next;
            kl_pod_teardown(p);
            continue;
        }
        pp = &p->next;
    }
}

static void on_sync(ev_timer *t, void *data)
{
    kubelet *k = data;
    if (!k->remote)
        ksched_run(k->api, k);
    if (kl_net_sync(k, false)) {
        sync_all(k); /* pods wait for the pod bridge, i.e. for the Node's podCIDR */
        kl_proxy_sync(k);
    }
    kl_localpath_sweep(k);
    ev_timer_reset(t, k->net_up ? 1000 : 200);
}

void kl_sync_soon(kubelet *k)
{
    if (k->sync_timer && !k->stopping)
        ev_timer_reset(k->sync_timer, 20);
}

static void on_heartbeat(ev_timer *t, void *data)
{
    (void)t;
    kl_node_heartbeat(data);
}

static void on_pod_event(void *ud, const char *type, json_t *obj)
{
    (void)type, (void)obj;
    kl_sync_soon(ud);
}

static void on_pods_changed(void *ud)
{
    kl_sync_soon(ud);
}

/* A Node changed: re-check the pod bridge and the routes on the next tick. */
static void on_nodes_changed(void *ud)
{
    kubelet *k = ud;
    k->routes_synced_ns = 0;
    kl_sync_soon(k);
}

static void on_node_event(void *ud, const char *type, json_t *obj)
{
    (void)type, (void)obj;
    on_nodes_changed(ud);
}

static int start_remote_watches(kubelet *k, dd_err *e)
{
    const struct kubelet_remote *rm = k->remote;
    if (!rm->watch)
        return 0; /* the 1 s list in on_sync and the 2 s node list still find every change */
    _cleanup_free_ char *fs = dd_asprintf("spec.nodeName=%s", k->node_name);
    int r = rm->watch(rm->ud, kl_res("", "pods"), fs, on_pods_changed, k, &k->rpod_watch, e);
    if (r >= 0)
        r = rm->watch(rm->ud, kl_res("", "nodes"), NULL, on_nodes_changed, k, &k->rnode_watch, e);
    return r < 0 ? dd_err_wrap(e, "watching the server") : 0;
}

static int start_watch(kubelet *k, dd_err *e)
{
    if (k->remote)
        return start_remote_watches(k, e);
    kobj_req req = {.res = kl_res("", "pods")};
    kobj_watch_opts o = {0};
    char rv[32];
    snprintf(rv, sizeof(rv), "%lld", (long long)kobj_current_rv(k->api));
    o.resource_version = rv;
    kobj_status st = {0};
    int r = kobj_watch_start(k->api, &req, &o, on_pod_event, k, &k->pod_watch, &st);
    kobj_req nreq = {.res = kl_res("", "nodes")};
    if (r >= 0)
        r = kobj_watch_start(k->api, &nreq, &o, on_node_event, k, &k->node_watch, &st);
    if (r < 0)
        dd_err_set(e, -r, "watching pods and nodes: %s", st.message);
    kobj_status_release(&st);
    return r;
}

static int64_t kubelet_arg(const struct kubelet_config *cfg, const char *prefix, int64_t def)
{
    int64_t n = def;
    for (size_t i = 0; cfg->kubelet_args && cfg->kubelet_args[i]; i++)
        if (dd_startswith(cfg->kubelet_args[i], prefix))
            dd_parse_int64(cfg->kubelet_args[i] + strlen(prefix), &n);
    return n;
}

static int max_pods(const struct kubelet_config *cfg)
{
    return (int)kubelet_arg(cfg, "max-pods=", 110);
}

int kubelet_port(const struct kubelet_config *cfg)
{
    return (int)kubelet_arg(cfg, "port=", KUBELET_DEFAULT_PORT);
}

/* A container's writable layer cannot be an overlay upper dir on overlayfs, which is where the
 * data dir lands in a container started without a volume for it (`docker run --privileged` of a
 * node image). Rather than failing every pod, the pods' writable layers and emptyDirs then go to
 * a tmpfs of our own (memory), with a warning that says how to keep them on disk. */
static int pods_dir_usable(kubelet *k, const char *pods, dd_err *e)
{
    struct statfs sf;
    if (statfs(pods, &sf) < 0)
        return dd_err_sys(e, "statfs %s", pods);
    if (sf.f_type != OVERLAYFS_SUPER_MAGIC)
        return 0;
    if (mount("k3core-pods", pods, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
        return dd_err_set(e, errno,
                          "%s is on overlayfs, which cannot hold container layers, and mounting a "
                          "tmpfs there failed: %s; put --data-dir on a volume",
                          pods, strerror(errno));
    k->pods_tmpfs = true;
    dd_warn("kubelet: %s is on overlayfs (no volume for the data dir?): pod writable layers and "
            "emptyDirs are kept in memory (tmpfs); mount a volume at the data dir to keep them on "
            "disk",
            pods);
    return 0;
}

static int prepare(kubelet *k, const struct kubelet_config *cfg, dd_err *e)
{
    char host[256] = "localhost";
    gethostname(host, sizeof(host) - 1);
    k->node_name = dd_strdup(cfg->node_name && *cfg->node_name ? cfg->node_name : host);
    k->node_ip = dd_strdup(cfg->node_ip && *cfg->node_ip ? cfg->node_ip : "127.0.0.1");
    k->agent_dir = dd_path_join(cfg->data_dir, "agent");
    k->images_dir = dd_path_join(k->agent_dir, "images");
    k->labels = dd_strv_copy(cfg->node_labels);
    k->taints = dd_strv_copy(cfg->node_taints);
    k->control_plane = cfg->control_plane;
    k->max_pods = max_pods(cfg);
    k->port = kubelet_port(cfg);
    k->mint_token = cfg->mint_token;
    k->mint_ud = cfg->mint_ud;
    k->ca_pem = cfg->ca_pem ? dd_strdup(cfg->ca_pem) : NULL;
    k->ipam_dir = dd_path_join(k->agent_dir, "ipam");
    k->cluster_cidr = cfg->cluster_cidr ? dd_strdup(cfg->cluster_cidr) : NULL;
    k->net = (struct net_bridge_cfg){
        .bridge = "k3c0", .state_dir = k->ipam_dir, .masq_exclude = k->cluster_cidr};
    k->cluster_dns =
        dd_strdup(cfg->cluster_dns && *cfg->cluster_dns ? cfg->cluster_dns : "10.43.0.10");
    k->cluster_domain = dd_strdup(cfg->cluster_domain && *cfg->cluster_domain ? cfg->cluster_domain
                                                                              : "cluster.local");
    _cleanup_free_ char *store = dd_path_join(k->images_dir, "store");
    _cleanup_free_ char *ctrs = dd_path_join(k->agent_dir, "containers");
    _cleanup_free_ char *pods = dd_path_join(k->agent_dir, "pods");
    int r = kubelet_config_check(cfg, e);
    if (r >= 0)
        r = dd_mkdir_p(ctrs, 0700, e);
    if (r >= 0)
        r = dd_mkdir_p(pods, 0755, e);
    if (r >= 0)
        r = pods_dir_usable(k, pods, e);
    if (r >= 0)
        r = dd_mkdir_p(store, 0700, e);
    if (r >= 0 && (r = img_store_open(store, 0, &k->images, e)) < 0)
        dd_err_wrap(e, "image store %s", store);
    if (r >= 0 && cfg->image_store &&
        (r = img_store_open(cfg->image_store, IMG_STORE_READONLY, &k->shared_images, e)) < 0)
        dd_err_wrap(e, "--image-store");
    return r;
}

int kubelet_start(ev_loop *loop, kobj_api *api, const struct kubelet_config *cfg, kubelet **ret,
                  dd_err *e)
{
    kubelet *k = dd_calloc(1, sizeof(*k));
    k->loop = loop;
    k->api = api;
    k->remote = cfg->remote;
    k->start_ns = dd_now_ns();
    int r = prepare(k, cfg, e);
    if (r >= 0)
        r = kl_pulls_start(k, cfg->registries, e);
    if (r >= 0) {
        load_tarballs(k);
        r = kl_node_register(k, e);
    }
    if (r >= 0)
        r = start_watch(k, e);
    if (r >= 0)
        r = kl_svcview_start(k, e);
    if (r >= 0)
        kl_proxy_start(k);
    if (r < 0) {
        kubelet_stop(k);
        return r;
    }
    k->hb_timer = ev_timer_add(loop, 10000, 10000, on_heartbeat, k);
    k->sync_timer = ev_timer_add(loop, 50, 0, on_sync, k);
    kl_node_heartbeat(k);
    dd_info("kubelet: node %s registered (%s)", k->node_name, k->node_ip);
    *ret = k;
    return 0;
}

void kubelet_stop(kubelet *k)
{
    if (!k)
        return;
    k->stopping = true;
    kobj_watch_stop(k->pod_watch);
    kobj_watch_stop(k->node_watch);
    if (k->remote && k->remote->unwatch) {
        k->remote->unwatch(k->rpod_watch);
        k->remote->unwatch(k->rnode_watch);
    }
    ev_timer_del(k->hb_timer);
    ev_timer_del(k->sync_timer);
    kl_dns_stop(k); /* before the view it subscribes to */
    kl_proxy_stop(k);
    kl_svcview_stop(k->svcview);
    k->svcview = NULL;
    /* every container is killed first, so that the teardowns below (one by one, each waiting for
     * its shim) find them already gone rather than waiting out each death in turn */
    for (struct kl_pod *p = k->pods; p; p = p->next)
        for (size_t i = 0; i < kl_pod_n_all(p); i++)
            if (kl_pod_ctr(p, i)->state_dir)
                (void)rt_kill(kl_pod_ctr(p, i)->state_dir, SIGKILL, NULL);
    dd_err le = {0};
    if (k->net_up && net_pod_links_delete_all(&le) < 0)
        dd_warn("kubelet: %s", le.msg);
    while (k->pods) {
        struct kl_pod *p = k->pods;
        k->pods = p->next;
        kl_pod_teardown(p);
    }
    kl_routes_clear(k);
    dd_err ne = {0};
    if (k->net_up && net_bridge_teardown(&k->net, &ne) < 0)
        dd_warn("kubelet: %s", ne.msg);
    if (k->pods_tmpfs) {
        _cleanup_free_ char *pods = dd_path_join(k->agent_dir, "pods");
        if (umount2(pods, MNT_DETACH) < 0)
            dd_warn("kubelet: unmounting %s: %s", pods, strerror(errno));
    }
    kl_pulls_stop(k);
    img_store_close(k->images);
    img_store_close(k->shared_images);
    kl_events_free(k);
    kl_handler_tls_free(k);
    free(k->node_name), free(k->node_ip), free(k->agent_dir), free(k->images_dir);
    dd_strv_free(k->labels), dd_strv_free(k->taints);
    free(k->ca_pem), free(k->pod_cidr), free(k->ipam_dir), free(k->cluster_cidr);
    free(k->cluster_dns), free(k->cluster_domain);
    free(k);
}

static struct kl_pod *find_by_name(kubelet *k, const char *ns, const char *name)
{
    for (struct kl_pod *p = k->pods; p; p = p->next)
        if (!strcmp(p->ns, ns) && !strcmp(p->name, name))
            return p;
    return NULL;
}

static int find_ctr(kubelet *k, const char *ns, const char *pod, const char *name,
                    struct kl_ctr **ret, dd_err *e)
{
    struct kl_pod *p = find_by_name(k, ns, pod);
    if (!p)
        return dd_err_set(e, ENOENT, "pod %s not found on this node", pod);
    size_t regular = 0;
    struct kl_ctr *only = NULL;
    for (size_t i = 0; i < p->n_ctrs; i++) {
        if (name && !strcmp(p->ctrs[i].name, name))
            return *ret = &p->ctrs[i], 0;
        if (!p->ctrs[i].init)
            regular++, only = &p->ctrs[i];
    }
    for (size_t i = 0; name && i < p->n_eph; i++)
        if (!strcmp(p->eph[i]->name, name))
            return *ret = p->eph[i], 0;
    if (name)
        return dd_err_set(e, ENOENT, "container %s is not valid for pod %s", name, pod);
    if (regular == 1)
        return *ret = only, 0;
    dd_buf b;
    dd_buf_init(&b);
    for (size_t i = 0; i < p->n_ctrs; i++)
        if (!p->ctrs[i].init)
            dd_buf_addf(&b, "%s%s", b.len ? " " : "", p->ctrs[i].name);
    _cleanup_free_ char *names = dd_buf_detach(&b, NULL);
    return dd_err_set(e, EINVAL,
                      "a container name must be specified for pod %s, choose one of: [%s]", pod,
                      names ? names : "");
}

int kubelet_container_ref(kubelet *k, const char *ns, const char *pod, const char *container,
                          char **ret_rt_id, char **ret_state_dir, char **ret_log_path, dd_err *e)
{
    struct kl_ctr *c;
    int r = find_ctr(k, ns, pod, container, &c, e);
    if (r < 0)
        return r;
    if (!c->rt_id && !c->log_path)
        return dd_err_set(e, EAGAIN, "container %s in pod %s is waiting to start", c->name, pod);
    if (ret_rt_id)
        *ret_rt_id = c->rt_id ? dd_strdup(c->rt_id) : NULL;
    if (ret_state_dir)
        *ret_state_dir = c->state_dir ? dd_strdup(c->state_dir) : NULL;
    if (ret_log_path)
        *ret_log_path = c->log_path ? dd_strdup(c->log_path) : NULL;
    return 0;
}

int kubelet_container_process(kubelet *k, const char *ns, const char *pod, const char *container,
                              char ***ret_env, char **ret_user, char **ret_cwd, dd_err *e)
{
    struct kl_ctr *c;
    int r = find_ctr(k, ns, pod, container, &c, e);
    if (r < 0)
        return r;
    *ret_env = dd_strv_copy(c->env);
    *ret_user = c->user ? dd_strdup(c->user) : NULL;
    *ret_cwd = c->cwd ? dd_strdup(c->cwd) : NULL;
    return 0;
}

int kubelet_previous_log(kubelet *k, const char *ns, const char *pod, const char *container,
                         char **ret_log_path, dd_err *e)
{
    struct kl_ctr *c;
    int r = find_ctr(k, ns, pod, container, &c, e);
    if (r < 0)
        return r;
    if (!c->prev_log)
        return dd_err_set(e, ENOENT, "previous terminated container \"%s\" in pod \"%s\" not found",
                          c->name, pod);
    *ret_log_path = dd_strdup(c->prev_log);
    return 0;
}

int kubelet_pod_netns(kubelet *k, const char *ns, const char *pod, char **ret_path, dd_err *e)
{
    struct kl_pod *p = find_by_name(k, ns, pod);
    if (!p || !p->netns)
        return dd_err_set(e, ENOENT, "pod %s is not running on this node", pod);
    *ret_path = dd_strdup(p->netns);
    return 0;
}
