/* The images area of the Engine API: list, inspect, history, tag, remove and prune, on top of
 * libdind's image store (which this area opens at <data-root>/image and shares through
 * dindd_ctx.images). Archive traffic (load, import, save, and the pull/push/search answers) is in
 * images-io.c. This file only translates between HTTP/JSON and img_* calls: Docker's wire shapes
 * (ImageSummary, ImageInspect, the delete response list) are built here and nowhere else. */
#include <fnmatch.h>
#include <stdio.h>

#include "dind/daemon/container.h"
#include "dind/daemon/daemon.h"
#include "dind/daemon/events.h"
#include "dind/daemon/filters.h"
#include "dind/daemon/images.h"
#include "dind/image.h"
#include "dind/json.h"

/* The event bus and the container store may not be linked into every build of the daemon (unit
 * tests, an area landing before the other): call them only when present. */
#pragma weak events_emit
#pragma weak events_subscribe
#pragma weak ctr_image_in_use

void dindd_image_event(const char *action, const char *id, const char *name)
{
    if (events_emit)
        events_emit("image", action, id, json_pack("{s:s}", "name", name ? name : id));
}

bool dindd_image_in_use(void *ud, const char *image_id, char ret_cid[65], bool *ret_running)
{
    dindd_ctx *d = ud;
    if (!ctr_image_in_use || !d->containers)
        return false;
    return ctr_image_in_use(d->containers, image_id, ret_cid, ret_running);
}

/* A layer is busy while a mount (a container's overlay rootfs) lists its directory. */
static bool layer_busy(void *ud, const char *dir)
{
    _cleanup_free_ char *info = NULL;
    if (dd_read_file("/proc/self/mountinfo", 0, &info, NULL, NULL) < 0)
        return true;
    size_t n = strlen(dir);
    for (const char *p = info; (p = strstr(p, dir)); p += n) {
        char after = p[n];
        if (after == ':' || after == ',' || after == ' ' || after == '\n' || after == '\0')
            return true;
    }
    return false;
}

static int64_t collect_layers(dindd_ctx *d)
{
    int64_t reclaimed = 0;
    if (img_gc(d->images, layer_busy, NULL, &reclaimed, NULL) < 0)
        return 0;
    return reclaimed;
}

/* Layers kept for a container after a forced rmi go once the container is destroyed. */
static void on_event(const json_t *ev, void *data)
{
    if (dd_streq(json_string_value(json_object_get(ev, "Type")), "container") &&
        dd_streq(json_string_value(json_object_get(ev, "Action")), "destroy"))
        (void)collect_layers(data);
}

static struct events_sub *gc_sub;

img_store *dindd_images(http_req *req)
{
    return dindd_from_req(req)->images;
}

/* ---- JSON shapes ---- */

static json_t *strv_or(char **v, const char *none)
{
    if (v && v[0])
        return jx_strv_new(v);
    return none ? json_pack("[s]", none) : json_array();
}

static int64_t created_unix(const img_image *img)
{
    return img->created_ns / 1000000000;
}

static json_t *labels_of(const img_image *img)
{
    json_t *rc = img_image_runconfig(img);
    json_t *l = rc ? jx_get(rc, "Labels") : NULL;
    return l ? json_incref(l) : json_null();
}

json_t *dindd_image_summary(const img_image *img)
{
    json_t *o = json_object();
    jx_set_int(o, "Containers", -1);
    jx_set_int(o, "Created", created_unix(img));
    jx_set_str(o, "Id", img->id);
    jx_set_new(o, "Labels", labels_of(img));
    jx_set_str(o, "ParentId", "");
    jx_set_new(o, "RepoDigests",
               strv_or(img->repo_digests, img->repo_tags[0] ? NULL : "<none>@<none>"));
    jx_set_new(o, "RepoTags", strv_or(img->repo_tags, "<none>:<none>"));
    jx_set_int(o, "SharedSize", -1);
    jx_set_int(o, "Size", img->size);
    jx_set_int(o, "VirtualSize", img->size);
    return o;
}

/* dockerd prints every field of a container config, zero values included. */
static json_t *full_config(json_t *src)
{
    json_t *c =
        json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:b, s:b, s:b, s:n, s:n, s:s, s:n, s:s,"
                  " s:n, s:n, s:n}",
                  "Hostname", "", "Domainname", "", "User", "", "AttachStdin", 0, "AttachStdout", 0,
                  "AttachStderr", 0, "Tty", 0, "OpenStdin", 0, "StdinOnce", 0, "Env", "Cmd",
                  "Image", "", "Volumes", "WorkingDir", "", "Entrypoint", "OnBuild", "Labels");
    const char *key;
    json_t *v;
    if (json_is_object(src))
        json_object_foreach(src, key, v) json_object_set(c, key, v);
    return c;
}

