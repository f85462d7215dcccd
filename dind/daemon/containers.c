/* containers: the container endpoints of the Engine API that answer at once or after a stop
 * (create, list, inspect, start, stop, restart, kill, remove, rename, wait, resize, top, prune,
 * pause/unpause, update, and the clear refusals for what is missing). The streams (attach, logs,
 * stats) live in attach.c, logs.c and stats.c, diff in changes.c, export in archive.c; the state
 * machine in lifecycle.c. Handlers parse
 * the query, call the model, and map errors through dindd_reply_err() exactly once.
 */
#include <signal.h>
#include <stdio.h>

#include "container-internal.h"
#include "health.h"
#include "ctr-json.h"
#include "volume.h"
#include "dind/daemon/daemon.h"
#include "dind/image.h"
#include "dind/json.h"
#include "dind/rt.h"
#include "events.h"
#include "filters.h"
#include "handlers.h"
#include "lifecycle.h"

static struct ctr_store *store_of(http_req *req)
{
    return dindd_from_req(req)->containers;
}

/* Resolves {id}; on failure answers the request and returns NULL. */
static struct container *req_container(http_req *req)
{
    struct container *c = NULL;
    dd_err e = {0};
    if (ctr_lookup(store_of(req), http_req_param(req, "id"), &c, &e) < 0) {
        dindd_reply_err(req, &e);
        return NULL;
    }
    return c;
}

static void h_create(http_req *req)
{
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    struct container *c = NULL;
    dd_err e = {0};
    if (ctr_create(store_of(req), http_req_query(req, "name"), body, len, &c, &e) < 0) {
        dindd_reply_err(req, &e);
        return;
    }
    json_t *o = json_pack("{s:s,s:[]}", "Id", c->id, "Warnings");
    http_reply_json(req, 201, o);
    json_decref(o);
}

static const char *const list_filters[] = {
    "id",      "name",   "label",  "status",  "exited",  "ancestor", "before",    "since",
    "network", "volume", "health", "is-task", "publish", "expose",   "isolation", NULL};

static void h_list(http_req *req)
{
    struct ctr_store *s = store_of(req);
    struct flt f;
    dd_err e = {0};
    int64_t limit = -1;
    const char *lim = http_req_query(req, "limit");
    if (lim && *lim && dd_parse_int64(lim, &limit) < 0) {
        dindd_reply_errf(req, EINVAL, "invalid limit: %s", lim);
        return;
    }
    if (flt_parse(http_req_query(req, "filters"), list_filters, &f, &e) < 0 ||
        flt_containers_check(s, &f, &e) < 0) {
        flt_release(&f);
        dindd_reply_err(req, &e);
        return;
    }
    bool all = dindd_query_bool(req, "all", false) || (limit > 0);
    bool size = dindd_query_bool(req, "size", false);
    struct container **v = ctr_list(s, NULL);
    json_t *out = json_array();
    int64_t now = dd_now_ns();
    for (size_t i = 0; v[i] && (limit <= 0 || (int64_t)json_array_size(out) < limit); i++) {
        bool status_filter = flt_get(&f, "status") || flt_get(&f, "exited");
        if (!all && !status_filter && !ctr_is_running(v[i]))
            continue;
        if (flt_container_match(s, &f, v[i]))
            json_array_append_new(out, ctr_summary_json(v[i], size, now));
    }
    free(v);
    flt_release(&f);
    http_reply_json(req, 200, out);
    json_decref(out);
}

static void h_inspect(http_req *req)
{
    struct container *c = req_container(req);
    if (!c)
        return;
    json_t *o = ctr_inspect_json(c, dindd_query_bool(req, "size", false));
    http_reply_json(req, 200, o);
    json_decref(o);
}

static void h_start(http_req *req)
{
    struct container *c = req_container(req);
    dd_err e = {0};
    if (!c)
        return;
    int r = ctr_start(store_of(req), c, &e);
    if (r < 0)
        dindd_reply_err(req, &e);
    else
        http_reply(req, r == 1 ? 304 : 204, NULL, NULL, 0);
}

static int query_timeout(http_req *req, int *ret)
{
    const char *t = http_req_query(req, "t");
    int64_t v;
    *ret = -1;
    if (!t || !*t)
        return 0;
    if (dd_parse_int64(t, &v) < 0)
        return dindd_reply_errf(req, EINVAL, "invalid value for t: %s", t);
    *ret = v < 0 ? -1 : (int)v;
    return 0;
}

static void stop_done(struct container *c, void *data)
{
    http_req *req = data;
    http_reply(req, 204, NULL, NULL, 0);
}

