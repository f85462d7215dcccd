/* Unit tests for the image store: load (docker-archive, OCI, compressed layers), lookup by name,
 * ID and prefix, and refusal of hostile archives without side effects. Needs root (chown, mknod).
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "dind/image.h"
#include "dind/lib/image/image-internal.h"
#include "tests/unit/image/tarbuild.h"
#include "tests/unit/unit.h"

static char *tmpdir(void)
{
    char *d = dd_strdup("/tmp/img-unit-XXXXXX");
    CHECK(mkdtemp(d));
    return d;
}

static char *slurp(const char *path, size_t *len)
{
    char *d = NULL;
    CHECK_EQ_INT(dd_read_file(path, 0, &d, len, NULL), 0);
    return d;
}

static const tb_entry layer_ents[] = {
    {"bin/", 'd', NULL, 0},
    {"bin/hello", 'f', "#!/bin/sh\necho hi\n", 0},
    {"bin/sh", 'l', "/bin/busybox", 0},
    {"bin/again", 'h', "bin/hello", 0},
    {"etc/.wh.gone", 'f', "", 0},
    {"var/.wh..wh..opq", 'f', "", 0},
    {NULL, 0, NULL, 0},
};

/* A docker-archive with one image and one layer (compressed with filter, or plain). */
static char *make_archive(const char *dir, const char *tag, const char *filter, char id[72])
{
    char *layer = dd_asprintf("%s/layer.tar", dir);
    tb_write(layer, layer_ents, NULL);
    size_t llen;
    char *ldata = slurp(layer, &llen);
    char diff[72];
    img_sha256_str(ldata, llen, diff);
    free(ldata);
    if (filter)
        tb_write(layer, layer_ents, filter);
    char *lz = slurp(layer, &llen);
    char *config = dd_asprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":"
                               "\"2026-01-02T03:04:05Z\",\"config\":{\"Cmd\":[\"sh\"],\"Env\":"
                               "[\"A=1\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
                               diff);
    img_sha256_str(config, strlen(config), id);
    char *manifest = dd_asprintf("[{\"Config\":\"cfg.json\",\"RepoTags\":[\"%s\"],\"Layers\":"
                                 "[\"abc/layer.tar\"]}]",
                                 tag);
    tb_entry outer[] = {
        {"abc/", 'd', NULL, 0},       {"abc/layer.tar", 'f', lz, llen},
        {"cfg.json", 'f', config, 0}, {"manifest.json", 'f', manifest, 0},
        {NULL, 0, NULL, 0},
    };
    char *path = dd_asprintf("%s/image.tar", dir);
    tb_write(path, outer, NULL);
    free(lz);
    free(config);
    free(manifest);
    free(layer);
    return path;
}

static img_store *open_store(const char *dir)
{
    img_store *st;
    dd_err e = {0};
    char *root = dd_asprintf("%s/store", dir);
    if (img_store_open(root, 0, &st, &e) < 0)
        unit_fail(__FILE__, __LINE__, "open: %s", e.msg);
    free(root);
    return st;
}

static int load_path(img_store *st, const char *path, img_load_result *res, dd_err *e)
{
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    int r = img_load(st, fd, res, e);
    close(fd);
    return r;
}

