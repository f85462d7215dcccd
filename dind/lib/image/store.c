/* The image store: directory layout, the sqlite index (images, their layers, references) and the
 * read side: loading image records, resolving what a user typed (name, ID, ID prefix) and listing.
 * Writing new content is ingest.c's job; removal is remove.c's. The database holds only small
 * records; configs and layers live as content-addressed files next to it. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "dind/lib/image/image-internal.h"

static const char *const schema =
    "CREATE TABLE IF NOT EXISTS images(id TEXT PRIMARY KEY, created INTEGER NOT NULL,"
    " loaded INTEGER NOT NULL, size INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS layers(diff_id TEXT PRIMARY KEY, size INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS image_layers(image_id TEXT NOT NULL REFERENCES images(id)"
    " ON DELETE CASCADE, idx INTEGER NOT NULL, diff_id TEXT NOT NULL,"
    " PRIMARY KEY(image_id, idx));"
    "CREATE INDEX IF NOT EXISTS image_layers_diff ON image_layers(diff_id);"
    "CREATE TABLE IF NOT EXISTS refs(name TEXT PRIMARY KEY, image_id TEXT NOT NULL"
    " REFERENCES images(id) ON DELETE CASCADE, created INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS refs_image ON refs(image_id);"
    "PRAGMA user_version=1;";

char *img_store_path(const img_store *st, const char *fmt, ...)
{
    va_list ap;
    dd_buf b = DD_BUF_INIT;
    dd_buf_adds(&b, st->root);
    dd_buf_addc(&b, '/');
    va_start(ap, fmt);
    dd_buf_vaddf(&b, fmt, ap);
    va_end(ap);
    return dd_buf_detach(&b, NULL);
}

char *img_layer_dir(const img_store *st, const char *digest)
{
    return img_store_path(st, "layers/sha256/%s", digest + strlen("sha256:"));
}

char *img_blob_path(const img_store *st, const char *digest)
{
    return img_store_path(st, "blobs/sha256/%s", digest + strlen("sha256:"));
}

const char *img_store_root(const img_store *st)
{
    return st->root;
}

int img_db_err(img_store *st, dd_err *e, const char *what)
{
    return dd_err_set(e, EIO, "image store: %s: %s", what, sqlite3_errmsg(st->db));
}

int img_db_exec(img_store *st, const char *sql, dd_err *e)
{
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int r = dd_err_set(e, EIO, "image store: %s", msg ? msg : "sqlite error");
        sqlite3_free(msg);
        return r;
    }
    return 0;
}

int img_db_begin(img_store *st, dd_err *e)
{
    return img_db_exec(st, "BEGIN IMMEDIATE", e);
}

int img_db_commit(img_store *st, dd_err *e)
{
    return img_db_exec(st, "COMMIT", e);
}

void img_db_rollback(img_store *st)
{
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

sqlite3_stmt *img_db_prepare(img_store *st, const char *sql, dd_err *e)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
        img_db_err(st, e, "preparing a query");
        return NULL;
    }
    return s;
}

void img_stmt_freep(sqlite3_stmt **s)
{
    if (*s)
        sqlite3_finalize(*s);
}

static int make_dirs(img_store *st, bool clean_tmp, dd_err *e)
{
    static const char *const dirs[] = {"blobs/sha256", "layers/sha256", "tmp"};
    for (size_t i = 0; i < DD_ARRAY_SIZE(dirs); i++) {
        _cleanup_free_ char *p = img_store_path(st, "%s", dirs[i]);
        int r = dd_mkdir_p(p, 0700, e);
        if (r < 0)
            return r;
    }
    if (!clean_tmp)
        return 0;
    /* Leftovers of a load that crashed: staging only, nothing references them. */
    _cleanup_free_ char *tmp = img_store_path(st, "tmp");
    int r = dd_rm_rf(tmp, e);
    return r < 0 ? r : dd_mkdir_p(tmp, 0700, e);
}

