/* portforward-spdy.c: pods/portforward over SPDY/3.1 (portforward.k8s.io), the protocol kubectl
 * port-forward speaks: raw after "Upgrade: SPDY/3.1" (kubectl <= 1.30) or tunnelled in WebSocket
 * binary messages (kubectl 1.31+). Each forwarded connection is a pair of client streams, an
 * error stream and a data stream, carrying the same `port` and `requestID` headers (old clients
 * without requestID get kubelet's fallback: the error stream's id, the data stream's id - 2).
 * When a pair is complete, a TCP connection to 127.0.0.1:port is opened inside the pod's network
 * namespace and bytes flow between it and the data stream, both ways, with backpressure. A dial
 * failure is written on the error stream in kubelet's words, then both streams are closed; the
 * session itself stays up for the next connection. When the pod side closes, the data stream gets
 * its FIN and the error stream its (empty) end. A pair still incomplete after 30 s is dropped
 * with kubelet's "timed out waiting for streams".
 */
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "k3core/stream/stream-internal.h"

#define KPFS_STREAM_TIMEOUT_MS 30000
#define KPFS_PENDING_HIGH      (1u << 20)
#define KPFS_PENDING_LOW       (256u * 1024)

struct kpfs_pair {
    struct kpfs *pf;
    char *reqid;
    uint32_t err_id, data_id;
    unsigned port;
    int fd;
    ev_io *w;
    ev_timer *timer; /* until both streams of the pair exist */
    dd_buf out;      /* toward the pod */
    bool peer_fin, shut;
};

struct kpfs {
    ev_loop *loop;
    struct kspdy *c;
    char *netns, *pod;
    struct kpfs_pair **p;
    size_t n;
    bool paused, finished; /* paused: toward the client */
    bool in_paused;        /* from the client */
};

static void pair_free(void *data)
{
    struct kpfs_pair *p = data;
    dd_buf_release(&p->out);
    free(p->reqid);
    free(p);
}

static void pause_client(struct kpfs *pf);

/* Closes the pod connection, ends both streams and forgets the pair. */
static void pair_end(struct kpfs_pair *p)
{
    struct kpfs *pf = p->pf;
    ev_io_del(p->w);
    p->w = NULL;
    ev_timer_del(p->timer);
    p->timer = NULL;
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    if (!pf->finished) {
        spdy_session *s = kspdy_session(pf->c);
        if (p->data_id && spdy_stream_open(s, p->data_id))
            spdy_data(s, p->data_id, NULL, 0, true);
        if (p->err_id && spdy_stream_open(s, p->err_id))
            spdy_data(s, p->err_id, NULL, 0, true);
    }
    for (size_t i = 0; i < pf->n; i++)
        if (pf->p[i] == p) {
            pf->p[i] = pf->p[--pf->n];
            break;
        }
    ev_defer(pf->loop, pair_free, p);
    pause_client(pf); /* its pending bytes are gone */
}

static void kpfs_free(void *data)
{
    struct kpfs *pf = data;
    free(pf->p);
    free(pf->netns);
    free(pf->pod);
    free(pf);
}

static void finish(struct kpfs *pf)
{
    if (pf->finished)
        return;
    pf->finished = true;
    while (pf->n)
        pair_end(pf->p[0]);
    kspdy_close(pf->c);
    ev_defer(pf->loop, kpfs_free, pf);
}

static void update_interest(struct kpfs_pair *p)
{
    if (p->w)
        ev_io_set(p->w, (p->pf->paused ? 0 : EV_READ) | (p->out.len ? EV_WRITE : 0));
}

/* Stops reading the client while the pods are slow to take what it sends. */
static void pause_client(struct kpfs *pf)
{
    size_t pending = 0;
    for (size_t i = 0; i < pf->n; i++)
        pending += pf->p[i]->out.len;
    bool pause = pending > KPFS_PENDING_HIGH || (pf->in_paused && pending > KPFS_PENDING_LOW);
    if (pause != pf->in_paused && !pf->finished) {
        pf->in_paused = pause;
        kspdy_pause(pf->c, pause);
    }
}

static void flush_out(struct kpfs_pair *p)
{
    while (p->out.len) {
        ssize_t n = send(p->fd, p->out.data, p->out.len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            dd_buf_reset(&p->out);
            break;
        }
        dd_buf_consume(&p->out, (size_t)n);
    }
    if (!p->out.len && p->peer_fin && !p->shut) {
        shutdown(p->fd, SHUT_WR);
        p->shut = true;
    }
    update_interest(p);
    pause_client(p->pf);
}

static void on_sock(ev_io *w, int fd, unsigned events, void *data)
{
    (void)w;
    struct kpfs_pair *p = data;
    struct kpfs *pf = p->pf;
    if (events & EV_WRITE)
        flush_out(p);
    /* while paused only a hung-up socket is read: epoll keeps reporting it */
    if (!(events & (EV_READ | EV_HUP)) || (pf->paused && !(events & EV_HUP)))
        return;
    char buf[32768];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        pair_end(p);
        return;
    }
    int r = spdy_data(kspdy_session(pf->c), p->data_id, buf, (size_t)n, false);
    if (r < 0 && r != -EPIPE)
        return;
    if (r == -EPIPE) { /* the client reset the data stream */
        pair_end(p);
    } else if (r == 1) {
        pf->paused = true;
        for (size_t i = 0; i < pf->n; i++)
            update_interest(pf->p[i]);
    }
}

static void dial_failed(struct kpfs_pair *p, int err)
{
    char msg[512];
    size_t k = kstream_dial_error(msg, sizeof(msg), p->port, p->pf->pod, err);
    spdy_data(kspdy_session(p->pf->c), p->err_id, msg, k, false);
    pair_end(p);
}

