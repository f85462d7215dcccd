/* log.c: `GET /api/v1/namespaces/{ns}/pods/{name}/log`. It parses PodLogOptions from the query
 * (as upstream validates them), then streams the container's CRI log file with rt's log reader:
 * entries filtered by tailLines and sinceSeconds/sinceTime, optionally prefixed with their
 * RFC 3339 timestamp, cut at limitBytes. The response is chunked text/plain written with
 * backpressure (reading pauses while the client is slow). With follow the reader waits on an
 * inotify fd for growth and on the shim's pidfd for the container's exit; after the exit it
 * drains the file and ends the response, as the kubelet does.
 */
#include <unistd.h>

#include "dind/rt.h"
#include "k3core/stream/stream.h"

struct klog {
    ev_loop *loop;
    http_req *req;
    struct rt_log_reader *rd;
    ev_io *grow_w, *exit_w;
    int exit_fd;
    bool follow, timestamps, exited, waiting_drain, gone, done;
    int64_t left; /* bytes still allowed; -1 = unbounded */
};

#define bad(st, ...) kobj_fail(st, 400, "BadRequest", __VA_ARGS__)

static bool parse_bool(http_req *req, const char *key, bool *ret, kobj_status *st)
{
    const char *v = http_req_query(req, key);
    *ret = false;
    if (!v)
        return true;
    static const char *const t[] = {"1", "t", "T", "true", "TRUE", "True", ""};
    static const char *const f[] = {"0", "f", "F", "false", "FALSE", "False"};
    for (size_t i = 0; i < DD_ARRAY_SIZE(t); i++)
        if (!strcmp(v, t[i]))
            return *ret = true;
    for (size_t i = 0; i < DD_ARRAY_SIZE(f); i++)
        if (!strcmp(v, f[i]))
            return true;
    kobj_fail(st, 400, "BadRequest", "invalid value for %s: %s", key, v);
    return false;
}

static int parse_int(http_req *req, const char *key, int64_t *ret, kobj_status *st)
{
    const char *v = http_req_query(req, key);
    if (!v)
        return 0;
    if (dd_parse_int64(v, ret) < 0)
        return kobj_fail(st, 400, "BadRequest", "invalid value for %s: %s", key, v);
    return 1;
}

static int parse_since(http_req *req, int64_t now_ns, struct kstream_log_opts *o, kobj_status *st)
{
    int64_t secs = 0;
    int k = parse_int(req, "sinceSeconds", &secs, st);
    if (k < 0)
        return k;
    const char *t = http_req_query(req, "sinceTime");
    if (k && t)
        return kobj_fail(st, 422, "Invalid",
                         "PodLogOptions \"\" is invalid: : at most one of `sinceTime` or "
                         "`sinceSeconds` may be specified");
    if (k && secs < 1)
        return bad(st,
                   "PodLogOptions is invalid: sinceSeconds: Invalid value: %s: must be "
                   "greater than 0",
                   http_req_query(req, "sinceSeconds"));
    if (k)
        o->since_ns = now_ns - secs * 1000000000LL;
    if (t && dd_parse_rfc3339(t, &o->since_ns) < 0)
        return bad(st, "invalid value for sinceTime: %s", t);
    return 0;
}

int kstream_log_opts_parse(http_req *req, int64_t now_ns, struct kstream_log_opts *o,
                           kobj_status *st)
{
    *o = (struct kstream_log_opts){.tail = -1, .limit_bytes = -1};
    if (!parse_bool(req, "follow", &o->follow, st) ||
        !parse_bool(req, "timestamps", &o->timestamps, st) ||
        !parse_bool(req, "previous", &o->previous, st))
        return -EINVAL;
    int64_t v;
    int k = parse_int(req, "tailLines", &v, st);
    if (k < 0 || (k && v < 0))
        return k < 0 ? k
                     : bad(st,
                           "tailLines: Invalid value: %s: must be greater than or "
                           "equal to 0",
                           http_req_query(req, "tailLines"));
    if (k)
        o->tail = (long)v;
    k = parse_int(req, "limitBytes", &v, st);
    if (k < 0 || (k && v < 1))
        return k < 0 ? k
                     : bad(st, "limitBytes: Invalid value: %s: must be greater than 0",
                           http_req_query(req, "limitBytes"));
    if (k)
        o->limit_bytes = v;
    if (parse_since(req, now_ns, o, st) < 0)
        return -EINVAL;
    const char *c = http_req_query(req, "container");
    o->container = c && *c ? dd_strdup(c) : NULL;
    return 0;
}

void kstream_log_opts_release(struct kstream_log_opts *o)
{
    free(o->container);
    o->container = NULL;
}

