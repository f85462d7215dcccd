/* Unit tests for dind/lib/tar: the entry-name sanitiser, the symlink guard, and that hostile
 * archives are refused by tar_check() and write nothing outside the target in tar_extract(). */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "dind/tar.h"
#include "tests/unit/unit.h"

static char *clean(const char *s)
{
    char *out = NULL;
    dd_err e = {0};
    if (tar_path_clean(s, &out, &e) < 0)
        return NULL;
    return out;
}

TEST(path_clean_normalises)
{
    CHECK_EQ_STR(clean("/etc/rancher/k3s/registries.yaml"), "etc/rancher/k3s/registries.yaml");
    CHECK_EQ_STR(clean("./a//b/./c/"), "a/b/c");
    CHECK_EQ_STR(clean("/"), ".");
    CHECK_EQ_STR(clean(""), ".");
    CHECK_EQ_STR(clean("./"), ".");
    CHECK_EQ_STR(clean("..a/b.."), "..a/b..");
}

TEST(path_clean_refuses_dotdot)
{
    dd_err e = {0};
    char *out = NULL;
    CHECK_EQ_INT(tar_path_clean("../x", &out, &e), -EINVAL);
    CHECK(strstr(e.msg, "escapes") != NULL);
    CHECK(clean("a/../../x") == NULL);
    CHECK(clean("/a/..") == NULL);
    CHECK(clean("..") == NULL);
}

TEST(guard_refuses_paths_through_archive_symlinks)
{
    tar_guard *g = tar_guard_new();
    dd_err e = {0};
    CHECK_EQ_INT(tar_guard_check(g, "a/link", NULL, true, &e), 0);
    CHECK_EQ_INT(tar_guard_check(g, "a/link/passwd", NULL, false, &e), -EINVAL);
    CHECK_EQ_INT(tar_guard_check(g, "a/linkx/y", NULL, false, &e), 0);
    CHECK_EQ_INT(tar_guard_check(g, "h", "a/link/passwd", false, &e), -EINVAL);
    /* a directory entry replacing the symlink makes later entries fine again */
    CHECK_EQ_INT(tar_guard_check(g, "a/link", NULL, false, &e), 0);
    CHECK_EQ_INT(tar_guard_check(g, "a/link/passwd", NULL, false, &e), 0);
    tar_guard_free(g);
}

struct ent {
    const char *name;
    char type;        /* 'f' file, 'd' dir, 'l' symlink, 'h' hard link */
    const char *data; /* contents or link target */
};

static size_t make_tar(const struct ent *ents, size_t n, char *buf, size_t cap)
{
    struct archive *w = archive_write_new();
    archive_write_set_format_pax_restricted(w);
    size_t used = 0;
    CHECK(archive_write_open_memory(w, buf, cap, &used) == ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *en = archive_entry_new();
        archive_entry_set_pathname(en, ents[i].name);
        archive_entry_set_perm(en, 0644);
        switch (ents[i].type) {
        case 'd':
            archive_entry_set_filetype(en, AE_IFDIR);
            archive_entry_set_perm(en, 0755);
            break;
        case 'l':
            archive_entry_set_filetype(en, AE_IFLNK);
            archive_entry_set_symlink(en, ents[i].data);
            break;
        case 'h':
            archive_entry_set_filetype(en, AE_IFREG);
            archive_entry_set_hardlink(en, ents[i].data);
            break;
        default:
            archive_entry_set_filetype(en, AE_IFREG);
            archive_entry_set_size(en, strlen(ents[i].data));
        }
        CHECK(archive_write_header(w, en) == ARCHIVE_OK);
        if (ents[i].type == 'f')
            archive_write_data(w, ents[i].data, strlen(ents[i].data));
        archive_entry_free(en);
    }
    archive_write_close(w);
    archive_write_free(w);
    return used;
}

static char tarbuf[1 << 16];

