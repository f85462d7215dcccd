/* The daemon's side of the lifecycle: rt_create (state dir, rootfs mount, cgroup, shim),
 * rt_start / rt_resize / rt_attach_connect (one line to the shim's control socket), rt_delete
 * and rt_top. Nothing is cached: every call works from the state directory, so a daemon that
 * restarted uses the same calls on containers an earlier instance created. */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include "dind/lib/rt/rt-cgroup.h"
#include "dind/lib/rt/rt-helper.h"

static bool valid_id(const char *id)
{
    if (!id || !*id || strlen(id) > 128 || id[0] == '.')
        return false;
    for (const char *p = id; *p; p++)
        if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') && !(*p >= '0' && *p <= '9') &&
            *p != '_' && *p != '.' && *p != '-')
            return false;
    return true;
}

static int validate(const struct rt_spec *s, dd_err *e)
{
    if (!valid_id(s->id))
        return dd_err_set(e, EINVAL, "invalid container id \"%s\"", s->id ? s->id : "");
    if (!s->process.args || !s->process.args[0])
        return dd_err_set(e, EINVAL, "no command specified");
    if (!(s->lower_dirs && s->lower_dirs[0]) && !s->root_path)
        return dd_err_set(e, EINVAL, "the spec has no root filesystem");
    for (int i = 0; i < RT_NS_COUNT; i++)
        if (s->namespaces[i].mode == RT_NS_JOIN && !s->namespaces[i].path)
            return dd_err_set(e, EINVAL, "a namespace to join needs a path");
    if (s->namespaces[RT_NS_MOUNT].mode == RT_NS_HOST)
        return dd_err_set(e, EINVAL, "a container cannot share the host's mount namespace");
    return 0;
}

