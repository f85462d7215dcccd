/* handler.c: runs one probe or lifecycle handler of a container without ever blocking the
 * loop — exec through rt_exec in the running instance (the process's pidfd and output pipes are
 * watched on the loop, output capped at 10 KiB like upstream), httpGet and tcpSocket over a
 * non-blocking socket from the agent's network namespace to the pod IP on bridge k3c0 (or the
 * handler's host, an IPv4 address; scheme HTTPS over OpenSSL without certificate verification,
 * as upstream), grpc refused with a clear error. The outcome is reported
 * exactly once, always from a later loop callback, unless the run is cancelled first. Failure
 * texts follow upstream's (Go's) wording so events read the same: "HTTP probe failed with
 * statuscode: 500", "dial tcp 10.42.0.7:80: connect: connection refused", "command \"x\" timed
 * out". This file does not decide what a result means (probe.c, hooks in probe.c do).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "k3core/kubelet/kubelet-internal.h"

#define OUTPUT_MAX 10240

struct kl_hrun {
    struct kl_ctr *c;
    const struct kpr_handler *h;
    kl_hrun_fn done;
    void *ud;
    ev_timer *deadline;
    bool finished, has_result;
    enum kpr_result res;
    bool errored;
    char *msg;
    /* exec */
    ev_child *child;
    bool exited;   /* the exec'd process was reaped by the ev_child */
    int exit_code; /* its exit code (128 + signal), -1 unknown or not exec */
    int out_fd, err_fd;
    ev_io *out_w, *err_w;
    dd_buf out;
    /* network */
    int sock;
    ev_io *sock_w;
    char addr[64]; /* "10.42.0.7:80" */
    char *url;     /* http only */
    char *req;
    size_t req_off;
    bool connected;
    SSL *ssl; /* HTTPS */
    char tls_err[160];
};

static void release(void *data)
{
    struct kl_hrun *r = data;
    dd_buf_release(&r->out);
    free(r->msg), free(r->url), free(r->req);
    free(r);
}

/* Stops every watcher and closes every fd; the struct itself is freed on the next iteration. */
static void stop(struct kl_hrun *r)
{
    ev_timer_del(r->deadline), r->deadline = NULL;
    ev_io_del(r->out_w), r->out_w = NULL;
    ev_io_del(r->err_w), r->err_w = NULL;
    ev_io_del(r->sock_w), r->sock_w = NULL;
    if (r->child && !r->exited) { /* timed out or cancelled: kill and reap it now */
        int fd = ev_child_pidfd(r->child);
        siginfo_t info;
        syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0);
        waitid((idtype_t)P_PIDFD, (id_t)fd, &info, WEXITED);
    }
    ev_child_del(r->child), r->child = NULL;
    if (r->out_fd >= 0)
        close(r->out_fd), r->out_fd = -1;
    if (r->err_fd >= 0)
        close(r->err_fd), r->err_fd = -1;
    SSL_free(r->ssl), r->ssl = NULL;
    if (r->sock >= 0)
        close(r->sock), r->sock = -1;
}

static void finish(struct kl_hrun *r, enum kpr_result res, bool errored, char *msg_new)
{
    if (r->finished) {
        free(msg_new);
        return;
    }
    r->finished = true;
    stop(r);
    r->done(r->ud, res, errored, r->exit_code, msg_new ? msg_new : "");
    free(msg_new);
    ev_defer(r->c->k->loop, release, r);
}

void kl_hrun_cancel(struct kl_hrun *r)
{
    if (!r || r->finished)
        return;
    r->finished = true;
    stop(r);
    ev_defer(r->c->k->loop, release, r);
}

static char *joined_cmd(char *const *v)
{
    dd_buf b;
    dd_buf_init(&b);
    for (size_t i = 0; v && v[i]; i++)
        dd_buf_addf(&b, "%s%s", i ? " " : "", v[i]);
    return dd_buf_detach(&b, NULL);
}

static char *timeout_msg(struct kl_hrun *r)
{
    if (r->h->action == KPR_EXEC) {
        _cleanup_free_ char *cmd = joined_cmd(r->h->cmd);
        return dd_asprintf("command \"%s\" timed out", cmd);
    }
    if (r->h->action == KPR_HTTP)
        return dd_asprintf("Get \"%s\": context deadline exceeded (Client.Timeout exceeded "
                           "while awaiting headers)",
                           r->url);
    return dd_asprintf("dial tcp %s: i/o timeout", r->addr);
}

