/* spdy-conn.c: a SPDY session on an upgraded HTTP connection, for exec/attach and port-forward.
 * It negotiates X-Stream-Protocol-Version as upstream's httpstream.Handshake does, answers the
 * 101 (Upgrade: SPDY/3.1, or a WebSocket whose binary messages carry the SPDY bytes for kubectl
 * 1.31+'s tunnelled port-forward), feeds the received bytes to the libdind spdy_session and
 * writes its frames back, and hands streams, data, FINs and resets to its owner. On a protocol
 * error, a GOAWAY from the client or a disconnect the owner hears on_close once.
 */
#include <strings.h>

#include "k3core/stream/stream-internal.h"

struct kspdy {
    ev_loop *loop;
    http_raw *raw;
    spdy_session *s;
    ws_reader rd;
    bool ws, closed, gone;
    kspdy_ops ops;
    void *ud;
};

const char *kspdy_negotiate(const http_req *req, const char *const *supported)
{
    const char *name, *value;
    for (size_t i = 0; http_req_header_at(req, i, &name, &value); i++) {
        if (strcasecmp(name, "X-Stream-Protocol-Version"))
            continue;
        /* the client's order wins: check each of its tokens in turn */
        for (const char *p = value; *p;) {
            p += strspn(p, " \t,");
            size_t len = strcspn(p, ", \t");
            for (size_t k = 0; len && supported[k]; k++)
                if (strlen(supported[k]) == len && !strncmp(p, supported[k], len))
                    return supported[k];
            p += len;
        }
    }
    return NULL;
}

int kspdy_negotiate_fail(const http_req *req, const char *const *supported, kobj_status *st)
{
    dd_buf c = DD_BUF_INIT, s = DD_BUF_INIT;
    const char *name, *value;
    for (size_t i = 0; http_req_header_at(req, i, &name, &value); i++)
        if (!strcasecmp(name, "X-Stream-Protocol-Version"))
            dd_buf_addf(&c, "%s%s", c.len ? " " : "", value);
    for (size_t k = 0; supported[k]; k++)
        dd_buf_addf(&s, "%s%s", k ? " " : "", supported[k]);
    int r = c.len ? kobj_fail(st, 403, "Forbidden",
                              "unable to upgrade: unable to negotiate protocol: client supports "
                              "[%s], server accepts [%s]",
                              c.data, s.data)
                  : kobj_fail(st, 400, "BadRequest",
                              "unable to upgrade: X-Stream-Protocol-Version is required");
    dd_buf_release(&c);
    dd_buf_release(&s);
    return r;
}

static int conn_write(void *ud, const void *d, size_t n)
{
    struct kspdy *c = ud;
    if (c->gone)
        return -EPIPE;
    if (!c->ws)
        return http_raw_write(c->raw, d, n);
    dd_buf b = DD_BUF_INIT;
    ws_frame_add(&b, WS_BINARY, d, n);
    int r = http_raw_write(c->raw, b.data, b.len);
    dd_buf_release(&b);
    return r;
}

static void s_stream(spdy_session *s, uint32_t id, const spdy_headers *h, bool fin, void *ud)
{
    (void)s, (void)fin;
    struct kspdy *c = ud;
    if (!c->closed && c->ops.on_stream)
        c->ops.on_stream(c, id, h, c->ud);
}

static void s_data(spdy_session *s, uint32_t id, const uint8_t *d, size_t n, void *ud)
{
    (void)s;
    struct kspdy *c = ud;
    if (!c->closed && c->ops.on_data)
        c->ops.on_data(c, id, d, n, c->ud);
}

static void s_fin(spdy_session *s, uint32_t id, void *ud)
{
    (void)s;
    struct kspdy *c = ud;
    if (!c->closed && c->ops.on_fin)
        c->ops.on_fin(c, id, c->ud);
}

static void s_reset(spdy_session *s, uint32_t id, uint32_t status, void *ud)
{
    (void)s, (void)status;
    struct kspdy *c = ud;
    if (!c->closed && c->ops.on_reset)
        c->ops.on_reset(c, id, c->ud);
}

static void lost(struct kspdy *c)
{
    if (c->gone)
        return;
    c->gone = true;
    if (!c->closed && c->ops.on_close)
        c->ops.on_close(c, c->ud);
}

static void s_goaway(spdy_session *s, uint32_t status, void *ud)
{
    (void)s, (void)status;
    lost(ud);
}

