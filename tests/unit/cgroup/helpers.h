/* Shared helpers of the cgroup unit tests: a child process that waits until the test has moved
 * it into a cgroup before it runs its body, and a wrapper that runs a test body in a forked
 * process and then removes the test's cgroups whatever the body did (so a failing CHECK, which
 * exits at once, leaks nothing). */
#ifndef TESTS_UNIT_CGROUP_HELPERS_H
#define TESTS_UNIT_CGROUP_HELPERS_H

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

#include "dind/cgroup.h"
#include "tests/unit/unit.h"

struct kid {
    pid_t pid;
    int go;    /* write end: one byte releases the child */
    int ready; /* read end: the child's body writes one byte with kid_ready() */
};

/* In the child: the write end of its ready pipe. */
static int kid_ready_fd = -1;

static inline void kid_ready(void)
{
    if (write(kid_ready_fd, "r", 1) != 1)
        _exit(98);
}

static inline struct kid kid_start(int (*body)(void))
{
    int p[2], q[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    CHECK(pipe2(q, O_CLOEXEC) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        char c;
        close(p[1]);
        close(q[0]);
        kid_ready_fd = q[1];
        if (read(p[0], &c, 1) != 1)
            _exit(99);
        _exit(body());
    }
    close(p[0]);
    close(q[1]);
    return (struct kid){pid, p[1], q[0]};
}

static inline void kid_go(struct kid *k)
{
    CHECK(write(k->go, "x", 1) == 1);
    close(k->go);
    k->go = -1;
}

/* Blocks until the child called kid_ready() (or died). */
static inline void kid_wait_ready(struct kid *k)
{
    char c;
    CHECK(read(k->ready, &c, 1) == 1);
}

static inline int kid_wait(struct kid *k)
{
    int st = 0;
    while (waitpid(k->pid, &st, 0) < 0 && errno == EINTR)
        ;
    return st;
}

static inline int kid_sleep(void)
{
    pause();
    return 0;
}

/* Charges 4 MiB to its cgroup, then sleeps. */
static inline int kid_touch_sleep(void)
{
    char *p = malloc(4 << 20);
    if (!p)
        return 3;
    memset(p, 1, 4 << 20);
    kid_ready();
    pause();
    return 0;
}

/* Runs body(parent_rel) in a forked process, then destroys everything below parent_rel. */
static inline void run_cleaned(void (*body)(const char *parent))
{
    char parent[64];
    snprintf(parent, sizeof(parent), "dind-unit-%d", (int)getpid());
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        body(parent);
        fflush(NULL);
        _exit(0);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    struct cg *top = NULL;
    if (cg_open_existing(NULL, parent, &top, NULL) >= 0)
        CHECK(cg_destroy(top, 10000, NULL) == 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

#endif
