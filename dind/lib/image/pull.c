/* `docker pull`: resolve a reference to a manifest (choosing this platform's entry of an index),
 * fetch and verify the config, download each missing layer into a private staging file while
 * hashing it (a digest mismatch is an error, and nothing half-written is ever visible), let
 * ingest.c decompress, verify the diffID and unpack it, then commit image, tag and name@digest in
 * one transaction like a load. Progress goes out in dockerd's words. Layers are fetched one after
 * another: simple, and a small appliance is not bandwidth-bound. */
#include <fcntl.h>
#include <stdio.h>

#include "dind/lib/image/image-internal.h"

#define MANIFEST_ACCEPT                                                                            \
    IMG_MT_DOCKER_MANIFEST ", " IMG_MT_DOCKER_LIST ", " IMG_MT_OCI_MANIFEST ", " IMG_MT_OCI_INDEX

struct puller {
    img_store *st;
    const img_pull_opts *o;
    img_ref ref;
    img_reg *reg;
    char *stage;
    char *fam;  /* familiar reference, for messages */
    char *name; /* familiar name, for messages */
    char digest[72];
    bool quiet; /* the image is already here: no per-layer messages, like dockerd */
    img_manifest m;
    img_pending p;
};

static void progress(struct puller *pl, const char *id, const char *status, bool detail)
{
    if (pl->o && pl->o->progress && !(pl->quiet && id && detail))
        pl->o->progress(pl->o->ud, id, status, detail, 0, 0);
}

/* dockerd's translation of registry errors (distribution/errors.go). */
static int pull_error(struct puller *pl, const img_reg_resp *resp, dd_err *e)
{
    char code[32];
    _cleanup_free_ char *text = img_reg_error_text(resp, code);
    if (dd_streq(code, "MANIFEST_UNKNOWN"))
        return dd_err_set(e, ENOENT, "manifest for %s not found: %s", pl->fam, text);
    if (dd_streq(code, "NAME_UNKNOWN"))
        return dd_err_set(e, ENOENT, "repository %s not found: %s", pl->name, text);
    if (dd_streq(code, "DENIED") || dd_streq(code, "UNAUTHORIZED"))
        return dd_err_set(e, ENOENT,
                          "pull access denied for %s, repository does not exist or may require "
                          "'docker login': %s",
                          pl->name, text);
    if (resp->status == 404)
        return dd_err_set(e, ENOENT, "manifest for %s not found: manifest unknown: %s", pl->fam,
                          text);
    return dd_err_set(e, EIO, "%s", text);
}

/* GET manifests/<ref>: the bytes, verified against want (a digest) when given. */
static int get_manifest(struct puller *pl, const char *reference, const char *want,
                        img_manifest *ret, dd_err *e)
{
    _cleanup_free_ char *url = dd_asprintf("manifests/%s", reference);
    img_reg_req q = {
        .url = url,
        .accept = MANIFEST_ACCEPT,
        .body_fd = -1,
        .out_fd = -1,
        .max_body = IMG_MAX_MANIFEST,
    };
    img_reg_resp resp = {0};
    int r = img_reg_do(pl->reg, &q, &resp, e);
    if (r >= 0 && resp.status != 200)
        r = pull_error(pl, &resp, e);
    char got[72];
    if (r >= 0) {
        img_sha256_str(resp.body.data ? resp.body.data : "", resp.body.len, got);
        if (want && !dd_streq(got, want))
            r = dd_err_set(e, EINVAL, "manifest digest mismatch: expected %s, got %s", want, got);
    }
    if (r >= 0)
        r = img_manifest_parse(resp.content_type, resp.body.data ? resp.body.data : "",
                               resp.body.len, ret, e);
    if (r >= 0 && !pl->digest[0])
        snprintf(pl->digest, sizeof(pl->digest), "%s", got);
    img_reg_resp_release(&resp);
    return r;
}

static int resolve(struct puller *pl, dd_err *e)
{
    const char *reference = pl->ref.digest ? pl->ref.digest : pl->ref.tag;
    int r = get_manifest(pl, reference, pl->ref.digest, &pl->m, e);
    if (r < 0 || !pl->m.is_index)
        return r;
    size_t i;
    r = img_manifest_choose(&pl->m, pl->o ? pl->o->platform : NULL, &i, e);
    if (r < 0)
        return r;
    char child[72];
    snprintf(child, sizeof(child), "%s", pl->m.items[i].digest);
    img_manifest_release(&pl->m);
    r = get_manifest(pl, child, child, &pl->m, e);
    if (r >= 0 && pl->m.is_index)
        r = dd_err_set(e, EINVAL, "manifest %s is an index inside an index", child);
    return r;
}