static void h_stop(http_req *req)
{
    int timeout;
    dd_err e = {0};
    struct container *c = req_container(req);
    if (!c || query_timeout(req, &timeout) < 0)
        return;
    int r = ctr_stop(store_of(req), c, timeout, stop_done, req, &e);
    if (r < 0)
        dindd_reply_err(req, &e);
    else if (r == 1)
        http_reply(req, 304, NULL, NULL, 0);
}

static void h_restart(http_req *req)
{
    int timeout;
    dd_err e = {0};
    struct container *c = req_container(req);
    if (!c || query_timeout(req, &timeout) < 0)
        return;
    if (ctr_restart(store_of(req), c, timeout, stop_done, req, &e) < 0)
        dindd_reply_err(req, &e);
}

static void h_kill(http_req *req)
{
    const char *sig = http_req_query(req, "signal");
    int signo = SIGKILL;
    dd_err e = {0};
    struct container *c = req_container(req);
    if (!c)
        return;
    if (sig && *sig && ctr_signal_parse(sig, &signo) < 0) {
        dindd_reply_errf(req, EINVAL, "Invalid signal: %s", sig);
        return;
    }
    if (ctr_kill(store_of(req), c, http_req_param(req, "id"), signo, &e) < 0)
        dindd_reply_err(req, &e);
    else
        http_reply(req, 204, NULL, NULL, 0);
}

static void h_remove(http_req *req)
{
    dd_err e = {0};
    struct container *c = req_container(req);
    if (!c)
        return;
    if (ctr_remove(store_of(req), c, dindd_query_bool(req, "force", false),
                   dindd_query_bool(req, "v", false), &e) < 0)
        dindd_reply_err(req, &e);
    else
        http_reply(req, 204, NULL, NULL, 0);
}

static void h_rename(http_req *req)
{
    dd_err e = {0};
    struct container *c = req_container(req);
    const char *name = http_req_query(req, "name");
    if (!c)
        return;
    _cleanup_free_ char *old = dd_strdup(c->name + 1);
    if (!name || !*name) {
        dindd_reply_errf(req, EINVAL, "Neither old nor new names may be empty");
        return;
    }
    if (ctr_store_rename(store_of(req), c, name, &e) < 0) {
        dindd_reply_err(req, &e);
        return;
    }
    events_emit_container(c, "rename", json_pack("{s:s}", "oldName", old));
    http_reply(req, 204, NULL, NULL, 0);
}

static void h_resize(http_req *req)
{
    dd_err e = {0};
    int64_t h = 0, w = 0;
    struct container *c = req_container(req);
    if (!c)
        return;
    const char *hs = http_req_query(req, "h"), *ws = http_req_query(req, "w");
    if ((hs && *hs && dd_parse_int64(hs, &h) < 0) || (ws && *ws && dd_parse_int64(ws, &w) < 0) ||
        h < 0 || w < 0 || h > 65535 || w > 65535) {
        dindd_reply_errf(req, EINVAL, "invalid resize parameters h=%s w=%s", hs ? hs : "",
                         ws ? ws : "");
        return;
    }
    if (ctr_check_running(c, &e) < 0 ||
        rt_resize(c->state_dir, (unsigned short)h, (unsigned short)w, &e) < 0) {
        if (e.code == ENOTTY)
            e.code = EINVAL;
        dindd_reply_err(req, &e);
        return;
    }
    events_emit_container(c, "resize",
                          json_pack("{s:s%,s:s%}", "height", hs ? hs : "0", strlen(hs ? hs : "0"),
                                    "width", ws ? ws : "0", strlen(ws ? ws : "0")));
    http_reply(req, 200, NULL, NULL, 0);
}

static void h_prune(http_req *req)
{
    struct ctr_store *s = store_of(req);
    struct flt f;
    dd_err e = {0};
    static const char *const allowed[] = {"label", "label!", "until", NULL};
    if (flt_parse(http_req_query(req, "filters"), allowed, &f, &e) < 0) {
        dindd_reply_err(req, &e);
        return;
    }
    struct container **v = ctr_list(s, NULL);
    json_t *deleted = json_array();
    for (size_t i = 0; v[i]; i++) {
        if (ctr_is_running(v[i]) || !flt_container_match(s, &f, v[i]))
            continue;
        char id[65];
        memcpy(id, v[i]->id, 65);
        if (ctr_remove(s, v[i], false, false, NULL) == 0)
            json_array_append_new(deleted, json_string(id));
    }
    free(v);
    flt_release(&f);
    json_t *o = json_pack("{s:o,s:i}", "ContainersDeleted", deleted, "SpaceReclaimed", 0);
    http_reply_json(req, 200, o);
    json_decref(o);
}

