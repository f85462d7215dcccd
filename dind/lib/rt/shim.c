/* The per-container shim (conmon's role). One single-threaded process per container, detached
 * from the daemon: it waits on its control socket for START, clones the container's PID 1 (the
 * namespaces and mounts are set up by that child, child.c), then pumps the container's output
 * into the log file and to every attach client, feeds stdin from attach clients, and when PID 1
 * exits it drains the output, writes the exit record and exits. It reads nothing of the daemon's
 * state after it started, so the daemon may die and come back at any time.
 *
 * Control protocol on <state_dir>/shim.sock: the client sends one line, "START", "ATTACH" or
 * "RESIZE <rows> <cols>"; the shim answers "OK[ <detail>]\n" or "ERR <errno> <message>\n".
 * After "OK" to ATTACH the connection carries the framed streams described in rt.h. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "dind/lib/rt/log-internal.h"
#include "dind/lib/rt/rt-internal.h"
#include "dind/lib/rt/shim-internal.h"

#define CLIENT_OUT_MAX (1 << 20)
#define MAX_CLIENTS    64

static void client_drop(struct shim *s, size_t i)
{
    close(s->clients[i].fd);
    dd_buf_release(&s->clients[i].in);
    dd_buf_release(&s->clients[i].out);
    s->clients[i] = s->clients[--s->n_clients];
}

static void client_reply(struct shim_client *c, const char *fmt, ...) DD_PRINTF(2, 3);
static void client_reply(struct shim_client *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dd_buf_vaddf(&c->out, fmt, ap);
    va_end(ap);
}

void rt_shim_broadcast(struct shim *s, int stream, const char *data, size_t len)
{
    unsigned char hdr[8] = {(unsigned char)stream,
                            0,
                            0,
                            0,
                            (unsigned char)(len >> 24),
                            (unsigned char)(len >> 16),
                            (unsigned char)(len >> 8),
                            (unsigned char)len};
    for (size_t i = 0; i < s->n_clients; i++) {
        struct shim_client *c = &s->clients[i];
        if (c->kind != CLIENT_ATTACH)
            continue;
        if (c->out.len > CLIENT_OUT_MAX) {
            c->close_after_flush = true;
            c->out.len = 0; /* too slow: give up on this client */
            continue;
        }
        dd_buf_add(&c->out, hdr, sizeof(hdr));
        dd_buf_add(&c->out, data, len);
    }
}

static void stdin_push(struct shim *s, const char *data, size_t len)
{
    if (s->stdin_fd < 0 || s->stdin_pending.len > CLIENT_OUT_MAX)
        return;
    dd_buf_add(&s->stdin_pending, data, len);
}

static void stdin_close(struct shim *s)
{
    if (s->terminal) {
        /* A pty has no EOF of its own: send the terminal's EOF character (^D). */
        stdin_push(s, "\x04", 1);
        return;
    }
    s->stdin_eof = true;
}

static void resize(struct shim *s, unsigned rows, unsigned cols)
{
    s->spec.process.rows = (unsigned short)rows;
    s->spec.process.cols = (unsigned short)cols;
    if (s->pty_master >= 0) {
        struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
        (void)ioctl(s->pty_master, TIOCSWINSZ, &ws);
    }
}

/* Parses the frames an attach client sent. */
static void attach_input(struct shim *s, struct shim_client *c)
{
    while (c->in.len >= 8) {
        const unsigned char *h = (const unsigned char *)c->in.data;
        size_t len = (size_t)h[4] << 24 | (size_t)h[5] << 16 | (size_t)h[6] << 8 | h[7];
        if (len > (1 << 20)) {
            c->close_after_flush = true;
            dd_buf_reset(&c->in);
            return;
        }
        if (c->in.len < 8 + len)
            return;
        const char *p = c->in.data + 8;
        if (h[0] == RT_STREAM_STDIN)
            stdin_push(s, p, len);
        else if (h[0] == RT_STREAM_STDIN_EOF)
            stdin_close(s);
        else if (h[0] == RT_STREAM_RESIZE && len == 4)
            resize(s, (unsigned)(unsigned char)p[0] << 8 | (unsigned char)p[1],
                   (unsigned)(unsigned char)p[2] << 8 | (unsigned char)p[3]);
        dd_buf_consume(&c->in, 8 + len);
    }
}

