/* node.c: this node's Node object and its heartbeat. Registration creates the Node (or updates
 * an existing one) with labels (kubernetes.io/hostname, os, arch, the control-plane role,
 * --node-label), taints (--node-taint), and a status built from the machine: capacity and
 * allocatable from cgroups and /proc (cpu, memory, pods 110, ephemeral-storage of the data
 * dir's filesystem), addresses, conditions and nodeInfo. Every 10 s the status conditions'
 * heartbeat times and the kube-node-lease Lease are renewed. Also validates the node flags.
 */
#include <stdio.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>

#include "dind/cgroup.h"
#include "k3core/api/selector.h"
#include "k3core/kubelet/kubelet-internal.h"
#include "k3core/server/server.h"

static const char *arch(void)
{
    struct utsname u;
    if (uname(&u) == 0 && !strcmp(u.machine, "aarch64"))
        return "arm64";
    return "amd64";
}

static int parse_taint(const char *s, json_t **ret, dd_err *e)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        return dd_err_set(e, EINVAL, "invalid taint \"%s\": want key[=value]:Effect", s);
    const char *eff = colon + 1;
    if (strcmp(eff, "NoSchedule") && strcmp(eff, "PreferNoSchedule") && strcmp(eff, "NoExecute"))
        return dd_err_set(e, EINVAL,
                          "invalid taint \"%s\": effect must be NoSchedule, PreferNoSchedule or "
                          "NoExecute",
                          s);
    _cleanup_free_ char *kv = dd_strndup(s, (size_t)(colon - s));
    char *eq = strchr(kv, '=');
    if (eq)
        *eq++ = 0;
    if (ksel_check_qualified_name(kv))
        return dd_err_set(e, EINVAL, "invalid taint key \"%s\": %s", kv,
                          ksel_check_qualified_name(kv));
    *ret = json_pack("{s:s,s:s}", "key", kv, "effect", eff);
    if (eq && *eq)
        jx_set_str(*ret, "value", eq);
    return 0;
}

/* The kubelet flags this agent understands through --kubelet-arg. */
static const char *const known_kubelet_args[] = {"max-pods", "port", NULL};

int kubelet_config_check(const struct kubelet_config *cfg, dd_err *e)
{
    for (size_t i = 0; cfg->node_labels && cfg->node_labels[i]; i++) {
        const char *l = cfg->node_labels[i], *eq = strchr(l, '=');
        _cleanup_free_ char *key = eq ? dd_strndup(l, (size_t)(eq - l)) : dd_strdup(l);
        const char *why = ksel_check_qualified_name(key);
        if (!why && eq)
            why = ksel_check_label_value(eq + 1);
        if (why)
            return dd_err_set(e, EINVAL, "invalid --node-label \"%s\": %s", l, why);
    }
    for (size_t i = 0; cfg->node_taints && cfg->node_taints[i]; i++) {
        json_t *t = NULL;
        if (parse_taint(cfg->node_taints[i], &t, e) < 0)
            return dd_err_wrap(e, "--node-taint");
        json_decref(t);
    }
    for (size_t i = 0; cfg->kubelet_args && cfg->kubelet_args[i]; i++) {
        const char *a = cfg->kubelet_args[i], *eq = strchr(a, '=');
        _cleanup_free_ char *name = eq ? dd_strndup(a, (size_t)(eq - a)) : dd_strdup(a);
        int64_t n;
        if (!dd_strv_contains((char **)known_kubelet_args, name))
            return dd_err_set(e, EINVAL,
                              "unsupported --kubelet-arg \"%s\": this agent understands only "
                              "max-pods=N and port=N",
                              a);
        bool port = !strcmp(name, "port");
        if (!eq || dd_parse_int64(eq + 1, &n) < 0 || n < 1 || n > (port ? 65535 : 10000))
            return dd_err_set(e, EINVAL, "invalid --kubelet-arg \"%s\": want %s=N", a, name);
    }
    return 0;
}

static json_t *labels(kubelet *k)
{
    json_t *l = json_pack("{s:s,s:s,s:s,s:s,s:s}", "kubernetes.io/hostname", k->node_name,
                          "kubernetes.io/os", "linux", "kubernetes.io/arch", arch(),
                          "beta.kubernetes.io/os", "linux", "beta.kubernetes.io/arch", arch());
    if (k->control_plane)
        jx_set_str(l, "node-role.kubernetes.io/control-plane", "true");
    for (size_t i = 0; k->labels && k->labels[i]; i++) {
        _cleanup_free_ char *kv = dd_strdup(k->labels[i]);
        char *eq = strchr(kv, '=');
        if (eq)
            *eq++ = 0;
        jx_set_str(l, kv, eq ? eq : "");
    }
    return l;
}

