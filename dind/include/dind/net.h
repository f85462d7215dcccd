/* net: container and pod networking on one node. Prefix: net_.
 *
 * Three layers, each usable alone:
 *   - CIDR helpers (parse/format IPv4 addresses and prefixes; untrusted input is rejected with a
 *     message naming it);
 *   - netlink (libmnl): bridges, veth pairs, addresses, routes, links up/down, in the caller's
 *     network namespace or in another one given by an fd. Another namespace is reached through a
 *     netlink socket opened inside it by a short-lived thread that setns()es and exits, so the
 *     caller's threads never change namespace;
 *   - IPAM: IPv4 addresses handed out from a CIDR, one file per allocation in a state directory
 *     ("<state_dir>/<a.b.c.d>" holding the owner id), created with link(2) so two processes can
 *     never hold the same address, and surviving restarts. The network address, the gateway (the
 *     first host address) and the broadcast address are never handed out.
 *   - pods: net_pod_attach() gives a network namespace an "eth0" on a node bridge with an IP from
 *     the bridge's CIDR and a default route via the gateway; net_pod_detach() undoes it.
 *
 * Packet filtering uses the iptables binary (fork/exec of `iptables -w`, nft or legacy backend,
 * whichever `iptables` is on PATH; libnftables is not installed here). Every rule we add carries
 * `-m comment --comment k3d-dind-net:<bridge>`, so net_bridge_teardown() and net_cleanup_all()
 * remove exactly ours and nothing else. The rules, per bridge: filter FORWARD accept -i/-o the
 * bridge (inserted first, so a FORWARD policy of DROP or other's DROP rules do not cut pods off),
 * nat POSTROUTING MASQUERADE for the CIDR leaving through any interface but the bridge.
 *
 * Errors follow base.h: negative errno + dd_err with context, e.g.
 *     "attaching pod 'default/web': creating veth vethc0ffee12: File exists".
 * Thread-safety: every function may be called from any thread; IPAM is safe across processes.
 */
#ifndef DIND_NET_H
#define DIND_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "dind/base.h"

/* ---- IPv4 addresses and CIDRs ---- */

#define NET_IP_STRLEN 16 /* "255.255.255.255" + NUL */

struct net_cidr {
    uint32_t addr; /* host byte order, as written (host bits may be set: "10.42.0.1/24") */
    int prefix;    /* 0..32 */
};

/* Parses "a.b.c.d/n" (strict dotted quad, no leading zeros beyond "0", prefix 0..32). A bare
 * address without "/n" is accepted only when allow_bare is true (prefix 32). -EINVAL otherwise. */
int net_cidr_parse(const char *s, bool allow_bare, struct net_cidr *ret, dd_err *e);
/* Parses a dotted-quad IPv4 address into host byte order. */
int net_ip_parse(const char *s, uint32_t *ret_ip, dd_err *e);
/* Formats a host-byte-order address into out (NET_IP_STRLEN bytes); returns out. */
char *net_ip_format(uint32_t ip, char *out);
static inline uint32_t net_cidr_mask(int prefix)
{
    return prefix <= 0 ? 0 : 0xffffffffu << (32 - prefix);
}
static inline uint32_t net_cidr_network(const struct net_cidr *c)
{
    return c->addr & net_cidr_mask(c->prefix);
}
static inline bool net_cidr_contains(const struct net_cidr *c, uint32_t ip)
{
    return (ip & net_cidr_mask(c->prefix)) == net_cidr_network(c);
}

/* ---- netlink: links, addresses, routes ---- */

/* A netlink route socket bound to one network namespace (the caller's or another one). */
typedef struct net_nl net_nl;
/* netns_fd < 0: the caller's namespace; otherwise an fd of /proc/PID/ns/net or a bind-mounted
 * netns file (borrowed, not closed). */
int net_nl_open(int netns_fd, net_nl **ret, dd_err *e);
void net_nl_close(net_nl *nl); /* NULL-safe */
void net_nl_closep(net_nl **nl);
#define _cleanup_net_nl_ _cleanup_(net_nl_closep)

/* Interface index of name; -ENODEV if there is none. */
int net_link_index(net_nl *nl, const char *name, dd_err *e);
/* Creates a bridge unless a link of that name exists (then it must be a bridge: -EEXIST if it is
 * some other kind). mtu 0 keeps the default. Does not bring it up. */
int net_bridge_create(net_nl *nl, const char *name, int mtu, dd_err *e);
/* Creates the veth pair host_name <-> peer_name in nl's namespace, with the peer placed directly
 * in the namespace peer_netns_fd (< 0: same namespace) under the name peer_name. mtu 0 = default.
 * -EEXIST if host_name exists. */
int net_veth_create(net_nl *nl, const char *host_name, const char *peer_name, int peer_netns_fd,
                    int mtu, dd_err *e);
