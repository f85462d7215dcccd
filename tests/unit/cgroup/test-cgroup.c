/* Unit tests for dind/lib/cgroup on the machine's own cgroup layout (v1/hybrid here, v2 on a
 * unified host): detection, create with limits, enter, stats, OOM detection, pids.max, device
 * rules, kill, nested cleanup, re-adoption and the capacity helpers. Needs root. Every test body
 * runs through run_cleaned(), which removes the test's cgroups afterwards. */
#include <poll.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "helpers.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

static char *read_cg_file(struct cg *cg, const char *ctl, const char *file)
{
    const char *dir = cg_dir(cg, ctl);
    CHECK(dir != NULL);
    _cleanup_free_ char *p = dd_path_join(dir, file);
    char *s = NULL;
    CHECK(dd_read_file(p, 0, &s, NULL, NULL) >= 0);
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '\n')
        s[--n] = '\0';
    return s;
}

static bool dir_exists(const char *p)
{
    return p && access(p, F_OK) == 0;
}

TEST(detection_matches_the_mounts)
{
    struct statfs sf;
    CHECK(statfs("/sys/fs/cgroup", &sf) == 0);
    enum cg_mode want = CG_MODE_NONE;
    if (sf.f_type == CGROUP2_SUPER_MAGIC)
        want = CG_MODE_V2;
    else if (access("/sys/fs/cgroup/memory/memory.limit_in_bytes", F_OK) == 0)
        want = CG_MODE_V1;
    CHECK_EQ_INT(cg_mode(), want);
    CHECK(cg_has_controller("memory"));
    CHECK(cg_has_controller("pids"));
    CHECK(!cg_has_controller("bogus"));
    char **ctls = cg_controllers();
    CHECK(dd_strv_contains(ctls, "memory"));
    CHECK(dd_strv_contains(ctls, "pids"));
    dd_strv_free(ctls);
}

static void body_limits(const char *parent)
{
    struct cg_limits l = {.memory = 64 << 20,
                          .memory_swap = 128 << 20,
                          .pids_max = 50,
                          .cpu_shares = 512,
                          .cpu_quota_us = 50000,
                          .cpu_period_us = 100000,
                          .cpuset_cpus = "0"};
    struct cg *cg = NULL;
    dd_err e = {0};
    CHECK_EQ_INT(cg_create(parent, "c1", &l, &cg, &e), 0);
    CHECK_EQ_STR(cg_path(cg), dd_asprintf("%s/c1", parent));
    if (cg_mode() == CG_MODE_V1) {
        CHECK_EQ_STR(read_cg_file(cg, "memory", "memory.limit_in_bytes"), "67108864");
        CHECK_EQ_STR(read_cg_file(cg, "cpu", "cpu.shares"), "512");
        CHECK_EQ_STR(read_cg_file(cg, "cpu", "cpu.cfs_quota_us"), "50000");
        CHECK_EQ_STR(read_cg_file(cg, "pids", "pids.max"), "50");
        CHECK_EQ_STR(read_cg_file(cg, "cpuset", "cpuset.cpus"), "0");
        /* a new cpuset cgroup got its mems from the parent, else tasks could not join */
        CHECK(read_cg_file(cg, "cpuset", "cpuset.mems")[0] != '\0');
    } else {
        CHECK_EQ_STR(read_cg_file(cg, "memory", "memory.max"), "67108864");
        CHECK_EQ_STR(read_cg_file(cg, "cpu", "cpu.max"), "50000 100000");
        CHECK_EQ_STR(read_cg_file(cg, "cpu", "cpu.weight"), "20");
        CHECK_EQ_STR(read_cg_file(cg, "pids", "pids.max"), "50");
    }
    struct kid k = kid_start(kid_touch_sleep);
    CHECK_EQ_INT(cg_enter(cg, k.pid, &e), 0);
    kid_go(&k);
    kid_wait_ready(&k);
    pid_t *pids = NULL;
    size_t n = 0;
    CHECK_EQ_INT(cg_pids(cg, &pids, &n, &e), 0);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(pids[0], k.pid);
    bool pop = false;
    CHECK_EQ_INT(cg_is_populated(cg, &pop, &e), 0);
    CHECK(pop);
    struct cg_stats st;
    CHECK_EQ_INT(cg_stats_read(cg, &st, &e), 0);
    CHECK(st.has_memory && st.has_pids && st.has_cpu);
    CHECK_EQ_INT(st.pids_current, 1);
    CHECK_EQ_INT(st.pids_limit, 50);
    CHECK_EQ_INT(st.mem_limit, 64 << 20);
    CHECK(st.mem_usage > 0);
    cg_stats_release(&st);
    CHECK_EQ_INT(cg_kill_all(cg, SIGTERM, &e), 0);
    int ws = kid_wait(&k);
    CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGTERM);
    _cleanup_free_ char *dir = dd_strdup(cg_dir(cg, "memory"));
    CHECK(dir_exists(dir));
    CHECK_EQ_INT(cg_destroy(cg, 0, &e), 0);
    CHECK(!dir_exists(dir));
}

