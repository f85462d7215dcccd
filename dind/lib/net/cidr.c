/* net/cidr: strict parsing and formatting of IPv4 addresses and CIDRs. These strings come from
 * users (flags, config files, API objects), so the parser accepts exactly the dotted-quad form
 * ("10.42.0.0/24") and names the offending input on error; it does no DNS and no IPv6. */
#include <stdio.h>

#include "dind/net.h"

/* Parses one decimal octet at *p (0..255, no leading zeros but "0"), advancing *p. */
static int parse_octet(const char **p, unsigned *ret)
{
    const char *s = *p;
    unsigned v = 0;
    int n = 0;
    while (s[n] >= '0' && s[n] <= '9') {
        if (n == 3)
            return -EINVAL;
        v = v * 10 + (unsigned)(s[n] - '0');
        n++;
    }
    if (n == 0 || v > 255 || (n > 1 && s[0] == '0'))
        return -EINVAL;
    *p = s + n;
    *ret = v;
    return 0;
}

/* Parses a dotted quad ending at *p's first char that is not part of it. */
static int parse_quad(const char **p, uint32_t *ret)
{
    uint32_t ip = 0;
    for (int i = 0; i < 4; i++) {
        unsigned o;
        if (i > 0) {
            if (**p != '.')
                return -EINVAL;
            (*p)++;
        }
        if (parse_octet(p, &o) < 0)
            return -EINVAL;
        ip = (ip << 8) | o;
    }
    *ret = ip;
    return 0;
}

int net_ip_parse(const char *s, uint32_t *ret_ip, dd_err *e)
{
    const char *p = s;
    uint32_t ip;
    if (!s || parse_quad(&p, &ip) < 0 || *p != '\0')
        return dd_err_set(e, EINVAL, "invalid IPv4 address '%s'", s ? s : "(null)");
    *ret_ip = ip;
    return 0;
}

int net_cidr_parse(const char *s, bool allow_bare, struct net_cidr *ret, dd_err *e)
{
    const char *p = s;
    uint32_t ip;
    unsigned prefix = 32;
    if (!s || parse_quad(&p, &ip) < 0)
        goto bad;
    if (*p == '/') {
        p++;
        if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] != '\0'))
            goto bad;
        prefix = 0;
        for (int n = 0; *p >= '0' && *p <= '9'; p++, n++) {
            if (n == 2)
                goto bad;
            prefix = prefix * 10 + (unsigned)(*p - '0');
        }
        if (prefix > 32)
            goto bad;
    } else if (!allow_bare) {
        goto bad;
    }
    if (*p != '\0')
        goto bad;
    ret->addr = ip;
    ret->prefix = (int)prefix;
    return 0;
bad:
    return dd_err_set(e, EINVAL, "invalid IPv4 CIDR '%s' (want a.b.c.d/n)", s ? s : "(null)");
}

char *net_ip_format(uint32_t ip, char *out)
{
    snprintf(out, NET_IP_STRLEN, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255,
             ip & 255);
    return out;
}
