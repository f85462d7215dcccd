/* store watchers: prefix subscriptions fed synchronously from the commit path, plus replay of
 * the history since a given revision when a watch starts. Cancelling inside a callback only
 * marks the watch; it is unlinked and freed once no dispatch is running (redis's rule: never free
 * an object inside its own callback).
 */
#include <sqlite3.h>

#include "k3core/store/store-internal.h"

static void sweep(kst_store *s)
{
    if (s->dispatch_depth > 0 || !s->need_sweep)
        return;
    kst_watch **pp = &s->watches;
    while (*pp) {
        kst_watch *w = *pp;
        if (w->cancelled) {
            *pp = w->next;
            free(w->prefix);
            free(w);
        } else {
            pp = &w->next;
        }
    }
    s->need_sweep = false;
}

void kst_watch_dispatch(kst_store *s, const kst_event *ev)
{
    s->dispatch_depth++;
    for (kst_watch *w = s->watches; w; w = w->next)
        if (!w->cancelled && dd_startswith(ev->kv->key, w->prefix))
            w->fn(w->userdata, ev);
    s->dispatch_depth--;
    sweep(s);
}

void kst_watch_cancel(kst_watch *w)
{
    if (!w || w->cancelled)
        return;
    w->cancelled = true;
    w->store->need_sweep = true;
    sweep(w->store);
}

void kst_watch_free_all(kst_store *s)
{
    while (s->watches) {
        kst_watch *w = s->watches;
        s->watches = w->next;
        free(w->prefix);
        free(w);
    }
}

static void column_kv(sqlite3_stmt *st, int rev_col, int key_col, int create_col, int value_col,
                      kst_kv *kv)
{
    kv->mod_rev = sqlite3_column_int64(st, rev_col);
    kv->key = (char *)sqlite3_column_text(st, key_col);
    kv->create_rev = sqlite3_column_int64(st, create_col);
    kv->value = (char *)sqlite3_column_blob(st, value_col);
    kv->len = (size_t)sqlite3_column_bytes(st, value_col);
}

/* Replays one history row (rev, key, created, deleted, create_rev, prev_rev, value). */
static void replay_row(kst_store *s, kst_watch *w, sqlite3_stmt *st)
{
    kst_kv kv = {0}, prev = {0};
    column_kv(st, 0, 1, 4, 6, &kv);
    _cleanup_free_ char *value = kv.value ? dd_strndup(kv.value, kv.len) : dd_strdup("");
    kv.value = value;
    bool created = sqlite3_column_int(st, 2), deleted = sqlite3_column_int(st, 3);
    int64_t prev_rev = sqlite3_column_int64(st, 5);
    kst_event ev = {.kv = &kv};
    if (deleted) {
        /* the tombstone carries the last value: present it as `prev` like a live delete */
        ev.type = KST_EV_DELETE;
        prev = kv;
        prev.mod_rev = prev_rev;
        kv.value = NULL;
        kv.len = 0;
        ev.prev = &prev;
        w->fn(w->userdata, &ev);
        return;
    }
    ev.type = created ? KST_EV_CREATE : KST_EV_UPDATE;
    kst_kv fetched = {0};
    if (!created && prev_rev && kst_fetch_rev(s, prev_rev, &fetched) >= 0)
        ev.prev = &fetched;
    w->fn(w->userdata, &ev);
    kst_kv_release(&fetched);
}

/* The statement is stepped row by row while callbacks run: fetching a previous revision uses a
 * different statement, so the cursor stays valid. */
static int replay(kst_store *s, kst_watch *w, int64_t from_rev, dd_err *e)
{
    _cleanup_free_ char *end = kst_prefix_end(w->prefix);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT rev, key, created, deleted, create_rev, prev_rev, value FROM kv"
                           " WHERE rev > ?1 AND key >= ?2 AND key < ?3 ORDER BY rev",
                           -1, &st, NULL) != SQLITE_OK)
        return kst_sql_err(s, e, "replaying history");
    sqlite3_bind_int64(st, 1, from_rev);
    sqlite3_bind_text(st, 2, w->prefix, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, end, -1, SQLITE_STATIC);
    int rc;
    s->dispatch_depth++;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && !w->cancelled)
        replay_row(s, w, st);
    s->dispatch_depth--;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return dd_err_set(e, EIO, "replaying history: %s", sqlite3_errstr(rc));
    return 0;
}

int kst_watch_prefix(kst_store *s, const char *prefix, int64_t from_rev, kst_watch_fn fn,
                     void *userdata, kst_watch **ret, dd_err *e)
{
    if (from_rev > 0 && from_rev < s->compact_rev)
        return dd_err_set(e, ERANGE, "too old resource version: %lld (%lld)", (long long)from_rev,
                          (long long)s->compact_rev);
    kst_watch *w = dd_calloc(1, sizeof(*w));
    w->store = s;
    w->prefix = dd_strdup(prefix ? prefix : "");
    w->fn = fn;
    w->userdata = userdata;
    /* Link first so a cancel from inside the replay finds it; replay before any live event can
     * arrive (single-threaded: no commit can interleave). */
    kst_watch **pp = &s->watches;
    while (*pp)
        pp = &(*pp)->next;
    *pp = w;
    *ret = w;
    if (from_rev > 0 && from_rev < s->current_rev) {
        int r = replay(s, w, from_rev, e);
        if (r < 0) {
            *ret = NULL;
            kst_watch_cancel(w);
            return r;
        }
    }
    sweep(s);
    return 0;
}
