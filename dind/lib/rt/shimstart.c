/* Starting the container from the shim: the stdio the container gets (pipes, or a pty the child
 * opens inside the container's devpts and passes back), the clone of PID 1 with its new
 * namespaces, and the sync protocol with the child (child.c): the shim sends "g" (go), the
 * child enters its cgroup itself before it unshares the cgroup namespace and answers
 * with an 'M' message carrying the pty master (terminal only) and, if anything fails, an 'E'
 * message "<exit code> <errno> <text>"; end of file without 'E' means execve succeeded. */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "dind/lib/rt/rt-cgroup.h"
#include "dind/lib/rt/shim-internal.h"

int rt_shim_stdio(struct shim *s, dd_err *e)
{
    int p[2];
    if (s->terminal)
        return 0; /* the pty comes from the child */
    for (int i = 0; i < 2; i++) {
        if (pipe2(p, O_CLOEXEC) < 0)
            return dd_err_sys(e, "creating the output pipe");
        s->out_fd[i] = p[0];
        s->child_stdio[i + 1] = p[1];
        dd_set_nonblock(p[0], true);
    }
    if (s->spec.process.open_stdin) {
        if (pipe2(p, O_CLOEXEC) < 0)
            return dd_err_sys(e, "creating the input pipe");
        s->child_stdio[0] = p[0];
        s->stdin_fd = p[1];
        dd_set_nonblock(p[1], true);
    } else {
        s->child_stdio[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (s->child_stdio[0] < 0)
            return dd_err_sys(e, "opening /dev/null");
    }
    return 0;
}

/* The cgroup filesystems mounted on the host below /sys/fs/cgroup, to mount the same in the
 * container: one "<fstype> <options> <subdir>" line each (mountinfo escapes blanks, so no field
 * has one). The daemon computes this once and hands it to its shims (helper.c); a shim started
 * without it reads the mount table itself. */
char *rt_cgroup_mounts_text(void)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
    dd_buf out = DD_BUF_INIT;
    char line[4096];
    while (f && fgets(line, sizeof(line), f)) {
        char mp[1024], fstype[64], src[256], opts[1024];
        char *dash = strstr(line, " - ");
        if (!dash || sscanf(line, "%*s %*s %*s %*s %1023s", mp) != 1 ||
            sscanf(dash + 3, "%63s %255s %1023s", fstype, src, opts) != 3)
            continue;
        if ((strcmp(fstype, "cgroup") != 0 && strcmp(fstype, "cgroup2") != 0) ||
            !dd_startswith(mp, "/sys/fs/cgroup"))
            continue;
        const char *sub = mp + strlen("/sys/fs/cgroup");
        dd_buf o = DD_BUF_INIT;
        for (char *tok = strtok(opts, ","); tok; tok = strtok(NULL, ",")) {
            if (strcmp(tok, "rw") == 0 || strcmp(tok, "ro") == 0)
                continue;
            dd_buf_addf(&o, "%s%s", o.len ? "," : "", tok);
        }
        /* "-" stands for no options, "." for the mount point /sys/fs/cgroup itself. */
        if (*sub == '/')
            sub++;
        dd_buf_addf(&out, "%s %s %s\n", fstype, o.len ? o.data : "-", *sub ? sub : ".");
        dd_buf_release(&o);
    }
    return dd_buf_detach(&out, NULL);
}

