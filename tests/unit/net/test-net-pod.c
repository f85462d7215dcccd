/* Unit tests of the node bridge and pod attachment, each in a throwaway network namespace: two
 * pods get distinct addresses and talk TCP over the bridge, detach removes the veth and the
 * address, cleanup removes exactly our iptables rules, failures leave nothing behind. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "helpers.h"

#define PORT 7777

static struct net_bridge_cfg cfg_in(const char *dir, char *state)
{
    snprintf(state, 256, "%s/ipam", dir);
    return (struct net_bridge_cfg){.bridge = "k3t0", .cidr = "10.99.0.0/24", .state_dir = state};
}

struct server {
    int ready; /* write end: one byte once listening */
};

static int serve_once(void *arg)
{
    struct server *s = arg;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(PORT)};
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0)
        return 2;
    if (write(s->ready, "r", 1) != 1)
        return 3;
    int c = accept(fd, NULL, NULL);
    if (c < 0 || write(c, "pong", 4) != 4)
        return 4;
    close(c);
    return 0;
}

static int connect_and_read(void *arg)
{
    const char *ip = arg;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(PORT)};
    char buf[8] = {0};
    if (fd < 0 || inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
        return 2;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return 3;
    if (read(fd, buf, 4) != 4 || memcmp(buf, "pong", 4) != 0)
        return 4;
    return 0;
}

/* Serves one connection in pod `server_ns` and connects to ip from pod `client_ns`. */
static int tcp_between(const char *server_ns, const char *client_ns, const char *ip)
{
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    struct server s = {.ready = p[1]};
    pid_t srv = in_netns_start(server_ns, serve_once, &s);
    close(p[1]);
    char c;
    if (read(p[0], &c, 1) != 1) {
        close(p[0]);
        return 100 + child_status(srv);
    }
    close(p[0]);
    int r = child_status(in_netns_start(client_ns, connect_and_read, (void *)ip));
    if (r != 0)
        kill(srv, SIGKILL);
    child_status(srv);
    return r;
}

static void two_pods_body(const char *dir)
{
    char state[256];
    struct net_bridge_cfg cfg = cfg_in(dir, state);
    struct pod a, b;
    struct net_pod_ip ia, ib;
    dd_err e;
    pod_start(&a);
    pod_start(&b);
    CHECK_EQ_INT(net_pod_attach(&cfg, a.netns, "default/a", &ia, &e), 0);
    CHECK_EQ_INT(net_pod_attach(&cfg, b.netns, "default/b", &ib, &e), 0);
    CHECK(strcmp(ia.ip, ib.ip) != 0);
    CHECK_EQ_STR(ia.gateway, "10.99.0.1");
    CHECK_EQ_INT(ia.prefix, 24);
    CHECK_EQ_INT(tcp_between(a.netns, b.netns, ia.ip), 0);
    CHECK_EQ_INT(tcp_between(b.netns, a.netns, ib.ip), 0);
    /* the node reaches the pod through the bridge too */
    CHECK_EQ_INT(tcp_between(a.netns, "/proc/self/ns/net", ia.ip), 0);

    _cleanup_free_ char *rules = command_output("iptables -S FORWARD; iptables -t nat -S");
    CHECK(strstr(rules, "-i k3t0 -m comment --comment \"k3d-dind-net:k3t0\" -j ACCEPT"));
    CHECK(strstr(rules, "-o k3t0 -m comment --comment \"k3d-dind-net:k3t0\" -j ACCEPT"));
    CHECK(strstr(rules, "-s 10.99.0.0/24 ! -o k3t0 -m comment --comment \"k3d-dind-net:k3t0\" "
                        "-j MASQUERADE"));
    _cleanup_free_ char *fwd = NULL;
    CHECK_EQ_INT(dd_read_file("/proc/sys/net/ipv4/ip_forward", 0, &fwd, NULL, &e), 0);
    CHECK(fwd[0] == '1');

    /* a second setup adds no duplicate rule */
    CHECK_EQ_INT(net_bridge_setup(&cfg, &e), 0);
    _cleanup_free_ char *again = command_output("iptables -S FORWARD | grep -c k3d-dind-net");
    CHECK_EQ_STR(again, "2\n");

    /* detach removes the veth (and eth0 with it) and frees the address */
    _cleanup_net_nl_ net_nl *nl = NULL;
    CHECK_EQ_INT(net_nl_open(-1, &nl, &e), 0);
    CHECK(net_link_index(nl, ia.host_veth, &e) > 0);
    CHECK_EQ_INT(net_pod_detach(&cfg, "default/a", &e), 0);
    CHECK_EQ_INT(net_link_index(nl, ia.host_veth, &e), -ENODEV);
    CHECK_EQ_INT(net_pod_detach(&cfg, "default/a", &e), 0);
    struct net_ipam ipam;
    uint32_t ip;
    CHECK_EQ_INT(net_ipam_init(&ipam, state, cfg.cidr, &e), 0);
    CHECK_EQ_INT(net_ipam_lookup(&ipam, "default/a", &ip, &e), 0);
    CHECK_EQ_INT(net_ipam_lookup(&ipam, "default/b", &ip, &e), 1);
    net_ipam_done(&ipam);
    _cleanup_net_nl_ net_nl *nla = NULL;
    int nsfd = open(a.netns, O_RDONLY | O_CLOEXEC);
    CHECK(nsfd >= 0);
    CHECK_EQ_INT(net_nl_open(nsfd, &nla, &e), 0);
    close(nsfd);
    CHECK_EQ_INT(net_link_index(nla, "eth0", &e), -ENODEV);

    /* cleanup removes exactly ours: a foreign rule stays */
    CHECK(system("iptables -w -A FORWARD -i k3t0 -m comment --comment other -j ACCEPT") == 0);
    CHECK_EQ_INT(net_cleanup_all(&e), 3);
    CHECK_EQ_INT(net_cleanup_all(&e), 0);
    _cleanup_free_ char *after = command_output("iptables -S; iptables -t nat -S");
    CHECK(strstr(after, "k3d-dind-net") == NULL);
    CHECK(strstr(after, "--comment other") != NULL);
    CHECK_EQ_INT(net_bridge_teardown(&cfg, &e), 0);
    CHECK_EQ_INT(net_link_index(nl, "k3t0", &e), -ENODEV);
    pod_stop(&a);
    pod_stop(&b);
}

