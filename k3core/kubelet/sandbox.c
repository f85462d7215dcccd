/* sandbox.c: a pod's sandbox without a pause container — a network, an IPC and a UTS namespace
 * created by unshare() in the calling thread and kept alive by bind mounts under the pod
 * directory (<pod dir>/ns/{net,ipc,uts}), loopback brought up, hostname set to the pod's name
 * (or spec.hostname); then the thread returns to its own namespaces. Containers join the three
 * by path. A hostNetwork pod keeps the node's network and UTS namespaces (its IP is the node's,
 * its /etc/hosts the node's plus hostAliases) and a hostIPC pod the node's IPC namespace. The
 * network namespace then gets eth0 on the node bridge with an address from the pod CIDR (libdind
 * net_pod_attach, owner = pod UID). Destroy detaches the pod from the bridge (releasing its
 * address), detaches the mounts and removes the files. Once the pod has its IP, the pod directory
 * gets etc/{hosts,resolv.conf,hostname} (podfiles.c) that every container bind-mounts (volumes.c).
 */
#include <ctype.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include "k3core/kubelet/kubelet-internal.h"
#include "k3core/kubelet/podfiles.h"

static int lo_up(dd_err *e)
{
    _cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return dd_err_sys(e, "socket");
    struct ifreq ifr = {0};
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        return dd_err_sys(e, "SIOCGIFFLAGS lo");
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
        return dd_err_sys(e, "SIOCSIFFLAGS lo");
    return 0;
}

static int bind_ns(const char *what, const char *target, dd_err *e)
{
    _cleanup_close_ int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0444);
    if (fd < 0)
        return dd_err_sys(e, "creating %s", target);
    _cleanup_free_ char *src = dd_asprintf("/proc/thread-self/ns/%s", what);
    if (mount(src, target, NULL, MS_BIND, NULL) < 0)
        return dd_err_sys(e, "bind-mounting %s namespace at %s", what, target);
    return 0;
}

/* New namespaces of the kinds in flags (CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS), kept by bind
 * mounts in nsdir. */
static int enter_new(const char *nsdir, int flags, const char *hostname, dd_err *e)
{
    if (flags && unshare(flags) < 0)
        return dd_err_sys(e, "unshare");
    int r = (flags & CLONE_NEWNET) ? lo_up(e) : 0;
    if (r == 0 && (flags & CLONE_NEWUTS) && sethostname(hostname, strlen(hostname)) < 0)
        r = dd_err_sys(e, "sethostname");
    static const struct {
        const char *name;
        int flag;
    } kinds[] = {{"net", CLONE_NEWNET}, {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS}};
    for (size_t i = 0; r == 0 && i < DD_ARRAY_SIZE(kinds); i++) {
        if (!(flags & kinds[i].flag))
            continue;
        _cleanup_free_ char *t = dd_path_join(nsdir, kinds[i].name);
        r = bind_ns(kinds[i].name, t, e);
    }
    return r;
}

static void unmount_ns(const char *path)
{
    if (!path)
        return;
    umount2(path, MNT_DETACH);
    unlink(path);
}

static int write_one(const char *dir, const char *name, const char *text, dd_err *e)
{
    _cleanup_free_ char *path = dd_path_join(dir, name);
    return dd_write_file_atomic(path, text, strlen(text), 0644, e);
}

/* <pod dir>/etc/{hosts,resolv.conf,hostname}; a dnsConfig that cannot form a resolv.conf is
 * reported as upstream's DNSConfigForming event and leaves an empty file. */
static int write_files(struct kl_pod *p, dd_err *e)
{
    _cleanup_free_ char *dir = dd_path_join(p->dir, "etc");
    _cleanup_free_ char *host_resolv = NULL, *resolv = NULL;
    dd_read_file("/etc/resolv.conf", 65536, &host_resolv, NULL, NULL);
    struct kpf_dns d = {.cluster_dns = p->k->cluster_dns,
                        .cluster_domain = p->k->cluster_domain,
                        .host_resolv = host_resolv};
    dd_err de = {0};
    if (kpf_resolv(p->obj, &d, &resolv, &de) < 0) {
        kl_event(p->k, p->obj, "Warning", "DNSConfigForming", "%s", de.msg);
        resolv = dd_strdup("");
    }
    _cleanup_free_ char *node_hosts = NULL, *hosts = NULL, *hn = NULL;
    if (p->host_net) { /* the node's hosts file and hostname, as upstream */
        char node[256] = "";
        gethostname(node, sizeof(node) - 1);
        dd_read_file("/etc/hosts", 1 << 20, &node_hosts, NULL, NULL);
        hosts = kpf_hosts_host_network(p->obj, node_hosts);
        hn = dd_strdup(node);
    } else {
        hosts = kpf_hosts(p->obj, p->pod_ip, p->k->cluster_domain);
        hn = kpf_hostname(p->obj);
    }
    _cleanup_free_ char *hn_line = dd_asprintf("%s\n", hn);
    int r = dd_mkdir_p(dir, 0755, e);
    if (r >= 0)
        r = write_one(dir, "hosts", hosts, e);
    if (r >= 0)
        r = write_one(dir, "resolv.conf", resolv, e);
    if (r >= 0)
        r = write_one(dir, "hostname", hn_line, e);
    return r < 0 ? dd_err_wrap(e, "pod files") : 0;
}

