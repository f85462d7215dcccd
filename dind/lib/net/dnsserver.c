/* net/dnsserver: the embedded DNS server on the ev loop. UDP queries are answered from the one
 * socket they came in on; TCP connections carry length-framed queries, answered in order of
 * completion; a question the lookup callback does not own is relayed byte for byte (with a fresh
 * id) to the upstream resolvers over one unconnected UDP socket, each tried in turn until one
 * answers within the timeout; a truncated answer meant for a TCP client is asked for again over
 * TCP to the same resolver. The server keeps no cache and speaks no DNSSEC: the records come
 * from the callback, and upstream replies pass through after validation. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dind/dns.h"

#define TCP_CONNS_MAX      64
#define TCP_IDLE_MS        10000
#define TCP_OUT_MAX        (1u << 20)
#define FORWARDS_MAX       512
#define DEFAULT_TIMEOUT_MS 2000

struct tconn;

/* A question relayed upstream, waiting for its answer. */
struct fwd {
    struct fwd *next;
    net_dns_server *s;
    uint16_t up_id;
    struct net_dns_msg q;      /* the client's query (its id, question, OPT) */
    struct sockaddr_in client; /* UDP client */
    struct tconn *conn;        /* TCP client, or NULL */
    size_t client_max;         /* the UDP client's payload limit */
    uint8_t *query;            /* the query as relayed (id = up_id) */
    size_t qlen;
    size_t upstream; /* index of the resolver tried now */
    ev_timer *timer;
    /* a truncated UDP answer for a TCP client: the question again over TCP to the same resolver,
     * the truncated answer kept as the fallback */
    int tcp_fd;
    ev_io *tcp_io;
    dd_buf tcp_out, tcp_in;
    uint8_t *trunc;
    size_t trunc_len;
};

struct tconn {
    struct tconn *next;
    net_dns_server *s;
    int fd;
    ev_io *io;
    ev_timer *idle;
    dd_buf in, out;
};

struct net_dns_server {
    ev_loop *loop;
    struct net_dns_server_cfg cfg;
    int udp_fd, tcp_fd, up_fd;
    ev_io *udp_io, *tcp_io, *up_io;
    uint16_t port;
    struct fwd *fwds;
    size_t n_fwds;
    struct tconn *conns;
    size_t n_conns;
};

static void conn_close(struct tconn *c);

/* ---- sending replies ---- */

static void send_udp(net_dns_server *s, const struct sockaddr_in *to, const void *data, size_t len)
{
    /* a full socket buffer drops the reply, as a lost datagram: the client retries */
    (void)sendto(s->udp_fd, data, len, MSG_DONTWAIT, (const struct sockaddr *)to, sizeof(*to));
}

static void conn_flush(struct tconn *c)
{
    while (c->out.len) {
        ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            conn_close(c);
            return;
        }
        dd_buf_consume(&c->out, (size_t)n);
    }
    ev_io_set(c->io, EV_READ | (c->out.len ? EV_WRITE : 0));
}

static void send_tcp(struct tconn *c, const void *data, size_t len)
{
    if (c->out.len + len + 2 > TCP_OUT_MAX) { /* a client that reads nothing */
        conn_close(c);
        return;
    }
    uint8_t hdr[2] = {(uint8_t)(len >> 8), (uint8_t)len};
    dd_buf_add(&c->out, hdr, 2);
    dd_buf_add(&c->out, data, len);
    conn_flush(c);
}

static void send_reply(net_dns_server *s, const struct sockaddr_in *from, struct tconn *c,
                       const dd_buf *b)
{
    if (c)
        send_tcp(c, b->data, b->len);
    else
        send_udp(s, from, b->data, b->len);
}

static void send_error(net_dns_server *s, const struct net_dns_msg *q,
                       const struct sockaddr_in *from, struct tconn *c, int rcode)
{
    dd_buf b = DD_BUF_INIT;
    if (net_dns_encode_error(q, rcode, &b, NULL) == 0)
        send_reply(s, from, c, &b);
    dd_buf_release(&b);
}

/* ---- forwarding ---- */

