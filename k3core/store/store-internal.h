/* store internals shared by store.c (open, reads), store-write.c (writes, compaction) and
 * store-watch.c (watchers). Not for other modules. */
#ifndef K3CORE_STORE_INTERNAL_H
#define K3CORE_STORE_INTERNAL_H

#include <sqlite3.h>

#include "k3core/store/store.h"

enum kst_stmt_id {
    KST_Q_LATEST,
    KST_Q_AT_REV,
    KST_Q_INSERT,
    KST_Q_SET_CREATE_REV,
    KST_Q_LATEST_PUT,
    KST_Q_LATEST_DEL,
    KST_Q_LIST_NEW,
    KST_Q_LIST_AT,
    KST_Q_COUNT_NEW,
    KST_Q_HISTORY,
    KST_Q_BY_REV,
    KST_Q_BEGIN,
    KST_Q_COMMIT,
    KST_Q_ROLLBACK,
    KST_STMT_COUNT
};

struct kst_watch {
    kst_store *store;
    char *prefix;
    kst_watch_fn fn;
    void *userdata;
    bool cancelled;
    struct kst_watch *next;
};

struct kst_store {
    sqlite3 *db;
    sqlite3_stmt *stmt[KST_STMT_COUNT];
    int64_t current_rev;
    int64_t compact_rev;
    int64_t compact_keep;
    kst_watch *watches; /* in the order added */
    int dispatch_depth; /* > 0 while callbacks run: cancelled watches are freed afterwards */
    bool need_sweep;
};

sqlite3_stmt *kst_stmt(kst_store *s, enum kst_stmt_id id);
int kst_sql_err(kst_store *s, dd_err *e, const char *what);
int kst_check_rev(kst_store *s, int64_t rev, dd_err *e);
char *kst_prefix_end(const char *prefix);
/* Reads the row of one revision (any key); -ENOENT when compacted away. */
int kst_fetch_rev(kst_store *s, int64_t rev, kst_kv *ret);

/* Delivers one committed change to every matching watcher. */
void kst_watch_dispatch(kst_store *s, const kst_event *ev);
void kst_watch_free_all(kst_store *s);

#endif