static void on_deadline(ev_timer *t, void *data)
{
    struct kl_hrun *r = data;
    (void)t;
    if (r->has_result)
        finish(r, r->res, r->errored, TAKE_PTR(r->msg));
    else
        finish(r, KPR_FAILURE, false, timeout_msg(r));
}

/* A result known at once is still delivered from the loop (the caller's state is not ready for
 * a callback inside kl_hrun_start). */
static void later(struct kl_hrun *r, enum kpr_result res, bool errored, char *msg_new)
{
    r->has_result = true;
    r->res = res;
    r->errored = errored;
    r->msg = msg_new;
    ev_timer_reset(r->deadline, 0);
}

/* ---- exec ---- */

static void drain(struct kl_hrun *r, int fd)
{
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        if (r->out.len < OUTPUT_MAX)
            dd_buf_add(&r->out, buf,
                       r->out.len + (size_t)n > OUTPUT_MAX ? OUTPUT_MAX - r->out.len : (size_t)n);
}

static void on_output(ev_io *w, int fd, unsigned events, void *data)
{
    struct kl_hrun *r = data;
    (void)events;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) {
        if (r->out.len < OUTPUT_MAX)
            dd_buf_add(&r->out, buf,
                       r->out.len + (size_t)n > OUTPUT_MAX ? OUTPUT_MAX - r->out.len : (size_t)n);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    ev_io_del(w);
    if (w == r->out_w)
        r->out_w = NULL;
    else
        r->err_w = NULL;
}

static void on_exec_exit(ev_child *ch, pid_t pid, const siginfo_t *info, void *data)
{
    struct kl_hrun *r = data;
    (void)ch, (void)pid;
    r->exited = true;
    int code = info ? ev_child_exit_code(info) : -1;
    r->exit_code = code;
    if (r->out_fd >= 0)
        drain(r, r->out_fd);
    if (r->err_fd >= 0)
        drain(r, r->err_fd);
    char *out = dd_buf_detach(&r->out, NULL);
    if (code == 0)
        finish(r, KPR_SUCCESS, false, out);
    else if (code < 0)
        finish(r, KPR_UNKNOWN, true, (free(out), dd_strdup("exit status unavailable")));
    else
        finish(r, KPR_FAILURE, false, out);
}

static void start_exec(struct kl_hrun *r)
{
    struct kl_ctr *c = r->c;
    struct rt_process p = {.args = r->h->cmd, .env = c->env, .user = c->user, .cwd = c->cwd};
    struct rt_exec_result x;
    dd_err e = {0};
    if (!c->state_dir || rt_exec(c->state_dir, &p, &x, &e) < 0) {
        bool gone = e.code == ESRCH || !c->state_dir;
        later(r, gone ? KPR_UNKNOWN : KPR_FAILURE, false,
              dd_strdup(c->state_dir ? e.msg : "container is not running"));
        return;
    }
    if (x.stdin_fd >= 0)
        close(x.stdin_fd);
    r->out_fd = x.stdout_fd, r->err_fd = x.stderr_fd;
    dd_set_nonblock(r->out_fd, true);
    r->out_w = ev_io_add(c->k->loop, r->out_fd, EV_READ, on_output, r, &e);
    if (r->err_fd >= 0) {
        dd_set_nonblock(r->err_fd, true);
        r->err_w = ev_io_add(c->k->loop, r->err_fd, EV_READ, on_output, r, &e);
    }
    r->child = ev_child_add_pidfd(c->k->loop, x.pidfd, x.pid, on_exec_exit, r, &e);
    if (!r->child)
        later(r, KPR_UNKNOWN, true, dd_strdup(e.msg));
}

/* ---- tcpSocket / httpGet ---- */

/* Go's syscall.Errno texts start with a lower-case letter. */
static char *dial_error(struct kl_hrun *r, int err)
{
    char *m = dd_asprintf("dial tcp %s: connect: %s", r->addr, strerror(err));
    char *p = strstr(m, "connect: ") + 9;
    *p = (char)tolower((unsigned char)*p);
    if (r->h->action != KPR_HTTP)
        return m;
    char *full = dd_asprintf("Get \"%s\": %s", r->url, m);
    free(m);
    return full;
}