TEST(check_accepts_absolute_names_and_refuses_escapes)
{
    dd_err e = {0};
    size_t n = 0;
    struct ent ok[] = {{"/etc/rancher/k3s/registries.yaml", 'f', "mirrors: {}\n"}};
    tar_src src = {-1, tarbuf, make_tar(ok, 1, tarbuf, sizeof(tarbuf))};
    CHECK_EQ_INT(tar_check(&src, &n, &e), 0);
    CHECK_EQ_INT(n, 1);

    struct ent dotdot[] = {{"a", 'f', "x"}, {"../evil", 'f', "x"}};
    src.len = make_tar(dotdot, 2, tarbuf, sizeof(tarbuf));
    CHECK_EQ_INT(tar_check(&src, NULL, &e), -EINVAL);

    struct ent sym[] = {{"l", 'l', "/"}, {"l/etc/evil", 'f', "x"}};
    src.len = make_tar(sym, 2, tarbuf, sizeof(tarbuf));
    CHECK_EQ_INT(tar_check(&src, NULL, &e), -EINVAL);
    CHECK(strstr(e.msg, "symlink") != NULL);

    src.len = 100;
    memset(tarbuf, 'z', 100);
    CHECK(tar_check(&src, NULL, &e) < 0);
}

static int count_entries(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "find %s -mindepth 1 | wc -l", dir);
    FILE *f = popen(cmd, "r");
    int n = -1;
    if (f) {
        if (fscanf(f, "%d", &n) != 1)
            n = -1;
        pclose(f);
    }
    return n;
}

TEST(extract_writes_inside_and_creates_parents)
{
    char top[] = "/tmp/tar-test-XXXXXX";
    CHECK(mkdtemp(top) != NULL);
    char root[600];
    snprintf(root, sizeof(root), "%s/root", top);
    CHECK(mkdir(root, 0755) == 0);
    struct ent ents[] = {{"/etc/rancher/k3s/registries.yaml", 'f', "mirrors: {}\n"},
                         {"d/", 'd', NULL},
                         {"d/l", 'l', "../../../.."},
                         {"d/h", 'h', "etc/rancher/k3s/registries.yaml"}};
    tar_src src = {-1, tarbuf, make_tar(ents, 4, tarbuf, sizeof(tarbuf))};
    dd_err e = {0};
    CHECK(chdir(root) == 0);
    CHECK_EQ_INT(tar_extract(&src, NULL, &e), 0);
    struct stat st;
    CHECK(stat("etc/rancher/k3s/registries.yaml", &st) == 0 && st.st_size == 12);
    CHECK(lstat("d/l", &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(stat("d/h", &st) == 0 && st.st_nlink == 2);

    /* writing through the archive's own symlink is refused by extract too */
    struct ent evil[] = {{"x", 'l', ".."}, {"x/escaped", 'f', "boom"}};
    src.len = make_tar(evil, 2, tarbuf, sizeof(tarbuf));
    CHECK_EQ_INT(tar_extract(&src, NULL, &e), -EINVAL);
    CHECK_EQ_INT(count_entries(top), count_entries(root) + 1);
    char esc[700];
    snprintf(esc, sizeof(esc), "%s/escaped", top);
    CHECK(access(esc, F_OK) < 0);
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", top);
    CHECK(system(cmd) == 0);
}

TEST(extract_no_overwrite_dir_non_dir)
{
    char root[] = "/tmp/tar-test-XXXXXX";
    CHECK(mkdtemp(root) != NULL);
    CHECK(chdir(root) == 0);
    CHECK(mkdir("etc", 0755) == 0);
    struct ent ents[] = {{"etc", 'f', "x"}};
    tar_src src = {-1, tarbuf, make_tar(ents, 1, tarbuf, sizeof(tarbuf))};
    tar_extract_opts o = {.no_overwrite_dir_non_dir = true, .display_root = "/"};
    dd_err e = {0};
    CHECK_EQ_INT(tar_extract(&src, &o, &e), -EISDIR);
    CHECK(strstr(e.msg, "cannot overwrite directory") != NULL);
    char cmd[100];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    CHECK(system(cmd) == 0);
}
