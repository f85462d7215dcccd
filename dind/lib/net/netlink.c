/* net/netlink: rtnetlink requests over libmnl: links (bridge, veth), addresses and routes. A
 * net_nl is one NETLINK_ROUTE socket bound to one network namespace; a socket for another
 * namespace is opened by a short-lived thread that setns()es into it, opens the socket and exits,
 * so no caller thread ever changes namespace (the socket keeps the namespace it was created in).
 * Every request asks for an ack and returns the kernel's errno with the object named in dd_err.
 * This file knows nothing of pods, IPAM or iptables. */
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include "dind/net.h"

/* Requests are small; replies are read in pieces of this size (a page-sized kernel skb fits). */
#define NL_BUFSZ 16384

struct net_nl {
    struct mnl_socket *sock;
    uint32_t portid;
    uint32_t seq;
};

struct open_job {
    int netns_fd;
    struct mnl_socket *sock;
    int err;
};

static struct mnl_socket *open_here(int *ret_err)
{
    struct mnl_socket *s = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    if (!s || mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0) {
        *ret_err = errno;
        if (s)
            mnl_socket_close(s);
        return NULL;
    }
    return s;
}

static void *open_in_netns(void *arg)
{
    struct open_job *j = arg;
    if (setns(j->netns_fd, CLONE_NEWNET) < 0) {
        j->err = errno;
        return NULL;
    }
    j->sock = open_here(&j->err);
    return NULL; /* the thread ends here, taking its namespace with it */
}

int net_nl_open(int netns_fd, net_nl **ret, dd_err *e)
{
    struct open_job j = {.netns_fd = netns_fd};
    if (netns_fd < 0) {
        j.sock = open_here(&j.err);
    } else {
        pthread_t t;
        int r = pthread_create(&t, NULL, open_in_netns, &j);
        if (r != 0)
            return dd_err_set(e, r, "starting netns thread: %s", strerror(r));
        pthread_join(t, NULL);
    }
    if (!j.sock)
        return dd_err_set(e, j.err, "opening netlink socket%s: %s",
                          netns_fd >= 0 ? " in netns" : "", strerror(j.err));
    net_nl *nl = dd_calloc(1, sizeof(*nl));
    nl->sock = j.sock;
    nl->portid = mnl_socket_get_portid(j.sock);
    nl->seq = (uint32_t)time(NULL);
    *ret = nl;
    return 0;
}

void net_nl_close(net_nl *nl)
{
    if (!nl)
        return;
    mnl_socket_close(nl->sock);
    free(nl);
}

void net_nl_closep(net_nl **nl)
{
    net_nl_close(*nl);
    *nl = NULL;
}

/* Sends nlh and reads replies until the ack; cb (may be NULL) sees each data message.
 * Returns 0 or -errno (errno of the kernel's error ack). */
static int nl_talk(net_nl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
    char buf[NL_BUFSZ];
    nlh->nlmsg_seq = ++nl->seq;
    nlh->nlmsg_flags |= NLM_F_ACK;
    if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
        return -errno;
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl->sock, buf, sizeof(buf));
        if (n < 0)
            return -errno;
        int r = mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, nl->portid, cb, data);
        if (r < 0)
            return -errno;
        if (r == MNL_CB_STOP)
            return 0;
    }
}

static struct nlmsghdr *msg_start(char *buf, uint16_t type, uint16_t flags)
{
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST | flags;
    return nlh;
}

static bool name_ok(const char *name)
{
    return name && name[0] && strlen(name) < IFNAMSIZ && !strchr(name, '/');
}

/* ---- link lookup ---- */

struct link_info {
    int index;
    char kind[32];
};

static int linkinfo_cb(const struct nlattr *a, void *data)
{
    struct link_info *li = data;
    if (mnl_attr_get_type(a) == IFLA_INFO_KIND)
        snprintf(li->kind, sizeof(li->kind), "%s", mnl_attr_get_str(a));
    return MNL_CB_OK;
}

static int link_attr_cb(const struct nlattr *a, void *data)
{
    if (mnl_attr_get_type(a) == IFLA_LINKINFO)
        mnl_attr_parse_nested(a, linkinfo_cb, data);
    return MNL_CB_OK;
}

static int link_msg_cb(const struct nlmsghdr *nlh, void *data)
{
    struct link_info *li = data;
    struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
    li->index = ifi->ifi_index;
    mnl_attr_parse(nlh, sizeof(*ifi), link_attr_cb, li);
    return MNL_CB_OK;
}

