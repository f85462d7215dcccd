/* portforward.c: pods/portforward over WebSocket v4.channel.k8s.io, as python-kubernetes speaks
 * it (SPDY and SPDY tunnelled in WebSocket are in portforward-spdy.c; the request is routed at the
 * bottom of this file): `?ports=80,443`, port i uses channel 2i for data and 2i+1 for errors, and
 * right after the upgrade the server sends the port number (2 bytes, little endian) on both
 * channels of every port. Each port's TCP connection to 127.0.0.1:<port> is opened inside the pod's
 * network namespace by a short-lived thread that setns()es and returns the connected socket, so the
 * server's own threads never leave their namespace. The session ends when every connection
 * has closed or the client leaves.
 */
#include <ctype.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include "k3core/stream/stream-internal.h"

#define KPF_MAX_PORTS 16

struct kpf_conn {
    struct kpf *pf;
    int fd;
    ev_io *w;
    unsigned port;
    dd_buf out; /* toward the pod, not yet accepted by its socket */
};

struct kpf {
    ev_loop *loop;
    http_raw *raw;
    ws_reader rd;
    struct kpf_conn c[KPF_MAX_PORTS];
    size_t n, open;
    bool finished, out_full, in_paused; /* toward the client / from the client */
};

#define KPF_PENDING_HIGH (1u << 20)
#define KPF_PENDING_LOW  (256u * 1024)

struct dial {
    const char *netns;
    unsigned port;
    int fd, err;
};

static void *dial_thread(void *data)
{
    struct dial *d = data;
    int ns = open(d->netns, O_RDONLY | O_CLOEXEC);
    if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
        d->err = errno;
        if (ns >= 0)
            close(ns);
        return NULL;
    }
    close(ns);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)d->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        d->err = errno;
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    d->fd = fd;
    return NULL;
}

/* The thread exits after the connect. */
int kstream_dial(const char *netns, unsigned port)
{
    struct dial d = {.netns = netns, .port = port, .fd = -1};
    pthread_t t;
    if (pthread_create(&t, NULL, dial_thread, &d) != 0)
        return -EAGAIN;
    pthread_join(t, NULL);
    return d.fd >= 0 ? d.fd : -d.err;
}

static void send_ch(struct kpf *pf, unsigned ch, const void *d, size_t n)
{
    dd_buf b = DD_BUF_INIT;
    ws_frame_add_prefixed(&b, WS_BINARY, (uint8_t)ch, d, n);
    if (http_raw_write(pf->raw, b.data, b.len) == 1) {
        pf->out_full = true;
        for (size_t i = 0; i < pf->n; i++)
            if (pf->c[i].w)
                ev_io_set(pf->c[i].w, pf->c[i].out.len ? EV_WRITE : 0);
    }
    dd_buf_release(&b);
}

static void kpf_free(void *data)
{
    struct kpf *pf = data;
    ws_reader_release(&pf->rd);
    for (size_t i = 0; i < pf->n; i++)
        dd_buf_release(&pf->c[i].out);
    free(pf);
}

static void conn_close(struct kpf_conn *c)
{
    if (c->w)
        ev_io_del(c->w);
    c->w = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    dd_buf_reset(&c->out);
}

static void finish(struct kpf *pf)
{
    if (pf->finished)
        return;
    pf->finished = true;
    for (size_t i = 0; i < pf->n; i++)
        conn_close(&pf->c[i]);
    if (pf->raw) {
        dd_buf b = DD_BUF_INIT;
        ws_close_add(&b, 1000, "");
        http_raw_write(pf->raw, b.data, b.len);
        dd_buf_release(&b);
        http_raw_close(pf->raw);
    }
    ev_defer(pf->loop, kpf_free, pf);
}

static void pause_check(struct kpf *pf);

/* Writes what the pod's socket accepts; the client is paused while too much is pending. */
static void conn_flush(struct kpf_conn *c)
{
    struct kpf *pf = c->pf;
    while (c->out.len && c->fd >= 0) {
        ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            dd_buf_reset(&c->out);
            break;
        }
        dd_buf_consume(&c->out, (size_t)n);
    }
    if (c->w)
        ev_io_set(c->w, (pf->out_full ? 0 : EV_READ) | (c->out.len ? EV_WRITE : 0));
    pause_check(pf);
}

static void pause_check(struct kpf *pf)
{
    size_t pending = 0;
    for (size_t i = 0; i < pf->n; i++)
        pending += pf->c[i].out.len;
    bool pause = pending > KPF_PENDING_HIGH || (pf->in_paused && pending > KPF_PENDING_LOW);
    if (pause != pf->in_paused && pf->raw && !pf->finished) {
        pf->in_paused = pause;
        http_raw_pause(pf->raw, pause);
    }
}

static void on_sock(ev_io *w, int fd, unsigned events, void *data)
{
    (void)w;
    struct kpf_conn *c = data;
    if (events & EV_WRITE)
        conn_flush(c);
    if (!(events & (EV_READ | EV_HUP)) || c->fd < 0)
        return;
    char buf[32768];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EAGAIN)
        return;
    if (n > 0) {
        send_ch(c->pf, (unsigned)(c - c->pf->c) * 2, buf, (size_t)n);
        return;
    }
    conn_close(c);
    pause_check(c->pf);
    if (--c->pf->open == 0)
        finish(c->pf);
}

static void on_msg(struct kpf *pf, const uint8_t *d, size_t n)
{
    if (n < 1 || d[0] % 2 || d[0] / 2 >= pf->n)
        return;
    struct kpf_conn *c = &pf->c[d[0] / 2];
    if (c->fd >= 0 && n > 1) {
        dd_buf_add(&c->out, d + 1, n - 1);
        conn_flush(c);
    }
}

