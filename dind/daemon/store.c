/* store: the set of containers, in memory and in <data-root>/dindd.db.
 *
 * The database is the source of truth for what exists: a container is added to the store only
 * after its row is committed, and removed from memory only after its row is deleted, so a crash
 * at any point leaves either the whole container or nothing. Lookups follow Docker's order (full
 * id, then name, then unique id prefix). Listeners let streams (wait, logs -f) learn about
 * exits and removals without polling. Running containers is lifecycle.c's job.
 */
#include <regex.h>
#include <sqlite3.h>
#include <stdio.h>

#include "container-internal.h"
#include "ctr-volumes.h"
#include "health.h"
#include "dind/ev.h"
#include "dind/json.h"

static const char schema[] = "PRAGMA journal_mode=WAL;"
                             "PRAGMA synchronous=NORMAL;"
                             "PRAGMA busy_timeout=5000;"
                             "CREATE TABLE IF NOT EXISTS containers("
                             " id TEXT PRIMARY KEY,"
                             " name TEXT NOT NULL UNIQUE,"
                             " record TEXT NOT NULL);";

static int db_fail(sqlite3 *db, dd_err *e, const char *what)
{
    return dd_err_set(e, EIO, "%s: %s", what, sqlite3_errmsg(db));
}

static int db_open(const char *path, sqlite3 **ret, dd_err *e)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        int r = dd_err_set(e, EIO, "opening %s: %s", path, db ? sqlite3_errmsg(db) : "no memory");
        sqlite3_close(db);
        return r;
    }
    char *msg = NULL;
    if (sqlite3_exec(db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        int r = dd_err_set(e, EIO, "initialising %s: %s", path, msg ? msg : "?");
        sqlite3_free(msg);
        sqlite3_close(db);
        return r;
    }
    *ret = db;
    return 0;
}

static void store_append(struct ctr_store *s, struct container *c)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->items = dd_realloc(s->items, s->cap * sizeof(*s->items));
    }
    s->items[s->n++] = c;
    c->priv->store = s;
}

static int store_load(struct ctr_store *s, dd_err *e)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT id, record FROM containers", -1, &st, NULL) != SQLITE_OK)
        return db_fail(s->db, e, "loading containers");
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        const char *text = (const char *)sqlite3_column_text(st, 1);
        struct container *c = NULL;
        dd_err err = {0};
        if (!text || ctr_record_load(text, &c, &err) < 0) {
            dd_warn("container %s: unreadable record skipped: %s", id ? id : "?", err.msg);
            continue;
        }
        ctr_set_paths(c, s->data_root, s->exec_root);
        store_append(s, c);
    }
    sqlite3_finalize(st);
    /* Oldest first, so that lists (newest first) come out in creation order. */
    for (size_t i = 1; i < s->n; i++)
        for (size_t j = i; j > 0 && s->items[j - 1]->created_ns > s->items[j]->created_ns; j--) {
            struct container *t = s->items[j];
            s->items[j] = s->items[j - 1];
            s->items[j - 1] = t;
        }
    return 0;
}

int ctr_store_open(const struct ctr_store_opts *o, struct ctr_store **ret, dd_err *e)
{
    struct ctr_store *s = dd_calloc(1, sizeof(*s));
    s->loop = o->loop;
    s->images = o->images;
    s->volumes = o->volumes;
    s->data_root = dd_strdup(o->data_root);
    s->exec_root = dd_strdup(o->exec_root);
    _cleanup_free_ char *cdir = dd_path_join(o->data_root, "containers");
    _cleanup_free_ char *xdir = dd_path_join(o->exec_root, "containers");
    _cleanup_free_ char *dbpath = dd_path_join(o->data_root, "dindd.db");
    int r;
    if ((r = dd_mkdir_p(cdir, 0710, e)) < 0 || (r = dd_mkdir_p(xdir, 0710, e)) < 0 ||
        (r = db_open(dbpath, &s->db, e)) < 0 || (r = store_load(s, e)) < 0) {
        ctr_store_free(s);
        return r;
    }
    ctr_adopt_all(s);
    *ret = s;
    return 0;
}