static void klog_free(struct klog *l)
{
    if (l->grow_w)
        ev_io_del(l->grow_w);
    if (l->exit_w)
        ev_io_del(l->exit_w);
    if (l->exit_fd >= 0)
        close(l->exit_fd);
    rt_log_close(l->rd);
    free(l);
}

static void klog_finish(struct klog *l)
{
    if (l->done)
        return;
    l->done = true;
    if (l->gone)
        http_req_abort(l->req);
    else
        http_stream_end(l->req);
    klog_free(l);
}

/* Writes one entry; returns 1 when the client is slow, 0 to continue, < 0 to stop. */
static int emit(struct klog *l, const struct rt_log_entry *ent)
{
    dd_buf b = DD_BUF_INIT;
    if (l->timestamps) {
        char ts[64];
        dd_format_rfc3339nano(ent->time, ts, sizeof(ts));
        /* Go's RFC3339Nano drops trailing zeros of the fraction (and a bare dot). */
        size_t z = strlen(ts) - 1; /* the 'Z' */
        size_t k = z;
        while (k > 0 && ts[k - 1] == '0')
            k--;
        if (k > 0 && ts[k - 1] == '.')
            k--;
        dd_buf_add(&b, ts, k);
        dd_buf_adds(&b, "Z ");
    }
    dd_buf_add(&b, ent->data, ent->len);
    size_t n = b.len;
    if (l->left >= 0 && (int64_t)n > l->left)
        n = (size_t)l->left;
    int r = http_stream_write(l->req, b.data, n);
    dd_buf_release(&b);
    if (l->left >= 0) {
        l->left -= (int64_t)n;
        if (l->left == 0)
            return -ENOSPC;
    }
    return r;
}

/* Copies entries until EOF, a full buffer or the end; finishes the request when done. */
static void pump(struct klog *l)
{
    for (;;) {
        struct rt_log_entry ent;
        dd_err e = {0};
        int k = rt_log_next(l->rd, &ent, &e);
        if (k < 0 || (k == 0 && (!l->follow || l->exited))) {
            klog_finish(l);
            return;
        }
        if (k == 0)
            return; /* wait for growth or exit */
        int r = emit(l, &ent);
        if (r < 0) {
            l->gone = r == -EPIPE;
            klog_finish(l);
            return;
        }
        if (r == 1) {
            l->waiting_drain = true;
            return;
        }
    }
}

static void on_drain(http_req *req, void *data)
{
    (void)req;
    struct klog *l = data;
    l->waiting_drain = false;
    pump(l);
}

static void on_close(http_req *req, void *data)
{
    (void)req;
    struct klog *l = data;
    l->gone = true;
    klog_finish(l);
}

static void on_grow(ev_io *w, int fd, unsigned events, void *data)
{
    (void)w, (void)fd, (void)events;
    struct klog *l = data;
    if (!l->waiting_drain)
        pump(l);
}

static void on_exit_fd(ev_io *w, int fd, unsigned events, void *data)
{
    (void)fd, (void)events;
    struct klog *l = data;
    ev_io_set(w, 0);
    l->exited = true;
    if (!l->waiting_drain)
        pump(l);
}

static int watch_follow(struct klog *l, const char *state_dir, dd_err *e)
{
    int fd = rt_log_wait_fd(l->rd, e);
    if (fd < 0)
        return fd;
    l->grow_w = ev_io_add(l->loop, fd, EV_READ, on_grow, l, e);
    if (!l->grow_w)
        return -EIO;
    if (!state_dir)
        return 0;
    l->exit_fd = rt_watch_fd(state_dir, e);
    if (l->exit_fd == -ESRCH) {
        l->exited = true;
        return 0;
    }
    if (l->exit_fd < 0)
        return l->exit_fd;
    l->exit_w = ev_io_add(l->loop, l->exit_fd, EV_READ, on_exit_fd, l, e);
    return l->exit_w ? 0 : -EIO;
}

int kstream_log_serve(ev_loop *loop, http_req *req, const char *path, const char *state_dir,
                      const struct kstream_log_opts *o, kobj_status *st)
{
    struct klog *l = calloc(1, sizeof(*l));
    *l = (struct klog){.loop = loop,
                       .req = req,
                       .exit_fd = -1,
                       .follow = o->follow,
                       .timestamps = o->timestamps,
                       .left = o->limit_bytes};
    dd_err e = {0};
    int r = rt_log_open(path, RT_LOG_CRI, o->since_ns, 0, o->tail, &l->rd, &e);
    if (r >= 0 && o->follow)
        r = watch_follow(l, state_dir, &e);
    if (r < 0) {
        klog_free(l);
        return kobj_fail(st, 500, "InternalError", "failed to read the log: %s", e.msg);
    }
    http_req_on_close(req, on_close, l);
    http_req_on_drain(req, on_drain, l);
    http_stream_start(req, 200, "text/plain");
    pump(l);
    return 0;
}
