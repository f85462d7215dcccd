/* ctr-volumes: a container's volume mounts. At create, the named binds ("name:/dest[:mode]"),
 * Mounts of type volume and the Config.Volumes paths no other mount covers (the image's VOLUME
 * lines and `-v /path`) become entries of c->volumes, creating missing volumes (anonymous ones
 * with a random name). The runtime spec gets them as bind mounts of the volumes' _data
 * directories; before each start an empty volume receives a copy of what the image has at its
 * mount path (dockerd's copy-up; "nocopy" turns it off). Removal of the container with `rm -v`
 * or AutoRemove removes its anonymous volumes. What this file does not do: volume records and
 * their API (volume.c, volumes.c).
 *
 * The copy reads the container's rootfs (mounted at c->rootfs from create to removal) with every
 * path resolved inside it (openat2 RESOLVE_IN_ROOT) and never follows a symlink of the image, so
 * an image cannot make the daemon read or write host files.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/openat2.h>

#include "container-internal.h"
#include "create.h"
#include "ctr-volumes.h"
#include "dind/json.h"
#include "events.h"
#include "volume.h"

/* ---- create ---- */

static json_t *entry_new(const char *name, const char *source, const char *dest, bool rw,
                         const char *mode, bool anon, bool nocopy)
{
    json_t *o = json_object();
    jx_set_str(o, "Name", name);
    jx_set_str(o, "Source", source);
    jx_set_str(o, "Destination", dest);
    jx_set_str(o, "Driver", "local");
    jx_set_str(o, "Mode", mode);
    jx_set_bool(o, "RW", rw);
    jx_set_bool(o, "Anonymous", anon);
    jx_set_bool(o, "NoCopy", nocopy);
    return o;
}

struct vol_req {
    const char *name; /* NULL = anonymous */
    const char *dest;
    bool rw, nocopy;
    const char *mode;
    const json_t *labels, *opts;
};

static int add_req(struct ctr_store *s, struct container *c, json_t *out, const struct vol_req *q,
                   dd_err *e)
{
    struct vol *v = NULL;
    bool created = false;
    for (size_t i = 0; i < json_array_size(out); i++)
        if (dd_streq(json_string_value(json_object_get(json_array_get(out, i), "Destination")),
                     q->dest))
            return dd_err_set(e, EINVAL, "Duplicate mount point: %s", q->dest);
    int r = vol_create(s->volumes, q->name, NULL, q->labels, q->opts, !q->name, &v, &created, e);
    if (r < 0)
        return r;
    _cleanup_free_ char *src = vol_mount_source(s->data_root, v);
    json_t *ent = entry_new(v->name, src, q->dest, q->rw, q->mode, !q->name, q->nocopy);
    jx_set_bool(ent, "Created", created);
    json_array_append_new(out, ent);
    return 0;
}

/* "name:/dest[:opts]" with a name (not a path) as source; other binds are spec.c's. */
static int bind_req(const char *bind, struct vol_req *q, char ***keep)
{
    if (!bind || bind[0] == '/' || !strchr(bind, ':'))
        return 0;
    _cleanup_free_ char *copy = dd_strdup(bind);
    char *save = NULL, *name = strtok_r(copy, ":", &save), *dest = strtok_r(NULL, ":", &save);
    char *mode = strtok_r(NULL, "", &save);
    if (!name || !dest)
        return 0;
    *keep = dd_strv_push(*keep, name);
    *keep = dd_strv_push(*keep, dest);
    *keep = dd_strv_push(*keep, mode ? mode : "z");
    size_t n = dd_strv_len(*keep);
    memset(q, 0, sizeof(*q));
    q->name = (*keep)[n - 3];
    q->dest = (*keep)[n - 2];
    q->mode = (*keep)[n - 1];
    q->rw = true;
    _cleanup_free_ char *opts = dd_strdup(mode ? mode : "");
    for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
        if (dd_streq(o, "ro"))
            q->rw = false;
        else if (dd_streq(o, "nocopy"))
            q->nocopy = true;
    }
    return 1;
}

static int mount_req(const json_t *m, struct vol_req *q)
{
    if (!dd_streq(json_string_value(json_object_get(m, "Type")), "volume"))
        return 0;
    const char *src = json_string_value(json_object_get(m, "Source"));
    json_t *vo = json_object_get(m, "VolumeOptions");
    json_t *dc = json_object_get(vo, "DriverConfig");
    memset(q, 0, sizeof(*q));
    q->name = src && *src ? src : NULL;
    q->dest = json_string_value(json_object_get(m, "Target"));
    q->rw = !json_is_true(json_object_get(m, "ReadOnly"));
    q->nocopy = json_is_true(json_object_get(vo, "NoCopy"));
    q->mode = "";
    q->labels = json_object_get(vo, "Labels");
    q->opts = json_object_get(dc, "Options");
    return q->dest ? 1 : 0;
}

/* Destinations of the container's bind and tmpfs mounts (not volumes). */
static int other_dests(const struct container *c, char ***ret, dd_err *e)
{
    struct spec_mount *m = NULL;
    size_t n = 0;
    int r = spec_mounts(c->host_config, NULL, &m, &n, e);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++)
        *ret = dd_strv_push(*ret, m[i].dest);
    spec_mounts_free(m, n);
    return 0;
}