static int link_get(net_nl *nl, const char *name, struct link_info *li, dd_err *e)
{
    char buf[NL_BUFSZ];
    if (!name_ok(name))
        return dd_err_set(e, EINVAL, "invalid interface name '%s'", name ? name : "(null)");
    struct nlmsghdr *nlh = msg_start(buf, RTM_GETLINK, 0);
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
    memset(li, 0, sizeof(*li));
    int r = nl_talk(nl, nlh, link_msg_cb, li);
    if (r == -ENODEV)
        return dd_err_set(e, ENODEV, "link %s: no such device", name);
    if (r < 0)
        return dd_err_set(e, -r, "looking up link %s: %s", name, strerror(-r));
    return li->index;
}

int net_link_index(net_nl *nl, const char *name, dd_err *e)
{
    struct link_info li;
    return link_get(nl, name, &li, e);
}

/* ---- link creation and changes ---- */

static struct nlmsghdr *newlink_start(char *buf, const char *name, int mtu)
{
    struct nlmsghdr *nlh = msg_start(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
    if (mtu > 0)
        mnl_attr_put_u32(nlh, IFLA_MTU, (uint32_t)mtu);
    return nlh;
}

int net_bridge_create(net_nl *nl, const char *name, int mtu, dd_err *e)
{
    char buf[NL_BUFSZ];
    struct link_info li;
    int r = link_get(nl, name, &li, NULL);
    if (r >= 0) {
        if (strcmp(li.kind, "bridge") != 0)
            return dd_err_set(e, EEXIST, "creating bridge %s: a %s link of that name exists", name,
                              li.kind[0] ? li.kind : "non-bridge");
        return 0;
    }
    if (!name_ok(name))
        return dd_err_set(e, EINVAL, "invalid bridge name '%s'", name ? name : "(null)");
    struct nlmsghdr *nlh = newlink_start(buf, name, mtu);
    struct nlattr *info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
    mnl_attr_nest_end(nlh, info);
    r = nl_talk(nl, nlh, NULL, NULL);
    if (r == -EEXIST) /* created concurrently */
        return 0;
    if (r < 0)
        return dd_err_set(e, -r, "creating bridge %s: %s", name, strerror(-r));
    return 0;
}

int net_veth_create(net_nl *nl, const char *host_name, const char *peer_name, int peer_netns_fd,
                    int mtu, dd_err *e)
{
    char buf[NL_BUFSZ];
    if (!name_ok(host_name) || !name_ok(peer_name))
        return dd_err_set(e, EINVAL, "invalid veth names '%s'/'%s'", host_name ? host_name : "",
                          peer_name ? peer_name : "");
    struct nlmsghdr *nlh = newlink_start(buf, host_name, mtu);
    struct nlattr *info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
    struct nlattr *idata = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
    struct nlattr *peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
    struct ifinfomsg *pifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*pifi));
    pifi->ifi_family = AF_UNSPEC;
    mnl_attr_put_strz(nlh, IFLA_IFNAME, peer_name);
    if (mtu > 0)
        mnl_attr_put_u32(nlh, IFLA_MTU, (uint32_t)mtu);
    if (peer_netns_fd >= 0)
        mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)peer_netns_fd);
    mnl_attr_nest_end(nlh, peer);
    mnl_attr_nest_end(nlh, idata);
    mnl_attr_nest_end(nlh, info);
    int r = nl_talk(nl, nlh, NULL, NULL);
    if (r < 0)
        return dd_err_set(e, -r, "creating veth %s: %s", host_name, strerror(-r));
    return 0;
}

/* RTM_NEWLINK on an existing link (by index) with attributes added by the caller. */
static struct nlmsghdr *setlink_start(char *buf, int index)
{
    struct nlmsghdr *nlh = msg_start(buf, RTM_NEWLINK, 0);
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = index;
    return nlh;
}

int net_link_set_up(net_nl *nl, const char *name, bool up, dd_err *e)
{
    char buf[NL_BUFSZ];
    int idx = net_link_index(nl, name, e);
    if (idx < 0)
        return idx;
    struct nlmsghdr *nlh = setlink_start(buf, idx);
    struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
    ifi->ifi_change = IFF_UP;
    ifi->ifi_flags = up ? IFF_UP : 0;
    int r = nl_talk(nl, nlh, NULL, NULL);
    if (r < 0)
        return dd_err_set(e, -r, "setting %s %s: %s", name, up ? "up" : "down", strerror(-r));
    return 0;
}

int net_link_set_master(net_nl *nl, const char *name, const char *master, dd_err *e)
{
    char buf[NL_BUFSZ];
    int midx = 0;
    int idx = net_link_index(nl, name, e);
    if (idx < 0)
        return idx;
    if (master && (midx = net_link_index(nl, master, e)) < 0)
        return midx;
    struct nlmsghdr *nlh = setlink_start(buf, idx);
    mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)midx);
    int r = nl_talk(nl, nlh, NULL, NULL);
    if (r < 0)
        return dd_err_set(e, -r, "attaching %s to %s: %s", name, master ? master : "no master",
                          strerror(-r));
    return 0;
}

