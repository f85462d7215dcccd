/* rt_exec: a new process inside a running container, as a child of the caller. The caller
 * posix_spawns the exec helper (our own binary again) with the process's stdio as fds 0-2, a
 * SOCK_SEQPACKET socket as fd 3 for replies and a pipe as fd 4 carrying the request. The helper
 * enters the container's cgroup, joins every namespace of the container's PID 1 through a pidfd
 * (one atomic setns), and clone(CLONE_PARENT)s the process so that the caller, not the helper, is
 * its parent; the helper reports the new pid ('P'), the process reports a terminal master ('M',
 * opened inside the container's devpts) or a failure ('E') exactly as the container's PID 1 does
 * (execproc.c), and the socket's EOF means it exec'ed. */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "dind/lib/rt/rt-cgroup.h"
#include "dind/lib/rt/rt-helper.h"

struct exec_request {
    struct rt_process proc;
    uint64_t caps;
    bool seccomp, no_new_privs;
    const char *state_dir;
    pid_t pid;
    uint64_t starttime;
    struct rt_spec cgroup; /* only id and cgroup_parent */
};

static void request_pack(dd_buf *b, const struct exec_request *q)
{
    rt_process_pack(b, &q->proc);
    rt_pack_u64(b, q->caps);
    rt_pack_u64(b, q->seccomp | (uint64_t)q->no_new_privs << 1);
    rt_pack_str(b, q->state_dir);
    rt_pack_u64(b, (uint64_t)q->pid);
    rt_pack_u64(b, q->starttime);
    rt_pack_str(b, q->cgroup.id);
    rt_pack_str(b, q->cgroup.cgroup_parent);
}

static int request_unpack(const char *data, size_t len, struct exec_request *q)
{
    struct rt_unpack u = {(const unsigned char *)data, (const unsigned char *)data + len, false};
    rt_process_unpack(&u, &q->proc);
    q->caps = rt_unpack_u64(&u);
    uint64_t f = rt_unpack_u64(&u);
    q->seccomp = f & 1;
    q->no_new_privs = f & 2;
    q->state_dir = rt_unpack_str(&u);
    q->pid = (pid_t)rt_unpack_u64(&u);
    q->starttime = rt_unpack_u64(&u);
    q->cgroup.id = rt_unpack_str(&u);
    q->cgroup.cgroup_parent = rt_unpack_str(&u);
    return u.bad ? -EINVAL : 0;
}

static void send_msg(int fd, const char *fmt, ...) DD_PRINTF(2, 3);
static void send_msg(int fd, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    (void)send(fd, buf, (size_t)n, MSG_NOSIGNAL);
}

__attribute__((noreturn)) static void exec_child(struct exec_request *q, const void *bpf,
                                                 size_t bpf_len, int sync_fd)
{
    struct rt_security sec = {
        .caps = q->caps, .bpf = bpf, .bpf_len = bpf_len, .no_new_privs = q->no_new_privs};
    rt_child_reset_signals();
    if (q->proc.terminal)
        rt_child_terminal(sync_fd, q->proc.rows, q->proc.cols, false);
    else
        setsid();
    rt_exec_process(&q->proc, &sec, sync_fd, true);
}

int rt_exec_helper_main(int sync_fd, int req_fd)
{
    syscall(SYS_close_range, 5, ~0U, 0);
    /* fd 3 came through dup2 (no CLOEXEC): the exec'd process must not keep it open. */
    dd_set_cloexec(sync_fd, true);
    dd_buf b = DD_BUF_INIT;
    char buf[16384];
    for (ssize_t n; (n = read(req_fd, buf, sizeof(buf))) != 0;) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rt_child_die_errno(sync_fd, 126, "reading the exec request");
        dd_buf_add(&b, buf, (size_t)n);
    }
    close(req_fd);
    struct exec_request q = {0};
    if (request_unpack(b.data, b.len, &q) < 0)
        rt_child_die(sync_fd, 126, "corrupt exec request");
    dd_err e = {0};
    void *bpf = NULL;
    size_t bpf_len = 0;
    /* Read before setns: the state dir is a host path. */
    if (q.seccomp && rt_seccomp_bpf_read(q.state_dir, &bpf, &bpf_len, &e) < 0)
        rt_child_fail(sync_fd, 126, &e);
    if (q.seccomp && !bpf)
        rt_child_die(sync_fd, 126, "the container's seccomp filter is missing");
    /* The cgroup first: cg_ reads the host's /sys/fs/cgroup, which setns would hide. */
    if (rt_cgroup_enter(NULL, &q.cgroup, getpid(), &e) < 0)
        rt_child_fail(sync_fd, 126, &e);
    int pidfd = rt_pidfd_checked(q.pid, q.starttime);
    if (pidfd < 0)
        rt_child_die(sync_fd, 126, "container is not running");
    int flags =
        CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWCGROUP;
    if (setns(pidfd, flags) < 0)
        rt_child_die_errno(sync_fd, 126, "joining the container's namespaces");
    close(pidfd);
    pid_t pid = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, NULL, NULL, NULL, 0);
    if (pid < 0)
        rt_child_die_errno(sync_fd, 126, "creating the exec process");
    if (pid == 0)
        exec_child(&q, bpf, bpf_len, sync_fd);
    send_msg(sync_fd, "P%d", (int)pid);
    return 0;
}

