/* commit: POST /commit (`docker commit`). The container's overlay upper dir becomes a layer tar
 * in the image format (an overlay whiteout, a 0:0 character device, becomes ".wh.<name>"; an
 * opaque directory gets ".wh..wh..opq"), written to a temporary file and handed to the image
 * store (img_commit_container) as one more layer on top of the container's image, with the
 * container's Config (overlaid with the request body's Config) and the `changes` instructions.
 * The container is paused meanwhile unless pause=0 (as dockerd does), and unpaused after.
 * The empty /etc/hostname, /etc/hosts and /etc/resolv.conf the runtime creates as mount points
 * are left out (dockerd keeps them in its init layer, which commit skips too). The work is done
 * on the event loop, like `docker load` of a small archive; a container's writable layer is
 * usually small.
 */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "container-internal.h"
#include "dind/daemon/daemon.h"
#include "dind/image.h"
#include "dind/json.h"
#include "events.h"
#include "lifecycle.h"

static bool mount_placeholder(const char *rel, struct archive_entry *ent)
{
    return archive_entry_filetype(ent) == AE_IFREG && archive_entry_size(ent) == 0 &&
           (dd_streq(rel, "etc/hostname") || dd_streq(rel, "etc/hosts") ||
            dd_streq(rel, "etc/resolv.conf"));
}

static bool is_opaque(const char *path)
{
    char v[4];
    ssize_t n = lgetxattr(path, "trusted.overlay.opaque", v, sizeof(v));
    if (n < 0)
        n = lgetxattr(path, "user.overlay.opaque", v, sizeof(v));
    return n == 1 && v[0] == 'y';
}

static int write_marker(struct archive *w, const char *path, time_t mtime)
{
    struct archive_entry *m = archive_entry_new();
    archive_entry_copy_pathname(m, path);
    archive_entry_set_filetype(m, AE_IFREG);
    archive_entry_set_perm(m, 0600);
    archive_entry_set_size(m, 0);
    archive_entry_set_mtime(m, mtime, 0);
    int r = archive_write_header(w, m);
    archive_entry_free(m);
    return r < ARCHIVE_WARN ? -1 : 0;
}

static int copy_body(struct archive *disk, struct archive *w)
{
    const void *buf;
    size_t len;
    la_int64_t off;
    int r;
    while ((r = archive_read_data_block(disk, &buf, &len, &off)) == ARCHIVE_OK)
        if (archive_write_data(w, buf, len) < 0)
            return -1;
    return r == ARCHIVE_EOF ? 0 : -1;
}

/* One upper-dir entry into the layer tar; rel is its path relative to the upper dir. */
static int layer_entry(struct archive *disk, struct archive *w, struct archive_entry *ent,
                       const char *full, const char *rel)
{
    if (archive_entry_filetype(ent) == AE_IFCHR && archive_entry_rdev(ent) == makedev(0, 0)) {
        const char *slash = strrchr(rel, '/');
        _cleanup_free_ char *wh =
            slash ? dd_asprintf("%.*s/.wh.%s", (int)(slash - rel), rel, slash + 1)
                  : dd_asprintf(".wh.%s", rel);
        return write_marker(w, wh, archive_entry_mtime(ent));
    }
    if (mount_placeholder(rel, ent))
        return 0;
    archive_entry_copy_pathname(ent, rel);
    int r = archive_write_header(w, ent);
    if (r < ARCHIVE_WARN)
        return -1;
    if (archive_entry_filetype(ent) == AE_IFREG && archive_entry_size(ent) > 0 &&
        copy_body(disk, w) < 0)
        return -1;
    if (archive_entry_filetype(ent) == AE_IFDIR && is_opaque(full)) {
        _cleanup_free_ char *opq = dd_asprintf("%s/.wh..wh..opq", rel);
        return write_marker(w, opq, archive_entry_mtime(ent));
    }
    return 0;
}

