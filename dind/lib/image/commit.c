/* `docker commit`: a container's writable layer (a tar the daemon made of its overlay upper dir)
 * becomes one more layer on top of its image's, with the container's run config. The parent's
 * layers are already in the store and are only referenced again; the new layer goes through the
 * same verified, staged ingest as `docker load`, and the image is recorded in one transaction. */
#include <stdio.h>

#include "dind/lib/image/image-internal.h"

static json_t *run_config_of(const img_commit_opts *o, dd_err *e)
{
    json_t *cfg = json_is_object(o->run_config) ? json_deep_copy(o->run_config) : json_object();
    /* per-container fields dockerd leaves out of an image's config */
    static const char *const drop[] = {"Hostname", "Domainname", "Image"};
    for (size_t i = 0; i < DD_ARRAY_SIZE(drop); i++)
        json_object_del(cfg, drop[i]);
    for (size_t i = 0; o->changes && o->changes[i]; i++) {
        if (!*o->changes[i])
            continue;
        if (img_config_apply_change(cfg, o->changes[i], e) < 0) {
            json_decref(cfg);
            return NULL;
        }
    }
    return cfg;
}

static void set_or_drop(json_t *o, const char *key, const char *v)
{
    if (v && *v)
        jx_set_str(o, key, v);
    else
        json_object_del(o, key);
}

static int build_config(const img_image *parent, const img_commit_opts *o, const char *diff_id,
                        char **ret, size_t *ret_len, dd_err *e)
{
    json_t *cfg = run_config_of(o, e);
    if (!cfg)
        return -EINVAL;
    char now[64];
    dd_format_rfc3339nano(dd_now_ns(), now, sizeof(now));
    json_t *root = json_deep_copy(parent->config);
    if (!json_is_object(root)) {
        json_decref(root);
        root = json_object();
    }
    jx_set_new(root, "config", cfg);
    jx_set_str(root, "created", now);
    set_or_drop(root, "container", o->container_id);
    set_or_drop(root, "author", o->author);
    set_or_drop(root, "comment", o->comment);
    json_object_del(root, "container_config");
    json_t *rootfs = json_object_get(root, "rootfs");
    if (!json_is_object(rootfs)) {
        rootfs = json_pack("{s:s}", "type", "layers");
        json_object_set_new(root, "rootfs", rootfs);
    }
    json_t *ids = json_array();
    for (size_t i = 0; i < parent->n_layers; i++)
        json_array_append_new(ids, json_string(parent->diff_ids[i]));
    json_array_append_new(ids, json_string(diff_id));
    json_object_set_new(rootfs, "diff_ids", ids);
    json_t *hist = json_object_get(root, "history");
    if (!json_is_array(hist)) {
        hist = json_array();
        json_object_set_new(root, "history", hist);
    }
    json_t *h = json_object();
    jx_set_str(h, "created", now);
    set_or_drop(h, "created_by", o->created_by);
    set_or_drop(h, "author", o->author);
    set_or_drop(h, "comment", o->comment);
    json_array_append_new(hist, h);
    *ret = jx_dump(root);
    *ret_len = strlen(*ret);
    json_decref(root);
    return 0;
}

int img_commit_container(img_store *st, const img_commit_opts *o, int layer_fd,
                         img_load_result *ret, dd_err *e)
{
    if (st->readonly)
        return dd_err_set(e, EROFS, "the image store is read-only");
    img_image *parent = NULL;
    int r = img_image_load(st, o->parent_id, &parent, e);
    if (r < 0)
        return dd_err_wrap(e, "committing");
    img_pending p = {0};
    _cleanup_free_ char *stage = NULL;
    p.n_layers = parent->n_layers + 1;
    p.layers = dd_calloc(p.n_layers, sizeof(*p.layers));
    for (size_t i = 0; i < parent->n_layers; i++) { /* already stored: referenced only */
        snprintf(p.layers[i].diff_id, sizeof(p.layers[i].diff_id), "%s", parent->diff_ids[i]);
        p.layers[i].size = parent->layer_sizes[i];
    }
    r = img_tags_for_ref(o->ref, "refusing to create a tag with a digest reference", &p.tags, e);
    if (r >= 0) /* check the changes before reading a byte */
        r = build_config(parent, o, "sha256:0", &p.config, &p.config_len, e);
    free(p.config);
    p.config = NULL;
    if (r >= 0)
        r = img_stage_dir(st, "commit", &stage, e);
    if (r >= 0)
        r = img_layer_ingest(st, stage, layer_fd, NULL, NULL, &p.layers[parent->n_layers], e);
    if (r >= 0)
        r = build_config(parent, o, p.layers[parent->n_layers].diff_id, &p.config, &p.config_len,
                         e);
    if (r >= 0) {
        img_sha256_str(p.config, p.config_len, p.id);
        r = img_commit(st, &p, 1, ret, e);
    }
    img_pending_release(&p);
    img_image_free(parent);
    if (stage)
        (void)dd_rm_rf(stage, NULL);
    return r < 0 ? dd_err_wrap(e, "committing") : 0;
}
