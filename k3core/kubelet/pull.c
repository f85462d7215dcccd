/* pull.c: the kubelet's image manager — imagePullPolicy (Always / IfNotPresent / Never, with
 * upstream's default: Always for ":latest" or no tag, else IfNotPresent), pulls through libdind's
 * registry client on worker threads (the loop never blocks; a finished pull wakes the pod sync
 * through a pipe), the pod's imagePullSecrets (kubernetes.io/dockerconfigjson) merged over
 * k3s's registries.yaml (mirrors, auth, insecure_skip_verify), upstream's events (Pulling,
 * Pulled, Failed, BackOff) and waiting reasons (ErrImagePull carrying the registry's reason,
 * ImagePullBackOff with a 10s..300s doubling back-off, ErrImageNeverPull).
 *
 * Per container the manager keeps a small record (by pod UID and container name): the pull in
 * flight, the restart count a pull succeeded for, or the last failure. Records of pods that are
 * gone age out. Identical pulls of the same image with the same credentials share one worker.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>

#include "k3core/kubelet/kubelet-internal.h"
#include "k3core/pki/b64.h"

#define BACKOFF_MIN_NS (10 * 1000000000LL)
#define BACKOFF_MAX_NS (300 * 1000000000LL)
#define RECORD_TTL_NS  (600 * 1000000000LL)

struct kl_pull {
    struct kl_pull *next;
    struct kl_pulls *owner;
    char *image;
    char *key; /* image + the secrets it used */
    img_registries regs;
    pthread_t thread;
    bool done;
    int refs; /* records waiting on it */
    int rc;
    dd_err e;
    img_pull_result res;
    int64_t started_ns, finished_ns;
};

struct kl_rec {
    struct kl_rec *next;
    char *uid, *ctr;
    struct kl_pull *pull; /* in flight (a reference) */
    int pulled_restart;   /* the instance a pull succeeded for; -1 none */
    bool pulled_reported;
    bool failed, failed_reported, backoff_reported;
    char *err;
    int64_t retry_at_ns, backoff_ns, touched_ns;
};

struct kl_pulls {
    kubelet *k;
    char *store_root;
    img_registries base; /* from registries.yaml */
    int pipe[2];
    ev_io *watch;
    struct kl_pull *pulls;
    struct kl_rec *recs;
    volatile bool cancel;
};

/* ---- registries.yaml (already converted to JSON by the server) ---- */

static void yaml_mirrors(img_registries *r, const json_t *mirrors)
{
    const char *host;
    json_t *v;
    json_object_foreach((json_t *)mirrors, host, v)
    {
        img_registry_host *h = img_registries_host(r, host);
        json_t *eps = jx_get(v, "endpoint");
        size_t i;
        json_t *ep;
        json_array_foreach(eps, i, ep) if (json_is_string(ep)) h->endpoints =
            dd_strv_push(h->endpoints, json_string_value(ep));
    }
}

static char *opt_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(jx_get(o, key));
    return s && *s ? dd_strdup(s) : NULL;
}

static char *dup_or_null(const char *s)
{
    return s ? dd_strdup(s) : NULL;
}

static void yaml_configs(img_registries *r, const json_t *configs)
{
    const char *host;
    json_t *v;
    json_object_foreach((json_t *)configs, host, v)
    {
        img_registry_host *h = img_registries_host(r, host);
        json_t *auth = jx_get(v, "auth");
        img_auth a = {0};
        /* k3s's username/password/auth/identity_token mean what X-Registry-Auth's fields do */
        if (json_is_object(auth) && img_auth_from_json(auth, &a, NULL) == 0) {
            img_auth_release(&h->auth);
            h->auth = a;
        }
        json_t *tls = jx_get(v, "tls");
        h->insecure = json_is_true(jx_get(tls, "insecure_skip_verify"));
        h->ca_file = opt_str(tls, "ca_file");
        h->cert_file = opt_str(tls, "cert_file");
        h->key_file = opt_str(tls, "key_file");
    }
}

/* ---- workers ---- */

static void *pull_run(void *data)
{
    struct kl_pull *pl = data;
    img_store *st = NULL;
    img_pull_opts o = {.registries = &pl->regs, .cancel = &pl->owner->cancel};
    pl->rc = img_store_open(pl->owner->store_root, IMG_STORE_SECONDARY, &st, &pl->e);
    if (pl->rc >= 0)
        pl->rc = img_pull(st, pl->image, &o, &pl->res, &pl->e);
    img_store_close(st);
    pl->finished_ns = dd_mono_ns();
    (void)!write(pl->owner->pipe[1], &pl, sizeof(pl));
    return NULL;
}

