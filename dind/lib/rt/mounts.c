/* The container's mount table, built in the child's new mount namespace: everything becomes a
 * slave of the host (nothing we mount propagates out), the default filesystems (/proc, /dev,
 * /dev/pts, /dev/shm, /dev/mqueue, /sys, /sys/fs/cgroup) unless the spec mounts something at the
 * same place, then the spec's mounts, shallowest first; then pivot_root (never chroot), masked and
 * read-only paths, sysctls and the read-only root.
 *
 * Every destination is resolved inside the rootfs with openat2(RESOLVE_IN_ROOT): a symlink or
 * ".." in the image can never make us mount over a host path. Missing destinations are created
 * with mkdirat/openat relative to a directory fd that was itself resolved inside the root, and
 * the mount targets /proc/self/fd/N of the resolved fd, so no path is looked up twice. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <linux/openat2.h>

#include "dind/lib/rt/rt-internal.h"

const char *const rt_default_masked_paths[] = {
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
    NULL,
};
const char *const rt_default_readonly_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};

static int openat_in_root(int rootfd, const char *path, int flags)
{
    while (*path == '/')
        path++;
    if (!*path)
        path = ".";
    int fd = dd_openat2(rootfd, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
    return fd < 0 ? -errno : fd;
}

static int create_component(int rootfd, const char *parent, const char *name, bool file)
{
    int pfd = openat_in_root(rootfd, parent, O_PATH | O_DIRECTORY);
    if (pfd < 0)
        return pfd;
    int r = 0;
    if (file) {
        int fd = openat(pfd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST)
            r = -errno;
        if (fd >= 0)
            close(fd);
    } else if (mkdirat(pfd, name, 0755) < 0 && errno != EEXIST) {
        r = -errno;
    }
    close(pfd);
    return r;
}

int rt_open_in_root(int rootfd, const char *path, int create, dd_err *e)
{
    int fd = openat_in_root(rootfd, path, O_PATH);
    if (fd >= 0 || fd != -ENOENT || create == RT_CREATE_NONE) {
        if (fd < 0)
            return dd_err_set(e, -fd, "resolving %s in the rootfs: %s", path, strerror(-fd));
        return fd;
    }
    _cleanup_free_ char *copy = dd_strdup(path);
    dd_buf prefix = DD_BUF_INIT;
    dd_buf_adds(&prefix, "/");
    char *save = NULL;
    int r = 0;
    for (char *comp = strtok_r(copy, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
        bool last = save == NULL || *save == '\0';
        _cleanup_free_ char *parent = dd_strdup(prefix.data);
        dd_buf_addf(&prefix, "%s%s", prefix.len > 1 ? "/" : "", comp);
        int cfd = openat_in_root(rootfd, prefix.data, O_PATH);
        if (cfd >= 0) {
            close(cfd);
            continue;
        }
        r = create_component(rootfd, parent, comp, last && create == RT_CREATE_FILE);
        if (r < 0)
            break;
    }
    if (r >= 0)
        r = openat_in_root(rootfd, path, O_PATH);
    dd_buf_release(&prefix);
    if (r < 0)
        return dd_err_set(e, -r, "creating %s in the rootfs: %s", path, strerror(-r));
    return r;
}

struct mount_opts {
    unsigned long flags, clear, propagation;
    bool bind, recursive;
    dd_buf data;
};

static void parse_options(char *const *options, struct mount_opts *o)
{
    static const struct {
        const char *name;
        unsigned long set, clear, prop;
    } table[] = {
        {"ro", MS_RDONLY, 0, 0},
        {"rw", 0, MS_RDONLY, 0},
        {"nosuid", MS_NOSUID, 0, 0},
        {"suid", 0, MS_NOSUID, 0},
        {"nodev", MS_NODEV, 0, 0},
        {"dev", 0, MS_NODEV, 0},
        {"noexec", MS_NOEXEC, 0, 0},
        {"exec", 0, MS_NOEXEC, 0},
        {"relatime", MS_RELATIME, 0, 0},
        {"strictatime", MS_STRICTATIME, 0, 0},
        {"noatime", MS_NOATIME, 0, 0},
        {"private", 0, 0, MS_PRIVATE},
        {"rprivate", 0, 0, MS_PRIVATE | MS_REC},
        {"shared", 0, 0, MS_SHARED},
        {"rshared", 0, 0, MS_SHARED | MS_REC},
        {"slave", 0, 0, MS_SLAVE},
        {"rslave", 0, 0, MS_SLAVE | MS_REC},
        {"unbindable", 0, 0, MS_UNBINDABLE},
    };
    for (size_t i = 0; options && options[i]; i++) {
        const char *opt = options[i];
        bool known = false;
        if (strcmp(opt, "bind") == 0 || strcmp(opt, "rbind") == 0) {
            o->bind = true;
            o->recursive |= opt[0] == 'r';
            continue;
        }
        for (size_t k = 0; k < DD_ARRAY_SIZE(table) && !known; k++) {
            if (strcmp(opt, table[k].name) != 0)
                continue;
            known = true;
            o->flags = (o->flags | table[k].set) & ~table[k].clear;
            o->clear |= table[k].clear;
            o->propagation |= table[k].prop;
        }
        if (!known)
            dd_buf_addf(&o->data, "%s%s", o->data.len ? "," : "", opt);
    }
}

static int remount_flags(int fd, unsigned long flags, dd_err *e, const char *dest)
{
    char target[64];
    snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
    struct statvfs sv;
    /* Keep the flags the mount already has (the kernel refuses to drop locked ones). */
    if (fstatvfs(fd, &sv) == 0) {
        if (sv.f_flag & ST_NOSUID)
            flags |= MS_NOSUID;
        if (sv.f_flag & ST_NODEV)
            flags |= MS_NODEV;
        if (sv.f_flag & ST_NOEXEC)
            flags |= MS_NOEXEC;
    }
    if (mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | flags, NULL) < 0)
        return dd_err_sys(e, "remounting %s", dest);
    return 0;
}

