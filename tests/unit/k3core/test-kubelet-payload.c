/* Unit tests of the atomic volume payload writer (k3core/kubelet/payload.c): upstream's
 * AtomicWriter layout, no rewrite of an unchanged payload, updates swap ..data and drop names
 * that left, and hostile paths are refused. */
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k3core/kubelet/payload.h"
#include "tests/unit/unit.h"

static char *tmpdir(void)
{
    char *d = dd_strdup("/tmp/k3core-payload.XXXXXX");
    if (!mkdtemp(d))
        unit_fail(__FILE__, __LINE__, "mkdtemp");
    return d;
}

static char *read_at(const char *dir, const char *name)
{
    _cleanup_free_ char *p = dd_path_join(dir, name);
    char *s = NULL;
    if (dd_read_file(p, 0, &s, NULL, NULL) < 0)
        return dd_strdup("<missing>");
    return s;
}

static char *link_at(const char *dir, const char *name)
{
    _cleanup_free_ char *p = dd_path_join(dir, name);
    char buf[256];
    ssize_t n = readlink(p, buf, sizeof(buf) - 1);
    buf[n > 0 ? n : 0] = 0;
    return dd_strdup(buf);
}

TEST(payload_layout_and_updates)
{
    char *dir = tmpdir();
    struct kl_payload pl = {0};
    dd_err e = {0};
    CHECK_EQ_INT(kl_payload_add(&pl, "a", "one", 3, 0644, &e), 0);
    CHECK_EQ_INT(kl_payload_add(&pl, "sub/b", "two", 3, 0400, &e), 0);
    CHECK_EQ_INT(kl_payload_write(dir, &pl, &e), 1);
    char *s = read_at(dir, "a");
    CHECK_EQ_STR(s, "one");
    free(s);
    s = read_at(dir, "sub/b");
    CHECK_EQ_STR(s, "two");
    free(s);
    s = link_at(dir, "a");
    CHECK_EQ_STR(s, "..data/a");
    free(s);
    s = link_at(dir, "sub");
    CHECK_EQ_STR(s, "..data/sub");
    free(s);
    char *first = link_at(dir, "..data");
    CHECK(dd_startswith(first, ".."));
    _cleanup_free_ char *bpath = dd_asprintf("%s/..data/sub/b", dir);
    struct stat st;
    CHECK(stat(bpath, &st) == 0 && (st.st_mode & 07777) == 0400);
    /* the same payload again: nothing is rewritten */
    CHECK_EQ_INT(kl_payload_write(dir, &pl, &e), 0);
    s = link_at(dir, "..data");
    CHECK_EQ_STR(s, first);
    free(s);
    /* an update: new content, "sub" leaves, "c" arrives, the old payload dir is gone */
    kl_payload_release(&pl);
    CHECK_EQ_INT(kl_payload_add(&pl, "a", "three", 5, 0644, &e), 0);
    CHECK_EQ_INT(kl_payload_add(&pl, "c", "", 0, 0644, &e), 0);
    CHECK_EQ_INT(kl_payload_write(dir, &pl, &e), 1);
    s = read_at(dir, "a");
    CHECK_EQ_STR(s, "three");
    free(s);
    _cleanup_free_ char *subp = dd_path_join(dir, "sub");
    CHECK(access(subp, F_OK) != 0);
    _cleanup_free_ char *oldp = dd_path_join(dir, first);
    CHECK(access(oldp, F_OK) != 0);
    s = read_at(dir, "c");
    CHECK_EQ_STR(s, "");
    free(s);
    /* a mode change alone is an update */
    kl_payload_release(&pl);
    CHECK_EQ_INT(kl_payload_add(&pl, "a", "three", 5, 0600, &e), 0);
    CHECK_EQ_INT(kl_payload_add(&pl, "c", "", 0, 0644, &e), 0);
    CHECK_EQ_INT(kl_payload_write(dir, &pl, &e), 1);
    kl_payload_release(&pl);
    free(first);
    dd_rm_rf(dir, NULL);
    free(dir);
}

TEST(payload_refuses_bad_paths)
{
    struct kl_payload pl = {0};
    dd_err e = {0};
    static const char *const bad[] = {"", "/etc/passwd", "../x", "a/../../x", "..data", "a/.."};
    for (size_t i = 0; i < DD_ARRAY_SIZE(bad); i++)
        CHECK_EQ_INT(kl_payload_add(&pl, bad[i], "x", 1, 0644, &e), -EINVAL);
    CHECK_EQ_INT(pl.n, 0);
    /* a later source replaces an earlier file at the same path */
    CHECK_EQ_INT(kl_payload_add(&pl, "a..b", "1", 1, 0644, &e), 0);
    CHECK_EQ_INT(kl_payload_add(&pl, "a..b", "2", 1, 0644, &e), 0);
    CHECK_EQ_INT(pl.n, 1);
    CHECK_EQ_STR(kl_payload_find(&pl, "a..b")->data, "2");
    kl_payload_release(&pl);
}