/* Reads one '\n'-terminated line byte by byte (nothing after it is consumed). */
static int read_line(int fd, char *buf, size_t size)
{
    size_t n = 0;
    while (n + 1 < size) {
        ssize_t r = read(fd, buf + n, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -errno : -ECONNRESET;
        if (buf[n] == '\n')
            break;
        n++;
    }
    buf[n] = '\0';
    return 0;
}

/* "OK rest" → 0 and *ret_rest; "ERR code msg" → -code with e set. */
static int parse_reply(const char *line, const char **ret_rest, dd_err *e)
{
    if (dd_startswith(line, "OK")) {
        *ret_rest = line[2] == ' ' ? line + 3 : line + 2;
        return 0;
    }
    int code = EIO, off = 0;
    if (sscanf(line, "ERR %d %n", &code, &off) < 1 || off == 0)
        return dd_err_set(e, EIO, "shim: unexpected reply \"%s\"", line);
    return dd_err_set(e, code, "%s", line + off);
}

int rt_shim_command(const char *state_dir, const char *cmd, char **ret_reply, dd_err *e)
{
    _cleanup_close_ int dfd = open(state_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return dd_err_sys(e, "opening %s", state_dir);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    /* Through the directory fd: the state dir's path may be longer than sun_path. */
    snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dfd, RT_FILE_SOCK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (errno == ENOENT || errno == ECONNREFUSED)
            return dd_err_set(e, ESRCH, "the container's shim is not running");
        return dd_err_sys(e, "connecting to the shim");
    }
    _cleanup_free_ char *line = dd_asprintf("%s\n", cmd);
    if (dd_write_all(fd, line, strlen(line)) < 0)
        return dd_err_sys(e, "talking to the shim");
    char reply[2048];
    int r = read_line(fd, reply, sizeof(reply));
    if (r < 0)
        return dd_err_set(e, -r, "the shim closed the connection");
    const char *rest = NULL;
    if ((r = parse_reply(reply, &rest, e)) < 0)
        return r;
    if (ret_reply)
        *ret_reply = dd_strdup(rest);
    return TAKE_FD(fd);
}

static int start_shim(const char *state_dir, dd_err *e)
{
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
        return dd_err_sys(e, "socketpair");
    char *argv[] = {(char *)RT_SHIM_ARGV0, (char *)state_dir, NULL};
    int fds[4] = {-1, -1, -1, sp[1]};
    int r = rt_spawn_helper_detached(argv, fds, 4, e);
    close(sp[1]);
    if (r < 0) {
        close(sp[0]);
        return r;
    }
    char line[2048];
    r = read_line(sp[0], line, sizeof(line));
    close(sp[0]);
    if (r < 0)
        return dd_err_set(e, EIO, "the shim exited during its setup");
    const char *rest = NULL;
    return parse_reply(line, &rest, e);
}

static void unmount_rootfs(const char *rootfs)
{
    /* A rootfs may be stacked (a create retried): unmount until nothing is left. */
    for (int i = 0; i < 16; i++)
        if (umount2(rootfs, UMOUNT_NOFOLLOW) < 0 &&
            umount2(rootfs, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
            break;
}

static int write_seccomp(const struct rt_spec *spec, const char *state_dir, dd_err *e)
{
    if (!spec->seccomp || spec->privileged)
        return 0;
    _cleanup_free_ void *prog = NULL;
    size_t len = 0;
    int r = rt_seccomp_bpf_get(spec->capabilities, &prog, &len, e);
    if (r < 0)
        return r;
    _cleanup_free_ char *path = dd_path_join(state_dir, RT_FILE_SECCOMP);
    return rt_write_state_file(path, prog, len, 0600, e);
}

int rt_create(const struct rt_spec *spec, const char *state_dir, dd_err *e)
{
    int r = validate(spec, e);
    if (r < 0)
        return r;
    _cleanup_free_ char *specfile = dd_path_join(state_dir, RT_FILE_SPEC);
    _cleanup_free_ char *rootfs = dd_path_join(state_dir, RT_DIR_ROOTFS);
    if (access(specfile, F_OK) == 0)
        return dd_err_set(e, EEXIST, "%s already holds a container", state_dir);
    if ((r = dd_mkdir_p(state_dir, 0711, e)) < 0 || (r = dd_mkdir_p(rootfs, 0755, e)) < 0)
        return r;
    dd_buf b = DD_BUF_INIT;
    rt_spec_pack(&b, spec);
    r = rt_write_state_file(specfile, b.data, b.len, 0600, e);
    dd_buf_release(&b);
    if (r < 0)
        goto fail_dir;
    if ((r = write_seccomp(spec, state_dir, e)) < 0 || (r = rt_mount_rootfs(spec, rootfs, e)) < 0)
        goto fail_dir;
    if ((r = rt_cgroup_create(spec, e)) < 0)
        goto fail_mount;
    if ((r = start_shim(state_dir, e)) < 0)
        goto fail_cgroup;
    return 0;
fail_cgroup:
    (void)rt_cgroup_destroy(spec, NULL);
fail_mount:
    unmount_rootfs(rootfs);
fail_dir:
    (void)dd_rm_rf(state_dir, NULL);
    return dd_err_wrap(e, "creating container %s", spec->id);
}

int rt_start(const char *state_dir, dd_err *e)
{
    int fd = rt_shim_command(state_dir, "START", NULL, e);
    if (fd < 0)
        return fd;
    close(fd);
    return 0;
}

int rt_attach_connect(const char *state_dir, dd_err *e)
{
    return rt_shim_command(state_dir, "ATTACH", NULL, e);
}

int rt_resize(const char *state_dir, unsigned short rows, unsigned short cols, dd_err *e)
{
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "RESIZE %u %u", rows, cols);
    int fd = rt_shim_command(state_dir, cmd, NULL, e);
    if (fd < 0)
        return fd;
    close(fd);
    return 0;
}

/* Waits for the shim to exit (it writes the exit record first); SIGKILL after timeout_ms. */
static void wait_shim(const char *state_dir, int timeout_ms)
{
    _cleanup_close_ int fd = rt_watch_fd(state_dir, NULL);
    if (fd < 0)
        return;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) > 0)
        return;
    syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0);
    p.revents = 0;
    (void)poll(&p, 1, 5000);
}

/* Stops what is left of the container and removes its cgroup: what must be gone before a
 * delete returns. */
