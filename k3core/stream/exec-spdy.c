/* exec-spdy.c: exec and attach over SPDY/3.1, as kubectl before 1.30 (and client-go's fallback)
 * speaks them: X-Stream-Protocol-Version picks v4.channel.k8s.io down to channel.k8s.io, then
 * the client opens one stream per role, named by its streamtype header (error, stdin, stdout,
 * stderr, resize). Once every stream the query asked for exists, the exec core (exec.c) starts
 * the process; output goes to stdout/stderr streams, stdin and resize JSON (a stream of
 * TerminalSize objects) come back. At the end the stdout/stderr streams get their FIN and the
 * error stream carries the result: for v4 the Status JSON kubelet writes (NonZeroExitCode with an
 * ExitCode cause, which kubectl turns into "command terminated with exit code N"), for older
 * versions the error text, empty on success. Then GOAWAY and the connection closes.
 */
#include "k3core/stream/stream-internal.h"

#define KEXS_STREAM_TIMEOUT_MS 30000

enum { T_ERROR, T_STDIN, T_STDOUT, T_STDERR, T_RESIZE, T_N };
static const char *const type_names[T_N] = {"error", "stdin", "stdout", "stderr", "resize"};

struct kexs {
    ev_loop *loop;
    struct kspdy *c;
    struct kexec *k;
    char *dir;
    char **argv;
    struct kstream_exec_opts o;
    int version; /* 4: v4.channel.k8s.io ... 1: channel.k8s.io */
    uint32_t id[T_N];
    unsigned want, have; /* bit per T_* */
    dd_buf resize;
    ev_timer *timer;
    ev_timer *size_timer; /* tty: how long the start waits for the client's terminal size */
    dd_buf early_in;      /* stdin that arrived before the start, and whether it ended */
    bool early_fin;
    bool finished;
};

static void kexs_free(void *data)
{
    struct kexs *x = data;
    free(x->dir);
    dd_strv_free(x->argv);
    dd_strv_free(x->o.env);
    free(x->o.user);
    free(x->o.cwd);
    dd_buf_release(&x->resize);
    dd_buf_release(&x->early_in);
    free(x);
}

static void finish(struct kexs *x)
{
    if (x->finished)
        return;
    x->finished = true;
    kexec_stop(x->k);
    x->k = NULL;
    ev_timer_del(x->timer);
    x->timer = NULL;
    ev_timer_del(x->size_timer);
    x->size_timer = NULL;
    kspdy_close(x->c);
    ev_defer(x->loop, kexs_free, x);
}

/* Writes the result on the error stream, closes every stream we write and ends the session. */
static void report(struct kexs *x, int code, const char *failure)
{
    spdy_session *s = kspdy_session(x->c);
    if (x->id[T_STDOUT])
        spdy_data(s, x->id[T_STDOUT], NULL, 0, true);
    if (x->id[T_STDERR])
        spdy_data(s, x->id[T_STDERR], NULL, 0, true);
    char *msg = NULL;
    if (x->version == 4) {
        json_t *st = failure
                         ? json_pack("{s:{}, s:s, s:s, s:s, s:i}", "metadata", "status", "Failure",
                                     "message", failure, "reason", "InternalError", "code", 500)
                         : kexec_exit_status(code);
        msg = json_dumps(st, JSON_COMPACT);
        json_decref(st);
    } else if (failure) {
        msg = dd_strdup(failure);
    } else if (code != 0) {
        msg = dd_asprintf("command terminated with non-zero exit code: exit status %d", code);
    }
    if (x->id[T_ERROR])
        spdy_data(s, x->id[T_ERROR], msg, msg ? strlen(msg) : 0, true);
    free(msg);
    finish(x);
}

static int sink_output(void *ud, unsigned ch, const void *d, size_t n)
{
    struct kexs *x = ud;
    uint32_t id = x->id[ch == 2 ? T_STDERR : T_STDOUT];
    if (!id)
        return 0;
    int r = spdy_data(kspdy_session(x->c), id, d, n, false);
    return r == 1 ? 1 : 0; /* a reset stream just drops its output */
}

static void sink_done(void *ud, int code)
{
    report(ud, code, NULL);
}

static void sink_pause(void *ud, bool paused)
{
    kspdy_pause(((struct kexs *)ud)->c, paused);
}

static const kexec_sink sink = {sink_output, sink_done, sink_pause};

static void start(struct kexs *x)
{
    ev_timer_del(x->timer);
    x->timer = NULL;
    ev_timer_del(x->size_timer);
    x->size_timer = NULL;
    dd_err e = {0};
    x->k = kexec_start(x->loop, x->dir, &x->o, &sink, x, &e);
    if (!x->k) {
        report(x, -1, e.msg);
        return;
    }
    if (x->early_in.len)
        kexec_input(x->k, x->early_in.data, x->early_in.len);
    dd_buf_release(&x->early_in);
    if (x->early_fin)
        kexec_input_close(x->k);
}

#define SIZE_WAIT_MS 500

static void on_size_timeout(ev_timer *t, void *ud)
{
    (void)t;
    start(ud);
}