/* Reads the helper's and the process's messages until EOF. */
static int read_replies(int fd, struct rt_exec_result *res, dd_err *e)
{
    int err = 0;
    for (;;) {
        char buf[2048], cbuf[CMSG_SPACE(sizeof(int))];
        struct iovec iov = {buf, sizeof(buf) - 1};
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
        ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return err;
        buf[n] = '\0';
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        if (buf[0] == 'M' && cm && cm->cmsg_type == SCM_RIGHTS) {
            int master = -1;
            memcpy(&master, CMSG_DATA(cm), sizeof(int));
            res->stdout_fd = master;
            res->stdin_fd = fcntl(master, F_DUPFD_CLOEXEC, 3);
        } else if (buf[0] == 'P') {
            res->pid = atoi(buf + 1);
        } else if (buf[0] == 'E' && !err) {
            int code = 126, errnum = EIO, off = 0;
            if (sscanf(buf + 1, "%d %d %n", &code, &errnum, &off) < 2)
                off = 1;
            err = dd_err_set(e, errnum, "%s", buf + 1 + off);
        }
    }
}

/* Pipes for a non-terminal process: ours go to *res, the process's ends to child[0..2]. */
static int make_pipes(const struct rt_process *p, struct rt_exec_result *res, int child[3],
                      dd_err *e)
{
    int fd[2];
    if (p->open_stdin) {
        if (pipe2(fd, O_CLOEXEC) < 0)
            return dd_err_sys(e, "pipe");
        child[0] = fd[0];
        res->stdin_fd = fd[1];
    } else if ((child[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
        return dd_err_sys(e, "opening /dev/null");
    }
    if (pipe2(fd, O_CLOEXEC) < 0)
        return dd_err_sys(e, "pipe");
    child[1] = fd[1];
    res->stdout_fd = fd[0];
    if (pipe2(fd, O_CLOEXEC) < 0)
        return dd_err_sys(e, "pipe");
    child[2] = fd[1];
    res->stderr_fd = fd[0];
    return 0;
}

static int load_request(const char *state_dir, const struct rt_process *proc,
                        struct exec_request *q, struct rt_spec *spec, dd_err *e)
{
    int r = rt_read_pid_file(state_dir, RT_FILE_STATE, &q->pid, &q->starttime);
    _cleanup_close_ int fd = r < 0 ? r : rt_pidfd_checked(q->pid, q->starttime);
    if (fd < 0)
        return dd_err_set(e, ESRCH, "container is not running");
    if ((r = rt_spec_load(state_dir, spec, e)) < 0)
        return r;
    bool priv = spec->privileged || proc->privileged;
    q->caps = priv ? rt_caps_daemon_bounding() : spec->capabilities;
    q->seccomp = spec->seccomp && !priv;
    q->no_new_privs = spec->no_new_privileges;
    q->state_dir = state_dir;
    q->cgroup.id = spec->id;
    q->cgroup.cgroup_parent = spec->cgroup_parent;
    q->proc = *proc;
    return 0;
}

static int spawn_and_send(struct exec_request *q, int child[3], int *ret_sync, pid_t *ret_helper,
                          dd_err *e)
{
    int sp[2], req[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
        return dd_err_sys(e, "socketpair");
    if (pipe2(req, O_CLOEXEC) < 0) {
        close(sp[0]);
        close(sp[1]);
        return dd_err_sys(e, "pipe");
    }
    char *argv[] = {(char *)RT_EXEC_ARGV0, NULL};
    int fds[5] = {child[0], child[1], child[2], sp[1], req[0]};
    int r = rt_spawn_helper(argv, fds, 5, ret_helper, e);
    close(sp[1]);
    close(req[0]);
    if (r >= 0) {
        dd_buf b = DD_BUF_INIT;
        request_pack(&b, q);
        (void)dd_write_all(req[1], b.data, b.len); /* a dead helper shows up as EOF below */
        dd_buf_release(&b);
    }
    close(req[1]);
    if (r < 0) {
        close(sp[0]);
        return r;
    }
    *ret_sync = sp[0];
    return 0;
}

int rt_exec(const char *state_dir, const struct rt_process *proc, struct rt_exec_result *ret,
            dd_err *e)
{
    struct rt_exec_result res = {
        .pid = 0, .pidfd = -1, .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1};
    struct rt_spec spec = {0};
    struct exec_request q = {0};
    int child[3] = {-1, -1, -1}, sync = -1;
    pid_t helper = 0;
    if (!proc->args || !proc->args[0])
        return dd_err_set(e, EINVAL, "no command specified");
    int r = load_request(state_dir, proc, &q, &spec, e);
    if (r >= 0 && !proc->terminal)
        r = make_pipes(proc, &res, child, e);
    if (r >= 0)
        r = spawn_and_send(&q, child, &sync, &helper, e);
    for (int i = 0; i < 3; i++)
        if (child[i] >= 0)
            close(child[i]);
    if (r >= 0) {
        r = read_replies(sync, &res, e);
        close(sync);
        rt_reap(helper);
        if (r >= 0 && res.pid <= 0)
            r = dd_err_set(e, EIO, "exec failed: the exec helper died");
    }
    if (r >= 0 && (res.pidfd = (int)syscall(SYS_pidfd_open, res.pid, 0)) < 0)
        r = dd_err_sys(e, "pidfd_open");
    rt_spec_release(&spec);
    if (r < 0) {
        if (res.pid > 0)
            rt_reap(res.pid);
        res.pid = 0;
        rt_exec_result_close(&res);
        return r;
    }
    *ret = res;
    return 0;
}

void rt_exec_result_close(struct rt_exec_result *r)
{
    int *fds[] = {&r->pidfd, &r->stdin_fd, &r->stdout_fd, &r->stderr_fd};
    for (size_t i = 0; i < DD_ARRAY_SIZE(fds); i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
}