static void pair_connect(struct kpfs_pair *p)
{
    struct kpfs *pf = p->pf;
    int fd = kstream_dial(pf->netns, p->port);
    if (fd < 0) {
        dial_failed(p, -fd);
        return;
    }
    dd_set_nonblock(fd, true);
    p->fd = fd;
    dd_err e = {0};
    p->w = ev_io_add(pf->loop, fd, pf->paused ? 0 : EV_READ, on_sock, p, &e);
    if (!p->w)
        pair_end(p);
}

static void on_pair_timeout(ev_timer *t, void *data)
{
    (void)t;
    struct kpfs_pair *p = data;
    char msg[160];
    int k = snprintf(msg, sizeof(msg), "(conn=%p, request=%s) timed out waiting for streams",
                     (void *)p->pf, p->reqid);
    if (p->err_id)
        spdy_data(kspdy_session(p->pf->c), p->err_id, msg, (size_t)k, false);
    pair_end(p);
}

static struct kpfs_pair *pair_get(struct kpfs *pf, const char *reqid, unsigned port)
{
    for (size_t i = 0; i < pf->n; i++)
        if (!strcmp(pf->p[i]->reqid, reqid))
            return pf->p[i];
    struct kpfs_pair *p = dd_calloc(1, sizeof(*p));
    p->pf = pf;
    p->reqid = dd_strdup(reqid);
    p->port = port;
    p->fd = -1;
    p->timer = ev_timer_add(pf->loop, KPFS_STREAM_TIMEOUT_MS, 0, on_pair_timeout, p);
    dd_buf_init(&p->out);
    pf->p = dd_realloc(pf->p, (pf->n + 1) * sizeof(*pf->p));
    pf->p[pf->n++] = p;
    return p;
}

static struct kpfs_pair *pair_by_stream(struct kpfs *pf, uint32_t id)
{
    for (size_t i = 0; i < pf->n; i++)
        if (pf->p[i]->data_id == id || pf->p[i]->err_id == id)
            return pf->p[i];
    return NULL;
}

static void on_stream(struct kspdy *c, uint32_t id, const spdy_headers *h, void *ud)
{
    struct kpfs *pf = ud;
    spdy_session *s = kspdy_session(c);
    const char *port_s = spdy_headers_get(h, "port");
    const char *type = spdy_headers_get(h, "streamtype");
    const char *reqid = spdy_headers_get(h, "requestid");
    int64_t port;
    bool is_err = dd_streq(type, "error"), is_data = dd_streq(type, "data");
    if (!port_s || dd_parse_int64(port_s, &port) < 0 || port < 1 || port > 65535 ||
        (!is_err && !is_data)) {
        spdy_rst(s, id, SPDY_PROTOCOL_ERROR); /* kubelet rejects such a stream too */
        return;
    }
    char derived[16];
    if (!reqid || !reqid[0]) {
        snprintf(derived, sizeof(derived), "%u", is_err ? id : id - 2);
        reqid = derived;
    }
    struct kpfs_pair *p = pair_get(pf, reqid, (unsigned)port);
    if ((is_err && p->err_id) || (is_data && p->data_id)) {
        spdy_rst(s, id, SPDY_PROTOCOL_ERROR);
        return;
    }
    *(is_err ? &p->err_id : &p->data_id) = id;
    spdy_syn_reply(s, id, NULL, false);
    if (p->err_id && p->data_id) {
        ev_timer_del(p->timer);
        p->timer = NULL;
        pair_connect(p);
    }
}

static void on_data(struct kspdy *c, uint32_t id, const uint8_t *d, size_t n, void *ud)
{
    (void)c;
    struct kpfs_pair *p = pair_by_stream(ud, id);
    if (!p || id != p->data_id || p->fd < 0)
        return;
    dd_buf_add(&p->out, d, n);
    flush_out(p);
}

static void on_fin(struct kspdy *c, uint32_t id, void *ud)
{
    (void)c;
    struct kpfs_pair *p = pair_by_stream(ud, id);
    if (!p || id != p->data_id)
        return;
    p->peer_fin = true;
    if (p->fd >= 0)
        flush_out(p);
}

static void on_reset(struct kspdy *c, uint32_t id, void *ud)
{
    (void)c;
    struct kpfs_pair *p = pair_by_stream(ud, id);
    if (p && id == p->data_id)
        pair_end(p);
}

static void on_drain(struct kspdy *c, void *ud)
{
    (void)c;
    struct kpfs *pf = ud;
    pf->paused = false;
    for (size_t i = 0; i < pf->n; i++)
        update_interest(pf->p[i]);
}

static void on_close(struct kspdy *c, void *ud)
{
    (void)c;
    finish(ud);
}

static const kspdy_ops ops = {on_stream, on_data, on_fin, on_reset, on_drain, on_close};

int kstream_portforward_spdy(ev_loop *loop, http_req *req, const char *netns, const char *pod,
                             const char *ws_protocol, kobj_status *st)
{
    struct kpfs *pf = dd_calloc(1, sizeof(*pf));
    pf->loop = loop;
    pf->netns = dd_strdup(netns);
    pf->pod = dd_strdup(pod);
    dd_err e = {0};
    pf->c = kspdy_upgrade(loop, req, "portforward.k8s.io", ws_protocol, &ops, pf, &e);
    if (!pf->c) {
        kpfs_free(pf);
        return kobj_fail(st, 400, "BadRequest", "%s", e.msg);
    }
    return 0;
}
