/* The images area's archive endpoints: `docker load` (POST /images/load), `docker import` and the
 * pull entry point (POST /images/create), `docker save` (GET /images/get, /images/{name}/get)
 * streamed with backpressure from libdind's pull-model saver, and clear answers for what this
 * engine cannot do yet (registry pull, push, search). Load and import read the spooled request
 * body and run to completion before the response starts, so a failure is an ordinary error
 * response and nothing is stored. */
#include <fcntl.h>
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

void dindd_images_load(http_req *req)
{
    dd_err e = {0};
    img_load_result res = {0};
    _cleanup_close_ int fd = body_fd(req, &e);
    if (fd < 0 || img_load(dindd_images(req), fd, &res, &e) < 0) {
        dindd_reply_err(req, &e);
        return;
    }
    http_stream_start(req, 200, "application/json");
    for (size_t i = 0; i < res.n; i++) {
        img_loaded *l = &res.images[i];
        for (size_t j = 0; l->moved[j]; j++) {
            _cleanup_free_ char *m = dd_asprintf("%s\n", l->moved[j]);
            stream_msg(req, "stream", m, "\n");
        }
        for (size_t j = 0; l->tags[j]; j++) {
            _cleanup_free_ char *m = dd_asprintf("Loaded image: %s\n", l->tags[j]);
            stream_msg(req, "stream", m, "\n");
            dindd_image_event("load", l->id, l->tags[j]);
        }
        if (!l->tags[0]) {
            _cleanup_free_ char *m = dd_asprintf("Loaded image ID: %s\n", l->id);
            stream_msg(req, "stream", m, "\n");
            dindd_image_event("load", l->id, l->id);
        }
    }
    img_load_result_release(&res);
    http_stream_end(req);
}

/* fromSrc=- : the body is a rootfs tarball. */
static void import_body(http_req *req)
{
    const char *repo = http_req_query(req, "repo");
    const char *tag = http_req_query(req, "tag");
    _cleanup_free_ char *ref = NULL;
    if (repo && *repo)
        ref = tag && *tag ? dd_asprintf("%s:%s", repo, tag) : dd_strdup(repo);
    _cleanup_strv_free_ char **changes = http_req_query_all(req, "changes");
    dd_err e = {0};
    img_load_result res = {0};
    _cleanup_close_ int fd = body_fd(req, &e);
    if (fd < 0 || img_import(dindd_images(req), fd, ref, changes, http_req_query(req, "message"),
                             &res, &e) < 0) {
        dindd_reply_err(req, &e);
        return;
    }
    http_stream_start(req, 200, "application/json");
    stream_msg(req, "status", res.images[0].id, "\r\n");
    dindd_image_event("import", res.images[0].id, res.images[0].id);
    img_load_result_release(&res);
    http_stream_end(req);
}

/* The registry host a reference would be pulled from, as dockerd names it in errors. */
static const char *registry_host(const img_ref *r)
{
    return dd_streq(r->domain, "docker.io") ? "registry-1.docker.io" : r->domain;
}

static void pull(http_req *req, const char *from)
{
    const char *tag = http_req_query(req, "tag");
    _cleanup_free_ char *s =
        tag && *tag && !strchr(from, '@') ? dd_asprintf("%s:%s", from, tag) : dd_strdup(from);
    img_ref r;
    dd_err e = {0};
    if (img_ref_parse(s, 0, &r, &e) < 0) {
        dindd_reply_err(req, &e);
        return;
    }
    _cleanup_free_ char *fam = img_ref_familiar(&r);
    dindd_reply_errf(req, EIO,
                     "Get \"https://%s/v2/\": registry pulls are not supported by this engine "
                     "yet; load %s with \"docker load\" instead",
                     registry_host(&r), fam);
    img_ref_release(&r);
}

void dindd_images_create(http_req *req)
{
    const char *from_image = http_req_query(req, "fromImage");
    const char *from_src = http_req_query(req, "fromSrc");
    if (from_image && *from_image)
        pull(req, from_image);
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
                     "searching registries is not supported by this engine yet (no registry "
                     "client)");
}

void dindd_images_push(http_req *req)
{
    dindd_reply_errf(req, EOPNOTSUPP,
                     "pushing to a registry is not supported by this engine yet; use \"docker "
                     "save\" to export %s",
                     http_req_param(req, "name"));
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
