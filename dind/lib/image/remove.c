/* Tagging and removal with dockerd's rules (daemon/images/image_delete.go): removing a name
 * untags it, and the image goes only when no reference is left; removing by ID untags everything
 * only if all references are in one repository (or force); images used by containers are
 * protected (running: always; stopped: unless forced) through the daemon's callback. Layers no
 * other image uses are deleted with the image, unless a container still uses the image (its
 * overlay lower dirs must survive a forced delete). */
#include <stdio.h>

#include "dind/lib/image/image-internal.h"

static const char *short_id(const char *id, char out[13])
{
    const char *hex = dd_startswith(id, "sha256:") ? id + 7 : id;
    snprintf(out, 13, "%s", hex);
    return out;
}

int img_tag(img_store *st, const char *src, const char *repo, const char *tag, char **ret_full,
            char **ret_id, dd_err *e)
{
    if (st->readonly)
        return dd_err_set(e, EROFS, "the image store is read-only");
    img_ref ref;
    int r = img_ref_parse(repo ? repo : "", IMG_REF_NAME_ONLY, &ref, e);
    if (r < 0)
        return r;
    if (ref.digest) {
        img_ref_release(&ref);
        return dd_err_set(e, EINVAL, "refusing to create a tag with a digest reference");
    }
    if (tag && *tag) {
        if (!img_tag_valid(tag)) {
            img_ref_release(&ref);
            return dd_err_set(e, EINVAL, "invalid tag format");
        }
        free(ref.tag);
        ref.tag = dd_strdup(tag);
    } else if (!ref.tag) {
        ref.tag = dd_strdup("latest");
    }
    _cleanup_free_ char *full = img_ref_string(&ref);
    _cleanup_free_ char *fam = img_ref_familiar(&ref);
    img_ref_release(&ref);
    img_image *img = NULL;
    r = img_lookup(st, src, &img, e);
    if (r < 0)
        return r;
    r = img_ref_set(st, full, img->id, NULL, e);
    if (r >= 0 && ret_id)
        *ret_id = dd_strdup(img->id);
    img_image_free(img);
    if (r >= 0 && ret_full)
        *ret_full = TAKE_PTR(fam);
    return r;
}

/* ---- removal ---- */

struct rm {
    img_store *st;
    img_image *img;
    bool force;
    img_in_use_fn in_use;
    void *ud;
    json_t *items;
    char **doomed; /* paths to delete once the transaction committed */
};

static void add_item(struct rm *m, const char *key, const char *val)
{
    json_t *o = json_object();
    json_object_set_new(o, key, json_string(val));
    json_array_append_new(m->items, o);
}

static int del_ref(struct rm *m, const char *full, dd_err *e)
{
    _cleanup_stmt_ sqlite3_stmt *s = img_db_prepare(m->st, "DELETE FROM refs WHERE name=?", e);
    if (!s)
        return -EIO;
    sqlite3_bind_text(s, 1, full, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_DONE)
        return img_db_err(m->st, e, "removing a reference");
    _cleanup_free_ char *fam = img_familiar(full);
    add_item(m, "Untagged", fam);
    return 0;
}

static char *ref_repo(const char *full)
{
    img_ref r;
    if (img_ref_parse(full, IMG_REF_NAME_ONLY, &r, NULL) < 0)
        return dd_strdup(full);
    char *n = img_ref_name(&r);
    img_ref_release(&r);
    return n;
}

/* After untagging a tag: digest references of the same repository go too if no tag of that
 * repository is left (dockerd does the same). */