static void check_layer_content(const img_image *img)
{
    CHECK_EQ_INT(img->n_layers, 1);
    const char *d = img->layer_dirs[0];
    char *p = dd_asprintf("%s/bin/hello", d);
    struct stat st, st2;
    CHECK_EQ_INT(stat(p, &st), 0);
    CHECK_EQ_INT(st.st_size, 18);
    free(p);
    p = dd_asprintf("%s/bin/again", d);
    CHECK_EQ_INT(stat(p, &st2), 0);
    CHECK_EQ_INT(st.st_ino, st2.st_ino);
    free(p);
    p = dd_asprintf("%s/etc/gone", d);
    CHECK_EQ_INT(lstat(p, &st), 0);
    CHECK(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
    free(p);
    p = dd_asprintf("%s/var", d);
    char v[4] = "";
    CHECK_EQ_INT(getxattr(p, "trusted.overlay.opaque", v, sizeof(v)), 1);
    CHECK(v[0] == 'y');
    free(p);
}

static void check_loaded(img_store *st, const char *id)
{
    img_image *img = NULL;
    dd_err e = {0};
    const char *names[] = {"myrepo/bb:v1", "docker.io/myrepo/bb:v1", id, id + 7, "sha256:9", NULL};
    char prefix[16];
    snprintf(prefix, sizeof(prefix), "%.10s", id + 7);
    names[4] = prefix;
    for (size_t i = 0; names[i]; i++) {
        if (img_lookup(st, names[i], &img, &e) < 0)
            unit_fail(__FILE__, __LINE__, "lookup %s: %s", names[i], e.msg);
        CHECK_EQ_STR(img->id, id);
        CHECK_EQ_STR(img->repo_tags[0], "myrepo/bb:v1");
        CHECK(img->created_ns > 0);
        CHECK(img->size == 18 + 12); /* the file and the symlink target */
        json_t *rc = img_image_runconfig(img);
        CHECK(rc && json_is_array(jx_get(rc, "Cmd")));
        check_layer_content(img);
        img_image_free(img);
    }
}

TEST(load_docker_archive_and_lookup)
{
    char *dir = tmpdir();
    char id[72];
    char *path = make_archive(dir, "myrepo/bb:v1", NULL, id);
    img_store *st = open_store(dir);
    img_load_result res = {0};
    dd_err e = {0};
    if (load_path(st, path, &res, &e) < 0)
        unit_fail(__FILE__, __LINE__, "load: %s", e.msg);
    CHECK_EQ_INT(res.n, 1);
    CHECK_EQ_STR(res.images[0].id, id);
    CHECK_EQ_STR(res.images[0].tags[0], "myrepo/bb:v1");
    img_load_result_release(&res);
    check_loaded(st, id);
    img_image *img = NULL;
    CHECK_EQ_INT(img_lookup(st, "nosuch", &img, &e), -ENOENT);
    CHECK_EQ_STR(e.msg, "No such image: nosuch");
    CHECK_EQ_INT(img_lookup(st, "Bad", &img, &e), -EINVAL);
    /* State survives a reopen. */
    img_store_close(st);
    st = open_store(dir);
    check_loaded(st, id);
    img_store_close(st);
    dd_rm_rf(dir, NULL);
    free(path);
    free(dir);
}

TEST(load_compressed_layers)
{
    const char *filters[] = {"gzip", "zstd"};
    for (size_t i = 0; i < 2; i++) {
        char *dir = tmpdir();
        char id[72];
        char *path = make_archive(dir, "myrepo/bb:v1", filters[i], id);
        img_store *st = open_store(dir);
        img_load_result res = {0};
        dd_err e = {0};
        if (load_path(st, path, &res, &e) < 0)
            unit_fail(__FILE__, __LINE__, "load (%s): %s", filters[i], e.msg);
        img_load_result_release(&res);
        check_loaded(st, id);
        img_store_close(st);
        dd_rm_rf(dir, NULL);
        free(path);
        free(dir);
    }
}

static void expect_refused(const tb_entry *layer, const char *want_msg_part)
{
    char *dir = tmpdir();
    char *lpath = dd_asprintf("%s/l.tar", dir);
    tb_write(lpath, layer, NULL);
    size_t llen;
    char *ldata = slurp(lpath, &llen);
    char diff[72];
    img_sha256_str(ldata, llen, diff);
    char *config = dd_asprintf("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}", diff);
    tb_entry outer[] = {
        {"l.tar", 'f', ldata, llen},
        {"c.json", 'f', config, 0},
        {"manifest.json", 'f',
         "[{\"Config\":\"c.json\",\"RepoTags\":[\"evil:1\"],\"Layers\":[\"l.tar\"]}]", 0},
        {NULL, 0, NULL, 0}};
    char *path = dd_asprintf("%s/evil.tar", dir);
    tb_write(path, outer, NULL);
    img_store *st = open_store(dir);
    img_load_result res = {0};
    dd_err e = {0};
    CHECK(load_path(st, path, &res, &e) < 0);
    if (!strstr(e.msg, want_msg_part))
        unit_fail(__FILE__, __LINE__, "message \"%s\" lacks \"%s\"", e.msg, want_msg_part);
    img_image **list = NULL;
    CHECK_EQ_INT(img_list(st, &list, NULL), 0);
    CHECK(list[0] == NULL);
    img_image_list_free(list);
    /* Nothing staged or stored is left behind. */
    char *layers = dd_asprintf("%s/store/layers/sha256", dir);
    char *tmp = dd_asprintf("%s/store/tmp", dir);
    CHECK_EQ_INT(rmdir(layers), 0);
    CHECK_EQ_INT(rmdir(tmp), 0);
    free(layers);
    free(tmp);
    img_store_close(st);
    dd_rm_rf(dir, NULL);
    free(ldata);
    free(config);
    free(lpath);
    free(path);
    free(dir);
}

TEST(hostile_layers_are_refused)
{
    struct stat st;
    unlink("/tmp/img-unit-escape");
    const tb_entry dotdot[] = {{"../../../../tmp/img-unit-escape", 'f', "x", 0}, {NULL, 0, 0, 0}};
    expect_refused(dotdot, "path escapes the target");
    CHECK(lstat("/tmp/img-unit-escape", &st) < 0);
    const tb_entry symlink_escape[] = {
        {"link", 'l', "/tmp", 0}, {"link/img-unit-escape", 'f', "x", 0}, {NULL, 0, 0, 0}};
    expect_refused(symlink_escape, "refusing to write through symlink link");
    CHECK(lstat("/tmp/img-unit-escape", &st) < 0);
    const tb_entry rel_symlink[] = {{"a/", 'd', NULL, 0},
                                    {"a/up", 'l', "../../../../../tmp", 0},
                                    {"a/up/img-unit-escape", 'f', "x", 0},
                                    {NULL, 0, 0, 0}};
    expect_refused(rel_symlink, "refusing to write through symlink");
    CHECK(lstat("/tmp/img-unit-escape", &st) < 0);
    const tb_entry hardlink_out[] = {{"h", 'h', "../../etc/passwd", 0}, {NULL, 0, 0, 0}};
    expect_refused(hardlink_out, "points outside the layer");
}

TEST(bad_digest_is_refused)
{
    char *dir = tmpdir();
    const tb_entry layer[] = {{"f", 'f', "x", 0}, {NULL, 0, 0, 0}};
    char *lpath = dd_asprintf("%s/l.tar", dir);
    tb_write(lpath, layer, NULL);
    size_t llen;
    char *ldata = slurp(lpath, &llen);
    const char *config = "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:"
                         "0000000000000000000000000000000000000000000000000000000000000000\"]}}";
    tb_entry outer[] = {{"l.tar", 'f', ldata, llen},
                        {"c.json", 'f', config, 0},
                        {"manifest.json", 'f',
                         "[{\"Config\":\"c.json\",\"RepoTags\":[\"x:1\"],\"Layers\":[\"l.tar\"]}]",
                         0},
                        {NULL, 0, NULL, 0}};
    char *path = dd_asprintf("%s/bad.tar", dir);
    tb_write(path, outer, NULL);
    img_store *st = open_store(dir);
    img_load_result res = {0};
    dd_err e = {0};
    CHECK(load_path(st, path, &res, &e) < 0);
    CHECK(strstr(e.msg, "layer digest mismatch"));
    img_store_close(st);
    dd_rm_rf(dir, NULL);
    free(ldata);
    free(lpath);
    free(path);
    free(dir);
}

TEST(readonly_consumer_shares_the_store)
{
    char *dir = tmpdir();
    char id[72];
    char *path = make_archive(dir, "myrepo/bb:v1", NULL, id);
    img_store *st = open_store(dir);
    img_load_result res = {0};
    dd_err e = {0};
    CHECK_EQ_INT(load_path(st, path, &res, &e), 0);
    img_load_result_release(&res);
    img_store *ro;
    char *root = dd_asprintf("%s/store", dir);
    /* While the writer has it open (WAL files present), and after it closed. */
    for (int round = 0; round < 2; round++) {
        if (img_store_open(root, IMG_STORE_READONLY, &ro, &e) < 0)
            unit_fail(__FILE__, __LINE__, "readonly open: %s", e.msg);
        check_loaded(ro, id);
        CHECK_EQ_INT(load_path(ro, path, &res, &e), -EROFS);
        img_store_close(ro);
        if (round == 0)
            img_store_close(st);
    }
    dd_rm_rf(dir, NULL);
    free(root);
    free(path);
    free(dir);
}
