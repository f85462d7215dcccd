/* Unit tests for tag, remove (dockerd's rules and conflict texts) and save → load round trips. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "dind/image.h"
#include "dind/lib/image/image-internal.h"
#include "tests/unit/image/tarbuild.h"
#include "tests/unit/unit.h"

static const tb_entry ents[] = {
    {"etc/", 'd', NULL, 0},
    {"etc/hostname", 'f', "box\n", 0},
    {"bin/sh", 'l', "/bin/busybox", 0},
    {NULL, 0, NULL, 0},
};

struct env {
    char *dir;
    img_store *st;
    char id[72];
};

static void setup(struct env *v, const char *tag)
{
    v->dir = dd_strdup("/tmp/img-manage-XXXXXX");
    CHECK(mkdtemp(v->dir));
    char *layer = dd_asprintf("%s/l.tar", v->dir);
    tb_write(layer, ents, NULL);
    char *ldata = NULL;
    size_t llen;
    CHECK_EQ_INT(dd_read_file(layer, 0, &ldata, &llen, NULL), 0);
    char diff[72];
    img_sha256_str(ldata, llen, diff);
    char *config = dd_asprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":"
                               "[\"sh\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
                               diff);
    img_sha256_str(config, strlen(config), v->id);
    char *manifest = dd_asprintf(
        "[{\"Config\":\"c.json\",\"RepoTags\":[\"%s\"],\"Layers\":[\"l/layer.tar\"]}]", tag);
    tb_entry outer[] = {{"l/layer.tar", 'f', ldata, llen},
                        {"c.json", 'f', config, 0},
                        {"manifest.json", 'f', manifest, 0},
                        {NULL, 0, NULL, 0}};
    char *path = dd_asprintf("%s/i.tar", v->dir);
    tb_write(path, outer, NULL);
    char *root = dd_asprintf("%s/store", v->dir);
    dd_err e = {0};
    CHECK_EQ_INT(img_store_open(root, 0, &v->st, &e), 0);
    int fd = open(path, O_RDONLY);
    img_load_result res = {0};
    if (img_load(v->st, fd, &res, &e) < 0)
        unit_fail(__FILE__, __LINE__, "load: %s", e.msg);
    close(fd);
    img_load_result_release(&res);
    free(root);
    free(path);
    free(manifest);
    free(config);
    free(ldata);
    free(layer);
}

static void teardown(struct env *v)
{
    img_store_close(v->st);
    dd_rm_rf(v->dir, NULL);
    free(v->dir);
}

static char *items_str(json_t *items)
{
    char *s = jx_dump(items);
    json_decref(items);
    return s;
}

static bool stopped_user(void *ud, const char *id, char cid[65], bool *running)
{
    snprintf(cid, 65, "%s", "f4b6f096a8c7aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    *running = ud != NULL;
    return true;
}

static bool always_busy(void *ud, const char *dir)
{
    return true;
}

TEST(tag_and_untag)
{
    struct env v;
    setup(&v, "busybox:local");
    dd_err e = {0};
    char *full = NULL, *id = NULL;
    CHECK_EQ_INT(img_tag(v.st, "busybox:local", "docker.io/myrepo/bb", "v1", &full, &id, &e), 0);
    CHECK_EQ_STR(full, "myrepo/bb:v1");
    CHECK_EQ_STR(id, v.id);
    free(full);
    free(id);
    CHECK_EQ_INT(img_tag(v.st, "nosuch", "x", "1", NULL, NULL, &e), -ENOENT);
    CHECK_EQ_STR(e.msg, "No such image: nosuch");
    CHECK_EQ_INT(img_tag(v.st, "busybox:local", "x", "-bad", NULL, NULL, &e), -EINVAL);
    img_image *img;
    CHECK_EQ_INT(img_lookup(v.st, "myrepo/bb:v1", &img, &e), 0);
    CHECK_EQ_INT(dd_strv_len(img->repo_tags), 2);
    CHECK_EQ_STR(img->repo_tags[0], "busybox:local");
    CHECK_EQ_STR(img->repo_tags[1], "myrepo/bb:v1");
    char *layer_dir = dd_strdup(img->layer_dirs[0]);
    img_image_free(img);
    json_t *items = NULL;
    CHECK_EQ_INT(img_remove(v.st, "myrepo/bb:v1", false, false, NULL, NULL, &items, &e), 0);
    char *s = items_str(items);
    CHECK_EQ_STR(s, "[{\"Untagged\":\"myrepo/bb:v1\"}]");
    free(s);
    /* By ID with one tag left: untag and delete, layer included. */
    CHECK_EQ_INT(img_remove(v.st, v.id + 7, false, false, NULL, NULL, &items, &e), 0);
    s = items_str(items);
    char *want = dd_asprintf("[{\"Untagged\":\"busybox:local\"},{\"Deleted\":\"%s\"},{\"Deleted\":"
                             "\"sha256:%s\"}]",
                             v.id, strrchr(layer_dir, '/') + 1);
    CHECK_EQ_STR(s, want);
    struct stat st;
    CHECK(stat(layer_dir, &st) < 0);
    free(want);
    free(s);
    free(layer_dir);
    teardown(&v);
}