void ctr_store_free(struct ctr_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        ctr_store_forget(s->items[i]);
    for (size_t i = 0; i < s->n; i++)
        ctr_unref(s->items[i]);
    free(s->items);
    if (s->db)
        sqlite3_close(s->db);
    /* Directories of removed containers: the next start would sweep them, but leave none. */
    (void)dd_background_wait(10000);
    free(s->data_root);
    free(s->exec_root);
    free(s);
}

struct ev_loop *ctr_store_loop(struct ctr_store *s)
{
    return s->loop;
}

struct img_store *ctr_store_images(struct ctr_store *s)
{
    return s->images;
}

/* ---- persistence ---- */

static int db_run(sqlite3 *db, const char *sql, const char *a, const char *b, const char *c,
                  dd_err *e)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_fail(db, e, "preparing a statement");
    const char *args[] = {a, b, c};
    for (int i = 0; i < 3 && args[i]; i++)
        sqlite3_bind_text(st, i + 1, args[i], -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_CONSTRAINT)
        return dd_err_set(e, EBUSY, "%s", sqlite3_errmsg(db));
    if (rc != SQLITE_DONE)
        return db_fail(db, e, "writing the container store");
    return 0;
}

int ctr_save(struct ctr_store *s, struct container *c, dd_err *e)
{
    if (c->removed)
        return 0;
    _cleanup_free_ char *rec = ctr_record_dump(c);
    return db_run(s->db, "UPDATE containers SET name = ?2, record = ?3 WHERE id = ?1", c->id,
                  c->name, rec, e);
}

int ctr_store_add(struct ctr_store *s, struct container *c, dd_err *e)
{
    int r = ctr_name_conflict(s, c->name, e);
    if (r < 0)
        return r;
    _cleanup_free_ char *rec = ctr_record_dump(c);
    r = db_run(s->db, "INSERT INTO containers(id, name, record) VALUES(?1, ?2, ?3)", c->id, c->name,
               rec, e);
    if (r < 0)
        return r;
    store_append(s, c);
    return 0;
}

/* A container's directory goes away on a background thread, after a rename out of the way: on a
 * filesystem mounted with discard every freed block is trimmed synchronously, milliseconds per
 * file, which the removal (and `docker run --rm`) would otherwise wait for. A crash in between
 * leaves a CTR_TRASH_PREFIX directory that the next start removes (lifecycle.c, sweep_orphans). */
char *ctr_trash_path(const char *dir)
{
    const char *slash = strrchr(dir, '/');
    return slash ? dd_asprintf("%.*s/" CTR_TRASH_PREFIX "%s", (int)(slash - dir), dir, slash + 1)
                 : NULL;
}

void ctr_store_discard_dir(struct ctr_store *s, const char *dir)
{
    (void)s;
    _cleanup_free_ char *trash = ctr_trash_path(dir);
    if (trash && rename(dir, trash) == 0)
        dd_rm_rf_background(trash);
    else
        dd_rm_rf(dir, NULL);
}

int ctr_store_remove(struct ctr_store *s, struct container *c, dd_err *e)
{
    int r = db_run(s->db, "DELETE FROM containers WHERE id = ?1", c->id, NULL, NULL, e);
    if (r < 0)
        return r;
    size_t j = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->items[i] != c)
            s->items[j++] = s->items[i];
    s->n = j;
    c->removed = true;
    ctr_store_forget(c);
    ctr_notify(c, CTR_CHANGE_REMOVED);
    ctr_unref(c);
    return 0;
}

/* ---- names ---- */

int ctr_name_validate(const char *name, char **ret, dd_err *e)
{
    regex_t re;
    const char *n = name[0] == '/' ? name + 1 : name;
    if (regcomp(&re, "^[a-zA-Z0-9][a-zA-Z0-9_.-]+$", REG_EXTENDED | REG_NOSUB) != 0)
        return dd_err_set(e, ENOMEM, "compiling the name pattern");
    int m = regexec(&re, n, 0, NULL, 0);
    regfree(&re);
    if (m != 0)
        return dd_err_set(e, EINVAL,
                          "Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                          name);
    *ret = dd_asprintf("/%s", n);
    return 0;
}

int ctr_name_conflict(struct ctr_store *s, const char *slash_name, dd_err *e)
{
    struct container *o = ctr_find_name(s, slash_name);
    if (!o)
        return 0;
    return dd_err_set(e, EBUSY,
                      "Conflict. The container name \"%s\" is already in use by container "
                      "\"%s\". You have to remove (or rename) that container to be able to reuse "
                      "that name.",
                      slash_name, o->id);
}

int ctr_store_rename(struct ctr_store *s, struct container *c, const char *new_name, dd_err *e)
{
    _cleanup_free_ char *n = NULL;
    int r = ctr_name_validate(new_name, &n, e);
    if (r < 0)
        return r;
    if (dd_streq(n, c->name))
        return dd_err_set(e, EBUSY, "Renaming a container with the same name as its current name");
    if ((r = ctr_name_conflict(s, n, e)) < 0)
        return r;
    char *old = c->name;
    c->name = TAKE_PTR(n);
    if ((r = ctr_save(s, c, e)) < 0) {
        free(c->name);
        c->name = old;
        return r;
    }
    free(old);
    return 0;
}

/* ---- lookups ---- */

struct container *ctr_find_id(struct ctr_store *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->items[i]->id, id) == 0)
            return s->items[i];
    return NULL;
}