static int get_config(struct puller *pl, dd_err *e)
{
    const img_descriptor *c = &pl->m.config;
    if (c->size > (int64_t)IMG_MAX_CONFIG)
        return dd_err_set(e, EINVAL, "image config is too large (%" PRId64 " bytes)", c->size);
    _cleanup_free_ char *url = dd_asprintf("blobs/%s", c->digest);
    img_reg_req q = {.url = url, .body_fd = -1, .out_fd = -1, .max_body = IMG_MAX_CONFIG};
    img_reg_resp resp = {0};
    int r = img_reg_do(pl->reg, &q, &resp, e);
    if (r >= 0 && resp.status != 200)
        r = pull_error(pl, &resp, e);
    if (r >= 0) {
        pl->p.config_len = resp.body.len;
        pl->p.config = dd_buf_detach(&resp.body, NULL);
        img_sha256_str(pl->p.config ? pl->p.config : "", pl->p.config_len, pl->p.id);
        if (!dd_streq(pl->p.id, c->digest))
            r = dd_err_set(e, EINVAL, "config digest mismatch: expected %s, got %s", c->digest,
                           pl->p.id);
    }
    if (r >= 0)
        r = img_config_check(pl->p.config, pl->p.config_len, pl->m.n, e);
    img_reg_resp_release(&resp);
    return r;
}

static const char *diff_id_of(const struct puller *pl, json_t *cfg, size_t i)
{
    return json_string_value(json_array_get(jx_get(jx_get(cfg, "rootfs"), "diff_ids"), i));
}

/* Downloads layer i into an unlinked staging file and verifies its digest. */
static int download(struct puller *pl, size_t i, const char *id, int *ret_fd, dd_err *e)
{
    const img_descriptor *d = &pl->m.items[i];
    _cleanup_free_ char *path = dd_asprintf("%s/dl-XXXXXX", pl->stage);
    _cleanup_close_ int fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0)
        return dd_err_sys(e, "staging a download");
    unlink(path);
    _cleanup_free_ char *url = dd_asprintf("blobs/%s", d->digest);
    _cleanup_(img_hash_freep) img_hash *h = img_hash_new();
    img_reg_req q = {
        .url = url,
        .body_fd = -1,
        .out_fd = fd,
        .hash = h,
        .progress = pl->o ? pl->o->progress : NULL,
        .ud = pl->o ? pl->o->ud : NULL,
        .id = id,
        .total = d->size,
    };
    img_reg_resp resp = {0};
    int r = img_reg_do(pl->reg, &q, &resp, e);
    if (r >= 0 && resp.status != 200)
        r = pull_error(pl, &resp, e);
    img_reg_resp_release(&resp);
    if (r < 0) {
        dd_err_wrap(e, "downloading layer %s", d->digest);
        return r;
    }
    progress(pl, id, "Verifying Checksum", true);
    char got[72];
    img_hash_final(TAKE_PTR(h), got);
    if (!dd_streq(got, d->digest))
        return dd_err_set(e, EINVAL, "filesystem layer verification failed for digest %s",
                          d->digest);
    progress(pl, id, "Download complete", true);
    lseek(fd, 0, SEEK_SET);
    *ret_fd = TAKE_FD(fd);
    return 0;
}

static int fetch_layers(struct puller *pl, dd_err *e)
{
    json_t *cfg = NULL;
    int r = jx_parse(pl->p.config, pl->p.config_len, &cfg, e);
    if (r < 0)
        return r;
    size_t n = pl->m.n;
    pl->p.n_layers = n;
    pl->p.layers = dd_calloc(n ? n : 1, sizeof(*pl->p.layers));
    bool *have = dd_calloc(n ? n : 1, sizeof(bool));
    char(*ids)[13] = dd_calloc(n ? n : 1, 13);
    for (size_t i = 0; i < n; i++) {
        int64_t sz;
        snprintf(ids[i], 13, "%s", pl->m.items[i].digest + 7);
        have[i] = img_layer_known(pl->st, diff_id_of(pl, cfg, i), &sz);
        progress(pl, ids[i], have[i] ? "Already exists" : "Pulling fs layer", true);
    }
    for (size_t i = 0; r >= 0 && i < n; i++) {
        _cleanup_close_ int fd = -EBADF;
        if (!have[i])
            r = download(pl, i, ids[i], &fd, e);
        if (r >= 0)
            r = img_layer_ingest(pl->st, pl->stage, fd, NULL, diff_id_of(pl, cfg, i),
                                 &pl->p.layers[i], e);
        if (r >= 0 && !have[i])
            progress(pl, ids[i], "Pull complete", true);
    }
    free(have);
    free(ids);
    json_decref(cfg);
    return r;
}

