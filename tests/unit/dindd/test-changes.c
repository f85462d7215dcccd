/* Unit tests for `docker diff`'s rules (changes.c): the kind of an upper-dir entry, visibility in
 * the lower layers (top layer first, whiteouts and files hiding what lies below), and a whole
 * upper dir walked into the sorted A/C/D list. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "dind/daemon/changes.h"
#include "dind/json.h"
#include "tests/unit/unit.h"

static void touch(const char *root, const char *rel)
{
    _cleanup_free_ char *p = dd_asprintf("%s/%s", root, rel);
    _cleanup_free_ char *dir = dd_strdup(p);
    *strrchr(dir, '/') = '\0';
    CHECK(dd_mkdir_p(dir, 0755, NULL) == 0);
    int fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    close(fd);
}

static bool whiteout(const char *root, const char *rel)
{
    _cleanup_free_ char *p = dd_asprintf("%s/%s", root, rel);
    return mknod(p, S_IFCHR | 0, makedev(0, 0)) == 0;
}

TEST(change_kinds)
{
    CHECK(chg_kind_of(true, true) == CHG_DELETE);
    CHECK(chg_kind_of(false, true) == CHG_MODIFY);
    CHECK(chg_kind_of(false, false) == CHG_ADD);
    struct stat st = {.st_mode = S_IFCHR, .st_rdev = makedev(0, 0)};
    CHECK(chg_is_whiteout(&st));
    st.st_rdev = makedev(1, 3); /* /dev/null is not a whiteout */
    CHECK(!chg_is_whiteout(&st));
    st.st_mode = S_IFREG;
    st.st_rdev = 0;
    CHECK(!chg_is_whiteout(&st));
}

TEST(change_walk)
{
    char root[] = "/tmp/dindd-chg-test.XXXXXX";
    CHECK(mkdtemp(root) != NULL);
    _cleanup_free_ char *top = dd_asprintf("%s/top", root);
    _cleanup_free_ char *base = dd_asprintf("%s/base", root);
    _cleanup_free_ char *upper = dd_asprintf("%s/upper", root);
    touch(base, "etc/passwd");
    touch(base, "etc/group");
    touch(base, "opt/x/y");
    touch(top, "etc/new-in-top");
    touch(top, "opt"); /* a file in the top layer hides base's opt/ directory */
    char *lowers[] = {top, base, NULL};
    CHECK(chg_in_lower(lowers, "etc/passwd"));
    CHECK(chg_in_lower(lowers, "etc/new-in-top"));
    CHECK(!chg_in_lower(lowers, "opt/x/y"));
    CHECK(!chg_in_lower(lowers, "nothing"));
    touch(upper, "etc/passwd");
    touch(upper, "added/file");
    bool root_user = geteuid() == 0 && whiteout(upper, "etc/group");
    json_t *out = NULL;
    CHECK(chg_compute(upper, lowers, &out, NULL) == 0);
    /* sorted: /added (A), /added/file (A), /etc (C), [/etc/group (D)], /etc/passwd (C) */
    CHECK_EQ_INT(json_array_size(out), root_user ? 5 : 4);
    const char *paths[] = {"/added", "/added/file", "/etc", "/etc/group", "/etc/passwd"};
    int kinds[] = {CHG_ADD, CHG_ADD, CHG_MODIFY, CHG_DELETE, CHG_MODIFY};
    for (size_t i = 0, j = 0; i < 5; i++) {
        if (i == 3 && !root_user)
            continue;
        json_t *o = json_array_get(out, j++);
        CHECK_EQ_STR(json_string_value(json_object_get(o, "Path")), paths[i]);
        CHECK_EQ_INT(json_integer_value(json_object_get(o, "Kind")), kinds[i]);
    }
    json_decref(out);
    CHECK(dd_rm_rf(root, NULL) == 0);
}
