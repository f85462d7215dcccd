/* Unit tests of the DNS wire format (parse, encode with compression and truncation, EDNS0) and
 * of the server on a loop: UDP and TCP answers, forwarding to an upstream, SERVFAIL when the
 * upstream is silent, FORMERR for garbage. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dind/dns.h"
#include "tests/unit/unit.h"

/* A query for name/type, with an OPT record advertising udp_size when it is not 0. */
static size_t make_query(uint8_t *buf, uint16_t id, const char *name, uint16_t type,
                         uint16_t udp_size)
{
    size_t n = 0;
    uint8_t hdr[12] = {(uint8_t)(id >> 8), (uint8_t)id, 0x01, 0, 0, 1, 0, 0, 0, 0, 0,
                       udp_size ? 1 : 0};
    memcpy(buf, hdr, 12);
    n = 12;
    for (const char *p = name; *p;) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        buf[n++] = (uint8_t)l;
        memcpy(buf + n, p, l);
        n += l;
        p += l + (dot ? 1 : 0);
    }
    buf[n++] = 0;
    buf[n++] = (uint8_t)(type >> 8), buf[n++] = (uint8_t)type;
    buf[n++] = 0, buf[n++] = 1;
    if (udp_size) {
        uint8_t opt[11] = {0, 0, 41, (uint8_t)(udp_size >> 8), (uint8_t)udp_size, 0, 0, 0, 0, 0, 0};
        memcpy(buf + n, opt, sizeof(opt));
        n += sizeof(opt);
    }
    return n;
}

static uint16_t u16(const void *p)
{
    const uint8_t *b = p;
    return (uint16_t)(b[0] << 8 | b[1]);
}

TEST(dns_parse_query)
{
    uint8_t q[512];
    size_t n = make_query(q, 0x1234, "Kubernetes.default.svc.cluster.local", NET_DNS_A, 4096);
    struct net_dns_msg m;
    dd_err e;
    CHECK_EQ_INT(net_dns_parse(q, n, &m, &e), 0);
    CHECK_EQ_INT(m.id, 0x1234);
    CHECK_EQ_STR(m.qname, "Kubernetes.default.svc.cluster.local");
    CHECK_EQ_INT(m.qtype, NET_DNS_A);
    CHECK_EQ_INT(m.qclass, 1);
    CHECK(m.has_opt);
    CHECK_EQ_INT(m.udp_size, 4096);
    CHECK(net_dns_name_eq(m.qname, "kubernetes.DEFAULT.svc.cluster.local."));
    CHECK(!net_dns_name_eq(m.qname, "kubernetes.default"));
}

TEST(dns_parse_rejects)
{
    struct net_dns_msg m;
    dd_err e;
    uint8_t q[512];
    size_t n = make_query(q, 1, "a.b", NET_DNS_A, 0);
    CHECK_EQ_INT(net_dns_parse(q, 11, &m, &e), -EBADMSG);
    for (size_t cut = 12; cut < n; cut++)
        CHECK_EQ_INT(net_dns_parse(q, cut, &m, &e), -EBADMSG);
    q[n] = 0;
    CHECK_EQ_INT(net_dns_parse(q, n + 1, &m, &e), -EBADMSG); /* trailing byte */
    CHECK(strstr(e.msg, "after the last record") != NULL);
    /* a pointer to itself, and a pointer forward */
    uint8_t loop[] = {0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1};
    CHECK_EQ_INT(net_dns_parse(loop, sizeof(loop), &m, &e), -EBADMSG);
    uint8_t fwd[] = {0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 14, 0, 0, 1, 0, 1};
    CHECK_EQ_INT(net_dns_parse(fwd, sizeof(fwd), &m, &e), -EBADMSG);
    uint8_t ext[] = {0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x41, 'a', 0, 0, 1, 0, 1};
    CHECK_EQ_INT(net_dns_parse(ext, sizeof(ext), &m, &e), -EBADMSG);
    /* a name longer than 255 bytes */
    uint8_t big[400] = {0, 1, 1, 0, 0, 1};
    size_t b = 12;
    for (int i = 0; i < 5; i++) {
        big[b++] = 60;
        memset(big + b, 'x', 60);
        b += 60;
    }
    big[b++] = 0;
    big[b++] = 0, big[b++] = 1, big[b++] = 0, big[b++] = 1;
    CHECK_EQ_INT(net_dns_parse(big, b, &m, &e), -EBADMSG);
    /* OPT in the answer section */
    uint8_t optan[] = {0, 1, 0x81, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 41, 2, 0, 0, 0, 0, 0, 0, 0};
    CHECK_EQ_INT(net_dns_parse(optan, sizeof(optan), &m, &e), -EBADMSG);
    /* an A record with 3 bytes of data */
    uint8_t a3[] = {0, 1, 0x81, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0,
                    0, 1, 0,    1, 0, 0, 0, 5, 0, 3, 1, 2, 3};
    CHECK_EQ_INT(net_dns_parse(a3, sizeof(a3), &m, &e), -EBADMSG);
}