TEST(remove_conflicts)
{
    struct env v;
    setup(&v, "busybox:local");
    dd_err e = {0};
    json_t *items = NULL;
    CHECK_EQ_INT(img_tag(v.st, v.id, "other/repo", NULL, NULL, NULL, &e), 0);
    char shortid[13];
    snprintf(shortid, sizeof(shortid), "%s", v.id + 7);
    CHECK_EQ_INT(img_remove(v.st, shortid, false, false, NULL, NULL, &items, &e), -EBUSY);
    char *want = dd_asprintf("conflict: unable to delete %s (must be forced) - image is referenced "
                             "in multiple repositories",
                             shortid);
    CHECK_EQ_STR(e.msg, want);
    free(want);
    CHECK_EQ_INT(img_remove(v.st, "other/repo", false, false, NULL, NULL, &items, &e), 0);
    json_decref(items);
    /* Last tag of an image a stopped container uses: must force. */
    CHECK_EQ_INT(img_remove(v.st, "busybox:local", false, false, stopped_user, NULL, &items, &e),
                 -EBUSY);
    CHECK(strstr(e.msg, "conflict: unable to remove repository reference \"busybox:local\" (must "
                        "force) - container f4b6f096a8c7 is using its referenced image"));
    CHECK_EQ_INT(img_remove(v.st, v.id, false, false, stopped_user, NULL, &items, &e), -EBUSY);
    want = dd_asprintf("conflict: unable to delete %s (must be forced) - image is being used by "
                       "stopped container f4b6f096a8c7",
                       shortid);
    CHECK_EQ_STR(e.msg, want);
    free(want);
    CHECK_EQ_INT(img_remove(v.st, v.id, true, false, stopped_user, (void *)1, &items, &e), -EBUSY);
    want = dd_asprintf("conflict: unable to delete %s (cannot be forced) - image is being used by "
                       "running container f4b6f096a8c7",
                       shortid);
    CHECK_EQ_STR(e.msg, want);
    free(want);
    img_image *img;
    CHECK_EQ_INT(img_lookup(v.st, "busybox:local", &img, &e), 0);
    char *layer_dir = dd_strdup(img->layer_dirs[0]);
    img_image_free(img);
    /* Forced with a stopped user: the image goes, its layers stay for the container. */
    CHECK_EQ_INT(img_remove(v.st, "busybox:local", true, false, stopped_user, NULL, &items, &e), 0);
    json_decref(items);
    CHECK_EQ_INT(img_lookup(v.st, v.id, &img, &e), -ENOENT);
    struct stat st;
    CHECK_EQ_INT(stat(layer_dir, &st), 0);
    /* Collected once nothing uses them. */
    CHECK_EQ_INT(img_gc(v.st, always_busy, NULL, NULL, &e), 0);
    CHECK_EQ_INT(stat(layer_dir, &st), 0);
    int64_t reclaimed = 0;
    CHECK_EQ_INT(img_gc(v.st, NULL, NULL, &reclaimed, &e), 1);
    CHECK(reclaimed > 0);
    CHECK(stat(layer_dir, &st) < 0);
    free(layer_dir);
    teardown(&v);
}

