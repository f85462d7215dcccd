/* net/dns: the DNS wire format (RFC 1035, EDNS0 from RFC 6891). The parser is the guard in front
 * of everything else: queries come from any pod and replies from any upstream, so it checks every
 * length against the message before reading, follows a compression pointer only backwards, and
 * bounds names at 255 wire bytes. The encoder writes replies only (the server never builds a
 * query: forwarding relays the client's own bytes). Neither does any I/O. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>

#include "dind/dns.h"
#include "dind/net.h"

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* ---- names ---- */

/* Reads the name at *off into uncompressed wire form (wire: 255 bytes, ending in the root label)
 * and advances *off past the name's bytes in the message. */
static int read_wire(const uint8_t *msg, size_t len, size_t *off, uint8_t *wire, size_t *ret_len)
{
    size_t p = *off, w = 0, end = 0;
    size_t limit = p; /* a pointer must go strictly before the label holding it */
    bool jumped = false;
    for (;;) {
        if (p >= len)
            return -EBADMSG;
        uint8_t l = msg[p];
        if ((l & 0xc0) == 0xc0) {
            if (p + 1 >= len)
                return -EBADMSG;
            size_t target = (size_t)(l & 0x3f) << 8 | msg[p + 1];
            if (target >= limit)
                return -EBADMSG;
            if (!jumped)
                end = p + 2;
            jumped = true;
            limit = target;
            p = target;
            continue;
        }
        if (l & 0xc0) /* 0x40 and 0x80: extended label types (RFC 6891 obsoleted them) */
            return -EBADMSG;
        if (p + 1 + l > len || w + 1 + l > NET_DNS_NAME_WIRE_MAX)
            return -EBADMSG;
        memcpy(wire + w, msg + p, 1 + (size_t)l);
        w += 1 + (size_t)l;
        p += 1 + (size_t)l;
        if (l == 0)
            break;
    }
    *off = jumped ? end : p;
    *ret_len = w;
    return 0;
}

static bool plain_char(uint8_t c)
{
    return isalnum(c) || c == '-' || c == '_' || c == '*';
}

static void wire_to_text(const uint8_t *wire, char *out)
{
    size_t o = 0;
    for (size_t p = 0; wire[p]; p += 1 + wire[p]) {
        if (p)
            out[o++] = '.';
        for (size_t i = 1; i <= wire[p]; i++) {
            uint8_t c = wire[p + i];
            if (plain_char(c))
                out[o++] = (char)c;
            else if (c == '.' || c == '\\')
                out[o++] = '\\', out[o++] = (char)c;
            else
                o += (size_t)sprintf(out + o, "\\%03u", c);
        }
    }
    out[o] = '\0';
}

