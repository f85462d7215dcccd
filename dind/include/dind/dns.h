/* dns: the embedded DNS server of the net module (CoreDNS's role on a node). Prefix: net_dns_.
 *
 * Two layers:
 *   - the protocol (RFC 1035 messages): a parser that walks a whole message with every name
 *     decompressed and every record's bounds checked (queries from pods and answers from upstream
 *     resolvers are both untrusted), and an encoder of replies that compresses names and stops
 *     adding records at a size limit, setting TC when the answer or authority section was cut;
 *     EDNS0 (OPT) is read from queries (the requester's UDP size) and echoed in replies;
 *   - a server on an ev loop: UDP and TCP (RFC 1035 4.2.2 two-byte length framing) on one
 *     address and port, a synchronous lookup callback deciding each question, and forwarding of
 *     the questions the callback does not own to upstream resolvers over UDP (CoreDNS's
 *     `forward . /etc/resolv.conf`), each tried in turn with a timeout, SERVFAIL when none
 *     answers; a truncated upstream answer for a TCP client is fetched again over TCP. Nothing
 *     blocks the loop.
 *
 * Names in text form are dotted, without the trailing dot ("kubernetes.default.svc.cluster.local";
 * the root is ""); a byte that is not a letter, digit, '-', '_' or '*' inside a label is written
 * \DDD (and '.' inside a label as "\."), the form dig prints, so any wire name round-trips.
 */
#ifndef DIND_DNS_H
#define DIND_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dind/base.h"
#include "dind/ev.h"

#define NET_DNS_NAME_WIRE_MAX 255  /* RFC 1035 3.1 */
#define NET_DNS_TEXT_MAX      1024 /* a 255-byte wire name with every byte escaped (\DDD) */
#define NET_DNS_UDP_MIN       512  /* RFC 1035 UDP payload without EDNS0 */
#define NET_DNS_UDP_MAX       1232 /* the payload we accept and advertise with EDNS0 (DNS flag day) */

enum net_dns_type {
    NET_DNS_A = 1,
    NET_DNS_NS = 2,
    NET_DNS_CNAME = 5,
    NET_DNS_SOA = 6,
    NET_DNS_PTR = 12,
    NET_DNS_MX = 15,
    NET_DNS_TXT = 16,
    NET_DNS_AAAA = 28,
    NET_DNS_SRV = 33,
    NET_DNS_OPT = 41,
    NET_DNS_ANY = 255,
};

enum net_dns_rcode {
    NET_DNS_NOERROR = 0,
    NET_DNS_FORMERR = 1,
    NET_DNS_SERVFAIL = 2,
    NET_DNS_NXDOMAIN = 3,
    NET_DNS_NOTIMP = 4,
    NET_DNS_REFUSED = 5,
};

#define NET_DNS_CLASS_IN 1

/* Header flag bits (the 16-bit word after the id). */
#define NET_DNS_F_QR        0x8000
#define NET_DNS_F_OPCODE(f) (((f) >> 11) & 0xf)
#define NET_DNS_F_AA        0x0400
#define NET_DNS_F_TC        0x0200
#define NET_DNS_F_RD        0x0100
#define NET_DNS_F_RA        0x0080
#define NET_DNS_F_RCODE(f)  ((f)&0xf)

/* ---- parsing ---- */

/* What net_dns_parse() learns from a message. The question is the first one (qdcount may be 0 in
 * a reply to a FORMERR; queries with qdcount != 1 are answered FORMERR by the server). */
struct net_dns_msg {
    uint16_t id, flags;
    uint16_t qdcount, ancount, nscount, arcount;
    bool has_question;
    char qname[NET_DNS_TEXT_MAX];
    uint16_t qtype, qclass;
    bool has_opt;      /* an OPT pseudo-record in the additional section */
    uint16_t udp_size; /* the OPT's requester payload size (0 without OPT) */
    uint8_t edns_version;
    bool dnssec_ok;
};

/* Parses and validates the whole message: header, every question and record, names with
 * compression pointers (each must point before the label that holds it; at most 255 wire bytes),
 * record data within its rdlength and, for the types that carry names (NS, CNAME, SOA, PTR, MX,
 * SRV), those names too; at most one OPT, only in the additional section, with root owner; no
 * bytes after the last record. -EBADMSG with a message saying what is wrong otherwise. */
int net_dns_parse(const uint8_t *msg, size_t len, struct net_dns_msg *ret, dd_err *e);

/* Decodes the (possibly compressed) name at *off into text (out: NET_DNS_TEXT_MAX bytes) and
 * advances *off past it in the message. -EBADMSG on a malformed name. */
int net_dns_name_read(const uint8_t *msg, size_t len, size_t *off, char *out, dd_err *e);

/* Case-insensitive equality of two text names (ASCII letters only, as RFC 4343). */
bool net_dns_name_eq(const char *a, const char *b);

/* ---- replies ---- */

