/* exec.c: exec and attach over WebSocket with Kubernetes' channel protocols (v5.channel.k8s.io,
 * v4.channel.k8s.io). After the 101, every message carries a channel byte: 0 stdin, 1 stdout,
 * 2 stderr, 3 the final Status, 4 resize JSON, 255 close (v5: [255, 0] ends stdin). exec runs the
 * command with rt_exec (pipes, or a pty with tty) and reports its exit code as a Status on
 * channel 3 (NonZeroExitCode with an ExitCode cause, which kubectl turns into its own exit
 * code); attach talks to the container's shim attach socket in Docker's multiplexed framing.
 * The session ends after the process has exited and its output has been sent: Status, then a
 * close frame. Pings are answered so client-go's read deadline never fires.
 */
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "dind/json.h"
#include "dind/rt.h"
#include "dind/ws.h"
#include "k3core/stream/stream.h"

struct kexec {
    ev_loop *loop;
    http_raw *raw;
    ws_reader rd;
    struct rt_exec_result x; /* exec; for attach only stdout_fd (the attach socket) is set */
    ev_io *out_w, *err_w;
    ev_child *child;
    dd_buf att; /* attach: bytes of the shim's framing not yet parsed */
    bool attach, tty, exited, finished;
    int code; /* exit code (128 + signal), -1 unknown */
};

static void send_frame(struct kexec *k, unsigned ch, const void *d, size_t n)
{
    dd_buf b = DD_BUF_INIT;
    ws_frame_add_prefixed(&b, WS_BINARY, (uint8_t)ch, d, n);
    if (http_raw_write(k->raw, b.data, b.len) == 1) {
        if (k->out_w)
            ev_io_set(k->out_w, 0);
        if (k->err_w)
            ev_io_set(k->err_w, 0);
    }
    dd_buf_release(&b);
}

static void free_kexec(void *data)
{
    struct kexec *k = data;
    ws_reader_release(&k->rd);
    dd_buf_release(&k->att);
    rt_exec_result_close(&k->x);
    free(k);
}

static void finish(struct kexec *k)
{
    if (k->finished)
        return;
    k->finished = true;
    if (k->out_w)
        ev_io_del(k->out_w);
    if (k->err_w)
        ev_io_del(k->err_w);
    k->out_w = k->err_w = NULL;
    if (k->child && !k->exited) { /* the client left first: do not leave the process behind */
        kill(k->x.pid, SIGKILL);
        waitpid(k->x.pid, NULL, 0);
    }
    if (k->child)
        ev_child_del(k->child);
    k->child = NULL;
    k->x.pidfd = -1; /* owned by the ev_child */
    if (k->raw)
        http_raw_close(k->raw);
    ev_defer(k->loop, free_kexec, k);
}

static json_t *exit_status(int code)
{
    if (code == 0)
        return json_pack("{s:{}, s:s}", "metadata", "status", "Success");
    if (code < 0)
        return json_pack("{s:{}, s:s, s:s, s:s}", "metadata", "status", "Failure", "message",
                         "the command exited but its exit status is unavailable", "reason",
                         "InternalError");
    char num[16];
    snprintf(num, sizeof(num), "%d", code);
    return json_pack("{s:{}, s:s, s:s, s:s, s:{s:[{s:s, s:s}]}}", "metadata", "status", "Failure",
                     "message", code == 0 ? "" : "command terminated with non-zero exit code",
                     "reason", "NonZeroExitCode", "details", "causes", "reason", "ExitCode",
                     "message", num);
}

/* Ends the session once the process has exited and every output fd reached EOF. */
static void maybe_done(struct kexec *k)
{
    if (k->finished || !k->exited || k->out_w || k->err_w)
        return;
    json_t *st = exit_status(k->code);
    char *s = json_dumps(st, JSON_COMPACT);
    send_frame(k, 3, s, strlen(s));
    free(s);
    json_decref(st);
    dd_buf b = DD_BUF_INIT;
    ws_close_add(&b, 1000, "");
    http_raw_write(k->raw, b.data, b.len);
    dd_buf_release(&b);
    finish(k);
}

