/* The container's /dev, on the fresh tmpfs rootfs.c mounted: Docker's default nodes (null zero
 * full random urandom tty), the spec's extra devices, every host device for a privileged
 * container, the /dev/fd and std* symlinks, /dev/ptmx → pts/ptmx, and an empty /dev/console
 * for a terminal's pty to be bound onto. Where mknod is not allowed (a user namespace), the
 * host node is bind-mounted instead. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "dind/lib/rt/rt-internal.h"

static int make_node(int rootfd, const char *path, mode_t mode, dev_t rdev, uid_t uid, gid_t gid,
                     dd_err *e)
{
    _cleanup_free_ char *dir = dd_strdup(path);
    char *slash = strrchr(dir, '/');
    const char *name = slash ? slash + 1 : dir;
    if (slash)
        *slash = '\0';
    _cleanup_close_ int dfd = rt_open_in_root(rootfd, slash && *dir ? dir : "/", RT_CREATE_DIR, e);
    if (dfd < 0)
        return dfd;
    /* O_PATH dirfd: reopen as a real directory for mknodat. */
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dfd);
    _cleanup_close_ int d = open(proc, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0)
        return dd_err_sys(e, "opening %s", dir);
    unlinkat(d, name, 0);
    if (mknodat(d, name, mode, rdev) == 0) {
        (void)fchownat(d, name, uid, gid, AT_SYMLINK_NOFOLLOW);
        (void)fchmodat(d, name, mode & 07777, 0);
        return 0;
    }
    if (errno != EPERM)
        return dd_err_sys(e, "creating device %s", path);
    /* No mknod here: bind the host's node (same path) onto an empty file. */
    int fd = openat(d, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    if (fd >= 0)
        close(fd);
    _cleanup_close_ int t = rt_open_in_root(rootfd, path, RT_CREATE_NONE, e);
    if (t < 0)
        return t;
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", t);
    if (mount(path, proc, NULL, MS_BIND, NULL) < 0)
        return dd_err_sys(e, "bind-mounting device %s", path);
    return 0;
}

static int default_nodes(int rootfd, dd_err *e)
{
    static const struct {
        const char *path;
        unsigned major, minor;
    } nodes[] = {
        {"/dev/null", 1, 3},   {"/dev/zero", 1, 5},    {"/dev/full", 1, 7},
        {"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0},
    };
    for (size_t i = 0; i < DD_ARRAY_SIZE(nodes); i++) {
        int r = make_node(rootfd, nodes[i].path, S_IFCHR | 0666,
                          makedev(nodes[i].major, nodes[i].minor), 0, 0, e);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Copies every character and block device under the host's dir (recursively; not pts, shm,
 * mqueue, which the container gets fresh). */
static int host_nodes(int rootfd, const char *dir, dd_err *e)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int r = 0;
    struct dirent *de;
    while (r >= 0 && (de = readdir(d))) {
        if (de->d_name[0] == '.' ||
            (strcmp(dir, "/dev") == 0 &&
             (strcmp(de->d_name, "pts") == 0 || strcmp(de->d_name, "shm") == 0 ||
              strcmp(de->d_name, "mqueue") == 0 || strcmp(de->d_name, "console") == 0 ||
              strcmp(de->d_name, "ptmx") == 0)))
            continue;
        _cleanup_free_ char *path = dd_asprintf("%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(path, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode))
            r = host_nodes(rootfd, path, e);
        else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
            r = make_node(rootfd, path, st.st_mode, st.st_rdev, st.st_uid, st.st_gid, e);
    }
    closedir(d);
    return r;
}

static int dev_links(int rootfd, bool console, dd_err *e)
{
    static const char *const links[][2] = {
        {"/proc/self/fd", "fd"},       {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
        {"/proc/self/fd/2", "stderr"}, {"pts/ptmx", "ptmx"},
    };
    _cleanup_close_ int dfd = rt_open_in_root(rootfd, "/dev", RT_CREATE_DIR, e);
    if (dfd < 0)
        return dfd;
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dfd);
    _cleanup_close_ int d = open(proc, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0)
        return dd_err_sys(e, "opening /dev");
    for (size_t i = 0; i < DD_ARRAY_SIZE(links); i++) {
        unlinkat(d, links[i][1], 0);
        if (symlinkat(links[i][0], d, links[i][1]) < 0)
            return dd_err_sys(e, "creating /dev/%s", links[i][1]);
    }
    if (console) {
        int fd = openat(d, "console", O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
            return dd_err_sys(e, "creating /dev/console");
        close(fd);
    }
    return 0;
}

int rt_setup_dev(struct rt_child_ctx *c, int rootfd, dd_err *e)
{
    const struct rt_spec *s = c->spec;
    int r = default_nodes(rootfd, e);
    if (r >= 0 && s->privileged)
        r = host_nodes(rootfd, "/dev", e);
    for (size_t i = 0; r >= 0 && i < s->n_devices; i++) {
        const struct rt_device *d = &s->devices[i];
        if (!d->path || d->path[0] != '/' || (d->type != 'c' && d->type != 'b'))
            return dd_err_set(e, EINVAL, "invalid device %s", d->path ? d->path : "(none)");
        mode_t type = d->type == 'b' ? S_IFBLK : S_IFCHR;
        r = make_node(rootfd, d->path, type | (d->mode & 07777 ? d->mode & 07777 : 0666),
                      makedev(d->major, d->minor), d->uid, d->gid, e);
    }
    if (r >= 0)
        r = dev_links(rootfd, s->process.terminal, e);
    return r;
}
