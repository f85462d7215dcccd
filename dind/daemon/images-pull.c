/* Registry traffic for the images area: `docker pull` (POST /images/create?fromImage=),
 * `docker push` (POST /images/{name}/push) and `docker login` (POST /auth). libdind's registry
 * client blocks, so each request runs on a worker thread with its own store handle; the worker
 * writes dockerd-format JSON progress lines into a pipe and the event loop relays them to the
 * client. Like dockerd, an error before the first progress message (bad reference, unknown
 * manifest, denied) is an ordinary status-code response; an error after it is an
 * {"errorDetail"} message inside the 200 stream. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>

#include "dind/daemon/images.h"
#include "dind/json.h"

static img_registries registries;
static int jobs_running; /* worker threads reading `registries` (loop thread only) */

void dindd_images_registries_init(const dindd_config *cfg)
{
    registries.insecure = dd_strv_copy(cfg->insecure_registries);
    if (!registries.insecure)
        registries.insecure = dd_calloc(1, sizeof(char *));
    for (size_t i = 0; cfg->registry_mirrors && cfg->registry_mirrors[i]; i++) {
        img_registry_host *h = img_registries_host(&registries, "docker.io");
        h->endpoints = dd_strv_push(h->endpoints, cfg->registry_mirrors[i]);
    }
}

void dindd_images_registries_fini(void)
{
    /* a worker still running at shutdown keeps reading the table: leave it to the exit */
    if (!jobs_running)
        img_registries_release(&registries);
}

/* ---- progress messages in dockerd's format ---- */

/* go-units HumanSize: four significant digits, decimal units. */
static void human(double v, char *out, size_t n)
{
    static const char *const u[] = {"B", "kB", "MB", "GB", "TB", "PB"};
    size_t i = 0;
    while (v >= 1000 && i + 1 < DD_ARRAY_SIZE(u)) {
        v /= 1000;
        i++;
    }
    snprintf(out, n, "%.4g%s", v, u[i]);
}

static char *progress_bar(int64_t cur, int64_t total)
{
    char c[32], t[32];
    human((double)cur, c, sizeof(c));
    if (total <= 0)
        return dd_asprintf("%8s", c);
    human((double)total, t, sizeof(t));
    int pct = (int)((double)cur / (double)total * 100) / 2;
    if (pct > 50)
        pct = 50;
    if (pct < 0)
        pct = 0;
    char bar[64];
    memset(bar, '=', (size_t)pct);
    bar[pct] = '>';
    memset(bar + pct + 1, ' ', (size_t)(50 - pct));
    bar[51] = '\0';
    return dd_asprintf("[%s] %8s/%s", bar, c, t);
}

struct job;
static void job_line(struct job *j, json_t *msg);

/* After a push's "<tag>: digest: <d> size: <n>", dockerd sends the same as an aux object. */
static void push_aux(struct job *j, const char *status)
{
    char tag[129], digest[72];
    long long size;
    if (sscanf(status, "%128[^:]: digest: %71s size: %lld", tag, digest, &size) != 3)
        return;
    job_line(j, json_pack("{s:{},s:{s:s,s:s,s:I}}", "progressDetail", "aux", "Tag", tag, "Digest",
                          digest, "Size", (json_int_t)size));
}

static void on_progress(void *ud, const char *id, const char *status, bool detail, int64_t cur,
                        int64_t total)
{
    json_t *m = json_object();
    jx_set_str(m, "status", status);
    if (detail) {
        json_t *d = json_object();
        bool counting = dd_streq(status, "Downloading") || dd_streq(status, "Pushing");
        if (counting) {
            jx_set_int(d, "current", cur);
            if (total > 0)
                jx_set_int(d, "total", total);
        }
        jx_set_new(m, "progressDetail", d);
        if (counting) {
            char *bar = progress_bar(cur, total);
            jx_set_str(m, "progress", bar);
            free(bar);
        }
    }
    if (id)
        jx_set_str(m, "id", id);
    job_line(ud, m);
    push_aux(ud, status);
}

/* ---- the worker ---- */

enum job_kind { JOB_PULL, JOB_PUSH };

struct job {
    http_req *req; /* NULL once the client went away */
    enum job_kind kind;
    char *root;
    char *ref; /* as the client named it, normalised by libdind */
    char *platform;
    img_auth auth;
    pthread_t thread;
    int pipe[2];
    ev_io *watch;
    dd_buf in;     /* the loop's partial line */
    bool started;  /* the 200 stream has begun */
    bool all_tags; /* no tag asked for: docker pull --all-tags */
    int rc;
    dd_err e;
    img_pull_result res;
};

