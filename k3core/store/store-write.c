/* store writes: create, update, delete and compaction, each one sqlite transaction. A write
 * checks the key's newest revision inside the transaction (optimistic concurrency: the caller's
 * expected revision must equal it), appends the new row to the history, moves `latest`, commits,
 * and only then tells the watchers — a watcher never sees a change that could still roll back.
 */
#include <sqlite3.h>
#include <stdio.h>

#include "k3core/store/store-internal.h"

static int step_done(kst_store *s, sqlite3_stmt *st, dd_err *e, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : kst_sql_err(s, e, what);
}

static int tx_begin(kst_store *s, dd_err *e)
{
    return step_done(s, kst_stmt(s, KST_Q_BEGIN), e, "begin");
}

static int tx_end(kst_store *s, int r, dd_err *e)
{
    if (r < 0) {
        step_done(s, kst_stmt(s, KST_Q_ROLLBACK), NULL, "rollback");
        return r;
    }
    return step_done(s, kst_stmt(s, KST_Q_COMMIT), e, "commit");
}

/* Newest live version of key inside the transaction: rev (0 = absent) and create_rev. */
static int latest_rev(kst_store *s, const char *key, kst_kv *ret_prev, dd_err *e)
{
    sqlite3_stmt *st = kst_stmt(s, KST_Q_LATEST);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    memset(ret_prev, 0, sizeof(*ret_prev));
    if (rc == SQLITE_ROW) {
        ret_prev->key = dd_strdup(key);
        ret_prev->mod_rev = sqlite3_column_int64(st, 0);
        ret_prev->create_rev = sqlite3_column_int64(st, 1);
        size_t n = (size_t)sqlite3_column_bytes(st, 2);
        ret_prev->value = dd_malloc(n + 1);
        if (n)
            memcpy(ret_prev->value, sqlite3_column_blob(st, 2), n);
        ret_prev->value[n] = '\0';
        ret_prev->len = n;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return kst_sql_err(s, e, "reading key");
    return 0;
}

typedef struct row {
    const char *key;
    bool created, deleted;
    int64_t create_rev, prev_rev;
    const char *value;
    size_t len;
} row;

static int insert_row(kst_store *s, const row *w, int64_t *ret_rev, dd_err *e)
{
    sqlite3_stmt *st = kst_stmt(s, KST_Q_INSERT);
    sqlite3_bind_text(st, 1, w->key, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, w->created);
    sqlite3_bind_int(st, 3, w->deleted);
    sqlite3_bind_int64(st, 4, w->create_rev);
    sqlite3_bind_int64(st, 5, w->prev_rev);
    sqlite3_bind_blob(st, 6, w->value, (int)w->len, SQLITE_STATIC);
    int r = step_done(s, st, e, "appending revision");
    if (r < 0)
        return r;
    int64_t rev = sqlite3_last_insert_rowid(s->db);
    if (w->created) {
        st = kst_stmt(s, KST_Q_SET_CREATE_REV);
        sqlite3_bind_int64(st, 1, rev);
        r = step_done(s, st, e, "setting create revision");
        if (r < 0)
            return r;
    }
    *ret_rev = rev;
    return 0;
}

static int latest_put(kst_store *s, const char *key, int64_t rev, int64_t create_rev, dd_err *e)
{
    sqlite3_stmt *st = kst_stmt(s, KST_Q_LATEST_PUT);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, rev);
    sqlite3_bind_int64(st, 3, create_rev);
    return step_done(s, st, e, "updating index");
}

static int latest_del(kst_store *s, const char *key, dd_err *e)
{
    sqlite3_stmt *st = kst_stmt(s, KST_Q_LATEST_DEL);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    return step_done(s, st, e, "updating index");
}

static void notify(kst_store *s, enum kst_event_type type, const kst_kv *kv, const kst_kv *prev)
{
    kst_event ev = {.type = type, .kv = kv, .prev = type == KST_EV_CREATE ? NULL : prev};
    kst_watch_dispatch(s, &ev);
}

static int check_key(const char *key, dd_err *e)
{
    if (!key || !*key)
        return dd_err_set(e, EINVAL, "empty key");
    return 0;
}