static void pull_free(struct kl_pull *pl)
{
    free(pl->image);
    free(pl->key);
    img_registries_release(&pl->regs);
    free(pl);
}

static void pull_unref(struct kl_pulls *p, struct kl_pull *pl)
{
    if (--pl->refs > 0 || !pl->done)
        return;
    for (struct kl_pull **pp = &p->pulls; *pp; pp = &(*pp)->next)
        if (*pp == pl) {
            *pp = pl->next;
            break;
        }
    pull_free(pl);
}

static void on_done(ev_io *w, int fd, unsigned events, void *data)
{
    (void)w, (void)events;
    struct kl_pulls *p = data;
    struct kl_pull *pl;
    while (read(fd, &pl, sizeof(pl)) == (ssize_t)sizeof(pl)) {
        pthread_join(pl->thread, NULL);
        pl->done = true;
        pl->refs++; /* dropped right away: frees a pull nobody waits for any more */
        pull_unref(p, pl);
    }
    kl_sync_soon(p->k);
}

static void copy_host(img_registries *dst, const img_registry_host *h)
{
    img_registry_host *d = img_registries_host(dst, h->host);
    dd_strv_free(d->endpoints);
    d->endpoints = dd_strv_copy(h->endpoints);
    if (!d->endpoints)
        d->endpoints = dd_calloc(1, sizeof(char *));
    d->insecure = h->insecure;
    img_auth_release(&d->auth);
    d->auth.username = dup_or_null(h->auth.username);
    d->auth.password = dup_or_null(h->auth.password);
    d->auth.identity_token = dup_or_null(h->auth.identity_token);
    d->ca_file = dup_or_null(h->ca_file);
    d->cert_file = dup_or_null(h->cert_file);
    d->key_file = dup_or_null(h->key_file);
}

/* registries.yaml, then the pod's pull secrets over it; *ret_key names the secrets used. */
static void pod_registries(struct kl_pulls *p, const struct kl_pod *pod, img_registries *ret,
                           char **ret_key)
{
    *ret = (img_registries){.insecure = dd_calloc(1, sizeof(char *))};
    for (size_t i = 0; i < p->base.n_hosts; i++)
        copy_host(ret, &p->base.hosts[i]);
    dd_buf key = DD_BUF_INIT;
    json_t *secrets = jx_get(jx_get(pod->obj, "spec"), "imagePullSecrets");
    size_t i;
    json_t *ref;
    json_array_foreach(secrets, i, ref)
    {
        const char *name = json_string_value(jx_get(ref, "name"));
        json_t *sec = name ? kl_get(p->k, "", "secrets", pod->ns, name) : NULL;
        const char *type = kl_str(sec, "type", NULL);
        const char *b64 = json_string_value(jx_get(jx_get(sec, "data"), ".dockerconfigjson"));
        size_t len = 0;
        _cleanup_free_ char *doc = NULL;
        if (sec && dd_streq(type, "kubernetes.io/dockerconfigjson") && b64 &&
            b64_decode(b64, strlen(b64), &doc, &len) == 0)
            (void)img_registries_add_dockerconfig(ret, doc, len, NULL);
        json_decref(sec);
        dd_buf_addf(&key, "\n%s", name ? name : "");
    }
    *ret_key = dd_buf_detach(&key, NULL);
}

static struct kl_pull *pull_start(struct kl_pulls *p, const struct kl_pod *pod, const char *image)
{
    img_registries regs;
    char *secrets;
    pod_registries(p, pod, &regs, &secrets);
    _cleanup_free_ char *key = dd_asprintf("%s%s", image, secrets);
    free(secrets);
    for (struct kl_pull *pl = p->pulls; pl; pl = pl->next)
        if (!pl->done && dd_streq(pl->key, key)) {
            img_registries_release(&regs);
            pl->refs++;
            return pl;
        }
    struct kl_pull *pl = dd_calloc(1, sizeof(*pl));
    pl->owner = p;
    pl->image = dd_strdup(image);
    pl->key = TAKE_PTR(key);
    pl->regs = regs;
    pl->refs = 1;
    pl->started_ns = dd_mono_ns();
    if ((errno = pthread_create(&pl->thread, NULL, pull_run, pl)) != 0) {
        pl->rc = dd_err_sys(&pl->e, "starting an image pull");
        pl->done = true;
        pl->finished_ns = pl->started_ns;
    }
    pl->next = p->pulls;
    p->pulls = pl;
    return pl;
}

