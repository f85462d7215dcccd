/* Unit tests of the strict IPv4 / CIDR parser and formatter. */
#include "dind/net.h"
#include "tests/unit/unit.h"

TEST(cidr_parse_valid)
{
    struct net_cidr c;
    dd_err e;
    char s[NET_IP_STRLEN];
    CHECK_EQ_INT(net_cidr_parse("10.42.0.0/24", false, &c, &e), 0);
    CHECK_EQ_INT(c.addr, 0x0a2a0000);
    CHECK_EQ_INT(c.prefix, 24);
    CHECK_EQ_INT(net_cidr_parse("10.42.3.7/16", false, &c, &e), 0);
    CHECK_EQ_INT(net_cidr_network(&c), 0x0a2a0000);
    CHECK(net_cidr_contains(&c, 0x0a2affff));
    CHECK(!net_cidr_contains(&c, 0x0a2b0000));
    CHECK_EQ_INT(net_cidr_parse("0.0.0.0/0", false, &c, &e), 0);
    CHECK_EQ_INT(net_cidr_mask(0), 0);
    CHECK_EQ_INT(net_cidr_parse("255.255.255.255", true, &c, &e), 0);
    CHECK_EQ_INT(c.prefix, 32);
    CHECK_EQ_STR(net_ip_format(c.addr, s), "255.255.255.255");
    uint32_t ip;
    CHECK_EQ_INT(net_ip_parse("192.168.1.10", &ip, &e), 0);
    CHECK_EQ_STR(net_ip_format(ip, s), "192.168.1.10");
}

TEST(cidr_parse_rejects)
{
    static const char *const bad[] = {
        "",
        "10.42.0.0",
        "10.42.0/24",
        "10.42.0.0/33",
        "10.42.0.256/24",
        "010.1.1.1/8",
        "10.42.0.0/024",
        "10.42.0.0/",
        "10.42.0.0/24 ",
        "1.2.3.4.5/8",
        "a.b.c.d/8",
        "10.42.0.0/-1",
        "10..0.0/8",
        "10.42.0.0/2x",
        " 10.42.0.0/24",
    };
    for (size_t i = 0; i < DD_ARRAY_SIZE(bad); i++) {
        struct net_cidr c;
        dd_err e;
        dd_err_clear(&e);
        CHECK_EQ_INT(net_cidr_parse(bad[i], false, &c, &e), -EINVAL);
        CHECK(strstr(e.msg, "invalid IPv4 CIDR") != NULL);
    }
    uint32_t ip;
    dd_err e;
    CHECK_EQ_INT(net_ip_parse("1.2.3", &ip, &e), -EINVAL);
    CHECK_EQ_INT(net_ip_parse("1.2.3.4/8", &ip, &e), -EINVAL);
    CHECK_EQ_INT(net_ip_parse(NULL, &ip, &e), -EINVAL);
}
