/* The root filesystem: the overlay (or bind of a plain directory) the daemon-side rt_create
 * mounts at <state_dir>/rootfs in the host's mount namespace, and the child's walk that turns it
 * into the container's mount table (defaults + spec mounts + /dev) and pivots into it. The
 * mount mechanics (in-root resolution, options) are in mounts.c, device nodes in devices.c. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "dind/lib/rt/rt-internal.h"

static int overlay_data(const struct rt_spec *s, dd_buf *b, dd_err *e)
{
    dd_buf_adds(b, "lowerdir=");
    for (size_t i = 0; s->lower_dirs[i]; i++) {
        if (strpbrk(s->lower_dirs[i], ":,"))
            return dd_err_set(e, EINVAL, "layer path %s contains ':' or ','", s->lower_dirs[i]);
        dd_buf_addf(b, "%s%s", i ? ":" : "", s->lower_dirs[i]);
    }
    if (s->upper_dir) {
        if (!s->work_dir)
            return dd_err_set(e, EINVAL, "an overlay upper dir needs a work dir");
        if (strpbrk(s->upper_dir, ":,") || strpbrk(s->work_dir, ":,"))
            return dd_err_set(e, EINVAL, "upper/work dir paths may not contain ':' or ','");
        dd_buf_addf(b, ",upperdir=%s,workdir=%s", s->upper_dir, s->work_dir);
    }
    /* The kernel takes one page of options. */
    if (b->len >= 4000)
        return dd_err_set(e, E2BIG, "too many image layers for one overlay mount (%zu bytes)",
                          b->len);
    return 0;
}

/* A volatile overlay leaves work/incompat/volatile behind, and overlayfs refuses to mount that
 * work dir again (even after a clean unmount): the upper dir may have lost writes. Such a
 * container's layer is disposable by definition (see rt_spec), so it is mounted again. */
static void volatile_prepare(const struct rt_spec *s)
{
    _cleanup_free_ char *mark = dd_path_join(s->work_dir, "work/incompat/volatile");
    (void)dd_rm_rf(mark, NULL);
}

int rt_mount_rootfs(const struct rt_spec *s, const char *target, dd_err *e)
{
    if (s->lower_dirs && s->lower_dirs[0]) {
        dd_buf data = DD_BUF_INIT;
        int r = overlay_data(s, &data, e);
        if (r >= 0 && s->upper_dir && s->root_volatile) {
            volatile_prepare(s);
            size_t plain = data.len;
            dd_buf_adds(&data, ",volatile");
            if (mount("overlay", target, "overlay", 0, data.data) == 0) {
                dd_buf_release(&data);
                return 0;
            }
            data.len = plain; /* a kernel before 5.10: without it */
            data.data[plain] = '\0';
        }
        if (r >= 0 &&
            mount("overlay", target, "overlay", s->upper_dir ? 0 : MS_RDONLY, data.data) < 0) {
            if (errno == EINVAL && s->upper_dir)
                r = dd_err_sys(e,
                               "mounting the overlay rootfs (is %s on overlayfs? the upper "
                               "dir must be on a real filesystem)",
                               s->upper_dir);
            else
                r = dd_err_sys(e, "mounting the overlay rootfs");
        }
        dd_buf_release(&data);
        return r;
    }
    if (!s->root_path)
        return dd_err_set(e, EINVAL, "the spec has no root filesystem");
    if (mount(s->root_path, target, NULL, MS_BIND | MS_REC, NULL) < 0)
        return dd_err_sys(e, "bind-mounting the rootfs %s", s->root_path);
    return 0;
}

static bool has_mount_at(const struct rt_spec *s, const char *dest)
{
    for (size_t i = 0; i < s->n_mounts; i++)
        if (dd_streq(s->mounts[i].destination, dest))
            return true;
    return false;
}

static int default_mount(struct rt_child_ctx *c, int rootfd, const char *dest, const char *type,
                         const char *const *opts, dd_err *e)
{
    if (has_mount_at(c->spec, dest))
        return 0;
    struct rt_mount m = {(char *)dest, (char *)type, (char *)type, (char **)opts};
    return rt_do_mount(c, rootfd, &m, e);
}