static json_t *capacity(kubelet *k)
{
    struct cg_capacity cap = {0};
    dd_err e = {0};
    if (cg_capacity_read(&cap, &e) < 0)
        dd_warn("node capacity: %s", e.msg);
    struct statvfs vfs;
    uint64_t disk = statvfs(k->agent_dir, &vfs) == 0 ? (uint64_t)vfs.f_blocks * vfs.f_frsize : 0;
    _cleanup_free_ char *cpu = cap.cpu_milli % 1000
                                   ? dd_asprintf("%llum", (unsigned long long)cap.cpu_milli)
                                   : dd_asprintf("%llu", (unsigned long long)cap.cpu_milli / 1000);
    _cleanup_free_ char *mem = dd_asprintf("%lluKi", (unsigned long long)(cap.memory_bytes / 1024));
    _cleanup_free_ char *eph = dd_asprintf("%lluKi", (unsigned long long)(disk / 1024));
    _cleanup_free_ char *pods = dd_asprintf("%d", k->max_pods);
    return json_pack("{s:s,s:s,s:s,s:s,s:s}", "cpu", cpu, "memory", mem, "pods", pods,
                     "ephemeral-storage", eph, "hugepages-2Mi", "0");
}

static json_t *condition(const char *type, const char *status, const char *reason, const char *msg,
                         const char *now)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type", type, "status", status, "reason", reason,
                     "message", msg, "lastHeartbeatTime", now, "lastTransitionTime", now);
}

static json_t *conditions(const char *now)
{
    json_t *c = json_array();
    json_array_append_new(c, condition("MemoryPressure", "False", "KubeletHasSufficientMemory",
                                       "kubelet has sufficient memory available", now));
    json_array_append_new(c, condition("DiskPressure", "False", "KubeletHasNoDiskPressure",
                                       "kubelet has no disk pressure", now));
    json_array_append_new(c, condition("PIDPressure", "False", "KubeletHasSufficientPID",
                                       "kubelet has sufficient PID available", now));
    json_array_append_new(
        c, condition("Ready", "True", "KubeletReady", "kubelet is posting ready status", now));
    return c;
}

static json_t *node_info(void)
{
    struct utsname u = {0};
    uname(&u);
    _cleanup_free_ char *mid = NULL, *bid = NULL;
    dd_read_file("/etc/machine-id", 4096, &mid, NULL, NULL);
    dd_read_file("/proc/sys/kernel/random/boot_id", 4096, &bid, NULL, NULL);
    if (mid)
        mid[strcspn(mid, "\n")] = 0;
    if (bid)
        bid[strcspn(bid, "\n")] = 0;
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "machineID", mid ? mid : "",
                     "systemUUID", mid ? mid : "", "bootID", bid ? bid : "", "kernelVersion",
                     u.release, "osImage", "k3d-dind", "containerRuntimeVersion",
                     "dind://" K3CORE_VERSION, "kubeletVersion", K3CORE_VERSION, "kubeProxyVersion",
                     K3CORE_VERSION, "operatingSystem", "linux", "architecture", arch());
}

/* "docker.io/library/busybox:latest" for a familiar name, as containerd reports image names. */
static json_t *full_name(const char *name)
{
    img_ref ref;
    if (img_ref_parse(name, 0, &ref, NULL) < 0)
        return json_string(name);
    char *s = img_ref_string(&ref);
    img_ref_release(&ref);
    json_t *j = json_string(s);
    free(s);
    return j;
}

static void add_images(img_store *st, json_t *out)
{
    img_image **list = NULL;
    if (!st || img_list(st, &list, NULL) < 0)
        return;
    for (size_t i = 0; list[i]; i++) {
        json_t *names = json_array();
        for (char **d = list[i]->repo_digests; *d; d++)
            json_array_append_new(names, full_name(*d));
        for (char **t = list[i]->repo_tags; *t; t++)
            json_array_append_new(names, full_name(*t));
        if (!json_array_size(names))
            json_array_append_new(names, json_string(list[i]->id));
        json_array_append_new(
            out, json_pack("{s:o,s:I}", "names", names, "sizeBytes", (json_int_t)list[i]->size));
    }
    img_image_list_free(list);
}

static int by_size_desc(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "sizeBytes"));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "sizeBytes"));
    return x < y ? 1 : x > y ? -1 : 0;
}

#define NODE_MAX_IMAGES 50 /* upstream's --node-status-max-images */

/* status.images: the node's images (its own store and a shared --image-store), largest first,
 * at most 50, each with its digests and tags fully qualified and its unpacked size. */