static void command(struct shim *s, struct shim_client *c, const char *line)
{
    unsigned rows = 0, cols = 0;
    if (strcmp(line, "ATTACH") == 0) {
        c->kind = CLIENT_ATTACH;
        client_reply(c, "OK\n");
    } else if (strcmp(line, "START") == 0) {
        dd_err e = {0};
        if (rt_shim_start(s, &e) < 0)
            client_reply(c, "ERR %d %s\n", e.code, e.msg);
        else
            client_reply(c, "OK %d\n", (int)s->pid);
        c->close_after_flush = true;
    } else if (sscanf(line, "RESIZE %u %u", &rows, &cols) == 2) {
        if (!s->terminal)
            client_reply(c, "ERR %d the container has no terminal\n", ENOTTY);
        else
            client_reply(c, "OK\n");
        resize(s, rows, cols);
        c->close_after_flush = true;
    } else {
        client_reply(c, "ERR %d unknown command\n", EINVAL);
        c->close_after_flush = true;
    }
}

static void client_readable(struct shim *s, size_t i)
{
    struct shim_client *c = &s->clients[i];
    char buf[16384];
    ssize_t n = read(c->fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        /* A client that half-closed still wants its output: stop reading only. */
        c->read_closed = true;
        if (c->kind != CLIENT_ATTACH || n < 0)
            c->close_after_flush = true;
        return;
    }
    dd_buf_add(&c->in, buf, (size_t)n);
    if (c->kind == CLIENT_ATTACH) {
        attach_input(s, c);
        return;
    }
    char *nl = memchr(c->in.data, '\n', c->in.len);
    if (!nl) {
        if (c->in.len > 4096)
            c->close_after_flush = true;
        return;
    }
    *nl = '\0';
    size_t used = (size_t)(nl - c->in.data) + 1;
    _cleanup_free_ char *line = dd_strdup(c->in.data);
    dd_buf_consume(&c->in, used);
    command(s, c, line);
    if (c->kind == CLIENT_ATTACH)
        attach_input(s, c);
}

static void client_writable(struct shim *s, size_t i)
{
    struct shim_client *c = &s->clients[i];
    ssize_t n = write(c->fd, c->out.data, c->out.len);
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
        c->close_after_flush = true;
        dd_buf_reset(&c->out);
        return;
    }
    if (n > 0)
        dd_buf_consume(&c->out, (size_t)n);
}

static void accept_client(struct shim *s)
{
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    if (s->n_clients >= MAX_CLIENTS) {
        close(fd);
        return;
    }
    s->clients[s->n_clients++] = (struct shim_client){.fd = fd, .kind = CLIENT_COMMAND};
}

static void output_readable(struct shim *s, int idx)
{
    char buf[32768];
    ssize_t n = read(s->out_fd[idx], buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) { /* EOF, or EIO from a pty whose slaves are all closed */
        close(s->out_fd[idx]);
        s->out_fd[idx] = -1;
        return;
    }
    int stream = idx == 1 ? RT_STREAM_STDERR : RT_STREAM_STDOUT;
    rt_log_writer_write(&s->log, stream, buf, (size_t)n);
    rt_shim_broadcast(s, stream, buf, (size_t)n);
    s->output_seen = true;
}

static void stdin_writable(struct shim *s)
{
    ssize_t n = write(s->stdin_fd, s->stdin_pending.data, s->stdin_pending.len);
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
        dd_buf_reset(&s->stdin_pending);
        s->stdin_eof = true;
        return;
    }
    if (n > 0)
        dd_buf_consume(&s->stdin_pending, (size_t)n);
}