static void on_stream(struct kspdy *c, uint32_t id, const spdy_headers *h, void *ud)
{
    struct kexs *x = ud;
    const char *type = spdy_headers_get(h, "streamtype");
    int t = T_N;
    for (int i = 0; type && i < T_N; i++)
        if (!strcmp(type, type_names[i]))
            t = i;
    if (t == T_N || x->id[t] || x->k) {
        spdy_rst(kspdy_session(c), id, SPDY_PROTOCOL_ERROR);
        return;
    }
    x->id[t] = id;
    x->have |= 1u << t;
    spdy_syn_reply(kspdy_session(c), id, NULL, false);
    if ((x->have & x->want) != x->want)
        return;
    /* a terminal: kubectl sends its size right after the streams; the command starts with it
     * (a shell that asked at once got 24x80), or after SIZE_WAIT_MS without one */
    if (x->o.argv && (x->want & (1u << T_RESIZE)) && !x->o.rows)
        x->size_timer = ev_timer_add(x->loop, SIZE_WAIT_MS, 0, on_size_timeout, x);
    else
        start(x);
}

static void resize_feed(struct kexs *x, const uint8_t *d, size_t n)
{
    dd_buf_add(&x->resize, d, n);
    for (;;) {
        json_error_t je;
        json_t *j = json_loadb(x->resize.data, x->resize.len, JSON_DISABLE_EOF_CHECK, &je);
        if (!j) {
            if (x->resize.len > 4096) /* not a TerminalSize being assembled: drop it */
                dd_buf_reset(&x->resize);
            return;
        }
        json_decref(j);
        size_t used = (size_t)je.position;
        if (used > x->resize.len)
            used = x->resize.len;
        if (x->k) {
            kexec_resize_json(x->k, x->resize.data, used);
        } else if (x->o.argv) { /* before the start: the size the command starts with */
            json_t *sz = json_loadb(x->resize.data, used, 0, NULL);
            json_int_t w = json_integer_value(json_object_get(sz, "Width"));
            json_int_t h = json_integer_value(json_object_get(sz, "Height"));
            json_decref(sz);
            if (w > 0 && h > 0 && w <= 65535 && h <= 65535) {
                x->o.cols = (unsigned short)w;
                x->o.rows = (unsigned short)h;
            }
        }
        dd_buf_consume(&x->resize, used);
        if (!x->k && x->size_timer && x->o.rows) {
            start(x);
            if (x->finished)
                return;
        }
    }
}

static void on_data(struct kspdy *c, uint32_t id, const uint8_t *d, size_t n, void *ud)
{
    (void)c;
    struct kexs *x = ud;
    if (id == x->id[T_STDIN] && x->k)
        kexec_input(x->k, d, n);
    else if (id == x->id[T_STDIN] && !x->finished)
        dd_buf_add(&x->early_in, d, n); /* waiting for the terminal size */
    else if (id == x->id[T_RESIZE])
        resize_feed(x, d, n);
}

static void on_fin(struct kspdy *c, uint32_t id, void *ud)
{
    (void)c;
    struct kexs *x = ud;
    if (id == x->id[T_STDIN] && x->k)
        kexec_input_close(x->k);
    else if (id == x->id[T_STDIN])
        x->early_fin = true;
}

static void on_reset(struct kspdy *c, uint32_t id, void *ud)
{
    on_fin(c, id, ud);
}

static void on_drain(struct kspdy *c, void *ud)
{
    (void)c;
    struct kexs *x = ud;
    if (x->k)
        kexec_resume(x->k);
}

static void on_close(struct kspdy *c, void *ud)
{
    (void)c;
    finish(ud);
}

static const kspdy_ops ops = {on_stream, on_data, on_fin, on_reset, on_drain, on_close};

static void on_timeout(ev_timer *t, void *ud)
{
    (void)t;
    struct kexs *x = ud;
    dd_debug("exec over SPDY: timed out waiting for client to create streams");
    finish(x);
}

static unsigned wanted_streams(const struct kstream_exec_opts *o, int version)
{
    unsigned w = 1u << T_ERROR;
    w |= o->in ? 1u << T_STDIN : 0;
    w |= o->out ? 1u << T_STDOUT : 0;
    w |= o->err && !o->tty ? 1u << T_STDERR : 0;
    w |= o->tty && version >= 3 ? 1u << T_RESIZE : 0;
    return w;
}

int kstream_exec_spdy(ev_loop *loop, http_req *req, const char *dir,
                      const struct kstream_exec_opts *o, kobj_status *st)
{
    static const char *const protos[] = {"v4.channel.k8s.io", "v3.channel.k8s.io",
                                         "v2.channel.k8s.io", "channel.k8s.io", NULL};
    const char *proto = kspdy_negotiate(req, protos);
    if (!proto)
        return kspdy_negotiate_fail(req, protos, st);
    struct kexs *x = dd_calloc(1, sizeof(*x));
    x->loop = loop;
    x->dir = dd_strdup(dir);
    x->argv = o->argv ? dd_strv_copy(o->argv) : NULL;
    x->o = *o;
    x->o.argv = x->argv;
    x->o.env = dd_strv_copy(o->env);
    x->o.user = o->user ? dd_strdup(o->user) : NULL;
    x->o.cwd = o->cwd ? dd_strdup(o->cwd) : NULL;
    for (int i = 0; protos[i]; i++)
        if (proto == protos[i])
            x->version = 4 - i;
    x->want = wanted_streams(o, x->version);
    dd_buf_init(&x->resize);
    dd_buf_init(&x->early_in);
    dd_err e = {0};
    x->c = kspdy_upgrade(loop, req, proto, NULL, &ops, x, &e);
    if (!x->c) {
        kexs_free(x);
        return kobj_fail(st, 400, "BadRequest", "%s", e.msg);
    }
    x->timer = ev_timer_add(loop, KEXS_STREAM_TIMEOUT_MS, 0, on_timeout, x);
    return 0;
}
