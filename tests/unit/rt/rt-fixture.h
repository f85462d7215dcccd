/* Shared fixture for the rt unit tests: a busybox rootfs (tests/fixtures/busybox-rootfs.sh) in a
 * temporary directory used as the overlay's lower layer, and a wrapper that runs each test body
 * in a forked child while the test process (a PR_SET_CHILD_SUBREAPER, so the shims become its
 * children) cleans up afterwards whatever happened: rt_delete of every container, any mount
 * left below the temporary directory, the test cgroups, the directory itself. */
#ifndef RT_FIXTURE_H
#define RT_FIXTURE_H

#include <stdbool.h>
#include <sys/types.h>

#include "dind/rt.h"
#include "tests/unit/unit.h"

struct rt_fx {
    char dir[256];   /* temp dir */
    char lower[320]; /* busybox rootfs */
    char cgparent[64];
};
extern struct rt_fx FX;

/* Runs body with FX set up; cleans up in the parent. */
void rt_fx_run(void (*body)(void));
#define RT_TEST(name)                                                                              \
    static void body_##name(void);                                                                 \
    TEST(name)                                                                                     \
    {                                                                                              \
        rt_fx_run(body_##name);                                                                    \
    }                                                                                              \
    static void body_##name(void)

/* A spec running args (NULL-terminated) as container `name`, logging json-file to
 * <dir>/<name>.log, Docker's default caps and seccomp, an overlay on the busybox rootfs. */
void rt_fx_spec(struct rt_spec *s, const char *name, const char *const *args);
/* <dir>/<name>/state, malloc'ed. */
char *rt_fx_state(const char *name);
char *rt_fx_log(const char *name);
/* Creates and starts; fails the test on error. */
void rt_fx_create_start(struct rt_spec *s);
/* Waits until the shim exited and returns the final state. */
struct rt_state rt_fx_wait(const char *name);
/* The log's entries concatenated (stdout and stderr). */
char *rt_fx_log_text(const char *name);
/* Reads fd to EOF. */
char *rt_fx_read_all(int fd);
char *rt_fx_read_all_len(int fd, size_t *ret_len);
/* Whether any mount point below dir is listed in /proc/self/mountinfo. */
bool rt_fx_mounted_below(const char *dir);
bool rt_fx_is_zombie(pid_t pid);

#endif