TEST(save_load_round_trip)
{
    struct env v;
    setup(&v, "myrepo/bb:v1");
    dd_err e = {0};
    CHECK_EQ_INT(img_tag(v.st, "myrepo/bb:v1", "myrepo/bb", "v2", NULL, NULL, &e), 0);
    char *out = dd_asprintf("%s/saved.tar", v.dir);
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    char n1[] = "myrepo/bb";
    char *names[] = {n1, NULL};
    if (img_save_fd(v.st, names, fd, &e) < 0)
        unit_fail(__FILE__, __LINE__, "save: %s", e.msg);
    close(fd);
    char n2[] = "nosuch:1";
    char *names2[] = {n2, NULL};
    img_save *sv = NULL;
    CHECK_EQ_INT(img_save_open(v.st, names2, &sv, &e), -ENOENT);
    /* Into a fresh store. */
    char *root2 = dd_asprintf("%s/store2", v.dir);
    img_store *st2;
    CHECK_EQ_INT(img_store_open(root2, 0, &st2, &e), 0);
    fd = open(out, O_RDONLY);
    img_load_result res = {0};
    if (img_load(st2, fd, &res, &e) < 0)
        unit_fail(__FILE__, __LINE__, "reload: %s", e.msg);
    close(fd);
    CHECK_EQ_INT(res.n, 1);
    CHECK_EQ_STR(res.images[0].id, v.id);
    CHECK_EQ_INT(dd_strv_len(res.images[0].tags), 2);
    img_load_result_release(&res);
    img_image *img;
    CHECK_EQ_INT(img_lookup(st2, "myrepo/bb:v2", &img, &e), 0);
    char *host = dd_asprintf("%s/etc/hostname", img->layer_dirs[0]);
    char *data = NULL;
    size_t len;
    CHECK_EQ_INT(dd_read_file(host, 0, &data, &len, NULL), 0);
    CHECK_EQ_STR(data, "box\n");
    free(data);
    free(host);
    img_image_free(img);
    img_store_close(st2);
    free(root2);
    free(out);
    teardown(&v);
}

TEST(import_rootfs_with_changes)
{
    char *dir = dd_strdup("/tmp/img-import-XXXXXX");
    CHECK(mkdtemp(dir));
    char *tar = dd_asprintf("%s/rootfs.tar.gz", dir);
    tb_write(tar, ents, "gzip");
    char *root = dd_asprintf("%s/store", dir);
    img_store *st;
    dd_err e = {0};
    CHECK_EQ_INT(img_store_open(root, 0, &st, &e), 0);
    char c1[] = "CMD [\"sh\", \"-c\", \"echo hi\"]", c2[] = "ENV A=1 B=\"two words\"",
         c3[] = "EXPOSE 80 53/udp", c4[] = "WORKDIR /srv", c5[] = "LABEL k=v";
    char *changes[] = {c1, c2, c3, c4, c5, NULL};
    int fd = open(tar, O_RDONLY);
    img_load_result res = {0};
    if (img_import(st, fd, "imported/box:1", changes, NULL, &res, &e) < 0)
        unit_fail(__FILE__, __LINE__, "import: %s", e.msg);
    close(fd);
    CHECK_EQ_STR(res.images[0].tags[0], "imported/box:1");
    img_load_result_release(&res);
    img_image *img;
    CHECK_EQ_INT(img_lookup(st, "imported/box:1", &img, &e), 0);
    char *rc = jx_dump(img_image_runconfig(img));
    CHECK_EQ_STR(rc, "{\"Cmd\":[\"sh\",\"-c\",\"echo hi\"],\"Env\":[\"A=1\",\"B=two words\"],"
                     "\"ExposedPorts\":{\"80/tcp\":{},\"53/udp\":{}},\"WorkingDir\":\"/srv\","
                     "\"Labels\":{\"k\":\"v\"}}");
    free(rc);
    CHECK_EQ_STR(json_string_value(jx_get(img->config, "comment")), "Imported from -");
    img_image_free(img);
    char bad[] = "RUN rm -rf /";
    char *badv[] = {bad, NULL};
    fd = open(tar, O_RDONLY);
    CHECK_EQ_INT(img_import(st, fd, NULL, badv, NULL, &res, &e), -EINVAL);
    CHECK_EQ_STR(e.msg, "importing: RUN is not a valid change command");
    close(fd);
    img_store_close(st);
    dd_rm_rf(dir, NULL);
    free(root);
    free(tar);
    free(dir);
}
