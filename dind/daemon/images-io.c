/* The images area's archive endpoints: `docker load` (POST /images/load), `docker import` and the
 * entry point of POST /images/create (pull is images-pull.c's), `docker save` (GET /images/get,
 * /images/{name}/get) streamed with backpressure from libdind's pull-model saver, and a clear
 * answer for what this engine cannot do yet (search). Load and import run on a worker thread (with
 * their own store handle) so the event loop keeps serving other clients; they finish before the
 * response starts, so a failure is an ordinary error response and nothing is stored. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>

#include "dind/daemon/images.h"
#include "dind/json.h"

/* The request body as a readable fd at offset 0 (a dup of the spool file, or a memfd). */
static int body_fd(http_req *req, dd_err *e)
{
    int fd = http_req_body_fd(req);
    if (fd >= 0) {
        int d = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (d < 0)
            return dd_err_sys(e, "dup");
        lseek(d, 0, SEEK_SET);
        return d;
    }
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    int m = memfd_create("dindd-body", MFD_CLOEXEC);
    if (m < 0)
        return dd_err_sys(e, "memfd_create");
    if (dd_write_all(m, body ? body : "", len) < 0 || lseek(m, 0, SEEK_SET) < 0) {
        close(m);
        return dd_err_sys(e, "buffering the request body");
    }
    return m;
}

static void stream_msg(http_req *req, const char *key, const char *text, const char *eol)
{
    json_t *o = json_pack("{s:s}", key, text);
    _cleanup_free_ char *s = jx_dump(o);
    json_decref(o);
    _cleanup_free_ char *line = dd_asprintf("%s%s", s, eol);
    (void)http_stream_write(req, line, strlen(line));
}

/* ---- load and import run on a worker thread with their own store handle ---- */

struct job {
    http_req *req; /* NULL once the client went away (the request was aborted) */
    char *root;
    int fd; /* the body */
    bool import;
    char *ref, *message;
    char **changes;
    pthread_t thread;
    int pipe[2]; /* the worker writes one byte when done */
    ev_io *watch;
    int rc;
    dd_err e;
    img_load_result res;
};

static void *job_run(void *p)
{
    struct job *j = p;
    img_store *st = NULL;
    j->rc = img_store_open(j->root, IMG_STORE_SECONDARY, &st, &j->e);
    if (j->rc >= 0 && j->import)
        j->rc = img_import(st, j->fd, j->ref, j->changes, j->message, &j->res, &j->e);
    else if (j->rc >= 0)
        j->rc = img_load(st, j->fd, &j->res, &j->e);
    img_store_close(st);
    (void)!write(j->pipe[1], "x", 1);
    return NULL;
}

static void job_free(struct job *j)
{
    img_load_result_release(&j->res);
    dd_strv_free(j->changes);
    free(j->ref);
    free(j->message);
    free(j->root);
    if (j->fd >= 0)
        close(j->fd);
    close(j->pipe[0]);
    close(j->pipe[1]);
    free(j);
}

static void reply_loaded(http_req *req, const img_load_result *res)
{
    http_stream_start(req, 200, "application/json");
    for (size_t i = 0; i < res->n; i++) {
        const img_loaded *l = &res->images[i];
        for (size_t k = 0; l->moved[k]; k++) {
            _cleanup_free_ char *m = dd_asprintf("%s\n", l->moved[k]);
            stream_msg(req, "stream", m, "\n");
        }
        for (size_t k = 0; l->tags[k]; k++) {
            _cleanup_free_ char *m = dd_asprintf("Loaded image: %s\n", l->tags[k]);
            stream_msg(req, "stream", m, "\n");
        }
        if (!l->tags[0]) {
            _cleanup_free_ char *m = dd_asprintf("Loaded image ID: %s\n", l->id);
            stream_msg(req, "stream", m, "\n");
        }
    }
    http_stream_end(req);
}

static void emit_loaded(const struct job *j)
{
    for (size_t i = 0; i < j->res.n; i++) {
        const img_loaded *l = &j->res.images[i];
        if (j->import)
            dindd_image_event("import", l->id, l->id);
        for (size_t k = 0; !j->import && l->tags[k]; k++)
            dindd_image_event("load", l->id, l->tags[k]);
        if (!j->import && !l->tags[0])
            dindd_image_event("load", l->id, l->id);
    }
}

static void job_done(ev_io *w, int fd, unsigned events, void *data)
{
    struct job *j = data;
    pthread_join(j->thread, NULL);
    ev_io_del(w);
    if (j->rc >= 0)
        emit_loaded(j);
    if (j->req && j->rc < 0) {
        dindd_reply_err(j->req, &j->e);
    } else if (j->req && j->import) {
        http_stream_start(j->req, 200, "application/json");
        stream_msg(j->req, "status", j->res.images[0].id, "\r\n");
        http_stream_end(j->req);
    } else if (j->req) {
        reply_loaded(j->req, &j->res);
    }
    job_free(j);
}