static void fwd_free(struct fwd *f)
{
    net_dns_server *s = f->s;
    for (struct fwd **pp = &s->fwds; *pp; pp = &(*pp)->next)
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    s->n_fwds--;
    ev_timer_del(f->timer);
    ev_io_del(f->tcp_io);
    if (f->tcp_fd >= 0)
        close(f->tcp_fd);
    dd_buf_release(&f->tcp_out);
    dd_buf_release(&f->tcp_in);
    free(f->trunc);
    free(f->query);
    free(f);
}

static void fwd_fail(struct fwd *f)
{
    if (f->conn || f->client.sin_family)
        send_error(f->s, &f->q, &f->client, f->conn, NET_DNS_SERVFAIL);
    fwd_free(f);
}

static struct sockaddr_in upstream_addr(const net_dns_server *s, size_t i)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons(s->cfg.upstream_port ? s->cfg.upstream_port : 53),
                            .sin_addr.s_addr = htonl(s->cfg.upstreams[i])};
    return a;
}

/* Sends the question to the current resolver or the next one that takes it; SERVFAIL when
 * none is left. */
static void fwd_try(struct fwd *f)
{
    net_dns_server *s = f->s;
    for (; f->upstream < s->cfg.n_upstreams; f->upstream++) {
        struct sockaddr_in to = upstream_addr(s, f->upstream);
        if (sendto(s->up_fd, f->query, f->qlen, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof(to)) ==
            (ssize_t)f->qlen) {
            ev_timer_reset(f->timer, (uint64_t)s->cfg.timeout_ms);
            return;
        }
    }
    fwd_fail(f);
}

static void deliver(struct fwd *f, uint8_t *msg, size_t len);

/* The TCP retry failed: the client gets the truncated answer (it says TC itself). */
static void fwd_tcp_fail(struct fwd *f)
{
    deliver(f, f->trunc, f->trunc_len);
    fwd_free(f);
}

static void fwd_timeout(ev_timer *t, void *data)
{
    struct fwd *f = data;
    if (f->tcp_fd >= 0) {
        fwd_tcp_fail(f);
        return;
    }
    f->upstream++;
    fwd_try(f);
}

static bool id_in_use(const net_dns_server *s, uint16_t id)
{
    for (const struct fwd *f = s->fwds; f; f = f->next)
        if (f->up_id == id)
            return true;
    return false;
}

static void forward(net_dns_server *s, const struct net_dns_msg *q, const uint8_t *msg, size_t len,
                    const struct sockaddr_in *from, struct tconn *c, size_t client_max)
{
    if (s->cfg.n_upstreams == 0 || s->n_fwds >= FORWARDS_MAX) {
        send_error(s, q, from, c, NET_DNS_SERVFAIL);
        return;
    }
    struct fwd *f = dd_calloc(1, sizeof(*f));
    do { /* an unpredictable id, so an off-path sender cannot guess it (RFC 5452) */
        if (getrandom(&f->up_id, sizeof(f->up_id), 0) != sizeof(f->up_id))
            f->up_id = (uint16_t)(s->n_fwds * 7919u + (uint16_t)ev_now_ms(s->loop));
    } while (id_in_use(s, f->up_id));
    f->s = s;
    f->q = *q;
    f->conn = c;
    if (!c)
        f->client = *from;
    f->client_max = client_max;
    f->query = dd_malloc(len);
    memcpy(f->query, msg, len);
    f->query[0] = (uint8_t)(f->up_id >> 8), f->query[1] = (uint8_t)f->up_id;
    f->qlen = len;
    f->tcp_fd = -1;
    dd_buf_init(&f->tcp_out);
    dd_buf_init(&f->tcp_in);
    f->timer = ev_timer_add(s->loop, (uint64_t)s->cfg.timeout_ms, 0, fwd_timeout, f);
    f->next = s->fwds;
    s->fwds = f;
    s->n_fwds++;
    fwd_try(f);
}

static void deliver(struct fwd *f, uint8_t *msg, size_t len)
{
    msg[0] = (uint8_t)(f->q.id >> 8), msg[1] = (uint8_t)f->q.id;
    if (f->conn) {
        send_tcp(f->conn, msg, len);
    } else if (f->client.sin_family && len <= f->client_max) {
        send_udp(f->s, &f->client, msg, len);
    } else if (f->client.sin_family) { /* too big for the client: tell it to use TCP */
        dd_buf b = DD_BUF_INIT;
        if (net_dns_encode_error(&f->q, NET_DNS_NOERROR, &b, NULL) == 0) {
            b.data[2] |= NET_DNS_F_TC >> 8;
            send_udp(f->s, &f->client, b.data, b.len);
        }
        dd_buf_release(&b);
    }
}

