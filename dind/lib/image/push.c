/* `docker push`: a local image goes to a registry as a Docker schema 2 manifest. The store keeps
 * layers uncompressed (their digest is the diffID), so each layer is gzip-compressed into a
 * private staging file (deterministically: no timestamp, so a second push yields the same
 * digest), skipped when the registry already has that blob (HEAD), else uploaded monolithically
 * (POST to start an upload, PUT with ?digest= to finish it); then the config and the manifest.
 * Cross-repository mounts and chunked uploads are not used. */
#include <fcntl.h>
#include <stdio.h>

#include "dind/lib/image/image-internal.h"

struct pusher {
    img_store *st;
    const img_pull_opts *o;
    img_reg *reg;
    char *stage;
};

static void progress(struct pusher *p, const char *id, const char *status, bool detail)
{
    if (p->o && p->o->progress)
        p->o->progress(p->o->ud, id, status, detail, 0, 0);
}

static int push_error(const img_reg_resp *resp, const char *what, dd_err *e)
{
    char code[32];
    _cleanup_free_ char *text = img_reg_error_text(resp, code);
    if (dd_streq(code, "DENIED") || dd_streq(code, "UNAUTHORIZED"))
        return dd_err_set(e, EACCES, "%s", text);
    return dd_err_set(e, EIO, "%s: %s", what, text);
}

/* ---- compression ---- */

struct gz_sink {
    int fd;
    img_hash *h;
    int64_t size;
};

static la_ssize_t gz_write(struct archive *a, void *ud, const void *buf, size_t n)
{
    (void)a;
    struct gz_sink *s = ud;
    if (dd_write_all(s->fd, buf, n) < 0)
        return -1;
    img_hash_update(s->h, buf, n);
    s->size += (int64_t)n;
    return (la_ssize_t)n;
}

static int gzip_layer(struct pusher *p, const char *diff_id, int *ret_fd, char digest[72],
                      int64_t *ret_size, dd_err *e)
{
    _cleanup_free_ char *src = img_blob_path(p->st, diff_id);
    _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return dd_err_sys(e, "opening layer %s", diff_id);
    _cleanup_free_ char *path = dd_asprintf("%s/gz-XXXXXX", p->stage);
    _cleanup_close_ int fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0)
        return dd_err_sys(e, "staging a compressed layer");
    unlink(path);
    struct gz_sink s = {.fd = fd, .h = img_hash_new()};
    struct archive *a = archive_write_new();
    struct archive_entry *ent = archive_entry_new();
    int ok = a && ent && archive_write_add_filter_gzip(a) == ARCHIVE_OK &&
             archive_write_set_filter_option(a, "gzip", "timestamp", NULL) == ARCHIVE_OK &&
             archive_write_set_format_raw(a) == ARCHIVE_OK &&
             archive_write_set_bytes_in_last_block(a, 1) == ARCHIVE_OK &&
             archive_write_open(a, &s, NULL, gz_write, NULL) == ARCHIVE_OK;
    archive_entry_set_filetype(ent, AE_IFREG);
    ok = ok && archive_write_header(a, ent) == ARCHIVE_OK;
    char buf[65536];
    ssize_t n;
    while (ok && (n = read(in, buf, sizeof(buf))) > 0)
        ok = archive_write_data(a, buf, (size_t)n) == n;
    ok = ok && archive_write_close(a) == ARCHIVE_OK;
    int r = ok ? 0
               : dd_err_set(e, EIO, "compressing layer %s: %s", diff_id,
                            a ? archive_error_string(a) : "out of memory");
    archive_entry_free(ent);
    archive_write_free(a);
    img_hash_final(s.h, digest);
    if (r < 0)
        return r;
    *ret_size = s.size;
    *ret_fd = TAKE_FD(fd);
    return 0;
}

/* ---- uploads ---- */

static int blob_exists(struct pusher *p, const char *digest, bool *ret, dd_err *e)
{
    _cleanup_free_ char *url = dd_asprintf("blobs/%s", digest);
    img_reg_req q = {.method = "HEAD", .url = url, .body_fd = -1, .out_fd = -1};
    img_reg_resp resp = {0};
    int r = img_reg_do(p->reg, &q, &resp, e);
    *ret = r >= 0 && resp.status == 200;
    if (r >= 0 && resp.status != 200 && resp.status != 404)
        r = push_error(&resp, "checking a blob", e);
    img_reg_resp_release(&resp);
    return r;
}