static void parse_cgroup_mounts(struct rt_child_ctx *c, const char *text)
{
    _cleanup_free_ char *own = text ? NULL : rt_cgroup_mounts_text();
    _cleanup_free_ char *t = dd_strdup(text ? text : own);
    char *save = NULL;
    for (char *l = strtok_r(t, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char fstype[64], opts[1024], sub[1024];
        if (sscanf(l, "%63s %1023s %1023s", fstype, opts, sub) != 3)
            continue;
        c->cgroup_mounts =
            dd_realloc(c->cgroup_mounts, (c->n_cgroup_mounts + 1) * sizeof(*c->cgroup_mounts));
        c->cgroup_mounts[c->n_cgroup_mounts++] = (struct rt_cgroup_mount){
            dd_strdup(fstype), dd_strdup(strcmp(opts, "-") == 0 ? "" : opts),
            dd_strdup(strcmp(sub, ".") == 0 ? "" : sub)};
    }
}

static int clone_flags(const struct rt_spec *sp)
{
    static const int flag[RT_NS_COUNT] = {
        [RT_NS_MOUNT] = CLONE_NEWNS, [RT_NS_PID] = CLONE_NEWPID, [RT_NS_UTS] = CLONE_NEWUTS,
        [RT_NS_IPC] = CLONE_NEWIPC,  [RT_NS_NET] = CLONE_NEWNET,
    };
    int flags = CLONE_NEWNS; /* a container always gets its own mount table */
    for (int i = 0; i < RT_NS_COUNT; i++)
        if (sp->namespaces[i].mode == RT_NS_NEW)
            flags |= flag[i];
    return flags;
}

static int join_pid_ns(const struct rt_spec *sp, dd_err *e)
{
    const struct rt_ns *ns = &sp->namespaces[RT_NS_PID];
    if (ns->mode != RT_NS_JOIN)
        return 0;
    _cleanup_close_ int fd = open(ns->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dd_err_sys(e, "opening pid namespace %s", ns->path);
    if (setns(fd, CLONE_NEWPID) < 0)
        return dd_err_sys(e, "joining pid namespace %s", ns->path);
    return 0;
}

/* Reads the child's messages until EOF. Returns 0 when the process exec'ed. */
static int read_child(struct shim *s, int fd, dd_err *e)
{
    for (;;) {
        char buf[2048];
        char cbuf[CMSG_SPACE(sizeof(int))];
        struct iovec iov = {buf, sizeof(buf) - 1};
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
        ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        buf[n] = '\0';
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        if (buf[0] == 'M' && cm && cm->cmsg_type == SCM_RIGHTS) {
            memcpy(&s->pty_master, CMSG_DATA(cm), sizeof(int));
            continue;
        }
        if (buf[0] != 'E')
            continue;
        int code = 128, err = EIO, off = 0;
        if (sscanf(buf + 1, "%d %d %n", &code, &err, &off) < 2)
            off = 1;
        s->start_exit_code = code;
        return dd_err_set(e, err, "%s", buf + 1 + off);
    }
}

static void terminal_ready(struct shim *s)
{
    if (s->pty_master < 0)
        return;
    dd_set_nonblock(s->pty_master, true);
    s->out_fd[0] = s->pty_master;
    if (s->spec.process.open_stdin)
        s->stdin_fd = fcntl(s->pty_master, F_DUPFD_CLOEXEC, 3);
}

static void write_state(struct shim *s)
{
    char buf[128];
    int n = snprintf(buf, sizeof(buf), "%d %llu %lld\n", (int)s->pid,
                     (unsigned long long)rt_pid_starttime(s->pid), (long long)dd_now_ns());
    _cleanup_free_ char *path = dd_path_join(s->dir, RT_FILE_STATE);
    (void)rt_write_state_file(path, buf, (size_t)n, 0644, NULL);
}

static void record_start_failure(struct shim *s, const dd_err *e)
{
    s->exited = true;
    s->start_failed = true;
    if (!s->start_exit_code)
        s->start_exit_code = 128;
    s->start_error = dd_strdup(e->msg);
    struct rt_exit_record x = {
        .exit_code = s->start_exit_code, .finished_at = dd_now_ns(), .error = s->start_error};
    (void)rt_write_exit_record(s->dir, &x);
}

static void start_failed(struct shim *s, const dd_err *e)
{
    int st = 0;
    while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR)
        ;
    s->wait_status = st;
    record_start_failure(s, e);
}

__attribute__((noreturn)) static void in_child(struct shim *s, int sync_fd)
{
    struct rt_child_ctx c = {
        .spec = &s->spec, .rootfs = s->rootfs, .sync_fd = sync_fd, .console_fd = -1};
    for (int i = 0; i < 3; i++)
        c.stdio[i] = s->child_stdio[i];
    c.bpf = s->bpf;
    c.bpf_len = s->bpf_len;
    parse_cgroup_mounts(&c, rt_helper_cgroup_mounts);
    rt_child_main(&c);
}

int rt_shim_start(struct shim *s, dd_err *e)
{
    if (s->started)
        return dd_err_set(e, EALREADY, "container already started");
    s->started = true;
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
        return dd_err_sys(e, "socketpair");
    int r = join_pid_ns(&s->spec, e);
    if (r < 0)
        goto fail_early;
    pid_t pid = (pid_t)syscall(SYS_clone, clone_flags(&s->spec) | SIGCHLD, NULL, NULL, NULL, 0);
    if (pid < 0) {
        r = dd_err_sys(e, "creating the container process");
        goto fail_early;
    }
    if (pid == 0) {
        close(sp[0]);
        in_child(s, sp[1]);
    }
    close(sp[1]);
    s->pid = pid;
    for (int i = 0; i < 3; i++)
        if (s->child_stdio[i] >= 0)
            close(s->child_stdio[i]);
    /* The child enters its cgroup itself (child.c): cheaper than moving it from here. */
    if (write(sp[0], "g", 1) != 1)
        r = dd_err_sys(e, "signalling the container process");
    if (r >= 0)
        r = read_child(s, sp[0], e);
    close(sp[0]);
    if (r < 0) {
        kill(pid, SIGKILL);
        start_failed(s, e);
        return r;
    }
    terminal_ready(s);
    write_state(s);
    return 0;
fail_early:
    close(sp[0]);
    close(sp[1]);
    record_start_failure(s, e);
    return r;
}

bool rt_shim_oom_killed(struct shim *s)
{
    return rt_cgroup_oom_killed(s->dir, &s->spec);
}