static void on_fwd_tcp(ev_io *w, int fd, unsigned events, void *data)
{
    struct fwd *f = data;
    if (f->tcp_out.len && (events & (EV_WRITE | EV_HUP))) {
        ssize_t n = send(fd, f->tcp_out.data, f->tcp_out.len, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) { /* includes a refused connect */
            fwd_tcp_fail(f);
            return;
        }
        dd_buf_consume(&f->tcp_out, (size_t)n);
        if (!f->tcp_out.len)
            ev_io_set(w, EV_READ);
        return;
    }
    if (!(events & (EV_READ | EV_HUP)))
        return;
    dd_buf_grow(&f->tcp_in, 4096);
    size_t room = 2 + 65535 - f->tcp_in.len;
    ssize_t n = read(fd, f->tcp_in.data + f->tcp_in.len, room < 4096 ? room : 4096);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        fwd_tcp_fail(f);
        return;
    }
    f->tcp_in.len += (size_t)n;
    if (f->tcp_in.len < 2)
        return;
    uint8_t *b = (uint8_t *)f->tcp_in.data;
    size_t ml = (size_t)(b[0] << 8 | b[1]);
    if (f->tcp_in.len < 2 + ml)
        return;
    struct net_dns_msg m;
    if (net_dns_parse(b + 2, ml, &m, NULL) < 0 || m.id != f->up_id || !(m.flags & NET_DNS_F_QR)) {
        fwd_tcp_fail(f);
        return;
    }
    deliver(f, b + 2, ml);
    fwd_free(f);
}

/* Asks the resolver that answered with TC again over TCP (RFC 7766), for a TCP client. */
static void fwd_retry_tcp(struct fwd *f, const uint8_t *trunc, size_t len)
{
    net_dns_server *s = f->s;
    f->trunc = dd_malloc(len);
    memcpy(f->trunc, trunc, len);
    f->trunc_len = len;
    struct sockaddr_in to = upstream_addr(s, f->upstream);
    f->tcp_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (f->tcp_fd < 0 ||
        (connect(f->tcp_fd, (struct sockaddr *)&to, sizeof(to)) < 0 && errno != EINPROGRESS) ||
        !(f->tcp_io = ev_io_add(s->loop, f->tcp_fd, EV_WRITE, on_fwd_tcp, f, NULL))) {
        fwd_tcp_fail(f);
        return;
    }
    uint8_t hdr[2] = {(uint8_t)(f->qlen >> 8), (uint8_t)f->qlen};
    dd_buf_add(&f->tcp_out, hdr, 2);
    dd_buf_add(&f->tcp_out, f->query, f->qlen);
    ev_timer_reset(f->timer, (uint64_t)s->cfg.timeout_ms);
}

static void on_upstream(ev_io *w, int fd, unsigned events, void *data)
{
    net_dns_server *s = data;
    static uint8_t buf[65536];
    for (int i = 0; i < 64; i++) {
        struct sockaddr_in from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
        if (n < 0)
            return; /* EAGAIN, or an ICMP error for one of the sends: the timer retries */
        struct net_dns_msg m;
        if (n < 12 || net_dns_parse(buf, (size_t)n, &m, NULL) < 0 || !(m.flags & NET_DNS_F_QR))
            continue;
        for (struct fwd *f = s->fwds; f; f = f->next) {
            struct sockaddr_in up = upstream_addr(s, f->upstream);
            if (f->up_id != m.id || from.sin_addr.s_addr != up.sin_addr.s_addr ||
                from.sin_port != up.sin_port || f->tcp_fd >= 0)
                continue;
            if (!m.has_question || m.qtype != f->q.qtype || !net_dns_name_eq(m.qname, f->q.qname))
                break; /* not the answer to our question: keep waiting */
            if ((m.flags & NET_DNS_F_TC) && f->conn) {
                fwd_retry_tcp(f, buf, (size_t)n);
                break;
            }
            deliver(f, buf, (size_t)n);
            fwd_free(f);
            break;
        }
    }
}

/* ---- queries ---- */

