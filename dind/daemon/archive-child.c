/* The filesystem side of the archive endpoints, run in a forked child of dindd. The child enters
 * the container's root first: for a running container it joins the container's mount namespace
 * and chroots to the container process's root (so bind mounts and tmpfs mounts inside the
 * container are seen as the container sees them); for a created or exited one it chroots into
 * the mounted rootfs. From then on every path, "..", and symlink resolves inside the container:
 * nothing the child reads or writes can be outside it. It then stats a path, writes a tar of it
 * (GET), or extracts a client's tar into a directory (PUT) after tar_check() has accepted every
 * entry, so a refused archive writes nothing. The child never loads code or name-service modules
 * from the container (no NSS lookups: owners in tars are numeric, users are parsed from the
 * container's /etc/passwd by hand). It reports to the daemon through one pipe (see archive.h).
 */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <sys/stat.h>

#include "dind/json.h"
#include "dind/daemon/archive.h"

uint32_t arc_go_filemode(mode_t m)
{
    uint32_t mode = m & 0777;
    switch (m & S_IFMT) {
    case S_IFDIR:
        mode |= 1u << 31;
        break;
    case S_IFLNK:
        mode |= 1u << 27;
        break;
    case S_IFBLK:
        mode |= 1u << 26;
        break;
    case S_IFCHR:
        mode |= (1u << 26) | (1u << 21);
        break;
    case S_IFIFO:
        mode |= 1u << 25;
        break;
    case S_IFSOCK:
        mode |= 1u << 24;
        break;
    }
    if (m & S_ISUID)
        mode |= 1u << 23;
    if (m & S_ISGID)
        mode |= 1u << 22;
    if (m & S_ISVTX)
        mode |= 1u << 20;
    return mode;
}

static int enter_root(const struct arc_root *root, dd_err *e)
{
    if (root->pid > 0) {
        char p[64];
        snprintf(p, sizeof(p), "/proc/%d/root", (int)root->pid);
        _cleanup_close_ int rootfd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
            return dd_err_sys(e, "opening %s", p);
        snprintf(p, sizeof(p), "/proc/%d/ns/mnt", (int)root->pid);
        _cleanup_close_ int nsfd = open(p, O_RDONLY | O_CLOEXEC);
        if (nsfd < 0)
            return dd_err_sys(e, "opening %s", p);
        if (setns(nsfd, CLONE_NEWNS) < 0)
            return dd_err_sys(e, "joining the container's mount namespace");
        if (fchdir(rootfd) < 0)
            return dd_err_sys(e, "entering the container's root");
    } else if (chdir(root->rootfs) < 0) {
        return dd_err_sys(e, "entering %s", root->rootfs);
    }
    if (chroot(".") < 0 || chdir("/") < 0)
        return dd_err_sys(e, "chroot into the container's root");
    return 0;
}

/* Go's filepath.Join("/", p) with a trailing "/" or "/." of p preserved (dockerd's absPath). */
static char *abs_path(const char *p)
{
    dd_buf b = DD_BUF_INIT;
    dd_buf_init(&b);
    const char *s = p;
    while (*s) {
        while (*s == '/')
            s++;
        const char *end = strchrnul(s, '/');
        size_t n = (size_t)(end - s);
        if (n == 2 && s[0] == '.' && s[1] == '.') {
            if (!b.len) {
                s = end;
                continue; /* ".." of the root is the root */
            }
            char *slash = strrchr(b.data, '/');
            b.len = slash ? (size_t)(slash - b.data) : 0;
            b.data[b.len] = '\0';
        } else if (n > 0 && !(n == 1 && s[0] == '.')) {
            dd_buf_addc(&b, '/');
            dd_buf_add(&b, s, n);
        }
        s = end;
    }
    if (!b.len)
        dd_buf_addc(&b, '/');
    size_t pl = strlen(p);
    if (pl >= 2 && dd_endswith(p, "/.") && strcmp(b.data, "/") != 0)
        dd_buf_adds(&b, "/.");
    else if (pl > 1 && p[pl - 1] == '/' && strcmp(b.data, "/") != 0)
        dd_buf_addc(&b, '/');
    return dd_buf_detach(&b, NULL);
}

/* Go's filepath.Base. */
static char *go_base(const char *p)
{
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        n--;
    if (n == 1 && p[0] == '/')
        return dd_strdup("/");
    const char *start = p;
    for (size_t i = 0; i < n; i++)
        if (p[i] == '/')
            start = p + i + 1;
    return dd_strndup(start, n - (size_t)(start - p));
}

static int emit(int out, json_t *msg)
{
    _cleanup_free_ char *s = jx_dump(msg);
    json_decref(msg);
    dd_buf b = DD_BUF_INIT;
    dd_buf_adds(&b, s);
    dd_buf_addc(&b, '\n');
    int r = dd_write_all(out, b.data, b.len);
    dd_buf_release(&b);
    return r < 0 ? 1 : 0;
}

static int emit_error(int out, int status, const char *msg)
{
    json_t *m = json_object();
    jx_set_int(m, "status", status);
    jx_set_str(m, "message", msg);
    emit(out, m);
    return 1;
}