static int collect(struct ctr_store *s, struct container *c, json_t *out, dd_err *e)
{
    _cleanup_strv_free_ char **keep = NULL, **others = NULL;
    struct vol_req q;
    int r = other_dests(c, &others, e);
    json_t *binds = json_object_get(c->host_config, "Binds");
    for (size_t i = 0; r == 0 && i < json_array_size(binds); i++)
        if (bind_req(json_string_value(json_array_get(binds, i)), &q, &keep) > 0)
            r = add_req(s, c, out, &q, e);
    json_t *mounts = json_object_get(c->host_config, "Mounts");
    for (size_t i = 0; r == 0 && i < json_array_size(mounts); i++)
        if (mount_req(json_array_get(mounts, i), &q) > 0)
            r = add_req(s, c, out, &q, e);
    for (size_t i = 0; r == 0 && i < json_array_size(out); i++) {
        const char *d = json_string_value(json_object_get(json_array_get(out, i), "Destination"));
        if (dd_strv_contains(others, d))
            r = dd_err_set(e, EINVAL, "Duplicate mount point: %s", d);
    }
    const char *dest;
    json_t *val;
    json_object_foreach(json_object_get(c->config, "Volumes"), dest, val)
    {
        if (r < 0)
            break;
        bool covered = dd_strv_contains(others, dest);
        for (size_t i = 0; !covered && i < json_array_size(out); i++)
            covered = dd_streq(
                json_string_value(json_object_get(json_array_get(out, i), "Destination")), dest);
        if (covered)
            continue;
        if (dest[0] != '/')
            return dd_err_set(e, EINVAL, "invalid volume specification: '%s'", dest);
        q = (struct vol_req){.dest = dest, .rw = true, .mode = ""};
        r = add_req(s, c, out, &q, e);
    }
    return r;
}

int ctr_volumes_prepare(struct ctr_store *s, struct container *c, dd_err *e)
{
    json_t *out = json_array();
    int r = collect(s, c, out, e);
    json_decref(c->volumes);
    c->volumes = out;
    if (r < 0)
        ctr_volumes_discard(s, c);
    return r;
}

static void drop_anonymous(struct ctr_store *s, struct container *c, bool only_created)
{
    for (size_t i = 0; i < json_array_size(c->volumes); i++) {
        json_t *ent = json_array_get(c->volumes, i);
        const char *name = json_string_value(json_object_get(ent, "Name"));
        struct vol *v = vol_find(s->volumes, name);
        if (!v || (only_created ? !json_is_true(json_object_get(ent, "Created"))
                                : !json_is_true(json_object_get(ent, "Anonymous"))))
            continue;
        _cleanup_strv_free_ char **users = ctr_volume_users(s, name);
        dd_err e = {0};
        if (users && users[0])
            continue;
        if (vol_remove(s->volumes, v, &e) < 0)
            dd_warn("container %.12s: removing volume %s: %s", c->id, name, e.msg);
    }
}

void ctr_volumes_discard(struct ctr_store *s, struct container *c)
{
    drop_anonymous(s, c, true);
    json_decref(c->volumes);
    c->volumes = NULL;
}

void ctr_volumes_release(struct ctr_store *s, struct container *c)
{
    drop_anonymous(s, c, false);
}

char **ctr_volume_users(struct ctr_store *s, const char *name)
{
    char **ids = NULL;
    for (size_t i = 0; i < s->n; i++) {
        struct container *c = s->items[i];
        for (size_t j = 0; j < json_array_size(c->volumes); j++)
            if (dd_streq(json_string_value(json_object_get(json_array_get(c->volumes, j), "Name")),
                         name)) {
                ids = dd_strv_push(ids, c->id);
                break;
            }
    }
    return ids;
}

void ctr_volumes_json(const struct container *c, json_t *mounts)
{
    for (size_t i = 0; i < json_array_size(c->volumes); i++) {
        json_t *ent = json_array_get(c->volumes, i), *o = json_object();
        jx_set_str(o, "Type", "volume");
        static const char *const keys[] = {"Name", "Source", "Destination", "Driver", "Mode"};
        for (size_t k = 0; k < DD_ARRAY_SIZE(keys); k++)
            json_object_set(o, keys[k], json_object_get(ent, keys[k]));
        json_object_set(o, "RW", json_object_get(ent, "RW"));
        jx_set_str(o, "Propagation", "");
        json_array_append_new(mounts, o);
    }
}

/* ---- runtime ---- */

void ctr_volumes_events(const struct container *c, bool mount)
{
    for (size_t i = 0; i < json_array_size(c->volumes); i++) {
        json_t *ent = json_array_get(c->volumes, i), *a = json_object();
        jx_set_str(a, "container", c->id);
        jx_set_str(a, "driver", "local");
        if (mount) {
            json_object_set(a, "destination", json_object_get(ent, "Destination"));
            jx_set_str(a, "propagation", "");
            jx_set_str(a, "read/write",
                       json_is_true(json_object_get(ent, "RW")) ? "true" : "false");
        }
        events_emit("volume", mount ? "mount" : "unmount",
                    json_string_value(json_object_get(ent, "Name")), a);
    }
}

char **ctr_volumes_mounts(const struct container *c, size_t i, const char **ret_dest,
                          const char **ret_source)
{
    json_t *ent = json_array_get(c->volumes, i);
    if (!ent)
        return NULL;
    *ret_dest = json_string_value(json_object_get(ent, "Destination"));
    *ret_source = json_string_value(json_object_get(ent, "Source"));
    char **opts = dd_strv_push(NULL, "rbind");
    opts = dd_strv_push(opts, json_is_true(json_object_get(ent, "RW")) ? "rw" : "ro");
    return dd_strv_push(opts, "rprivate");
}