static void handle(net_dns_server *s, const uint8_t *msg, size_t len,
                   const struct sockaddr_in *from, struct tconn *c)
{
    struct net_dns_msg q;
    if (len < 12 || msg[2] & (NET_DNS_F_QR >> 8))
        return; /* not a query: answering replies invites loops */
    if (net_dns_parse(msg, len, &q, NULL) < 0) {
        struct net_dns_msg h = {.id = (uint16_t)(msg[0] << 8 | msg[1]),
                                .flags = (uint16_t)(msg[2] << 8 | msg[3])};
        send_error(s, &h, from, c, NET_DNS_FORMERR);
        return;
    }
    if (NET_DNS_F_OPCODE(q.flags) != 0) {
        q.has_question = false;
        send_error(s, &q, from, c, NET_DNS_NOTIMP);
        return;
    }
    if (q.qdcount != 1) {
        q.has_question = false;
        send_error(s, &q, from, c, NET_DNS_FORMERR);
        return;
    }
    if (q.qclass != NET_DNS_CLASS_IN) {
        send_error(s, &q, from, c, NET_DNS_REFUSED);
        return;
    }
    size_t max = c ? 65535 : NET_DNS_UDP_MIN;
    if (!c && q.has_opt && q.udp_size > NET_DNS_UDP_MIN)
        max = q.udp_size < NET_DNS_UDP_MAX ? q.udp_size : NET_DNS_UDP_MAX;
    struct net_dns_reply r;
    net_dns_reply_init(&r);
    if (s->cfg.lookup(s->cfg.ud, &q, &r) == NET_DNS_FORWARD) {
        forward(s, &q, msg, len, from, c, max);
    } else {
        dd_buf b = DD_BUF_INIT;
        if (net_dns_encode(&q, &r, max, &b, NULL) == 0)
            send_reply(s, from, c, &b);
        else
            send_error(s, &q, from, c, NET_DNS_SERVFAIL);
        dd_buf_release(&b);
    }
    net_dns_reply_release(&r);
}

static void on_udp(ev_io *w, int fd, unsigned events, void *data)
{
    net_dns_server *s = data;
    static uint8_t buf[65536];
    for (int i = 0; i < 64; i++) { /* bounded: TCP and timers get their turn */
        struct sockaddr_in from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
        if (n < 0)
            return;
        if (fl == sizeof(from) && from.sin_family == AF_INET)
            handle(s, buf, (size_t)n, &from, NULL);
    }
}

/* ---- TCP connections ---- */

static void conn_free_deferred(void *data)
{
    struct tconn *c = data;
    dd_buf_release(&c->in);
    dd_buf_release(&c->out);
    free(c);
}

static void conn_close(struct tconn *c)
{
    if (c->fd < 0)
        return;
    net_dns_server *s = c->s;
    for (struct tconn **pp = &s->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    s->n_conns--;
    for (struct fwd *f = s->fwds; f; f = f->next)
        if (f->conn == c)
            f->conn = NULL; /* its answer has nowhere to go */
    ev_io_del(c->io);
    ev_timer_del(c->idle);
    close(c->fd);
    c->fd = -1;
    ev_defer(s->loop, conn_free_deferred, c);
}

static void on_idle(ev_timer *t, void *data)
{
    conn_close(data);
}

static void conn_read(struct tconn *c)
{
    for (;;) {
        dd_buf_grow(&c->in, 4096);
        ssize_t n = read(c->fd, c->in.data + c->in.len, 4096);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            conn_close(c);
            return;
        }
        c->in.len += (size_t)n;
        ev_timer_reset(c->idle, TCP_IDLE_MS);
        while (c->in.len >= 2 && c->fd >= 0) {
            size_t ml = (size_t)((uint8_t)c->in.data[0] << 8 | (uint8_t)c->in.data[1]);
            if (ml < 12) {
                conn_close(c);
                return;
            }
            if (c->in.len < 2 + ml)
                break;
            handle(c->s, (const uint8_t *)c->in.data + 2, ml, NULL, c);
            if (c->fd < 0)
                return;
            dd_buf_consume(&c->in, 2 + ml);
        }
        if (c->fd < 0)
            return;
    }
}