static void attach_parse(struct kexec *k)
{
    while (k->att.len >= 8) {
        const uint8_t *h = (const uint8_t *)k->att.data;
        size_t n = (size_t)h[4] << 24 | (size_t)h[5] << 16 | (size_t)h[6] << 8 | h[7];
        if (k->att.len < 8 + n)
            return;
        send_frame(k, h[0] == 2 ? 2 : 1, k->att.data + 8, n);
        dd_buf_consume(&k->att, 8 + n);
    }
}

static void on_output(ev_io *w, int fd, unsigned events, void *data)
{
    (void)events;
    struct kexec *k = data;
    char buf[32768];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EAGAIN)
        return;
    if (n <= 0) { /* EOF, or EIO on a pty whose process is gone */
        ev_io_del(w);
        if (w == k->out_w)
            k->out_w = NULL;
        else
            k->err_w = NULL;
        if (k->attach)
            k->exited = true;
        maybe_done(k);
        return;
    }
    if (k->attach) {
        dd_buf_add(&k->att, buf, (size_t)n);
        attach_parse(k);
        return;
    }
    send_frame(k, w == k->out_w ? 1 : 2, buf, (size_t)n);
}

static void on_child(ev_child *c, pid_t pid, const siginfo_t *info, void *data)
{
    (void)c, (void)pid;
    struct kexec *k = data;
    k->exited = true;
    /* info is NULL when the process was reaped elsewhere: its status is then unknown. */
    k->code = info ? ev_child_exit_code(info) : -1;
    maybe_done(k);
}

static void to_shim(struct kexec *k, uint8_t type, const void *d, size_t n)
{
    uint8_t h[8] = {type,      0, 0, 0, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                    (uint8_t)n};
    if (dd_write_all(k->x.stdout_fd, h, 8) == 0 && n)
        dd_write_all(k->x.stdout_fd, d, n);
}

static void do_resize(struct kexec *k, const uint8_t *d, size_t n)
{
    json_error_t je;
    json_t *j = json_loadb((const char *)d, n, 0, &je);
    json_int_t w = json_integer_value(json_object_get(j, "Width"));
    json_int_t h = json_integer_value(json_object_get(j, "Height"));
    json_decref(j);
    if (w <= 0 || h <= 0 || w > 65535 || h > 65535)
        return;
    if (k->attach) {
        uint8_t p[4] = {(uint8_t)(h >> 8), (uint8_t)h, (uint8_t)(w >> 8), (uint8_t)w};
        to_shim(k, 4, p, 4);
    } else if (k->tty && k->x.stdin_fd >= 0) {
        struct winsize ws = {.ws_row = (unsigned short)h, .ws_col = (unsigned short)w};
        ioctl(k->x.stdin_fd, TIOCSWINSZ, &ws);
    }
}

static void close_stdin(struct kexec *k)
{
    if (k->attach) {
        to_shim(k, 3, NULL, 0);
    } else if (k->x.stdin_fd >= 0) {
        if (k->tty)
            dd_write_all(k->x.stdin_fd, "\x04", 1);
        else {
            close(k->x.stdin_fd);
            k->x.stdin_fd = -1;
        }
    }
}

static void on_channel(struct kexec *k, const uint8_t *d, size_t n)
{
    if (n < 1)
        return;
    if (d[0] == 0 && n > 1) {
        if (k->attach)
            to_shim(k, 0, d + 1, n - 1);
        else if (k->x.stdin_fd >= 0)
            dd_write_all(k->x.stdin_fd, d + 1, n - 1);
    } else if (d[0] == 4) {
        do_resize(k, d + 1, n - 1);
    } else if (d[0] == 255 && n >= 2 && d[1] == 0) {
        close_stdin(k);
    }
}

