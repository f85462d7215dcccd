/* Unit tests for the archive helper (dind/daemon/archive-child.c): Go FileMode bits, the
 * path-stat header, and stat/GET/PUT run in a forked child chrooted into a scratch rootfs (as
 * the daemon does for a created container). Needs root (chroot). */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "dind/json.h"
#include "dind/daemon/archive.h"
#include "tests/unit/unit.h"

TEST(go_filemode_bits)
{
    CHECK_EQ_INT(arc_go_filemode(S_IFDIR | 0755), 2147484141u);
    CHECK_EQ_INT(arc_go_filemode(S_IFREG | 0644), 420);
    CHECK_EQ_INT(arc_go_filemode(S_IFLNK | 0777), (1u << 27) | 0777);
    CHECK_EQ_INT(arc_go_filemode(S_IFREG | S_ISUID | 0755), (1u << 23) | 0755);
    CHECK_EQ_INT(arc_go_filemode(S_IFDIR | S_ISVTX | 0777), (1u << 31) | (1u << 20) | 0777);
}

TEST(stat_header_is_dockerds_base64)
{
    json_t *st = json_object();
    jx_set_str(st, "name", "hostname");
    jx_set_int(st, "size", 8);
    jx_set_int(st, "mode", 420);
    jx_set_str(st, "mtime", "2026-11-22T18:51:04.655466972Z");
    jx_set_str(st, "linkTarget", "");
    char *h = arc_stat_header(st);
    CHECK_EQ_STR(h,
                 "eyJuYW1lIjoiaG9zdG5hbWUiLCJzaXplIjo4LCJtb2RlIjo0MjAsIm10aW1lIjoiMjAyNi0xMS0yMlQx"
                 "ODo1MTowNC42NTU0NjY5NzJaIiwibGlua1RhcmdldCI6IiJ9");
    free(h);
    json_decref(st);
}

static char root[] = "/tmp/arc-test-XXXXXX";

static void rm_root(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", root);
}

/* Runs body in a child with a scratch rootfs that is removed afterwards, also when a CHECK in
 * body fails (the runner's failure path skips atexit handlers). */
static void with_root(void (*body)(void))
{
    CHECK(mkdtemp(root) != NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        body();
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    rm_root();
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void make_root(void)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "cd %s && mkdir -p etc tmp/d && printf 'myhost\\n' > etc/hostname && "
             "ln -s /etc/hostname tmp/lnk && echo a > tmp/d/a",
             root);
    CHECK(system(cmd) == 0);
}

/* Runs a job in a forked child; returns the exit code and everything it wrote. */
static int run_job(struct arc_job *job, dd_buf *out)
{
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        _exit(arc_child_run(job, p[1]));
    }
    close(p[1]);
    char buf[4096];
    ssize_t n;
    while ((n = read(p[0], buf, sizeof(buf))) > 0)
        dd_buf_add(out, buf, (size_t)n);
    close(p[0]);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static json_t *head_of(const dd_buf *out)
{
    const char *nl = memchr(out->data, '\n', out->len);
    CHECK(nl != NULL);
    json_t *j = NULL;
    CHECK(jx_parse(out->data, (size_t)(nl - out->data), &j, NULL) == 0);
    return j;
}

static void child_stat_follows_dockerds_rules(void)
{
    make_root();
    struct arc_job job = {.op = ARC_STAT,
                          .root = {0, root},
                          .path = "/tmp/lnk",
                          .container = "web",
                          .body = {.fd = -1}};
    dd_buf out = DD_BUF_INIT;
    CHECK_EQ_INT(run_job(&job, &out), 0);
    json_t *j = head_of(&out);
    json_t *st = json_object_get(j, "stat");
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "status")), 200);
    CHECK_EQ_STR(json_string_value(json_object_get(st, "name")), "lnk");
    CHECK_EQ_STR(json_string_value(json_object_get(st, "linkTarget")), "/etc/hostname");
    CHECK(json_integer_value(json_object_get(st, "mode")) & (1 << 27));
    json_decref(j);

    dd_buf_reset(&out);
    job.path = "/nope/x";
    CHECK(run_job(&job, &out) != 0);
    j = head_of(&out);
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "status")), 404);
    CHECK_EQ_STR(json_string_value(json_object_get(j, "message")),
                 "Could not find the file /nope/x in container web");
    json_decref(j);

    dd_buf_reset(&out);
    job.path = "/../../tmp/d/";
    CHECK_EQ_INT(run_job(&job, &out), 0);
    j = head_of(&out);
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(j, "stat"), "name")), "d");
    json_decref(j);
}