static void on_conn(ev_io *w, int fd, unsigned events, void *data)
{
    struct tconn *c = data;
    if (events & (EV_READ | EV_HUP))
        conn_read(c);
    if (c->fd >= 0 && (events & EV_WRITE))
        conn_flush(c);
}

static void on_accept(ev_io *w, int fd, unsigned events, void *data)
{
    net_dns_server *s = data;
    for (int i = 0; i < 16; i++) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
            return;
        if (s->n_conns >= TCP_CONNS_MAX) {
            close(cfd);
            continue;
        }
        struct tconn *c = dd_calloc(1, sizeof(*c));
        c->s = s;
        c->fd = cfd;
        dd_buf_init(&c->in);
        dd_buf_init(&c->out);
        c->io = ev_io_add(s->loop, cfd, EV_READ, on_conn, c, NULL);
        if (!c->io) {
            close(cfd);
            free(c);
            continue;
        }
        c->idle = ev_timer_add(s->loop, TCP_IDLE_MS, 0, on_idle, c);
        c->next = s->conns;
        s->conns = c;
        s->n_conns++;
    }
}

/* ---- lifecycle ---- */

static int open_socket(int type, uint32_t addr, uint16_t port, uint16_t *ret_port, dd_err *e)
{
    _cleanup_close_ int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return dd_err_sys(e, "creating a socket");
    int one = 1;
    /* the address may not be on a link yet, and a restarted server rebinds at once */
    setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(addr)};
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return dd_err_sys(e, "binding %s %s:%u", type == SOCK_STREAM ? "TCP" : "UDP", ip, port);
    if (type == SOCK_STREAM && listen(fd, 64) < 0)
        return dd_err_sys(e, "listening on %s:%u", ip, port);
    if (ret_port) {
        socklen_t sl = sizeof(sa);
        getsockname(fd, (struct sockaddr *)&sa, &sl);
        *ret_port = ntohs(sa.sin_port);
    }
    return TAKE_FD(fd);
}

int net_dns_server_start(ev_loop *loop, const struct net_dns_server_cfg *cfg, net_dns_server **ret,
                         dd_err *e)
{
    net_dns_server *s = dd_calloc(1, sizeof(*s));
    s->loop = loop;
    s->cfg = *cfg;
    if (s->cfg.timeout_ms <= 0)
        s->cfg.timeout_ms = DEFAULT_TIMEOUT_MS;
    s->cfg.upstreams = dd_calloc(cfg->n_upstreams + 1, sizeof(uint32_t));
    if (cfg->n_upstreams)
        memcpy(s->cfg.upstreams, cfg->upstreams, cfg->n_upstreams * sizeof(uint32_t));
    s->udp_fd = s->tcp_fd = s->up_fd = -1;
    int r;
    if ((r = s->udp_fd = open_socket(SOCK_DGRAM, cfg->addr, cfg->port, &s->port, e)) < 0 ||
        (r = s->tcp_fd = open_socket(SOCK_STREAM, cfg->addr, s->port, NULL, e)) < 0 ||
        (r = s->up_fd = open_socket(SOCK_DGRAM, INADDR_ANY, 0, NULL, e)) < 0)
        goto fail;
    if (!(s->udp_io = ev_io_add(loop, s->udp_fd, EV_READ, on_udp, s, e)) ||
        !(s->tcp_io = ev_io_add(loop, s->tcp_fd, EV_READ, on_accept, s, e)) ||
        !(s->up_io = ev_io_add(loop, s->up_fd, EV_READ, on_upstream, s, e))) {
        r = -EIO;
        goto fail;
    }
    *ret = s;
    return 0;
fail:
    net_dns_server_free(s);
    return dd_err_wrap(e, "starting the DNS server");
}

uint16_t net_dns_server_port(const net_dns_server *s)
{
    return s->port;
}

void net_dns_server_free(net_dns_server *s)
{
    if (!s)
        return;
    while (s->conns)
        conn_close(s->conns);
    while (s->fwds)
        fwd_free(s->fwds);
    ev_io_del(s->udp_io);
    ev_io_del(s->tcp_io);
    ev_io_del(s->up_io);
    if (s->udp_fd >= 0)
        close(s->udp_fd);
    if (s->tcp_fd >= 0)
        close(s->tcp_fd);
    if (s->up_fd >= 0)
        close(s->up_fd);
    free(s->cfg.upstreams);
    free(s);
}