TEST(dns_encode_compresses)
{
    uint8_t q[512];
    size_t n = make_query(q, 7, "web.default.svc.cluster.local", NET_DNS_SRV, 0);
    struct net_dns_msg m;
    CHECK_EQ_INT(net_dns_parse(q, n, &m, NULL), 0);
    struct net_dns_reply r;
    net_dns_reply_init(&r);
    r.authoritative = true;
    net_dns_reply_add_srv(&r, NET_DNS_ANSWER, m.qname, 5, 0, 100, 80,
                          "web-0.web.default.svc.cluster.local");
    net_dns_reply_add_a(&r, NET_DNS_ADDITIONAL, "web-0.web.default.svc.cluster.local", 5,
                        0x0a2a0005);
    net_dns_reply_add_name(&r, NET_DNS_ANSWER, NET_DNS_CNAME, "x.default.svc.cluster.local", 5,
                           "example.com");
    net_dns_reply_add_txt(&r, NET_DNS_ADDITIONAL, "dns-version.cluster.local", 5, "1.1.0");
    CHECK(net_dns_reply_has(&r, NET_DNS_ANSWER, "WEB.default.svc.cluster.local", NET_DNS_SRV));
    dd_buf out = DD_BUF_INIT;
    dd_err e;
    CHECK_EQ_INT(net_dns_encode(&m, &r, 512, &out, &e), 0);
    struct net_dns_msg a;
    CHECK_EQ_INT(net_dns_parse((uint8_t *)out.data, out.len, &a, &e), 0);
    CHECK_EQ_INT(a.id, 7);
    CHECK(a.flags & NET_DNS_F_QR);
    CHECK(a.flags & NET_DNS_F_AA);
    CHECK(a.flags & NET_DNS_F_RD);
    CHECK(!(a.flags & NET_DNS_F_TC));
    CHECK_EQ_INT(a.ancount, 2);
    CHECK_EQ_INT(a.arcount, 2);
    CHECK(memcmp(out.data + out.len - 6, "\0051.1.0", 6) == 0);
    /* every repeated suffix is a pointer: the reply is far smaller than the names spelled out */
    CHECK(out.len < 12 + 35 + 4 + 150 + 30);
    /* the SRV target reads back through its pointers */
    size_t off = 12 + 31 + 4; /* header, question name, type/class */
    char name[NET_DNS_TEXT_MAX];
    CHECK_EQ_INT(net_dns_name_read((uint8_t *)out.data, out.len, &off, name, &e), 0);
    CHECK_EQ_STR(name, "web.default.svc.cluster.local");
    off += 10 + 6;
    CHECK_EQ_INT(net_dns_name_read((uint8_t *)out.data, out.len, &off, name, &e), 0);
    CHECK_EQ_STR(name, "web-0.web.default.svc.cluster.local");
    dd_buf_release(&out);
    net_dns_reply_release(&r);
}