/* A reader on a read-only mount needs the writer's -wal and -shm files (kept on close with
 * PERSIST_WAL); if they are absent, the database is quiescent and is opened immutable. */
static int open_db_readonly(img_store *st, const char *path, dd_err *e)
{
    int fl = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI;
    if (sqlite3_open_v2(path, &st->db, fl, NULL) == SQLITE_OK &&
        sqlite3_exec(st->db, "SELECT count(*) FROM images", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    sqlite3_close(st->db);
    _cleanup_free_ char *uri = dd_asprintf("file:%s?immutable=1", path);
    if (sqlite3_open_v2(uri, &st->db, fl, NULL) != SQLITE_OK)
        return img_db_err(st, e, path);
    return 0;
}

static int open_db(img_store *st, dd_err *e)
{
    _cleanup_free_ char *path = img_store_path(st, "images.db");
    if (st->readonly)
        return open_db_readonly(st, path, e);
    int fl = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &st->db, fl, NULL) != SQLITE_OK)
        return img_db_err(st, e, path);
    sqlite3_busy_timeout(st->db, 5000);
    int persist = 1;
    sqlite3_file_control(st->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
    int r = img_db_exec(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", e);
    if (r >= 0)
        r = img_db_exec(st, "PRAGMA foreign_keys=ON;", e);
    return r < 0 ? r : img_db_exec(st, schema, e);
}

int img_store_open(const char *root, unsigned flags, img_store **ret, dd_err *e)
{
    flags |= (flags & IMG_STORE_READONLY) ? IMG_STORE_SECONDARY : 0;
    img_store *st = dd_calloc(1, sizeof(*st));
    st->root = dd_strdup(root);
    st->readonly = flags & IMG_STORE_READONLY;
    int r = st->readonly ? 0 : dd_mkdir_p(root, 0700, e);
    if (r >= 0 && !st->readonly)
        r = make_dirs(st, !(flags & IMG_STORE_SECONDARY), e);
    if (r >= 0)
        r = open_db(st, e);
    if (r < 0) {
        img_store_close(st);
        return dd_err_wrap(e, "opening the image store %s", root);
    }
    *ret = st;
    return 0;
}

void img_store_close(img_store *st)
{
    if (!st)
        return;
    if (st->db)
        sqlite3_close(st->db);
    free(st->root);
    free(st);
}

int img_stage_dir(img_store *st, const char *what, char **ret, dd_err *e)
{
    char *p = img_store_path(st, "tmp/%s-XXXXXX", what);
    if (!mkdtemp(p)) {
        int r = dd_err_sys(e, "creating a staging directory");
        free(p);
        return r;
    }
    *ret = p;
    return 0;
}

/* ---- records ---- */

static const char *col_text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : "";
}

char **img_refs_of(img_store *st, const char *id)
{
    char **v = dd_calloc(1, sizeof(char *));
    _cleanup_stmt_ sqlite3_stmt *s =
        img_db_prepare(st, "SELECT name FROM refs WHERE image_id=? ORDER BY name", NULL);
    if (!s)
        return v;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    while (sqlite3_step(s) == SQLITE_ROW)
        v = dd_strv_push(v, col_text(s, 0));
    return v;
}

char *img_ref_target(img_store *st, const char *full_ref)
{
    _cleanup_stmt_ sqlite3_stmt *s =
        img_db_prepare(st, "SELECT image_id FROM refs WHERE name=?", NULL);
    if (!s)
        return NULL;
    sqlite3_bind_text(s, 1, full_ref, -1, SQLITE_STATIC);
    return sqlite3_step(s) == SQLITE_ROW ? dd_strdup(col_text(s, 0)) : NULL;
}

int img_ref_set(img_store *st, const char *full_ref, const char *id, char **ret_prev, dd_err *e)
{
    _cleanup_free_ char *prev = img_ref_target(st, full_ref);
    _cleanup_stmt_ sqlite3_stmt *s =
        img_db_prepare(st, "INSERT OR REPLACE INTO refs(name, image_id, created) VALUES(?,?,?)", e);
    if (!s)
        return -EIO;
    sqlite3_bind_text(s, 1, full_ref, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, dd_now_ns());
    if (sqlite3_step(s) != SQLITE_DONE)
        return img_db_err(st, e, "setting a reference");
    if (ret_prev)
        *ret_prev = prev && !dd_streq(prev, id) ? TAKE_PTR(prev) : NULL;
    return 0;
}

static int load_layers(img_store *st, img_image *img, dd_err *e)
{
    _cleanup_stmt_ sqlite3_stmt *s =
        img_db_prepare(st,
                       "SELECT il.diff_id, COALESCE(l.size, 0) FROM image_layers il"
                       " LEFT JOIN layers l ON l.diff_id = il.diff_id WHERE il.image_id=?"
                       " ORDER BY il.idx",
                       e);
    if (!s)
        return -EIO;
    sqlite3_bind_text(s, 1, img->id, -1, SQLITE_STATIC);
    img->diff_ids = dd_calloc(1, sizeof(char *));
    while (sqlite3_step(s) == SQLITE_ROW) {
        img->diff_ids = dd_strv_push(img->diff_ids, col_text(s, 0));
        img->layer_sizes = dd_realloc(img->layer_sizes, (img->n_layers + 1) * sizeof(int64_t));
        img->layer_sizes[img->n_layers++] = sqlite3_column_int64(s, 1);
    }
    img->layer_dirs = dd_calloc(img->n_layers + 1, sizeof(char *));
    for (size_t i = 0; i < img->n_layers; i++)
        img->layer_dirs[i] = img_layer_dir(st, img->diff_ids[img->n_layers - 1 - i]);
    return 0;
}

static void split_refs(img_image *img, char **refs)
{
    img->repo_tags = dd_calloc(1, sizeof(char *));
    img->repo_digests = dd_calloc(1, sizeof(char *));
    for (size_t i = 0; refs[i]; i++) {
        char *f = img_familiar(refs[i]);
        if (strchr(refs[i], '@'))
            img->repo_digests = dd_strv_consume(img->repo_digests, f);
        else
            img->repo_tags = dd_strv_consume(img->repo_tags, f);
    }
}

static int load_config(img_store *st, img_image *img, dd_err *e)
{
    _cleanup_free_ char *path = img_blob_path(st, img->id);
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    int r = dd_read_file(path, 0, &data, &len, e);
    if (r < 0)
        return dd_err_wrap(e, "reading the config of %s", img->id);
    return jx_parse(data, len, &img->config, e);
}

int img_image_load(img_store *st, const char *id, img_image **ret, dd_err *e)
{
    _cleanup_stmt_ sqlite3_stmt *s =
        img_db_prepare(st, "SELECT created, loaded, size FROM images WHERE id=?", e);
    if (!s)
        return -EIO;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_ROW)
        return dd_err_set(e, ENOENT, "No such image: %s", id);
    img_image *img = dd_calloc(1, sizeof(*img));
    snprintf(img->id, sizeof(img->id), "%s", id);
    img->created_ns = sqlite3_column_int64(s, 0);
    img->loaded_ns = sqlite3_column_int64(s, 1);
    img->size = sqlite3_column_int64(s, 2);
    _cleanup_strv_free_ char **refs = img_refs_of(st, id);
    split_refs(img, refs);
    int r = load_layers(st, img, e);
    if (r >= 0)
        r = load_config(st, img, e);
    if (r < 0) {
        img_image_free(img);
        return r;
    }
    *ret = img;
    return 0;
}

