/* `docker load`: the archive is first extracted as plain files into a staging directory (so the
 * order of its entries does not matter), then read as a docker-archive (manifest.json) or an OCI
 * image layout (index.json). Every file inside the staging tree is opened with RESOLVE_IN_ROOT,
 * so symlinks in the archive (older `docker save` links duplicate layers) cannot leave it. Each
 * image's layers are verified and staged by ingest.c, and everything commits at once. */
#include <fcntl.h>
#include <stdio.h>

#include "dind/lib/image/image-internal.h"

#define MAX_JSON (16u << 20)

struct loader {
    img_store *st;
    char *stage; /* tmp/load-XXXXXX */
    char *tree;  /* stage/archive: the extracted archive */
    int treefd;
    img_pending *imgs;
    size_t n;
};

static int read_in_tree(struct loader *l, const char *path, char **ret, size_t *ret_len, dd_err *e)
{
    _cleanup_close_ int fd = img_open_in_root(l->treefd, path, e);
    if (fd < 0)
        return fd;
    _cleanup_free_ char *proc = dd_asprintf("/proc/self/fd/%d", fd);
    int r = dd_read_file(proc, MAX_JSON, ret, ret_len, e);
    return r < 0 ? dd_err_wrap(e, "reading %s", path) : 0;
}

static int read_json(struct loader *l, const char *path, json_t **ret, dd_err *e)
{
    _cleanup_free_ char *data = NULL;
    size_t len;
    int r = read_in_tree(l, path, &data, &len, e);
    if (r >= 0)
        r = jx_parse(data, len, ret, e);
    return r < 0 ? dd_err_wrap(e, "%s", path) : 0;
}

static img_pending *new_pending(struct loader *l)
{
    l->imgs = dd_realloc(l->imgs, (l->n + 1) * sizeof(*l->imgs));
    img_pending *p = &l->imgs[l->n++];
    *p = (img_pending){0};
    p->tags = dd_calloc(1, sizeof(char *));
    return p;
}

/* Config bytes → ID, checked against the layer count (and a digest the archive claims). */
static int take_config(struct loader *l, img_pending *p, const char *path, const char *want,
                       size_t n_layers, dd_err *e)
{
    int r = read_in_tree(l, path, &p->config, &p->config_len, e);
    if (r < 0)
        return r;
    img_sha256_str(p->config, p->config_len, p->id);
    if (want && !dd_streq(want, p->id))
        return dd_err_set(e, EINVAL, "config digest mismatch: expected %s, got %s", want, p->id);
    return img_config_check(p->config, p->config_len, n_layers, e);
}

static const char *config_diff_id(const img_pending *p, size_t i, json_t **holder)
{
    if (!*holder && jx_parse(p->config, p->config_len, holder, NULL) < 0)
        return NULL;
    json_t *ids = jx_get(jx_get(*holder, "rootfs"), "diff_ids");
    return json_string_value(json_array_get(ids, i));
}

static int take_layer(struct loader *l, img_pending *p, size_t i, const char *path,
                      const char *want_blob, dd_err *e)
{
    json_t *cfg = NULL;
    const char *diff_id = config_diff_id(p, i, &cfg);
    _cleanup_close_ int fd = img_open_in_root(l->treefd, path, e);
    int r = fd;
    if (fd >= 0)
        r = img_layer_ingest(l->st, l->stage, fd, want_blob, diff_id, &p->layers[i], e);
    json_decref(cfg);
    return r < 0 ? dd_err_wrap(e, "layer %s", path) : 0;
}

static int add_tag(img_pending *p, const char *s, dd_err *e)
{
    img_ref ref;
    int r = img_ref_parse(s, 0, &ref, e);
    if (r < 0)
        return dd_err_wrap(e, "tag \"%s\"", s);
    if (ref.digest) {
        img_ref_release(&ref);
        return dd_err_set(e, EINVAL, "invalid tag \"%s\": a digest reference", s);
    }
    p->tags = dd_strv_consume(p->tags, img_ref_string(&ref));
    img_ref_release(&ref);
    return 0;
}

/* ---- docker-archive ---- */