static const char *cfg_str(const img_image *img, const char *key, const char *def)
{
    const char *s = json_string_value(jx_get(img->config, key));
    return s ? s : def;
}

static json_t *graph_driver(const img_image *img)
{
    json_t *data = json_object();
    if (img->n_layers > 0)
        jx_set_str(data, "UpperDir", img->layer_dirs[0]);
    if (img->n_layers > 1) {
        dd_buf b = DD_BUF_INIT;
        for (size_t i = 1; i < img->n_layers; i++)
            dd_buf_addf(&b, "%s%s", i > 1 ? ":" : "", img->layer_dirs[i]);
        jx_set_str(data, "LowerDir", b.data);
        dd_buf_release(&b);
    }
    return json_pack("{s:o, s:s}", "Data", data, "Name", "overlay2");
}

json_t *dindd_image_inspect(const img_image *img)
{
    char loaded[64];
    dd_format_rfc3339nano(img->loaded_ns, loaded, sizeof(loaded));
    json_t *o = json_object();
    jx_set_str(o, "Id", img->id);
    jx_set_new(o, "RepoTags", jx_strv_new(img->repo_tags));
    jx_set_new(o, "RepoDigests", jx_strv_new(img->repo_digests));
    jx_set_str(o, "Parent", "");
    jx_set_str(o, "Comment", cfg_str(img, "comment", ""));
    jx_set_str(o, "Created", cfg_str(img, "created", "0001-01-01T00:00:00Z"));
    jx_set_str(o, "Container", cfg_str(img, "container", ""));
    jx_set_new(o, "ContainerConfig", full_config(jx_get(img->config, "container_config")));
    jx_set_str(o, "DockerVersion", cfg_str(img, "docker_version", ""));
    jx_set_str(o, "Author", cfg_str(img, "author", ""));
    jx_set_new(o, "Config", full_config(img_image_runconfig(img)));
    jx_set_str(o, "Architecture", cfg_str(img, "architecture", "amd64"));
    if (jx_get(img->config, "variant"))
        jx_set_str(o, "Variant", cfg_str(img, "variant", ""));
    jx_set_str(o, "Os", cfg_str(img, "os", "linux"));
    jx_set_int(o, "Size", img->size);
    jx_set_int(o, "VirtualSize", img->size);
    jx_set_new(o, "GraphDriver", graph_driver(img));
    jx_set_new(o, "RootFS",
               json_pack("{s:s, s:o}", "Type", "layers", "Layers", jx_strv_new(img->diff_ids)));
    jx_set_new(o, "Metadata", json_pack("{s:s}", "LastTagTime", loaded));
    return o;
}

/* ---- filters (parsed by filters.c, both wire encodings) ---- */

static const char *const list_filter_keys[] = {"reference", "label", "dangling",
                                               "before",    "since", NULL};

static char *const no_values[] = {NULL};

static char *const *values(const struct flt *f, const char *key)
{
    char *const *v = flt_get(f, key);
    return v ? v : no_values;
}

static bool match_reference(const img_image *img, char *const *patterns)
{
    for (size_t p = 0; patterns[p]; p++)
        for (size_t i = 0; img->repo_tags[i]; i++) {
            const char *t = img->repo_tags[i];
            _cleanup_free_ char *name = dd_strndup(t, strrchr(t, ':') - t);
            if (!fnmatch(patterns[p], t, FNM_PATHNAME) || !fnmatch(patterns[p], name, FNM_PATHNAME))
                return true;
        }
    return false;
}

static bool match_labels(const img_image *img, char *const *want)
{
    json_t *rc = img_image_runconfig(img);
    json_t *labels = rc ? jx_get(rc, "Labels") : NULL;
    for (size_t i = 0; want[i]; i++)
        if (!flt_label_match(labels, want[i]))
            return false;
    return true;
}

struct list_filter {
    char *const *reference, *const *label, *const *dangling;
    int64_t before, since; /* created_ns bounds; 0 = none */
};

static int time_bound(img_store *st, const struct flt *filters, const char *key, int64_t *ret,
                      dd_err *e)
{
    char *const *v = values(filters, key);
    *ret = 0;
    if (!v[0])
        return 0;
    img_image *img;
    int r = img_lookup(st, v[0], &img, e);
    if (r < 0)
        return r;
    *ret = img->created_ns ? img->created_ns : 1;
    img_image_free(img);
    return 0;
}

static bool keep(const img_image *img, const struct list_filter *f)
{
    bool dangling = !img->repo_tags[0];
    if (f->dangling[0] && dd_parse_bool(f->dangling[0]) != dangling)
        return false;
    if (f->reference[0] && !match_reference(img, f->reference))
        return false;
    if (f->label[0] && !match_labels(img, f->label))
        return false;
    if (f->before && img->created_ns >= f->before)
        return false;
    return !(f->since && img->created_ns <= f->since);
}

