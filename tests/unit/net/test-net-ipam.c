/* Unit tests of IPAM: distinct addresses, stable per owner, persistent across re-opening,
 * exhaustion, release and reconciliation with the live owners. */
#include <sys/stat.h>

#include "helpers.h"

static void ipam_body(const char *dir)
{
    struct net_ipam a, b;
    dd_err e;
    uint32_t ip1, ip2, ip3, again;
    char s[NET_IP_STRLEN];
    CHECK_EQ_INT(net_ipam_init(&a, dir, "10.42.0.0/24", &e), 0);
    CHECK_EQ_INT(a.gateway, 0x0a2a0001);
    CHECK_EQ_INT(net_ipam_alloc(&a, "pod-1", &ip1, &e), 0);
    CHECK_EQ_INT(net_ipam_alloc(&a, "pod-2", &ip2, &e), 0);
    CHECK_EQ_STR(net_ip_format(ip1, s), "10.42.0.2");
    CHECK_EQ_STR(net_ip_format(ip2, s), "10.42.0.3");
    CHECK_EQ_INT(net_ipam_alloc(&a, "pod-1", &again, &e), 0);
    CHECK_EQ_INT(again, ip1);

    /* a second allocator on the same directory (a restarted daemon) sees the same state */
    CHECK_EQ_INT(net_ipam_init(&b, dir, "10.42.0.0/24", &e), 0);
    CHECK_EQ_INT(net_ipam_lookup(&b, "pod-2", &again, &e), 1);
    CHECK_EQ_INT(again, ip2);
    CHECK_EQ_INT(net_ipam_alloc(&b, "pod-3", &ip3, &e), 0);
    CHECK(ip3 != ip1 && ip3 != ip2);

    /* release frees the address for the next owner */
    CHECK_EQ_INT(net_ipam_release(&a, "pod-1", &e), 1);
    CHECK_EQ_INT(net_ipam_release(&a, "pod-1", &e), 0);
    CHECK_EQ_INT(net_ipam_lookup(&a, "pod-1", &again, &e), 0);
    CHECK_EQ_INT(net_ipam_alloc(&a, "pod-4", &again, &e), 0);
    CHECK_EQ_INT(again, ip1);

    /* reconcile keeps only live owners */
    char p3[] = "pod-3";
    char *live[] = {p3, NULL};
    CHECK_EQ_INT(net_ipam_reconcile(&a, live, &e), 2);
    CHECK_EQ_INT(net_ipam_lookup(&a, "pod-2", &again, &e), 0);
    CHECK_EQ_INT(net_ipam_lookup(&a, "pod-3", &again, &e), 1);
    CHECK_EQ_INT(net_ipam_reconcile(&a, NULL, &e), 1);
    CHECK_EQ_INT(net_ipam_lookup(&a, "pod-3", &again, &e), 0);

    CHECK_EQ_INT(net_ipam_alloc(&a, "bad\nowner", &again, &e), -EINVAL);
    CHECK_EQ_INT(net_ipam_alloc(&a, "", &again, &e), -EINVAL);
    net_ipam_done(&a);
    net_ipam_done(&b);
}

TEST(ipam_alloc_persist_release_reconcile)
{
    net_isolated(ipam_body);
}

static void exhaust_body(const char *dir)
{
    struct net_ipam a;
    dd_err e;
    uint32_t ip;
    char sub[256];
    snprintf(sub, sizeof(sub), "%s/small", dir);
    CHECK_EQ_INT(net_ipam_init(&a, sub, "192.168.7.0/29", &e), 0);
    /* .0 network, .1 gateway, .7 broadcast: .2 .. .6 are handed out */
    for (int i = 0; i < 5; i++) {
        char owner[16];
        snprintf(owner, sizeof(owner), "o%d", i);
        CHECK_EQ_INT(net_ipam_alloc(&a, owner, &ip, &e), 0);
        CHECK_EQ_INT(ip, 0xc0a80702 + (uint32_t)i);
    }
    CHECK_EQ_INT(net_ipam_alloc(&a, "one-too-many", &ip, &e), -ENOSPC);
    CHECK(strstr(e.msg, "no free address in 192.168.7.0/29") != NULL);
    net_ipam_done(&a);
    CHECK_EQ_INT(net_ipam_init(&a, sub, "10.0.0.0/31", &e), -EINVAL);
    CHECK_EQ_INT(net_ipam_init(&a, sub, "nonsense", &e), -EINVAL);
}

TEST(ipam_exhaustion_and_bad_cidr)
{
    net_isolated(exhaust_body);
}