TEST(create_limit_enter_stats_destroy)
{
    run_cleaned(body_limits);
}

static int kid_hog(void)
{
    /* Touch memory page by page until the OOM killer stops us. */
    for (size_t total = 0; total < ((size_t)1 << 30); total += 1 << 20) {
        char *p = malloc(1 << 20);
        if (!p)
            return 3;
        memset(p, 0x5a, 1 << 20);
    }
    return 4;
}

static void body_oom(const char *parent)
{
    struct cg_limits l = {.memory = 8 << 20, .memory_swap = 8 << 20};
    struct cg *cg = NULL;
    dd_err e = {0};
    CHECK_EQ_INT(cg_create(parent, "oom", &l, &cg, &e), 0);
    int fd = cg_oom_fd(cg, &e);
    CHECK(fd >= 0);
    uint64_t kills = 99;
    CHECK_EQ_INT(cg_oom_kills(cg, &kills, &e), 0);
    CHECK_EQ_INT(kills, 0);
    struct kid k = kid_start(kid_hog);
    CHECK_EQ_INT(cg_enter(cg, k.pid, &e), 0);
    kid_go(&k);
    int ws = kid_wait(&k);
    CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    CHECK_EQ_INT(poll(&pfd, 1, 20000), 1); /* a safety bound, not a timing assertion */
    cg_oom_ack(cg);
    CHECK_EQ_INT(cg_oom_kills(cg, &kills, &e), 0);
    CHECK(kills >= 1);
    CHECK_EQ_INT(cg_destroy(cg, 0, &e), 0);
}

TEST(oom_kill_is_detected)
{
    run_cleaned(body_oom);
}

static int kid_fork(void)
{
    pid_t p = fork();
    if (p == 0)
        _exit(0);
    if (p > 0) {
        waitpid(p, NULL, 0);
        return 1; /* fork should have been refused */
    }
    return errno == EAGAIN ? 0 : 2;
}

static void body_pids(const char *parent)
{
    struct cg_limits l = {.pids_max = 1};
    struct cg *cg = NULL;
    dd_err e = {0};
    CHECK_EQ_INT(cg_create(parent, "pids", &l, &cg, &e), 0);
    struct kid k = kid_start(kid_fork);
    CHECK_EQ_INT(cg_enter(cg, k.pid, &e), 0);
    kid_go(&k);
    int ws = kid_wait(&k);
    CHECK(WIFEXITED(ws));
    CHECK_EQ_INT(WEXITSTATUS(ws), 0);
    /* raising the limit with cg_update lets it fork */
    struct cg_limits up = {.pids_max = -1};
    CHECK_EQ_INT(cg_update(cg, &up, &e), 0);
    k = kid_start(kid_fork);
    CHECK_EQ_INT(cg_enter(cg, k.pid, &e), 0);
    kid_go(&k);
    ws = kid_wait(&k);
    CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 1);
    CHECK_EQ_INT(cg_destroy(cg, 0, &e), 0);
}

TEST(pids_max_blocks_fork)
{
    run_cleaned(body_pids);
}

static int kid_devices(void)
{
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return 1;
    close(fd);
    fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    if (fd >= 0)
        return 2;
    return errno == EPERM ? 0 : 3;
}

static void body_devices(const char *parent)
{
    static const struct cg_device_rule rules[] = {{false, 'a', -1, -1, "rwm"},
                                                  {true, 'c', 1, 3, "rwm"}};
    struct cg_limits l = {.devices = rules, .n_devices = 2};
    struct cg *cg = NULL;
    dd_err e = {0};
    CHECK_EQ_INT(cg_create(parent, "dev", &l, &cg, &e), 0);
    struct kid k = kid_start(kid_devices);
    CHECK_EQ_INT(cg_enter(cg, k.pid, &e), 0);
    kid_go(&k);
    int ws = kid_wait(&k);
    CHECK(WIFEXITED(ws));
    CHECK_EQ_INT(WEXITSTATUS(ws), 0);
    size_t n = 0;
    const struct cg_device_rule *def = cg_devices_docker_default(&n);
    CHECK(n > 5 && !def[0].allow && def[0].type == 'a');
    struct cg_limits l2 = {.devices = def, .n_devices = n};
    CHECK_EQ_INT(cg_update(cg, &l2, &e), 0);
    if (cg_mode() == CG_MODE_V1) {
        _cleanup_free_ char *list = read_cg_file(cg, "devices", "devices.list");
        CHECK(strstr(list, "c 1:3 rwm") != NULL);
        CHECK(strstr(list, "c 136:* rwm") != NULL);
    }
    CHECK_EQ_INT(cg_destroy(cg, 0, &e), 0);
}

