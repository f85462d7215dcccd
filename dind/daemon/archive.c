/* HTTP side of /containers/{id}/archive: HEAD (path stat in X-Docker-Container-Path-Stat), GET (a
 * tar of the path, streamed) and PUT (a client tar extracted into a directory). Each request forks
 * one helper child that does the filesystem work inside the container's root (archive-child.c)
 * and answers through a pipe; this file parses the child's first line into an HTTP status and
 * headers and relays the tar stream with backpressure: when the client reads slowly the pipe is
 * no longer read, so the child blocks in write() and the daemon's memory stays bounded. A client
 * that goes away kills its helper. PUT bodies come complete (in memory, or spooled to a temp file
 * by the HTTP server for large ones), so the child can check the whole archive before writing.
 *
 * Why fork without exec: the child needs only this process's code (libarchive, the tar module)
 * and closes every inherited descriptor but its pipe and the body at once, so it holds no client
 * connection open; dindd is single-threaded, so the forked child's heap is consistent.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include "dind/ev.h"
#include "dind/json.h"
#include "dind/daemon/archive.h"
#include "dind/daemon/container.h"
#include "dind/daemon/daemon.h"

static struct ctr_store *arc_store;
static ev_loop *arc_loop;

struct arc_session {
    http_req *req;
    enum arc_op op;
    pid_t pid;
    int fd;
    ev_io *io;
    dd_buf head;
    bool streaming; /* GET: headers sent, tar bytes follow */
};

static void child_main(struct arc_job *job, int out)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    if (dup2(out, 3) < 0)
        _exit(1);
    if (job->body.fd >= 0) {
        if (dup2(job->body.fd, 4) < 0)
            _exit(1);
        job->body.fd = 4;
    }
    close_range(job->body.fd >= 0 ? 5 : 4, ~0U, 0);
    _exit(arc_child_run(job, 3));
}

static int spawn(struct arc_job *job, pid_t *ret_pid, int *ret_fd, dd_err *e)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return dd_err_sys(e, "creating a pipe");
    pid_t pid = fork();
    if (pid < 0) {
        int r = dd_err_sys(e, "forking the archive helper");
        close(p[0]);
        close(p[1]);
        return r;
    }
    if (pid == 0)
        child_main(job, p[1]);
    close(p[1]);
    dd_set_nonblock(p[0], true);
    *ret_pid = pid;
    *ret_fd = p[0];
    return 0;
}

/* Reaps the helper; returns its exit code (0 when it cannot be known). */
static int reap(struct arc_session *s)
{
    int status = 0;
    if (s->pid <= 0)
        return 0;
    while (waitpid(s->pid, &status, 0) < 0) {
        if (errno != EINTR)
            return 0;
    }
    s->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void session_free(struct arc_session *s)
{
    ev_io_del(s->io);
    if (s->fd >= 0)
        close(s->fd);
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        reap(s);
    }
    dd_buf_release(&s->head);
    free(s);
}

static void on_drain(http_req *req, void *data)
{
    struct arc_session *s = data;
    ev_io_set(s->io, EV_READ);
}

static void on_gone(http_req *req, void *data)
{
    struct arc_session *s = data;
    if (s->pid > 0)
        kill(s->pid, SIGKILL);
    ev_io_set(s->io, EV_READ); /* see the EOF even while paused by backpressure */
}

/* Handles the child's first line; returns true when the request is finished. */
static bool on_head(struct arc_session *s, const char *line, size_t len)
{
    json_t *msg = NULL;
    int64_t status = 500;
    json_t *stat = NULL;
    if (jx_parse(line, len, &msg, NULL) < 0 || jx_int(msg, "status", &status, NULL) < 0) {
        json_decref(msg);
        http_reply_error(s->req, 500, "archive helper: malformed answer");
        return true;
    }
    if (status != 200) {
        const char *m = "archive helper failed";
        jx_str(msg, "message", &m, NULL);
        http_reply_error(s->req, (int)status, m);
        json_decref(msg);
        return true;
    }
    if (jx_obj(msg, "stat", &stat, NULL) == 0 && stat) {
        _cleanup_free_ char *hdr = arc_stat_header(stat);
        http_add_header(s->req, "X-Docker-Container-Path-Stat", hdr);
    }
    json_decref(msg);
    if (s->op != ARC_GET && s->op != ARC_EXPORT) {
        http_reply(s->req, 200, NULL, NULL, 0);
        return true;
    }
    http_req_on_drain(s->req, on_drain, s);
    http_req_on_close(s->req, on_gone, s);
    http_stream_start(s->req, 200, "application/x-tar");
    s->streaming = true;
    return false;
}