static void on_data(http_raw *raw, const char *data, size_t len, void *ud)
{
    (void)raw;
    struct kpf *pf = ud;
    ws_reader_feed(&pf->rd, data, len);
    struct ws_msg m;
    dd_err e = {0};
    int r;
    while (!pf->finished && (r = ws_reader_next(&pf->rd, &m, &e)) == 1) {
        if (m.opcode == WS_PING) {
            dd_buf b = DD_BUF_INIT;
            ws_frame_add(&b, WS_PONG, m.data, m.len);
            http_raw_write(pf->raw, b.data, b.len);
            dd_buf_release(&b);
        } else if (m.opcode == WS_CLOSE) {
            finish(pf);
        } else {
            on_msg(pf, m.data, m.len);
        }
    }
    if (!pf->finished && r < 0)
        finish(pf);
}

static void on_eof(http_raw *raw, void *ud)
{
    (void)raw;
    finish(ud);
}

static void on_drain(http_raw *raw, void *ud)
{
    (void)raw;
    struct kpf *pf = ud;
    pf->out_full = false;
    for (size_t i = 0; i < pf->n; i++)
        if (pf->c[i].w)
            ev_io_set(pf->c[i].w, EV_READ | (pf->c[i].out.len ? EV_WRITE : 0));
}

static void on_close(http_raw *raw, void *ud)
{
    (void)raw;
    finish(ud);
}

static const http_raw_ops ops = {on_data, on_eof, on_drain, on_close};

static int parse_ports(http_req *req, struct kpf *pf, kobj_status *st)
{
    _cleanup_strv_free_ char **vals = http_req_query_all(req, "ports");
    for (size_t i = 0; vals[i]; i++)
        for (char *save = NULL, *t = strtok_r(vals[i], ",", &save); t;
             t = strtok_r(NULL, ",", &save)) {
            int64_t p;
            if (dd_parse_int64(t, &p) < 0 || p < 1 || p > 65535)
                return kobj_fail(st, 400, "BadRequest", "invalid port value: %s", t);
            if (pf->n == KPF_MAX_PORTS)
                return kobj_fail(st, 400, "BadRequest", "too many ports");
            pf->c[pf->n++] = (struct kpf_conn){.pf = pf, .fd = -1, .port = (unsigned)p};
        }
    if (!pf->n)
        return kobj_fail(st, 400, "BadRequest", "query parameter \"ports\" is required");
    return 0;
}

/* Dials every port; a refused one gets its error text on its error channel. */
size_t kstream_dial_error(char *out, size_t size, unsigned port, const char *pod, int err)
{
    char reason[128];
    snprintf(reason, sizeof(reason), "%s", strerror(err));
    reason[0] = (char)tolower((unsigned char)reason[0]); /* Go's wording: "connection refused" */
    int k = snprintf(out, size,
                     "error forwarding port %u to pod %s, uid : failed to connect to localhost:%u "
                     "inside namespace of pod %s: dial tcp4 127.0.0.1:%u: connect: %s",
                     port, pod, port, pod, port, reason);
    return k < 0 ? 0 : (size_t)k < size ? (size_t)k : size - 1;
}

static void open_ports(struct kpf *pf, const char *netns, const char *pod)
{
    for (size_t i = 0; i < pf->n; i++) {
        struct kpf_conn *c = &pf->c[i];
        uint8_t le[2] = {(uint8_t)c->port, (uint8_t)(c->port >> 8)};
        send_ch(pf, (unsigned)i * 2, le, 2);
        send_ch(pf, (unsigned)i * 2 + 1, le, 2);
        int fd = kstream_dial(netns, c->port);
        if (fd < 0) {
            char msg[512];
            size_t k = kstream_dial_error(msg, sizeof(msg), c->port, pod, -fd);
            send_ch(pf, (unsigned)i * 2 + 1, msg, k);
            continue;
        }
        dd_set_nonblock(fd, true);
        c->fd = fd;
        c->w = ev_io_add(pf->loop, fd, EV_READ, on_sock, c, NULL);
        pf->open++;
    }
    if (!pf->open)
        finish(pf);
}

int kstream_portforward_serve(ev_loop *loop, http_req *req, const char *netns, const char *pod,
                              kobj_status *st)
{
    static const char *const spdy_protos[] = {"portforward.k8s.io", NULL};
    static const char *const protos[] = {"v4.channel.k8s.io", "SPDY/3.1+portforward.k8s.io", NULL};
    if (http_req_wants_upgrade(req, "SPDY/3.1")) {
        if (!kspdy_negotiate(req, spdy_protos))
            return kspdy_negotiate_fail(req, spdy_protos, st);
        return kstream_portforward_spdy(loop, req, netns, pod, NULL, st);
    }
    const char *proto = ws_pick_protocol(req, protos);
    if (!http_req_wants_upgrade(req, "websocket") || !proto)
        return kobj_fail(st, 400, "BadRequest",
                         "upgrade request required: port-forward is served over SPDY/3.1 "
                         "(portforward.k8s.io, also tunnelled in WebSocket) and WebSocket "
                         "v4.channel.k8s.io");
    if (proto == protos[1])
        return kstream_portforward_spdy(loop, req, netns, pod, proto, st);
    struct kpf *pf = calloc(1, sizeof(*pf));
    pf->loop = loop;
    ws_reader_init(&pf->rd, true);
    if (parse_ports(req, pf, st) < 0) {
        kpf_free(pf);
        return -EINVAL;
    }
    dd_err e = {0};
    pf->raw = ws_upgrade(req, proto, &ops, pf, &e);
    if (!pf->raw) {
        kpf_free(pf);
        return kobj_fail(st, 400, "BadRequest", "%s", e.msg);
    }
    open_ports(pf, netns, pod);
    return 0;
}