static void handle_sigchld(struct shim *s)
{
    struct signalfd_siginfo si;
    while (read(s->sig_fd, &si, sizeof(si)) == sizeof(si))
        ;
    int st = 0;
    while (s->pid > 0 && !s->exited) {
        pid_t r = waitpid(s->pid, &st, WNOHANG);
        if (r == 0 || (r < 0 && errno != EINTR))
            break;
        if (r == s->pid) {
            s->exited = true;
            s->wait_status = st;
        }
    }
}

/* Collects the poll set; returns the number of entries. */
static nfds_t build_pollset(struct shim *s, struct pollfd *p, int *kinds, size_t *idx)
{
    nfds_t n = 0;
    p[n] = (struct pollfd){.fd = s->sig_fd, .events = POLLIN};
    kinds[n++] = 0;
    if (!s->exited) {
        p[n] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
        kinds[n++] = 1;
    }
    for (int i = 0; i < 2; i++) {
        if (s->out_fd[i] >= 0) {
            p[n] = (struct pollfd){.fd = s->out_fd[i], .events = POLLIN};
            idx[n] = (size_t)i;
            kinds[n++] = 2;
        }
    }
    if (s->stdin_fd >= 0 && s->stdin_pending.len) {
        p[n] = (struct pollfd){.fd = s->stdin_fd, .events = POLLOUT};
        kinds[n++] = 3;
    }
    for (size_t i = 0; i < s->n_clients; i++) {
        struct shim_client *c = &s->clients[i];
        short ev = (c->read_closed ? 0 : POLLIN) | (c->out.len ? POLLOUT : 0);
        p[n] = (struct pollfd){.fd = c->fd, .events = ev};
        idx[n] = i;
        kinds[n++] = 4;
    }
    return n;
}

static void dispatch(struct shim *s, struct pollfd *p, nfds_t n, int *kinds, size_t *idx)
{
    for (nfds_t k = 0; k < n; k++) {
        if (!p[k].revents)
            continue;
        switch (kinds[k]) {
        case 0:
            handle_sigchld(s);
            break;
        case 1:
            accept_client(s);
            break;
        case 2:
            output_readable(s, (int)idx[k]);
            break;
        case 3:
            stdin_writable(s);
            break;
        default:
            if (p[k].revents & (POLLIN | POLLHUP | POLLERR))
                client_readable(s, idx[k]);
            if (p[k].revents & POLLOUT)
                client_writable(s, idx[k]);
        }
    }
    /* Drop finished clients after the pass, so indexes above stay valid. */
    for (size_t i = s->n_clients; i-- > 0;) {
        struct shim_client *c = &s->clients[i];
        if (c->close_after_flush && c->out.len == 0)
            client_drop(s, i);
    }
    if (s->stdin_eof && s->stdin_pending.len == 0 && s->stdin_fd >= 0 && !s->terminal) {
        close(s->stdin_fd);
        s->stdin_fd = -1;
    }
}

static void loop(struct shim *s)
{
    struct pollfd p[MAX_CLIENTS + 8];
    int kinds[MAX_CLIENTS + 8];
    size_t idx[MAX_CLIENTS + 8];
    for (;;) {
        nfds_t n = build_pollset(s, p, kinds, idx);
        /* After PID 1 exited, wait for the output pipes' EOF; stop when they stay quiet (a
         * process outside the pid namespace may hold them open). */
        bool draining = s->exited;
        if (draining && s->out_fd[0] < 0 && s->out_fd[1] < 0)
            return;
        s->output_seen = false;
        int r = poll(p, n, draining ? 200 : -1);
        if (r < 0 && errno != EINTR)
            return;
        if (r == 0 && draining)
            return;
        dispatch(s, p, n, kinds, idx);
    }
}

/* Sends every attach client what it still has queued, then closes it. */
static void flush_clients(struct shim *s)
{
    for (size_t i = 0; i < s->n_clients; i++) {
        struct shim_client *c = &s->clients[i];
        (void)dd_set_nonblock(c->fd, false);
        struct timeval tv = {.tv_sec = 5};
        (void)setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        (void)dd_write_all(c->fd, c->out.data, c->out.len);
        shutdown(c->fd, SHUT_WR);
    }
    while (s->n_clients)
        client_drop(s, s->n_clients - 1);
}