static int drop_orphan_digests(struct rm *m, const char *untagged, dd_err *e)
{
    _cleanup_free_ char *repo = ref_repo(untagged);
    _cleanup_strv_free_ char **refs = img_refs_of(m->st, m->img->id);
    for (size_t i = 0; refs[i]; i++) {
        _cleanup_free_ char *rr = ref_repo(refs[i]);
        if (!strchr(refs[i], '@') && dd_streq(rr, repo))
            return 0;
    }
    for (size_t i = 0; refs[i]; i++) {
        _cleanup_free_ char *rr = ref_repo(refs[i]);
        if (strchr(refs[i], '@') && dd_streq(rr, repo)) {
            int r = del_ref(m, refs[i], e);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

/* 0: no conflict; -EBUSY with dockerd's text otherwise. */
static int check_users(struct rm *m, dd_err *e)
{
    char cid[65] = "", a[13], b[13];
    bool running = false;
    if (!m->in_use || !m->in_use(m->ud, m->img->id, cid, &running))
        return 0;
    if (running)
        return dd_err_set(e, EBUSY,
                          "conflict: unable to delete %s (cannot be forced) - image is being used "
                          "by running container %s",
                          short_id(m->img->id, a), short_id(cid, b));
    if (!m->force)
        return dd_err_set(e, EBUSY,
                          "conflict: unable to delete %s (must be forced) - image is being used "
                          "by stopped container %s",
                          short_id(m->img->id, a), short_id(cid, b));
    return 0;
}

static bool single_repository(char **refs)
{
    size_t tags = 0;
    _cleanup_free_ char *first = refs[0] ? ref_repo(refs[0]) : NULL;
    for (size_t i = 0; refs[i]; i++) {
        _cleanup_free_ char *rr = ref_repo(refs[i]);
        if (!dd_streq(rr, first))
            return false;
        tags += strchr(refs[i], '@') ? 0 : 1;
    }
    return tags <= 1;
}

static int untag_all(struct rm *m, dd_err *e)
{
    _cleanup_strv_free_ char **refs = img_refs_of(m->st, m->img->id);
    for (size_t i = 0; refs[i]; i++) {
        int r = del_ref(m, refs[i], e);
        if (r < 0)
            return r;
    }
    return 0;
}

static int exec_bound(struct rm *m, const char *sql, const char *arg, dd_err *e)
{
    _cleanup_stmt_ sqlite3_stmt *s = img_db_prepare(m->st, sql, e);
    if (!s)
        return -EIO;
    sqlite3_bind_text(s, 1, arg, -1, SQLITE_STATIC);
    return sqlite3_step(s) == SQLITE_DONE ? 0 : img_db_err(m->st, e, "deleting an image");
}

static bool layer_used_elsewhere(struct rm *m, const char *diff_id)
{
    _cleanup_stmt_ sqlite3_stmt *s =
        img_db_prepare(m->st, "SELECT 1 FROM image_layers WHERE diff_id=? LIMIT 1", NULL);
    if (!s)
        return true;
    sqlite3_bind_text(s, 1, diff_id, -1, SQLITE_STATIC);
    return sqlite3_step(s) == SQLITE_ROW;
}

/* Deletes the image record; its layers go too when nothing else needs them. */
static int delete_image(struct rm *m, bool keep_layers, dd_err *e)
{
    const char *id = m->img->id;
    int r = exec_bound(m, "DELETE FROM images WHERE id=?", id, e);
    if (r < 0)
        return r;
    add_item(m, "Deleted", id);
    m->doomed = dd_strv_consume(m->doomed, img_blob_path(m->st, id));
    _cleanup_strv_free_ char **chain = img_image_chain_ids(m->img);
    for (size_t i = m->img->n_layers; i-- > 0;) {
        const char *d = m->img->diff_ids[i];
        if (keep_layers || layer_used_elsewhere(m, d))
            continue;
        r = exec_bound(m, "DELETE FROM layers WHERE diff_id=?", d, e);
        if (r < 0)
            return r;
        add_item(m, "Deleted", chain[i]);
        m->doomed = dd_strv_consume(m->doomed, img_layer_dir(m->st, d));
        m->doomed = dd_strv_consume(m->doomed, img_blob_path(m->st, d));
    }
    return 0;
}

/* The ID path and the final step of the name path (dockerd's imageDeleteHelper). */
static int delete_helper(struct rm *m, bool removed_repo_ref, dd_err *e)
{
    _cleanup_strv_free_ char **refs = img_refs_of(m->st, m->img->id);
    char a[13];
    if (refs[0] && !m->force)
        return dd_err_set(e, EBUSY,
                          "conflict: unable to delete %s (must be forced) - image is referenced in "
                          "multiple repositories",
                          short_id(m->img->id, a));
    dd_err cerr = {0};
    int r = check_users(m, &cerr);
    if (r < 0) {
        if (removed_repo_ref)
            return 0; /* the untag was the whole job */
        return dd_err_set(e, cerr.code, "%s", cerr.msg);
    }
    r = untag_all(m, e);
    char cid[65];
    bool running = false;
    bool used = m->in_use && m->in_use(m->ud, m->img->id, cid, &running);
    return r < 0 ? r : delete_image(m, used, e);
}

static int remove_by_name(struct rm *m, const char *s, dd_err *e)
{
    img_ref ref;
    int r = img_ref_parse(s, 0, &ref, e);
    if (r < 0)
        return r;
    _cleanup_free_ char *full = img_ref_string(&ref);
    img_ref_release(&ref);
    _cleanup_strv_free_ char **refs = img_refs_of(m->st, m->img->id);
    char cid[65] = "", a[13], b[13];
    bool running = false;
    if (dd_strv_len(refs) == 1 && !m->force && m->in_use &&
        m->in_use(m->ud, m->img->id, cid, &running))
        return dd_err_set(e, EBUSY,
                          "conflict: unable to remove repository reference \"%s\" (must force) - "
                          "container %s is using its referenced image %s",
                          s, short_id(cid, b), short_id(m->img->id, a));
    r = del_ref(m, full, e);
    if (r >= 0 && !strchr(full, '@'))
        r = drop_orphan_digests(m, full, e);
    if (r < 0)
        return r;
    _cleanup_strv_free_ char **left = img_refs_of(m->st, m->img->id);
    return left[0] ? 0 : delete_helper(m, true, e);
}

static bool is_id_prefix(const char *id, const char *s)
{
    return dd_startswith(id, s) || dd_startswith(id + 7, s);
}

static int remove_by_id(struct rm *m, dd_err *e)
{
    _cleanup_strv_free_ char **refs = img_refs_of(m->st, m->img->id);
    if (single_repository(refs)) {
        dd_err cerr = {0};
        int r = check_users(m, &cerr);
        if (r < 0)
            return dd_err_set(e, cerr.code, "%s", cerr.msg);
        r = untag_all(m, e);
        if (r < 0)
            return r;
    }
    return delete_helper(m, false, e);
}

int img_remove(img_store *st, const char *s, bool force, bool noprune, img_in_use_fn in_use,
               void *ud, json_t **ret_items, dd_err *e)
{
    if (st->readonly)
        return dd_err_set(e, EROFS, "the image store is read-only");
    struct rm m = {.st = st, .force = force, .in_use = in_use, .ud = ud, .items = json_array()};
    int r = img_lookup(st, s, &m.img, e);
    if (r >= 0)
        r = img_db_begin(st, e);
    if (r >= 0) {
        r = is_id_prefix(m.img->id, s) ? remove_by_id(&m, e) : remove_by_name(&m, s, e);
        r = r < 0 ? r : img_db_commit(st, e);
        if (r < 0)
            img_db_rollback(st);
    }
    for (size_t i = 0; r >= 0 && m.doomed && m.doomed[i]; i++)
        (void)dd_rm_rf(m.doomed[i], NULL);
    dd_strv_free(m.doomed);
    img_image_free(m.img);
    if (r < 0) {
        json_decref(m.items);
        return r;
    }
    *ret_items = m.items;
    return 0;
}

/* ---- garbage collection of layers left by forced deletes ---- */

int img_gc(img_store *st, img_layer_busy_fn busy, void *ud, int64_t *ret_reclaimed, dd_err *e)
{
    if (st->readonly)
        return dd_err_set(e, EROFS, "the image store is read-only");
    _cleanup_stmt_ sqlite3_stmt *q = img_db_prepare(
        st,
        "SELECT diff_id, size FROM layers WHERE diff_id NOT IN (SELECT diff_id FROM image_layers)",
        e);
    if (!q)
        return -EIO;
    _cleanup_strv_free_ char **doomed = dd_calloc(1, sizeof(char *));
    int64_t reclaimed = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(q, 0);
        _cleanup_free_ char *dir = img_layer_dir(st, d);
        if (busy && busy(ud, dir))
            continue;
        doomed = dd_strv_push(doomed, d);
        reclaimed += sqlite3_column_int64(q, 1);
    }
    for (size_t i = 0; doomed[i]; i++) {
        _cleanup_stmt_ sqlite3_stmt *s =
            img_db_prepare(st, "DELETE FROM layers WHERE diff_id=?", e);
        if (!s)
            return -EIO;
        sqlite3_bind_text(s, 1, doomed[i], -1, SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE)
            return img_db_err(st, e, "deleting a layer");
        _cleanup_free_ char *dir = img_layer_dir(st, doomed[i]);
        _cleanup_free_ char *blob = img_blob_path(st, doomed[i]);
        (void)dd_rm_rf(dir, NULL);
        (void)dd_rm_rf(blob, NULL);
    }
    if (ret_reclaimed)
        *ret_reclaimed = reclaimed;
    return (int)dd_strv_len(doomed);
}
