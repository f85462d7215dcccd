/* The streams of a running exec: the process's stdout/stderr pipes (or pty master) are always
 * read, framed with Docker's 8-byte multiplexing header unless the exec has a tty, and handed to
 * the hijacked connection; the client's bytes go to the process's stdin, with the connection
 * paused while the pipe is full. When the connection is above its high-water mark, output is
 * queued here up to EXEC_OUTPUT_MAX and dropped beyond it (exec.h explains the policy). When the
 * process exits, whatever is still in its pipes is read at once, the queue is handed over, and
 * the connection is closed after it has been flushed. Output written later by processes the exec
 * left behind in the background is not waited for. This file knows nothing of HTTP routing or
 * JSON: exec.c owns the records and the endpoints.
 */
#include <fcntl.h>
#include <stdio.h>

#include "dind/daemon/exec-internal.h"

static void push(struct exec_inst *x, int stream, const char *data, size_t len)
{
    if (!x->raw || !len)
        return;
    unsigned char hdr[8] = {(unsigned char)stream,
                            0,
                            0,
                            0,
                            (unsigned char)(len >> 24),
                            (unsigned char)(len >> 16),
                            (unsigned char)(len >> 8),
                            (unsigned char)len};
    size_t hl = x->tty ? 0 : sizeof(hdr);
    if (x->raw_full || x->outq.len) {
        if (x->outq.len + hl + len > EXEC_OUTPUT_MAX) {
            x->dropped += len;
            return;
        }
        dd_buf_add(&x->outq, hdr, hl);
        dd_buf_add(&x->outq, data, len);
        return;
    }
    int r = hl ? http_raw_write(x->raw, hdr, hl) : 0;
    if (r >= 0)
        r = http_raw_write(x->raw, data, len);
    if (r == 1)
        x->raw_full = true;
}

enum pump_result { PUMP_AGAIN, PUMP_MORE, PUMP_EOF };

/* Reads what the fd has now, at most 1 MiB per call. EIO from a pty whose slave side is closed
 * is its EOF. */
static enum pump_result pump(struct exec_inst *x, int fd, int stream)
{
    char buf[64 * 1024];
    for (int i = 0; i < 16; i++) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0) {
            push(x, stream, buf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 && errno == EAGAIN ? PUMP_AGAIN : PUMP_EOF;
    }
    return PUMP_MORE;
}

static void on_output(ev_io *w, int fd, unsigned events, void *data)
{
    struct exec_inst *x = data;
    bool is_err = w == x->err_w;
    if (pump(x, fd, is_err ? 2 : 1) != PUMP_EOF)
        return;
    ev_io_del(w);
    if (is_err)
        x->err_w = NULL;
    else
        x->out_w = NULL;
}

/* After the exit: what the process wrote is in the pipe now. A background process it left behind
 * could write forever, so this reads at most 8 MiB. */
static void drain(struct exec_inst *x, int fd, int stream)
{
    if (fd < 0)
        return;
    dd_set_nonblock(fd, true);
    for (int i = 0; i < 8 && pump(x, fd, stream) == PUMP_MORE; i++)
        ;
}

static void close_stdin(struct exec_inst *x)
{
    if (x->tty || x->io.stdin_fd < 0)
        return; /* a pty master is also the output: the process sees EOF through the tty */
    ev_io_del(x->in_w);
    x->in_w = NULL;
    close(x->io.stdin_fd);
    x->io.stdin_fd = -1;
}

static void release(struct exec_inst *x)
{
    ev_io_del(x->out_w);
    ev_io_del(x->err_w);
    ev_io_del(x->in_w);
    x->out_w = x->err_w = x->in_w = NULL;
    ev_child_del(x->child);
    x->child = NULL;
    rt_exec_result_close(&x->io);
    dd_buf_release(&x->inq);
}

static void finish_stream(struct exec_inst *x)
{
    if (x->hold) {
        x->finish_after_hold = true;
        return;
    }
    if (!x->raw)
        return;
    if (x->outq.len)
        http_raw_write(x->raw, x->outq.data, x->outq.len);
    dd_buf_release(&x->outq);
    http_raw_close(x->raw);
    x->raw = NULL;
}

static void on_exit_cb(ev_child *c, pid_t pid, const siginfo_t *info, void *data)
{
    struct exec_inst *x = data;
    int code = info ? ev_child_exit_code(info) : 0;
    drain(x, x->io.stdout_fd, 1);
    drain(x, x->io.stderr_fd, 2);
    if (x->dropped)
        dd_warn("exec %.12s: %llu bytes of output dropped: the client did not read them", x->id,
                (unsigned long long)x->dropped);
    finish_stream(x);
    release(x);
    exec_exited(x, code);
    exec_io_done(x);
}

static void on_stdin_writable(ev_io *w, int fd, unsigned events, void *data)
{
    struct exec_inst *x = data;
    ssize_t n = write(fd, x->inq.data, x->inq.len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n < 0) {
        dd_buf_reset(&x->inq); /* the process closed its stdin: the rest has no reader */
    } else {
        dd_buf_consume(&x->inq, (size_t)n);
        if (x->inq.len)
            return;
    }
    ev_io_del(x->in_w);
    x->in_w = NULL;
    if (x->raw)
        http_raw_pause(x->raw, false);
    if (x->stdin_eof)
        close_stdin(x);
}