int kst_create(kst_store *s, const char *key, const char *value, size_t len, int64_t *ret_rev,
               dd_err *e)
{
    int r = check_key(key, e);
    if (r < 0 || (r = tx_begin(s, e)) < 0)
        return r;
    kst_kv prev;
    int64_t rev = 0;
    r = latest_rev(s, key, &prev, e);
    if (r >= 0 && prev.mod_rev)
        r = dd_err_set(e, EEXIST, "key %s already exists", key);
    if (r >= 0) {
        row w = {.key = key, .created = true, .value = value, .len = len};
        r = insert_row(s, &w, &rev, e);
    }
    if (r >= 0)
        r = latest_put(s, key, rev, rev, e);
    r = tx_end(s, r, e);
    kst_kv_release(&prev);
    if (r < 0)
        return r;
    s->current_rev = rev;
    kst_kv kv = {
        .key = (char *)key, .value = (char *)value, .len = len, .mod_rev = rev, .create_rev = rev};
    notify(s, KST_EV_CREATE, &kv, NULL);
    if (ret_rev)
        *ret_rev = rev;
    return 0;
}

static int check_expected(const kst_kv *prev, const char *key, int64_t expect_rev, dd_err *e)
{
    if (!prev->mod_rev)
        return dd_err_set(e, ENOENT, "key %s not found", key);
    if (expect_rev && prev->mod_rev != expect_rev)
        return dd_err_set(e, ESTALE, "key %s: revision %lld is not the current %lld", key,
                          (long long)expect_rev, (long long)prev->mod_rev);
    return 0;
}

int kst_update(kst_store *s, const char *key, int64_t expect_rev, const char *value, size_t len,
               int64_t *ret_rev, dd_err *e)
{
    int r = check_key(key, e);
    if (r < 0 || (r = tx_begin(s, e)) < 0)
        return r;
    kst_kv prev;
    int64_t rev = 0;
    r = latest_rev(s, key, &prev, e);
    if (r >= 0)
        r = check_expected(&prev, key, expect_rev, e);
    if (r >= 0) {
        row w = {.key = key,
                 .create_rev = prev.create_rev,
                 .prev_rev = prev.mod_rev,
                 .value = value,
                 .len = len};
        r = insert_row(s, &w, &rev, e);
    }
    if (r >= 0)
        r = latest_put(s, key, rev, prev.create_rev, e);
    r = tx_end(s, r, e);
    if (r >= 0) {
        s->current_rev = rev;
        kst_kv kv = {.key = (char *)key,
                     .value = (char *)value,
                     .len = len,
                     .mod_rev = rev,
                     .create_rev = prev.create_rev};
        notify(s, KST_EV_UPDATE, &kv, &prev);
        if (ret_rev)
            *ret_rev = rev;
    }
    kst_kv_release(&prev);
    return r;
}

int kst_delete(kst_store *s, const char *key, int64_t expect_rev, int64_t *ret_rev,
               kst_kv *ret_prev, dd_err *e)
{
    int r = check_key(key, e);
    if (r < 0 || (r = tx_begin(s, e)) < 0)
        return r;
    kst_kv prev;
    int64_t rev = 0;
    r = latest_rev(s, key, &prev, e);
    if (r >= 0)
        r = check_expected(&prev, key, expect_rev, e);
    if (r >= 0) {
        /* The tombstone keeps the last value so a replayed DELETE can show the object. */
        row w = {.key = key,
                 .deleted = true,
                 .create_rev = prev.create_rev,
                 .prev_rev = prev.mod_rev,
                 .value = prev.value,
                 .len = prev.len};
        r = insert_row(s, &w, &rev, e);
    }
    if (r >= 0)
        r = latest_del(s, key, e);
    r = tx_end(s, r, e);
    if (r >= 0) {
        s->current_rev = rev;
        kst_kv kv = {.key = (char *)key, .mod_rev = rev, .create_rev = prev.create_rev};
        notify(s, KST_EV_DELETE, &kv, &prev);
        if (ret_rev)
            *ret_rev = rev;
        if (ret_prev)
            *ret_prev = prev;
        else
            kst_kv_release(&prev);
    } else {
        kst_kv_release(&prev);
    }
    return r;
}

int kst_compact(kst_store *s, dd_err *e)
{
    int64_t horizon = s->current_rev - s->compact_keep;
    if (horizon <= s->compact_rev)
        return (int)0;
    char sql[512];
    /* Keep every key's live version and the previous version of every row a watcher may still
     * replay (rev > horizon), so replayed updates can still show what changed. */
    snprintf(sql, sizeof(sql),
             "BEGIN IMMEDIATE;"
             "DELETE FROM kv WHERE rev <= %lld AND rev NOT IN (SELECT rev FROM latest)"
             " AND rev NOT IN (SELECT prev_rev FROM kv WHERE rev > %lld);"
             "INSERT OR REPLACE INTO meta (name, val) VALUES ('compact_rev', %lld);"
             "COMMIT;",
             (long long)horizon, (long long)horizon, (long long)horizon);
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int r = dd_err_set(e, EIO, "compacting: %s", msg ? msg : "error");
        sqlite3_free(msg);
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return r;
    }
    s->compact_rev = horizon;
    return 0;
}
