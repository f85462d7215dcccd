/* volumes: the /volumes endpoints of the Engine API (list with filters, create, inspect, remove,
 * prune) over the volume store (volume.c), asking the container store which volumes are in use.
 * dockerd's API 1.41 behaviour: create of an existing name returns it; remove of a volume any
 * container (running or not) mounts is 409 "remove <name>: volume is in use - [<ids>]"; prune
 * removes every unused volume, named ones included (the "all" default of API < 1.42).
 */
#include <stdio.h>

#include "container-internal.h"
#include "ctr-volumes.h"
#include "dind/daemon/daemon.h"
#include "dind/json.h"
#include "events.h"
#include "filters.h"
#include "volume.h"

static struct vol_store *vols_of(http_req *req)
{
    return dindd_from_req(req)->volumes;
}

static struct ctr_store *ctrs_of(http_req *req)
{
    return dindd_from_req(req)->containers;
}

static bool in_use(struct ctr_store *cs, const char *name)
{
    _cleanup_strv_free_ char **users = ctr_volume_users(cs, name);
    return users && users[0];
}

static int check_dangling(const struct flt *f, dd_err *e)
{
    char *const *d = flt_get(f, "dangling");
    for (size_t i = 0; d && d[i]; i++)
        if (!dd_streq(d[i], "true") && !dd_streq(d[i], "false") && !dd_streq(d[i], "1") &&
            !dd_streq(d[i], "0"))
            return dd_err_set(e, EINVAL, "Invalid filter 'dangling=%s'", d[i]);
    return 0;
}

static bool any_regex(char *const *vals, const char *s)
{
    if (!vals || !vals[0])
        return true;
    for (size_t i = 0; vals[i]; i++)
        if (flt_regex_match(vals[i], s))
            return true;
    return false;
}

static bool vol_match(struct ctr_store *cs, const struct flt *f, const struct vol *v)
{
    char *const *d = flt_get(f, "dangling");
    for (size_t i = 0; d && d[i]; i++) {
        bool want = dd_streq(d[i], "true") || dd_streq(d[i], "1");
        if (in_use(cs, v->name) == want)
            return false;
    }
    char *const *labels = flt_get(f, "label");
    for (size_t i = 0; labels && labels[i]; i++)
        if (!flt_label_match(v->labels, labels[i]))
            return false;
    char *const *nl = flt_get(f, "label!");
    for (size_t i = 0; nl && nl[i]; i++)
        if (flt_label_match(v->labels, nl[i]))
            return false;
    return any_regex(flt_get(f, "name"), v->name) && any_regex(flt_get(f, "driver"), v->driver);
}

static void h_list(http_req *req)
{
    static const char *const allowed[] = {"dangling", "name", "label", "driver", NULL};
    struct flt f;
    dd_err e = {0};
    if (flt_parse(http_req_query(req, "filters"), allowed, &f, &e) < 0 ||
        check_dangling(&f, &e) < 0) {
        flt_release(&f);
        dindd_reply_err(req, &e);
        return;
    }
    struct vol **v = vol_list(vols_of(req), NULL);
    json_t *arr = json_array();
    for (size_t i = 0; v[i]; i++)
        if (vol_match(ctrs_of(req), &f, v[i]))
            json_array_append_new(arr, vol_json(vols_of(req), v[i]));
    free(v);
    flt_release(&f);
    json_t *o = json_object();
    jx_set_new(o, "Volumes", arr);
    jx_set_new(o, "Warnings", json_null());
    http_reply_json(req, 200, o);
    json_decref(o);
}

static void h_create(http_req *req)
{
    json_t *body = NULL;
    if (dindd_body_json(req, true, &body) < 0)
        return;
    const char *name = NULL, *driver = NULL;
    dd_err e = {0};
    struct vol *v = NULL;
    int r = 0;
    if (!json_is_object(body))
        r = dd_err_set(&e, EINVAL, "invalid JSON: the body must be an object");
    if (r == 0 && (jx_str(body, "Name", &name, &e) < 0 || jx_str(body, "Driver", &driver, &e) < 0))
        r = -EINVAL;
    if (r == 0)
        r = vol_create(vols_of(req), name, driver, json_object_get(body, "Labels"),
                       json_object_get(body, "DriverOpts"), false, &v, NULL, &e);
    json_decref(body);
    if (r < 0) {
        dindd_reply_err(req, &e);
        return;
    }
    json_t *o = vol_json(vols_of(req), v);
    http_reply_json(req, 201, o);
    json_decref(o);
}