static void h_list(http_req *req)
{
    img_store *st = dindd_images(req);
    dd_err e = {0};
    struct flt filters = {0};
    img_image **list = NULL;
    int r = flt_parse(http_req_query(req, "filters"), list_filter_keys, &filters, &e);
    struct list_filter f = {values(&filters, "reference"), values(&filters, "label"),
                            values(&filters, "dangling"), 0, 0};
    if (r >= 0)
        r = time_bound(st, &filters, "before", &f.before, &e);
    if (r >= 0)
        r = time_bound(st, &filters, "since", &f.since, &e);
    if (r >= 0)
        r = img_list(st, &list, &e);
    if (r < 0) {
        dindd_reply_err(req, &e);
    } else {
        json_t *out = json_array();
        for (size_t i = 0; list[i]; i++)
            if (keep(list[i], &f))
                json_array_append_new(out, dindd_image_summary(list[i]));
        http_reply_json(req, 200, out);
        json_decref(out);
    }
    img_image_list_free(list);
    flt_release(&filters);
}

static void h_inspect(http_req *req)
{
    img_image *img;
    dd_err e = {0};
    if (img_lookup(dindd_images(req), http_req_param(req, "name"), &img, &e) < 0) {
        dindd_reply_err(req, &e);
        return;
    }
    json_t *o = dindd_image_inspect(img);
    http_reply_json(req, 200, o);
    json_decref(o);
    img_image_free(img);
}

/* Newest first; entries without a layer have Size 0; only the newest carries the ID and tags. */
static json_t *history_json(const img_image *img)
{
    json_t *out = json_array(), *hist = jx_get(img->config, "history");
    size_t layer = img->n_layers, n = json_array_size(hist);
    for (size_t i = n; i-- > 0;) {
        json_t *h = json_array_get(hist, i);
        int64_t size = 0, ns = 0;
        if (!json_is_true(jx_get(h, "empty_layer")) && layer > 0)
            size = img->layer_sizes[--layer];
        const char *created = json_string_value(jx_get(h, "created"));
        if (created)
            (void)dd_parse_rfc3339(created, &ns);
        json_t *o = json_object();
        jx_set_str(o, "Id", i == n - 1 ? img->id : "<missing>");
        jx_set_int(o, "Created", ns / 1000000000);
        jx_set_str(o, "CreatedBy", json_string_value(jx_get(h, "created_by")) ?: "");
        jx_set_new(o, "Tags",
                   i == n - 1 && img->repo_tags[0] ? jx_strv_new(img->repo_tags) : json_null());
        jx_set_int(o, "Size", size);
        jx_set_str(o, "Comment", json_string_value(jx_get(h, "comment")) ?: "");
        json_array_append_new(out, o);
    }
    if (n == 0)
        json_array_append_new(out, json_pack("{s:s, s:I, s:s, s:o, s:I, s:s}", "Id", img->id,
                                             "Created", (json_int_t)created_unix(img), "CreatedBy",
                                             "", "Tags", jx_strv_new(img->repo_tags), "Size",
                                             (json_int_t)img->size, "Comment", ""));
    return out;
}

static void h_history(http_req *req)
{
    img_image *img;
    dd_err e = {0};
    if (img_lookup(dindd_images(req), http_req_param(req, "name"), &img, &e) < 0) {
        dindd_reply_err(req, &e);
        return;
    }
    json_t *o = history_json(img);
    http_reply_json(req, 200, o);
    json_decref(o);
    img_image_free(img);
}

static void h_tag(http_req *req)
{
    const char *repo = http_req_query(req, "repo");
    dd_err e = {0};
    _cleanup_free_ char *full = NULL, *id = NULL;
    if (!repo || !*repo) {
        dindd_reply_errf(req, EINVAL, "repository name must have at least one component");
        return;
    }
    if (img_tag(dindd_images(req), http_req_param(req, "name"), repo, http_req_query(req, "tag"),
                &full, &id, &e) < 0) {
        dindd_reply_err(req, &e);
        return;
    }
    dindd_image_event("tag", id, full);
    http_reply(req, 201, NULL, NULL, 0);
}

/* Untag/delete events for a delete response list. */
static void emit_removal(const char *id, json_t *items)
{
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *u = json_string_value(json_object_get(it, "Untagged"));
        const char *d = json_string_value(json_object_get(it, "Deleted"));
        if (u)
            dindd_image_event("untag", id, id);
        if (d && dd_streq(d, id))
            dindd_image_event("delete", id, id);
    }
}

