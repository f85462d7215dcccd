/* net/pod: the node bridge and the network of each pod, built from the netlink, IPAM and
 * iptables pieces. The bridge holds the gateway (first host of the pod CIDR); each pod gets a veth
 * whose node end is enslaved to the bridge and whose other end is created directly inside the
 * pod's namespace as "eth0", then configured through a netlink socket opened in that namespace.
 * It does not create or delete namespaces: the caller owns the netns file. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>

#include "dind/net.h"
#include "net-internal.h"

/* The link group of pod veths (host ends), so a node's shutdown deletes them in one batch. */
#define NET_POD_LINK_GROUP 0x6b33u

void net_pod_veth_name(const char *owner_id, char out[16])
{
    uint32_t h = 2166136261u; /* FNV-1a: stable across restarts, so detach needs no state */
    for (const unsigned char *p = (const unsigned char *)owner_id; p && *p; p++)
        h = (h ^ *p) * 16777619u;
    snprintf(out, 16, "veth%08x", h);
}

static int cfg_parse(const struct net_bridge_cfg *cfg, struct net_cidr *ret, dd_err *e)
{
    if (!cfg->bridge || !cfg->bridge[0] || strlen(cfg->bridge) > 15 || strchr(cfg->bridge, '/'))
        return dd_err_set(e, EINVAL, "invalid bridge name '%s'", cfg->bridge ? cfg->bridge : "");
    int r = net_cidr_parse(cfg->cidr, false, ret, e);
    if (r < 0)
        return r;
    if (ret->prefix < 8 || ret->prefix > 30)
        return dd_err_set(e, EINVAL, "pod CIDR '%s': prefix must be between 8 and 30", cfg->cidr);
    return 0;
}

static int enable_ip_forward(dd_err *e)
{
    static const char path[] = "/proc/sys/net/ipv4/ip_forward";
    _cleanup_free_ char *cur = NULL;
    if (dd_read_file(path, 64, &cur, NULL, NULL) == 0 && cur[0] == '1')
        return 0;
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "1\n", 2) != 2)
        return dd_err_sys(e, "enabling %s", path);
    return 0;
}

/* Serialises setup within the process so concurrent attaches do not race between `iptables -C`
 * and the insert (which would install a rule twice). */
static pthread_mutex_t setup_lock = PTHREAD_MUTEX_INITIALIZER;

static int bridge_setup_locked(const struct net_bridge_cfg *cfg, const struct net_cidr *c,
                               dd_err *e)
{
    _cleanup_net_nl_ net_nl *nl = NULL;
    int r = net_nl_open(-1, &nl, e);
    if (r >= 0)
        r = net_bridge_create(nl, cfg->bridge, cfg->mtu, e);
    if (r >= 0)
        r = net_addr_add(nl, cfg->bridge, net_cidr_network(c) + 1, c->prefix, e);
    if (r >= 0)
        r = net_link_set_up(nl, cfg->bridge, true, e);
    if (r >= 0)
        r = enable_ip_forward(e);
    struct net_cidr excl;
    if (r >= 0 && cfg->masq_exclude && (r = net_cidr_parse(cfg->masq_exclude, false, &excl, e)) < 0)
        dd_err_wrap(e, "masquerade exclusion");
    if (r >= 0)
        r = net_rules_ensure(cfg->bridge, c, !cfg->no_masquerade, cfg->masq_exclude ? &excl : NULL,
                             e);
    return r;
}

/* Every attach re-checks the bridge so a deleted bridge or a flushed rule heals itself, but the
 * check runs iptables three times (tens of milliseconds): within RECHECK_NS of a successful setup
 * of the same bridge and CIDR in the same network namespace, attach trusts it. */
#define RECHECK_NS (30LL * 1000000000)
static struct {
    char bridge[16];
    struct net_cidr cidr;
    ino_t netns;
    int64_t at;
} last_setup;