static void s_writable(spdy_session *s, void *ud)
{
    (void)s;
    struct kspdy *c = ud;
    if (!c->closed && !c->gone && c->ops.on_drain)
        c->ops.on_drain(c, c->ud);
}

static const spdy_callbacks session_cb = {conn_write, s_stream, s_data,    s_fin,
                                          s_reset,    s_goaway, s_writable};

static void feed(struct kspdy *c, const void *d, size_t n)
{
    dd_err e = {0};
    if (spdy_session_feed(c->s, d, n, &e) < 0) {
        dd_debug("spdy: %s", e.msg);
        lost(c);
    }
}

static void on_raw_data(http_raw *raw, const char *data, size_t len, void *ud)
{
    (void)raw;
    struct kspdy *c = ud;
    if (!c->ws) {
        feed(c, data, len);
        return;
    }
    ws_reader_feed(&c->rd, data, len);
    struct ws_msg m;
    dd_err e = {0};
    int r = 0;
    while (!c->gone && !c->closed && (r = ws_reader_next(&c->rd, &m, &e)) == 1) {
        if (m.opcode == WS_PING) {
            dd_buf b = DD_BUF_INIT;
            ws_frame_add(&b, WS_PONG, m.data, m.len);
            http_raw_write(c->raw, b.data, b.len);
            dd_buf_release(&b);
        } else if (m.opcode == WS_CLOSE) {
            lost(c);
        } else if (m.opcode == WS_BINARY) {
            feed(c, m.data, m.len);
        } else if (m.opcode == WS_TEXT) {
            lost(c); /* the tunnel carries binary messages only, as client-go checks too */
        }
    }
    if (r < 0)
        lost(c);
}

static void on_raw_eof(http_raw *raw, void *ud)
{
    (void)raw;
    lost(ud);
}

static void on_raw_drain(http_raw *raw, void *ud)
{
    (void)raw;
    struct kspdy *c = ud;
    if (!c->closed && !c->gone && c->ops.on_drain)
        c->ops.on_drain(c, c->ud);
}

static void on_raw_close(http_raw *raw, void *ud)
{
    (void)raw;
    lost(ud);
}

static const http_raw_ops raw_ops = {on_raw_data, on_raw_eof, on_raw_drain, on_raw_close};

struct kspdy *kspdy_upgrade(ev_loop *loop, http_req *req, const char *protocol,
                            const char *ws_protocol, const kspdy_ops *ops, void *ud, dd_err *e)
{
    struct kspdy *c = dd_calloc(1, sizeof(*c));
    c->loop = loop;
    c->ops = *ops;
    c->ud = ud;
    c->ws = ws_protocol != NULL;
    ws_reader_init(&c->rd, true);
    c->s = spdy_session_new(&session_cb, c, e);
    if (c->s && c->ws) {
        c->raw = ws_upgrade(req, ws_protocol, &raw_ops, c, e);
    } else if (c->s) {
        _cleanup_free_ char *ver = dd_asprintf("X-Stream-Protocol-Version: %s", protocol);
        const char *headers[] = {"Connection: Upgrade", "Upgrade: SPDY/3.1", ver, NULL};
        c->raw = http_upgrade(req, headers, &raw_ops, c);
    }
    if (!c->raw) {
        spdy_session_free(c->s);
        ws_reader_release(&c->rd);
        free(c);
        return NULL;
    }
    return c;
}

spdy_session *kspdy_session(struct kspdy *c)
{
    return c->s;
}

void kspdy_pause(struct kspdy *c, bool paused)
{
    if (!c->closed)
        http_raw_pause(c->raw, paused);
}

static void kspdy_free(void *data)
{
    struct kspdy *c = data;
    spdy_session_free(c->s);
    ws_reader_release(&c->rd);
    free(c);
}

void kspdy_close(struct kspdy *c)
{
    if (!c || c->closed)
        return;
    c->closed = true;
    if (!c->gone) {
        spdy_goaway(c->s, 0);
        if (c->ws) {
            dd_buf b = DD_BUF_INIT;
            ws_close_add(&b, 1000, "");
            http_raw_write(c->raw, b.data, b.len);
            dd_buf_release(&b);
        }
    }
    c->gone = true;
    http_raw_close(c->raw);
    ev_defer(c->loop, kspdy_free, c);
}