/* Text name (escapes allowed, optional trailing dot) into wire form; -EINVAL if not a name. */
static int text_to_wire(const char *s, uint8_t *wire, size_t *ret_len)
{
    size_t w = 0;
    if (!s)
        return -EINVAL;
    if (s[0] == '.' && s[1] == '\0')
        s++;
    while (*s) {
        size_t lp = w++, l = 0;
        while (*s && *s != '.') {
            unsigned c = (unsigned char)*s++;
            if (c == '\\') {
                if (isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) &&
                    isdigit((unsigned char)s[2])) {
                    c = (unsigned)((s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0'));
                    if (c > 255)
                        return -EINVAL;
                    s += 3;
                } else if (*s) {
                    c = (unsigned char)*s++;
                } else {
                    return -EINVAL;
                }
            }
            if (++l > 63 || w + 1 >= NET_DNS_NAME_WIRE_MAX)
                return -EINVAL;
            wire[w++] = (uint8_t)c;
        }
        if (l == 0)
            return -EINVAL; /* empty label: "a..b" or a leading dot */
        wire[lp] = (uint8_t)l;
        if (*s == '.')
            s++;
    }
    wire[w++] = 0;
    *ret_len = w;
    return 0;
}

int net_dns_name_read(const uint8_t *msg, size_t len, size_t *off, char *out, dd_err *e)
{
    uint8_t wire[NET_DNS_NAME_WIRE_MAX];
    size_t wl;
    if (read_wire(msg, len, off, wire, &wl) < 0)
        return dd_err_set(e, EBADMSG, "malformed name at offset %zu", *off);
    wire_to_text(wire, out);
    return 0;
}

bool net_dns_name_eq(const char *a, const char *b)
{
    uint8_t wa[NET_DNS_NAME_WIRE_MAX], wb[NET_DNS_NAME_WIRE_MAX];
    size_t la, lb;
    if (text_to_wire(a, wa, &la) < 0 || text_to_wire(b, wb, &lb) < 0 || la != lb)
        return false;
    for (size_t i = 0; i < la; i++)
        if (tolower(wa[i]) != tolower(wb[i]))
            return false;
    return true;
}

/* ---- parsing ---- */

static int skip_name(const uint8_t *msg, size_t len, size_t *off)
{
    uint8_t wire[NET_DNS_NAME_WIRE_MAX];
    size_t wl;
    return read_wire(msg, len, off, wire, &wl);
}

/* Checks the names inside a record's data (the data spans [p, end)). */
static int check_rdata(const uint8_t *msg, size_t len, uint16_t type, size_t p, size_t end)
{
    size_t fixed_before = 0, names = 1, fixed_after = 0;
    switch (type) {
    case NET_DNS_NS:
    case NET_DNS_CNAME:
    case NET_DNS_PTR:
        break;
    case NET_DNS_MX:
        fixed_before = 2;
        break;
    case NET_DNS_SRV:
        fixed_before = 6;
        break;
    case NET_DNS_SOA:
        names = 2, fixed_after = 20;
        break;
    case NET_DNS_A:
        return end - p == 4 ? 0 : -EBADMSG;
    case NET_DNS_AAAA:
        return end - p == 16 ? 0 : -EBADMSG;
    default:
        return 0;
    }
    p += fixed_before;
    for (size_t i = 0; i < names; i++) {
        /* the name must lie within the record: parse against the record's end */
        if (p >= end || skip_name(msg, end, &p) < 0)
            return -EBADMSG;
    }
    return p + fixed_after == end ? 0 : -EBADMSG;
}

static int parse_rr(const uint8_t *msg, size_t len, size_t *off, int section, struct net_dns_msg *m,
                    dd_err *e)
{
    size_t p = *off;
    bool root = p < len && msg[p] == 0;
    if (skip_name(msg, len, &p) < 0)
        return dd_err_set(e, EBADMSG, "malformed record name at offset %zu", *off);
    if (p + 10 > len)
        return dd_err_set(e, EBADMSG, "record at offset %zu cut short", *off);
    uint16_t type = get16(msg + p), cls = get16(msg + p + 2), rdlen = get16(msg + p + 8);
    uint32_t ttl = (uint32_t)get16(msg + p + 4) << 16 | get16(msg + p + 6);
    p += 10;
    if (p + rdlen > len)
        return dd_err_set(e, EBADMSG, "record data at offset %zu past the end", p);
    if (check_rdata(msg, len, type, p, p + rdlen) < 0)
        return dd_err_set(e, EBADMSG, "malformed data of type %u record at offset %zu", type, p);
    if (type == NET_DNS_OPT) {
        if (section != 2 || m->has_opt || !root)
            return dd_err_set(e, EBADMSG, "misplaced OPT record at offset %zu", *off);
        m->has_opt = true;
        m->udp_size = cls;
        m->edns_version = (uint8_t)(ttl >> 16);
        m->dnssec_ok = ttl & 0x8000;
    }
    *off = p + rdlen;
    return 0;
}

int net_dns_parse(const uint8_t *msg, size_t len, struct net_dns_msg *ret, dd_err *e)
{
    struct net_dns_msg m = {0};
    if (len < 12)
        return dd_err_set(e, EBADMSG, "message of %zu bytes is shorter than a header", len);
    m.id = get16(msg), m.flags = get16(msg + 2);
    m.qdcount = get16(msg + 4), m.ancount = get16(msg + 6);
    m.nscount = get16(msg + 8), m.arcount = get16(msg + 10);
    size_t off = 12;
    for (unsigned i = 0; i < m.qdcount; i++) {
        char name[NET_DNS_TEXT_MAX];
        if (net_dns_name_read(msg, len, &off, name, e) < 0)
            return dd_err_wrap(e, "question %u", i + 1);
        if (off + 4 > len)
            return dd_err_set(e, EBADMSG, "question %u cut short", i + 1);
        if (i == 0) {
            memcpy(m.qname, name, sizeof(name));
            m.qtype = get16(msg + off), m.qclass = get16(msg + off + 2);
            m.has_question = true;
        }
        off += 4;
    }
    const uint16_t counts[3] = {m.ancount, m.nscount, m.arcount};
    for (int s = 0; s < 3; s++)
        for (unsigned i = 0; i < counts[s]; i++)
            if (parse_rr(msg, len, &off, s, &m, e) < 0)
                return -EBADMSG;
    if (off != len)
        return dd_err_set(e, EBADMSG, "%zu bytes after the last record", len - off);
    *ret = m;
    return 0;
}

/* ---- replies ---- */

void net_dns_reply_init(struct net_dns_reply *r)
{
    *r = (struct net_dns_reply){0};
}

void net_dns_reply_release(struct net_dns_reply *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->rrs[i].name), free(r->rrs[i].target), free(r->rrs[i].rname);
    free(r->rrs);
    net_dns_reply_init(r);
}

