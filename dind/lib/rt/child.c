/* The container's PID 1 before execve, bubblewrap style: a straight sequence of setup steps in
 * the child the shim cloned with the new namespaces; the first step that fails reports a message
 * (and the exit code the container should record) to the shim over the sync socket and exits.
 * No heap state outlives it: on success execve replaces everything, and the sync socket (CLOEXEC)
 * closes, which is how the shim learns that the process started.
 *
 * Order: wait for the shim's go → enter our cgroup → join namespaces given by path → unshare
 * the cgroup namespace (its root is now our cgroup) → hostname → mounts and pivot_root
 * (mounts.c) → console → rlimits → init fork (init.c) → user, caps, seccomp, exec (execproc.c). */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <linux/close_range.h>
#include <net/if.h>

#include "dind/lib/rt/rt-cgroup.h"
#include "dind/lib/rt/rt-internal.h"

static void send_error(int sync_fd, int exit_code, int err, const char *msg)
{
    char buf[1536];
    int n = snprintf(buf, sizeof(buf), "E%d %d %s", exit_code, err, msg);
    if (n > (int)sizeof(buf) - 1)
        n = (int)sizeof(buf) - 1;
    (void)send(sync_fd, buf, (size_t)n, MSG_NOSIGNAL);
}

void rt_child_fail(int sync_fd, int exit_code, const dd_err *e)
{
    send_error(sync_fd, exit_code, e->code ? e->code : EIO, e->msg);
    _exit(exit_code);
}

void rt_child_die(int sync_fd, int exit_code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    send_error(sync_fd, exit_code, EINVAL, msg);
    _exit(exit_code);
}

void rt_child_die_errno(int sync_fd, int exit_code, const char *fmt, ...)
{
    int err = errno ? errno : EIO;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof(msg))
        snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(err));
    send_error(sync_fd, exit_code, err, msg);
    _exit(exit_code);
}

/* The shim blocks SIGCHLD and ignores SIGPIPE/SIGHUP; the container must start clean. */
void rt_child_reset_signals(void)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
}

static void join_namespaces(struct rt_child_ctx *c)
{
    static const int flag[RT_NS_COUNT] = {
        [RT_NS_MOUNT] = CLONE_NEWNS, [RT_NS_PID] = 0,
        [RT_NS_UTS] = CLONE_NEWUTS,  [RT_NS_IPC] = CLONE_NEWIPC,
        [RT_NS_NET] = CLONE_NEWNET,  [RT_NS_CGROUP] = CLONE_NEWCGROUP,
    };
    for (int i = 0; i < RT_NS_COUNT; i++) {
        const struct rt_ns *ns = &c->spec->namespaces[i];
        if (ns->mode != RT_NS_JOIN || !flag[i])
            continue;
        int fd = open(ns->path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, flag[i]) < 0)
            rt_child_die_errno(c->sync_fd, 128, "joining namespace %s", ns->path);
        close(fd);
    }
    if (c->spec->namespaces[RT_NS_CGROUP].mode == RT_NS_NEW && unshare(CLONE_NEWCGROUP) < 0)
        rt_child_die_errno(c->sync_fd, 128, "creating the cgroup namespace");
}

/* A new network namespace starts with "lo" down; every container expects it up. */
static void loopback_up(int sync_fd)
{
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
        rt_child_die_errno(sync_fd, 128, "reading the loopback interface");
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
        rt_child_die_errno(sync_fd, 128, "bringing the loopback interface up");
    close(fd);
}

static void set_oom_score_adj(const struct rt_spec *s)
{
    if (!s->oom_score_adj_set)
        return;
    /* Best effort: lowering it needs CAP_SYS_RESOURCE, which this host may not have. */
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        dprintf(fd, "%d", s->oom_score_adj);
        close(fd);
    }
}

static void set_rlimits(struct rt_child_ctx *c)
{
    for (size_t i = 0; i < c->spec->n_rlimits; i++) {
        const struct rt_rlimit *l = &c->spec->rlimits[i];
        struct rlimit want = {l->soft, l->hard}, have;
        if (setrlimit(l->resource, &want) == 0)
            continue;
        /* A hard limit we cannot raise: keep the one we have, and the soft one within it. */
        if (errno != EPERM || getrlimit(l->resource, &have) < 0)
            rt_child_die_errno(c->sync_fd, 128, "setting rlimit %d", l->resource);
        want.rlim_max = want.rlim_max > have.rlim_max ? have.rlim_max : want.rlim_max;
        want.rlim_cur = want.rlim_cur > want.rlim_max ? want.rlim_max : want.rlim_cur;
        if (setrlimit(l->resource, &want) < 0)
            rt_child_die_errno(c->sync_fd, 128, "setting rlimit %d", l->resource);
    }
}