static void h_inspect(http_req *req)
{
    dd_err e = {0};
    struct vol *v = NULL;
    if (vol_lookup(vols_of(req), http_req_param(req, "name"), &v, &e) < 0) {
        dindd_reply_err(req, &e);
        return;
    }
    json_t *o = vol_json(vols_of(req), v);
    http_reply_json(req, 200, o);
    json_decref(o);
}

static int remove_one(struct vol_store *vs, struct ctr_store *cs, struct vol *v, dd_err *e)
{
    _cleanup_strv_free_ char **users = ctr_volume_users(cs, v->name);
    if (users && users[0]) {
        dd_buf b = DD_BUF_INIT;
        for (size_t i = 0; users[i]; i++)
            dd_buf_addf(&b, "%s%s", i ? " " : "", users[i]);
        _cleanup_free_ char *list = dd_buf_detach(&b, NULL);
        return dd_err_set(e, EBUSY, "remove %s: volume is in use - [%s]", v->name, list);
    }
    return vol_remove(vs, v, e);
}

static void h_remove(http_req *req)
{
    dd_err e = {0};
    struct vol *v = NULL;
    const char *name = http_req_param(req, "name");
    bool force = dindd_query_bool(req, "force", false);
    int r = vol_lookup(vols_of(req), name, &v, &e);
    if (r == -ENOENT && force) {
        http_reply(req, 204, NULL, NULL, 0);
        return;
    }
    if (r == 0)
        r = remove_one(vols_of(req), ctrs_of(req), v, &e);
    if (r < 0)
        dindd_reply_err(req, &e);
    else
        http_reply(req, 204, NULL, NULL, 0);
}

static void h_prune(http_req *req)
{
    static const char *const allowed[] = {"label", "label!", "all", NULL};
    struct flt f;
    dd_err e = {0};
    if (flt_parse(http_req_query(req, "filters"), allowed, &f, &e) < 0) {
        dindd_reply_err(req, &e);
        return;
    }
    struct vol **v = vol_list(vols_of(req), NULL);
    json_t *deleted = json_array();
    int64_t reclaimed = 0;
    for (size_t i = 0; v[i]; i++) {
        if (!vol_match(ctrs_of(req), &f, v[i]) || in_use(ctrs_of(req), v[i]->name))
            continue;
        _cleanup_free_ char *name = dd_strdup(v[i]->name);
        int64_t size = vol_size(vols_of(req), v[i]);
        dd_err err = {0};
        if (vol_remove(vols_of(req), v[i], &err) < 0) {
            dd_warn("volume prune: %s: %s", name, err.msg);
            continue;
        }
        reclaimed += size;
        json_array_append_new(deleted, json_string(name));
    }
    free(v);
    flt_release(&f);
    json_t *attrs = json_object();
    jx_set_new(attrs, "reclaimed", json_sprintf("%lld", (long long)reclaimed));
    events_emit("volume", "prune", "", attrs);
    json_t *o = json_object();
    jx_set_new(o, "VolumesDeleted", json_array_size(deleted) ? deleted : json_null());
    if (!json_array_size(deleted))
        json_decref(deleted);
    jx_set_int(o, "SpaceReclaimed", reclaimed);
    http_reply_json(req, 200, o);
    json_decref(o);
}

static const http_route routes[] = {
    {"GET", "/volumes", h_list},
    {"POST", "/volumes/create", h_create},
    {"POST", "/volumes/prune", h_prune},
    {"GET", "/volumes/{name}", h_inspect},
    {"DELETE", "/volumes/{name}", h_remove},
};

const dindd_area dindd_area_volumes = {
    .name = "volumes",
    .routes = routes,
    .nroutes = DD_ARRAY_SIZE(routes),
};