static int load_docker_entry(struct loader *l, json_t *m, dd_err *e)
{
    const char *config = NULL;
    json_t *layers = NULL, *tags = NULL;
    int r = jx_str(m, "Config", &config, e);
    if (r >= 0)
        r = jx_arr(m, "Layers", &layers, e);
    if (r >= 0)
        r = jx_arr(m, "RepoTags", &tags, e);
    if (r < 0 || !config)
        return r < 0 ? r : dd_err_set(e, EINVAL, "manifest.json: an entry has no Config");
    size_t n = json_array_size(layers);
    img_pending *p = new_pending(l);
    p->layers = dd_calloc(n ? n : 1, sizeof(*p->layers));
    p->n_layers = n;
    r = take_config(l, p, config, NULL, n, e);
    for (size_t i = 0; r >= 0 && i < n; i++) {
        const char *lp = json_string_value(json_array_get(layers, i));
        r = lp ? take_layer(l, p, i, lp, NULL, e)
               : dd_err_set(e, EINVAL, "manifest.json: Layers must be strings");
    }
    for (size_t i = 0; r >= 0 && i < json_array_size(tags); i++) {
        const char *t = json_string_value(json_array_get(tags, i));
        r = t ? add_tag(p, t, e) : dd_err_set(e, EINVAL, "manifest.json: RepoTags must be strings");
    }
    return r;
}

static int load_docker_archive(struct loader *l, dd_err *e)
{
    json_t *manifest = NULL;
    int r = read_json(l, "manifest.json", &manifest, e);
    if (r < 0)
        return r;
    if (!json_is_array(manifest)) {
        json_decref(manifest);
        return dd_err_set(e, EINVAL, "manifest.json: expected an array");
    }
    for (size_t i = 0; r >= 0 && i < json_array_size(manifest); i++)
        r = load_docker_entry(l, json_array_get(manifest, i), e);
    json_decref(manifest);
    return r;
}

/* ---- OCI image layout ---- */

static char *blob_path(const char *digest)
{
    if (!img_digest_valid(digest))
        return NULL;
    return dd_asprintf("blobs/sha256/%s", digest + 7);
}

static int read_blob_json(struct loader *l, const char *digest, json_t **ret, dd_err *e)
{
    _cleanup_free_ char *path = blob_path(digest);
    if (!path)
        return dd_err_set(e, EINVAL, "unsupported digest \"%s\"", digest ? digest : "");
    _cleanup_free_ char *data = NULL;
    size_t len;
    int r = read_in_tree(l, path, &data, &len, e);
    if (r < 0)
        return r;
    char got[72];
    img_sha256_str(data, len, got);
    if (!dd_streq(got, digest))
        return dd_err_set(e, EINVAL, "blob digest mismatch: expected %s, got %s", digest, got);
    return jx_parse(data, len, ret, e);
}

static bool is_index_type(const char *mt)
{
    return dd_streq(mt, "application/vnd.oci.image.index.v1+json") ||
           dd_streq(mt, "application/vnd.docker.distribution.manifest.list.v2+json");
}

/* From an index, the linux/amd64 manifest (or the only one). */
static json_t *pick_platform(json_t *index)
{
    json_t *ms = jx_get(index, "manifests");
    for (size_t i = 0; i < json_array_size(ms); i++) {
        json_t *d = json_array_get(ms, i);
        json_t *pf = jx_get(d, "platform");
        if (dd_streq(json_string_value(jx_get(pf, "os")), "linux") &&
            dd_streq(json_string_value(jx_get(pf, "architecture")), "amd64"))
            return d;
    }
    return json_array_size(ms) == 1 ? json_array_get(ms, 0) : NULL;
}

static int oci_manifest(struct loader *l, json_t *desc, json_t **ret, dd_err *e)
{
    json_t *held = NULL; /* the index that desc points into */
    int r = 0;
    for (int depth = 0; depth < 4 && r >= 0; depth++) {
        const char *digest = json_string_value(jx_get(desc, "digest"));
        const char *mt = json_string_value(jx_get(desc, "mediaType"));
        json_t *doc = NULL;
        r = read_blob_json(l, digest, &doc, e);
        if (r < 0)
            break;
        if (json_string_value(jx_get(doc, "mediaType")))
            mt = json_string_value(jx_get(doc, "mediaType"));
        if (!is_index_type(mt) && !jx_get(doc, "manifests")) {
            json_decref(held);
            *ret = doc;
            return 0;
        }
        json_decref(held);
        held = doc;
        desc = pick_platform(doc);
        if (!desc)
            r = dd_err_set(e, ENOENT, "no linux/amd64 manifest in the image index");
    }
    json_decref(held);
    return r < 0 ? r : dd_err_set(e, EINVAL, "image index nested too deeply");
}