static void raw_data(http_raw *raw, const char *data, size_t len, void *ud)
{
    struct exec_inst *x = ud;
    if (!x->attach_stdin || x->io.stdin_fd < 0 || !x->running)
        return;
    ssize_t n = 0;
    if (!x->inq.len) {
        n = write(x->io.stdin_fd, data, len);
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return; /* EPIPE: nobody reads stdin any more */
        if (n < 0)
            n = 0;
    }
    if ((size_t)n == len)
        return;
    dd_buf_add(&x->inq, data + n, len - (size_t)n);
    http_raw_pause(raw, true);
    if (!x->in_w)
        x->in_w = ev_io_add(x->loop, x->io.stdin_fd, EV_WRITE, on_stdin_writable, x, NULL);
}

static void release_hold(struct exec_inst *x);

/* A client that half-closes (the Go client, the CLI) reads the raw connection itself: it needs no
 * hold. */
static void raw_eof(http_raw *raw, void *ud)
{
    struct exec_inst *x = ud;
    x->stdin_eof = true;
    if (x->hold)
        release_hold(x);
    if (x->attach_stdin && !x->inq.len)
        close_stdin(x);
}

static void raw_drain(http_raw *raw, void *ud)
{
    struct exec_inst *x = ud;
    if (x->hold)
        return;
    x->raw_full = false;
    if (!x->outq.len)
        return;
    int r = http_raw_write(raw, x->outq.data, x->outq.len);
    dd_buf_reset(&x->outq);
    x->raw_full = r == 1;
}

/* The first output goes out only once the client has read the 101: docker-py reads the response
 * head through a buffered reader and then switches to the raw socket, so bytes that arrive in the
 * same segment as the head are lost to it. On a UNIX socket the kernel tells when the peer has
 * read everything sent (SIOCOUTQ, http_raw_peer_unread): the hold ends at that moment, checked
 * every EXEC_HOLD_POLL_MS. Where it cannot tell (TCP, TLS), the hold lasts EXEC_HOLD_MS, about
 * dockerd's own runtime round trip. */
#define EXEC_HOLD_MS      20
#define EXEC_HOLD_POLL_MS 1

static void release_hold(struct exec_inst *x)
{
    ev_timer_del(x->hold);
    x->hold = NULL;
    x->raw_full = false;
    if (x->raw && x->outq.len) {
        int r = http_raw_write(x->raw, x->outq.data, x->outq.len);
        dd_buf_reset(&x->outq);
        x->raw_full = r == 1;
    }
    if (x->finish_after_hold) {
        finish_stream(x);
        exec_io_done(x);
    }
}

static void hold_over(ev_timer *t, void *data)
{
    struct exec_inst *x = data;
    if (x->raw && dd_mono_ns() < x->hold_until && http_raw_peer_unread(x->raw) != 0)
        return; /* not read yet (or unknowable): poll again */
    release_hold(x);
}

static void hold_begin(struct exec_inst *x)
{
    /* The real clock: the loop's time may be stale after a slow spawn of the exec helper. */
    x->hold_until = dd_mono_ns() + (int64_t)EXEC_HOLD_MS * 1000000;
    x->hold = ev_timer_add(x->loop, EXEC_HOLD_POLL_MS, EXEC_HOLD_POLL_MS, hold_over, x);
}

static void raw_close(http_raw *raw, void *ud)
{
    struct exec_inst *x = ud;
    http_raw_close(raw);
    x->raw = NULL;
    dd_buf_release(&x->outq);
    if (x->attach_stdin)
        close_stdin(x);
}

const http_raw_ops exec_raw_ops = {
    .on_data = raw_data,
    .on_eof = raw_eof,
    .on_drain = raw_drain,
    .on_close = raw_close,
};

static ev_io *watch(struct exec_inst *x, ev_loop *loop, int fd, dd_err *e)
{
    if (fd < 0)
        return NULL;
    dd_set_nonblock(fd, true);
    return ev_io_add(loop, fd, EV_READ, on_output, x, e);
}

int exec_io_begin(struct exec_inst *x, ev_loop *loop, http_raw *raw, dd_err *e)
{
    x->loop = loop;
    x->raw = raw;
    dd_buf_init(&x->outq);
    if (raw) {
        x->raw_full = true;
        hold_begin(x);
    }
    dd_buf_init(&x->inq);
    if (x->io.stdin_fd >= 0)
        dd_set_nonblock(x->io.stdin_fd, true);
    int pidfd = x->io.pidfd;
    x->io.pidfd = -1;
    x->child = ev_child_add_pidfd(loop, pidfd, x->pid, on_exit_cb, x, e);
    if (!x->child)
        return -e->code;
    x->out_w = watch(x, loop, x->io.stdout_fd, e);
    x->err_w = watch(x, loop, x->io.stderr_fd, e);
    return 0;
}

void exec_io_fail(struct exec_inst *x, ev_loop *loop, http_raw *raw, const char *msg)
{
    if (!raw)
        return;
    _cleanup_free_ char *line = dd_asprintf("%s\r\n", msg);
    x->loop = loop;
    x->raw = raw;
    dd_buf_init(&x->outq);
    x->raw_full = true;
    hold_begin(x);
    push(x, 1, line, strlen(line));
    finish_stream(x);
}