static void finish(struct shim *s)
{
    rt_log_writer_close(&s->log);
    struct rt_exit_record x = {.finished_at = dd_now_ns(), .error = s->start_error};
    if (WIFEXITED(s->wait_status)) {
        x.exit_code = WEXITSTATUS(s->wait_status);
    } else if (WIFSIGNALED(s->wait_status)) {
        x.exit_signal = WTERMSIG(s->wait_status);
        x.exit_code = 128 + x.exit_signal;
    }
    if (s->start_failed)
        x.exit_code = s->start_exit_code;
    x.oom_killed = rt_shim_oom_killed(s);
    (void)rt_write_exit_record(s->dir, &x);
    flush_clients(s);
    _cleanup_free_ char *sock = dd_path_join(s->dir, RT_FILE_SOCK);
    unlink(sock);
}

static int listen_socket(struct shim *s, dd_err *e)
{
    s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s->listen_fd < 0)
        return dd_err_sys(e, "creating the control socket");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    /* Relative to the state dir (the shim's cwd): no sun_path length limit on the dir. */
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", RT_FILE_SOCK);
    unlink(RT_FILE_SOCK);
    if (bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s->listen_fd, 64) < 0)
        return dd_err_sys(e, "binding %s/%s", s->dir, RT_FILE_SOCK);
    chmod(RT_FILE_SOCK, 0600);
    return 0;
}

static int write_pid_file(struct shim *s, dd_err *e)
{
    _cleanup_free_ char *path = dd_path_join(s->dir, RT_FILE_SHIM_PID);
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "%d %llu\n", (int)getpid(),
                     (unsigned long long)rt_pid_starttime(getpid()));
    return rt_write_state_file(path, buf, (size_t)n, 0644, e);
}

static int setup_signals(struct shim *s, dd_err *e)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    s->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (s->sig_fd < 0)
        return dd_err_sys(e, "signalfd");
    return 0;
}

static int shim_init(struct shim *s, const char *state_dir, dd_err *e)
{
    s->dir = state_dir;
    s->listen_fd = s->sig_fd = s->stdin_fd = s->pty_master = -1;
    s->out_fd[0] = s->out_fd[1] = -1;
    for (int i = 0; i < 3; i++)
        s->child_stdio[i] = -1;
    if (chdir(state_dir) < 0)
        return dd_err_sys(e, "entering %s", state_dir);
    int r = rt_spec_load(state_dir, &s->spec, e);
    if (r < 0)
        return r;
    s->terminal = s->spec.process.terminal;
    if ((r = rt_seccomp_bpf_read(state_dir, &s->bpf, &s->bpf_len, e)) < 0)
        return r;
    s->rootfs = dd_path_join(state_dir, RT_DIR_ROOTFS);
    if ((r = setup_signals(s, e)) < 0 || (r = rt_shim_stdio(s, e)) < 0)
        return r;
    if ((r = rt_log_writer_open(&s->log, s->spec.log_path, s->spec.log_format, e)) < 0)
        return r;
    if ((r = listen_socket(s, e)) < 0 || (r = write_pid_file(s, e)) < 0)
        return r;
    return 0;
}

int rt_shim_main(int sync_fd, const char *state_dir)
{
    struct shim s = {0};
    dd_err e = {0};
    int devnull = open("/dev/null", O_RDWR);
    for (int fd = 0; fd < 3 && devnull >= 0; fd++)
        if (fd != sync_fd)
            dup2(devnull, fd);
    if (devnull > 2)
        close(devnull);
    umask(022);
    if (shim_init(&s, state_dir, &e) < 0) {
        dprintf(sync_fd, "ERR %d %s\n", e.code, e.msg);
        return 1;
    }
    dprintf(sync_fd, "OK %d\n", (int)getpid());
    close(sync_fd);
    loop(&s);
    finish(&s);
    return 0;
}