int net_link_set_hairpin(net_nl *nl, const char *name, bool on, dd_err *e)
{
    char buf[NL_BUFSZ];
    int idx = net_link_index(nl, name, e);
    if (idx < 0)
        return idx;
    struct nlmsghdr *nlh = setlink_start(buf, idx);
    nlh->nlmsg_type = RTM_SETLINK; /* PF_BRIDGE takes port attributes in SETLINK only */
    struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
    ifi->ifi_family = AF_BRIDGE;
    struct nlattr *nest = mnl_attr_nest_start(nlh, IFLA_PROTINFO);
    mnl_attr_put_u8(nlh, IFLA_BRPORT_MODE, on ? 1 : 0);
    mnl_attr_nest_end(nlh, nest);
    int r = nl_talk(nl, nlh, NULL, NULL);
    if (r < 0)
        return dd_err_set(e, -r, "setting hairpin mode on %s: %s", name, strerror(-r));
    return 0;
}

/* RTM_NEWLINK setting one attribute of the link called name; what names it in errors. */
static int set_link_attr(net_nl *nl, const char *name, uint16_t type, const void *data, size_t len,
                         const char *what, dd_err *e)
{
    char buf[NL_BUFSZ];
    int idx = net_link_index(nl, name, e);
    if (idx < 0)
        return idx;
    struct nlmsghdr *nlh = setlink_start(buf, idx);
    mnl_attr_put(nlh, type, len, data);
    int r = nl_talk(nl, nlh, NULL, NULL);
    if (r < 0)
        return dd_err_set(e, -r, "setting %s of %s: %s", what, name, strerror(-r));
    return 0;
}

int net_link_set_mtu(net_nl *nl, const char *name, int mtu, dd_err *e)
{
    if (mtu < 68 || mtu > 65535)
        return dd_err_set(e, EINVAL, "setting MTU of %s: %d is out of range", name, mtu);
    uint32_t v = (uint32_t)mtu;
    return set_link_attr(nl, name, IFLA_MTU, &v, sizeof(v), "MTU", e);
}

int net_link_set_group(net_nl *nl, const char *name, uint32_t group, dd_err *e)
{
    return set_link_attr(nl, name, IFLA_GROUP, &group, sizeof(group), "the link group", e);
}

int net_link_delete_group(net_nl *nl, uint32_t group, dd_err *e)
{
    char buf[NL_BUFSZ];
    struct nlmsghdr *nlh = msg_start(buf, RTM_DELLINK, 0);
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    mnl_attr_put_u32(nlh, IFLA_GROUP, group);
    int r = nl_talk(nl, nlh, NULL, NULL);
    if (r == -ENODEV)
        return 0;
    if (r < 0)
        return dd_err_set(e, -r, "deleting the links of group %u: %s", group, strerror(-r));
    return 0;
}

int net_link_set_hwaddr(net_nl *nl, const char *name, const uint8_t mac[6], dd_err *e)
{
    return set_link_attr(nl, name, IFLA_ADDRESS, mac, 6, "the MAC address", e);
}

int net_link_delete(net_nl *nl, const char *name, dd_err *e)
{
    char buf[NL_BUFSZ];
    dd_err le;
    int idx = net_link_index(nl, name, &le);
    if (idx == -ENODEV)
        return 0;
    if (idx < 0) {
        if (e)
            *e = le;
        return idx;
    }
    struct nlmsghdr *nlh = msg_start(buf, RTM_DELLINK, 0);
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = idx;
    int r = nl_talk(nl, nlh, NULL, NULL);
    if (r == -ENODEV) /* went away concurrently (e.g. its netns died) */
        return 0;
    if (r < 0)
        return dd_err_set(e, -r, "deleting link %s: %s", name, strerror(-r));
    return 1;
}

/* ---- addresses and routes ---- */