static void job_line(struct job *j, json_t *msg)
{
    char *s = jx_dump(msg);
    json_decref(msg);
    _cleanup_free_ char *line = dd_asprintf("%s\n", s);
    free(s);
    (void)dd_write_all(j->pipe[1], line, strlen(line));
}

static void *job_run(void *p)
{
    struct job *j = p;
    img_store *st = NULL;
    img_pull_opts o = {
        .registries = &registries,
        .auth = &j->auth,
        .platform = j->platform,
        .progress = on_progress,
        .ud = j,
        .all_tags = j->all_tags,
    };
    j->rc = img_store_open(j->root, IMG_STORE_SECONDARY, &st, &j->e);
    if (j->rc >= 0 && j->kind == JOB_PULL)
        j->rc = img_pull(st, j->ref, &o, &j->res, &j->e);
    else if (j->rc >= 0)
        j->rc = img_push(st, j->ref, &o, &j->e);
    img_store_close(st);
    close(j->pipe[1]);
    j->pipe[1] = -1;
    return NULL;
}

static void job_free(struct job *j)
{
    free(j->root);
    free(j->ref);
    free(j->platform);
    img_auth_release(&j->auth);
    dd_buf_release(&j->in);
    if (j->pipe[0] >= 0)
        close(j->pipe[0]);
    free(j);
}

static void relay(struct job *j, const char *line, size_t n)
{
    if (!j->req)
        return;
    if (!j->started) {
        j->started = true;
        http_stream_start(j->req, 200, "application/json");
    }
    _cleanup_free_ char *out = dd_asprintf("%.*s\r\n", (int)n, line);
    (void)http_stream_write(j->req, out, strlen(out));
}

static void finish(struct job *j)
{
    pthread_join(j->thread, NULL);
    jobs_running--;
    ev_io_del(j->watch);
    if (j->rc >= 0 && j->kind == JOB_PULL) {
        _cleanup_free_ char *fam = img_familiar(j->ref);
        dindd_image_event("pull", fam, fam); /* dockerd's Actor.ID is the reference */
    } else if (j->rc >= 0) {
        dindd_image_event("push", j->ref, j->ref);
    }
    if (j->req && j->rc < 0 && !j->started) {
        dindd_reply_err(j->req, &j->e);
    } else if (j->req) {
        if (j->rc < 0) {
            json_t *m =
                json_pack("{s:{s:s},s:s}", "errorDetail", "message", j->e.msg, "error", j->e.msg);
            _cleanup_free_ char *s = jx_dump(m);
            json_decref(m);
            relay(j, s, strlen(s));
        }
        http_stream_end(j->req);
    }
    job_free(j);
}

static void job_readable(ev_io *w, int fd, unsigned events, void *data)
{
    (void)w;
    (void)events;
    struct job *j = data;
    char buf[16384];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        finish(j);
        return;
    }
    dd_buf_add(&j->in, buf, (size_t)n);
    char *nl;
    while (j->in.len && (nl = memchr(j->in.data, '\n', j->in.len))) {
        size_t len = (size_t)(nl - j->in.data);
        relay(j, j->in.data, len);
        dd_buf_consume(&j->in, len + 1);
    }
}

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
    j->root = dd_strdup(img_store_root(d->images));
    j->pipe[0] = j->pipe[1] = -1;
    if (pipe2(j->pipe, O_CLOEXEC) < 0 || dd_set_nonblock(j->pipe[0], true) < 0)
        dd_err_sys(&e, "pipe");
    if (j->pipe[0] >= 0 && !e.code)
        j->watch = ev_io_add(d->loop, j->pipe[0], EV_READ, job_readable, j, &e);
    if (j->watch && (errno = pthread_create(&j->thread, NULL, job_run, j)) != 0) {
        dd_err_sys(&e, "starting a worker thread");
        ev_io_del(j->watch);
        j->watch = NULL;
    } else if (j->watch) {
        jobs_running++;
    }
    if (!j->watch) {
        if (j->pipe[1] >= 0)
            close(j->pipe[1]);
        dindd_reply_err(req, &e);
        job_free(j);
        return;
    }
    http_req_on_close(req, job_client_gone, j);
}

/* X-Registry-Auth, or an error reply. */
static int take_auth(http_req *req, img_auth *ret)
{
    dd_err e = {0};
    if (img_auth_decode(http_req_header(req, "X-Registry-Auth"), ret, &e) < 0) {
        dindd_reply_err(req, &e);
        return -EINVAL;
    }
    return 0;
}