static int mount_bind(int rootfd, const struct rt_mount *m, struct mount_opts *o, dd_err *e)
{
    struct stat st;
    if (stat(m->source, &st) < 0)
        return dd_err_sys(e, "bind source path %s", m->source);
    int create = S_ISDIR(st.st_mode) ? RT_CREATE_DIR : RT_CREATE_FILE;
    _cleanup_close_ int fd = rt_open_in_root(rootfd, m->destination, create, e);
    if (fd < 0)
        return fd;
    char target[64];
    snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
    if (mount(m->source, target, NULL, MS_BIND | (o->recursive ? MS_REC : 0), NULL) < 0)
        return dd_err_sys(e, "bind-mounting %s on %s", m->source, m->destination);
    /* Reopen: the old fd is the mount point below the new mount. */
    _cleanup_close_ int nfd = rt_open_in_root(rootfd, m->destination, RT_CREATE_NONE, e);
    if (nfd < 0)
        return nfd;
    unsigned long f = o->flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
    if (f && remount_flags(nfd, f, e, m->destination) < 0)
        return -e->code;
    snprintf(target, sizeof(target), "/proc/self/fd/%d", nfd);
    if (o->propagation && mount(NULL, target, NULL, o->propagation, NULL) < 0)
        return dd_err_sys(e, "setting propagation of %s", m->destination);
    return 0;
}

static int mount_fs(int rootfd, const struct rt_mount *m, struct mount_opts *o, dd_err *e)
{
    _cleanup_close_ int fd = rt_open_in_root(rootfd, m->destination, RT_CREATE_DIR, e);
    if (fd < 0)
        return fd;
    char target[64];
    snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
    const char *src = m->source && *m->source ? m->source : m->type;
    if (mount(src, target, m->type, o->flags, o->data.len ? o->data.data : NULL) < 0)
        return dd_err_sys(e, "mounting %s on %s", m->type, m->destination);
    if (o->propagation) {
        _cleanup_close_ int nfd = rt_open_in_root(rootfd, m->destination, RT_CREATE_NONE, e);
        if (nfd < 0)
            return nfd;
        snprintf(target, sizeof(target), "/proc/self/fd/%d", nfd);
        if (mount(NULL, target, NULL, o->propagation, NULL) < 0)
            return dd_err_sys(e, "setting propagation of %s", m->destination);
    }
    return 0;
}

/* The host's cgroup hierarchies, each mounted again inside (the cgroup namespace makes their
 * root our own cgroup), under a tmpfs for v1 and directly for a pure v2 host. */
static int mount_cgroupfs(struct rt_child_ctx *c, int rootfd, const char *dest, bool ro, dd_err *e)
{
    unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | (ro ? MS_RDONLY : 0);
    bool v2_only = c->n_cgroup_mounts == 1 && !*c->cgroup_mounts[0].subdir;
    if (!v2_only) {
        char *opts[] = {(char *)"mode=755", NULL};
        struct rt_mount tm = {(char *)dest, (char *)"tmpfs", (char *)"tmpfs", opts};
        struct mount_opts o = {.flags = MS_NOSUID | MS_NODEV | MS_NOEXEC};
        dd_buf_adds(&o.data, "mode=755");
        int r = mount_fs(rootfd, &tm, &o, e);
        dd_buf_release(&o.data);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < c->n_cgroup_mounts; i++) {
        const struct rt_cgroup_mount *cm = &c->cgroup_mounts[i];
        _cleanup_free_ char *path = dd_asprintf("%s/%s", dest, cm->subdir);
        _cleanup_close_ int fd = rt_open_in_root(rootfd, path, RT_CREATE_DIR, e);
        if (fd < 0)
            return fd;
        char target[64];
        snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
        if (mount("cgroup", target, cm->type, flags, *cm->options ? cm->options : NULL) < 0)
            return dd_err_sys(e, "mounting %s %s on %s", cm->type, cm->options, path);
    }
    if (!v2_only && ro) {
        _cleanup_close_ int fd = rt_open_in_root(rootfd, dest, RT_CREATE_NONE, e);
        if (fd < 0 || remount_flags(fd, MS_RDONLY, e, dest) < 0)
            return -e->code;
    }
    return 0;
}