TEST(device_rules_are_enforced)
{
    run_cleaned(body_devices);
}

static void body_nested(const char *parent)
{
    struct cg *cg = NULL;
    dd_err e = {0};
    CHECK_EQ_INT(cg_create(parent, "outer", NULL, &cg, &e), 0);
    /* A nested engine creates cgroups of its own below ours and runs processes there. */
    struct kid k = kid_start(kid_sleep);
    const char *ctls[] = {"memory", "pids", "cpu", "freezer"};
    for (size_t i = 0; i < DD_ARRAY_SIZE(ctls); i++) {
        const char *d = cg_dir(cg, ctls[i]);
        if (!d)
            continue;
        _cleanup_free_ char *sub = dd_path_join(d, "inner");
        _cleanup_free_ char *subsub = dd_path_join(sub, "leaf");
        CHECK(mkdir(sub, 0755) == 0 || errno == EEXIST);
        CHECK(mkdir(subsub, 0755) == 0 || errno == EEXIST);
        _cleanup_free_ char *procs = dd_path_join(subsub, "cgroup.procs");
        _cleanup_free_ char *pid = dd_asprintf("%d", (int)k.pid);
        int fd = open(procs, O_WRONLY);
        CHECK(fd >= 0);
        CHECK(write(fd, pid, strlen(pid)) > 0);
        close(fd);
    }
    kid_go(&k);
    bool pop = false;
    CHECK_EQ_INT(cg_is_populated(cg, &pop, &e), 0);
    CHECK(pop);
    pid_t *pids = NULL;
    size_t n = 0;
    CHECK_EQ_INT(cg_pids(cg, &pids, &n, &e), 0); /* docker top sees nested processes */
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(pids[0], k.pid);
    free(pids);
    _cleanup_free_ char *dir = dd_strdup(cg_dir(cg, "memory"));
    CHECK_EQ_INT(cg_destroy(cg, 0, &e), 0);
    int ws = kid_wait(&k);
    CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
    CHECK(!dir_exists(dir));
    CHECK_EQ_INT(cg_prune(parent, &e), 0);
    struct cg *gone = NULL;
    CHECK_EQ_INT(cg_open_existing(NULL, parent, &gone, &e), -ENOENT);
}

TEST(destroy_removes_nested_cgroups)
{
    run_cleaned(body_nested);
}

static void body_readopt(const char *parent)
{
    struct cg *cg = NULL;
    dd_err e = {0};
    struct cg_limits l = {.memory = 32 << 20};
    CHECK_EQ_INT(cg_create(parent, "keep", &l, &cg, &e), 0);
    struct kid k = kid_start(kid_sleep);
    CHECK_EQ_INT(cg_enter(cg, k.pid, &e), 0);
    kid_go(&k);
    cg_free(cg); /* the daemon restarts: only the handle goes */
    struct cg *again = NULL;
    CHECK_EQ_INT(cg_open_existing(parent, "keep", &again, &e), 0);
    pid_t *pids = NULL;
    size_t n = 0;
    CHECK_EQ_INT(cg_pids(again, &pids, &n, &e), 0);
    CHECK_EQ_INT(n, 1);
    /* creating the same cgroup while it has processes is refused */
    struct cg *dup = NULL;
    CHECK_EQ_INT(cg_create(parent, "keep", NULL, &dup, &e), -EBUSY);
    CHECK_EQ_INT(cg_create(parent, "keep", NULL, &dup, NULL), -EBUSY); /* code kept w/o dd_err */
    CHECK_EQ_INT(cg_destroy(again, 0, &e), 0);
    kid_wait(&k);
    CHECK_EQ_INT(cg_open_existing(parent, "keep", &again, &e), -ENOENT);
}

TEST(open_existing_readopts_after_restart)
{
    run_cleaned(body_readopt);
}