static int layer_tar(const char *upper, int fd, dd_err *e)
{
    struct archive *disk = archive_read_disk_new();
    struct archive *w = archive_write_new();
    size_t ul = strlen(upper);
    int rc = -1;
    archive_read_disk_set_symlink_physical(disk);
    archive_read_disk_set_behavior(disk, ARCHIVE_READDISK_NO_XATTR | ARCHIVE_READDISK_NO_ACL |
                                             ARCHIVE_READDISK_NO_FFLAGS);
    archive_write_set_format_pax_restricted(w);
    if (archive_write_open_fd(w, fd) != ARCHIVE_OK || archive_read_disk_open(disk, upper)) {
        dd_err_set(e, EIO, "reading %s: %s", upper, archive_error_string(disk));
        goto done;
    }
    for (;;) {
        struct archive_entry *ent = archive_entry_new();
        int r = archive_read_next_header2(disk, ent);
        if (r == ARCHIVE_EOF) {
            archive_entry_free(ent);
            rc = 0;
            break;
        }
        if (r < ARCHIVE_WARN) {
            archive_entry_free(ent);
            dd_err_set(e, EIO, "reading %s: %s", upper, archive_error_string(disk));
            break;
        }
        archive_read_disk_descend(disk);
        _cleanup_free_ char *full = dd_strdup(archive_entry_pathname(ent));
        const char *rel = full + (strncmp(full, upper, ul) == 0 ? ul : 0);
        while (*rel == '/')
            rel++;
        r = *rel ? layer_entry(disk, w, ent, full, rel) : 0;
        archive_entry_free(ent);
        if (r < 0) {
            dd_err_set(e, EIO, "writing the layer: %s", archive_error_string(w));
            break;
        }
    }
    if (archive_write_close(w) != ARCHIVE_OK && rc == 0)
        rc = dd_err_set(e, EIO, "writing the layer: %s", archive_error_string(w));
done:
    archive_read_free(disk);
    archive_write_free(w);
    return rc;
}

/* The run config: the container's, with the body's non-null fields on top. */
static json_t *run_config(const struct container *c, const json_t *body)
{
    json_t *cfg = json_deep_copy(c->config), *v;
    const char *k;
    if (json_is_object(body))
        json_object_foreach((json_t *)body, k, v) if (!json_is_null(v)) json_object_set(cfg, k, v);
    return cfg;
}

static char *repo_ref(http_req *req)
{
    const char *repo = http_req_query(req, "repo"), *tag = http_req_query(req, "tag");
    if (!repo || !*repo)
        return NULL;
    return tag && *tag ? dd_asprintf("%s:%s", repo, tag) : dd_strdup(repo);
}

static int make_layer(dindd_ctx *d, struct container *c, bool pause, int *ret_fd, dd_err *e)
{
    _cleanup_free_ char *tmp = dd_path_join(d->cfg.data_root, "tmp");
    if (dd_mkdir_p(tmp, 0700, e) < 0)
        return -EIO;
    int fd = open(tmp, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
        return dd_err_sys(e, "creating a temporary file in %s", tmp);
    bool paused = false;
    if (pause && c->st.status == CTR_RUNNING)
        paused = ctr_pause(d->containers, c, true, NULL) == 0;
    _cleanup_free_ char *upper = dd_path_join(c->dir, "upper");
    int r = layer_tar(upper, fd, e);
    if (paused)
        ctr_pause(d->containers, c, false, NULL);
    if (r < 0 || lseek(fd, 0, SEEK_SET) < 0) {
        close(fd);
        return r < 0 ? r : dd_err_sys(e, "rewinding the layer");
    }
    *ret_fd = fd;
    return 0;
}

static void emit_commit(struct container *c, const char *id, const char *ref, const char *comment)
{
    json_t *a = json_object();
    jx_set_str(a, "comment", comment ? comment : "");
    jx_set_str(a, "imageID", id);
    jx_set_str(a, "imageRef", ref ? ref : "");
    events_emit_container(c, "commit", a);
}

static void h_commit(http_req *req)
{
    dindd_ctx *d = dindd_from_req(req);
    dd_err e = {0};
    struct container *c = NULL;
    json_t *body = NULL;
    if (dindd_body_json(req, true, &body) < 0)
        return;
    const char *ref_q = http_req_query(req, "container");
    _cleanup_free_ char *ref = repo_ref(req);
    _cleanup_strv_free_ char **changes = http_req_query_all(req, "changes");
    int fd = -1, r = ctr_lookup(d->containers, ref_q ? ref_q : "", &c, &e);
    json_t *cfg = r == 0 ? run_config(c, body) : NULL;
    json_decref(body);
    if (r == 0)
        r = make_layer(d, c, dindd_query_bool(req, "pause", true), &fd, &e);
    img_load_result res = {0};
    if (r == 0) {
        img_commit_opts o = {.parent_id = c->image_id,
                             .run_config = cfg,
                             .changes = changes,
                             .ref = ref,
                             .author = http_req_query(req, "author"),
                             .comment = http_req_query(req, "comment"),
                             .container_id = c->id};
        r = img_commit_container(d->images, &o, fd, &res, &e);
        close(fd);
    }
    json_decref(cfg);
    if (r < 0) {
        dindd_reply_err(req, &e);
        return;
    }
    emit_commit(c, res.images[0].id, ref, http_req_query(req, "comment"));
    json_t *out = json_object();
    jx_set_str(out, "Id", res.images[0].id);
    http_reply_json(req, 201, out);
    json_decref(out);
    img_load_result_release(&res);
}

static const http_route commit_routes[] = {
    {"POST", "/commit", h_commit},
};

const dindd_area dindd_area_commit = {
    .name = "commit",
    .routes = commit_routes,
    .nroutes = DD_ARRAY_SIZE(commit_routes),
};