TEST(dns_encode_truncates)
{
    uint8_t q[512];
    size_t n = make_query(q, 9, "many.test", NET_DNS_A, 0);
    struct net_dns_msg m;
    CHECK_EQ_INT(net_dns_parse(q, n, &m, NULL), 0);
    struct net_dns_reply r;
    net_dns_reply_init(&r);
    for (uint32_t i = 0; i < 100; i++)
        net_dns_reply_add_a(&r, NET_DNS_ANSWER, "many.test", 5, 0x0a000000 + i);
    dd_buf out = DD_BUF_INIT;
    CHECK_EQ_INT(net_dns_encode(&m, &r, 512, &out, NULL), 0);
    CHECK(out.len <= 512);
    struct net_dns_msg a;
    CHECK_EQ_INT(net_dns_parse((uint8_t *)out.data, out.len, &a, NULL), 0);
    CHECK(a.flags & NET_DNS_F_TC);
    CHECK(a.ancount > 20 && a.ancount < 100);
    /* TCP's limit takes them all */
    dd_buf_reset(&out);
    CHECK_EQ_INT(net_dns_encode(&m, &r, 65535, &out, NULL), 0);
    CHECK_EQ_INT(net_dns_parse((uint8_t *)out.data, out.len, &a, NULL), 0);
    CHECK(!(a.flags & NET_DNS_F_TC));
    CHECK_EQ_INT(a.ancount, 100);
    /* EDNS0: the OPT is echoed and counted, and the larger size holds more */
    n = make_query(q, 9, "many.test", NET_DNS_A, 1232);
    CHECK_EQ_INT(net_dns_parse(q, n, &m, NULL), 0);
    dd_buf_reset(&out);
    CHECK_EQ_INT(net_dns_encode(&m, &r, 1232, &out, NULL), 0);
    CHECK(out.len <= 1232);
    CHECK_EQ_INT(net_dns_parse((uint8_t *)out.data, out.len, &a, NULL), 0);
    CHECK(a.has_opt);
    CHECK_EQ_INT(a.udp_size, NET_DNS_UDP_MAX);
    CHECK(a.ancount > 60 && a.ancount < 100);
    dd_buf_release(&out);
    net_dns_reply_release(&r);
}

TEST(dns_resolv_nameservers)
{
    uint32_t ns[3];
    size_t n = net_dns_resolv_nameservers("# c\nsearch x\nnameserver 10.0.0.2\n"
                                          "nameserver ::1\nnameserver 10.43.0.10\n"
                                          "nameserver  8.8.8.8 \nnameserver 1.1.1.1\n"
                                          "nameserver 9.9.9.9\n",
                                          0x0a2b000a, ns, 3);
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(ns[0], 0x0a000002);
    CHECK_EQ_INT(ns[1], 0x08080808);
    CHECK_EQ_INT(ns[2], 0x01010101);
}

/* ---- the server ---- */

static enum net_dns_verdict lookup(void *ud, const struct net_dns_msg *q, struct net_dns_reply *r)
{
    const char *zone = ud;
    if (!dd_endswith(q->qname, zone))
        return NET_DNS_FORWARD;
    r->authoritative = true;
    if (strncmp(q->qname, "many.", 5) == 0) {
        for (uint32_t i = 0; i < 100; i++)
            net_dns_reply_add_a(r, NET_DNS_ANSWER, q->qname, 5, 0x0a000000 + i);
    } else if (strncmp(q->qname, "host.", 5) == 0 && q->qtype == NET_DNS_A) {
        net_dns_reply_add_a(r, NET_DNS_ANSWER, q->qname, 5, 0x0a2a0007);
    } else if (strncmp(q->qname, "host.", 5) != 0) {
        r->rcode = NET_DNS_NXDOMAIN;
    }
    return NET_DNS_REPLY;
}

static int udp_client(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    return fd;
}

static struct sockaddr_in loopback(uint16_t port)
{
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    return a;
}

/* Runs the loop until fd has a datagram (or stream bytes) or ~3 s passed. */
static ssize_t recv_on_loop(ev_loop *loop, int fd, uint8_t *buf, size_t cap)
{
    for (int i = 0; i < 300; i++) {
        ssize_t n = recv(fd, buf, cap, MSG_DONTWAIT);
        if (n > 0)
            return n;
        ev_run_once(loop, 10);
    }
    return -1;
}