TEST(pod_attach_two_pods_talk_detach_cleanup)
{
    net_isolated(two_pods_body);
}

static void reattach_body(const char *dir)
{
    char state[256];
    struct net_bridge_cfg cfg = cfg_in(dir, state);
    struct pod a, a2;
    struct net_pod_ip i1, i2;
    dd_err e;
    pod_start(&a);
    pod_start(&a2);
    CHECK_EQ_INT(net_pod_attach(&cfg, a.netns, "uid-1", &i1, &e), 0);
    /* the same owner again (a restarted kubelet recreating the sandbox) keeps its address and
     * replaces the stale veth */
    CHECK_EQ_INT(net_pod_attach(&cfg, a2.netns, "uid-1", &i2, &e), 0);
    CHECK_EQ_STR(i1.ip, i2.ip);
    CHECK_EQ_STR(i1.host_veth, i2.host_veth);
    CHECK_EQ_INT(tcp_between(a2.netns, "/proc/self/ns/net", i2.ip), 0);
    pod_stop(&a);
    pod_stop(&a2);
}

TEST(pod_reattach_same_owner_keeps_ip)
{
    net_isolated(reattach_body);
}

/* attach skips the iptables check for a bridge it set up moments ago, but a teardown in between
 * must not leave the next attach without bridge or rules */
static void heal_body(const char *dir)
{
    char state[256];
    struct net_bridge_cfg cfg = cfg_in(dir, state);
    struct pod a, b;
    struct net_pod_ip ia, ib;
    dd_err e;
    pod_start(&a);
    pod_start(&b);
    CHECK_EQ_INT(net_pod_attach(&cfg, a.netns, "uid-a", &ia, &e), 0);
    CHECK_EQ_INT(net_pod_detach(&cfg, "uid-a", &e), 0);
    CHECK_EQ_INT(net_bridge_teardown(&cfg, &e), 0);
    _cleanup_free_ char *gone = command_output("iptables -S FORWARD | grep -c k3d-dind-net");
    CHECK_EQ_STR(gone, "0\n");
    CHECK_EQ_INT(net_pod_attach(&cfg, b.netns, "uid-b", &ib, &e), 0);
    _cleanup_free_ char *back = command_output("iptables -S FORWARD | grep -c k3d-dind-net");
    CHECK_EQ_STR(back, "2\n");
    CHECK_EQ_INT(tcp_between(b.netns, "/proc/self/ns/net", ib.ip), 0);
    pod_stop(&a);
    pod_stop(&b);
}