static struct net_dns_rr *add(struct net_dns_reply *r, enum net_dns_section s, const char *name,
                              uint16_t type, uint32_t ttl)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 8;
        r->rrs = dd_realloc(r->rrs, r->cap * sizeof(*r->rrs));
    }
    struct net_dns_rr *rr = &r->rrs[r->n++];
    *rr = (struct net_dns_rr){.section = s, .name = dd_strdup(name), .type = type, .ttl = ttl};
    return rr;
}

void net_dns_reply_add_a(struct net_dns_reply *r, enum net_dns_section s, const char *name,
                         uint32_t ttl, uint32_t ip)
{
    add(r, s, name, NET_DNS_A, ttl)->a = ip;
}

void net_dns_reply_add_name(struct net_dns_reply *r, enum net_dns_section s, uint16_t type,
                            const char *name, uint32_t ttl, const char *target)
{
    add(r, s, name, type, ttl)->target = dd_strdup(target);
}

void net_dns_reply_add_txt(struct net_dns_reply *r, enum net_dns_section s, const char *name,
                           uint32_t ttl, const char *text)
{
    add(r, s, name, NET_DNS_TXT, ttl)->target = dd_strdup(text);
}

void net_dns_reply_add_srv(struct net_dns_reply *r, enum net_dns_section s, const char *name,
                           uint32_t ttl, uint16_t priority, uint16_t weight, uint16_t port,
                           const char *target)
{
    struct net_dns_rr *rr = add(r, s, name, NET_DNS_SRV, ttl);
    rr->srv_priority = priority, rr->srv_weight = weight, rr->srv_port = port;
    rr->target = dd_strdup(target);
}

void net_dns_reply_add_soa(struct net_dns_reply *r, enum net_dns_section s, const char *name,
                           uint32_t ttl, const char *mname, const char *rname, const uint32_t v[5])
{
    struct net_dns_rr *rr = add(r, s, name, NET_DNS_SOA, ttl);
    rr->target = dd_strdup(mname);
    rr->rname = dd_strdup(rname);
    memcpy(rr->soa, v, sizeof(rr->soa));
}

bool net_dns_reply_has(const struct net_dns_reply *r, enum net_dns_section s, const char *name,
                       uint16_t type)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->rrs[i].section == s && r->rrs[i].type == type &&
            net_dns_name_eq(r->rrs[i].name, name))
            return true;
    return false;
}

/* ---- encoding ---- */

#define COMPRESS_MAX 128

/* A reply under construction in a fixed buffer, with the offsets of names written so far (the
 * start of each of their labels) for compression. */
struct writer {
    uint8_t buf[65535];
    size_t len, max;
    uint16_t names[COMPRESS_MAX];
    size_t n_names;
};