enum net_dns_section { NET_DNS_ANSWER, NET_DNS_AUTHORITY, NET_DNS_ADDITIONAL };

struct net_dns_rr {
    enum net_dns_section section;
    char *name;
    uint16_t type; /* A, CNAME, PTR, SRV, SOA or TXT */
    uint32_t ttl;
    uint32_t a;   /* A: host byte order */
    char *target; /* CNAME/PTR target, SRV target, SOA mname, TXT text (first 255 bytes) */
    char *rname;  /* SOA */
    uint16_t srv_priority, srv_weight, srv_port;
    uint32_t soa[5]; /* serial, refresh, retry, expire, minimum */
};

/* A reply being built by a lookup: rcode, AA and the records in the order added. */
struct net_dns_reply {
    int rcode;
    bool authoritative;
    struct net_dns_rr *rrs;
    size_t n, cap;
};

void net_dns_reply_init(struct net_dns_reply *r);
void net_dns_reply_release(struct net_dns_reply *r);
/* Each copies its strings. */
void net_dns_reply_add_a(struct net_dns_reply *r, enum net_dns_section s, const char *name,
                         uint32_t ttl, uint32_t ip);
void net_dns_reply_add_name(struct net_dns_reply *r, enum net_dns_section s, uint16_t type,
                            const char *name, uint32_t ttl, const char *target); /* CNAME/PTR */
void net_dns_reply_add_txt(struct net_dns_reply *r, enum net_dns_section s, const char *name,
                           uint32_t ttl, const char *text);
void net_dns_reply_add_srv(struct net_dns_reply *r, enum net_dns_section s, const char *name,
                           uint32_t ttl, uint16_t priority, uint16_t weight, uint16_t port,
                           const char *target);
void net_dns_reply_add_soa(struct net_dns_reply *r, enum net_dns_section s, const char *name,
                           uint32_t ttl, const char *mname, const char *rname, const uint32_t v[5]);
/* True when an answer record of that owner name and type was already added. */
bool net_dns_reply_has(const struct net_dns_reply *r, enum net_dns_section s, const char *name,
                       uint16_t type);

/* Encodes the reply to query q into out (appended): q's id, opcode, RD and question, QR and RA
 * set, AA and rcode from r, then the records; an OPT record when q had one. At most max bytes
 * (512..65535): a record that does not fit is left out with every record after it, and TC is set
 * when an answer or authority record was left out. -EINVAL if a name in r is not a valid name. */
int net_dns_encode(const struct net_dns_msg *q, const struct net_dns_reply *r, size_t max,
                   dd_buf *out, dd_err *e);
/* A reply without records with rcode (e.g. FORMERR, SERVFAIL) to a query of which only the
 * first 12 bytes (the header) are trusted, echoing the question when q->has_question. */
int net_dns_encode_error(const struct net_dns_msg *q, int rcode, dd_buf *out, dd_err *e);

/* ---- server ---- */

/* The lookup callback's verdicts. */
enum net_dns_verdict {
    NET_DNS_REPLY,   /* r holds the reply (rcode, records) */
    NET_DNS_FORWARD, /* not ours: ask the upstream resolvers */
};
/* Called on the loop for each well-formed query (qdcount 1, opcode QUERY, class IN); must not
 * block. r comes initialised with rcode NOERROR. */
typedef enum net_dns_verdict (*net_dns_lookup_fn)(void *ud, const struct net_dns_msg *q,
                                                  struct net_dns_reply *r);

struct net_dns_server_cfg {
    uint32_t addr;       /* host byte order; the server binds UDP and TCP on it (IP_FREEBIND) */
    uint16_t port;       /* 0 = an ephemeral port (the same for UDP and TCP), see _port() */
    uint32_t *upstreams; /* IPv4 resolvers (port 53 unless upstream_port), tried in order */
    size_t n_upstreams;
    uint16_t upstream_port; /* 0 = 53; tests use another */
    int timeout_ms;         /* per upstream try; 0 = 2000 */
    net_dns_lookup_fn lookup;
    void *ud;
};

typedef struct net_dns_server net_dns_server;

/* Binds the sockets and starts serving on loop. The upstream list is copied. */
int net_dns_server_start(ev_loop *loop, const struct net_dns_server_cfg *cfg, net_dns_server **ret,
                         dd_err *e);
uint16_t net_dns_server_port(const net_dns_server *s);
/* Closes the sockets and every TCP connection; forwarded questions still pending are dropped.
 * NULL-safe. Not from inside the lookup callback. */
void net_dns_server_free(net_dns_server *s);

/* The IPv4 `nameserver` lines of a resolv.conf text, in order, at most max (the resolver's own
 * limit is 3), skipping `skip` (the server's own address: no forwarding loop). Returns the count.
 */
size_t net_dns_resolv_nameservers(const char *text, uint32_t skip, uint32_t *out, size_t max);

#endif
