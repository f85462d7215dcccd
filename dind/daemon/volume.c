/* volume: the volume store (volume.h): records in sqlite (table volumes of dindd.db, opened on
 * its own connection; the container store uses another one on the same file), directories under
 * <data-root>/volumes, dockerd's name rule and the inspect object. It does not mount anything
 * and does not know containers.
 */
#include <ftw.h>
#include <regex.h>
#include <sqlite3.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "dind/json.h"
#include "events.h"
#include "volume.h"

struct vol_store {
    char *data_root;
    sqlite3 *db;
    struct vol **items;
    size_t n, cap;
};

static const char vol_schema[] = "PRAGMA journal_mode=WAL;"
                                 "PRAGMA busy_timeout=5000;"
                                 "CREATE TABLE IF NOT EXISTS volumes("
                                 " name TEXT PRIMARY KEY,"
                                 " record TEXT NOT NULL);";

static void vol_free(struct vol *v)
{
    if (!v)
        return;
    free(v->name);
    free(v->driver);
    json_decref(v->labels);
    json_decref(v->options);
    free(v);
}

static void store_append(struct vol_store *s, struct vol *v)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->items = dd_realloc(s->items, s->cap * sizeof(*s->items));
    }
    s->items[s->n++] = v;
}

static json_t *obj_or_null(const json_t *o)
{
    return json_is_object(o) ? json_deep_copy(o) : NULL;
}

static char *record_dump(const struct vol *v)
{
    json_t *o = json_object();
    jx_set_str(o, "Name", v->name);
    jx_set_str(o, "Driver", v->driver);
    jx_set_new(o, "Labels", v->labels ? json_incref(v->labels) : json_null());
    jx_set_new(o, "Options", v->options ? json_incref(v->options) : json_null());
    jx_set_int(o, "Created", v->created_ns);
    jx_set_bool(o, "Anonymous", v->anonymous);
    char *s = jx_dump(o);
    json_decref(o);
    return s;
}

static int record_load(const char *text, struct vol **ret, dd_err *e)
{
    json_t *o = NULL;
    const char *name = NULL, *driver = "local";
    struct vol *v = dd_calloc(1, sizeof(*v));
    int r = jx_parse(text, strlen(text), &o, e);
    if (r == 0 && (jx_str(o, "Name", &name, e) < 0 || jx_str(o, "Driver", &driver, e) < 0 ||
                   jx_int(o, "Created", &v->created_ns, e) < 0 ||
                   jx_bool(o, "Anonymous", &v->anonymous, e) < 0))
        r = -EINVAL;
    if (r == 0 && !name)
        r = dd_err_set(e, EINVAL, "volume record without a name");
    if (r < 0) {
        json_decref(o);
        vol_free(v);
        return r;
    }
    v->name = dd_strdup(name);
    v->driver = dd_strdup(driver ? driver : "local");
    v->labels = obj_or_null(json_object_get(o, "Labels"));
    v->options = obj_or_null(json_object_get(o, "Options"));
    json_decref(o);
    *ret = v;
    return 0;
}

static int db_fail(sqlite3 *db, dd_err *e, const char *what)
{
    return dd_err_set(e, EIO, "%s: %s", what, sqlite3_errmsg(db));
}

static int store_load(struct vol_store *s, dd_err *e)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT name, record FROM volumes", -1, &st, NULL) != SQLITE_OK)
        return db_fail(s->db, e, "loading volumes");
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const char *text = (const char *)sqlite3_column_text(st, 1);
        struct vol *v = NULL;
        dd_err err = {0};
        if (!text || record_load(text, &v, &err) < 0) {
            dd_warn("volume %s: unreadable record skipped: %s", name ? name : "?", err.msg);
            continue;
        }
        store_append(s, v);
    }
    sqlite3_finalize(st);
    return 0;
}

int vol_store_open(const char *data_root, struct vol_store **ret, dd_err *e)
{
    struct vol_store *s = dd_calloc(1, sizeof(*s));
    s->data_root = dd_strdup(data_root);
    _cleanup_free_ char *dir = dd_path_join(data_root, "volumes");
    _cleanup_free_ char *dbpath = dd_path_join(data_root, "dindd.db");
    int r = dd_mkdir_p(dir, 0701, e);
    if (r == 0 && sqlite3_open_v2(dbpath, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                  NULL) != SQLITE_OK)
        r = dd_err_set(e, EIO, "opening %s: %s", dbpath,
                       s->db ? sqlite3_errmsg(s->db) : "no memory");
    char *msg = NULL;
    if (r == 0 && sqlite3_exec(s->db, vol_schema, NULL, NULL, &msg) != SQLITE_OK) {
        r = dd_err_set(e, EIO, "initialising the volumes table: %s", msg ? msg : "?");
        sqlite3_free(msg);
    }
    if (r == 0)
        r = store_load(s, e);
    if (r < 0) {
        vol_store_free(s);
        return dd_err_wrap(e, "opening the volume store");
    }
    *ret = s;
    return 0;
}