/* Does the (possibly compressed) name at off in the buffer equal the uncompressed wire suffix? */
static bool suffix_at(const struct writer *w, size_t off, const uint8_t *wire)
{
    size_t p = off, q = 0;
    for (int hops = 0; hops < 128; hops++) {
        uint8_t l = w->buf[p];
        if ((l & 0xc0) == 0xc0) {
            p = (size_t)(l & 0x3f) << 8 | w->buf[p + 1];
            continue;
        }
        if (l != wire[q])
            return false;
        if (l == 0)
            return true;
        for (size_t i = 1; i <= l; i++)
            if (tolower(w->buf[p + i]) != tolower(wire[q + i]))
                return false;
        p += 1 + l, q += 1 + l;
    }
    return false;
}

static int put_bytes(struct writer *w, const void *data, size_t n)
{
    if (w->len + n > w->max)
        return -EMSGSIZE;
    memcpy(w->buf + w->len, data, n);
    w->len += n;
    return 0;
}

static int put_u16(struct writer *w, uint16_t v)
{
    uint8_t b[2];
    put16(b, v);
    return put_bytes(w, b, 2);
}

static int put_u32(struct writer *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return put_bytes(w, b, 4);
}

static int put_name(struct writer *w, const char *text)
{
    uint8_t wire[NET_DNS_NAME_WIRE_MAX];
    size_t wl;
    if (text_to_wire(text, wire, &wl) < 0)
        return -EINVAL;
    size_t q = 0;
    while (wire[q]) {
        for (size_t i = 0; i < w->n_names; i++) {
            if (suffix_at(w, w->names[i], wire + q)) {
                return put_u16(w, (uint16_t)(0xc000 | w->names[i]));
            }
        }
        if (w->n_names < COMPRESS_MAX && w->len < 0x4000)
            w->names[w->n_names++] = (uint16_t)w->len;
        if (put_bytes(w, wire + q, 1 + (size_t)wire[q]) < 0)
            return -EMSGSIZE;
        q += 1 + (size_t)wire[q];
    }
    return put_bytes(w, "", 1);
}

static int put_rr(struct writer *w, const struct net_dns_rr *rr)
{
    int r;
    if ((r = put_name(w, rr->name)) < 0 || (r = put_u16(w, rr->type)) < 0 ||
        (r = put_u16(w, NET_DNS_CLASS_IN)) < 0 || (r = put_u32(w, rr->ttl)) < 0)
        return r;
    size_t lenpos = w->len;
    if ((r = put_u16(w, 0)) < 0)
        return r;
    switch (rr->type) {
    case NET_DNS_A:
        r = put_u32(w, rr->a);
        break;
    case NET_DNS_CNAME:
    case NET_DNS_PTR:
        r = put_name(w, rr->target);
        break;
    case NET_DNS_TXT: { /* one character-string of at most 255 bytes */
        size_t l = strlen(rr->target);
        uint8_t lb = (uint8_t)(l > 255 ? 255 : l);
        if ((r = put_bytes(w, &lb, 1)) == 0)
            r = put_bytes(w, rr->target, lb);
        break;
    }
    case NET_DNS_SRV:
        if ((r = put_u16(w, rr->srv_priority)) < 0 || (r = put_u16(w, rr->srv_weight)) < 0 ||
            (r = put_u16(w, rr->srv_port)) < 0)
            return r;
        r = put_name(w, rr->target);
        break;
    case NET_DNS_SOA:
        if ((r = put_name(w, rr->target)) < 0 || (r = put_name(w, rr->rname)) < 0)
            return r;
        for (int i = 0; i < 5 && r == 0; i++)
            r = put_u32(w, rr->soa[i]);
        break;
    default:
        return -EINVAL;
    }
    if (r < 0)
        return r;
    put16(w->buf + lenpos, (uint16_t)(w->len - lenpos - 2));
    return 0;
}