static void child_get_names_entries_by_basename(void)
{
    make_root();
    struct arc_job job = {
        .op = ARC_GET, .root = {0, root}, .path = "/tmp/d", .container = "web", .body = {.fd = -1}};
    dd_buf out = DD_BUF_INIT;
    CHECK_EQ_INT(run_job(&job, &out), 0);
    const char *nl = memchr(out.data, '\n', out.len);
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    size_t off = (size_t)(nl + 1 - out.data);
    CHECK(archive_read_open_memory(a, out.data + off, out.len - off) == ARCHIVE_OK);
    struct archive_entry *ent;
    dd_buf names = DD_BUF_INIT;
    while (archive_read_next_header(a, &ent) == ARCHIVE_OK) {
        dd_buf_adds(&names, archive_entry_pathname(ent));
        dd_buf_addc(&names, ' ');
    }
    archive_read_free(a);
    CHECK_EQ_STR(names.data, "d/ d/a ");
}

static size_t tar_one(const char *name, const char *data, char *buf, size_t cap)
{
    struct archive *w = archive_write_new();
    archive_write_set_format_pax_restricted(w);
    size_t used = 0;
    archive_write_open_memory(w, buf, cap, &used);
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0744);
    archive_entry_set_size(e, strlen(data));
    archive_write_header(w, e);
    archive_write_data(w, data, strlen(data));
    archive_entry_free(e);
    archive_write_close(w);
    archive_write_free(w);
    return used;
}

static void child_put_creates_parents_and_refuses_escapes(void)
{
    make_root();
    static char tar[16384];
    struct arc_job job = {.op = ARC_PUT, .root = {0, root}, .path = "/", .container = "web"};
    job.body =
        (tar_src){-1, tar, tar_one("/etc/rancher/k3s/registries.yaml", "m: 1\n", tar, sizeof(tar))};
    dd_buf out = DD_BUF_INIT;
    CHECK_EQ_INT(run_job(&job, &out), 0);
    char p[256];
    snprintf(p, sizeof(p), "%s/etc/rancher/k3s/registries.yaml", root);
    struct stat st;
    CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0744);

    job.body.len = tar_one("../../../escaped-arc-test", "x", tar, sizeof(tar));
    job.path = "/tmp";
    dd_buf_reset(&out);
    CHECK(run_job(&job, &out) != 0);
    json_t *j = head_of(&out);
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "status")), 400);
    json_decref(j);
    CHECK(access("/escaped-arc-test", F_OK) < 0 && access("/tmp/escaped-arc-test", F_OK) < 0);

    job.body.len = tar_one("x", "x", tar, sizeof(tar));
    job.path = "/etc/hostname";
    dd_buf_reset(&out);
    CHECK(run_job(&job, &out) != 0);
    j = head_of(&out);
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "status")), 400);
    CHECK_EQ_STR(json_string_value(json_object_get(j, "message")),
                 "extraction point is not a directory");
    json_decref(j);
}

TEST(child_stat_follows_dockerds_rules)
{
    with_root(child_stat_follows_dockerds_rules);
}

TEST(child_get_names_entries_by_basename)
{
    with_root(child_get_names_entries_by_basename);
}

TEST(child_put_creates_parents_and_refuses_escapes)
{
    with_root(child_put_creates_parents_and_refuses_escapes);
}
