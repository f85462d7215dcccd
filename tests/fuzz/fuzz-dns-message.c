/* libFuzzer harness for the DNS message parser and the reply encoder (net_dns_parse,
 * net_dns_name_read, net_dns_encode): any input must parse or fail cleanly with a message; a
 * parsed query answered with records that reuse its name (compression) must encode within the
 * size limit and parse back with the same id and question. */
#include <stdint.h>
#include <stdio.h>

#include "dind/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void answer(const struct net_dns_msg *q, size_t max)
{
    struct net_dns_reply r;
    net_dns_reply_init(&r);
    char sub[NET_DNS_TEXT_MAX + 8];
    snprintf(sub, sizeof(sub), "x.%s", q->qname);
    if (strlen(q->qname) > 200)
        snprintf(sub, sizeof(sub), "x.example");
    net_dns_reply_add_a(&r, NET_DNS_ANSWER, q->qname, 5, 0x0a2b0001);
    net_dns_reply_add_name(&r, NET_DNS_ANSWER, NET_DNS_CNAME, q->qname, 5, sub);
    net_dns_reply_add_srv(&r, NET_DNS_ANSWER, q->qname, 5, 0, 100, 53, sub);
    net_dns_reply_add_txt(&r, NET_DNS_ANSWER, q->qname, 5, q->qname);
    const uint32_t soa[5] = {1, 2, 3, 4, 5};
    net_dns_reply_add_soa(&r, NET_DNS_AUTHORITY, "cluster.local", 5, q->qname, sub, soa);
    for (int i = 0; i < 40; i++)
        net_dns_reply_add_a(&r, NET_DNS_ADDITIONAL, sub, 5, (uint32_t)i);
    dd_buf out = DD_BUF_INIT;
    dd_err e = {0};
    if (net_dns_encode(q, &r, max, &out, &e) < 0)
        __builtin_trap(); /* a parsed name always encodes */
    if (out.len > (max < NET_DNS_UDP_MIN ? NET_DNS_UDP_MIN : max))
        __builtin_trap();
    struct net_dns_msg back;
    if (net_dns_parse((const uint8_t *)out.data, out.len, &back, &e) < 0)
        __builtin_trap();
    if (back.id != q->id || !back.has_question || back.qtype != q->qtype ||
        strcmp(back.qname, q->qname) != 0 || !(back.flags & NET_DNS_F_QR) ||
        back.has_opt != q->has_opt)
        __builtin_trap();
    dd_buf_release(&out);
    net_dns_reply_release(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct net_dns_msg m;
    dd_err e = {0};
    if (net_dns_parse(data, size, &m, &e) < 0) {
        if (e.code != EBADMSG || !e.msg[0])
            __builtin_trap();
    } else if (m.has_question) {
        answer(&m, 512);
        answer(&m, 1232);
        answer(&m, 65535);
    }
    /* names at every offset of the input read or fail, never overrun */
    for (size_t off = 0; off < size && off < 64; off++) {
        size_t p = off;
        char name[NET_DNS_TEXT_MAX];
        if (net_dns_name_read(data, size, &p, name, NULL) == 0 && (p <= off || p > size))
            __builtin_trap();
    }
    return 0;
}