static const char *oci_name(json_t *desc)
{
    json_t *ann = jx_get(desc, "annotations");
    const char *n = json_string_value(jx_get(ann, "io.containerd.image.name"));
    if (n)
        return n;
    n = json_string_value(jx_get(ann, "org.opencontainers.image.ref.name"));
    /* A bare tag ("latest") names nothing on its own. */
    return n && strpbrk(n, "/:") ? n : NULL;
}

static int load_oci_image(struct loader *l, json_t *desc, json_t *manifest, dd_err *e)
{
    json_t *layers = jx_get(manifest, "layers");
    const char *cdigest = json_string_value(jx_get(jx_get(manifest, "config"), "digest"));
    _cleanup_free_ char *cpath = blob_path(cdigest);
    if (!cpath)
        return dd_err_set(e, EINVAL, "manifest has no valid config digest");
    size_t n = json_array_size(layers);
    img_pending *p = new_pending(l);
    p->layers = dd_calloc(n ? n : 1, sizeof(*p->layers));
    p->n_layers = n;
    int r = take_config(l, p, cpath, cdigest, n, e);
    for (size_t i = 0; r >= 0 && i < n; i++) {
        const char *ld = json_string_value(jx_get(json_array_get(layers, i), "digest"));
        _cleanup_free_ char *lpath = blob_path(ld);
        r = lpath ? take_layer(l, p, i, lpath, ld, e)
                  : dd_err_set(e, EINVAL, "layer %zu has no valid digest", i);
    }
    const char *name = oci_name(desc);
    return r >= 0 && name ? add_tag(p, name, e) : r;
}

static int load_oci(struct loader *l, dd_err *e)
{
    json_t *index = NULL;
    int r = read_json(l, "index.json", &index, e);
    if (r < 0)
        return r;
    json_t *ms = jx_get(index, "manifests");
    for (size_t i = 0; r >= 0 && i < json_array_size(ms); i++) {
        json_t *desc = json_array_get(ms, i);
        json_t *manifest = NULL;
        r = oci_manifest(l, desc, &manifest, e);
        if (r >= 0)
            r = load_oci_image(l, desc, manifest, e);
        json_decref(manifest);
    }
    json_decref(index);
    return r;
}

/* ---- driver ---- */

static int extract(struct loader *l, int fd, dd_err *e)
{
    l->tree = dd_asprintf("%s/archive", l->stage);
    if (mkdir(l->tree, 0700) < 0)
        return dd_err_sys(e, "creating %s", l->tree);
    _cleanup_archive_ struct archive *a = img_tar_reader(fd);
    if (!a)
        return dd_err_set(e, EINVAL, "the input is not a tar archive");
    int r = img_unpack(a, l->tree, IMG_UNPACK_PLAIN, NULL, e);
    if (r < 0)
        return r;
    l->treefd = open(l->tree, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return l->treefd < 0 ? dd_err_sys(e, "opening %s", l->tree) : 0;
}

static bool tree_has(struct loader *l, const char *name)
{
    int fd = img_open_in_root(l->treefd, name, NULL);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

static int load_tree(struct loader *l, dd_err *e)
{
    if (tree_has(l, "manifest.json"))
        return load_docker_archive(l, e);
    if (tree_has(l, "index.json"))
        return load_oci(l, e);
    return dd_err_set(e, EINVAL,
                      "neither manifest.json nor index.json found: not a docker-archive "
                      "or OCI image layout");
}

int img_load(img_store *st, int fd, img_load_result *ret, dd_err *e)
{
    if (st->readonly)
        return dd_err_set(e, EROFS, "the image store is read-only");
    struct loader l = {.st = st, .treefd = -1};
    int r = img_stage_dir(st, "load", &l.stage, e);
    if (r >= 0)
        r = extract(&l, fd, e);
    if (r >= 0)
        r = load_tree(&l, e);
    if (r >= 0 && l.n == 0)
        r = dd_err_set(e, EINVAL, "the archive holds no image");
    if (r >= 0)
        r = img_commit(st, l.imgs, l.n, ret, e);
    for (size_t i = 0; i < l.n; i++)
        img_pending_release(&l.imgs[i]);
    free(l.imgs);
    if (l.treefd >= 0)
        close(l.treefd);
    if (l.stage)
        (void)dd_rm_rf(l.stage, NULL);
    free(l.stage);
    free(l.tree);
    return r < 0 ? dd_err_wrap(e, "loading the image archive") : 0;
}
