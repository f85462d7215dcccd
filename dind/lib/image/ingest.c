/* Getting content into the store: a layer stream is decompressed into a staged blob while it is
 * hashed (its digest is the diffID), checked against what the image config claims, and unpacked
 * into a staged directory. img_commit() then renames staged blobs and layer dirs into their
 * content-addressed places and records images and tags in one sqlite transaction; if anything
 * fails, what this commit renamed is removed again and the transaction rolls back. Archive
 * formats (docker-archive, OCI, import) are the callers' business. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "dind/lib/image/image-internal.h"

static bool path_exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

bool img_layer_known(img_store *st, const char *diff_id, int64_t *ret_size)
{
    _cleanup_stmt_ sqlite3_stmt *s =
        img_db_prepare(st, "SELECT size FROM layers WHERE diff_id=?", NULL);
    if (!s)
        return 0;
    sqlite3_bind_text(s, 1, diff_id, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_ROW)
        return false;
    _cleanup_free_ char *dir = img_layer_dir(st, diff_id);
    if (!path_exists(dir))
        return false;
    *ret_size = sqlite3_column_int64(s, 0);
    return true;
}

static int verify_blob(int fd, const char *want, dd_err *e)
{
    _cleanup_(img_hash_freep) img_hash *h = img_hash_new();
    char buf[65536];
    off_t off = 0;
    for (;;) {
        ssize_t n = pread(fd, buf, sizeof(buf), off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return dd_err_sys(e, "reading a blob");
        if (n == 0)
            break;
        img_hash_update(h, buf, n);
        off += n;
    }
    char got[72];
    img_hash_final(TAKE_PTR(h), got);
    if (!dd_streq(got, want))
        return dd_err_set(e, EINVAL, "blob digest mismatch: expected %s, got %s", want, got);
    return 0;
}

/* Decompresses fd into path while hashing the plain bytes. */
static int decompress_to(int fd, const char *path, char out_digest[72], dd_err *e)
{
    _cleanup_archive_ struct archive *a = img_raw_reader(fd);
    struct archive_entry *ent;
    if (!a || archive_read_next_header(a, &ent) != ARCHIVE_OK)
        return dd_err_set(e, EINVAL, "reading a layer: %s",
                          a ? archive_error_string(a) : "out of memory");
    _cleanup_close_ int out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0)
        return dd_err_sys(e, "creating %s", path);
    _cleanup_(img_hash_freep) img_hash *h = img_hash_new();
    char buf[65536];
    for (;;) {
        la_ssize_t n = archive_read_data(a, buf, sizeof(buf));
        if (n < 0)
            return dd_err_set(e, EINVAL, "decompressing a layer: %s", archive_error_string(a));
        if (n == 0)
            break;
        img_hash_update(h, buf, n);
        if (dd_write_all(out, buf, n) < 0)
            return dd_err_sys(e, "writing %s", path);
    }
    img_hash_final(TAKE_PTR(h), out_digest);
    return 0;
}

