/* vol-copy: dockerd's copy-up of a volume: when a container starts with an empty volume mounted
 * at a path where its image has content, that content is copied into the volume first (files,
 * directories, symlinks, device nodes and fifos, with owners, modes and modification times;
 * hard links become separate copies). Both sides are walked with directory fds: the source is
 * opened inside the container's rootfs with openat2(RESOLVE_IN_ROOT) and nothing below it follows
 * symlinks, so an image cannot point the copy at host files. Runs on the event loop (like
 * dockerd, which copies synchronously at start); image paths under a volume are small in
 * practice.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/openat2.h>

#include "container-internal.h"
#include "ctr-volumes.h"
#include "dind/json.h"

#define COPY_MAX_DEPTH 128

static int open_in_root(int rootfd, const char *path)
{
    return dd_openat2(rootfd, path, O_RDONLY | O_DIRECTORY,
                      RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

static bool dir_empty(int fd)
{
    int d = dup(fd);
    DIR *dir = d >= 0 ? fdopendir(d) : NULL;
    if (!dir) {
        if (d >= 0)
            close(d);
        return false;
    }
    bool empty = true;
    for (struct dirent *de; empty && (de = readdir(dir));)
        empty = dd_streq(de->d_name, ".") || dd_streq(de->d_name, "..");
    closedir(dir);
    return empty;
}

static int copy_data(int sfd, int dfd)
{
    char buf[64 * 1024];
    for (;;) {
        ssize_t n = copy_file_range(sfd, NULL, dfd, NULL, 1 << 30, 0);
        if (n == 0)
            return 0;
        if (n > 0)
            continue;
        if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
            return -errno;
        break;
    }
    for (;;) {
        ssize_t n = read(sfd, buf, sizeof(buf));
        if (n == 0)
            return 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(dfd, buf + off, (size_t)(n - off));
            if (w < 0 && errno != EINTR)
                return -errno;
            off += w > 0 ? w : 0;
        }
    }
}

static int copy_file(int sdir, int ddir, const char *name, const struct stat *st)
{
    _cleanup_close_ int s = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (s < 0)
        return -errno;
    _cleanup_close_ int d =
        openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (d < 0)
        return -errno;
    int r = copy_data(s, d);
    if (r < 0)
        return r;
    struct timespec ts[2] = {st->st_atim, st->st_mtim};
    if (fchown(d, st->st_uid, st->st_gid) < 0 || fchmod(d, st->st_mode & 07777) < 0 ||
        futimens(d, ts) < 0)
        return -errno;
    return 0;
}

static int copy_tree(int sdir, int ddir, int depth, dd_err *e);

static int copy_entry(int sdir, int ddir, const char *name, int depth, dd_err *e)
{
    struct stat st;
    if (fstatat(sdir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return dd_err_sys(e, "stat %s", name);
    int r = 0;
    if (S_ISDIR(st.st_mode)) {
        if (mkdirat(ddir, name, 0700) < 0)
            return dd_err_sys(e, "mkdir %s", name);
        _cleanup_close_ int s = openat(sdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_close_ int d = openat(ddir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (s < 0 || d < 0)
            return dd_err_sys(e, "opening %s", name);
        if ((r = copy_tree(s, d, depth + 1, e)) < 0)
            return dd_err_wrap(e, "%s", name);
        struct timespec ts[2] = {st.st_atim, st.st_mtim};
        if (fchown(d, st.st_uid, st.st_gid) < 0 || fchmod(d, st.st_mode & 07777) < 0 ||
            futimens(d, ts) < 0)
            return dd_err_sys(e, "setting the owner and mode of %s", name);
        return 0;
    }
    if (S_ISREG(st.st_mode)) {
        r = copy_file(sdir, ddir, name, &st);
        return r < 0 ? dd_err_set(e, -r, "copying %s: %s", name, strerror(-r)) : 0;
    }
    if (S_ISLNK(st.st_mode)) {
        char target[4096];
        ssize_t n = readlinkat(sdir, name, target, sizeof(target) - 1);
        if (n < 0)
            return dd_err_sys(e, "readlink %s", name);
        target[n] = '\0';
        if (symlinkat(target, ddir, name) < 0)
            return dd_err_sys(e, "symlink %s", name);
    } else if (mknodat(ddir, name, st.st_mode, st.st_rdev) < 0) {
        return dd_err_sys(e, "mknod %s", name);
    }
    if (fchownat(ddir, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
        return dd_err_sys(e, "chown %s", name);
    return 0;
}

static int copy_tree(int sdir, int ddir, int depth, dd_err *e)
{
    if (depth > COPY_MAX_DEPTH)
        return dd_err_set(e, ELOOP, "directories nested deeper than %d", COPY_MAX_DEPTH);
    int fd = dup(sdir);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    if (!dir) {
        if (fd >= 0)
            close(fd);
        return dd_err_sys(e, "reading a directory");
    }
    int r = 0;
    for (struct dirent *de; r == 0 && (de = readdir(dir));)
        if (!dd_streq(de->d_name, ".") && !dd_streq(de->d_name, ".."))
            r = copy_entry(sdir, ddir, de->d_name, depth, e);
    closedir(dir);
    return r;
}

static int populate_one(int rootfd, const char *dest, const char *source, dd_err *e)
{
    _cleanup_close_ int s = open_in_root(rootfd, dest);
    if (s < 0)
        return errno == ENOENT || errno == ENOTDIR ? 0 : dd_err_sys(e, "opening %s", dest);
    _cleanup_close_ int d = open(source, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (d < 0)
        return dd_err_sys(e, "opening %s", source);
    if (!dir_empty(d))
        return 0;
    struct stat st;
    if (fstat(s, &st) < 0)
        return dd_err_sys(e, "stat %s", dest);
    int r = copy_tree(s, d, 0, e);
    if (r < 0)
        return r;
    if (fchown(d, st.st_uid, st.st_gid) < 0 || fchmod(d, st.st_mode & 07777) < 0)
        return dd_err_sys(e, "setting the owner and mode of %s", source);
    return 0;
}

int ctr_volumes_populate(struct container *c, dd_err *e)
{
    if (!json_array_size(c->volumes))
        return 0;
    _cleanup_close_ int rootfd = open(c->rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return dd_err_sys(e, "opening the rootfs of %s", c->id);
    for (size_t i = 0; i < json_array_size(c->volumes); i++) {
        json_t *ent = json_array_get(c->volumes, i);
        if (json_is_true(json_object_get(ent, "NoCopy")))
            continue;
        const char *dest = json_string_value(json_object_get(ent, "Destination"));
        const char *src = json_string_value(json_object_get(ent, "Source"));
        int r = populate_one(rootfd, dest, src, e);
        if (r < 0)
            return dd_err_wrap(e, "copying the image's %s into volume %s", dest,
                               json_string_value(json_object_get(ent, "Name")));
    }
    return 0;
}