static void finish(struct arc_session *s)
{
    int code = reap(s);
    if (s->streaming) {
        if (code == 0 && !http_req_is_gone(s->req))
            http_stream_end(s->req);
        else
            http_req_abort(s->req);
    } else {
        http_reply_error(s->req, 500, "archive helper exited without an answer");
    }
    session_free(s);
}

/* Relays bytes after the head; returns false when the request was finished. */
static bool relay(struct arc_session *s, const char *data, size_t len)
{
    if (!len)
        return true;
    int r = http_stream_write(s->req, data, len);
    if (r == 1)
        ev_io_set(s->io, 0);
    if (r < 0 && s->pid > 0)
        kill(s->pid, SIGKILL);
    return true;
}

static void on_child(ev_io *w, int fd, unsigned events, void *data)
{
    struct arc_session *s = data;
    char buf[64 * 1024];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        finish(s);
        return;
    }
    if (s->streaming) {
        relay(s, buf, (size_t)n);
        return;
    }
    dd_buf_add(&s->head, buf, (size_t)n);
    char *nl = memchr(s->head.data, '\n', s->head.len);
    if (!nl)
        return;
    size_t hl = (size_t)(nl - s->head.data);
    if (on_head(s, s->head.data, hl)) {
        session_free(s);
        return;
    }
    relay(s, nl + 1, s->head.len - hl - 1);
}

static int job_root(struct container *c, enum arc_op op, struct arc_root *root, dd_err *e)
{
    /* export reads the container's own filesystem, without its volumes and bind mounts */
    root->pid = ctr_is_running(c) && op != ARC_EXPORT ? c->st.pid : 0;
    root->rootfs = c->rootfs;
    if (root->pid <= 0 && !ctr_rootfs_ready(c))
        return dd_err_set(e, EBUSY, "container %s has no mounted root filesystem", c->id);
    return 0;
}

static void start(http_req *req, struct arc_job *job)
{
    dd_err e = {0};
    struct container *c = NULL;
    const char *ref = http_req_param(req, "id");
    if (ctr_lookup(arc_store, ref, &c, &e) < 0 || job_root(c, job->op, &job->root, &e) < 0) {
        dindd_reply_err(req, &e);
        return;
    }
    const char *path = http_req_query(req, "path");
    job->path = path ? path : "";
    job->container = ref;
    job->user = c->user;
    struct arc_session *s = dd_calloc(1, sizeof(*s));
    s->req = req;
    s->op = job->op;
    s->fd = -1;
    dd_buf_init(&s->head);
    if (spawn(job, &s->pid, &s->fd, &e) < 0) {
        session_free(s);
        dindd_reply_err(req, &e);
        return;
    }
    s->io = ev_io_add(arc_loop, s->fd, EV_READ, on_child, s, &e);
    if (!s->io) {
        session_free(s);
        dindd_reply_err(req, &e);
    }
}

static void arc_head(http_req *req)
{
    struct arc_job job = {.op = ARC_STAT, .body = {.fd = -1}};
    start(req, &job);
}

static void arc_get(http_req *req)
{
    struct arc_job job = {.op = ARC_GET, .body = {.fd = -1}};
    start(req, &job);
}

static void arc_export(http_req *req)
{
    struct arc_job job = {.op = ARC_EXPORT, .body = {.fd = -1}};
    start(req, &job);
}

static void arc_put(http_req *req)
{
    struct arc_job job = {.op = ARC_PUT, .body = {.fd = -1}};
    job.no_overwrite_dir_non_dir = dd_parse_bool(http_req_query(req, "noOverwriteDirNonDir"));
    job.copy_uid_gid = dd_parse_bool(http_req_query(req, "copyUIDGID"));
    job.body.fd = http_req_body_fd(req);
    if (job.body.fd < 0)
        job.body.mem = http_req_body(req, &job.body.len);
    start(req, &job);
}

static int arc_area_init(dindd_ctx *d, dd_err *e)
{
    if (!d->containers)
        return dd_err_set(e, EINVAL, "archive: the containers area must be initialised first");
    arc_store = d->containers;
    arc_loop = d->loop;
    return 0;
}

static const http_route arc_routes[] = {
    {"HEAD", "/containers/{id}/archive", arc_head},
    {"GET", "/containers/{id}/archive", arc_get},
    {"PUT", "/containers/{id}/archive", arc_put, HTTP_ROUTE_SPOOL},
    {"GET", "/containers/{id}/export", arc_export},
};

const dindd_area dindd_area_archive = {
    .name = "archive",
    .routes = arc_routes,
    .nroutes = DD_ARRAY_SIZE(arc_routes),
    .init = arc_area_init,
};
