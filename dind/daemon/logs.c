/* logs: GET /containers/{id}/logs, read from the json-file log the runtime's shim writes.
 *
 * Entries become multiplexed frames ([stream,0,0,0,len BE] + payload) for non-Tty containers and
 * raw bytes for Tty ones, optionally prefixed with an RFC3339Nano timestamp and a space. The
 * reader is pull-based: it writes until the connection's buffer is above its high-water mark and
 * resumes on drain, so a slow client never grows memory without bound and never blocks the loop.
 * With follow=1 it then waits for the file to grow (the reader's inotify fd) and ends once the
 * container has stopped and the rest of the file is sent.
 */
#include <stdio.h>

#include "container-internal.h"
#include "dind/daemon/daemon.h"
#include "dind/rt.h"
#include "handlers.h"
#include "streams.h"

struct logs {
    http_req *req;
    struct container *c;
    struct ctr_listener *l;
    struct rt_log_reader *rd;
    ev_io *io;
    int wait_fd;
    bool out, err, ts, follow, tty, stopped, done;
    int64_t until;
};

static void logs_free(struct logs *lg)
{
    ctr_unlisten(lg->l);
    ev_io_del(lg->io);
    rt_log_close(lg->rd);
    ctr_unref(lg->c);
    free(lg);
}

static void logs_end(struct logs *lg)
{
    if (lg->done)
        return;
    lg->done = true;
    http_stream_end(lg->req);
    logs_free(lg);
}

/* Writes one entry; returns http_stream_write's result. */
static int write_entry(struct logs *lg, const struct rt_log_entry *en)
{
    dd_buf b = DD_BUF_INIT;
    char ts[64] = "";
    if (lg->ts) {
        dd_format_rfc3339nano(en->time, ts, sizeof(ts));
        strcat(ts, " ");
    }
    size_t len = strlen(ts) + en->len;
    if (!lg->tty)
        stream_frame_header(&b, en->stream, len);
    dd_buf_adds(&b, ts);
    dd_buf_add(&b, en->data, en->len);
    int r = http_stream_write(lg->req, b.data, b.len);
    dd_buf_release(&b);
    return r;
}

static void on_readable(ev_io *w, int fd, unsigned events, void *data);

/* Sends what the file holds now; returns true when the request was finished. */
static bool pump(struct logs *lg)
{
    struct rt_log_entry en;
    dd_err e = {0};
    for (;;) {
        int r = rt_log_next(lg->rd, &en, &e);
        if (r < 0) {
            logs_end(lg);
            return true;
        }
        if (r == 0)
            break;
        if (lg->until && en.time > lg->until)
            continue;
        if ((en.stream == RT_STREAM_STDERR && !lg->err) ||
            (en.stream != RT_STREAM_STDERR && !lg->out))
            continue;
        int w = write_entry(lg, &en);
        if (w < 0) {
            logs_end(lg);
            return true;
        }
        if (w == 1) {
            if (lg->io)
                ev_io_set(lg->io, 0);
            return false; /* resumes in on_drain */
        }
    }
    if (!lg->follow || lg->stopped || (lg->until && dd_now_ns() > lg->until)) {
        logs_end(lg);
        return true;
    }
    if (!lg->io) {
        lg->wait_fd = rt_log_wait_fd(lg->rd, &e);
        if (lg->wait_fd < 0 || !(lg->io = ev_io_add(dindd_from_req(lg->req)->loop, lg->wait_fd,
                                                    EV_READ, on_readable, lg, &e))) {
            logs_end(lg);
            return true;
        }
    } else {
        ev_io_set(lg->io, EV_READ);
    }
    return false;
}

static void on_readable(ev_io *w, int fd, unsigned events, void *data)
{
    pump(data);
}

static void on_drain(http_req *req, void *data)
{
    pump(data);
}

static void on_gone(http_req *req, void *data)
{
    logs_end(data);
}

static void on_change(struct container *c, enum ctr_change what, void *data)
{
    struct logs *lg = data;
    if (what == CTR_CHANGE_EXITED || what == CTR_CHANGE_REMOVED) {
        lg->stopped = true;
        if (http_req_buffered(lg->req) < 65536)
            pump(lg);
    }
}

static int parse_tail(const char *s, long *ret)
{
    int64_t n;
    *ret = -1;
    if (!s || !*s || dd_streq(s, "all"))
        return 0;
    if (dd_parse_int64(s, &n) < 0)
        return -EINVAL;
    *ret = n < 0 ? -1 : (long)n;
    return 0;
}

void containers_h_logs(http_req *req)
{
    struct container *c = NULL;
    dd_err e = {0};
    int64_t since = 0, until = 0;
    long tail;
    if (ctr_lookup(dindd_from_req(req)->containers, http_req_param(req, "id"), &c, &e) < 0) {
        dindd_reply_err(req, &e);
        return;
    }
    bool out = dindd_query_bool(req, "stdout", false), err = dindd_query_bool(req, "stderr", false);
    if (!out && !err) {
        dindd_reply_errf(req, EINVAL, "Bad parameters: you must choose at least one stream");
        return;
    }
    if (stream_parse_time(http_req_query(req, "since"), &since, &e) < 0 ||
        stream_parse_time(http_req_query(req, "until"), &until, &e) < 0 ||
        (parse_tail(http_req_query(req, "tail"), &tail) < 0 &&
         dd_err_set(&e, EINVAL, "invalid tail: %s", http_req_query(req, "tail")) < 0)) {
        dindd_reply_err(req, &e);
        return;
    }
    struct logs *lg = dd_calloc(1, sizeof(*lg));
    lg->req = req;
    lg->c = ctr_ref(c);
    lg->out = out;
    lg->err = err;
    lg->ts = dindd_query_bool(req, "timestamps", false);
    lg->follow = dindd_query_bool(req, "follow", false);
    lg->tty = c->tty;
    lg->until = until;
    lg->stopped = !ctr_is_running(c);
    if (rt_log_open(c->log_path, RT_LOG_JSON_FILE, since, 0, tail, &lg->rd, &e) < 0 &&
        e.code != ENOENT) {
        logs_free(lg);
        dindd_reply_err(req, &e);
        return;
    }
    http_stream_start(req, 200, NULL);
    if (!lg->rd) {
        logs_end(lg);
        return;
    }
    lg->l = ctr_listen(c, on_change, lg);
    http_req_on_close(req, on_gone, lg);
    http_req_on_drain(req, on_drain, lg);
    pump(lg);
}