/* The work continues (the store ends up consistent either way); only the answer is dropped. */
static void job_client_gone(http_req *req, void *data)
{
    struct job *j = data;
    j->req = NULL;
    http_req_abort(req);
}

static void job_start(http_req *req, struct job *j)
{
    dd_err e = {0};
    dindd_ctx *d = dindd_from_req(req);
    j->req = req;
    j->pipe[0] = j->pipe[1] = -1;
    j->root = dd_strdup(img_store_root(d->images));
    j->fd = body_fd(req, &e);
    if (j->fd >= 0 && pipe2(j->pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        dd_err_sys(&e, "pipe");
    if (j->pipe[0] >= 0)
        j->watch = ev_io_add(d->loop, j->pipe[0], EV_READ, job_done, j, &e);
    if (j->watch && (errno = pthread_create(&j->thread, NULL, job_run, j)) != 0) {
        dd_err_sys(&e, "starting a worker thread");
        ev_io_del(j->watch);
        j->watch = NULL;
    }
    if (!j->watch) {
        dindd_reply_err(req, &e);
        job_free(j);
        return;
    }
    http_req_on_close(req, job_client_gone, j);
}

void dindd_images_load(http_req *req)
{
    job_start(req, dd_calloc(1, sizeof(struct job)));
}

/* fromSrc=- : the body is a rootfs tarball. */
static void import_body(http_req *req)
{
    const char *repo = http_req_query(req, "repo");
    const char *tag = http_req_query(req, "tag");
    const char *msg = http_req_query(req, "message");
    struct job *j = dd_calloc(1, sizeof(*j));
    j->import = true;
    if (repo && *repo)
        j->ref = tag && *tag ? dd_asprintf("%s:%s", repo, tag) : dd_strdup(repo);
    j->changes = http_req_query_all(req, "changes");
    j->message = msg ? dd_strdup(msg) : NULL;
    job_start(req, j);
}

void dindd_images_create(http_req *req)
{
    const char *from_image = http_req_query(req, "fromImage");
    const char *from_src = http_req_query(req, "fromSrc");
    if (from_image && *from_image)
        dindd_images_pull(req, from_image);
    else if (dd_streq(from_src, "-"))
        import_body(req);
    else if (from_src && *from_src)
        dindd_reply_errf(req, EOPNOTSUPP,
                         "importing from a URL is not supported by this engine: download %s and "
                         "import it from stdin (docker import - < file.tar)",
                         from_src);
    else
        dindd_reply_errf(req, EINVAL, "either fromImage or fromSrc must be given");
}

void dindd_images_search(http_req *req)
{
    dindd_reply_errf(req, EOPNOTSUPP,
                     "searching registries is not supported by this engine: the registry v2 API "
                     "has no search (it is Docker Hub's own service)");
}

/* ---- save: a pull-model producer driven by the connection's drain events ---- */

struct save_job {
    img_save *s;
};

static void save_done(http_req *req, struct save_job *j, bool ok)
{
    if (ok)
        http_stream_end(req);
    else
        http_req_abort(req);
    img_save_close(j->s);
    free(j);
}

static void save_pump(http_req *req, void *data)
{
    struct save_job *j = data;
    char buf[65536];
    for (;;) {
        ssize_t n = img_save_read(j->s, buf, sizeof(buf), NULL);
        if (n <= 0) {
            /* A tar cannot carry an error message: a failure mid-way cuts the connection so
             * the client sees a truncated archive, never a complete-looking one. */
            save_done(req, j, n == 0);
            return;
        }
        int r = http_stream_write(req, buf, (size_t)n);
        if (r < 0) {
            save_done(req, j, false);
            return;
        }
        if (r == 1) {
            http_req_on_drain(req, save_pump, j);
            return;
        }
    }
}

static void save_gone(http_req *req, void *data)
{
    save_done(req, data, false);
}

void dindd_images_save(http_req *req)
{
    _cleanup_strv_free_ char **names = NULL;
    const char *one = http_req_param(req, "name");
    names = one ? dd_strv_push(NULL, one) : http_req_query_all(req, "names");
    dd_err e = {0};
    img_save *s;
    if (img_save_open(dindd_images(req), names, &s, &e) < 0) {
        dindd_reply_err(req, &e);
        return;
    }
    struct save_job *j = dd_calloc(1, sizeof(*j));
    j->s = s;
    if (http_stream_start(req, 200, "application/x-tar") < 0) {
        save_done(req, j, false);
        return;
    }
    http_req_on_close(req, save_gone, j);
    save_pump(req, j);
}