TEST(pod_attach_after_teardown_restores_bridge_and_rules)
{
    net_isolated(heal_body);
}

static void failure_body(const char *dir)
{
    char state[256];
    struct net_bridge_cfg cfg = cfg_in(dir, state);
    struct net_pod_ip ip;
    dd_err e;
    char veth[16];
    CHECK_EQ_INT(net_pod_attach(&cfg, "/nonexistent/netns", "uid-x", &ip, &e), -ENOENT);
    CHECK(strstr(e.msg, "attaching pod 'uid-x' to k3t0: opening netns /nonexistent/netns") ==
          e.msg);
    struct net_ipam ipam;
    uint32_t got;
    CHECK_EQ_INT(net_ipam_init(&ipam, state, cfg.cidr, &e), 0);
    CHECK_EQ_INT(net_ipam_lookup(&ipam, "uid-x", &got, &e), 0);
    net_ipam_done(&ipam);
    _cleanup_net_nl_ net_nl *nl = NULL;
    CHECK_EQ_INT(net_nl_open(-1, &nl, &e), 0);
    net_pod_veth_name("uid-x", veth);
    CHECK_EQ_INT(net_link_index(nl, veth, &e), -ENODEV);

    /* bad configuration changes nothing */
    struct net_bridge_cfg bad = cfg;
    bad.cidr = "10.99.0.0/33";
    CHECK_EQ_INT(net_bridge_setup(&bad, &e), -EINVAL);
    bad.cidr = cfg.cidr;
    bad.bridge = "a-name-far-too-long";
    CHECK_EQ_INT(net_bridge_setup(&bad, &e), -EINVAL);

    /* a link of the bridge's name that is no bridge */
    CHECK_EQ_INT(net_veth_create(nl, "k3t9", "k3t9p", -1, 0, &e), 0);
    CHECK_EQ_INT(net_bridge_create(nl, "k3t9", 0, &e), -EEXIST);
    CHECK(strstr(e.msg, "a veth link of that name exists") != NULL);
    CHECK_EQ_INT(net_link_delete(nl, "k3t9", &e), 1);
    CHECK_EQ_INT(net_link_index(nl, "k3t9p", &e), -ENODEV);
    CHECK_EQ_INT(net_link_delete(nl, "k3t9", &e), 0);
    net_cleanup_all(NULL);
}

TEST(pod_attach_failures_leave_nothing)
{
    net_isolated(failure_body);
}

/* A /32 like the cluster DNS address: added once (twice is fine), removed, removed again is a
 * no-op, and removal from a link that is gone succeeds. */
static void addr_del_body(const char *dir)
{
    _cleanup_net_nl_ net_nl *nl = NULL;
    dd_err e = {0};
    CHECK_EQ_INT(net_nl_open(-1, &nl, &e), 0);
    CHECK_EQ_INT(net_bridge_create(nl, "k3ct", 0, &e), 0);
    CHECK_EQ_INT(net_addr_add(nl, "k3ct", 0x0a2b000a, 32, &e), 0);
    CHECK_EQ_INT(net_addr_add(nl, "k3ct", 0x0a2b000a, 32, &e), 0);
    CHECK(system("ip -4 addr show dev k3ct | grep -q 'inet 10.43.0.10/32'") == 0);
    CHECK_EQ_INT(net_addr_del(nl, "k3ct", 0x0a2b000a, 32, &e), 1);
    CHECK(system("ip -4 addr show dev k3ct | grep -q 10.43.0.10") != 0);
    CHECK_EQ_INT(net_addr_del(nl, "k3ct", 0x0a2b000a, 32, &e), 0);
    CHECK_EQ_INT(net_link_delete(nl, "k3ct", &e), 1);
    CHECK_EQ_INT(net_addr_del(nl, "k3ct", 0x0a2b000a, 32, &e), 0);
}

TEST(addr_add_del)
{
    net_isolated(addr_del_body);
}