static void http_result(struct kl_hrun *r, bool eof)
{
    int code = kpr_http_status(r->out.data ? r->out.data : "", r->out.len);
    if (code == 0 && !eof)
        return;
    if (code == 0)
        finish(r, KPR_FAILURE, false, dd_asprintf("Get \"%s\": EOF", r->url));
    else if (code < 0)
        finish(r, KPR_FAILURE, false,
               dd_asprintf("Get \"%s\": net/http: HTTP/1.x transport connection broken: "
                           "malformed HTTP response",
                           r->url));
    else if (code >= 200 && code < 400)
        finish(r, KPR_SUCCESS, false, NULL);
    else
        finish(r, KPR_FAILURE, false, dd_asprintf("HTTP probe failed with statuscode: %d", code));
}

/* One TLS context for every HTTPS probe: like upstream's prober, no certificate verification. */
static SSL_CTX *tls_ctx(kubelet *k)
{
    if (!k->probe_tls) {
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
        if (ctx)
            SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        k->probe_tls = ctx;
    }
    return k->probe_tls;
}

void kl_handler_tls_free(kubelet *k)
{
    SSL_CTX_free(k->probe_tls);
    k->probe_tls = NULL;
}

/* An SSL_* result that is not progress: -EAGAIN with *want set, 0 at a clean close, else
 * -EPROTO with the TLS error in r->tls_err. */
static ssize_t tls_again(struct kl_hrun *r, int rc, unsigned *want)
{
    int err = SSL_get_error(r->ssl, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        *want = err == SSL_ERROR_WANT_READ ? EV_READ : EV_WRITE;
        return -EAGAIN;
    }
    if (err == SSL_ERROR_ZERO_RETURN)
        return 0;
    unsigned long e = ERR_peek_last_error();
    snprintf(r->tls_err, sizeof(r->tls_err), "%s",
             e ? ERR_reason_error_string(e) ?: "tls error" : "connection reset by peer");
    return -EPROTO;
}

static ssize_t io_write(struct kl_hrun *r, const char *p, size_t n, unsigned *want)
{
    *want = EV_WRITE;
    if (r->ssl) {
        ERR_clear_error();
        int k = SSL_write(r->ssl, p, (int)n);
        return k > 0 ? k : tls_again(r, k, want);
    }
    ssize_t k = send(r->sock, p, n, MSG_NOSIGNAL);
    if (k < 0 && (errno == EAGAIN || errno == EINTR))
        return -EAGAIN;
    return k < 0 ? -errno : k;
}

static ssize_t io_read(struct kl_hrun *r, char *p, size_t n, unsigned *want)
{
    *want = EV_READ;
    if (r->ssl) {
        ERR_clear_error();
        int k = SSL_read(r->ssl, p, (int)n);
        return k > 0 ? k : tls_again(r, k, want);
    }
    ssize_t k = recv(r->sock, p, n, 0);
    if (k < 0 && (errno == EAGAIN || errno == EINTR))
        return -EAGAIN;
    return k < 0 ? -errno : k;
}

static char *io_error(struct kl_hrun *r, const char *op, ssize_t err)
{
    return dd_asprintf("Get \"%s\": %s%s%s", r->url, op,
                       err == -EPROTO ? "remote error: tls: " : "",
                       err == -EPROTO ? r->tls_err : strerror((int)-err));
}

/* Connected: for TCP that is the answer; for HTTPS the TLS session starts. */
static bool on_connected(struct kl_hrun *r, int fd)
{
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
        finish(r, KPR_FAILURE, false, dial_error(r, err));
        return false;
    }
    r->connected = true;
    if (r->h->action == KPR_TCP) {
        finish(r, KPR_SUCCESS, false, NULL);
        return false;
    }
    if (r->h->https) {
        SSL_CTX *ctx = tls_ctx(r->c->k);
        r->ssl = ctx ? SSL_new(ctx) : NULL;
        if (!r->ssl || !SSL_set_fd(r->ssl, fd)) {
            finish(r, KPR_UNKNOWN, true, dd_strdup("cannot set up TLS"));
            return false;
        }
        SSL_set_connect_state(r->ssl);
    }
    return true;
}

