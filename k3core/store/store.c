/* store: kine's role on sqlite. Every write appends one row to `kv` (the history, keyed by the
 * global revision) and updates `latest` (key → newest live revision) in one transaction, so a
 * read at the newest revision is an index lookup and a read at an older revision is a
 * max-per-key over the history. Watchers are callbacks fed from the commit path (store-watch.c);
 * compaction drops history older than the newest `compact_keep` revisions.
 *
 * Durability: WAL journal with synchronous=NORMAL by default: a commit's WAL frames are in the
 * kernel when it returns, so acknowledged writes survive kill -9 (power loss needs "full", which
 * fsyncs every commit and is 20x slower here; measurements in store.h).
 *
 * The database is opened in exclusive locking mode: k3core is its only user, this saves the
 * per-transaction file-lock system calls, and a second k3core on the same data dir fails to
 * write instead of corrupting anything.
 *
 * This file does not interpret values (object JSON is the object layer's business) and does not
 * log: errors go back through dd_err.
 */
#include <sqlite3.h>
#include <stdio.h>

#include "k3core/store/store-internal.h"

static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS kv ("
    " rev INTEGER PRIMARY KEY AUTOINCREMENT,"
    " key TEXT NOT NULL,"
    " created INTEGER NOT NULL,"
    " deleted INTEGER NOT NULL,"
    " create_rev INTEGER NOT NULL,"
    " prev_rev INTEGER NOT NULL,"
    " value BLOB);"
    "CREATE INDEX IF NOT EXISTS kv_key_rev ON kv(key, rev);"
    "CREATE TABLE IF NOT EXISTS latest (key TEXT PRIMARY KEY, rev INTEGER NOT NULL,"
    " create_rev INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, val INTEGER NOT NULL);";

/* Indexes into s->stmt; the SQL text of each is in stmt_sql. */
static const char *const stmt_sql[KST_STMT_COUNT] = {
    [KST_Q_LATEST] = "SELECT l.rev, l.create_rev, k.value FROM latest l JOIN kv k ON k.rev = l.rev"
                     " WHERE l.key = ?1",
    [KST_Q_AT_REV] = "SELECT rev, create_rev, value, deleted FROM kv WHERE key = ?1 AND rev <= ?2"
                     " ORDER BY rev DESC LIMIT 1",
    [KST_Q_INSERT] = "INSERT INTO kv (key, created, deleted, create_rev, prev_rev, value)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [KST_Q_SET_CREATE_REV] = "UPDATE kv SET create_rev = rev WHERE rev = ?1",
    [KST_Q_LATEST_PUT] = "INSERT OR REPLACE INTO latest (key, rev, create_rev) VALUES (?1, ?2, ?3)",
    [KST_Q_LATEST_DEL] = "DELETE FROM latest WHERE key = ?1",
    [KST_Q_LIST_NEW] = "SELECT l.key, l.rev, l.create_rev, k.value FROM latest l"
                       " JOIN kv k ON k.rev = l.rev WHERE l.key > ?1 AND l.key < ?2"
                       " ORDER BY l.key LIMIT ?3",
    [KST_Q_LIST_AT] = "SELECT k.key, k.rev, k.create_rev, k.value FROM kv k JOIN"
                      " (SELECT MAX(rev) AS r FROM kv WHERE key > ?1 AND key < ?2 AND rev <= ?4"
                      " GROUP BY key) m ON k.rev = m.r WHERE k.deleted = 0"
                      " ORDER BY k.key LIMIT ?3",
    [KST_Q_COUNT_NEW] = "SELECT COUNT(*) FROM latest WHERE key > ?1 AND key < ?2",
    [KST_Q_HISTORY] = "SELECT rev, key, created, deleted, create_rev, prev_rev, value FROM kv"
                      " WHERE rev > ?1 AND key >= ?2 AND key < ?3 ORDER BY rev",
    [KST_Q_BY_REV] = "SELECT key, rev, create_rev, value FROM kv WHERE rev = ?1",
    [KST_Q_BEGIN] = "BEGIN IMMEDIATE",
    [KST_Q_COMMIT] = "COMMIT",
    [KST_Q_ROLLBACK] = "ROLLBACK",
};

void kst_kv_release(kst_kv *kv)
{
    if (!kv)
        return;
    free(kv->key);
    free(kv->value);
    memset(kv, 0, sizeof(*kv));
}

void kst_list_release(kst_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        kst_kv_release(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof(*l));
}

int kst_sql_err(kst_store *s, dd_err *e, const char *what)
{
    return dd_err_set(e, EIO, "%s: %s", what, sqlite3_errmsg(s->db));
}

sqlite3_stmt *kst_stmt(kst_store *s, enum kst_stmt_id id)
{
    sqlite3_stmt *st = s->stmt[id];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

static int exec_sql(kst_store *s, const char *sql, dd_err *e)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int r = dd_err_set(e, EIO, "sqlite: %s", msg ? msg : "error");
        sqlite3_free(msg);
        return r;
    }
    return 0;
}