static int delete_begin(const char *state_dir, dd_err *e)
{
    struct rt_spec spec = {0};
    bool have_spec = rt_spec_load(state_dir, &spec, NULL) >= 0;
    (void)rt_kill(state_dir, SIGKILL, NULL);
    /* A created container's shim waits for START forever: it gets no grace period. */
    struct rt_state st = {0};
    bool created = rt_state(state_dir, &st, NULL) >= 0 && st.status == RT_CREATED;
    rt_state_release(&st);
    wait_shim(state_dir, created ? 0 : 10000);
    int r = 0;
    if (have_spec)
        r = rt_cgroup_destroy(&spec, e);
    rt_spec_release(&spec);
    return r < 0 ? dd_err_wrap(e, "deleting container") : 0;
}

static int delete_files(const char *state_dir, dd_err *e)
{
    _cleanup_free_ char *rootfs = dd_path_join(state_dir, RT_DIR_ROOTFS);
    unmount_rootfs(rootfs);
    int r = dd_rm_rf(state_dir, e);
    return r < 0 ? dd_err_wrap(e, "deleting container") : 0;
}

int rt_delete(const char *state_dir, dd_err *e)
{
    int r = delete_begin(state_dir, e);
    return r < 0 ? r : delete_files(state_dir, e);
}

int rt_delete_detached(const char *state_dir, const char *trash, dd_err *e)
{
    int r = delete_begin(state_dir, e);
    if (r < 0)
        return r;
    /* Unmounted here: whoever looks at the mount table next (layer collection) must not see
     * the rootfs any more. */
    _cleanup_free_ char *rootfs = dd_path_join(state_dir, RT_DIR_ROOTFS);
    unmount_rootfs(rootfs);
    if (rename(state_dir, trash) < 0)
        return delete_files(state_dir, e);
    dd_rm_rf_background(trash);
    return 0;
}

static int cmp_pid(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return (x > y) - (x < y);
}

/* Without a cgroup: every process in PID 1's pid namespace. */
static int pids_by_namespace(pid_t pid1, pid_t **ret, size_t *ret_n, dd_err *e)
{
    char path[64];
    struct stat ns1, ns;
    snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid1);
    if (stat(path, &ns1) < 0)
        return dd_err_sys(e, "reading the pid namespace of %d", (int)pid1);
    _cleanup_close_ int dfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd >= 0 ? fdopendir(dup(dfd)) : NULL;
    if (!d)
        return dd_err_sys(e, "listing /proc");
    pid_t *v = NULL;
    size_t n = 0;
    for (struct dirent *de; (de = readdir(d));) {
        int p = atoi(de->d_name);
        snprintf(path, sizeof(path), "/proc/%d/ns/pid", p);
        if (p <= 0 || stat(path, &ns) < 0 || ns.st_ino != ns1.st_ino || ns.st_dev != ns1.st_dev)
            continue;
        v = dd_realloc(v, (n + 1) * sizeof(*v));
        v[n++] = p;
    }
    closedir(d);
    *ret = v;
    *ret_n = n;
    return 0;
}

int rt_top(const char *state_dir, pid_t **ret_pids, size_t *ret_n, dd_err *e)
{
    struct rt_state st = {0};
    int r = rt_state(state_dir, &st, e);
    rt_state_release(&st);
    if (r < 0)
        return r;
    if (st.status != RT_RUNNING || st.pid <= 0)
        return dd_err_set(e, ESRCH, "container is not running");
    struct rt_spec spec = {0};
    if ((r = rt_spec_load(state_dir, &spec, e)) < 0)
        return r;
    pid_t *v = NULL;
    size_t n = 0;
    r = rt_cgroup_pids(&spec, &v, &n, e);
    if (r == -ENOENT && spec.namespaces[RT_NS_PID].mode == RT_NS_NEW)
        r = pids_by_namespace(st.pid, &v, &n, e);
    else if (r == -ENOENT)
        r = dd_err_set(e, EOPNOTSUPP,
                       "listing the processes of a container without its own "
                       "cgroup or pid namespace");
    rt_spec_release(&spec);
    if (r < 0)
        return r;
    qsort(v, n, sizeof(*v), cmp_pid);
    *ret_pids = v;
    *ret_n = n;
    return 0;
}