/* ---- start / stop ---- */

int kl_pulls_start(kubelet *k, const json_t *registries, dd_err *e)
{
    struct kl_pulls *p = dd_calloc(1, sizeof(*p));
    p->k = k;
    p->pipe[0] = p->pipe[1] = -1;
    p->store_root = dd_strdup(img_store_root(k->images));
    p->base.insecure = dd_calloc(1, sizeof(char *));
    yaml_mirrors(&p->base, jx_get(registries, "mirrors"));
    yaml_configs(&p->base, jx_get(registries, "configs"));
    k->pulls = p;
    if (pipe2(p->pipe, O_CLOEXEC) < 0 || dd_set_nonblock(p->pipe[0], true) < 0)
        return dd_err_sys(e, "image pulls: pipe");
    p->watch = ev_io_add(k->loop, p->pipe[0], EV_READ, on_done, p, e);
    return p->watch ? 0 : -EIO;
}

static void rec_free(struct kl_rec *r)
{
    free(r->uid);
    free(r->ctr);
    free(r->err);
    free(r);
}

/* Cancels pulls in flight, waits for their threads, frees everything. */
void kl_pulls_stop(kubelet *k)
{
    struct kl_pulls *p = k->pulls;
    if (!p)
        return;
    p->cancel = true;
    while (p->pulls) {
        struct kl_pull *pl = p->pulls;
        p->pulls = pl->next;
        if (!pl->done)
            pthread_join(pl->thread, NULL);
        pull_free(pl);
    }
    while (p->recs) {
        struct kl_rec *r = p->recs;
        p->recs = r->next;
        rec_free(r);
    }
    ev_io_del(p->watch);
    if (p->pipe[0] >= 0)
        close(p->pipe[0]);
    if (p->pipe[1] >= 0)
        close(p->pipe[1]);
    img_registries_release(&p->base);
    free(p->store_root);
    free(p);
    k->pulls = NULL;
}

/* ---- per container ---- */

static struct kl_rec *record(struct kl_pulls *p, const struct kl_ctr *c)
{
    int64_t now = dd_mono_ns();
    struct kl_rec *found = NULL;
    for (struct kl_rec **rp = &p->recs; *rp;) {
        struct kl_rec *r = *rp;
        if (dd_streq(r->uid, c->pod->uid) && dd_streq(r->ctr, c->name)) {
            found = r;
        } else if ((!r->pull || r->pull->done) && now - r->touched_ns > RECORD_TTL_NS) {
            *rp = r->next; /* its pod is gone: the record and its finished pull go too */
            if (r->pull)
                pull_unref(p, r->pull);
            rec_free(r);
            continue;
        }
        rp = &r->next;
    }
    if (!found) {
        found = dd_calloc(1, sizeof(*found));
        found->uid = dd_strdup(c->pod->uid);
        found->ctr = dd_strdup(c->name);
        found->pulled_restart = -1;
        found->next = p->recs;
        p->recs = found;
    }
    found->touched_ns = now;
    return found;
}

static void set_waiting(struct kl_ctr *c, const char *reason, const char *msg)
{
    json_decref(c->state);
    c->state = json_pack("{s:{s:s}}", "waiting", "reason", reason);
    if (msg)
        jx_set_str(json_object_get(c->state, "waiting"), "message", msg);
}

/* Upstream's default: Always for ":latest" or no tag (and no digest), else IfNotPresent. */
static const char *pull_policy(const struct kl_ctr *c, const char *image)
{
    const char *pol = kl_str(c->spec, "imagePullPolicy", NULL);
    if (pol && *pol)
        return pol;
    img_ref r;
    if (img_ref_parse(image, IMG_REF_NAME_ONLY, &r, NULL) < 0)
        return "IfNotPresent";
    bool always = !r.digest && (!r.tag || dd_streq(r.tag, "latest"));
    img_ref_release(&r);
    return always ? "Always" : "IfNotPresent";
}

static void secs(int64_t ns, char *out, size_t n)
{
    snprintf(out, n, "%.3gs", (double)ns / 1e9);
}