static int default_mounts(struct rt_child_ctx *c, int rootfd, dd_err *e)
{
    const struct rt_spec *s = c->spec;
    static const char *const proc[] = {"nosuid", "noexec", "nodev", NULL};
    static const char *const dev[] = {"nosuid", "strictatime", "mode=755", "size=65536k", NULL};
    static const char *const pts[] = {"nosuid",    "noexec", "newinstance", "ptmxmode=0666",
                                      "mode=0620", "gid=5",  NULL};
    static const char *const shm[] = {"nosuid",    "noexec",      "nodev",
                                      "mode=1777", "size=65536k", NULL};
    static const char *const mq[] = {"nosuid", "noexec", "nodev", NULL};
    static const char *const sys_ro[] = {"nosuid", "noexec", "nodev", "ro", NULL};
    static const char *const sys_rw[] = {"nosuid", "noexec", "nodev", NULL};
    bool priv = s->privileged;
    int r;
    if ((r = default_mount(c, rootfd, "/proc", "proc", proc, e)) < 0 ||
        (r = default_mount(c, rootfd, "/dev", "tmpfs", dev, e)) < 0)
        return r;
    if (!has_mount_at(s, "/dev") && (r = rt_setup_dev(c, rootfd, e)) < 0)
        return r;
    if ((r = default_mount(c, rootfd, "/dev/pts", "devpts", pts, e)) < 0 ||
        (r = default_mount(c, rootfd, "/dev/shm", "tmpfs", shm, e)) < 0)
        return r;
    if (s->namespaces[RT_NS_IPC].mode != RT_NS_HOST &&
        (r = default_mount(c, rootfd, "/dev/mqueue", "mqueue", mq, e)) < 0)
        return r;
    if ((r = default_mount(c, rootfd, "/sys", "sysfs", priv ? sys_rw : sys_ro, e)) < 0)
        return r;
    if (c->n_cgroup_mounts && !has_mount_at(s, "/sys/fs/cgroup"))
        r = rt_do_mount(c, rootfd,
                        &(struct rt_mount){(char *)"/sys/fs/cgroup", (char *)"cgroup", NULL,
                                           (char *[]){priv ? (char *)"rw" : (char *)"ro", NULL}},
                        e);
    return r;
}

static size_t depth(const char *p)
{
    size_t n = 0;
    for (; p && *p; p++)
        n += *p == '/' && p[1] && p[1] != '/';
    return n;
}

/* The spec's mounts, parents before children (stable for equal depth, like Docker's sort). */
static int spec_mounts(struct rt_child_ctx *c, int rootfd, dd_err *e)
{
    const struct rt_spec *s = c->spec;
    size_t maxd = 0;
    for (size_t i = 0; i < s->n_mounts; i++)
        if (depth(s->mounts[i].destination) > maxd)
            maxd = depth(s->mounts[i].destination);
    for (size_t d = 0; d <= maxd; d++) {
        for (size_t i = 0; i < s->n_mounts; i++) {
            if (depth(s->mounts[i].destination) != d)
                continue;
            int r = rt_do_mount(c, rootfd, &s->mounts[i], e);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

static int make_cwd(const struct rt_process *p, int rootfd, dd_err *e)
{
    if (!p->cwd || !*p->cwd)
        return 0;
    int fd = rt_open_in_root(rootfd, p->cwd, RT_CREATE_DIR, e);
    if (fd < 0)
        return fd;
    close(fd);
    return 0;
}

int rt_setup_mounts(struct rt_child_ctx *c, dd_err *e)
{
    /* Nothing we do below may propagate back to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
        return dd_err_sys(e, "making / a slave mount");
    if (mount(c->rootfs, c->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
        return dd_err_sys(e, "bind-mounting the rootfs");
    _cleanup_close_ int rootfd = open(c->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return dd_err_sys(e, "opening the rootfs %s", c->rootfs);
    int r;
    if ((r = make_cwd(&c->spec->process, rootfd, e)) < 0 ||
        (r = default_mounts(c, rootfd, e)) < 0 || (r = spec_mounts(c, rootfd, e)) < 0)
        return r;
    if ((r = rt_pivot_root(c->rootfs, e)) < 0)
        return r;
    return rt_finish_mounts(c->spec, e);
}