static int64_t query_int(kst_store *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = 0;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int load_state(kst_store *s)
{
    /* sqlite_sequence keeps the highest rev ever issued, even after compaction removed it. */
    s->current_rev = query_int(s, "SELECT seq FROM sqlite_sequence WHERE name = 'kv'");
    s->compact_rev = query_int(s, "SELECT val FROM meta WHERE name = 'compact_rev'");
    return 0;
}

static int open_db(kst_store *s, const char *path, const char *sync, dd_err *e)
{
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK)
        return dd_err_set(e, EIO, "opening %s: %s", path,
                          s->db ? sqlite3_errmsg(s->db) : "out of memory");
    sqlite3_busy_timeout(s->db, 5000);
    char pragmas[256];
    snprintf(pragmas, sizeof(pragmas),
             "PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;"
             "PRAGMA cache_size=-8000; PRAGMA temp_store=MEMORY;",
             sync);
    int r = exec_sql(s, pragmas, e);
    if (r >= 0)
        r = exec_sql(s, schema_sql, e);
    if (r < 0)
        return dd_err_wrap(e, "opening %s", path);
    for (int i = 0; i < KST_STMT_COUNT; i++)
        if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i],
                               NULL) != SQLITE_OK)
            return kst_sql_err(s, e, "preparing statement");
    return load_state(s);
}

int kst_open(const char *path, const kst_options *opts, kst_store **ret, dd_err *e)
{
    const char *sync = opts && opts->synchronous ? opts->synchronous : "normal";
    if (!dd_streq(sync, "full") && !dd_streq(sync, "normal"))
        return dd_err_set(e, EINVAL, "synchronous mode '%s': expected full or normal", sync);
    kst_store *s = dd_calloc(1, sizeof(*s));
    s->compact_keep = opts && opts->compact_keep > 0 ? opts->compact_keep : 10000;
    int r = open_db(s, path, sync, e);
    if (r < 0) {
        kst_close(s);
        return r;
    }
    *ret = s;
    return 0;
}

void kst_close(kst_store *s)
{
    if (!s)
        return;
    kst_watch_free_all(s);
    for (int i = 0; i < KST_STMT_COUNT; i++)
        sqlite3_finalize(s->stmt[i]);
    sqlite3_close(s->db);
    free(s);
}

int64_t kst_current_rev(const kst_store *s)
{
    return s->current_rev;
}

int64_t kst_compact_rev(const kst_store *s)
{
    return s->compact_rev;
}

static void take_kv(sqlite3_stmt *st, int col_value, kst_kv *kv)
{
    const void *v = sqlite3_column_blob(st, col_value);
    size_t n = (size_t)sqlite3_column_bytes(st, col_value);
    kv->value = dd_malloc(n + 1);
    if (n)
        memcpy(kv->value, v, n);
    kv->value[n] = '\0';
    kv->len = n;
}

static int get_latest(kst_store *s, const char *key, kst_kv *ret, dd_err *e)
{
    sqlite3_stmt *st = kst_stmt(s, KST_Q_LATEST);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return dd_err_set(e, ENOENT, "key %s not found", key);
    if (rc != SQLITE_ROW)
        return kst_sql_err(s, e, "reading key");
    if (ret) {
        ret->key = dd_strdup(key);
        ret->mod_rev = sqlite3_column_int64(st, 0);
        ret->create_rev = sqlite3_column_int64(st, 1);
        take_kv(st, 2, ret);
    }
    sqlite3_reset(st);
    return 0;
}

static int get_at(kst_store *s, const char *key, int64_t at_rev, kst_kv *ret, dd_err *e)
{
    sqlite3_stmt *st = kst_stmt(s, KST_Q_AT_REV);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, at_rev);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE || (rc == SQLITE_ROW && sqlite3_column_int(st, 3))) {
        sqlite3_reset(st);
        return dd_err_set(e, ENOENT, "key %s not found at revision %lld", key, (long long)at_rev);
    }
    if (rc != SQLITE_ROW)
        return kst_sql_err(s, e, "reading key");
    ret->key = dd_strdup(key);
    ret->mod_rev = sqlite3_column_int64(st, 0);
    ret->create_rev = sqlite3_column_int64(st, 1);
    take_kv(st, 2, ret);
    sqlite3_reset(st);
    return 0;
}