static int emit_not_found(int out, const struct arc_job *job)
{
    _cleanup_free_ char *msg = dd_asprintf("Could not find the file %s in container %s",
                                           *job->path ? job->path : "/", job->container);
    return emit_error(out, 404, msg);
}

/* The symlink's target fully resolved inside the root (dockerd's linkTarget). */
static char *link_target(const char *abs)
{
    char buf[PATH_MAX];
    if (realpath(abs, buf))
        return dd_strdup(buf);
    ssize_t n = readlink(abs, buf, sizeof(buf) - 1);
    if (n < 0)
        return dd_strdup("");
    buf[n] = '\0';
    if (buf[0] == '/')
        return abs_path(buf);
    _cleanup_free_ char *dir = dd_strdup(abs);
    char *slash = strrchr(dir, '/');
    *slash = '\0';
    _cleanup_free_ char *joined = dd_asprintf("%s/%s", dir, buf);
    return abs_path(joined);
}

static json_t *stat_json(const char *abs, const struct stat *st)
{
    json_t *o = json_object();
    _cleanup_free_ char *name = go_base(abs);
    jx_set_str(o, "name", name);
    jx_set_int(o, "size", st->st_size);
    jx_set_int(o, "mode", arc_go_filemode(st->st_mode));
    char ts[48];
    dd_format_rfc3339nano((int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec, ts,
                          sizeof(ts));
    jx_set_str(o, "mtime", ts);
    _cleanup_free_ char *target = S_ISLNK(st->st_mode) ? link_target(abs) : NULL;
    jx_set_str(o, "linkTarget", target ? target : "");
    return o;
}

char *arc_stat_header(const json_t *stat)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    _cleanup_free_ char *s = jx_dump(stat);
    size_t n = strlen(s);
    dd_buf b = DD_BUF_INIT;
    dd_buf_init(&b);
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)(unsigned char)s[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)s[i + 2];
        dd_buf_addc(&b, tbl[(v >> 18) & 63]);
        dd_buf_addc(&b, tbl[(v >> 12) & 63]);
        dd_buf_addc(&b, i + 1 < n ? tbl[(v >> 6) & 63] : '=');
        dd_buf_addc(&b, i + 2 < n ? tbl[v & 63] : '=');
    }
    return dd_buf_detach(&b, NULL);
}

/* ---- GET: a tar of the path, entry names rebased to the path's base name ---- */

static void rebase(struct archive_entry *ent, const char *walk_root, const char *name)
{
    const char *p = archive_entry_pathname(ent);
    if (!*name) { /* export: relative to the root, without "./" */
        if (dd_startswith(p, "./")) {
            _cleanup_free_ char *np = dd_strdup(p + 2);
            archive_entry_copy_pathname(ent, np);
        }
        return;
    }
    size_t rl = strlen(walk_root);
    if (strcmp(walk_root, name) == 0 || strncmp(p, walk_root, rl) != 0)
        return;
    _cleanup_free_ char *np = dd_asprintf("%s%s", name, p + rl);
    archive_entry_copy_pathname(ent, np);
}

static int copy_data(struct archive *disk, struct archive *w)
{
    const void *buf;
    size_t len;
    la_int64_t off;
    int r;
    while ((r = archive_read_data_block(disk, &buf, &len, &off)) == ARCHIVE_OK) {
        if (archive_write_data(w, buf, len) < 0)
            return -1;
    }
    return r == ARCHIVE_EOF ? 0 : -1;
}

static int write_tar(const char *walk_root, const char *name, int out)
{
    struct archive *disk = archive_read_disk_new();
    struct archive *w = archive_write_new();
    int rc = 1;
    archive_read_disk_set_symlink_physical(disk);
    archive_write_set_format_pax_restricted(w);
    archive_write_set_bytes_in_last_block(w, 1);
    if (archive_write_open_fd(w, out) != ARCHIVE_OK || archive_read_disk_open(disk, walk_root))
        goto done;
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
            break;
        }
        archive_read_disk_descend(disk);
        if (!*name && dd_streq(archive_entry_pathname(ent), ".")) {
            archive_entry_free(ent); /* export has no entry for the root itself */
            continue;
        }
        rebase(ent, walk_root, name);
        r = archive_write_header(w, ent);
        bool data = r == ARCHIVE_OK && archive_entry_size(ent) > 0 &&
                    archive_entry_filetype(ent) == AE_IFREG;
        archive_entry_free(ent);
        if (r < ARCHIVE_WARN || (data && copy_data(disk, w) < 0))
            break;
    }
    if (archive_write_close(w) != ARCHIVE_OK)
        rc = 1;
done:
    archive_read_free(disk);
    archive_write_free(w);
    return rc;
}

/* Resolves abs inside the root as dockerd does: every component but the last is followed; the
 * last one only when abs ends in "/" or "/.". Leaves the cwd at the parent and sets *ret_walk to
 * the name to lstat/walk from there. */
