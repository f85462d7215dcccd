/* store: the key/value history k3core keeps in sqlite — the role kine plays for k3s. Prefix: kst_.
 *
 * One table holds every version of every key: (revision, key, value, created, deleted,
 * prev_revision). The revision is one global, strictly increasing counter shared by all keys; it
 * is what the API calls `resourceVersion`. A write appends a row in its own transaction (WAL;
 * durability per kst_options.synchronous below), so the history since
 * the last compaction can be replayed to a watcher that starts from any revision.
 *
 * Values are opaque bytes to the store (k3core keeps object JSON without
 * metadata.resourceVersion; the object layer fills that in from the row's revision on read).
 *
 * Threading: none. The store belongs to the loop that opened it; watch callbacks run
 * synchronously from the committing call (kst_create/update/delete) after the commit, in the
 * order the watchers were added, and from kst_watch_prefix itself for the replayed history. A
 * callback may cancel any watch, including its own; it must not write to the store (it would
 * recurse).
 *
 * Errors (negative errno + dd_err message):
 *   -ENOENT     key absent (get/update/delete)
 *   -EEXIST     create of a key that exists
 *   -ESTALE     update/delete with an expected revision that is not the key's current one
 *   -ERANGE     revision older than the compacted horizon (watch, get/list at a revision):
 *               the server answers 410 Expired "too old resource version: R (C)"
 *   -EINVAL     bad argument (empty key, bad continue token)
 *   -EIO        sqlite failure (message carries sqlite's text)
 */
#ifndef K3CORE_STORE_H
#define K3CORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dind/base.h"

typedef struct kst_store kst_store;
typedef struct kst_watch kst_watch;

/* One version of one key. `value` is NUL-terminated (len excludes the NUL). Owned by the
 * struct: release with kst_kv_release(). */
typedef struct kst_kv {
    char *key;
    char *value;
    size_t len;
    int64_t mod_rev;    /* revision of this version (resourceVersion) */
    int64_t create_rev; /* revision at which the key was (last) created */
} kst_kv;
void kst_kv_release(kst_kv *kv);

typedef struct kst_options {
    /* Versions older than the newest `compact_keep` revisions may be dropped by kst_compact().
     * 0 = default (10000). */
    int64_t compact_keep;
    /* sqlite synchronous mode, always with the WAL journal:
     *   "normal" (default): a commit has written its WAL frames to the kernel before the call
     *       returns, so an acknowledged write survives kill -9 of k3core (tested), but not a
     *       power loss or kernel crash (the WAL is fsynced at checkpoints only).
     *   "full": also fsyncs the WAL on every commit; survives power loss.
     * Measured on the 2-vCPU dev VM (virtio disk, ext4), sequential creates: normal 4,400/s at
     * the store, 2,750/s through kobj_create; full 220/s (one fsync ≈ 4.5 ms per write). The
     * 2,000 creates/s target needs "normal"; a disposable test cluster does not outlive its
     * host, kill -9 is the failure that matters. */
    const char *synchronous;
} kst_options;

/* Opens (creating when absent) the database file; path ":memory:" for a throwaway store. */
int kst_open(const char *path, const kst_options *opts, kst_store **ret, dd_err *e);
void kst_close(kst_store *s); /* cancels every watch; NULL-safe */

/* Newest committed revision (0 for an empty store) and the compacted horizon: revisions
 * <= compact_rev can no longer be read or watched from. */
int64_t kst_current_rev(const kst_store *s);
int64_t kst_compact_rev(const kst_store *s);

/* The key's version as of revision `at_rev` (0 = newest). -ENOENT when absent/deleted then. */
int kst_get(kst_store *s, const char *key, int64_t at_rev, kst_kv *ret, dd_err *e);

/* Listing: keys with `prefix`, ascending, strictly after `start_after` (NULL = from the first),
 * as of `at_rev` (0 = newest). At most `limit` items (0 = all); `more` tells whether further
 * keys exist (the caller builds its continue token from the last key and `rev`). */
typedef struct kst_list {
    kst_kv *items;
    size_t n;
    int64_t rev;       /* revision the list reflects: the list's resourceVersion */
    bool more;         /* more keys after the last item */
    int64_t remaining; /* number of keys after the last item when `more` */
} kst_list;
void kst_list_release(kst_list *l);
int kst_list_prefix(kst_store *s, const char *prefix, const char *start_after, int64_t at_rev,
                    size_t limit, kst_list *ret, dd_err *e);
/* Counts live keys under a prefix (newest revision). */
int kst_count_prefix(kst_store *s, const char *prefix, int64_t *ret, dd_err *e);

/* Writes. Each is one transaction; *ret_rev receives the new revision. */
int kst_create(kst_store *s, const char *key, const char *value, size_t len, int64_t *ret_rev,
               dd_err *e);
/* expect_rev 0 = unconditional. */
int kst_update(kst_store *s, const char *key, int64_t expect_rev, const char *value, size_t len,
               int64_t *ret_rev, dd_err *e);
/* ret_prev (may be NULL) receives the deleted version. */
int kst_delete(kst_store *s, const char *key, int64_t expect_rev, int64_t *ret_rev,
               kst_kv *ret_prev, dd_err *e);

/* Drops history: keeps the newest compact_keep revisions (and every key's newest live version).
 * kst_compact_rev() tells the new horizon. */
int kst_compact(kst_store *s, dd_err *e);

/* ---- watch ---- */

enum kst_event_type { KST_EV_CREATE, KST_EV_UPDATE, KST_EV_DELETE };

/* kv is the new version (for DELETE: the key with value NULL and mod_rev = the delete's
 * revision); prev is the version before the change (NULL for CREATE). Both valid only during
 * the call. */
typedef struct kst_event {
    enum kst_event_type type;
    const kst_kv *kv;
    const kst_kv *prev;
} kst_event;
typedef void (*kst_watch_fn)(void *userdata, const kst_event *ev);

/* Watches keys under `prefix` for changes with revision > from_rev. History between from_rev
 * and now is replayed through `fn` before kst_watch_prefix returns; later commits are delivered
 * live. from_rev < kst_compact_rev() → -ERANGE. from_rev 0 = only future changes. */
int kst_watch_prefix(kst_store *s, const char *prefix, int64_t from_rev, kst_watch_fn fn,
                     void *userdata, kst_watch **ret, dd_err *e);
/* Stops delivery at once; safe inside any watch callback. NULL-safe. */
void kst_watch_cancel(kst_watch *w);

#endif