/* Header and question; the counts are patched at the end. */
static int put_head(struct writer *w, const struct net_dns_msg *q, int rcode, bool aa)
{
    uint16_t flags = NET_DNS_F_QR | (q->flags & (0xf << 11)) | (q->flags & NET_DNS_F_RD) |
                     NET_DNS_F_RA | (aa ? NET_DNS_F_AA : 0) | (uint16_t)(rcode & 0xf);
    int r;
    if ((r = put_u16(w, q->id)) < 0 || (r = put_u16(w, flags)) < 0)
        return r;
    uint8_t zero[8] = {0};
    if ((r = put_bytes(w, zero, 8)) < 0)
        return r;
    if (!q->has_question)
        return 0;
    if ((r = put_name(w, q->qname)) < 0 || (r = put_u16(w, q->qtype)) < 0 ||
        (r = put_u16(w, q->qclass)) < 0)
        return r;
    put16(w->buf + 4, 1);
    return 0;
}

#define OPT_LEN 11

static void put_opt(struct writer *w)
{
    uint8_t opt[OPT_LEN] = {0, 0, NET_DNS_OPT, NET_DNS_UDP_MAX >> 8, NET_DNS_UDP_MAX & 0xff};
    memcpy(w->buf + w->len, opt, sizeof(opt));
    w->len += sizeof(opt);
}

int net_dns_encode(const struct net_dns_msg *q, const struct net_dns_reply *rep, size_t max,
                   dd_buf *out, dd_err *e)
{
    _cleanup_free_ struct writer *w = dd_malloc(sizeof(*w));
    w->len = w->n_names = 0;
    w->max = max < NET_DNS_UDP_MIN ? NET_DNS_UDP_MIN : max > 65535 ? 65535 : max;
    if (q->has_opt)
        w->max -= OPT_LEN; /* room kept for the OPT at the end */
    if (put_head(w, q, rep->rcode, rep->authoritative) < 0)
        return dd_err_set(e, EINVAL, "encoding the question of a reply");
    uint16_t counts[3] = {0};
    bool truncated = false;
    for (size_t i = 0; i < rep->n && !truncated; i++) {
        const struct net_dns_rr *rr = &rep->rrs[i];
        size_t len = w->len, names = w->n_names;
        int r = put_rr(w, rr);
        if (r == -EMSGSIZE) {
            w->len = len, w->n_names = names; /* drop the partial record and its names */
            truncated = true;
            if (rr->section != NET_DNS_ADDITIONAL)
                put16(w->buf + 2, get16(w->buf + 2) | NET_DNS_F_TC);
            break;
        }
        if (r < 0)
            return dd_err_set(e, EINVAL, "invalid name in a %u record of '%s'", rr->type, rr->name);
        counts[rr->section]++;
    }
    put16(w->buf + 6, counts[0]);
    put16(w->buf + 8, counts[1]);
    put16(w->buf + 10, (uint16_t)(counts[2] + (q->has_opt ? 1 : 0)));
    if (q->has_opt)
        put_opt(w);
    dd_buf_add(out, w->buf, w->len);
    return 0;
}

int net_dns_encode_error(const struct net_dns_msg *q, int rcode, dd_buf *out, dd_err *e)
{
    struct net_dns_reply r;
    net_dns_reply_init(&r);
    r.rcode = rcode;
    return net_dns_encode(q, &r, NET_DNS_UDP_MIN, out, e);
}

size_t net_dns_resolv_nameservers(const char *text, uint32_t skip, uint32_t *out, size_t max)
{
    size_t n = 0;
    for (const char *line = text; line && *line && n < max;) {
        const char *eol = strchr(line, '\n');
        size_t ll = eol ? (size_t)(eol - line) : strlen(line);
        char buf[256];
        if (ll < sizeof(buf)) {
            memcpy(buf, line, ll);
            buf[ll] = '\0';
            char *save = NULL, *kw = strtok_r(buf, " \t\r", &save);
            char *val = kw ? strtok_r(NULL, " \t\r", &save) : NULL;
            uint32_t ip;
            if (kw && val && strcmp(kw, "nameserver") == 0 && net_ip_parse(val, &ip, NULL) == 0 &&
                ip != skip && ip != 0)
                out[n++] = ip;
        }
        line = eol ? eol + 1 : NULL;
    }
    return n;
}