static void on_data(http_raw *raw, const char *data, size_t len, void *ud)
{
    (void)raw;
    struct kexec *k = ud;
    ws_reader_feed(&k->rd, data, len);
    struct ws_msg m;
    dd_err e = {0};
    int r;
    while (!k->finished && (r = ws_reader_next(&k->rd, &m, &e)) == 1) {
        if (m.opcode == WS_PING) {
            dd_buf b = DD_BUF_INIT;
            ws_frame_add(&b, WS_PONG, m.data, m.len);
            http_raw_write(k->raw, b.data, b.len);
            dd_buf_release(&b);
        } else if (m.opcode == WS_CLOSE) {
            finish(k);
        } else if (m.opcode == WS_BINARY || m.opcode == WS_TEXT) {
            on_channel(k, m.data, m.len);
        }
    }
    if (!k->finished && r < 0)
        finish(k);
}

static void on_eof(http_raw *raw, void *ud)
{
    (void)raw;
    close_stdin(ud);
}

static void on_drain(http_raw *raw, void *ud)
{
    (void)raw;
    struct kexec *k = ud;
    if (k->out_w)
        ev_io_set(k->out_w, EV_READ);
    if (k->err_w)
        ev_io_set(k->err_w, EV_READ);
}

static void on_close(http_raw *raw, void *ud)
{
    (void)raw;
    finish(ud);
}

static const http_raw_ops ops = {on_data, on_eof, on_drain, on_close};

static int start_process(struct kexec *k, const char *dir, const struct kstream_exec_opts *o,
                         dd_err *e)
{
    if (!o->argv) {
        k->attach = true;
        k->x = (struct rt_exec_result){.pid = -1, .pidfd = -1, .stdin_fd = -1, .stderr_fd = -1};
        k->x.stdout_fd = rt_attach_connect(dir, e);
        return k->x.stdout_fd < 0 ? k->x.stdout_fd : 0;
    }
    struct rt_process p = {
        .args = o->argv, .terminal = o->tty, .open_stdin = o->in, .rows = 24, .cols = 80};
    int r = rt_exec(dir, &p, &k->x, e);
    if (r < 0)
        return r;
    k->child = ev_child_add_pidfd(k->loop, k->x.pidfd, k->x.pid, on_child, k, e);
    return k->child ? 0 : -EIO;
}

static int watch_output(struct kexec *k, dd_err *e)
{
    dd_set_nonblock(k->x.stdout_fd, true);
    k->out_w = ev_io_add(k->loop, k->x.stdout_fd, EV_READ, on_output, k, e);
    if (k->x.stderr_fd >= 0) {
        dd_set_nonblock(k->x.stderr_fd, true);
        k->err_w = ev_io_add(k->loop, k->x.stderr_fd, EV_READ, on_output, k, e);
    }
    return k->out_w ? 0 : -EIO;
}

int kstream_exec_serve(ev_loop *loop, http_req *req, const char *state_dir,
                       const struct kstream_exec_opts *o, kobj_status *st)
{
    static const char *const protos[] = {"v5.channel.k8s.io", "v4.channel.k8s.io", NULL};
    const char *proto = ws_pick_protocol(req, protos);
    const char *ver = http_req_header(req, "Sec-WebSocket-Version");
    char acc[32];
    if (!http_req_wants_upgrade(req, "websocket") || !proto ||
        strcmp(http_req_method(req), "GET") || !ver || strcmp(ver, "13") ||
        ws_accept_key(http_req_header(req, "Sec-WebSocket-Key"), acc) < 0)
        return kobj_fail(st, 400, "BadRequest",
                         "upgrade request required: this server speaks WebSocket with "
                         "v5.channel.k8s.io or v4.channel.k8s.io");
    struct kexec *k = calloc(1, sizeof(*k));
    k->loop = loop;
    k->tty = o->tty;
    ws_reader_init(&k->rd, true);
    dd_buf_init(&k->att);
    dd_err e = {0};
    if (start_process(k, state_dir, o, &e) < 0 || watch_output(k, &e) < 0) {
        if (k->child)
            ev_child_del(k->child), k->x.pidfd = -1;
        free_kexec(k);
        return kobj_fail(st, 500, "InternalError", "%s", e.msg);
    }
    k->raw = ws_upgrade(req, proto, &ops, k, &e);
    if (!k->raw) {
        finish(k);
        return kobj_fail(st, 400, "BadRequest", "%s", e.msg);
    }
    return 0;
}
