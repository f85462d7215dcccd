/* exec.c: the wire-independent core of exec and attach. exec runs the command with rt_exec
 * (pipes, or a pty with tty) and watches its exit through a pidfd; attach talks to the
 * container's shim attach socket in Docker's multiplexed framing (stdin, close-stdin and resize
 * messages toward it; stdout/stderr frames from it). Output goes to the transport's sink with
 * backpressure; when the process has exited and every output fd reached EOF the sink hears
 * `done` with the exit code. The WebSocket (exec-ws.c) and SPDY (exec-spdy.c) transports map
 * their channels or streams onto this; neither knows how a process is run. Stdin is written
 * without blocking the loop: a process that does not read makes the transport pause the client.
 */
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "dind/json.h"
#include "dind/rt.h"
#include "k3core/stream/stream-internal.h"

#define KEXEC_STDIN_HIGH (256u * 1024)
#define KEXEC_STDIN_LOW  (64u * 1024)

struct kexec {
    ev_loop *loop;
    kexec_sink sink;
    void *ud;
    struct rt_exec_result x; /* exec; for attach only stdout_fd (the attach socket) is set */
    ev_io *out_w, *err_w;
    ev_child *child;
    dd_buf att; /* attach: bytes of the shim's framing not yet parsed */
    dd_buf in;  /* exec: stdin not yet accepted by the process */
    ev_io *in_w;
    bool attach, tty, exited, done, stopped, in_close, in_paused;
    int code; /* exit code (128 + signal), -1 unknown */
};

static void output(struct kexec *k, unsigned ch, const void *d, size_t n)
{
    if (k->sink.output(k->ud, ch, d, n) == 1) {
        if (k->out_w)
            ev_io_set(k->out_w, 0);
        if (k->err_w)
            ev_io_set(k->err_w, 0);
    }
}

static void free_kexec(void *data)
{
    struct kexec *k = data;
    dd_buf_release(&k->att);
    dd_buf_release(&k->in);
    rt_exec_result_close(&k->x);
    free(k);
}

void kexec_stop(struct kexec *k)
{
    if (!k || k->stopped)
        return;
    k->stopped = true;
    ev_io_del(k->out_w);
    ev_io_del(k->err_w);
    ev_io_del(k->in_w);
    k->out_w = k->err_w = k->in_w = NULL;
    if (k->child && !k->exited) { /* the client left first: do not leave the process behind */
        kill(k->x.pid, SIGKILL);
        waitpid(k->x.pid, NULL, 0);
    }
    if (k->child)
        ev_child_del(k->child);
    k->child = NULL;
    k->x.pidfd = -1; /* owned by the ev_child */
    ev_defer(k->loop, free_kexec, k);
}

json_t *kexec_exit_status(int code)
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
                     "message", "command terminated with non-zero exit code", "reason",
                     "NonZeroExitCode", "details", "causes", "reason", "ExitCode", "message", num);
}

/* Tells the sink once the process has exited and every output fd reached EOF. */
static void maybe_done(struct kexec *k)
{
    if (k->done || k->stopped || !k->exited || k->out_w || k->err_w)
        return;
    k->done = true;
    k->sink.done(k->ud, k->code);
}