/* A finished pull moves into the record. */
static void take_result(struct kl_pulls *p, struct kl_rec *r, struct kl_ctr *c)
{
    struct kl_pull *pl = r->pull;
    r->pull = NULL;
    free(r->err);
    r->err = NULL;
    if (pl->rc >= 0) {
        r->failed = false;
        r->backoff_ns = 0;
        r->pulled_restart = c->restarts;
        r->pulled_reported = true;
        img_image *img = NULL;
        int64_t size = 0;
        if (img_lookup(p->k->images, pl->res.id, &img, NULL) == 0)
            size = img->size;
        img_image_free(img);
        char took[32];
        secs(pl->finished_ns - pl->started_ns, took, sizeof(took));
        kl_event(p->k, c->pod->obj, "Normal", "Pulled",
                 "Successfully pulled image \"%s\" in %s (%s including waiting). Image size: "
                 "%" PRId64 " bytes.",
                 pl->image, took, took, size);
    } else {
        r->failed = true;
        r->failed_reported = r->backoff_reported = false;
        r->err = dd_strdup(pl->e.msg);
        r->backoff_ns = r->backoff_ns ? r->backoff_ns * 2 : BACKOFF_MIN_NS;
        if (r->backoff_ns > BACKOFF_MAX_NS)
            r->backoff_ns = BACKOFF_MAX_NS;
        r->retry_at_ns = dd_mono_ns() + r->backoff_ns;
    }
    pull_unref(p, pl);
}

static int report_failure(struct kl_pulls *p, struct kl_rec *r, struct kl_ctr *c, const char *image)
{
    if (!r->failed_reported) {
        r->failed_reported = true;
        set_waiting(c, "ErrImagePull", r->err);
        kl_event(p->k, c->pod->obj, "Warning", "Failed", "Failed to pull image \"%s\": %s", image,
                 r->err);
        kl_event(p->k, c->pod->obj, "Warning", "Failed", "Error: ErrImagePull");
        return -ENOENT;
    }
    _cleanup_free_ char *bo = dd_asprintf("Back-off pulling image \"%s\"", image);
    set_waiting(c, "ImagePullBackOff", bo);
    if (!r->backoff_reported) {
        r->backoff_reported = true;
        kl_event(p->k, c->pod->obj, "Normal", "BackOff", "%s", bo);
        kl_event(p->k, c->pod->obj, "Warning", "Failed", "Error: ImagePullBackOff");
    }
    return -ENOENT;
}

static int never_pull(struct kl_pulls *p, struct kl_ctr *c, const char *image)
{
    _cleanup_free_ char *msg =
        dd_asprintf("Container image \"%s\" is not present with pull policy of Never", image);
    set_waiting(c, "ErrImageNeverPull", msg);
    kl_event(p->k, c->pod->obj, "Warning", "ErrImageNeverPull", "%s", msg);
    return -ENOENT;
}

int kl_image_lookup(kubelet *k, const char *image, img_image **ret)
{
    if (img_lookup(k->images, image, ret, NULL) == 0)
        return 0;
    return k->shared_images ? img_lookup(k->shared_images, image, ret, NULL) : -ENOENT;
}

int kl_image_ensure(struct kl_ctr *c, const char *image, img_image **ret)
{
    struct kl_pulls *p = c->k->pulls;
    const char *policy = pull_policy(c, image);
    struct kl_rec *r = record(p, c);
    bool present = kl_image_lookup(c->k, image, ret) == 0;
    bool need = dd_streq(policy, "Always") ? r->pulled_restart != c->restarts
                                           : !present && !dd_streq(policy, "Never");
    if (!present && dd_streq(policy, "Never"))
        return never_pull(p, c, image);
    if (r->pull && r->pull->done)
        take_result(p, r, c);
    if (!need || (r->pulled_restart == c->restarts && present)) {
        if (!r->pulled_reported && present)
            kl_event(p->k, c->pod->obj, "Normal", "Pulled",
                     "Container image \"%s\" already present on machine", image);
        r->pulled_reported = present;
        if (present)
            return 0;
    }
    img_image_free(*ret);
    *ret = NULL;
    if (r->pull) {
        set_waiting(c, "ContainerCreating", NULL);
        return -ENOENT;
    }
    if (r->failed && (!r->failed_reported || dd_mono_ns() < r->retry_at_ns))
        return report_failure(p, r, c, image);
    kl_event(p->k, c->pod->obj, "Normal", "Pulling", "Pulling image \"%s\"", image);
    r->pulled_reported = false;
    r->pull = pull_start(p, c->pod, image);
    if (r->pull->done) /* could not even start */
        take_result(p, r, c);
    if (r->failed)
        return report_failure(p, r, c, image);
    set_waiting(c, "ContainerCreating", NULL);
    return -ENOENT;
}
