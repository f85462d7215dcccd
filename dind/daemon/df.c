/* df: GET /system/df (`docker system df`), API 1.41's shape: LayersSize (every unique unpacked
 * layer once), Images (list summaries with Containers = how many containers use the image and
 * SharedSize = the size of its layers other images use too), Containers (list summaries with
 * SizeRw and SizeRootFs), Volumes (with UsageData {Size, RefCount}) and an empty BuildCache
 * (dindd does not build images). Sizes are computed on request, like dockerd does.
 */
#include <stdio.h>

#include "container-internal.h"
#include "ctr-json.h"
#include "ctr-volumes.h"
#include "dind/daemon/daemon.h"
#include "dind/daemon/images.h"
#include "dind/json.h"
#include "volume.h"

/* How many images use each layer directory. */
static json_t *layer_refs(img_image **imgs, int64_t *ret_total)
{
    json_t *refs = json_object();
    *ret_total = 0;
    for (size_t i = 0; imgs[i]; i++) {
        img_image *m = imgs[i];
        for (size_t l = 0; l < m->n_layers; l++) {
            const char *dir = m->layer_dirs[m->n_layers - 1 - l];
            json_int_t n = json_integer_value(json_object_get(refs, dir));
            if (!n)
                *ret_total += m->layer_sizes[l];
            json_object_set_new(refs, dir, json_integer(n + 1));
        }
    }
    return refs;
}

static json_t *images_json(dindd_ctx *d, img_image **imgs, const json_t *refs)
{
    json_t *arr = json_array();
    size_t nc = 0;
    struct container **cs = ctr_list(d->containers, &nc);
    for (size_t i = 0; imgs[i]; i++) {
        img_image *m = imgs[i];
        json_t *o = dindd_image_summary(m);
        int64_t shared = 0, users = 0;
        for (size_t l = 0; l < m->n_layers; l++)
            if (json_integer_value(json_object_get(refs, m->layer_dirs[m->n_layers - 1 - l])) > 1)
                shared += m->layer_sizes[l];
        for (size_t c = 0; c < nc; c++)
            users += dd_streq(cs[c]->image_id, m->id);
        jx_set_int(o, "Containers", users);
        jx_set_int(o, "SharedSize", shared);
        json_array_append_new(arr, o);
    }
    free(cs);
    return arr;
}

static json_t *containers_json(dindd_ctx *d)
{
    json_t *arr = json_array();
    size_t n = 0;
    struct container **cs = ctr_list(d->containers, &n);
    int64_t now = dd_now_ns();
    for (size_t i = 0; i < n; i++) {
        json_t *o = ctr_summary_json(cs[i], true, now);
        img_image *img = NULL;
        int64_t base = 0;
        if (img_lookup(d->images, cs[i]->image_id, &img, NULL) == 0)
            base = img->size;
        img_image_free(img);
        jx_set_int(o, "SizeRootFs", json_integer_value(json_object_get(o, "SizeRw")) + base);
        json_array_append_new(arr, o);
    }
    free(cs);
    return arr;
}

static json_t *volumes_json(dindd_ctx *d)
{
    json_t *arr = json_array();
    struct vol **v = vol_list(d->volumes, NULL);
    for (size_t i = 0; v[i]; i++) {
        json_t *o = vol_json(d->volumes, v[i]);
        char **users = ctr_volume_users(d->containers, v[i]->name);
        json_t *u = json_object();
        jx_set_int(u, "Size", vol_size(d->volumes, v[i]));
        jx_set_int(u, "RefCount", (int64_t)dd_strv_len(users));
        dd_strv_free(users);
        jx_set_new(o, "UsageData", u);
        json_array_append_new(arr, o);
    }
    free(v);
    return arr;
}

static void h_df(http_req *req)
{
    dindd_ctx *d = dindd_from_req(req);
    dd_err e = {0};
    img_image **imgs = NULL;
    if (img_list(d->images, &imgs, &e) < 0) {
        dindd_reply_err(req, &e);
        return;
    }
    /* list entries may omit the layers: take each image whole */
    for (size_t i = 0; imgs[i]; i++) {
        img_image *full = NULL;
        if (imgs[i]->n_layers == 0 && img_lookup(d->images, imgs[i]->id, &full, NULL) == 0) {
            img_image_free(imgs[i]);
            imgs[i] = full;
        }
    }
    int64_t layers = 0;
    json_t *refs = layer_refs(imgs, &layers);
    json_t *o = json_object();
    jx_set_int(o, "LayersSize", layers);
    jx_set_new(o, "Images", images_json(d, imgs, refs));
    jx_set_new(o, "Containers", containers_json(d));
    jx_set_new(o, "Volumes", volumes_json(d));
    jx_set_new(o, "BuildCache", json_array());
    jx_set_int(o, "BuilderSize", 0);
    json_decref(refs);
    img_image_list_free(imgs);
    http_reply_json(req, 200, o);
    json_decref(o);
}

static const http_route df_routes[] = {
    {"GET", "/system/df", h_df},
};

const dindd_area dindd_area_df = {
    .name = "df",
    .routes = df_routes,
    .nroutes = DD_ARRAY_SIZE(df_routes),
};