struct container *ctr_find_name(struct ctr_store *s, const char *name)
{
    const char *n = name[0] == '/' ? name + 1 : name;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->items[i]->name + 1, n) == 0)
            return s->items[i];
    return NULL;
}

int ctr_lookup(struct ctr_store *s, const char *ref, struct container **ret, dd_err *e)
{
    struct container *c = NULL;
    if (!ref || !*ref)
        return dd_err_set(e, ENOENT, "No such container: %s", ref ? ref : "");
    if ((c = ctr_find_id(s, ref)) || (c = ctr_find_name(s, ref))) {
        *ret = c;
        return 0;
    }
    size_t len = strlen(ref);
    for (size_t i = 0; i < s->n; i++) {
        if (strncmp(s->items[i]->id, ref, len) != 0)
            continue;
        if (c)
            return dd_err_set(e, EINVAL, "multiple IDs found with provided prefix: %s", ref);
        c = s->items[i];
    }
    if (!c)
        return dd_err_set(e, ENOENT, "No such container: %s", ref);
    *ret = c;
    return 0;
}

struct container **ctr_list(struct ctr_store *s, size_t *ret_n)
{
    struct container **v = dd_calloc(s->n + 1, sizeof(*v));
    for (size_t i = 0; i < s->n; i++)
        v[i] = s->items[s->n - 1 - i];
    if (ret_n)
        *ret_n = s->n;
    return v;
}

bool ctr_image_in_use(struct ctr_store *s, const char *image_id, char ret_cid[65],
                      bool *ret_running)
{
    struct container *found = NULL;
    for (size_t i = 0; i < s->n; i++) {
        struct container *c = s->items[i];
        if (!dd_streq(c->image_id, image_id))
            continue;
        if (!found || (ctr_is_running(c) && !ctr_is_running(found)))
            found = c;
    }
    if (!found)
        return false;
    memcpy(ret_cid, found->id, 65);
    *ret_running = ctr_is_running(found);
    return true;
}

/* ---- listeners ---- */

struct ctr_listener *ctr_listen(struct container *c, ctr_listener_fn fn, void *data)
{
    struct ctr_listener *l = dd_calloc(1, sizeof(*l));
    l->c = c;
    l->fn = fn;
    l->data = data;
    l->next = c->priv->listeners;
    c->priv->listeners = l;
    return l;
}

static void listeners_sweep(struct ctr_priv *p)
{
    struct ctr_listener **pp = &p->listeners;
    while (*pp) {
        struct ctr_listener *l = *pp;
        if (l->dead) {
            *pp = l->next;
            free(l);
        } else {
            pp = &l->next;
        }
    }
}

void ctr_unlisten(struct ctr_listener *l)
{
    if (!l)
        return;
    l->dead = true;
    if (l->c->priv->notifying == 0)
        listeners_sweep(l->c->priv);
}

void ctr_notify(struct container *c, enum ctr_change what)
{
    ctr_ref(c);
    health_on_change(c, what);
    if (what != CTR_CHANGE_REMOVED)
        ctr_volumes_events(c, what == CTR_CHANGE_STARTED);
    c->priv->notifying++;
    for (struct ctr_listener *l = c->priv->listeners; l; l = l->next)
        if (!l->dead)
            l->fn(c, what, l->data);
    c->priv->notifying--;
    if (c->priv->notifying == 0)
        listeners_sweep(c->priv);
    ctr_unref(c);
}