void img_image_free(img_image *img)
{
    if (!img)
        return;
    dd_strv_free(img->repo_tags);
    dd_strv_free(img->repo_digests);
    dd_strv_free(img->diff_ids);
    dd_strv_free(img->layer_dirs);
    free(img->layer_sizes);
    json_decref(img->config);
    free(img);
}

json_t *img_image_runconfig(const img_image *img)
{
    json_t *c = img->config ? jx_get(img->config, "config") : NULL;
    return json_is_object(c) ? c : NULL;
}

char **img_image_chain_ids(const img_image *img)
{
    char **v = dd_calloc(img->n_layers + 1, sizeof(char *));
    char prev[72] = "";
    for (size_t i = 0; i < img->n_layers; i++) {
        char cur[72];
        if (i == 0) {
            snprintf(cur, sizeof(cur), "%s", img->diff_ids[0]);
        } else {
            _cleanup_free_ char *s = dd_asprintf("%s %s", prev, img->diff_ids[i]);
            img_sha256_str(s, strlen(s), cur);
        }
        v[i] = dd_strdup(cur);
        memcpy(prev, cur, sizeof(prev));
    }
    return v;
}

/* ---- resolution ---- */

/* A unique ID prefix (hex, optionally "sha256:"-prefixed) → full ID, or NULL. */
static char *search_prefix(img_store *st, const char *s)
{
    const char *hex = dd_startswith(s, "sha256:") ? s + 7 : s;
    size_t n = strlen(hex);
    if (n == 0 || n > 64 || !img_is_hex(hex, n))
        return NULL;
    _cleanup_stmt_ sqlite3_stmt *q =
        img_db_prepare(st, "SELECT id FROM images WHERE substr(id, 8, ?) = ? LIMIT 2", NULL);
    if (!q)
        return NULL;
    sqlite3_bind_int(q, 1, (int)n);
    sqlite3_bind_text(q, 2, hex, -1, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_ROW)
        return NULL;
    _cleanup_free_ char *id = dd_strdup(col_text(q, 0));
    return sqlite3_step(q) == SQLITE_ROW ? NULL : TAKE_PTR(id);
}