int net_addr_add(net_nl *nl, const char *name, uint32_t addr, int prefix, dd_err *e)
{
    char buf[NL_BUFSZ], s[NET_IP_STRLEN];
    int idx = net_link_index(nl, name, e);
    if (idx < 0)
        return idx;
    if (prefix < 0 || prefix > 32)
        return dd_err_set(e, EINVAL, "adding address to %s: prefix %d", name, prefix);
    struct nlmsghdr *nlh = msg_start(buf, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
    struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
    ifa->ifa_family = AF_INET;
    ifa->ifa_prefixlen = (uint8_t)prefix;
    ifa->ifa_index = (uint32_t)idx;
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    uint32_t be = htonl(addr);
    mnl_attr_put_u32(nlh, IFA_LOCAL, be);
    mnl_attr_put_u32(nlh, IFA_ADDRESS, be);
    if (prefix < 31)
        mnl_attr_put_u32(nlh, IFA_BROADCAST, htonl(addr | ~net_cidr_mask(prefix)));
    int r = nl_talk(nl, nlh, NULL, NULL);
    if (r == -EEXIST)
        return 0;
    if (r < 0)
        return dd_err_set(e, -r, "adding %s/%d to %s: %s", net_ip_format(addr, s), prefix, name,
                          strerror(-r));
    return 0;
}

int net_addr_del(net_nl *nl, const char *name, uint32_t addr, int prefix, dd_err *e)
{
    char buf[NL_BUFSZ], s[NET_IP_STRLEN];
    dd_err le = {0};
    int idx = net_link_index(nl, name, &le);
    if (idx == -ENODEV)
        return 0; /* the link and its addresses are gone */
    if (idx < 0)
        return dd_err_set(e, le.code, "%s", le.msg);
    if (prefix < 0 || prefix > 32)
        return dd_err_set(e, EINVAL, "removing address from %s: prefix %d", name, prefix);
    struct nlmsghdr *nlh = msg_start(buf, RTM_DELADDR, 0);
    struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
    ifa->ifa_family = AF_INET;
    ifa->ifa_prefixlen = (uint8_t)prefix;
    ifa->ifa_index = (uint32_t)idx;
    mnl_attr_put_u32(nlh, IFA_LOCAL, htonl(addr));
    int r = nl_talk(nl, nlh, NULL, NULL);
    if (r == -EADDRNOTAVAIL || r == -ENODEV)
        return 0;
    if (r < 0)
        return dd_err_set(e, -r, "removing %s/%d from %s: %s", net_ip_format(addr, s), prefix, name,
                          strerror(-r));
    return 1;
}

int net_route_add(net_nl *nl, uint32_t dst, int prefix, uint32_t gw, const char *dev, dd_err *e)
{
    char buf[NL_BUFSZ], s[NET_IP_STRLEN], g[NET_IP_STRLEN];
    int idx = 0;
    if (dev && (idx = net_link_index(nl, dev, e)) < 0)
        return idx;
    if (prefix < 0 || prefix > 32 || (!gw && !dev))
        return dd_err_set(e, EINVAL, "adding route: need a prefix 0..32 and a gateway or device");
    struct nlmsghdr *nlh = msg_start(buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE);
    struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
    rtm->rtm_family = AF_INET;
    rtm->rtm_dst_len = (uint8_t)prefix;
    rtm->rtm_table = RT_TABLE_MAIN;
    rtm->rtm_protocol = RTPROT_BOOT;
    rtm->rtm_scope = gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
    rtm->rtm_type = RTN_UNICAST;
    if (prefix > 0)
        mnl_attr_put_u32(nlh, RTA_DST, htonl(dst & net_cidr_mask(prefix)));
    if (gw)
        mnl_attr_put_u32(nlh, RTA_GATEWAY, htonl(gw));
    if (idx)
        mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)idx);
    int r = nl_talk(nl, nlh, NULL, NULL);
    if (r < 0)
        return dd_err_set(e, -r, "adding route %s/%d via %s: %s", net_ip_format(dst, s), prefix,
                          gw ? net_ip_format(gw, g) : (dev ? dev : "?"), strerror(-r));
    return 0;
}

int net_route_del(net_nl *nl, uint32_t dst, int prefix, dd_err *e)
{
    char buf[NL_BUFSZ], s[NET_IP_STRLEN];
    if (prefix < 0 || prefix > 32)
        return dd_err_set(e, EINVAL, "deleting route: prefix %d", prefix);
    struct nlmsghdr *nlh = msg_start(buf, RTM_DELROUTE, 0);
    struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
    rtm->rtm_family = AF_INET;
    rtm->rtm_dst_len = (uint8_t)prefix;
    rtm->rtm_table = RT_TABLE_MAIN;
    rtm->rtm_scope = RT_SCOPE_NOWHERE;
    if (prefix > 0)
        mnl_attr_put_u32(nlh, RTA_DST, htonl(dst & net_cidr_mask(prefix)));
    int r = nl_talk(nl, nlh, NULL, NULL);
    if (r == -ESRCH || r == -ENOENT)
        return 0;
    if (r < 0)
        return dd_err_set(e, -r, "deleting route %s/%d: %s", net_ip_format(dst, s), prefix,
                          strerror(-r));
    return 0;
}

int net_route_add_default(net_nl *nl, uint32_t gw, dd_err *e)
{
    return net_route_add(nl, 0, 0, gw, NULL, e);
}