static int publish_ports(struct kl_pod *p, dd_err *e);

int kl_sandbox_create(struct kl_pod *p, dd_err *e)
{
    _cleanup_free_ char *nsdir = dd_path_join(p->dir, "ns");
    int r = dd_mkdir_p(nsdir, 0700, e);
    if (r < 0)
        return r;
    _cleanup_free_ char *hn = kpf_hostname(p->obj);
    _cleanup_close_ int net = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    _cleanup_close_ int ipc = open("/proc/thread-self/ns/ipc", O_RDONLY | O_CLOEXEC);
    _cleanup_close_ int uts = open("/proc/thread-self/ns/uts", O_RDONLY | O_CLOEXEC);
    if (net < 0 || ipc < 0 || uts < 0)
        return dd_err_sys(e, "opening our namespaces");
    const json_t *spec = json_object_get(p->obj, "spec");
    p->host_net = json_is_true(json_object_get(spec, "hostNetwork"));
    bool host_ipc = json_is_true(json_object_get(spec, "hostIPC"));
    int flags = (p->host_net ? 0 : CLONE_NEWNET | CLONE_NEWUTS) | (host_ipc ? 0 : CLONE_NEWIPC);
    r = enter_new(nsdir, flags, hn, e);
    if (setns(net, CLONE_NEWNET) < 0 || setns(ipc, CLONE_NEWIPC) < 0 ||
        setns(uts, CLONE_NEWUTS) < 0) {
        dd_error("kubelet: cannot return to the agent's namespaces: %s", strerror(errno));
        abort();
    }
    /* a hostNetwork pod's "netns" is the agent's own (port-forward dials there) */
    p->netns = p->host_net ? dd_strdup("/proc/self/ns/net") : dd_path_join(nsdir, "net");
    p->ipcns = host_ipc ? NULL : dd_path_join(nsdir, "ipc");
    p->utsns = p->host_net ? NULL : dd_path_join(nsdir, "uts");
    struct net_pod_ip ip;
    if (r >= 0 && p->host_net)
        snprintf(p->pod_ip, sizeof(p->pod_ip), "%s", p->k->node_ip);
    else if (r >= 0 && (r = net_pod_attach(&p->k->net, p->netns, p->uid, &ip, e)) >= 0) {
        memcpy(p->pod_ip, ip.ip, sizeof(p->pod_ip));
        r = publish_ports(p, e);
    }
    if (r >= 0)
        r = write_files(p, e);
    if (r < 0) {
        kl_sandbox_destroy(p);
        return dd_err_wrap(e, "pod sandbox");
    }
    return 0;
}

/* The containers' ports with a hostPort (init containers too, as upstream). */
static size_t host_ports(const json_t *spec, struct net_hostport **ret)
{
    static const char *const lists[] = {"initContainers", "containers"};
    size_t n = 0;
    *ret = NULL;
    for (size_t l = 0; l < DD_ARRAY_SIZE(lists); l++) {
        size_t i, j;
        json_t *c, *port;
        json_array_foreach(json_object_get(spec, lists[l]), i, c)
        {
            json_array_foreach(json_object_get(c, "ports"), j, port)
            {
                json_int_t hp = json_integer_value(json_object_get(port, "hostPort"));
                if (hp <= 0)
                    continue;
                *ret = dd_realloc(*ret, (n + 1) * sizeof(**ret));
                struct net_hostport *h = &(*ret)[n++];
                memset(h, 0, sizeof(*h));
                h->host_port = (int)hp;
                h->container_port = (int)json_integer_value(json_object_get(port, "containerPort"));
                const char *proto = kl_str(port, "protocol", NULL) ?: "TCP";
                for (size_t k = 0; proto[k] && k + 1 < sizeof(h->protocol); k++)
                    h->protocol[k] = (char)tolower((unsigned char)proto[k]);
                snprintf(h->host_ip, sizeof(h->host_ip), "%s", kl_str(port, "hostIP", NULL) ?: "");
            }
        }
    }
    return n;
}

/* hostPort: connections to the node's port reach the pod (DNAT, as the portmap plugin does). */
static int publish_ports(struct kl_pod *p, dd_err *e)
{
    struct net_hostport *hp;
    size_t n = host_ports(json_object_get(p->obj, "spec"), &hp);
    int r = n ? net_hostports_add(p->k->net.bridge, p->uid, p->pod_ip, hp, n, e) : 0;
    p->host_ports = n > 0 && r >= 0;
    free(hp);
    return r;
}

void kl_sandbox_destroy(struct kl_pod *p)
{
    dd_err e = {0};
    if (p->host_ports && net_hostports_remove(p->k->net.bridge, p->uid, &e) < 0)
        dd_warn("kubelet: %s", e.msg);
    p->host_ports = false;
    if (p->netns && !p->host_net && net_pod_detach(&p->k->net, p->uid, &e) < 0)
        dd_warn("kubelet: %s", e.msg);
    p->pod_ip[0] = '\0';
    if (!p->host_net)
        unmount_ns(p->netns);
    unmount_ns(p->ipcns);
    unmount_ns(p->utsns);
    free(p->netns), p->netns = NULL;
    free(p->ipcns), p->ipcns = NULL;
    free(p->utsns), p->utsns = NULL;
}