static void body_update(const char *parent)
{
    struct cg *cg = NULL;
    dd_err e = {0};
    struct cg_limits l = {.memory = 64 << 20, .memory_swap = 128 << 20};
    CHECK_EQ_INT(cg_create(parent, "upd", &l, &cg, &e), 0);
    /* Raising both needs memory+swap written first on v1. */
    struct cg_limits up = {.memory = 256 << 20, .memory_swap = 512 << 20};
    CHECK_EQ_INT(cg_update(cg, &up, &e), 0);
    struct cg_limits down = {.memory = 32 << 20, .memory_swap = 32 << 20};
    CHECK_EQ_INT(cg_update(cg, &down, &e), 0);
    struct cg_stats st;
    CHECK_EQ_INT(cg_stats_read(cg, &st, &e), 0);
    CHECK_EQ_INT(st.mem_limit, 32 << 20);
    /* A swap limit below the memory limit is refused with a message. */
    struct cg_limits bad = {.memory = 64 << 20, .memory_swap = 16 << 20};
    CHECK_EQ_INT(cg_update(cg, &bad, &e), -EINVAL);
    CHECK(strstr(e.msg, "smaller") != NULL);
    if (cg_mode() == CG_MODE_V1) {
        /* Raising memory past memory+swap alone gets Docker's message. */
        struct cg_limits over = {.memory = 64 << 20};
        CHECK_EQ_INT(cg_update(cg, &over, &e), -EINVAL);
        CHECK(strstr(e.msg, "update the memoryswap at the same time") != NULL);
        CHECK_EQ_INT(cg_stats_read(cg, &st, &e), 0);
        CHECK_EQ_INT(st.mem_limit, 32 << 20);
    }
    CHECK_EQ_INT(cg_destroy(cg, 0, &e), 0);
}

TEST(update_reorders_memory_and_swap)
{
    run_cleaned(body_update);
}

TEST(bad_names_are_refused)
{
    struct cg *cg = NULL;
    dd_err e = {0};
    CHECK_EQ_INT(cg_create("../escape", "x", NULL, &cg, &e), -EINVAL);
    CHECK_EQ_INT(cg_create("/abs", "x", NULL, &cg, &e), -EINVAL);
    CHECK_EQ_INT(cg_create("a//b", "x", NULL, &cg, &e), -EINVAL);
    CHECK_EQ_INT(cg_create("a/./b", "x", NULL, &cg, &e), -EINVAL);
    CHECK_EQ_INT(cg_create(NULL, "a/b", NULL, &cg, &e), -EINVAL);
    CHECK_EQ_INT(cg_create(NULL, "..", NULL, &cg, &e), -EINVAL);
    CHECK_EQ_INT(cg_create(NULL, "", NULL, &cg, &e), -EINVAL);
    CHECK_EQ_INT(cg_create("a/../b", "x", NULL, &cg, NULL), -EINVAL);
    CHECK(strstr(e.msg, "invalid") != NULL);
}

TEST(no_cgroups_mode_refuses_limits)
{
    struct cg_setup_opts o = {.disable = true};
    CHECK_EQ_INT(cg_setup(&o, NULL), 0);
    CHECK_EQ_INT(cg_mode(), CG_MODE_NONE);
    struct cg *cg = NULL;
    dd_err e = {0};
    struct cg_limits l = {.memory = 1 << 20};
    CHECK_EQ_INT(cg_create(NULL, "x", &l, &cg, &e), -EOPNOTSUPP);
    CHECK_EQ_INT(cg_create(NULL, "x", NULL, &cg, &e), 0);
    CHECK_EQ_INT(cg_enter(cg, getpid(), &e), 0);
    CHECK_EQ_INT(cg_destroy(cg, 0, &e), 0);
}

TEST(capacity_is_bounded_by_host)
{
    struct cg_capacity c;
    dd_err e = {0};
    CHECK_EQ_INT(cg_capacity_read(&c, &e), 0);
    uint64_t host = 0;
    _cleanup_free_ char *mi = NULL;
    CHECK(dd_read_file("/proc/meminfo", 0, &mi, NULL, NULL) >= 0);
    host = strtoull(strstr(mi, "MemTotal:") + 9, NULL, 10) * 1024;
    CHECK(c.memory_bytes > 0 && c.memory_bytes <= host);
    CHECK(c.ncpu >= 1 && c.ncpu <= (uint64_t)sysconf(_SC_NPROCESSORS_CONF));
    CHECK(c.cpu_milli >= 1 && c.cpu_milli <= c.ncpu * 1000);
    CHECK(c.pids_max > 0);
    uint64_t a = 0, b = 0;
    CHECK_EQ_INT(cg_host_cpu_ns(&a, &e), 0);
    for (volatile int i = 0; i < 10000000; i++)
        ;
    CHECK_EQ_INT(cg_host_cpu_ns(&b, &e), 0);
    CHECK(a > 0 && b >= a);
}