static int resolve_parent(const char *abs, char **ret_walk)
{
    const char *slash = strrchr(abs, '/');
    const char *base = slash + 1;
    _cleanup_free_ char *dir = dd_strndup(abs, (size_t)(base - abs));
    if (chdir(dir) < 0)
        return -errno;
    *ret_walk = dd_strdup(*base ? base : ".");
    return 0;
}

static int do_stat_get(const struct arc_job *job, int out)
{
    _cleanup_free_ char *abs = abs_path(job->path);
    _cleanup_free_ char *walk = NULL;
    struct stat st;
    if (resolve_parent(abs, &walk) < 0 || lstat(walk, &st) < 0)
        return emit_not_found(out, job);
    json_t *msg = json_object();
    jx_set_int(msg, "status", 200);
    jx_set_new(msg, "stat", stat_json(abs, &st));
    if (emit(out, msg) != 0 || job->op == ARC_STAT)
        return job->op == ARC_STAT ? 0 : 1;
    _cleanup_free_ char *name = go_base(abs);
    if (strcmp(name, "/") == 0) {
        free(name);
        name = dd_strdup(".");
    }
    return write_tar(walk, name, out);
}

/* ---- PUT: extract into a directory ---- */

/* One field (0-based) of the colon-separated line of `file` whose first field is `key`. */
static char *db_field(const char *file, const char *key, int field)
{
    _cleanup_fclose_ FILE *f = fopen(file, "re");
    char line[1024];
    size_t kl = strlen(key);
    while (f && fgets(line, sizeof(line), f)) {
        if (strncmp(line, key, kl) != 0 || line[kl] != ':')
            continue;
        char *save = NULL, *tok = strtok_r(line, ":\n", &save);
        for (int i = 0; tok && i < field; i++)
            tok = strtok_r(NULL, ":\n", &save);
        return tok ? dd_strdup(tok) : NULL;
    }
    return NULL;
}

static bool parse_id(const char *s, unsigned *ret)
{
    int64_t v;
    if (dd_parse_int64(s, &v) < 0 || v < 0 || v > UINT32_MAX)
        return false;
    *ret = (unsigned)v;
    return true;
}

/* The container user's uid:gid from its own /etc/passwd and /etc/group (docker cp -a). */
static void resolve_user(const char *user, uid_t *ret_uid, gid_t *ret_gid)
{
    *ret_uid = 0;
    *ret_gid = 0;
    if (!user || !*user)
        return;
    _cleanup_free_ char *u = dd_strdup(user);
    char *g = strchr(u, ':');
    if (g)
        *g++ = '\0';
    unsigned v;
    if (parse_id(u, &v)) {
        *ret_uid = v;
    } else {
        _cleanup_free_ char *uid = db_field("/etc/passwd", u, 2);
        _cleanup_free_ char *gid = db_field("/etc/passwd", u, 3);
        if (uid && parse_id(uid, &v))
            *ret_uid = v;
        if (gid && parse_id(gid, &v))
            *ret_gid = v;
    }
    if (!g)
        return;
    if (parse_id(g, &v)) {
        *ret_gid = v;
    } else {
        _cleanup_free_ char *gid = db_field("/etc/group", g, 2);
        if (gid && parse_id(gid, &v))
            *ret_gid = v;
    }
}

static int status_for(int code)
{
    return code == EINVAL || code == EISDIR || code == ENOTDIR ? 400 : 500;
}

static int do_put(const struct arc_job *job, int out)
{
    _cleanup_free_ char *abs = abs_path(job->path);
    struct stat st;
    if (stat(abs, &st) < 0)
        return emit_not_found(out, job);
    if (!S_ISDIR(st.st_mode))
        return emit_error(out, 400, "extraction point is not a directory");
    if (chdir(abs) < 0)
        return emit_not_found(out, job);
    tar_extract_opts o = {.no_overwrite_dir_non_dir = job->no_overwrite_dir_non_dir,
                          .display_root = abs};
    if (job->copy_uid_gid) {
        o.chown_set = true;
        resolve_user(job->user, &o.uid, &o.gid);
    }
    dd_err e = {0};
    if (job->body.fd >= 0 && lseek(job->body.fd, 0, SEEK_SET) < 0)
        return emit_error(out, 500, "rewinding the request body");
    if (tar_extract(&job->body, &o, &e) < 0)
        return emit_error(out, status_for(e.code), e.msg);
    json_t *msg = json_object();
    jx_set_int(msg, "status", 200);
    return emit(out, msg);
}

int arc_child_run(const struct arc_job *job, int out)
{
    dd_err e = {0};
    if (job->op == ARC_PUT) {
        if (tar_check(&job->body, NULL, &e) < 0)
            return emit_error(out, status_for(e.code), e.msg);
    }
    if (enter_root(&job->root, &e) < 0)
        return emit_error(out, 500, e.msg);
    if (job->op == ARC_EXPORT) {
        json_t *msg = json_object();
        jx_set_int(msg, "status", 200);
        return emit(out, msg) != 0 ? 1 : write_tar(".", "", out);
    }
    return job->op == ARC_PUT ? do_put(job, out) : do_stat_get(job, out);
}