static void h_pause(http_req *req)
{
    dd_err e = {0};
    struct container *c = req_container(req);
    if (!c)
        return;
    bool pause = http_req_route_data(req) != NULL;
    if (ctr_pause(store_of(req), c, pause, &e) < 0)
        dindd_reply_err(req, &e);
    else
        http_reply(req, 204, NULL, NULL, 0);
}

static void h_update(http_req *req)
{
    dd_err e = {0};
    size_t len = 0;
    json_t *warnings = NULL;
    struct container *c = req_container(req);
    if (!c)
        return;
    const char *body = http_req_body(req, &len);
    if (ctr_update(store_of(req), c, body, len, &warnings, &e) < 0) {
        dindd_reply_err(req, &e);
        return;
    }
    json_t *o = json_pack("{s:o}", "Warnings", warnings);
    http_reply_json(req, 200, o);
    json_decref(o);
}

static void h_unsupported(http_req *req)
{
    const char *what = http_req_route_data(req);
    struct container *c = req_container(req);
    if (c)
        dindd_reply_errf(req, EOPNOTSUPP, "%s is not supported by this daemon yet", what);
}

static const http_route routes[] = {
    {"POST", "/containers/create", h_create},
    {"GET", "/containers/json", h_list},
    {"POST", "/containers/prune", h_prune},
    {"GET", "/containers/{id}/json", h_inspect},
    {"POST", "/containers/{id}/start", h_start},
    {"POST", "/containers/{id}/stop", h_stop},
    {"POST", "/containers/{id}/restart", h_restart},
    {"POST", "/containers/{id}/kill", h_kill},
    {"DELETE", "/containers/{id}", h_remove},
    {"POST", "/containers/{id}/rename", h_rename},
    {"POST", "/containers/{id}/resize", h_resize},
    {"POST", "/containers/{id}/wait", containers_h_wait},
    {"GET", "/containers/{id}/logs", containers_h_logs},
    {"POST", "/containers/{id}/attach", containers_h_attach},
    {"GET", "/containers/{id}/top", containers_h_top},
    {"GET", "/containers/{id}/stats", containers_h_stats},
    {"POST", "/containers/{id}/pause", h_pause, .data = (void *)"pause"},
    {"POST", "/containers/{id}/unpause", h_pause},
    {"POST", "/containers/{id}/update", h_update},
    {"GET", "/containers/{id}/changes", containers_h_changes},
    {"GET", "/containers/{id}/attach/ws", h_unsupported,
     .data = (void *)"attaching over a WebSocket"},
};

/* ---- the area ---- */

static bool owns_images;

static int area_init(dindd_ctx *d, dd_err *e)
{
    struct ctr_store *s = NULL;
    int r;
    if (!d->images) {
        _cleanup_free_ char *root = dd_path_join(d->cfg.data_root, "image");
        img_store *st = NULL;
        if ((r = img_store_open(root, 0, &st, e)) < 0)
            return dd_err_wrap(e, "opening the image store");
        d->images = st;
        owns_images = true;
    }
    struct vol_store *vs = NULL;
    if ((r = vol_store_open(d->cfg.data_root, &vs, e)) < 0)
        return r;
    d->volumes = vs;
    struct ctr_store_opts o = {
        .loop = d->loop,
        .images = d->images,
        .volumes = vs,
        .data_root = d->cfg.data_root,
        .exec_root = d->cfg.exec_root,
    };
    if ((r = ctr_store_open(&o, &s, e)) < 0)
        return dd_err_wrap(e, "opening the container store");
    d->containers = s;
    health_resume(s);
    return 0;
}

static void area_fini(dindd_ctx *d)
{
    health_shutdown();
    ctr_store_free(d->containers);
    d->containers = NULL;
    vol_store_free(d->volumes);
    d->volumes = NULL;
    if (owns_images) {
        img_store_close(d->images);
        d->images = NULL;
    }
    events_shutdown();
}

static void area_info(dindd_ctx *d, json_t *info)
{
    size_t n = 0, running = 0, paused = 0;
    struct container **v = ctr_list(d->containers, &n);
    for (size_t i = 0; v[i]; i++) {
        running += v[i]->st.status == CTR_RUNNING || v[i]->st.status == CTR_RESTARTING;
        paused += v[i]->st.status == CTR_PAUSED;
    }
    free(v);
    jx_set_int(info, "Containers", (int64_t)n);
    jx_set_int(info, "ContainersRunning", (int64_t)running);
    jx_set_int(info, "ContainersPaused", (int64_t)paused);
    jx_set_int(info, "ContainersStopped", (int64_t)(n - running - paused));
}

const dindd_area dindd_area_containers = {
    .name = "containers",
    .routes = routes,
    .nroutes = DD_ARRAY_SIZE(routes),
    .init = area_init,
    .fini = area_fini,
    .info = area_info,
};