static void on_sock(ev_io *w, int fd, unsigned events, void *data)
{
    struct kl_hrun *r = data;
    unsigned want = EV_READ;
    ssize_t n;
    (void)events;
    if (!r->connected && !on_connected(r, fd))
        return;
    if (r->ssl && !SSL_is_init_finished(r->ssl)) {
        ERR_clear_error();
        int rc = SSL_do_handshake(r->ssl);
        if (rc != 1 && (n = tls_again(r, rc, &want)) != -EAGAIN) {
            finish(r, KPR_FAILURE, false, io_error(r, "", n ? n : -ECONNRESET));
            return;
        }
        if (rc != 1) {
            ev_io_set(w, want);
            return;
        }
    }
    size_t total = strlen(r->req);
    if (r->req_off < total) {
        n = io_write(r, r->req + r->req_off, total - r->req_off, &want);
        if (n < 0 && n != -EAGAIN) {
            finish(r, KPR_FAILURE, false, io_error(r, "write: ", n));
            return;
        }
        r->req_off += n > 0 ? (size_t)n : 0;
        ev_io_set(w, r->req_off == total ? EV_READ : want);
        return;
    }
    char buf[4096];
    n = io_read(r, buf, sizeof(buf), &want);
    if (n == -EAGAIN) {
        ev_io_set(w, want);
        return;
    }
    if (n > 0 && r->out.len < OUTPUT_MAX)
        dd_buf_add(&r->out, buf, (size_t)n);
    http_result(r, n <= 0);
}

static int target(struct kl_hrun *r, struct sockaddr_in *sa, char **ret_err)
{
    const char *host = r->h->host ? r->h->host : r->c->pod->pod_ip;
    if (!strcmp(host, "localhost"))
        host = "127.0.0.1";
    *sa = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)r->h->port)};
    snprintf(r->addr, sizeof(r->addr), "%s:%d", host, r->h->port);
    if (r->h->action == KPR_HTTP) {
        r->url = dd_asprintf("http%s://%s%s", r->h->https ? "s" : "", r->addr, r->h->path);
        r->req = kpr_http_request(r->h, host);
    }
    if (!*host)
        return *ret_err = dd_strdup("the pod has no IP address"), -1;
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return *ret_err = dd_asprintf("host %s: only IPv4 addresses are supported by this "
                                      "node's probes",
                                      host),
               -1;
    return 0;
}

static void start_net(struct kl_hrun *r)
{
    struct sockaddr_in sa;
    char *err = NULL;
    if (target(r, &sa, &err) < 0) {
        later(r, KPR_UNKNOWN, true, err);
        return;
    }
    r->sock = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (r->sock < 0) {
        later(r, KPR_UNKNOWN, true, dd_asprintf("socket: %s", strerror(errno)));
        return;
    }
    if (connect(r->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
        later(r, KPR_FAILURE, false, dial_error(r, errno));
        return;
    }
    dd_err e = {0};
    r->sock_w = ev_io_add(r->c->k->loop, r->sock, EV_WRITE, on_sock, r, &e);
    if (!r->sock_w)
        later(r, KPR_UNKNOWN, true, dd_strdup(e.msg));
}

struct kl_hrun *kl_hrun_start(struct kl_ctr *c, const struct kpr_handler *h, int timeout_s,
                              kl_hrun_fn done, void *ud)
{
    struct kl_hrun *r = dd_calloc(1, sizeof(*r));
    *r = (struct kl_hrun){.c = c,
                          .h = h,
                          .done = done,
                          .ud = ud,
                          .out_fd = -1,
                          .err_fd = -1,
                          .sock = -1,
                          .exit_code = -1};
    dd_buf_init(&r->out);
    r->deadline =
        ev_timer_add(c->k->loop, timeout_s > 0 ? (uint64_t)timeout_s * 1000 : 0, 0, on_deadline, r);
    if (timeout_s <= 0)
        ev_timer_stop(r->deadline);
    switch (h->action) {
    case KPR_EXEC:
        start_exec(r);
        break;
    case KPR_HTTP:
    case KPR_TCP:
        start_net(r);
        break;
    case KPR_GRPC:
        later(r, KPR_UNKNOWN, true,
              dd_asprintf("gRPC probes (port %d) are not supported by this node", h->port));
        break;
    case KPR_SLEEP: /* lifecycle sleep: the deadline timer is the whole action */
        r->has_result = true;
        r->res = KPR_SUCCESS;
        ev_timer_reset(r->deadline, (uint64_t)(timeout_s > 0 && timeout_s < h->sleep_seconds
                                                   ? timeout_s
                                                   : h->sleep_seconds) *
                                        1000);
        break;
    default:
        later(r, KPR_UNKNOWN, true, dd_strdup("missing handler"));
    }
    return r;
}
