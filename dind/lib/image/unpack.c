/* Safe tar extraction into a layer directory. Every entry name is cleaned lexically and must stay
 * inside the root; every parent directory is opened one component at a time with openat2
 * (RESOLVE_NO_SYMLINKS), so no entry is ever written through a symlink, and the final component
 * is created with *at() calls that do not follow it. Hardlink targets obey the same rules.
 * Docker/OCI whiteouts (.wh.<name>, .wh..wh..opq) become overlayfs whiteouts (char device 0/0,
 * trusted.overlay.opaque=y) so the directory can serve as an overlay lower dir as is.
 * Owners, modes, times and xattrs are preserved (trusted.overlay.* from the archive is dropped:
 * only this code may set overlay metadata). It does not decide what a layer is; ingest.c does. */
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <limits.h>

#include "dind/lib/image/image-internal.h"
#include "dind/tar.h"

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"
#define WH_META   ".wh..wh."

int img_open_beneath(int dirfd, const char *path, int flags, dd_err *e)
{
    long fd = dd_openat2(dirfd, path, flags,
                         RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
    if (fd < 0)
        return dd_err_sys(e, "opening %s", path);
    return (int)fd;
}

int img_open_in_root(int dirfd, const char *path, dd_err *e)
{
    long fd = dd_openat2(dirfd, path, O_RDONLY, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
    if (fd < 0)
        return dd_err_sys(e, "opening %s", path);
    return (int)fd;
}

struct dirtime {
    char *rel;
    struct timespec mtime;
};

struct unpack {
    const char *root_path;
    int rootfd;
    unsigned flags;
    int64_t size;
    struct dirtime *dirs;
    size_t n_dirs, cap_dirs;
};

/* Opens the parent directory of rel (creating missing parents with mode 0755 when create is set),
 * one component at a time, refusing symlinks. *ret_name points into rel at the last component. */
static int open_parent(struct unpack *u, const char *rel, bool create, const char **ret_name,
                       dd_err *e)
{
    _cleanup_free_ char *copy = dd_strdup(rel);
    int fd = fcntl(u->rootfd, F_DUPFD_CLOEXEC, 3);
    if (fd < 0)
        return dd_err_sys(e, "dup");
    char *comp = copy;
    for (char *slash; (slash = strchr(comp, '/')); comp = slash + 1) {
        *slash = '\0';
        long nfd = dd_openat2(fd, comp, O_PATH | O_DIRECTORY,
                              RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
                                  RESOLVE_NO_XDEV);
        if (nfd < 0 && errno == ENOENT && create) {
            if (mkdirat(fd, comp, 0755) < 0 && errno != EEXIST) {
                close(fd);
                return dd_err_sys(e, "creating directory %s", copy);
            }
            nfd = dd_openat2(fd, comp, O_PATH | O_DIRECTORY,
                             RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV);
        }
        int err = errno;
        close(fd);
        if (nfd < 0 && err == ELOOP)
            return dd_err_set(e, EINVAL, "refusing to write through symlink %s", copy);
        if (nfd < 0 && err == ENOTDIR)
            return dd_err_set(e, EINVAL, "%s is not a directory", copy);
        if (nfd < 0) {
            errno = err;
            return dd_err_sys(e, "opening directory %s", copy);
        }
        fd = (int)nfd;
        *slash = '/';
    }
    *ret_name = rel + (comp - copy);
    return fd;
}

/* Makes room for a new entry: removes what is there unless both are directories. */
static int clear_target(struct unpack *u, int pfd, const char *name, const char *rel, bool is_dir,
                        dd_err *e)
{
    struct stat st;
    if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : dd_err_sys(e, "stat %s", rel);
    if (S_ISDIR(st.st_mode)) {
        if (is_dir)
            return 1;
        _cleanup_free_ char *full = dd_path_join(u->root_path, rel);
        return dd_rm_rf(full, e);
    }
    if (unlinkat(pfd, name, 0) < 0)
        return dd_err_sys(e, "removing %s", rel);
    return 0;
}

static void apply_xattrs(int fd, struct archive_entry *ent)
{
    const char *name;
    const void *val;
    size_t size;
    archive_entry_xattr_reset(ent);
    while (archive_entry_xattr_next(ent, &name, &val, &size) == ARCHIVE_OK) {
        if (dd_startswith(name, "trusted.overlay."))
            continue;
        (void)fsetxattr(fd, name, val, size, 0);
    }
}

/* Owner, mode, xattrs on an open fd (regular files and directories). */
static int apply_meta_fd(struct unpack *u, int fd, struct archive_entry *ent, const char *rel,
                         dd_err *e)
{
    if (!(u->flags & IMG_UNPACK_PLAIN)) {
        if (fchown(fd, archive_entry_uid(ent), archive_entry_gid(ent)) < 0)
            return dd_err_sys(e, "chown %s", rel);
        apply_xattrs(fd, ent);
    }
    if (fchmod(fd, archive_entry_perm(ent) & 07777) < 0)
        return dd_err_sys(e, "chmod %s", rel);
    return 0;
}

static int set_times_at(int pfd, const char *name, struct archive_entry *ent)
{
    struct timespec ts[2] = {
        {archive_entry_mtime(ent), archive_entry_mtime_nsec(ent)},
        {archive_entry_mtime(ent), archive_entry_mtime_nsec(ent)},
    };
    return utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static int write_data(struct archive *a, int fd, const char *rel, dd_err *e)
{
    const void *buf;
    size_t size;
    la_int64_t off;
    int64_t end = 0;
    for (;;) {
        int r = archive_read_data_block(a, &buf, &size, &off);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN)
            return dd_err_set(e, EINVAL, "reading %s from the archive: %s", rel,
                              archive_error_string(a));
        for (size_t done = 0; done < size;) {
            ssize_t n = pwrite(fd, (const char *)buf + done, size - done, off + done);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return dd_err_sys(e, "writing %s", rel);
            done += n;
        }
        if (off + (int64_t)size > end)
            end = off + size;
    }
    return ftruncate(fd, end) < 0 ? dd_err_sys(e, "truncating %s", rel) : 0;
}

static int make_file(struct unpack *u, struct archive *a, struct archive_entry *ent, int pfd,
                     const char *name, const char *rel, dd_err *e)
{
    _cleanup_close_ int fd =
        openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return dd_err_sys(e, "creating %s", rel);
    int r = write_data(a, fd, rel, e);
    if (r < 0)
        return r;
    u->size += archive_entry_size(ent);
    r = apply_meta_fd(u, fd, ent, rel, e);
    if (r < 0)
        return r;
    struct timespec ts[2] = {{archive_entry_mtime(ent), archive_entry_mtime_nsec(ent)},
                             {archive_entry_mtime(ent), archive_entry_mtime_nsec(ent)}};
    (void)futimens(fd, ts);
    return 0;
}

static int make_dir(struct unpack *u, struct archive_entry *ent, int pfd, const char *name,
                    const char *rel, dd_err *e)
{
    if (mkdirat(pfd, name, 0700) < 0 && errno != EEXIST)
        return dd_err_sys(e, "creating directory %s", rel);
    _cleanup_close_ int fd = img_open_beneath(pfd, name, O_RDONLY | O_DIRECTORY, e);
    if (fd < 0)
        return fd;
    int r = apply_meta_fd(u, fd, ent, rel, e);
    if (r < 0)
        return r;
    if (u->n_dirs == u->cap_dirs) {
        u->cap_dirs = u->cap_dirs ? 2 * u->cap_dirs : 64;
        u->dirs = dd_realloc(u->dirs, u->cap_dirs * sizeof(*u->dirs));
    }
    u->dirs[u->n_dirs++] =
        (struct dirtime){dd_strdup(rel), {archive_entry_mtime(ent), archive_entry_mtime_nsec(ent)}};
    return 0;
}

static int make_link(struct unpack *u, const char *target, int pfd, const char *name,
                     const char *rel, dd_err *e)
{
    _cleanup_free_ char *clean = NULL;
    if (tar_path_clean(target, &clean, NULL) < 0 || dd_streq(clean, "."))
        return dd_err_set(e, EINVAL, "hardlink %s points outside the layer (%s)", rel, target);
    const char *tname;
    _cleanup_close_ int tfd = open_parent(u, clean, false, &tname, e);
    if (tfd < 0)
        return dd_err_wrap(e, "hardlink %s", rel);
    if (linkat(tfd, tname, pfd, name, 0) < 0)
        return dd_err_sys(e, "hardlink %s -> %s", rel, target);
    return 0;
}

static int make_special(struct unpack *u, struct archive_entry *ent, int pfd, const char *name,
                        const char *rel, dd_err *e)
{
    mode_t type = archive_entry_filetype(ent);
    if (type == AE_IFLNK) {
        const char *target = archive_entry_symlink(ent);
        if (!target)
            return dd_err_set(e, EINVAL, "symlink %s has no target", rel);
        if (symlinkat(target, pfd, name) < 0)
            return dd_err_sys(e, "creating symlink %s", rel);
        u->size += strlen(target); /* dockerd's Size counts a symlink's lstat size too */
    } else if (u->flags & IMG_UNPACK_PLAIN) {
        return 0;
    } else if (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFIFO) {
        dev_t dev = makedev(archive_entry_rdevmajor(ent), archive_entry_rdevminor(ent));
        if (mknodat(pfd, name, type | (archive_entry_perm(ent) & 07777), dev) < 0)
            return dd_err_sys(e, "creating device node %s", rel);
    } else {
        return 0; /* sockets and unknown types carry no content */
    }
    if (!(u->flags & IMG_UNPACK_PLAIN) && fchownat(pfd, name, archive_entry_uid(ent),
                                                   archive_entry_gid(ent), AT_SYMLINK_NOFOLLOW) < 0)
        return dd_err_sys(e, "chown %s", rel);
    if (type != AE_IFLNK && fchmodat(pfd, name, archive_entry_perm(ent) & 07777, 0) < 0)
        return dd_err_sys(e, "chmod %s", rel);
    (void)set_times_at(pfd, name, ent);
    return 0;
}

/* .wh.<name> hides <name> of lower layers; .wh..wh..opq hides the whole directory's lower
 * content. Other .wh..wh.* names are aufs bookkeeping and carry nothing. */
static int make_whiteout(struct unpack *u, struct archive_entry *ent, int pfd, const char *name,
                         const char *rel, dd_err *e)
{
    if (dd_streq(name, WH_OPAQUE)) {
        _cleanup_close_ int dfd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
            return dd_err_sys(e, "opening the directory of %s", rel);
        if (fsetxattr(dfd, "trusted.overlay.opaque", "y", 1, 0) < 0)
            return dd_err_sys(e, "marking %s opaque", rel);
        return 0;
    }
    if (dd_startswith(name, WH_META))
        return 0;
    const char *hidden = name + strlen(WH_PREFIX);
    _cleanup_free_ char *hrel = dd_strndup(rel, name - rel);
    char *tmp = dd_asprintf("%s%s", hrel, hidden);
    free(hrel);
    hrel = tmp;
    int r = clear_target(u, pfd, hidden, hrel, false, e);
    if (r < 0)
        return r;
    if (mknodat(pfd, hidden, S_IFCHR, makedev(0, 0)) < 0)
        return dd_err_sys(e, "creating whiteout %s", hrel);
    (void)fchownat(pfd, hidden, archive_entry_uid(ent), archive_entry_gid(ent),
                   AT_SYMLINK_NOFOLLOW);
    return 0;
}

static int unpack_entry(struct unpack *u, struct archive *a, struct archive_entry *ent, dd_err *e)
{
    const char *path = archive_entry_pathname(ent);
    _cleanup_free_ char *rel = NULL;
    if (!path)
        return dd_err_set(e, EINVAL, "invalid tar entry: it has no name");
    int r = tar_path_clean(path, &rel, e);
    if (r < 0)
        return r;
    if (dd_streq(rel, "."))
        return 0; /* the root directory itself */
    const char *name;
    _cleanup_close_ int pfd = open_parent(u, rel, true, &name, e);
    if (pfd < 0)
        return pfd;
    if (!(u->flags & IMG_UNPACK_PLAIN) && dd_startswith(name, WH_PREFIX))
        return make_whiteout(u, ent, pfd, name, rel, e);
    const char *hardlink = archive_entry_hardlink(ent);
    bool is_dir = !hardlink && archive_entry_filetype(ent) == AE_IFDIR;
    r = clear_target(u, pfd, name, rel, is_dir, e);
    if (r < 0)
        return r;
    if (hardlink)
        return make_link(u, hardlink, pfd, name, rel, e);
    switch (archive_entry_filetype(ent)) {
    case AE_IFREG:
        return make_file(u, a, ent, pfd, name, rel, e);
    case AE_IFDIR:
        return make_dir(u, ent, pfd, name, rel, e);
    default:
        return make_special(u, ent, pfd, name, rel, e);
    }
}

static void finish_dirs(struct unpack *u)
{
    for (size_t i = 0; i < u->n_dirs; i++) {
        const char *name;
        int pfd = open_parent(u, u->dirs[i].rel, false, &name, NULL);
        if (pfd >= 0) {
            struct timespec ts[2] = {u->dirs[i].mtime, u->dirs[i].mtime};
            (void)utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW);
            close(pfd);
        }
        free(u->dirs[i].rel);
    }
    free(u->dirs);
}

int img_unpack(struct archive *a, const char *root_path, unsigned flags, int64_t *ret_size,
               dd_err *e)
{
    struct unpack u = {.root_path = root_path, .flags = flags};
    _cleanup_close_ int rootfd = open(root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return dd_err_sys(e, "opening %s", root_path);
    u.rootfd = rootfd;
    int r = 0;
    for (;;) {
        struct archive_entry *ent;
        int ar = archive_read_next_header(a, &ent);
        if (ar == ARCHIVE_EOF)
            break;
        if (ar < ARCHIVE_WARN) {
            r = dd_err_set(e, EINVAL, "reading the archive: %s", archive_error_string(a));
            break;
        }
        r = unpack_entry(&u, a, ent, e);
        if (r < 0)
            break;
    }
    finish_dirs(&u);
    if (r >= 0 && ret_size)
        *ret_size = u.size;
    return r;
}

struct archive *img_tar_reader(int fd)
{
    struct archive *a = archive_read_new();
    if (!a)
        return NULL;
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    if (archive_read_open_fd(a, fd, 65536) != ARCHIVE_OK) {
        archive_read_free(a);
        return NULL;
    }
    return a;
}

struct archive *img_raw_reader(int fd)
{
    struct archive *a = archive_read_new();
    if (!a)
        return NULL;
    archive_read_support_filter_all(a);
    archive_read_support_format_raw(a);
    if (archive_read_open_fd(a, fd, 65536) != ARCHIVE_OK) {
        archive_read_free(a);
        return NULL;
    }
    return a;
}

void img_archive_freep(struct archive **a)
{
    if (*a)
        archive_read_free(*a);
}
