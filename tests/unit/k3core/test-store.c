/* Unit tests of the store (k3core/store): revisions, optimistic concurrency, listing at a
 * revision with paging, watch replay and live delivery, compaction → -ERANGE, persistence
 * across reopen. Each test uses its own database file under a fresh temporary directory. */
#include <stdio.h>
#include <stdlib.h>

#include "k3core/store/store.h"
#include "tests/unit/unit.h"

#include <signal.h>
#include <sys/wait.h>

/* Runs body(path) in a child with a database path in a fresh directory that the parent removes
 * afterwards, whether the child passed or failed. */
static void with_db(void (*body)(const char *path))
{
    char tmpl[] = "/tmp/kst-test-XXXXXX";
    char *dir = mkdtemp(tmpl);
    CHECK(dir != NULL);
    _cleanup_free_ char *path = dd_asprintf("%s/state.db", dir);
    pid_t pid = fork();
    if (pid == 0) {
        body(path);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    dd_rm_rf(dir, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static kst_store *open_store(const char *path, int64_t keep)
{
    kst_options o = {.compact_keep = keep};
    kst_store *s = NULL;
    dd_err e = {0};
    if (kst_open(path, &o, &s, &e) < 0)
        unit_fail(__FILE__, __LINE__, "open: %s", e.msg);
    return s;
}

static int64_t put(kst_store *s, const char *key, const char *v)
{
    int64_t rev = 0;
    dd_err e = {0};
    CHECK(kst_create(s, key, v, strlen(v), &rev, &e) == 0);
    return rev;
}

static void body_store_revisions_monotonic_and_conflict(const char *path)
{
    kst_store *s = open_store(path, 0);
    CHECK_EQ_INT(kst_current_rev(s), 0);
    int64_t r1 = put(s, "/a/1", "one");
    int64_t r2 = put(s, "/a/2", "two");
    CHECK(r2 > r1);
    dd_err e = {0};
    int64_t r3;
    CHECK_EQ_INT(kst_create(s, "/a/1", "x", 1, &r3, &e), -EEXIST);
    CHECK_EQ_INT(kst_update(s, "/a/1", r2, "x", 1, &r3, &e), -ESTALE);
    CHECK_EQ_INT(kst_update(s, "/a/1", r1, "uno", 3, &r3, &e), 0);
    CHECK(r3 > r2);
    CHECK_EQ_INT(kst_update(s, "/nope", 0, "x", 1, &r3, &e), -ENOENT);
    kst_kv kv;
    CHECK_EQ_INT(kst_get(s, "/a/1", 0, &kv, &e), 0);
    CHECK_EQ_STR(kv.value, "uno");
    CHECK_EQ_INT(kv.create_rev, r1);
    kst_kv_release(&kv);
    CHECK_EQ_INT(kst_get(s, "/a/1", r2, &kv, &e), 0);
    CHECK_EQ_STR(kv.value, "one");
    kst_kv_release(&kv);
    kst_close(s);
}

TEST(store_revisions_monotonic_and_conflict)
{
    with_db(body_store_revisions_monotonic_and_conflict);
}

static void body_store_list_paging_and_at_revision(const char *path)
{
    kst_store *s = open_store(path, 0);
    put(s, "/p/a", "1");
    put(s, "/p/b", "2");
    int64_t mid = put(s, "/p/c", "3");
    put(s, "/q/x", "other");
    dd_err e = {0};
    int64_t rev;
    CHECK_EQ_INT(kst_delete(s, "/p/b", 0, &rev, NULL, &e), 0);
    kst_list l;
    CHECK_EQ_INT(kst_list_prefix(s, "/p/", NULL, 0, 0, &l, &e), 0);
    CHECK_EQ_INT(l.n, 2);
    CHECK_EQ_INT(l.rev, rev);
    kst_list_release(&l);
    CHECK_EQ_INT(kst_list_prefix(s, "/p/", NULL, mid, 0, &l, &e), 0);
    CHECK_EQ_INT(l.n, 3);
    kst_list_release(&l);
    CHECK_EQ_INT(kst_list_prefix(s, "/p/", NULL, 0, 1, &l, &e), 0);
    CHECK_EQ_INT(l.n, 1);
    CHECK(l.more);
    CHECK_EQ_INT(l.remaining, 1);
    CHECK_EQ_STR(l.items[0].key, "/p/a");
    _cleanup_free_ char *last = dd_strdup(l.items[0].key);
    kst_list_release(&l);
    CHECK_EQ_INT(kst_list_prefix(s, "/p/", last, 0, 1, &l, &e), 0);
    CHECK_EQ_INT(l.n, 1);
    CHECK(!l.more);
    CHECK_EQ_STR(l.items[0].key, "/p/c");
    kst_list_release(&l);
    kst_close(s);
}

TEST(store_list_paging_and_at_revision)
{
    with_db(body_store_list_paging_and_at_revision);
}

typedef struct seen {
    char log[4096];
    int n;
    kst_watch *self;
    bool cancel_on_first;
} seen;

static void on_ev(void *ud, const kst_event *ev)
{
    seen *s = ud;
    static const char *const names[] = {"C", "U", "D"};
    size_t used = strlen(s->log);
    snprintf(s->log + used, sizeof(s->log) - used, "%s:%s:%s:%s;", names[ev->type], ev->kv->key,
             ev->kv->value ? ev->kv->value : "-", ev->prev ? ev->prev->value : "-");
    s->n++;
    if (s->cancel_on_first)
        kst_watch_cancel(s->self);
}

static void body_store_watch_replays_then_live(const char *path)
{
    kst_store *s = open_store(path, 0);
    int64_t r1 = put(s, "/w/a", "1");
    dd_err e = {0};
    int64_t rev;
    CHECK_EQ_INT(kst_update(s, "/w/a", 0, "2", 1, &rev, &e), 0);
    put(s, "/x/ignored", "z");
    seen sn = {0};
    kst_watch *w;
    CHECK_EQ_INT(kst_watch_prefix(s, "/w/", r1, on_ev, &sn, &w, &e), 0);
    CHECK_EQ_STR(sn.log, "U:/w/a:2:1;");
    CHECK_EQ_INT(kst_delete(s, "/w/a", 0, &rev, NULL, &e), 0);
    put(s, "/w/b", "3");
    CHECK_EQ_STR(sn.log, "U:/w/a:2:1;D:/w/a:-:2;C:/w/b:3:-;");
    kst_watch_cancel(w);
    put(s, "/w/c", "4");
    CHECK_EQ_INT(sn.n, 3);
    kst_close(s);
}

TEST(store_watch_replays_then_live)
{
    with_db(body_store_watch_replays_then_live);
}

static void body_store_watch_cancel_inside_callback(const char *path)
{
    kst_store *s = open_store(path, 0);
    seen sn = {.cancel_on_first = true};
    dd_err e = {0};
    CHECK_EQ_INT(kst_watch_prefix(s, "/", 0, on_ev, &sn, &sn.self, &e), 0);
    put(s, "/a", "1");
    put(s, "/b", "2");
    CHECK_EQ_INT(sn.n, 1);
    kst_close(s);
}

TEST(store_watch_cancel_inside_callback)
{
    with_db(body_store_watch_cancel_inside_callback);
}

static void body_store_compaction_expires_old_revisions(const char *path)
{
    kst_store *s = open_store(path, 5);
    int64_t first = put(s, "/c/k0", "v");
    dd_err e = {0};
    int64_t rev;
    for (int i = 0; i < 20; i++)
        CHECK_EQ_INT(kst_update(s, "/c/k0", 0, "w", 1, &rev, &e), 0);
    CHECK_EQ_INT(kst_compact(s, &e), 0);
    CHECK(kst_compact_rev(s) > first);
    seen sn = {0};
    kst_watch *w = NULL;
    CHECK_EQ_INT(kst_watch_prefix(s, "/c/", first, on_ev, &sn, &w, &e), -ERANGE);
    CHECK(strstr(e.msg, "too old resource version") != NULL);
    kst_kv kv;
    CHECK_EQ_INT(kst_get(s, "/c/k0", 0, &kv, &e), 0); /* live version survives */
    kst_kv_release(&kv);
    CHECK_EQ_INT(kst_watch_prefix(s, "/c/", kst_current_rev(s) - 2, on_ev, &sn, &w, &e), 0);
    CHECK_EQ_INT(sn.n, 2);
    kst_close(s);
}

TEST(store_compaction_expires_old_revisions)
{
    with_db(body_store_compaction_expires_old_revisions);
}

static void body_store_persists_objects_and_revision_across_reopen(const char *path)
{
    kst_store *s = open_store(path, 0);
    put(s, "/r/a", "1");
    int64_t last = put(s, "/r/b", "2");
    dd_err e = {0};
    int64_t rev;
    CHECK_EQ_INT(kst_delete(s, "/r/b", 0, &rev, NULL, &e), 0);
    kst_close(s);
    s = open_store(path, 0);
    CHECK_EQ_INT(kst_current_rev(s), last + 1);
    kst_kv kv;
    CHECK_EQ_INT(kst_get(s, "/r/a", 0, &kv, &e), 0);
    kst_kv_release(&kv);
    CHECK(put(s, "/r/c", "3") > last + 1);
    kst_close(s);
}

TEST(store_persists_objects_and_revision_across_reopen)
{
    with_db(body_store_persists_objects_and_revision_across_reopen);
}

/* A writer child reports every acknowledged create on a pipe; the parent kills it with SIGKILL
 * in the middle of the burst, reopens the database and finds every acknowledged key. */
static void body_store_kill9_loses_no_acknowledged_write(const char *path)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        kst_store *s = open_store(path, 0);
        for (int i = 0;; i++) {
            char key[64];
            snprintf(key, sizeof(key), "/k/%08d", i);
            if (kst_create(s, key, "v", 1, NULL, NULL) < 0)
                _exit(3);
            if (write(fds[1], &i, sizeof(i)) != sizeof(i))
                _exit(4);
        }
    }
    close(fds[1]);
    int last = -1, got;
    while (last < 500 && read(fds[0], &got, sizeof(got)) == sizeof(got))
        last = got;
    kill(pid, SIGKILL);
    /* drain acknowledgements that were already written before the kill */
    while (read(fds[0], &got, sizeof(got)) == sizeof(got))
        last = got;
    waitpid(pid, NULL, 0);
    close(fds[0]);
    CHECK(last >= 500);
    kst_store *s = open_store(path, 0);
    int64_t n = 0;
    CHECK_EQ_INT(kst_count_prefix(s, "/k/", &n, NULL), 0);
    CHECK(n >= last + 1);
    for (int i = 0; i <= last; i++) {
        char key[64];
        kst_kv kv;
        snprintf(key, sizeof(key), "/k/%08d", i);
        CHECK_EQ_INT(kst_get(s, key, 0, &kv, NULL), 0);
        kst_kv_release(&kv);
    }
    kst_close(s);
}
TEST(store_kill9_loses_no_acknowledged_write)
{
    with_db(body_store_kill9_loses_no_acknowledged_write);
}