static ino_t current_netns(void)
{
    struct stat st;
    return stat("/proc/thread-self/ns/net", &st) == 0 ? st.st_ino : 0;
}

static int bridge_setup(const struct net_bridge_cfg *cfg, const struct net_cidr *c, bool may_skip,
                        dd_err *e)
{
    pthread_mutex_lock(&setup_lock);
    ino_t ns = current_netns();
    int64_t now = dd_mono_ns();
    int r = 0;
    if (!may_skip || !ns || ns != last_setup.netns || strcmp(last_setup.bridge, cfg->bridge) ||
        memcmp(&last_setup.cidr, c, sizeof(*c)) || now - last_setup.at > RECHECK_NS) {
        last_setup.at = 0;
        r = bridge_setup_locked(cfg, c, e);
        if (r >= 0) {
            snprintf(last_setup.bridge, sizeof(last_setup.bridge), "%s", cfg->bridge);
            last_setup.cidr = *c;
            last_setup.netns = ns;
            last_setup.at = now;
        }
    }
    pthread_mutex_unlock(&setup_lock);
    return r;
}

int net_bridge_setup(const struct net_bridge_cfg *cfg, dd_err *e)
{
    struct net_cidr c;
    int r = cfg_parse(cfg, &c, e);
    if (r >= 0)
        r = bridge_setup(cfg, &c, false, e);
    return r < 0 ? dd_err_wrap(e, "setting up bridge %s", cfg->bridge ? cfg->bridge : "") : 0;
}

int net_bridge_teardown(const struct net_bridge_cfg *cfg, dd_err *e)
{
    _cleanup_net_nl_ net_nl *nl = NULL;
    pthread_mutex_lock(&setup_lock);
    last_setup.at = 0;
    pthread_mutex_unlock(&setup_lock);
    int r = net_rules_remove(cfg->bridge, e);
    if (r >= 0)
        r = net_nl_open(-1, &nl, e);
    if (r >= 0)
        r = net_link_delete(nl, cfg->bridge, e);
    return r < 0 ? dd_err_wrap(e, "tearing down bridge %s", cfg->bridge) : 0;
}

/* Configures the pod side: lo up, eth0 address, up, default route. eth0's MAC derives from its
 * IP (0a:58:<ip>, the CNI bridge plugin's scheme), so a pod that gets a recently freed address
 * is reached at once: the node's neighbour entry for that IP still names the right MAC instead
 * of the old pod's, which kept new pods unreachable for tens of seconds (readiness probes,
 * port-forward) until the entry went stale. */
static int pod_side(int nsfd, const struct net_bridge_cfg *cfg, uint32_t ip, uint32_t gw,
                    int prefix, dd_err *e)
{
    _cleanup_net_nl_ net_nl *nl = NULL;
    int r = net_nl_open(nsfd, &nl, e);
    if (r >= 0)
        r = net_link_set_up(nl, "lo", true, e);
    uint8_t mac[6] = {
        0x0a, 0x58, (uint8_t)(ip >> 24), (uint8_t)(ip >> 16), (uint8_t)(ip >> 8), (uint8_t)ip};
    if (r >= 0)
        r = net_link_set_hwaddr(nl, "eth0", mac, e);
    if (r >= 0)
        r = net_addr_add(nl, "eth0", ip, prefix, e);
    if (r >= 0)
        r = net_link_set_up(nl, "eth0", true, e);
    if (r >= 0)
        r = net_route_add_default(nl, gw, e);
    return r < 0 ? dd_err_wrap(e, "in the pod namespace") : 0;
}

