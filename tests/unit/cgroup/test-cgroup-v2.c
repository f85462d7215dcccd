/* Unit tests for the cgroup v2 driver on any machine: each test mounts the unified hierarchy
 * privately (a new mount namespace, `mount -t cgroup2` on a temporary directory), makes a test
 * cgroup the "daemon's own" cgroup and drives the driver through the public API. On a hybrid host
 * the unified hierarchy has no memory/pids/cpu controllers (they are bound to v1), so what runs
 * there is the controller-independent part: delegation and the move into "<base>/init",
 * cgroup.procs, cgroup.events, cgroup.freeze, cgroup.kill, cpu.stat, eBPF device filters,
 * CLONE_INTO_CGROUP, nested removal; limit tests check the clear refusal instead. On a pure v2
 * host the same tests exercise the limits too. */
#include <linux/bpf.h>
#include <linux/sched.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "helpers.h"

static char mnt[64];
static char test_rel[64];

static bool have_cgroup2(void)
{
    _cleanup_free_ char *fs = NULL;
    return dd_read_file("/proc/filesystems", 0, &fs, NULL, NULL) >= 0 &&
           strstr(fs, "\tcgroup2\n") != NULL;
}

static char *mnt_path(const char *rel)
{
    return dd_asprintf("%s/%s%s%s", mnt, test_rel, rel ? "/" : "", rel ? rel : "");
}

static bool path_has_word(const char *path, const char *word)
{
    _cleanup_free_ char *s = NULL;
    if (dd_read_file(path, 0, &s, NULL, NULL) < 0)
        return false;
    for (char *save = NULL, *t = strtok_r(s, " \n", &save); t; t = strtok_r(NULL, " \n", &save))
        if (strcmp(t, word) == 0)
            return true;
    return false;
}

