/* Shared helpers of the net unit tests. Every test that touches the network runs its body in a
 * forked child that first unshares a fresh network namespace (so bridges, veths, iptables rules
 * and sysctls die with it), while the parent removes the test's state directory afterwards,
 * whether the body passed or failed. "Pods" are child processes that unshare their own network
 * namespace and wait until the test ends; /proc/PID/ns/net names their namespace. */
#ifndef TESTS_UNIT_NET_HELPERS_H
#define TESTS_UNIT_NET_HELPERS_H

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <sys/wait.h>

#include "dind/net.h"
#include "tests/unit/unit.h"

/* Runs body(dir) in a child inside a new network namespace, with dir a fresh temporary
 * directory that is removed afterwards; fails the test if the body failed. */
static inline void net_isolated(void (*body)(const char *dir))
{
    char dir[] = "/tmp/unit-net-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        if (unshare(CLONE_NEWNET) < 0) {
            fprintf(stderr, "    unshare(CLONE_NEWNET): %s\n", strerror(errno));
            _exit(1);
        }
        body(dir);
        _exit(0);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    dd_rm_rf(dir, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

struct pod {
    pid_t pid;
    int hold; /* write end; closing it (or our exit) ends the pod */
    char netns[64];
};

static inline void pod_start(struct pod *p)
{
    int ready[2], hold[2];
    CHECK(pipe2(ready, O_CLOEXEC) == 0 && pipe2(hold, O_CLOEXEC) == 0);
    p->pid = fork();
    CHECK(p->pid >= 0);
    if (p->pid == 0) {
        char c;
        close(hold[1]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (unshare(CLONE_NEWNET) < 0 || write(ready[1], "r", 1) != 1)
            _exit(1);
        while (read(hold[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    char c;
    close(ready[1]);
    close(hold[0]);
    CHECK(read(ready[0], &c, 1) == 1);
    close(ready[0]);
    p->hold = hold[1];
    snprintf(p->netns, sizeof(p->netns), "/proc/%d/ns/net", (int)p->pid);
}

/* Ends the pod (later pods inherited our end of its pipe, so closing it is not enough). */
static inline void pod_stop(struct pod *p)
{
    close(p->hold);
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
}

/* Forks a child that enters the namespace at netns and returns fn(arg) as its exit status;
 * ready (if >= 0) is kept open in the child for fn to signal on. Returns the child's pid. */
static inline pid_t in_netns_start(const char *netns, int (*fn)(void *), void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int fd = open(netns, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
            _exit(90);
        _exit(fn(arg));
    }
    return pid;
}

static inline int child_status(pid_t pid)
{
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Output of a shell command (run in our namespace), at most 64 KiB. */
static inline char *command_output(const char *cmd)
{
    FILE *f = popen(cmd, "r");
    CHECK(f != NULL);
    char *buf = dd_calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    pclose(f);
    return buf;
}

#endif