/* Sets the link up (or down). */
int net_link_set_up(net_nl *nl, const char *name, bool up, dd_err *e);
/* Enslaves name to master (a bridge); master NULL releases it. */
int net_link_set_master(net_nl *nl, const char *name, const char *master, dd_err *e);
/* Hairpin mode of a bridge port (a pod reaching itself through the node, e.g. its host port). */
int net_link_set_hairpin(net_nl *nl, const char *name, bool on, dd_err *e);
int net_link_set_mtu(net_nl *nl, const char *name, int mtu, dd_err *e);
/* Puts a link in a link group (IFLA_GROUP); deletes every link of a group in one batch (one
 * RCU grace period for all instead of one each). */
int net_link_set_group(net_nl *nl, const char *name, uint32_t group, dd_err *e);
int net_link_delete_group(net_nl *nl, uint32_t group, dd_err *e);
int net_link_set_hwaddr(net_nl *nl, const char *name, const uint8_t mac[6], dd_err *e);
/* Deletes a link (for a veth: both ends). A missing link is success (returns 0; 1 if deleted). */
int net_link_delete(net_nl *nl, const char *name, dd_err *e);
/* Adds addr/prefix to the link; an address already present is success. */
int net_addr_add(net_nl *nl, const char *name, uint32_t addr, int prefix, dd_err *e);
/* Removes addr/prefix from the link. A missing address or link is success (returns 0; 1 if
 * removed). */
int net_addr_del(net_nl *nl, const char *name, uint32_t addr, int prefix, dd_err *e);
/* Adds (or replaces) the default IPv4 route via gw. */
int net_route_add_default(net_nl *nl, uint32_t gw, dd_err *e);
/* Adds (or replaces) a route to dst/prefix via gw (gw 0: on-link through dev). dev may be NULL
 * when gw is set. */
int net_route_add(net_nl *nl, uint32_t dst, int prefix, uint32_t gw, const char *dev, dd_err *e);
/* Deletes the route to dst/prefix in the main table (any gateway); 0 when it was not there. */
int net_route_del(net_nl *nl, uint32_t dst, int prefix, dd_err *e);

/* ---- IPAM ---- */

struct net_ipam {
    char *state_dir;      /* one file per allocation */
    struct net_cidr cidr; /* network */
    uint32_t first, last; /* allocatable range (host byte order, inclusive) */
    uint32_t gateway;     /* network + 1 */
};

/* Opens (creating state_dir, mode 0700) an allocator over cidr (prefix 8..30). */
int net_ipam_init(struct net_ipam *ipam, const char *state_dir, const char *cidr, dd_err *e);
void net_ipam_done(struct net_ipam *ipam); /* frees the struct's memory; state files stay */
/* Returns the address held by owner, allocating the lowest free one if it holds none (so a
 * repeated call for the same owner returns the same address). -ENOSPC when the range is full.
 * owner: 1..253 bytes without '\n' or NUL. */
int net_ipam_alloc(struct net_ipam *ipam, const char *owner, uint32_t *ret_ip, dd_err *e);
/* Address held by owner: 1 and *ret_ip if any, 0 if none. */
int net_ipam_lookup(struct net_ipam *ipam, const char *owner, uint32_t *ret_ip, dd_err *e);
/* Frees every address held by owner; returns how many (0 is success too). */
int net_ipam_release(struct net_ipam *ipam, const char *owner, dd_err *e);
/* Frees every allocation whose owner is not in live (NULL-terminated; NULL = none live);
 * returns how many were freed. Call at start-up with the owners that still exist. */
int net_ipam_reconcile(struct net_ipam *ipam, char *const *live, dd_err *e);

/* ---- node bridge and pods ---- */

struct net_bridge_cfg {
    const char *bridge;    /* link name, e.g. "k3c0" (1..15 bytes) */
    const char *cidr;      /* pod CIDR, e.g. "10.42.0.0/24"; gateway = first host, on the bridge */
    const char *state_dir; /* IPAM directory, e.g. "<data-dir>/agent/ipam/k3c0" */
    int mtu;               /* 0 = 1500 */
    bool no_masquerade;    /* skip the nat POSTROUTING rule */
    /* Destinations that keep the pod's source address (not masqueraded): the cluster's whole pod
     * network, e.g. "10.42.0.0/16", so pods on other nodes see the real pod IP. NULL = none. */
    const char *masq_exclude;
};

/* Ensures, in the caller's namespace: the bridge with the gateway address, up; ip_forward=1;
 * the tagged iptables rules (each added only if `iptables -C` does not find it). Idempotent. */