/* One tag (or digest) from the open session: "Pulling from", layers, commit, "Digest:". */
static int pull_one(struct puller *pl, img_pull_result *ret, dd_err *e)
{
    _cleanup_free_ char *msg = dd_asprintf("Pulling from %s", pl->ref.path);
    int r = resolve(pl, e);
    if (r < 0)
        return r;
    progress(pl, pl->ref.tag ? pl->ref.tag : pl->ref.digest, msg, false);
    r = get_config(pl, e);
    img_image *old = NULL;
    bool existed = r >= 0 && img_image_load(pl->st, pl->p.id, &old, NULL) >= 0;
    img_image_free(old);
    pl->quiet = existed;
    if (r >= 0)
        r = img_stage_dir(pl->st, "pull", &pl->stage, e);
    if (r >= 0)
        r = fetch_layers(pl, e);
    if (r < 0)
        return r;
    _cleanup_free_ char *full = img_ref_string(&pl->ref);
    _cleanup_free_ char *name = img_ref_name(&pl->ref);
    _cleanup_free_ char *prev = img_ref_target(pl->st, full);
    pl->p.tags = dd_calloc(1, sizeof(char *));
    if (pl->ref.tag)
        pl->p.tags = dd_strv_push(pl->p.tags, full);
    pl->p.tags = dd_strv_consume(pl->p.tags, dd_asprintf("%s@%s", name, pl->digest));
    img_load_result res = {0};
    r = img_commit(pl->st, &pl->p, 1, &res, e);
    img_load_result_release(&res);
    if (r < 0)
        return r;
    *ret = (img_pull_result){.up_to_date = existed && dd_streq(prev, pl->p.id)};
    snprintf(ret->id, sizeof(ret->id), "%s", pl->p.id);
    snprintf(ret->digest, sizeof(ret->digest), "%s", pl->digest);
    _cleanup_free_ char *dg = dd_asprintf("Digest: %s", pl->digest);
    progress(pl, NULL, dg, false);
    return 0;
}

static void puller_reset(struct puller *pl)
{
    if (pl->stage)
        (void)dd_rm_rf(pl->stage, NULL);
    free(pl->stage);
    pl->stage = NULL;
    img_pending_release(&pl->p);
    img_manifest_release(&pl->m);
    pl->digest[0] = '\0';
    pl->quiet = false;
}

/* GET tags/list: the repository's tags, for `docker pull --all-tags`. */
static int list_tags(struct puller *pl, char ***ret, dd_err *e)
{
    img_reg_req q = {.url = "tags/list", .body_fd = -1, .out_fd = -1, .max_body = 4u << 20};
    img_reg_resp resp = {0};
    json_t *o = NULL;
    int r = img_reg_do(pl->reg, &q, &resp, e);
    if (r >= 0 && resp.status != 200)
        r = pull_error(pl, &resp, e);
    if (r >= 0)
        r = jx_parse(resp.body.data ? resp.body.data : "", resp.body.len, &o, e);
    img_reg_resp_release(&resp);
    char **tags = dd_calloc(1, sizeof(char *));
    size_t i;
    json_t *t;
    json_array_foreach(jx_get(o, "tags"), i,
                       t) if (json_is_string(t) && img_tag_valid(json_string_value(t))) tags =
        dd_strv_push(tags, json_string_value(t));
    json_decref(o);
    if (r >= 0 && !tags[0])
        r = dd_err_set(e, ENOENT, "repository %s has no tags", pl->name);
    if (r < 0)
        dd_strv_free(tags);
    else
        *ret = tags;
    return r;
}

static int pull_all(struct puller *pl, img_pull_result *ret, dd_err *e)
{
    _cleanup_strv_free_ char **tags = NULL;
    int r = list_tags(pl, &tags, e);
    bool all_current = true;
    for (size_t i = 0; r >= 0 && tags[i]; i++) {
        puller_reset(pl);
        free(pl->ref.tag);
        pl->ref.tag = dd_strdup(tags[i]);
        free(pl->fam);
        pl->fam = img_ref_familiar(&pl->ref);
        r = pull_one(pl, ret, e);
        all_current = all_current && ret->up_to_date;
    }
    if (r >= 0)
        ret->up_to_date = all_current;
    return r;
}

static int pull_run(struct puller *pl, img_pull_result *ret, dd_err *e)
{
    bool all = pl->o && pl->o->all_tags && !pl->ref.tag && !pl->ref.digest;
    int r = img_reg_open(pl->o ? pl->o->registries : NULL, &pl->ref, pl->o ? pl->o->auth : NULL,
                         "pull", pl->o ? pl->o->cancel : NULL, &pl->reg, e);
    if (r >= 0)
        r = all ? pull_all(pl, ret, e) : pull_one(pl, ret, e);
    if (r < 0)
        return r;
    /* after all tags dockerd names the repository alone */
    _cleanup_free_ char *st = dd_asprintf(
        "Status: %s %s", ret->up_to_date ? "Image is up to date for" : "Downloaded newer image for",
        all ? pl->name : pl->fam);
    progress(pl, NULL, st, false);
    return 0;
}

int img_pull(img_store *st, const char *s, const img_pull_opts *o, img_pull_result *ret, dd_err *e)
{
    if (st->readonly)
        return dd_err_set(e, EROFS, "the image store is read-only");
    struct puller pl = {.st = st, .o = o};
    int r = img_ref_parse(s, o && o->all_tags ? IMG_REF_NAME_ONLY : 0, &pl.ref, e);
    if (r < 0)
        return r;
    pl.fam = img_ref_familiar(&pl.ref);
    pl.name = img_ref_familiar_name(&pl.ref);
    r = pull_run(&pl, ret, e);
    puller_reset(&pl);
    free(pl.fam);
    free(pl.name);
    img_reg_close(pl.reg);
    img_ref_release(&pl.ref);
    return r;
}