/* In the body process: become a process of the test cgroup and make it our base. */
static void body_enter_base(void)
{
    _cleanup_free_ char *procs = mnt_path("cgroup.procs");
    _cleanup_free_ char *me = dd_asprintf("%d", (int)getpid());
    int fd = open(procs, O_WRONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(write(fd, me, strlen(me)) > 0);
    close(fd);
    _cleanup_free_ char *own = dd_asprintf("/%s", test_rel);
    struct cg_setup_opts o = {.mode = CG_MODE_V2, .v2_root = mnt, .v2_own = own};
    dd_err e = {0};
    CHECK_EQ_INT(cg_setup(&o, &e), 0);
    CHECK_EQ_INT(cg_mode(), CG_MODE_V2);
}

/* Controllers the hierarchy's root offers but does not hand to children (a hybrid host's
 * hugetlb): enabled for the test so delegation has something to do, disabled again after. */
static char **root_enable(void)
{
    _cleanup_free_ char *avail = NULL, *on = NULL;
    _cleanup_free_ char *ap = dd_path_join(mnt, "cgroup.controllers");
    _cleanup_free_ char *sp = dd_path_join(mnt, "cgroup.subtree_control");
    char **enabled = NULL;
    if (dd_read_file(ap, 0, &avail, NULL, NULL) < 0)
        return NULL;
    for (char *save = NULL, *t = strtok_r(avail, " \n", &save); t;
         t = strtok_r(NULL, " \n", &save)) {
        if (path_has_word(sp, t))
            continue;
        _cleanup_free_ char *cmd = dd_asprintf("+%s", t);
        int fd = open(sp, O_WRONLY | O_CLOEXEC);
        if (fd >= 0 && write(fd, cmd, strlen(cmd)) > 0)
            enabled = dd_strv_push(enabled, t);
        if (fd >= 0)
            close(fd);
    }
    return enabled;
}

static void root_restore(char **enabled)
{
    _cleanup_free_ char *sp = dd_path_join(mnt, "cgroup.subtree_control");
    for (char **t = enabled; t && *t; t++) {
        _cleanup_free_ char *cmd = dd_asprintf("-%s", *t);
        int fd = open(sp, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            (void)!write(fd, cmd, strlen(cmd));
            close(fd);
        }
    }
    dd_strv_free(enabled);
}

/* Mounts the unified hierarchy privately, runs body in a child, removes everything after. */
static void run_v2(void (*body)(void))
{
    if (!have_cgroup2()) {
        printf("    (no cgroup2 filesystem in this kernel: v2 driver tests skipped)\n");
        return;
    }
    CHECK(unshare(CLONE_NEWNS) == 0);
    CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
    snprintf(mnt, sizeof(mnt), "/tmp/dind-cg2-XXXXXX");
    CHECK(mkdtemp(mnt) != NULL);
    snprintf(test_rel, sizeof(test_rel), "dind-unit-v2-%d", (int)getpid());
    int mr = mount("none", mnt, "cgroup2", 0, NULL);
    if (mr < 0)
        rmdir(mnt);
    CHECK(mr == 0);
    char **enabled = root_enable();
    _cleanup_free_ char *top = mnt_path(NULL);
    CHECK(mkdir(top, 0755) == 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        body();
        fflush(NULL);
        _exit(0);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    /* Clean up through the driver itself, with the mount's root as the base. */
    struct cg_setup_opts o = {.mode = CG_MODE_V2, .v2_root = mnt, .v2_own = "/"};
    struct cg *cg = NULL;
    dd_err e = {0};
    int cr = cg_setup(&o, &e);
    if (cr >= 0 && cg_open_existing(NULL, test_rel, &cg, &e) >= 0)
        cr = cg_destroy(cg, 10000, &e);
    root_restore(enabled);
    umount2(mnt, MNT_DETACH);
    rmdir(mnt);
    CHECK_EQ_INT(cr, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void body_delegation(void)
{
    body_enter_base();
    struct cg *cg = NULL;
    dd_err e = {0};
    CHECK_EQ_INT(cg_create("pods/p1", "c1", NULL, &cg, &e), 0);
    /* We were the base's only process: now we live in base/init and the base delegates. */
    _cleanup_free_ char *init_procs = mnt_path("init/cgroup.procs");
    _cleanup_free_ char *me = dd_asprintf("%d", (int)getpid());
    CHECK(path_has_word(init_procs, me));
    _cleanup_free_ char *base_procs = mnt_path("cgroup.procs");
    CHECK(!path_has_word(base_procs, me));
    _cleanup_free_ char *ctls = NULL, *avail_path = mnt_path("cgroup.controllers");
    CHECK(dd_read_file(avail_path, 0, &ctls, NULL, NULL) >= 0);
    CHECK(ctls[0] != '\n' && ctls[0] != '\0'); /* something to delegate */
    _cleanup_free_ char *sub = mnt_path("cgroup.subtree_control");
    _cleanup_free_ char *leaf_ctl = mnt_path("pods/p1/c1/cgroup.controllers");
    for (char *save = NULL, *t = strtok_r(ctls, " \n", &save); t;
         t = strtok_r(NULL, " \n", &save)) {
        CHECK(path_has_word(sub, t));
        CHECK(path_has_word(leaf_ctl, t)); /* delegated along pods/p1 down to the leaf */
    }
    /* A restarted daemon starts in base/init: it must take base as its base again. */
    cg_free(cg);
    _cleanup_free_ char *own = dd_asprintf("/%s/init", test_rel);
    struct cg_setup_opts o = {.mode = CG_MODE_V2, .v2_root = mnt, .v2_own = own};
    CHECK_EQ_INT(cg_setup(&o, &e), 0);
    CHECK_EQ_INT(cg_open_existing("pods/p1", "c1", &cg, &e), 0);
    CHECK_EQ_INT(cg_destroy(cg, 0, &e), 0);
    CHECK_EQ_INT(cg_prune("pods/p1", &e), 0);
    _cleanup_free_ char *pods = mnt_path("pods");
    CHECK(access(pods, F_OK) < 0);
}

TEST(v2_delegation_moves_the_daemon_into_init)
{
    run_v2(body_delegation);
}

static void on_usr1(int sig)
{
    _exit(7);
}

static int kid_usr1(void)
{
    signal(SIGUSR1, on_usr1);
    kid_ready();
    for (;;)
        pause();
    return 0;
}

static void body_procs_kill(void)
{
    body_enter_base();
    struct cg *cg = NULL;
    dd_err e = {0};
    CHECK_EQ_INT(cg_create(NULL, "c1", NULL, &cg, &e), 0);
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
    CHECK(st.has_cpu); /* cpu.stat exists in every v2 cgroup */
    CHECK(st.cpu_total_ns > 0);
    cg_stats_release(&st);
    /* SIGTERM goes through cgroup.freeze; it must arrive once the group thaws. */
    CHECK_EQ_INT(cg_kill_all(cg, SIGTERM, &e), 0);
    int ws = kid_wait(&k);
    CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGTERM);
    _cleanup_free_ char *frozen = mnt_path("c1/cgroup.freeze");
    _cleanup_free_ char *fz = NULL;
    CHECK(dd_read_file(frozen, 0, &fz, NULL, NULL) >= 0);
    CHECK(fz[0] == '0');
    /* pause: a handled signal stays pending while frozen and runs on unpause (v2 lets a fatal
     * one through, so the probe is a handler) */
    k = kid_start(kid_usr1);
    CHECK_EQ_INT(cg_enter(cg, k.pid, &e), 0);
    kid_go(&k);
    kid_wait_ready(&k);
    CHECK_EQ_INT(cg_freeze(cg, true, &e), 0);
    bool is_frozen = false;
    CHECK_EQ_INT(cg_is_frozen(cg, &is_frozen, &e), 0);
    CHECK(is_frozen);
    CHECK_EQ_INT(cg_kill_all(cg, SIGUSR1, &e), 0);
    CHECK_EQ_INT(cg_is_frozen(cg, &is_frozen, &e), 0);
    CHECK(is_frozen);
    int st2 = 0;
    CHECK_EQ_INT(waitpid(k.pid, &st2, WNOHANG), 0);
    CHECK_EQ_INT(cg_freeze(cg, false, &e), 0);
    ws = kid_wait(&k);
    CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 7);
    /* SIGKILL goes through cgroup.kill. */
    k = kid_start(kid_sleep);
    CHECK_EQ_INT(cg_enter(cg, k.pid, &e), 0);
    kid_go(&k);
    CHECK_EQ_INT(cg_kill_all(cg, SIGKILL, &e), 0);
    ws = kid_wait(&k);
    CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
    _cleanup_free_ char *dir = mnt_path("c1");
    CHECK_EQ_INT(cg_destroy(cg, 0, &e), 0);
    CHECK(access(dir, F_OK) < 0);
}

TEST(v2_procs_freeze_kill_destroy)
{
    run_v2(body_procs_kill);
}

static void body_nested(void)
{
    body_enter_base();
    struct cg *cg = NULL;
    dd_err e = {0};
    CHECK_EQ_INT(cg_create(NULL, "outer", NULL, &cg, &e), 0);
    _cleanup_free_ char *inner = mnt_path("outer/inner");
    _cleanup_free_ char *leaf = mnt_path("outer/inner/leaf");
    CHECK(mkdir(inner, 0755) == 0 && mkdir(leaf, 0755) == 0);
    struct kid k = kid_start(kid_sleep);
    _cleanup_free_ char *procs = dd_path_join(leaf, "cgroup.procs");
    _cleanup_free_ char *pid = dd_asprintf("%d", (int)k.pid);
    int fd = open(procs, O_WRONLY);
    CHECK(fd >= 0 && write(fd, pid, strlen(pid)) > 0);
    close(fd);
    kid_go(&k);
    CHECK_EQ_INT(cg_destroy(cg, 0, &e), 0);
    int ws = kid_wait(&k);
    CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
    _cleanup_free_ char *outer = mnt_path("outer");
    CHECK(access(outer, F_OK) < 0);
}

TEST(v2_destroy_removes_nested_cgroups)
{
    run_v2(body_nested);
}

static int kid_devices_zero(void)
{
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return 1;
    close(fd);
    fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        close(fd);
        return 10; /* zero allowed */
    }
    return errno == EPERM ? 0 : 3;
}

static uint32_t attached_programs(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(fd >= 0);
    uint32_t ids[8];
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.query.target_fd = (uint32_t)fd;
    a.query.attach_type = BPF_CGROUP_DEVICE;
    a.query.prog_ids = (uint64_t)(uintptr_t)ids;
    a.query.prog_cnt = 8;
    CHECK(syscall(SYS_bpf, BPF_PROG_QUERY, &a, sizeof(a)) == 0);
    close(fd);
    return a.query.prog_cnt;
}

static int run_devices_kid(struct cg *cg)
{
    dd_err e = {0};
    struct kid k = kid_start(kid_devices_zero);
    CHECK_EQ_INT(cg_enter(cg, k.pid, &e), 0);
    kid_go(&k);
    int ws = kid_wait(&k);
    CHECK(WIFEXITED(ws));
    return WEXITSTATUS(ws);
}

static void body_devices(void)
{
    body_enter_base();
    static const struct cg_device_rule deny_zero[] = {{false, 'a', -1, -1, "rwm"},
                                                      {true, 'c', 1, 3, "rwm"}};
    static const struct cg_device_rule allow_zero[] = {
        {false, 'a', -1, -1, "rwm"}, {true, 'c', 1, 3, "rwm"}, {true, 'c', 1, 5, "r"}};
    struct cg_limits l = {.devices = deny_zero, .n_devices = 2};
    struct cg *cg = NULL;
    dd_err e = {0};
    CHECK_EQ_INT(cg_create(NULL, "dev", &l, &cg, &e), 0);
    CHECK_EQ_INT(run_devices_kid(cg), 0);
    /* docker update: the new program replaces the old one, never both, never none */
    struct cg_limits l2 = {.devices = allow_zero, .n_devices = 3};
    CHECK_EQ_INT(cg_update(cg, &l2, &e), 0);
    CHECK_EQ_INT(attached_programs(cg_dir(cg, NULL)), 1);
    CHECK_EQ_INT(run_devices_kid(cg), 10);
    /* a later exception wins over an earlier one */
    static const struct cg_device_rule later_deny[] = {
        {false, 'a', -1, -1, "rwm"}, {true, 'c', -1, -1, "rwm"}, {false, 'c', 1, 5, "r"}};
    struct cg_limits l3 = {.devices = later_deny, .n_devices = 3};
    CHECK_EQ_INT(cg_update(cg, &l3, &e), 0);
    CHECK_EQ_INT(run_devices_kid(cg), 0);
    static const struct cg_device_rule bad[] = {{true, 'x', 1, 1, "rwm"}};
    struct cg_limits lb = {.devices = bad, .n_devices = 1};
    CHECK_EQ_INT(cg_update(cg, &lb, &e), -EINVAL);
    CHECK_EQ_INT(attached_programs(cg_dir(cg, NULL)), 1);
    CHECK_EQ_INT(cg_destroy(cg, 0, &e), 0);
}

TEST(v2_devices_through_ebpf)
{
    run_v2(body_devices);
}

static void body_clone_into(void)
{
    body_enter_base();
    struct cg *cg = NULL;
    dd_err e = {0};
    CHECK_EQ_INT(cg_create(NULL, "cl", NULL, &cg, &e), 0);
    int dfd = cg_dirfd(cg);
    CHECK(dfd >= 0);
    struct clone_args args = {0};
    args.flags = CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = (uint64_t)dfd;
    _cleanup_free_ char *want = dd_asprintf("0::/%s/cl\n", test_rel);
    long pid = syscall(SYS_clone3, &args, sizeof(args));
    if (pid == 0) {
        _cleanup_free_ char *s = NULL;
        if (dd_read_file("/proc/self/cgroup", 0, &s, NULL, NULL) < 0)
            _exit(2);
        _exit(strstr(s, want) ? 0 : 1);
    }
    CHECK(pid > 0);
    int st = 0;
    CHECK(waitpid((pid_t)pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_EQ_INT(cg_destroy(cg, 0, &e), 0);
}

TEST(v2_clone_into_cgroup)
{
    run_v2(body_clone_into);
}

static int kid_hog(void)
{
    for (size_t total = 0; total < ((size_t)1 << 30); total += 1 << 20) {
        char *p = malloc(1 << 20);
        if (!p)
            return 3;
        memset(p, 0x5a, 1 << 20);
    }
    return 4;
}

static void body_limits(void)
{
    body_enter_base();
    dd_err e = {0};
    struct cg *cg = NULL;
    struct cg_limits l = {.memory = 8 << 20, .memory_swap = 8 << 20, .pids_max = 20};
    if (!cg_has_controller("memory") || !cg_has_controller("pids")) {
        /* hybrid host: the controllers live in v1; the refusal must be clear and leave nothing */
        CHECK_EQ_INT(cg_create(NULL, "lim", &l, &cg, &e), -EOPNOTSUPP);
        CHECK(strstr(e.msg, "controller is not available") != NULL);
        _cleanup_free_ char *dir = mnt_path("lim");
        CHECK(access(dir, F_OK) < 0);
        return;
    }
    CHECK_EQ_INT(cg_create(NULL, "lim", &l, &cg, &e), 0);
    _cleanup_free_ char *max = NULL, *p = mnt_path("lim/memory.max");
    CHECK(dd_read_file(p, 0, &max, NULL, NULL) >= 0);
    CHECK_EQ_STR(max, "8388608\n");
    int fd = cg_oom_fd(cg, &e);
    CHECK(fd >= 0);
    struct kid k = kid_start(kid_hog);
    CHECK_EQ_INT(cg_enter(cg, k.pid, &e), 0);
    kid_go(&k);
    int ws = kid_wait(&k);
    CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
    uint64_t kills = 0;
    CHECK_EQ_INT(cg_oom_kills(cg, &kills, &e), 0);
    CHECK(kills >= 1);
    CHECK_EQ_INT(cg_destroy(cg, 0, &e), 0);
}

TEST(v2_limits_or_a_clear_refusal)
{
    run_v2(body_limits);
}
