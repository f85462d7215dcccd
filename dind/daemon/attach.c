/* attach: POST /containers/{id}/attach, the hijacked duplex stream between a client and the
 * container's shim.
 *
 * The shim speaks multiplexed frames both ways (rt.h). Towards the client we forward stdout/stderr
 * frames as they are for non-Tty containers and strip the headers for Tty ones; the client's raw
 * stdin bytes become stdin frames, and its half-close becomes a stdin-EOF frame when it attached
 * stdin to a StdinOnce container. When the shim closes (the container exited and everything was
 * sent), we flush and close the client. Backpressure both ways: a slow client pauses reads from
 * the shim, a slow shim pauses reads from the client. Attaching before start loses nothing: the
 * shim registers us before rt_attach_connect() returns.
 */
#include <stdio.h>
#include <sys/socket.h>

#include "container-internal.h"
#include "dind/daemon/daemon.h"
#include "dind/rt.h"
#include "events.h"
#include "handlers.h"
#include "streams.h"

struct attach {
    http_raw *raw;
    struct container *c;
    int fd; /* the shim's attach socket */
    ev_io *io;
    dd_buf in;      /* frames from the shim not yet complete */
    dd_buf pending; /* stdin frames not yet written to the shim */
    bool out, err, in_attached, tty, closing;
};

static void attach_close(struct attach *a)
{
    if (a->closing)
        return;
    a->closing = true;
    ev_io_del(a->io);
    a->io = NULL;
    if (a->fd >= 0)
        close(a->fd);
    a->fd = -1;
    http_raw_close(a->raw);
    dd_buf_release(&a->in);
    dd_buf_release(&a->pending);
    ctr_unref(a->c);
    free(a);
}

static void update_interest(struct attach *a)
{
    unsigned want = http_raw_buffered(a->raw) > 65536 ? 0 : EV_READ;
    if (a->pending.len)
        want |= EV_WRITE;
    ev_io_set(a->io, want);
    http_raw_pause(a->raw, a->pending.len > 65536);
}

/* Forwards complete frames; returns < 0 when the client is gone. */
static int forward_frames(struct attach *a)
{
    while (a->in.len >= 8) {
        const unsigned char *h = (const unsigned char *)a->in.data;
        size_t len = ((size_t)h[4] << 24) | ((size_t)h[5] << 16) | ((size_t)h[6] << 8) | h[7];
        if (a->in.len < 8 + len)
            break;
        bool want = h[0] == RT_STREAM_STDERR ? a->err : a->out;
        int r = 0;
        if (want)
            r = a->tty ? http_raw_write(a->raw, a->in.data + 8, len)
                       : http_raw_write(a->raw, a->in.data, 8 + len);
        dd_buf_consume(&a->in, 8 + len);
        if (r < 0)
            return r;
    }
    return 0;
}

static void flush_pending(struct attach *a)
{
    while (a->pending.len) {
        ssize_t n = send(a->fd, a->pending.data, a->pending.len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n <= 0)
            return;
        dd_buf_consume(&a->pending, (size_t)n);
    }
}

static void on_shim(ev_io *w, int fd, unsigned events, void *data)
{
    struct attach *a = data;
    if (events & EV_WRITE)
        flush_pending(a);
    if (events & (EV_READ | EV_HUP)) {
        char buf[65536];
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            forward_frames(a);
            attach_close(a);
            return;
        }
        if (n > 0) {
            dd_buf_add(&a->in, buf, (size_t)n);
            if (forward_frames(a) < 0) {
                attach_close(a);
                return;
            }
        }
    }
    update_interest(a);
}

static void queue_frame(struct attach *a, int type, const void *data, size_t len)
{
    stream_frame_header(&a->pending, type, len);
    dd_buf_add(&a->pending, data, len);
    flush_pending(a);
    update_interest(a);
}

static void on_client_data(http_raw *raw, const char *data, size_t len, void *ud)
{
    struct attach *a = ud;
    if (a->in_attached)
        queue_frame(a, RT_STREAM_STDIN, data, len);
}

static void on_client_eof(http_raw *raw, void *ud)
{
    struct attach *a = ud;
    if (a->in_attached && a->c->stdin_once)
        queue_frame(a, RT_STREAM_STDIN_EOF, NULL, 0);
}

static void on_client_drain(http_raw *raw, void *ud)
{
    update_interest(ud);
}

static void on_client_close(http_raw *raw, void *ud)
{
    attach_close(ud);
}

/* logs=1: the history first, as frames (or raw for a Tty), bounded by the raw stream's cap. */
static void replay_logs(struct attach *a)
{
    struct rt_log_reader *rd = NULL;
    struct rt_log_entry en;
    if (rt_log_open(a->c->log_path, RT_LOG_JSON_FILE, 0, 0, -1, &rd, NULL) < 0)
        return;
    while (rt_log_next(rd, &en, NULL) > 0) {
        if (en.stream == RT_STREAM_STDERR ? !a->err : !a->out)
            continue;
        dd_buf b = DD_BUF_INIT;
        if (!a->tty)
            stream_frame_header(&b, en.stream, en.len);
        dd_buf_add(&b, en.data, en.len);
        int r = http_raw_write(a->raw, b.data, b.len);
        dd_buf_release(&b);
        if (r < 0)
            break;
    }
    rt_log_close(rd);
}

static const http_raw_ops attach_ops = {
    .on_data = on_client_data,
    .on_eof = on_client_eof,
    .on_drain = on_client_drain,
    .on_close = on_client_close,
};

static struct attach *attach_new(struct container *c, http_req *req)
{
    struct attach *a = dd_calloc(1, sizeof(*a));
    a->fd = -1;
    a->c = ctr_ref(c);
    a->tty = c->tty;
    a->out = dindd_query_bool(req, "stdout", false);
    a->err = dindd_query_bool(req, "stderr", false);
    a->in_attached = dindd_query_bool(req, "stdin", false);
    return a;
}

/* Connects to the shim and watches its socket; on failure answers req. */
static int attach_connect(struct attach *a, dindd_ctx *d, http_req *req)
{
    dd_err e = {0};
    if (a->c->st.status != CTR_CREATED && !ctr_is_running(a->c))
        return dindd_reply_errf(req, EBUSY,
                                "You cannot attach to a stopped container, start it first");
    a->fd = rt_attach_connect(a->c->state_dir, &e);
    if (a->fd < 0)
        return dindd_reply_err(req, &e);
    dd_set_nonblock(a->fd, true);
    a->io = ev_io_add(d->loop, a->fd, EV_READ, on_shim, a, &e);
    if (!a->io)
        return dindd_reply_err(req, &e);
    return 0;
}

void containers_h_attach(http_req *req)
{
    struct container *c = NULL;
    dd_err e = {0};
    dindd_ctx *d = dindd_from_req(req);
    if (ctr_lookup(d->containers, http_req_param(req, "id"), &c, &e) < 0) {
        dindd_reply_err(req, &e);
        return;
    }
    bool logs = dindd_query_bool(req, "logs", false);
    bool stream = dindd_query_bool(req, "stream", false);
    struct attach *a = attach_new(c, req);
    if (stream && attach_connect(a, d, req) < 0) {
        if (a->fd >= 0)
            close(a->fd);
        ctr_unref(a->c);
        free(a);
        return;
    }
    events_emit_container(c, "attach", NULL);
    a->raw = http_hijack(req, &attach_ops, a);
    if (logs)
        replay_logs(a);
    if (!stream)
        attach_close(a); /* logs only: the history, then the end of the stream */
}