static int unpack_file(const char *tar_path, const char *dir, int64_t *ret_size, dd_err *e)
{
    _cleanup_close_ int fd = open(tar_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dd_err_sys(e, "opening %s", tar_path);
    if (mkdir(dir, 0755) < 0)
        return dd_err_sys(e, "creating %s", dir);
    _cleanup_archive_ struct archive *a = img_tar_reader(fd);
    if (!a)
        return dd_err_set(e, EINVAL, "layer is not a tar archive");
    return img_unpack(a, dir, 0, ret_size, e);
}

int img_layer_ingest(img_store *st, const char *stage, int fd, const char *want_blob_digest,
                     const char *want_diff_id, img_layer_stage *ret, dd_err *e)
{
    *ret = (img_layer_stage){0};
    if (want_blob_digest) {
        int r = verify_blob(fd, want_blob_digest, e);
        if (r < 0)
            return r;
    }
    if (want_diff_id && img_layer_known(st, want_diff_id, &ret->size)) {
        snprintf(ret->diff_id, sizeof(ret->diff_id), "%s", want_diff_id);
        return 0;
    }
    char tmpname[] = "blob-XXXXXX";
    _cleanup_free_ char *blob = dd_asprintf("%s/%s", stage, tmpname);
    _cleanup_close_ int tfd = mkstemp(blob);
    if (tfd < 0)
        return dd_err_sys(e, "staging a layer");
    unlink(blob);
    int r = decompress_to(fd, blob, ret->diff_id, e);
    if (r < 0)
        return r;
    if (want_diff_id && !dd_streq(ret->diff_id, want_diff_id))
        return dd_err_set(e, EINVAL, "layer digest mismatch: the config says %s, the content is %s",
                          want_diff_id, ret->diff_id);
    _cleanup_free_ char *dir = dd_asprintf("%s/layer-%s", stage, ret->diff_id + 7);
    if (img_layer_known(st, ret->diff_id, &ret->size) || path_exists(dir))
        return unlink(blob), 0;
    r = unpack_file(blob, dir, &ret->size, e);
    if (r < 0) {
        unlink(blob);
        return dd_err_wrap(e, "unpacking layer %s", ret->diff_id);
    }
    ret->blob_tmp = TAKE_PTR(blob);
    ret->dir_tmp = TAKE_PTR(dir);
    return 0;
}

void img_layer_stage_release(img_layer_stage *l)
{
    free(l->blob_tmp);
    free(l->dir_tmp);
    *l = (img_layer_stage){0};
}

void img_pending_release(img_pending *p)
{
    free(p->config);
    for (size_t i = 0; i < p->n_layers; i++)
        img_layer_stage_release(&p->layers[i]);
    free(p->layers);
    dd_strv_free(p->tags);
    *p = (img_pending){0};
}

int img_config_check(const char *data, size_t len, size_t n_layers, dd_err *e)
{
    json_t *cfg = NULL;
    int r = jx_parse(data, len, &cfg, e);
    if (r < 0)
        return dd_err_wrap(e, "image config");
    json_t *rootfs = jx_get(cfg, "rootfs");
    json_t *ids = rootfs ? jx_get(rootfs, "diff_ids") : NULL;
    bool is_array = json_is_array(ids);
    size_t n = is_array ? json_array_size(ids) : 0;
    json_decref(cfg);
    if (!is_array && n_layers)
        return dd_err_set(e, EINVAL, "image config has no rootfs.diff_ids");
    if (n != n_layers)
        return dd_err_set(e, EINVAL, "image config lists %zu layers, the archive has %zu", n,
                          n_layers);
    return 0;
}

/* ---- commit ---- */

struct undo {
    char **paths; /* renamed into place by this commit; removed again on failure */
};

static int place(const char *from, const char *to, struct undo *u, dd_err *e)
{
    if (path_exists(to))
        return dd_rm_rf(from, e);
    if (rename(from, to) < 0)
        return dd_err_sys(e, "moving %s into the store", to);
    u->paths = dd_strv_push(u->paths, to);
    return 0;
}

static int place_config(img_store *st, const img_pending *p, struct undo *u, dd_err *e)
{
    _cleanup_free_ char *path = img_blob_path(st, p->id);
    if (path_exists(path))
        return 0;
    int r = dd_write_file_atomic(path, p->config, p->config_len, 0644, e);
    if (r >= 0)
        u->paths = dd_strv_push(u->paths, path);
    return r;
}

static int insert_layer(img_store *st, const img_layer_stage *l, dd_err *e)
{
    _cleanup_stmt_ sqlite3_stmt *s =
        img_db_prepare(st, "INSERT OR IGNORE INTO layers(diff_id, size) VALUES(?,?)", e);
    if (!s)
        return -EIO;
    sqlite3_bind_text(s, 1, l->diff_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, l->size);
    return sqlite3_step(s) == SQLITE_DONE ? 0 : img_db_err(st, e, "recording a layer");
}

static int place_layers(img_store *st, img_pending *p, struct undo *u, dd_err *e)
{
    for (size_t i = 0; i < p->n_layers; i++) {
        img_layer_stage *l = &p->layers[i];
        if (l->blob_tmp) {
            _cleanup_free_ char *blob = img_blob_path(st, l->diff_id);
            _cleanup_free_ char *dir = img_layer_dir(st, l->diff_id);
            int r = place(l->blob_tmp, blob, u, e);
            if (r >= 0)
                r = place(l->dir_tmp, dir, u, e);
            if (r < 0)
                return r;
        }
        _cleanup_free_ char *dir = img_layer_dir(st, l->diff_id);
        if (!path_exists(dir)) /* removed by a concurrent rmi since ingest found it */
            return dd_err_set(e, EAGAIN, "layer %s was deleted during the load; load again",
                              l->diff_id);
        int r = insert_layer(st, l, e);
        if (r < 0)
            return r;
    }
    return 0;
}

static int64_t config_created(const img_pending *p)
{
    json_t *cfg = NULL;
    int64_t ns = 0;
    const char *created = NULL;
    if (jx_parse(p->config, p->config_len, &cfg, NULL) == 0 &&
        jx_str(cfg, "created", &created, NULL) == 0 && created)
        (void)dd_parse_rfc3339(created, &ns);
    json_decref(cfg);
    return ns;
}

static int insert_image(img_store *st, const img_pending *p, dd_err *e)
{
    _cleanup_stmt_ sqlite3_stmt *s = img_db_prepare(
        st,
        "INSERT OR IGNORE INTO images(id, created, loaded, size) VALUES(?1, ?2, ?3,"
        " (SELECT coalesce(sum(size), 0) FROM layers WHERE diff_id IN (SELECT value FROM"
        " json_each(?4))))",
        e);
    if (!s)
        return -EIO;
    json_t *ids = json_array();
    for (size_t i = 0; i < p->n_layers; i++)
        json_array_append_new(ids, json_string(p->layers[i].diff_id));
    _cleanup_free_ char *ids_json = jx_dump(ids);
    json_decref(ids);
    sqlite3_bind_text(s, 1, p->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, config_created(p));
    sqlite3_bind_int64(s, 3, dd_now_ns());
    sqlite3_bind_text(s, 4, ids_json, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_DONE)
        return img_db_err(st, e, "recording an image");
    for (size_t i = 0; i < p->n_layers; i++) {
        _cleanup_stmt_ sqlite3_stmt *l = img_db_prepare(
            st, "INSERT OR REPLACE INTO image_layers(image_id, idx, diff_id) VALUES(?,?,?)", e);
        if (!l)
            return -EIO;
        sqlite3_bind_text(l, 1, p->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(l, 2, (int64_t)i);
        sqlite3_bind_text(l, 3, p->layers[i].diff_id, -1, SQLITE_STATIC);
        if (sqlite3_step(l) != SQLITE_DONE)
            return img_db_err(st, e, "recording an image layer");
    }
    return 0;
}

static int set_tags(img_store *st, const img_pending *p, img_loaded *out, dd_err *e)
{
    out->tags = dd_calloc(1, sizeof(char *));
    out->moved = dd_calloc(1, sizeof(char *));
    for (size_t i = 0; p->tags && p->tags[i]; i++) {
        _cleanup_free_ char *prev = NULL;
        int r = img_ref_set(st, p->tags[i], p->id, &prev, e);
        if (r < 0)
            return r;
        char *fam = img_familiar(p->tags[i]);
        if (prev)
            out->moved = dd_strv_consume(
                out->moved, dd_asprintf("The image %s already exists, renaming the old one with "
                                        "ID %s to empty string",
                                        fam, prev));
        out->tags = dd_strv_consume(out->tags, fam);
    }
    return 0;
}

static int commit_one(img_store *st, img_pending *p, struct undo *u, img_loaded *out, dd_err *e)
{
    int r = place_config(st, p, u, e);
    if (r >= 0)
        r = place_layers(st, p, u, e);
    if (r >= 0)
        r = insert_image(st, p, e);
    if (r >= 0)
        r = set_tags(st, p, out, e);
    snprintf(out->id, sizeof(out->id), "%s", p->id);
    return r;
}

int img_commit(img_store *st, img_pending *imgs, size_t n, img_load_result *ret, dd_err *e)
{
    struct undo u = {NULL};
    img_load_result res = {.n = n, .images = dd_calloc(n ? n : 1, sizeof(img_loaded))};
    int r = img_db_begin(st, e);
    for (size_t i = 0; r >= 0 && i < n; i++)
        r = commit_one(st, &imgs[i], &u, &res.images[i], e);
    if (r >= 0)
        r = img_db_commit(st, e);
    if (r < 0) {
        img_db_rollback(st);
        for (size_t i = 0; u.paths && u.paths[i]; i++)
            (void)dd_rm_rf(u.paths[i], NULL);
        img_load_result_release(&res);
    } else {
        *ret = res;
    }
    dd_strv_free(u.paths);
    return r;
}

void img_load_result_release(img_load_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        dd_strv_free(r->images[i].tags);
        dd_strv_free(r->images[i].moved);
    }
    free(r->images);
    *r = (img_load_result){0};
}