/* Node side: replaces a stale veth, creates the pair with eth0 in the pod, enslaves, up. */
static int node_side(int nsfd, const struct net_bridge_cfg *cfg, const char *veth, dd_err *e)
{
    _cleanup_net_nl_ net_nl *nl = NULL;
    int r = net_nl_open(-1, &nl, e);
    if (r >= 0)
        r = net_link_delete(nl, veth, e);
    if (r >= 0)
        r = net_veth_create(nl, veth, "eth0", nsfd, cfg->mtu, e);
    if (r >= 0)
        r = net_link_set_master(nl, veth, cfg->bridge, e);
    if (r >= 0)
        r = net_link_set_hairpin(nl, veth, true, e);
    if (r >= 0)
        r = net_link_set_group(nl, veth, NET_POD_LINK_GROUP, e);
    if (r >= 0)
        r = net_link_set_up(nl, veth, true, e);
    return r;
}

static void delete_veth_quietly(const char *veth)
{
    _cleanup_net_nl_ net_nl *nl = NULL;
    if (net_nl_open(-1, &nl, NULL) >= 0)
        net_link_delete(nl, veth, NULL);
}

static int attach(const struct net_bridge_cfg *cfg, const struct net_cidr *c, struct net_ipam *ipam,
                  const char *netns_path, const char *owner, struct net_pod_ip *ret, dd_err *e)
{
    uint32_t ip;
    char veth[16];
    bool had = net_ipam_lookup(ipam, owner, &ip, NULL) > 0;
    int r = net_ipam_alloc(ipam, owner, &ip, e);
    if (r < 0)
        return r;
    net_pod_veth_name(owner, veth);
    _cleanup_close_ int nsfd = open(netns_path, O_RDONLY | O_CLOEXEC);
    if (nsfd < 0)
        r = dd_err_sys(e, "opening netns %s", netns_path);
    if (r >= 0)
        r = node_side(nsfd, cfg, veth, e);
    if (r >= 0)
        r = pod_side(nsfd, cfg, ip, ipam->gateway, c->prefix, e);
    if (r < 0) {
        delete_veth_quietly(veth);
        if (!had)
            net_ipam_release(ipam, owner, NULL);
        return r;
    }
    memset(ret, 0, sizeof(*ret));
    net_ip_format(ip, ret->ip);
    net_ip_format(ipam->gateway, ret->gateway);
    ret->prefix = c->prefix;
    memcpy(ret->host_veth, veth, sizeof(veth));
    return 0;
}

int net_pod_attach(const struct net_bridge_cfg *cfg, const char *netns_path, const char *owner_id,
                   struct net_pod_ip *ret, dd_err *e)
{
    struct net_cidr c;
    struct net_ipam ipam = {0};
    int r = cfg_parse(cfg, &c, e);
    if (r >= 0)
        r = bridge_setup(cfg, &c, true, e);
    if (r >= 0)
        r = net_ipam_init(&ipam, cfg->state_dir, cfg->cidr, e);
    if (r >= 0)
        r = attach(cfg, &c, &ipam, netns_path, owner_id, ret, e);
    net_ipam_done(&ipam);
    return r < 0 ? dd_err_wrap(e, "attaching pod '%s' to %s", owner_id ? owner_id : "",
                               cfg->bridge ? cfg->bridge : "")
                 : 0;
}

int net_pod_links_delete_all(dd_err *e)
{
    _cleanup_net_nl_ net_nl *nl = NULL;
    int r = net_nl_open(-1, &nl, e);
    return r < 0 ? r : net_link_delete_group(nl, NET_POD_LINK_GROUP, e);
}

int net_pod_detach(const struct net_bridge_cfg *cfg, const char *owner_id, dd_err *e)
{
    struct net_ipam ipam = {0};
    _cleanup_net_nl_ net_nl *nl = NULL;
    char veth[16];
    net_pod_veth_name(owner_id, veth);
    int r = net_nl_open(-1, &nl, e);
    if (r >= 0)
        r = net_link_delete(nl, veth, e);
    if (r >= 0)
        r = net_ipam_init(&ipam, cfg->state_dir, cfg->cidr, e);
    if (r >= 0)
        r = net_ipam_release(&ipam, owner_id, e);
    net_ipam_done(&ipam);
    return r < 0 ? dd_err_wrap(e, "detaching pod '%s'", owner_id ? owner_id : "") : 0;
}