int net_bridge_setup(const struct net_bridge_cfg *cfg, dd_err *e);
/* Removes this bridge's tagged rules and the bridge link. Idempotent. Leaves IPAM files. */
int net_bridge_teardown(const struct net_bridge_cfg *cfg, dd_err *e);
/* Removes every rule carrying a k3d-dind-net tag (any bridge, host ports included) from filter
 * FORWARD, INPUT and OUTPUT and nat POSTROUTING, PREROUTING and OUTPUT, and every chain set
 * (NET_CHAIN_PREFIX), in the caller's namespace; returns how many. Idempotent. */
int net_cleanup_all(dd_err *e);

struct net_pod_ip {
    char ip[NET_IP_STRLEN];      /* pod address, e.g. "10.42.0.2" */
    char gateway[NET_IP_STRLEN]; /* e.g. "10.42.0.1" */
    int prefix;                  /* e.g. 24 */
    char host_veth[16];          /* node-side veth name, derived from owner_id */
};

/* Gives the network namespace at netns_path (a bind-mounted netns file or /proc/PID/ns/net) its
 * network: net_bridge_setup(cfg), an address for owner_id (pod UID or "ns/name"; the same owner
 * gets the same address back), a veth "veth<8 hex of hash(owner_id)>" on the bridge whose peer
 * is "eth0" in the pod namespace with addr/prefix and the default route via the gateway, and lo
 * up. A leftover node-side veth of the same name (a crash between attach and detach) is replaced.
 * On failure nothing new remains (the address is released unless it was held before). */
int net_pod_attach(const struct net_bridge_cfg *cfg, const char *netns_path, const char *owner_id,
                   struct net_pod_ip *ret, dd_err *e);
/* Deletes the pod's node-side veth (which removes eth0 in the pod namespace too) and releases its
 * address. Idempotent: a pod already detached is success. */
int net_pod_detach(const struct net_bridge_cfg *cfg, const char *owner_id, dd_err *e);
/* Deletes the veths of every pod attached in this network namespace at once (a node's shutdown):
 * the pods' own net_pod_detach() then only releases their addresses. */
int net_pod_links_delete_all(dd_err *e);
/* Name of the node-side veth for owner_id (16 bytes). */
void net_pod_veth_name(const char *owner_id, char out[16]);

/* One published port: host_port on the node (host_ip, "" = every local address) → the pod's
 * container_port, protocol "tcp", "udp" or "sctp". */
struct net_hostport {
    int host_port, container_port;
    char protocol[8];
    char host_ip[NET_IP_STRLEN];
};
/* DNATs connections to the node's host ports (nat PREROUTING, and OUTPUT for the node's own
 * non-loopback traffic) to pod_ip, tagged "<bridge>/hp/<owner>" so net_hostports_remove() and
 * the bridge's teardown find them. On failure nothing of owner's remains. */
int net_hostports_add(const char *bridge, const char *owner, const char *pod_ip,
                      const struct net_hostport *hp, size_t n, dd_err *e);
/* Removes owner's host-port rules; returns how many. Idempotent. */
int net_hostports_remove(const char *bridge, const char *owner, dd_err *e);

/* ---- chain sets: rule sets in chains of our own (a service proxy's) ----
 * A bridge's chain set is every chain named NET_CHAIN_PREFIX "<bridge>-..." in tables nat and
 * filter (so the bridge name must leave room: chain names are at most 28 bytes). Its contents are
 * replaced wholesale and atomically by one `iptables-restore --noflush`, and it is entered by
 * jump rules in built-in chains tagged "<bridge>/chains". net_bridge_teardown() and
 * net_cleanup_all() remove the jumps and the chains too. */
#define NET_CHAIN_PREFIX "K3D-"

struct net_jump {
    const char *table, *chain; /* built-in chain, e.g. "nat", "PREROUTING" */
    const char *match;         /* extra match arguments, space-separated (no quoting), or NULL */
    const char *target;        /* chain of the set, without the prefix: "SERVICES" */
};

struct net_chainset {
    const char *bridge;
    /* iptables-restore input ("*nat", ":K3D-<bridge>-X - [0:0]", "-A ...", "COMMIT", per table)
     * declaring every chain of the set it fills, all named with the set's prefix. Chains of the
     * set it does not declare are deleted in the same transaction. */
    const char *text;
    const struct net_jump *jumps; /* inserted first in their chain unless present */
    size_t n_jumps;
    bool localnet; /* DNAT from 127.0.0.0/8 to pods: route_localnet on the bridge + its guard */
};
/* Replaces the set's chains with cs->text, then ensures the jumps. */
int net_chainset_apply(const struct net_chainset *cs, dd_err *e);
/* Removes the set's jumps and chains. Idempotent. */
int net_chainset_remove(const char *bridge, dd_err *e);

/* The first non-loopback IPv4 address of this network namespace (getifaddrs order), or
 * "127.0.0.1" when there is none: k3s's default node IP and advertise address. Caller frees. */
char *net_first_ipv4(void);

#endif