static void body_capacity_limited(const char *parent)
{
    /* A daemon started inside a limited cgroup reports that limit as its capacity. */
    struct cg_limits l = {.memory = 96 << 20, .cpu_quota_us = 50000, .cpu_period_us = 100000};
    struct cg *cg = NULL;
    dd_err e = {0};
    CHECK_EQ_INT(cg_create(parent, "cap", &l, &cg, &e), 0);
    CHECK_EQ_INT(cg_enter(cg, getpid(), &e), 0);
    CHECK_EQ_INT(cg_setup(NULL, &e), 0); /* re-detect our own cgroup */
    struct cg_capacity c;
    CHECK_EQ_INT(cg_capacity_read(&c, &e), 0);
    CHECK_EQ_INT(c.memory_bytes, 96 << 20);
    CHECK_EQ_INT(c.cpu_milli, 500);
}

TEST(capacity_follows_our_own_cgroup)
{
    run_cleaned(body_capacity_limited);
}

static void body_pause(const char *parent)
{
    struct cg *cg = NULL;
    dd_err e = {0};
    CHECK_EQ_INT(cg_create(parent, "pause", NULL, &cg, &e), 0);
    struct kid k = kid_start(kid_sleep);
    CHECK_EQ_INT(cg_enter(cg, k.pid, &e), 0);
    kid_go(&k);
    bool frozen = true;
    CHECK_EQ_INT(cg_is_frozen(cg, &frozen, &e), 0);
    CHECK(!frozen);
    CHECK_EQ_INT(cg_freeze(cg, true, &e), 0);
    CHECK_EQ_INT(cg_is_frozen(cg, &frozen, &e), 0);
    CHECK(frozen);
    /* a paused container keeps SIGTERM pending and stays paused */
    CHECK_EQ_INT(cg_kill_all(cg, SIGTERM, &e), 0);
    CHECK_EQ_INT(cg_is_frozen(cg, &frozen, &e), 0);
    CHECK(frozen);
    int st = 0;
    CHECK_EQ_INT(waitpid(k.pid, &st, WNOHANG), 0);
    CHECK_EQ_INT(cg_freeze(cg, false, &e), 0);
    int ws = kid_wait(&k);
    CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGTERM);
    /* SIGKILL of a paused container thaws it so the kill lands */
    k = kid_start(kid_sleep);
    CHECK_EQ_INT(cg_enter(cg, k.pid, &e), 0);
    kid_go(&k);
    CHECK_EQ_INT(cg_freeze(cg, true, &e), 0);
    CHECK_EQ_INT(cg_kill_all(cg, SIGKILL, &e), 0);
    ws = kid_wait(&k);
    CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
    CHECK_EQ_INT(cg_destroy(cg, 0, &e), 0);
}

TEST(pause_and_unpause)
{
    run_cleaned(body_pause);
}

TEST(base_handle_reads_stats_and_refuses_changes)
{
    struct cg *base = NULL;
    dd_err e = {0};
    CHECK_EQ_INT(cg_open_base(&base, &e), 0);
    CHECK_EQ_STR(cg_path(base), "");
    struct cg_stats st;
    CHECK_EQ_INT(cg_stats_read(base, &st, &e), 0);
    CHECK(st.has_cpu && st.cpu_total_ns > 0);
    if (cg_mode() == CG_MODE_V1)
        CHECK(st.has_memory && st.mem_usage > 0);
    cg_stats_release(&st);
    pid_t *pids = NULL;
    size_t n = 0;
    CHECK_EQ_INT(cg_pids(base, &pids, &n, &e), 0);
    bool me = false;
    for (size_t i = 0; i < n; i++)
        me |= pids[i] == getpid();
    CHECK(me);
    free(pids);
    struct cg_limits l = {.pids_max = 5};
    CHECK_EQ_INT(cg_update(base, &l, &e), -EPERM);
    CHECK_EQ_INT(cg_kill_all(base, SIGKILL, &e), -EPERM);
    CHECK_EQ_INT(cg_freeze(base, true, &e), -EPERM);
    CHECK_EQ_INT(cg_destroy(base, 0, &e), -EPERM);
    CHECK(strstr(e.msg, "daemon's own cgroup") != NULL);
    cg_free(base);
}