void vol_store_free(struct vol_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        vol_free(s->items[i]);
    free(s->items);
    if (s->db)
        sqlite3_close(s->db);
    free(s->data_root);
    free(s);
}

int vol_name_validate(const char *name, dd_err *e)
{
    if (strlen(name) == 1)
        return dd_err_set(e, EINVAL,
                          "volume name is too short, names should be at least two "
                          "alphanumeric characters");
    bool ok = name[0] &&
              strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", name[0]);
    for (const char *p = name + 1; ok && *p; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
             *p == '_' || *p == '.' || *p == '-';
    if (!ok) {
        /* Go's %q of the name: quotes and backslashes escaped, controls as \xNN. */
        dd_buf q = DD_BUF_INIT;
        dd_buf_addc(&q, '"');
        for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
            if (*p == '"' || *p == '\\')
                dd_buf_addf(&q, "\\%c", *p);
            else if (*p < 0x20 || *p == 0x7f)
                dd_buf_addf(&q, "\\x%02x", *p);
            else
                dd_buf_addc(&q, (char)*p);
        }
        dd_buf_addc(&q, '"');
        _cleanup_free_ char *quoted = dd_buf_detach(&q, NULL);
        return dd_err_set(e, EINVAL,
                          "%s includes invalid characters for a local volume name, only "
                          "\"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a "
                          "host directory, use absolute path",
                          quoted);
    }
    return 0;
}

struct vol *vol_find(struct vol_store *s, const char *name)
{
    for (size_t i = 0; name && i < s->n; i++)
        if (dd_streq(s->items[i]->name, name))
            return s->items[i];
    return NULL;
}

int vol_lookup(struct vol_store *s, const char *name, struct vol **ret, dd_err *e)
{
    *ret = vol_find(s, name);
    if (!*ret)
        return dd_err_set(e, ENOENT, "get %s: no such volume", name ? name : "");
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(struct vol *const *)a)->name, (*(struct vol *const *)b)->name);
}

struct vol **vol_list(struct vol_store *s, size_t *ret_n)
{
    struct vol **v = dd_calloc(s->n + 1, sizeof(*v));
    memcpy(v, s->items, s->n * sizeof(*v));
    qsort(v, s->n, sizeof(*v), by_name);
    if (ret_n)
        *ret_n = s->n;
    return v;
}

char *vol_data_path(const char *data_root, const char *name)
{
    return dd_asprintf("%s/volumes/%s/_data", data_root, name);
}

static const char *opt(const json_t *opts, const char *key)
{
    const char *v = json_string_value(json_object_get(opts, key));
    return v ? v : "";
}

/* True when o (comma-separated mount options) has "bind" or "rbind". */
static bool has_bind(const char *o)
{
    _cleanup_free_ char *copy = dd_strdup(o);
    char *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        if (dd_streq(t, "bind") || dd_streq(t, "rbind"))
            return true;
    return false;
}

/* The local driver's options: none, or a bind of a host directory (type=none, o=bind,
 * device=/path). Other mounts (tmpfs, nfs, block devices) are refused clearly. */
static int check_options(const json_t *opts, dd_err *e)
{
    const char *k;
    json_t *val;
    json_object_foreach((json_t *)opts, k, val)
    {
        if (!dd_streq(k, "type") && !dd_streq(k, "device") && !dd_streq(k, "o"))
            return dd_err_set(e, EINVAL, "invalid option: \"%s\"", k);
        if (!json_is_string(val))
            return dd_err_set(e, EINVAL, "invalid option %s: expected a string", k);
    }
    if (!json_object_size(opts))
        return 0;
    const char *type = opt(opts, "type"), *dev = opt(opts, "device");
    if (!has_bind(opt(opts, "o")) || (*type && !dd_streq(type, "none")))
        return dd_err_set(e, EOPNOTSUPP,
                          "local volume options type=%s o=%s are not supported by dindd: only "
                          "binds of a host directory (type=none, o=bind, device=/path)",
                          type, opt(opts, "o"));
    if (dev[0] != '/')
        return dd_err_set(e, EINVAL, "invalid volume option device=%s: an absolute path is needed",
                          dev);
    return 0;
}

char *vol_mount_source(const char *data_root, const struct vol *v)
{
    const char *dev = opt(v->options, "device");
    if (v->options && has_bind(opt(v->options, "o")) && dev[0] == '/')
        return dd_strdup(dev);
    return vol_data_path(data_root, v->name);
}