/* Opens a pty inside the container's devpts, hands the master to our parent (the shim, or the
 * daemon for rt_exec) and makes the slave our controlling terminal and stdio. */
void rt_child_terminal(int sync_fd, unsigned short rows, unsigned short cols, bool console)
{
    int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    int unlock = 0, n = -1;
    if (master < 0 || ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCGPTN, &n) < 0)
        rt_child_die_errno(sync_fd, 128, "creating the terminal");
    char name[64];
    snprintf(name, sizeof(name), "/dev/pts/%d", n);
    int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0)
        rt_child_die_errno(sync_fd, 128, "opening %s", name);
    if (rows && cols) {
        struct winsize ws = {.ws_row = rows, .ws_col = cols};
        (void)ioctl(slave, TIOCSWINSZ, &ws);
    }
    if (console && mount(name, "/dev/console", NULL, MS_BIND, NULL) < 0)
        rt_child_die_errno(sync_fd, 128, "mounting /dev/console");
    char m = 'M', cbuf[CMSG_SPACE(sizeof(int))] = {0};
    struct iovec iov = {&m, 1};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &master, sizeof(int));
    if (sendmsg(sync_fd, &mh, MSG_NOSIGNAL) < 0)
        rt_child_die_errno(sync_fd, 128, "passing the terminal");
    close(master);
    if (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0) < 0)
        rt_child_die_errno(sync_fd, 128, "setting the controlling terminal");
    for (int fd = 0; fd < 3; fd++)
        if (dup2(slave, fd) < 0)
            rt_child_die_errno(sync_fd, 128, "dup2");
    if (slave > 2)
        close(slave);
}

static void set_stdio(struct rt_child_ctx *c)
{
    const struct rt_process *p = &c->spec->process;
    if (p->terminal) {
        rt_child_terminal(c->sync_fd, p->rows, p->cols, true);
        return;
    }
    setsid();
    for (int fd = 0; fd < 3; fd++)
        if (dup2(c->stdio[fd], fd) < 0)
            rt_child_die_errno(c->sync_fd, 128, "dup2");
}

void rt_child_main(struct rt_child_ctx *c)
{
    char go = 0;
    rt_child_reset_signals();
    /* The container dies with its shim, so a state that says "exited" is never a lie. Set
     * before the handshake: a shim that died earlier shows up as EOF. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (read(c->sync_fd, &go, 1) != 1 || go != 'g')
        _exit(128); /* the shim gave up on us */
    dd_err e = {0};
    /* Ourselves, still seeing the host's /proc and /sys/fs/cgroup: moving oneself skips a
     * kernel lock that moving another process takes (cg_enter). */
    if (rt_cgroup_enter(NULL, c->spec, getpid(), &e) < 0)
        rt_child_fail(c->sync_fd, 128, &e);
    set_oom_score_adj(c->spec);
    join_namespaces(c);
    if (c->spec->namespaces[RT_NS_NET].mode == RT_NS_NEW)
        loopback_up(c->sync_fd);
    if (c->spec->namespaces[RT_NS_UTS].mode == RT_NS_NEW && c->spec->hostname &&
        sethostname(c->spec->hostname, strlen(c->spec->hostname)) < 0)
        rt_child_die_errno(c->sync_fd, 128, "setting the hostname");
    if (rt_setup_mounts(c, &e) < 0)
        rt_child_fail(c->sync_fd, 128, &e);
    set_stdio(c);
    set_rlimits(c);
    /* Everything else we hold (the shim's sockets, the log) must not reach the container. */
    syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
    if (c->spec->init) {
        pid_t pid = fork();
        if (pid < 0)
            rt_child_die_errno(c->sync_fd, 128, "starting init");
        if (pid > 0) {
            close(c->sync_fd);
            rt_init_run(pid);
        }
        if (c->spec->process.terminal) {
            /* The process, not init, is the terminal's foreground job (tini does the same). */
            setpgid(0, 0);
            signal(SIGTTOU, SIG_IGN);
            tcsetpgrp(0, getpid());
            signal(SIGTTOU, SIG_DFL);
        }
    }
    const struct rt_spec *s = c->spec;
    struct rt_security sec = {.caps = s->privileged ? rt_caps_daemon_bounding() : s->capabilities,
                              .bpf = c->bpf,
                              .bpf_len = c->bpf_len,
                              .no_new_privs = s->no_new_privileges,
                              .pdeathsig = true};
    rt_exec_process(&s->process, &sec, c->sync_fd, false);
}