int img_lookup(img_store *st, const char *s, img_image **ret, dd_err *e)
{
    _cleanup_free_ char *id = NULL;
    size_t n = strlen(s);
    if (n == 64 && img_is_hex(s, 64))
        id = dd_asprintf("sha256:%s", s);
    else if (img_digest_valid(s))
        id = dd_strdup(s);
    if (!id) {
        img_ref ref;
        dd_err perr = {0};
        if (img_ref_parse(s, 0, &ref, &perr) == 0) {
            _cleanup_free_ char *full = img_ref_string(&ref);
            img_ref_release(&ref);
            id = img_ref_target(st, full);
        }
        if (!id)
            id = search_prefix(st, s);
        if (!id && perr.code)
            return dd_err_set(e, perr.code, "%s", perr.msg);
    }
    if (!id)
        return dd_err_set(e, ENOENT, "No such image: %s", s);
    int r = img_image_load(st, id, ret, e);
    if (r == -ENOENT)
        return dd_err_set(e, ENOENT, "No such image: %s", s);
    return r;
}

int img_list(img_store *st, img_image ***ret, dd_err *e)
{
    _cleanup_stmt_ sqlite3_stmt *s =
        img_db_prepare(st, "SELECT id FROM images ORDER BY created DESC, id", e);
    if (!s)
        return -EIO;
    size_t n = 0;
    img_image **list = dd_calloc(1, sizeof(*list));
    while (sqlite3_step(s) == SQLITE_ROW) {
        img_image *img;
        int r = img_image_load(st, col_text(s, 0), &img, e);
        if (r < 0) {
            img_image_list_free(list);
            return r;
        }
        list = dd_realloc(list, (n + 2) * sizeof(*list));
        list[n++] = img;
        list[n] = NULL;
    }
    *ret = list;
    return 0;
}

void img_image_list_free(img_image **list)
{
    if (!list)
        return;
    for (size_t i = 0; list[i]; i++)
        img_image_free(list[i]);
    free(list);
}
