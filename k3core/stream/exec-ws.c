/* exec-ws.c: exec and attach over WebSocket with Kubernetes' channel protocols
 * (v5.channel.k8s.io, v4.channel.k8s.io). After the 101, every message carries a channel byte:
 * 0 stdin, 1 stdout, 2 stderr, 3 the final Status, 4 resize JSON, 255 close (v5: [255, 0] ends
 * stdin). The process side is the exec core (exec.c); this file only maps channels. The session
 * ends after the process has exited and its output has been sent: Status on channel 3, then a
 * close frame. Pings are answered so client-go's read deadline never fires.
 */
#include "k3core/stream/stream-internal.h"

struct kexws {
    ev_loop *loop;
    http_raw *raw;
    ws_reader rd;
    struct kexec *k;
    bool finished;
};

static int send_frame(struct kexws *x, unsigned ch, const void *d, size_t n)
{
    dd_buf b = DD_BUF_INIT;
    ws_frame_add_prefixed(&b, WS_BINARY, (uint8_t)ch, d, n);
    int r = http_raw_write(x->raw, b.data, b.len);
    dd_buf_release(&b);
    return r;
}

static void free_kexws(void *data)
{
    struct kexws *x = data;
    ws_reader_release(&x->rd);
    free(x);
}

static void finish(struct kexws *x)
{
    if (x->finished)
        return;
    x->finished = true;
    kexec_stop(x->k);
    x->k = NULL;
    if (x->raw)
        http_raw_close(x->raw);
    ev_defer(x->loop, free_kexws, x);
}

static int sink_output(void *ud, unsigned ch, const void *d, size_t n)
{
    return send_frame(ud, ch, d, n);
}

static void sink_done(void *ud, int code)
{
    struct kexws *x = ud;
    json_t *st = kexec_exit_status(code);
    char *s = json_dumps(st, JSON_COMPACT);
    send_frame(x, 3, s, strlen(s));
    free(s);
    json_decref(st);
    dd_buf b = DD_BUF_INIT;
    ws_close_add(&b, 1000, "");
    http_raw_write(x->raw, b.data, b.len);
    dd_buf_release(&b);
    finish(x);
}

static void sink_pause(void *ud, bool paused)
{
    struct kexws *x = ud;
    if (x->raw && !x->finished)
        http_raw_pause(x->raw, paused);
}

static const kexec_sink sink = {sink_output, sink_done, sink_pause};

static void on_channel(struct kexws *x, const uint8_t *d, size_t n)
{
    if (n < 1)
        return;
    if (d[0] == 0)
        kexec_input(x->k, d + 1, n - 1);
    else if (d[0] == 4)
        kexec_resize_json(x->k, d + 1, n - 1);
    else if (d[0] == 255 && n >= 2 && d[1] == 0)
        kexec_input_close(x->k);
}

static void on_data(http_raw *raw, const char *data, size_t len, void *ud)
{
    (void)raw;
    struct kexws *x = ud;
    ws_reader_feed(&x->rd, data, len);
    struct ws_msg m;
    dd_err e = {0};
    int r;
    while (!x->finished && (r = ws_reader_next(&x->rd, &m, &e)) == 1) {
        if (m.opcode == WS_PING) {
            dd_buf b = DD_BUF_INIT;
            ws_frame_add(&b, WS_PONG, m.data, m.len);
            http_raw_write(x->raw, b.data, b.len);
            dd_buf_release(&b);
        } else if (m.opcode == WS_CLOSE) {
            finish(x);
        } else if (m.opcode == WS_BINARY || m.opcode == WS_TEXT) {
            on_channel(x, m.data, m.len);
        }
    }
    if (!x->finished && r < 0)
        finish(x);
}

static void on_eof(http_raw *raw, void *ud)
{
    (void)raw;
    struct kexws *x = ud;
    if (x->k)
        kexec_input_close(x->k);
}

static void on_drain(http_raw *raw, void *ud)
{
    (void)raw;
    struct kexws *x = ud;
    if (x->k)
        kexec_resume(x->k);
}

static void on_close(http_raw *raw, void *ud)
{
    (void)raw;
    finish(ud);
}

static const http_raw_ops ops = {on_data, on_eof, on_drain, on_close};

int kstream_exec_ws(ev_loop *loop, http_req *req, const char *dir,
                    const struct kstream_exec_opts *o, kobj_status *st)
{
    static const char *const protos[] = {"v5.channel.k8s.io", "v4.channel.k8s.io", NULL};
    const char *proto = ws_pick_protocol(req, protos);
    const char *ver = http_req_header(req, "Sec-WebSocket-Version");
    char acc[32];
    if (!proto || strcmp(http_req_method(req), "GET") || !ver || strcmp(ver, "13") ||
        ws_accept_key(http_req_header(req, "Sec-WebSocket-Key"), acc) < 0)
        return kobj_fail(st, 400, "BadRequest",
                         "upgrade request required: this server speaks WebSocket with "
                         "v5.channel.k8s.io or v4.channel.k8s.io, or SPDY/3.1");
    struct kexws *x = dd_calloc(1, sizeof(*x));
    x->loop = loop;
    ws_reader_init(&x->rd, true);
    dd_err e = {0};
    x->k = kexec_start(loop, dir, o, &sink, x, &e);
    if (!x->k) {
        free_kexws(x);
        return kobj_fail(st, 500, "InternalError", "%s", e.msg);
    }
    x->raw = ws_upgrade(req, proto, &ops, x, &e);
    if (!x->raw) {
        finish(x);
        return kobj_fail(st, 400, "BadRequest", "%s", e.msg);
    }
    return 0;
}

int kstream_exec_serve(ev_loop *loop, http_req *req, const char *state_dir,
                       const struct kstream_exec_opts *o, kobj_status *st)
{
    if (http_req_wants_upgrade(req, "SPDY/3.1"))
        return kstream_exec_spdy(loop, req, state_dir, o, st);
    if (http_req_wants_upgrade(req, "websocket"))
        return kstream_exec_ws(loop, req, state_dir, o, st);
    return kobj_fail(st, 400, "BadRequest",
                     "upgrade request required: this server speaks WebSocket with "
                     "v5.channel.k8s.io or v4.channel.k8s.io, or SPDY/3.1");
}