int kst_check_rev(kst_store *s, int64_t rev, dd_err *e)
{
    if (rev > 0 && rev < s->compact_rev)
        return dd_err_set(e, ERANGE, "too old resource version: %lld (%lld)", (long long)rev,
                          (long long)s->compact_rev);
    return 0;
}

int kst_get(kst_store *s, const char *key, int64_t at_rev, kst_kv *ret, dd_err *e)
{
    memset(ret, 0, sizeof(*ret));
    if (at_rev <= 0 || at_rev >= s->current_rev)
        return get_latest(s, key, ret, e);
    int r = kst_check_rev(s, at_rev, e);
    return r < 0 ? r : get_at(s, key, at_rev, ret, e);
}

/* Exclusive upper bound of a prefix range: the prefix with its last byte incremented. */
char *kst_prefix_end(const char *prefix)
{
    size_t n = strlen(prefix);
    char *end = dd_strdup(prefix);
    while (n > 0 && (unsigned char)end[n - 1] == 0xff)
        end[--n] = '\0';
    if (n == 0) {
        free(end);
        return dd_strdup("\xff\xff\xff\xff");
    }
    end[n - 1]++;
    return end;
}

static int collect_rows(kst_store *s, sqlite3_stmt *st, size_t limit, kst_list *ret, dd_err *e)
{
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (limit && ret->n == limit) {
            ret->more = true;
            break;
        }
        if (ret->n == cap) {
            cap = cap ? cap * 2 : 16;
            ret->items = dd_realloc(ret->items, cap * sizeof(*ret->items));
        }
        kst_kv *kv = &ret->items[ret->n++];
        memset(kv, 0, sizeof(*kv));
        kv->key = dd_strdup((const char *)sqlite3_column_text(st, 0));
        kv->mod_rev = sqlite3_column_int64(st, 1);
        kv->create_rev = sqlite3_column_int64(st, 2);
        take_kv(st, 3, kv);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return kst_sql_err(s, e, "listing keys");
    sqlite3_reset(st);
    return 0;
}

static int count_after(kst_store *s, const char *from, const char *end, int64_t *ret)
{
    sqlite3_stmt *st = kst_stmt(s, KST_Q_COUNT_NEW);
    sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, end, -1, SQLITE_STATIC);
    *ret = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return 0;
}

int kst_list_prefix(kst_store *s, const char *prefix, const char *start_after, int64_t at_rev,
                    size_t limit, kst_list *ret, dd_err *e)
{
    memset(ret, 0, sizeof(*ret));
    int r = kst_check_rev(s, at_rev, e);
    if (r < 0)
        return r;
    _cleanup_free_ char *end = kst_prefix_end(prefix);
    /* "key > from": a prefix itself is never a key, so > prefix covers it. */
    const char *from = start_after && dd_startswith(start_after, prefix) ? start_after : prefix;
    bool at_newest = at_rev <= 0 || at_rev >= s->current_rev;
    sqlite3_stmt *st = kst_stmt(s, at_newest ? KST_Q_LIST_NEW : KST_Q_LIST_AT);
    sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, end, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, limit ? (int64_t)limit + 1 : -1);
    if (!at_newest)
        sqlite3_bind_int64(st, 4, at_rev);
    r = collect_rows(s, st, limit, ret, e);
    if (r < 0) {
        kst_list_release(ret);
        return r;
    }
    ret->rev = at_newest ? s->current_rev : at_rev;
    if (ret->more && at_newest)
        count_after(s, ret->items[ret->n - 1].key, end, &ret->remaining);
    return 0;
}

int kst_count_prefix(kst_store *s, const char *prefix, int64_t *ret, dd_err *e)
{
    _cleanup_free_ char *end = kst_prefix_end(prefix);
    return count_after(s, prefix, end, ret);
}

int kst_fetch_rev(kst_store *s, int64_t rev, kst_kv *ret)
{
    memset(ret, 0, sizeof(*ret));
    sqlite3_stmt *st = kst_stmt(s, KST_Q_BY_REV);
    sqlite3_bind_int64(st, 1, rev);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return -ENOENT;
    }
    ret->key = dd_strdup((const char *)sqlite3_column_text(st, 0));
    ret->mod_rev = sqlite3_column_int64(st, 1);
    ret->create_rev = sqlite3_column_int64(st, 2);
    take_kv(st, 3, ret);
    sqlite3_reset(st);
    return 0;
}
