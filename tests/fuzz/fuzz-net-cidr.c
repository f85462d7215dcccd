/* libFuzzer harness for the IPv4 address and CIDR parsers (net_ip_parse, net_cidr_parse): any
 * input must parse or fail cleanly with an error message, and a parsed value formatted back
 * ("a.b.c.d/n") must parse to the same address and prefix. */
#include <stdint.h>
#include <stdio.h>

#include "dind/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void roundtrip(const struct net_cidr *c)
{
    char ip[NET_IP_STRLEN], s[NET_IP_STRLEN + 4];
    snprintf(s, sizeof(s), "%s/%d", net_ip_format(c->addr, ip), c->prefix);
    struct net_cidr again;
    if (net_cidr_parse(s, false, &again, NULL) != 0 || again.addr != c->addr ||
        again.prefix != c->prefix || c->prefix < 0 || c->prefix > 32)
        __builtin_trap();
    if (!net_cidr_contains(c, c->addr))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = dd_strndup((const char *)data, size);
    struct net_cidr c;
    dd_err e = {0};
    for (int bare = 0; bare < 2; bare++) {
        if (net_cidr_parse(s, bare, &c, &e) == 0)
            roundtrip(&c);
        else if (e.code != EINVAL || !e.msg[0])
            __builtin_trap();
    }
    uint32_t ip;
    char out[NET_IP_STRLEN];
    if (net_ip_parse(s, &ip, NULL) == 0 && strcmp(net_ip_format(ip, out), s) != 0)
        __builtin_trap();
    free(s);
    return 0;
}