void dindd_images_pull(http_req *req, const char *from)
{
    const char *tag = http_req_query(req, "tag");
    const char *platform = http_req_query(req, "platform");
    /* the CLI sends a digest pull as tag=sha256:... */
    const char *sep = tag && strchr(tag, ':') ? "@" : ":";
    _cleanup_free_ char *s =
        tag && *tag && !strchr(from, '@') ? dd_asprintf("%s%s%s", from, sep, tag) : dd_strdup(from);
    img_ref r;
    dd_err e = {0};
    if (img_ref_parse(s, IMG_REF_NAME_ONLY, &r, &e) < 0) {
        dindd_reply_err(req, &e);
        return;
    }
    struct job *j = dd_calloc(1, sizeof(*j));
    j->kind = JOB_PULL;
    /* dockerd pulls every tag when none is given (the CLI's --all-tags sends no tag) */
    j->all_tags = !r.tag && !r.digest;
    j->ref = j->all_tags ? img_ref_name(&r) : img_ref_string(&r);
    img_ref_release(&r);
    j->platform = platform && *platform ? dd_strdup(platform) : NULL;
    if (take_auth(req, &j->auth) < 0) {
        job_free(j);
        return;
    }
    j->pipe[0] = -1;
    job_start(req, j);
}

void dindd_images_push(http_req *req)
{
    const char *name = http_req_param(req, "name");
    const char *tag = http_req_query(req, "tag");
    _cleanup_free_ char *s =
        tag && *tag ? dd_asprintf("%s:%s", name, tag) : dd_strdup(name ? name : "");
    img_ref r;
    dd_err e = {0};
    if (img_ref_parse(s, IMG_REF_NAME_ONLY, &r, &e) < 0) {
        dindd_reply_err(req, &e);
        return;
    }
    struct job *j = dd_calloc(1, sizeof(*j));
    j->kind = JOB_PUSH;
    j->ref = r.tag || r.digest ? img_ref_string(&r) : img_ref_name(&r);
    img_ref_release(&r);
    if (take_auth(req, &j->auth) < 0) {
        job_free(j);
        return;
    }
    job_start(req, j);
}

/* ---- docker login ---- */

struct login {
    http_req *req;
    img_auth auth;
    pthread_t thread;
    int pipe[2];
    ev_io *watch;
    int rc;
    dd_err e;
    char *identity_token;
};

static void login_free(struct login *l)
{
    img_auth_release(&l->auth);
    free(l->identity_token);
    if (l->pipe[0] >= 0)
        close(l->pipe[0]);
    if (l->pipe[1] >= 0)
        close(l->pipe[1]);
    free(l);
}

/* (login reads `registries` too, so it counts in jobs_running) */
static void *login_run(void *p)
{
    struct login *l = p;
    l->rc = img_registry_login(&registries, l->auth.server, &l->auth, &l->identity_token, &l->e);
    (void)!write(l->pipe[1], "x", 1);
    return NULL;
}

static void login_done(ev_io *w, int fd, unsigned events, void *data)
{
    (void)fd;
    (void)events;
    struct login *l = data;
    pthread_join(l->thread, NULL);
    jobs_running--;
    ev_io_del(w);
    if (!l->req) {
    } else if (l->rc == -EACCES) {
        http_reply_error(l->req, 401, l->e.msg);
    } else if (l->rc < 0) {
        dindd_reply_err(l->req, &l->e);
    } else {
        json_t *o =
            json_pack("{s:s,s:s}", "IdentityToken", l->identity_token ? l->identity_token : "",
                      "Status", "Login Succeeded");
        _cleanup_free_ char *s = jx_dump(o);
        json_decref(o);
        http_reply(l->req, 200, "application/json", s, strlen(s));
    }
    login_free(l);
}

static void login_gone(http_req *req, void *data)
{
    struct login *l = data;
    l->req = NULL;
    http_req_abort(req);
}

void dindd_auth(http_req *req)
{
    json_t *body = NULL;
    if (dindd_body_json(req, false, &body) < 0)
        return;
    struct login *l = dd_calloc(1, sizeof(*l));
    l->pipe[0] = l->pipe[1] = -1;
    dd_err e = {0};
    int r = img_auth_from_json(body, &l->auth, &e);
    json_decref(body);
    dindd_ctx *d = dindd_from_req(req);
    if (r < 0 || pipe2(l->pipe, O_CLOEXEC) < 0 ||
        !(l->watch = ev_io_add(d->loop, l->pipe[0], EV_READ, login_done, l, &e)) ||
        (errno = pthread_create(&l->thread, NULL, login_run, l)) != 0) {
        if (!e.code)
            dd_err_sys(&e, "starting a login");
        if (l->watch)
            ev_io_del(l->watch);
        dindd_reply_err(req, &e);
        login_free(l);
        return;
    }
    jobs_running++;
    l->req = req;
    http_req_on_close(req, login_gone, l);
}