int rt_do_mount(struct rt_child_ctx *c, int rootfd, const struct rt_mount *m, dd_err *e)
{
    if (!m->destination || m->destination[0] != '/')
        return dd_err_set(e, EINVAL, "mount destination %s is not absolute",
                          m->destination ? m->destination : "(none)");
    struct mount_opts o = {0};
    parse_options(m->options, &o);
    int r;
    if (dd_streq(m->type, "cgroup"))
        r = mount_cgroupfs(c, rootfd, m->destination, o.flags & MS_RDONLY, e);
    else if (o.bind || dd_streq(m->type, "bind"))
        r = mount_bind(rootfd, m, &o, e);
    else
        r = mount_fs(rootfd, m, &o, e);
    dd_buf_release(&o.data);
    return r;
}

int rt_pivot_root(const char *rootfs, dd_err *e)
{
    if (chdir(rootfs) < 0)
        return dd_err_sys(e, "entering %s", rootfs);
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        return dd_err_sys(e, "pivot_root");
    /* The old root now sits on top of the new one: detach it. */
    if (umount2(".", MNT_DETACH) < 0)
        return dd_err_sys(e, "detaching the old root");
    if (chdir("/") < 0)
        return dd_err_sys(e, "chdir /");
    return 0;
}

static int mask_path(const char *path, dd_err *e)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return 0; /* nothing to hide */
    if (S_ISDIR(st.st_mode)) {
        if (mount("tmpfs", path, "tmpfs", MS_RDONLY, NULL) < 0)
            return dd_err_sys(e, "masking %s", path);
    } else if (mount("/dev/null", path, NULL, MS_BIND, NULL) < 0) {
        return dd_err_sys(e, "masking %s", path);
    }
    return 0;
}

static int readonly_path(const char *path, dd_err *e)
{
    if (access(path, F_OK) < 0)
        return 0;
    if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
        return dd_err_sys(e, "making %s read-only", path);
    _cleanup_close_ int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return dd_err_sys(e, "opening %s", path);
    return remount_flags(fd, MS_RDONLY, e, path);
}

static int write_sysctls(char *const *sysctls, dd_err *e)
{
    for (size_t i = 0; sysctls && sysctls[i]; i++) {
        const char *eq = strchr(sysctls[i], '=');
        if (!eq || eq == sysctls[i] || memchr(sysctls[i], '/', (size_t)(eq - sysctls[i])))
            return dd_err_set(e, EINVAL, "invalid sysctl %s", sysctls[i]);
        _cleanup_free_ char *key = dd_strndup(sysctls[i], (size_t)(eq - sysctls[i]));
        for (char *p = key; *p; p++)
            if (*p == '.')
                *p = '/';
        _cleanup_free_ char *path = dd_asprintf("/proc/sys/%s", key);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 || dd_write_all(fd, eq + 1, strlen(eq + 1)) < 0)
            return dd_err_sys(e, "setting sysctl %s", sysctls[i]);
    }
    return 0;
}

/* After pivot_root: sysctls, masks, read-only paths, read-only root. */
int rt_finish_mounts(const struct rt_spec *s, dd_err *e)
{
    int r = write_sysctls(s->sysctls, e);
    if (r < 0)
        return r;
    const char *const *v = s->masked_paths ? (const char *const *)s->masked_paths
                                           : (s->privileged ? NULL : rt_default_masked_paths);
    for (size_t i = 0; v && v[i]; i++)
        if ((r = mask_path(v[i], e)) < 0)
            return r;
    v = s->readonly_paths ? (const char *const *)s->readonly_paths
                          : (s->privileged ? NULL : rt_default_readonly_paths);
    for (size_t i = 0; v && v[i]; i++)
        if ((r = readonly_path(v[i], e)) < 0)
            return r;
    if (s->root_readonly && mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
        return dd_err_sys(e, "making the root filesystem read-only");
    return 0;
}