int dindd_image_remove(dindd_ctx *d, const char *name, bool force, json_t **ret_items, dd_err *e)
{
    img_image *img;
    int r = img_lookup(d->images, name, &img, e);
    if (r < 0)
        return r;
    char id[72];
    snprintf(id, sizeof(id), "%s", img->id);
    img_image_free(img);
    r = img_remove(d->images, name, force, false, dindd_image_in_use, d, ret_items, e);
    if (r >= 0)
        emit_removal(id, *ret_items);
    return r;
}

static void h_remove(http_req *req)
{
    json_t *items = NULL;
    dd_err e = {0};
    if (dindd_image_remove(dindd_from_req(req), http_req_param(req, "name"),
                           dindd_query_bool(req, "force", false), &items, &e) < 0) {
        dindd_reply_err(req, &e);
        return;
    }
    http_reply_json(req, 200, items);
    json_decref(items);
}

/* POST /images/prune: unused dangling images (dangling=false: every unused image). */
static void h_prune(http_req *req)
{
    static const char *const keys[] = {"dangling", "label", NULL};
    dindd_ctx *d = dindd_from_req(req);
    dd_err e = {0};
    struct flt filters = {0};
    img_image **list = NULL;
    int r = flt_parse(http_req_query(req, "filters"), keys, &filters, &e);
    if (r >= 0)
        r = img_list(d->images, &list, &e);
    if (r < 0) {
        flt_release(&filters);
        dindd_reply_err(req, &e);
        return;
    }
    char *const *dv = values(&filters, "dangling");
    bool only_dangling = !dv[0] || dd_parse_bool(dv[0]);
    json_t *deleted = json_array();
    int64_t reclaimed = 0;
    for (size_t i = 0; list[i]; i++) {
        char cid[65];
        bool running;
        if ((only_dangling && list[i]->repo_tags[0]) ||
            !match_labels(list[i], values(&filters, "label")) ||
            dindd_image_in_use(d, list[i]->id, cid, &running))
            continue;
        json_t *items = NULL;
        if (dindd_image_remove(d, list[i]->id, true, &items, NULL) < 0)
            continue;
        reclaimed += list[i]->size;
        json_array_extend(deleted, items);
        json_decref(items);
    }
    reclaimed += collect_layers(d);
    json_t *out =
        json_pack("{s:o, s:I}", "ImagesDeleted",
                  json_array_size(deleted) ? deleted : (json_decref(deleted), json_null()),
                  "SpaceReclaimed", (json_int_t)reclaimed);
    http_reply_json(req, 200, out);
    json_decref(out);
    flt_release(&filters);
    img_image_list_free(list);
}

/* ---- area ---- */

static int images_init(dindd_ctx *d, dd_err *e)
{
    _cleanup_free_ char *root = dd_path_join(d->cfg.data_root, "image");
    img_store *st;
    int r = img_store_open(root, 0, &st, e);
    if (r < 0)
        return r;
    d->images = st;
    dindd_images_registries_init(&d->cfg);
    if (events_subscribe)
        gc_sub = events_subscribe(on_event, d);
    return 0;
}

static void images_fini(dindd_ctx *d)
{
    /* No events_unsubscribe here: areas listed after this one stop first, and the bus's
     * events_shutdown() (containers area) has already released every subscription. */
    gc_sub = NULL;
    dindd_images_registries_fini();
    img_store_close(d->images);
    d->images = NULL;
}

static void images_info(dindd_ctx *d, json_t *info)
{
    img_image **list = NULL;
    size_t n = 0;
    if (img_list(d->images, &list, NULL) == 0)
        while (list[n])
            n++;
    img_image_list_free(list);
    jx_set_int(info, "Images", (int64_t)n);
}

static const http_route image_routes[] = {
    {"GET", "/images/json", h_list},
    {"GET", "/images/search", dindd_images_search},
    {"GET", "/images/get", dindd_images_save},
    {"POST", "/images/load", dindd_images_load, HTTP_ROUTE_SPOOL},
    {"POST", "/images/create", dindd_images_create, HTTP_ROUTE_SPOOL},
    {"POST", "/images/prune", h_prune},
    {"GET", "/images/{name*}/json", h_inspect},
    {"GET", "/images/{name*}/history", h_history},
    {"GET", "/images/{name*}/get", dindd_images_save},
    {"POST", "/images/{name*}/tag", h_tag},
    {"POST", "/images/{name*}/push", dindd_images_push},
    {"DELETE", "/images/{name*}", h_remove},
    {"POST", "/auth", dindd_auth},
};

const dindd_area dindd_area_images = {
    .name = "images",
    .routes = image_routes,
    .nroutes = DD_ARRAY_SIZE(image_routes),
    .init = images_init,
    .fini = images_fini,
    .info = images_info,
};
