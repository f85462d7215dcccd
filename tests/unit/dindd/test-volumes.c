/* Unit tests for dindd's volumes: dockerd's name rule and texts, the store's create/lookup/remove
 * round trip with persistence across a reopen, the refusal of the local driver's mount options,
 * and the split of mounts between spec.c (binds, tmpfs) and ctr-volumes.c (volumes). */
#include <stdio.h>

#include "dind/daemon/create.h"
#include "dind/daemon/volume.h"
#include "dind/json.h"
#include "tests/unit/unit.h"

TEST(volume_name_rule)
{
    dd_err e = {0};
    CHECK(vol_name_validate("data", &e) == 0);
    CHECK(vol_name_validate("my_vol.1-x", &e) == 0);
    CHECK(vol_name_validate("0a", &e) == 0);
    CHECK(vol_name_validate("a", &e) == -EINVAL);
    CHECK_EQ_STR(e.msg, "volume name is too short, names should be at least two alphanumeric "
                        "characters");
    CHECK(vol_name_validate("-ab", &e) == -EINVAL);
    CHECK(vol_name_validate("a/b", &e) == -EINVAL);
    CHECK(vol_name_validate("", &e) == -EINVAL);
    CHECK(vol_name_validate("x \"y", &e) == -EINVAL);
    CHECK_EQ_STR(e.msg, "\"x \\\"y\" includes invalid characters for a local volume name, only "
                        "\"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a "
                        "host directory, use absolute path");
}

TEST(volume_store_round_trip)
{
    char root[] = "/tmp/dindd-vol-test.XXXXXX";
    CHECK(mkdtemp(root) != NULL);
    struct vol_store *s = NULL;
    dd_err e = {0};
    CHECK(vol_store_open(root, &s, &e) == 0);
    struct vol *v = NULL;
    bool created = false;
    json_t *labels = json_pack("{s:s}", "a", "b");
    CHECK(vol_create(s, "keep", NULL, labels, NULL, false, &v, &created, &e) == 0 && created);
    CHECK(vol_create(s, "keep", "local", NULL, NULL, false, &v, &created, &e) == 0 && !created);
    CHECK(vol_create(s, NULL, NULL, NULL, NULL, true, &v, &created, &e) == 0 && created);
    CHECK_EQ_INT(strlen(v->name), 64);
    CHECK(v->anonymous);
    char *anon = dd_strdup(v->name);
    CHECK(vol_create(s, "x1", "nfs", NULL, NULL, false, &v, NULL, &e) == -ENOENT);
    json_t *opts = json_pack("{s:s}", "type", "tmpfs");
    CHECK(vol_create(s, "x1", NULL, NULL, opts, false, &v, NULL, &e) == -EOPNOTSUPP);
    CHECK(vol_find(s, "x1") == NULL);
    json_t *bind = json_pack("{s:s,s:s,s:s}", "type", "none", "o", "bind", "device", "/srv");
    CHECK(vol_create(s, "b1", NULL, NULL, bind, false, &v, NULL, &e) == 0);
    char *src = vol_mount_source(root, v);
    CHECK_EQ_STR(src, "/srv");
    free(src);
    CHECK(vol_remove(s, v, &e) == 0);
    json_object_set_new(bind, "device", json_string("relative"));
    CHECK(vol_create(s, "b2", NULL, NULL, bind, false, &v, NULL, &e) == -EINVAL);
    json_object_set_new(bind, "bogus", json_string("1"));
    CHECK(vol_create(s, "b2", NULL, NULL, bind, false, &v, NULL, &e) == -EINVAL);
    CHECK_EQ_STR(e.msg, "invalid option: \"bogus\"");
    json_decref(bind);
    char *path = vol_data_path(root, "keep");
    CHECK(access(path, F_OK) == 0);
    vol_store_free(s);
    /* reopened: both are there, labels kept */
    CHECK(vol_store_open(root, &s, &e) == 0);
    CHECK(vol_lookup(s, "keep", &v, &e) == 0);
    CHECK_EQ_STR(json_string_value(json_object_get(v->labels, "a")), "b");
    json_t *j = vol_json(s, v);
    CHECK_EQ_STR(json_string_value(json_object_get(j, "Driver")), "local");
    CHECK_EQ_STR(json_string_value(json_object_get(j, "Mountpoint")), path);
    json_decref(j);
    CHECK(vol_lookup(s, anon, &v, &e) == 0 && v->anonymous);
    CHECK(vol_remove(s, v, &e) == 0);
    CHECK(vol_lookup(s, anon, &v, &e) == -ENOENT);
    CHECK_EQ_STR(e.msg + strlen(e.msg) - strlen(": no such volume"), ": no such volume");
    size_t n = 0;
    struct vol **l = vol_list(s, &n);
    CHECK_EQ_INT(n, 1);
    free(l);
    vol_store_free(s);
    CHECK(dd_rm_rf(root, &e) == 0);
    free(path);
    free(anon);
    json_decref(labels);
    json_decref(opts);
}

TEST(volume_mounts_are_not_binds)
{
    json_t *hc = json_pack("{s:[ss],s:[{s:s,s:s}]}", "Binds", "named:/data", "/tmp:/host", "Mounts",
                           "Type", "volume", "Target", "/anon");
    struct spec_mount *m = NULL;
    size_t n = 0;
    dd_err e = {0};
    CHECK(spec_mounts(hc, NULL, &m, &n, &e) == 0);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_STR(m[0].dest, "/host");
    spec_mounts_free(m, n);
    json_decref(hc);
    hc = json_pack("{s:[{s:s,s:s,s:s}]}", "Mounts", "Type", "volume", "Source", "bad/name",
                   "Target", "/x");
    CHECK(spec_mounts(hc, NULL, &m, &n, &e) == -EINVAL);
    CHECK(strstr(e.msg, "create bad/name: \"bad/name\" includes invalid characters") != NULL);
    json_decref(hc);
}