static int upload(struct pusher *p, const char *digest, const void *mem, size_t mem_len, int fd,
                  int64_t fd_len, const char *id, dd_err *e)
{
    img_reg_req post = {.method = "POST", .url = "blobs/uploads/", .body_fd = -1, .out_fd = -1};
    img_reg_resp resp = {0};
    int r = img_reg_do(p->reg, &post, &resp, e);
    if (r >= 0 && resp.status != 202)
        r = push_error(&resp, "starting an upload", e);
    if (r >= 0 && !resp.location)
        r = dd_err_set(e, EIO, "starting an upload: the registry gave no Location");
    _cleanup_free_ char *loc = r >= 0 ? dd_strdup(resp.location) : NULL;
    img_reg_resp_release(&resp);
    if (r < 0)
        return r;
    _cleanup_free_ char *url =
        dd_asprintf("%s%cdigest=%s", loc, strchr(loc, '?') ? '&' : '?', digest);
    img_reg_req put = {
        .method = "PUT",
        .url = url,
        .content_type = "application/octet-stream",
        .body = mem,
        .body_len = mem_len,
        .body_fd = fd,
        .body_fd_len = fd_len,
        .out_fd = -1,
        .progress = id && p->o ? p->o->progress : NULL,
        .ud = p->o ? p->o->ud : NULL,
        .id = id,
        .total = fd_len,
    };
    r = img_reg_do(p->reg, &put, &resp, e);
    if (r >= 0 && resp.status != 201)
        r = push_error(&resp, "uploading a blob", e);
    img_reg_resp_release(&resp);
    return r;
}

static int push_layer(struct pusher *p, const char *diff_id, json_t *layers, dd_err *e)
{
    char id[13], digest[72];
    snprintf(id, sizeof(id), "%s", diff_id + 7);
    _cleanup_close_ int fd = -EBADF;
    int64_t size = 0;
    bool have = false;
    int r = gzip_layer(p, diff_id, &fd, digest, &size, e);
    if (r >= 0)
        r = blob_exists(p, digest, &have, e);
    if (r >= 0 && !have)
        r = upload(p, digest, NULL, 0, fd, size, id, e);
    if (r < 0)
        return r;
    progress(p, id, have ? "Layer already exists" : "Pushed", true);
    json_array_append_new(layers, json_pack("{s:s,s:I,s:s}", "mediaType", IMG_MT_DOCKER_LAYER,
                                            "size", (json_int_t)size, "digest", digest));
    return 0;
}

static int push_config(struct pusher *p, const img_image *img, char **ret_json, size_t *ret_len,
                       dd_err *e)
{
    _cleanup_free_ char *path = img_blob_path(p->st, img->id);
    int r = dd_read_file(path, IMG_MAX_CONFIG, ret_json, ret_len, e);
    bool have = false;
    if (r >= 0)
        r = blob_exists(p, img->id, &have, e);
    if (r >= 0 && !have)
        r = upload(p, img->id, *ret_json, *ret_len, -1, 0, NULL, e);
    return r;
}

static int push_manifest(struct pusher *p, const img_image *img, const char *tag, char digest[72],
                         dd_err *e)
{
    json_t *layers = json_array();
    int r = 0;
    for (size_t i = img->n_layers; i-- > 0;) {
        char id[13];
        snprintf(id, sizeof(id), "%s", img->diff_ids[i] + 7);
        progress(p, id, "Preparing", true);
    }
    for (size_t i = 0; r >= 0 && i < img->n_layers; i++)
        r = push_layer(p, img->diff_ids[i], layers, e);
    _cleanup_free_ char *cfg = NULL;
    size_t cfg_len = 0;
    if (r >= 0)
        r = push_config(p, img, &cfg, &cfg_len, e);
    if (r < 0) {
        json_decref(layers);
        return r;
    }
    json_t *m = json_pack("{s:i,s:s,s:{s:s,s:I,s:s},s:o}", "schemaVersion", 2, "mediaType",
                          IMG_MT_DOCKER_MANIFEST, "config", "mediaType", IMG_MT_DOCKER_CONFIG,
                          "size", (json_int_t)cfg_len, "digest", img->id, "layers", layers);
    _cleanup_free_ char *body = json_dumps(m, JSON_INDENT(3));
    json_decref(m);
    img_sha256_str(body, strlen(body), digest);
    _cleanup_free_ char *url = dd_asprintf("manifests/%s", tag);
    img_reg_req q = {.method = "PUT",
                     .url = url,
                     .content_type = IMG_MT_DOCKER_MANIFEST,
                     .body = body,
                     .body_len = strlen(body),
                     .body_fd = -1,
                     .out_fd = -1};
    img_reg_resp resp = {0};
    r = img_reg_do(p->reg, &q, &resp, e);
    if (r >= 0 && resp.status != 201)
        r = push_error(&resp, "uploading the manifest", e);
    img_reg_resp_release(&resp);
    if (r < 0)
        return r;
    _cleanup_free_ char *msg = dd_asprintf("%s: digest: %s size: %zu", tag, digest, strlen(body));
    progress(p, NULL, msg, false);
    return 0;
}