static json_t *node_images(kubelet *k)
{
    json_t *all = json_array();
    add_images(k->images, all);
    add_images(k->shared_images, all);
    size_t n = json_array_size(all);
    json_t **v = dd_calloc(n ? n : 1, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(all, i);
    qsort(v, n, sizeof(*v), by_size_desc);
    json_t *out = json_array();
    for (size_t i = 0; i < n && i < NODE_MAX_IMAGES; i++)
        json_array_append(out, v[i]);
    free(v);
    json_decref(all);
    return out;
}

static json_t *node_status(kubelet *k)
{
    _cleanup_free_ char *now = kl_now_rfc3339();
    json_t *cap = capacity(k);
    return json_pack("{s:o,s:O,s:o,s:[{s:s,s:s},{s:s,s:s}],s:{s:{s:i}},s:o,s:o}", "capacity", cap,
                     "allocatable", cap, "conditions", conditions(now), "addresses", "type",
                     "InternalIP", "address", k->node_ip, "type", "Hostname", "address",
                     k->node_name, "daemonEndpoints", "kubeletEndpoint", "Port", k->port,
                     "nodeInfo", node_info(), "images", node_images(k));
}

static json_t *taints(kubelet *k)
{
    json_t *arr = json_array();
    for (size_t i = 0; k->taints && k->taints[i]; i++) {
        json_t *t = NULL;
        if (parse_taint(k->taints[i], &t, NULL) == 0)
            json_array_append_new(arr, t);
    }
    return arr;
}

static int write_node(kubelet *k, json_t *node, bool create, dd_err *e)
{
    kobj_req req = {.res = kl_res("", "nodes"),
                    .name = create ? NULL : k->node_name,
                    .field_manager = "k3core-kubelet"};
    kobj_result res = {0};
    kobj_status st = {0};
    int r =
        create ? kl_api_create(k, &req, node, &res, &st) : kl_api_update(k, &req, node, &res, &st);
    if (r < 0)
        dd_err_set(e, -r, "node %s: %s", k->node_name, st.message);
    kobj_result_release(&res);
    kobj_status_release(&st);
    return r;
}

static int update_status(kubelet *k, dd_err *e)
{
    json_t *cur = kl_get(k, "", "nodes", NULL, k->node_name);
    if (!cur)
        return dd_err_set(e, ENOENT, "node %s vanished", k->node_name);
    json_t *ns = node_status(k);
    kl_keep_transitions(json_object_get(ns, "conditions"),
                        json_object_get(json_object_get(cur, "status"), "conditions"));
    json_object_set_new(cur, "status", ns);
    json_object_del(json_object_get(cur, "metadata"), "resourceVersion");
    kobj_req req = {.res = kl_res("", "nodes"),
                    .name = k->node_name,
                    .subresource = "status",
                    .field_manager = "k3core-kubelet"};
    kobj_result res = {0};
    kobj_status st = {0};
    int r = kl_api_update(k, &req, cur, &res, &st);
    if (r < 0)
        dd_err_set(e, -r, "node %s status: %s", k->node_name, st.message);
    kobj_result_release(&res);
    kobj_status_release(&st);
    json_decref(cur);
    return r;
}

int kl_node_register(kubelet *k, dd_err *e)
{
    json_t *cur = kl_get(k, "", "nodes", NULL, k->node_name);
    json_t *node = cur ? cur
                       : json_pack("{s:s,s:s,s:{s:s},s:{}}", "apiVersion", "v1", "kind", "Node",
                                   "metadata", "name", k->node_name, "spec");
    json_t *meta = json_object_get(node, "metadata");
    json_t *l = json_object_get(meta, "labels");
    if (!json_is_object(l))
        json_object_set_new(meta, "labels", l = json_object());
    json_t *want = labels(k);
    json_object_update(l, want);
    json_decref(want);
    json_object_set_new(json_object_get(node, "spec"), "taints", taints(k));
    if (!json_array_size(json_object_get(json_object_get(node, "spec"), "taints")))
        json_object_del(json_object_get(node, "spec"), "taints");
    json_object_del(meta, "resourceVersion");
    int r = write_node(k, node, !cur, e);
    json_decref(node);
    if (r < 0)
        return r;
    return update_status(k, e);
}

static void renew_lease(kubelet *k)
{
    char now[64];
    dd_format_rfc3339nano(dd_now_ns(), now, sizeof(now));
    /* renewTime is a MicroTime: exactly six fraction digits, which kubectl describe node parses */
    now[26] = 'Z', now[27] = 0;
    json_t *cur = kl_get(k, "coordination.k8s.io", "leases", "kube-node-lease", k->node_name);
    json_t *lease = cur ? cur
                        : json_pack("{s:s,s:s,s:{s:s,s:s},s:{}}", "apiVersion",
                                    "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name",
                                    k->node_name, "namespace", "kube-node-lease", "spec");
    json_t *spec = json_object_get(lease, "spec");
    jx_set_str(spec, "holderIdentity", k->node_name);
    jx_set_int(spec, "leaseDurationSeconds", 40);
    jx_set_str(spec, "renewTime", now);
    json_object_del(json_object_get(lease, "metadata"), "resourceVersion");
    kobj_req req = {.res = kl_res("coordination.k8s.io", "leases"),
                    .ns = "kube-node-lease",
                    .name = cur ? k->node_name : NULL,
                    .field_manager = "k3core-kubelet"};
    kobj_result res = {0};
    kobj_status st = {0};
    int r =
        cur ? kl_api_update(k, &req, lease, &res, &st) : kl_api_create(k, &req, lease, &res, &st);
    if (r < 0)
        dd_warn("node lease: %s", st.message);
    kobj_result_release(&res);
    kobj_status_release(&st);
    json_decref(lease);
}

void kl_node_heartbeat(kubelet *k)
{
    dd_err e = {0};
    if (update_status(k, &e) < 0 && kl_node_register(k, &e) < 0)
        dd_warn("node heartbeat: %s", e.msg);
    renew_lease(k);
}