static int db_put(struct vol_store *s, const struct vol *v, dd_err *e)
{
    _cleanup_free_ char *rec = record_dump(v);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO volumes(name, record) VALUES(?1, ?2)", -1,
                           &st, NULL) != SQLITE_OK)
        return db_fail(s->db, e, "saving a volume");
    sqlite3_bind_text(st, 1, v->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, rec, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_fail(s->db, e, "saving a volume");
}

static int check_create(const char *name, const char *driver, const json_t *labels,
                        const json_t *opts, dd_err *e)
{
    int r;
    if (name && *name && (r = vol_name_validate(name, e)) < 0)
        return r;
    if (driver && *driver && !dd_streq(driver, "local"))
        return dd_err_set(e, ENOENT, "error looking up volume plugin %s: plugin \"%s\" not found",
                          driver, driver);
    if (labels && !json_is_null(labels) && !json_is_object(labels))
        return dd_err_set(e, EINVAL, "Labels: expected an object");
    if (opts && !json_is_null(opts) && !json_is_object(opts))
        return dd_err_set(e, EINVAL, "DriverOpts: expected an object");
    return json_is_object(opts) ? check_options(opts, e) : 0;
}

int vol_create(struct vol_store *s, const char *name, const char *driver, const json_t *labels,
               const json_t *opts, bool anonymous, struct vol **ret, bool *ret_created, dd_err *e)
{
    int r = check_create(name, driver, labels, opts, e);
    if (r < 0)
        return r;
    struct vol *old = vol_find(s, name);
    if (old) {
        *ret = old;
        if (ret_created)
            *ret_created = false;
        return 0;
    }
    struct vol *v = dd_calloc(1, sizeof(*v));
    char id[65];
    if (!name || !*name) {
        do
            dd_random_hex(id, 32);
        while (vol_find(s, id));
        name = id;
    }
    v->name = dd_strdup(name);
    v->driver = dd_strdup("local");
    v->labels = obj_or_null(labels);
    v->options = obj_or_null(opts);
    v->created_ns = dd_now_ns();
    v->anonymous = anonymous;
    _cleanup_free_ char *data = vol_data_path(s->data_root, v->name);
    if ((r = dd_mkdir_p(data, 0755, e)) < 0 || (r = db_put(s, v, e)) < 0) {
        _cleanup_free_ char *dir = dd_asprintf("%s/volumes/%s", s->data_root, v->name);
        dd_rm_rf(dir, NULL);
        vol_free(v);
        return dd_err_wrap(e, "create %s", name);
    }
    store_append(s, v);
    json_t *attrs = json_object();
    jx_set_str(attrs, "driver", v->driver);
    events_emit("volume", "create", v->name, attrs);
    *ret = v;
    if (ret_created)
        *ret_created = true;
    return 0;
}

int vol_remove(struct vol_store *s, struct vol *v, dd_err *e)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "DELETE FROM volumes WHERE name = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return db_fail(s->db, e, "removing a volume");
    sqlite3_bind_text(st, 1, v->name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_fail(s->db, e, "removing a volume");
    _cleanup_free_ char *dir = dd_asprintf("%s/volumes/%s", s->data_root, v->name);
    int r = dd_rm_rf(dir, e);
    if (r < 0)
        dd_warn("volume %s: removing its directory: %s", v->name, e->msg);
    for (size_t i = 0; i < s->n; i++) {
        if (s->items[i] == v) {
            memmove(&s->items[i], &s->items[i + 1], (s->n - i - 1) * sizeof(*s->items));
            s->n--;
            break;
        }
    }
    json_t *attrs = json_object();
    jx_set_str(attrs, "driver", v->driver);
    events_emit("volume", "destroy", v->name, attrs);
    vol_free(v);
    return 0;
}

json_t *vol_json(struct vol_store *s, const struct vol *v)
{
    char t[64];
    json_t *o = json_object();
    time_t secs = (time_t)(v->created_ns / 1000000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
    jx_set_str(o, "CreatedAt", t);
    jx_set_str(o, "Driver", v->driver);
    jx_set_new(o, "Labels", v->labels ? json_deep_copy(v->labels) : json_null());
    jx_set_new(o, "Mountpoint", json_sprintf("%s/volumes/%s/_data", s->data_root, v->name));
    jx_set_str(o, "Name", v->name);
    jx_set_new(o, "Options", v->options ? json_deep_copy(v->options) : json_null());
    jx_set_str(o, "Scope", "local");
    return o;
}

static int64_t size_acc;

static int size_visit(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    if (flag == FTW_F)
        size_acc += st->st_blocks * 512;
    return 0;
}

int64_t vol_size(struct vol_store *s, const struct vol *v)
{
    _cleanup_free_ char *data = vol_data_path(s->data_root, v->name);
    size_acc = 0;
    nftw(data, size_visit, 16, FTW_PHYS | FTW_MOUNT);
    return size_acc;
}