/* The tags to push: the one named, or every tag of the repository (dockerd's rule). */
static char **push_tags(img_store *st, const img_ref *ref)
{
    char **tags = dd_calloc(1, sizeof(char *));
    if (ref->tag)
        return dd_strv_push(tags, ref->tag);
    _cleanup_free_ char *name = img_ref_name(ref);
    _cleanup_free_ char *prefix = dd_asprintf("%s:", name);
    img_image **list = NULL;
    if (img_list(st, &list, NULL) < 0)
        return tags;
    for (size_t i = 0; list[i]; i++) {
        _cleanup_strv_free_ char **refs = img_refs_of(st, list[i]->id);
        for (size_t k = 0; refs[k]; k++)
            if (dd_startswith(refs[k], prefix) && !strchr(refs[k] + strlen(prefix), '/'))
                tags = dd_strv_push(tags, refs[k] + strlen(prefix));
    }
    img_image_list_free(list);
    return tags;
}

static int push_tag(struct pusher *p, const img_ref *ref, const char *tag, dd_err *e)
{
    _cleanup_free_ char *name = img_ref_name(ref);
    _cleanup_free_ char *full = dd_asprintf("%s:%s", name, tag);
    img_image *img = NULL;
    int r = img_lookup(p->st, full, &img, e);
    char digest[72];
    if (r >= 0)
        r = push_manifest(p, img, tag, digest, e);
    if (r >= 0) { /* like dockerd, the pushed digest becomes one of the image's RepoDigests */
        _cleanup_free_ char *dref = dd_asprintf("%s@%s", name, digest);
        (void)img_ref_set(p->st, dref, img->id, NULL, NULL);
    }
    img_image_free(img);
    return r;
}

int img_push(img_store *st, const char *s, const img_pull_opts *o, dd_err *e)
{
    img_ref ref;
    int r = img_ref_parse(s, IMG_REF_NAME_ONLY, &ref, e);
    if (r < 0)
        return r;
    struct pusher p = {.st = st, .o = o};
    _cleanup_free_ char *fam = img_ref_familiar_name(&ref);
    _cleanup_strv_free_ char **tags = push_tags(st, &ref);
    if (ref.digest)
        r = dd_err_set(e, EINVAL, "cannot push a digest reference");
    else if (!tags[0])
        r = dd_err_set(e, ENOENT, "An image does not exist locally with the tag: %s", fam);
    if (r >= 0) {
        img_image *img = NULL;
        _cleanup_free_ char *first = dd_asprintf("%s:%s", fam, tags[0]);
        r = img_lookup(st, first, &img, NULL) < 0
                ? dd_err_set(e, ENOENT, "An image does not exist locally with the tag: %s", fam)
                : 0;
        img_image_free(img);
    }
    if (r >= 0)
        r = img_reg_open(o ? o->registries : NULL, &ref, o ? o->auth : NULL, "pull,push",
                         o ? o->cancel : NULL, &p.reg, e);
    if (r >= 0) {
        _cleanup_free_ char *msg =
            dd_asprintf("The push refers to repository [%s/%s]", ref.domain, ref.path);
        progress(&p, NULL, msg, false);
        r = img_stage_dir(st, "push", &p.stage, e);
    }
    for (size_t i = 0; r >= 0 && tags[i]; i++)
        r = push_tag(&p, &ref, tags[i], e);
    if (p.stage)
        (void)dd_rm_rf(p.stage, NULL);
    free(p.stage);
    img_reg_close(p.reg);
    img_ref_release(&ref);
    return r;
}