static void ask_udp(ev_loop *loop, uint16_t port, const char *name, uint16_t type,
                    struct net_dns_msg *ret)
{
    int fd = udp_client();
    struct sockaddr_in to = loopback(port);
    uint8_t q[512], buf[4096];
    size_t n = make_query(q, 0x4242, name, type, 0);
    CHECK(sendto(fd, q, n, 0, (struct sockaddr *)&to, sizeof(to)) == (ssize_t)n);
    ssize_t got = recv_on_loop(loop, fd, buf, sizeof(buf));
    CHECK(got > 0);
    CHECK(got <= 512);
    CHECK_EQ_INT(net_dns_parse(buf, (size_t)got, ret, NULL), 0);
    CHECK_EQ_INT(ret->id, 0x4242);
    CHECK_EQ_STR(ret->qname, name);
    close(fd);
}

static bool two_frames(const uint8_t *b, size_t have)
{
    if (have < 2 || have < 2 + (size_t)u16(b) + 2)
        return false;
    size_t l1 = u16(b);
    return have >= 4 + l1 + u16(b + 2 + l1);
}

TEST(dns_server_udp_tcp_forward)
{
    dd_err e;
    ev_loop *loop = ev_loop_new(&e);
    CHECK(loop);
    /* the upstream owns "up.test"; the server under test owns "local.test" and forwards */
    net_dns_server *up, *s, *dead_s;
    struct net_dns_server_cfg ucfg = {
        .addr = INADDR_LOOPBACK, .lookup = lookup, .ud = (char *)".up.test"};
    CHECK_EQ_INT(net_dns_server_start(loop, &ucfg, &up, &e), 0);
    uint32_t ups[1] = {INADDR_LOOPBACK};
    struct net_dns_server_cfg cfg = {.addr = INADDR_LOOPBACK,
                                     .upstreams = ups,
                                     .n_upstreams = 1,
                                     .upstream_port = net_dns_server_port(up),
                                     .lookup = lookup,
                                     .ud = (char *)".local.test"};
    CHECK_EQ_INT(net_dns_server_start(loop, &cfg, &s, &e), 0);
    uint16_t port = net_dns_server_port(s);

    struct net_dns_msg a;
    ask_udp(loop, port, "host.local.test", NET_DNS_A, &a);
    CHECK_EQ_INT(NET_DNS_F_RCODE(a.flags), 0);
    CHECK_EQ_INT(a.ancount, 1);
    CHECK(a.flags & NET_DNS_F_AA);
    ask_udp(loop, port, "host.local.test", NET_DNS_AAAA, &a); /* NODATA */
    CHECK_EQ_INT(NET_DNS_F_RCODE(a.flags), 0);
    CHECK_EQ_INT(a.ancount, 0);
    ask_udp(loop, port, "nope.local.test", NET_DNS_A, &a);
    CHECK_EQ_INT(NET_DNS_F_RCODE(a.flags), NET_DNS_NXDOMAIN);
    ask_udp(loop, port, "many.local.test", NET_DNS_A, &a);
    CHECK(a.flags & NET_DNS_F_TC);
    /* forwarded: the upstream's answer, with our client's id */
    ask_udp(loop, port, "host.up.test", NET_DNS_A, &a);
    CHECK_EQ_INT(NET_DNS_F_RCODE(a.flags), 0);
    CHECK_EQ_INT(a.ancount, 1);
    ask_udp(loop, port, "nope.up.test", NET_DNS_A, &a);
    CHECK_EQ_INT(NET_DNS_F_RCODE(a.flags), NET_DNS_NXDOMAIN);
    /* a name the upstream forwards too, and it has no upstream: SERVFAIL */
    ask_udp(loop, port, "example.org", NET_DNS_A, &a);
    CHECK_EQ_INT(NET_DNS_F_RCODE(a.flags), NET_DNS_SERVFAIL);

    /* garbage gets FORMERR with its id; a reply gets nothing */
    int fd = udp_client();
    struct sockaddr_in to = loopback(port);
    uint8_t junk[14] = {0xab, 0xcd, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0};
    CHECK(sendto(fd, junk, sizeof(junk), 0, (struct sockaddr *)&to, sizeof(to)) == 14);
    uint8_t buf[70000];
    ssize_t got = recv_on_loop(loop, fd, buf, sizeof(buf));
    CHECK_EQ_INT(got, 12);
    CHECK_EQ_INT(u16(buf), 0xabcd);
    CHECK_EQ_INT(buf[3] & 0xf, NET_DNS_FORMERR);
    close(fd);

    /* TCP: two framed queries in one write, the second one big (no truncation on TCP) */
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(connect(fd, (struct sockaddr *)&to, sizeof(to)) == 0);
    uint8_t q[1024];
    size_t n1 = make_query(q + 2, 1, "host.local.test", NET_DNS_A, 0);
    q[0] = 0, q[1] = (uint8_t)n1;
    size_t n2 = make_query(q + 4 + n1, 2, "many.local.test", NET_DNS_A, 0);
    q[2 + n1] = 0, q[3 + n1] = (uint8_t)n2;
    CHECK(write(fd, q, 4 + n1 + n2) == (ssize_t)(4 + n1 + n2));
    size_t have = 0;
    for (int i = 0; i < 300 && !two_frames(buf, have); i++) {
        ssize_t r = recv(fd, buf + have, sizeof(buf) - have, MSG_DONTWAIT);
        if (r > 0)
            have += (size_t)r;
        else
            ev_run_once(loop, 10);
    }
    CHECK(two_frames(buf, have));
    size_t l1 = u16(buf);
    CHECK_EQ_INT(net_dns_parse(buf + 2, l1, &a, &e), 0);
    CHECK_EQ_INT(a.id, 1);
    CHECK_EQ_INT(a.ancount, 1);
    size_t l2 = u16(buf + 2 + l1);
    CHECK_EQ_INT(net_dns_parse(buf + 4 + l1, l2, &a, &e), 0);
    CHECK_EQ_INT(a.id, 2);
    CHECK_EQ_INT(a.ancount, 100);
    CHECK(!(a.flags & NET_DNS_F_TC));
    close(fd);

    /* a forwarded answer too big for UDP: a UDP client gets TC; a TCP client gets it whole,
     * fetched again from the upstream over TCP */
    ask_udp(loop, port, "many.up.test", NET_DNS_A, &a);
    CHECK(a.flags & NET_DNS_F_TC);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(connect(fd, (struct sockaddr *)&to, sizeof(to)) == 0);
    n1 = make_query(q + 2, 3, "many.up.test", NET_DNS_A, 0);
    q[0] = 0, q[1] = (uint8_t)n1;
    CHECK(write(fd, q, 2 + n1) == (ssize_t)(2 + n1));
    have = 0;
    for (int i = 0; i < 300 && (have < 2 || have < 2 + (size_t)u16(buf)); i++) {
        ssize_t r = recv(fd, buf + have, sizeof(buf) - have, MSG_DONTWAIT);
        if (r > 0)
            have += (size_t)r;
        else
            ev_run_once(loop, 10);
    }
    CHECK(have >= 2 && have == 2 + (size_t)u16(buf));
    CHECK_EQ_INT(net_dns_parse(buf + 2, u16(buf), &a, &e), 0);
    CHECK_EQ_INT(a.id, 3);
    CHECK(!(a.flags & NET_DNS_F_TC));
    CHECK_EQ_INT(a.ancount, 100);
    close(fd);

    /* a silent upstream: SERVFAIL after the timeout, not never */
    int silent = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = loopback(0);
    socklen_t sl = sizeof(sa);
    CHECK(bind(silent, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    getsockname(silent, (struct sockaddr *)&sa, &sl);
    struct net_dns_server_cfg dcfg = cfg;
    dcfg.upstream_port = ntohs(sa.sin_port);
    dcfg.timeout_ms = 200;
    CHECK_EQ_INT(net_dns_server_start(loop, &dcfg, &dead_s, &e), 0);
    ask_udp(loop, net_dns_server_port(dead_s), "example.org", NET_DNS_A, &a);
    CHECK_EQ_INT(NET_DNS_F_RCODE(a.flags), NET_DNS_SERVFAIL);
    close(silent);

    net_dns_server_free(dead_s);
    net_dns_server_free(s);
    net_dns_server_free(up);
    ev_loop_free(loop);
}