static void attach_parse(struct kexec *k)
{
    while (k->att.len >= 8) {
        const uint8_t *h = (const uint8_t *)k->att.data;
        size_t n = (size_t)h[4] << 24 | (size_t)h[5] << 16 | (size_t)h[6] << 8 | h[7];
        if (k->att.len < 8 + n)
            return;
        output(k, h[0] == 2 ? 2 : 1, k->att.data + 8, n);
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
        if (k->attach) { /* the attach stream ended: kubelet reports Success for attach */
            k->exited = true;
            k->code = 0;
        }
        maybe_done(k);
        return;
    }
    if (k->attach) {
        dd_buf_add(&k->att, buf, (size_t)n);
        attach_parse(k);
        return;
    }
    output(k, w == k->out_w ? 1 : 2, buf, (size_t)n);
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

void kexec_resize_json(struct kexec *k, const void *d, size_t n)
{
    json_error_t je;
    json_t *j = json_loadb((const char *)d, n, 0, &je);
    json_int_t w = json_integer_value(json_object_get(j, "Width"));
    json_int_t h = json_integer_value(json_object_get(j, "Height"));
    json_decref(j);
    if (k->stopped || w <= 0 || h <= 0 || w > 65535 || h > 65535)
        return;
    if (k->attach) {
        uint8_t p[4] = {(uint8_t)(h >> 8), (uint8_t)h, (uint8_t)(w >> 8), (uint8_t)w};
        to_shim(k, 4, p, 4);
    } else if (k->tty && k->x.stdin_fd >= 0) {
        struct winsize ws = {.ws_row = (unsigned short)h, .ws_col = (unsigned short)w};
        ioctl(k->x.stdin_fd, TIOCSWINSZ, &ws);
    }
}

static void on_stdin_writable(ev_io *w, int fd, unsigned events, void *data);

/* Writes what stdin accepts without blocking; the rest waits for EV_WRITE. Above the high-water
 * mark the transport stops reading from the client until the process catches up. */
static void stdin_flush(struct kexec *k)
{
    while (k->in.len && k->x.stdin_fd >= 0) {
        ssize_t n = write(k->x.stdin_fd, k->in.data, k->in.len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) { /* the process closed its stdin: drop what it will never read */
            dd_buf_reset(&k->in);
            break;
        }
        dd_buf_consume(&k->in, (size_t)n);
    }
    if (!k->in.len && k->in_close && k->x.stdin_fd >= 0) {
        close(k->x.stdin_fd);
        k->x.stdin_fd = -1;
    }
    if (k->in.len && !k->in_w && k->x.stdin_fd >= 0)
        k->in_w = ev_io_add(k->loop, k->x.stdin_fd, EV_WRITE, on_stdin_writable, k, NULL);
    if ((!k->in.len || k->x.stdin_fd < 0) && k->in_w) {
        ev_io_del(k->in_w);
        k->in_w = NULL;
    }
    bool pause = k->in.len > KEXEC_STDIN_HIGH || (k->in_paused && k->in.len > KEXEC_STDIN_LOW);
    if (pause != k->in_paused && k->sink.pause_input) {
        k->in_paused = pause;
        k->sink.pause_input(k->ud, pause);
    }
}

static void on_stdin_writable(ev_io *w, int fd, unsigned events, void *data)
{
    (void)w, (void)fd, (void)events;
    stdin_flush(data);
}

void kexec_input_close(struct kexec *k)
{
    if (k->stopped)
        return;
    if (k->attach) {
        to_shim(k, 3, NULL, 0);
    } else if (k->tty) {
        dd_buf_addc(&k->in, '\x04'); /* end of input for the line discipline */
        stdin_flush(k);
    } else {
        k->in_close = true;
        stdin_flush(k);
    }
}

void kexec_input(struct kexec *k, const void *d, size_t n)
{
    if (k->stopped || !n)
        return;
    if (k->attach) {
        to_shim(k, 0, d, n);
    } else if (k->x.stdin_fd >= 0 && !k->in_close) {
        dd_buf_add(&k->in, d, n);
        stdin_flush(k);
    }
}

void kexec_resume(struct kexec *k)
{
    if (k->out_w)
        ev_io_set(k->out_w, EV_READ);
    if (k->err_w)
        ev_io_set(k->err_w, EV_READ);
}

static int start_process(struct kexec *k, const char *dir, const struct kstream_exec_opts *o,
                         dd_err *e)
{
    if (!o->argv) {
        k->attach = true;
        k->x = (struct rt_exec_result){.pid = -1, .pidfd = -1, .stdin_fd = -1, .stderr_fd = -1};
        k->x.stdout_fd = rt_attach_connect(dir, e);
        return k->x.stdout_fd < 0 ? k->x.stdout_fd : 0;
    }
    struct rt_process p = {.args = o->argv,
                           .env = o->env,
                           .user = o->user,
                           .cwd = o->cwd,
                           .terminal = o->tty,
                           .open_stdin = o->in,
                           .rows = o->rows ? o->rows : 24,
                           .cols = o->cols ? o->cols : 80};
    int r = rt_exec(dir, &p, &k->x, e);
    if (r < 0)
        return r;
    k->child = ev_child_add_pidfd(k->loop, k->x.pidfd, k->x.pid, on_child, k, e);
    return k->child ? 0 : -EIO;
}

static int watch_output(struct kexec *k, dd_err *e)
{
    if (!k->attach && k->x.stdin_fd >= 0)
        dd_set_nonblock(k->x.stdin_fd, true);
    dd_set_nonblock(k->x.stdout_fd, true);
    k->out_w = ev_io_add(k->loop, k->x.stdout_fd, EV_READ, on_output, k, e);
    if (k->x.stderr_fd >= 0) {
        dd_set_nonblock(k->x.stderr_fd, true);
        k->err_w = ev_io_add(k->loop, k->x.stderr_fd, EV_READ, on_output, k, e);
    }
    return k->out_w ? 0 : -EIO;
}

struct kexec *kexec_start(ev_loop *loop, const char *dir, const struct kstream_exec_opts *o,
                          const kexec_sink *sink, void *ud, dd_err *e)
{
    struct kexec *k = dd_calloc(1, sizeof(*k));
    k->loop = loop;
    k->sink = *sink;
    k->ud = ud;
    k->tty = o->tty;
    k->code = -1;
    k->x = (struct rt_exec_result){
        .pid = -1, .pidfd = -1, .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1};
    dd_buf_init(&k->att);
    dd_buf_init(&k->in);
    if (start_process(k, dir, o, e) < 0 || watch_output(k, e) < 0) {
        kexec_stop(k);
        return NULL;
    }
    return k;
}
