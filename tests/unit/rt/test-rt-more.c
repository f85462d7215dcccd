/* rt: mounts (bind, tmpfs, read-only root), the built-in init, privileged containers, cgroups
 * (limits, OOM, top), re-adoption after the creator died, and cleanup by rt_delete. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "dind/cgroup.h"
#include "dind/lib/rt/security.h"
#include "tests/unit/rt/rt-fixture.h"

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void add_mount(struct rt_spec *s, const char *dest, const char *type, const char *src,
                      const char *const *opts)
{
    s->mounts = dd_realloc(s->mounts, (s->n_mounts + 1) * sizeof(*s->mounts));
    s->mounts[s->n_mounts++] =
        (struct rt_mount){dd_strdup(dest), dd_strdup(type), src ? dd_strdup(src) : NULL,
                          dd_strv_copy((char *const *)opts)};
}

RT_TEST(rt_bind_and_tmpfs_mounts_readonly_root)
{
    _cleanup_free_ char *vol = dd_asprintf("%s/vol", FX.dir);
    _cleanup_free_ char *hosts = dd_asprintf("%s/hosts", FX.dir);
    CHECK(dd_mkdir_p(vol, 0755, NULL) == 0);
    CHECK(dd_write_file_atomic(hosts, "1.2.3.4 h\n", 10, 0644, NULL) == 0);
    struct rt_spec s;
    rt_fx_spec(&s, "mnt",
               ARGS("sh", "-c",
                    "echo data >/data/deep/f && cat /etc/hosts && "
                    "grep -c ' /mnt/t tmpfs rw,nosuid' /proc/mounts && "
                    "(touch /x 2>/dev/null || echo rofs) && echo y >/mnt/t/y && cat /mnt/t/y && "
                    "( (echo z >/ro/z) 2>/dev/null || echo roro)"));
    add_mount(&s, "/data/deep", "bind", vol, ARGS("rbind", "rw"));
    add_mount(&s, "/data", "tmpfs", "tmpfs", ARGS("size=1m"));
    add_mount(&s, "/etc/hosts", "bind", hosts, ARGS("bind", "ro"));
    add_mount(&s, "/mnt/t", "tmpfs", "tmpfs", ARGS("nosuid", "size=2m", "mode=1777"));
    add_mount(&s, "/ro", "bind", vol, ARGS("bind", "ro"));
    s.root_readonly = true;
    rt_fx_create_start(&s);
    struct rt_state st = rt_fx_wait("mnt");
    _cleanup_free_ char *text = rt_fx_log_text("mnt");
    if (st.exit_code != 0 || strcmp(text, "1.2.3.4 h\n1\nrofs\ny\nroro\n") != 0)
        unit_fail(__FILE__, __LINE__, "exit %d output: %s", st.exit_code, text);
    _cleanup_free_ char *f = dd_asprintf("%s/f", vol);
    _cleanup_free_ char *data = NULL;
    CHECK(dd_read_file(f, 0, &data, NULL, NULL) == 0);
    CHECK_EQ_STR(data, "data\n");
    rt_spec_release(&s);
}

RT_TEST(rt_bind_destination_symlink_stays_inside)
{
    /* /escape -> /tmp/../../.. in the image: the mount must land inside the rootfs. */
    _cleanup_free_ char *link = dd_asprintf("%s/escape", FX.lower);
    CHECK(symlink("/../../../../tmp", link) == 0);
    _cleanup_free_ char *vol = dd_asprintf("%s/vol2", FX.dir);
    CHECK(dd_mkdir_p(vol, 0755, NULL) == 0);
    CHECK(dd_write_file_atomic(dd_asprintf("%s/marker", vol), "m", 1, 0644, NULL) == 0);
    struct rt_spec s;
    rt_fx_spec(&s, "esc", ARGS("cat", "/tmp/inside/marker"));
    add_mount(&s, "/escape/inside", "bind", vol, ARGS("bind"));
    rt_fx_create_start(&s);
    struct rt_state st = rt_fx_wait("esc");
    CHECK_EQ_INT(st.exit_code, 0);
    _cleanup_free_ char *text = rt_fx_log_text("esc");
    CHECK_EQ_STR(text, "m");
    CHECK(access("/tmp/inside", F_OK) < 0);
    rt_spec_release(&s);
}

RT_TEST(rt_init_reaps_and_forwards_signals)
{
    struct rt_spec s;
    rt_fx_spec(&s, "init",
               ARGS("sh", "-c",
                    "echo pid=$$; (sleep 0 &); trap 'exit 7' TERM; "
                    "echo ready; while :; do sleep 1; done"));
    s.init = true;
    rt_fx_create_start(&s);
    _cleanup_free_ char *state = rt_fx_state("init");
    _cleanup_free_ char *log = NULL;
    for (int i = 0; i < 2000; i++) {
        free(log);
        log = rt_fx_log_text("init");
        if (strstr(log, "ready"))
            break;
        usleep(5000);
    }
    CHECK(dd_startswith(log, "pid=2\n"));
    dd_err e = {0};
    CHECK(rt_kill(state, SIGTERM, &e) == 0);
    struct rt_state st = rt_fx_wait("init");
    CHECK_EQ_INT(st.exit_code, 7);
    rt_spec_release(&s);
}

RT_TEST(rt_privileged_can_mount_and_unshare)
{
    struct rt_spec s;
    rt_fx_spec(&s, "priv",
               ARGS("sh", "-c",
                    "unshare -m -p -f --mount-proc true && "
                    "mkdir -p /mnt && mount -t tmpfs none /mnt && echo ok && "
                    "mkdir /sys/fs/cgroup/memory/sub && rmdir /sys/fs/cgroup/memory/sub "
                    "&& echo cg; grep Seccomp: /proc/self/status"));
    s.privileged = true;
    s.cgroup_parent = dd_strdup(FX.cgparent);
    rt_fx_create_start(&s);
    struct rt_state st = rt_fx_wait("priv");
    _cleanup_free_ char *text = rt_fx_log_text("priv");
    if (st.exit_code != 0 || strcmp(text, "ok\ncg\nSeccomp:\t0\n") != 0)
        unit_fail(__FILE__, __LINE__, "exit %d output: %s %s", st.exit_code, text,
                  st.error ? st.error : "");
    rt_spec_release(&s);

    /* The same unprivileged fails. */
    rt_fx_spec(&s, "unpriv", ARGS("mount", "-t", "tmpfs", "none", "/mnt"));
    rt_fx_create_start(&s);
    st = rt_fx_wait("unpriv");
    CHECK(st.exit_code != 0);
    rt_spec_release(&s);
}

RT_TEST(rt_shim_survives_creator_and_is_readopted)
{
    pid_t creator = fork();
    if (creator == 0) {
        struct rt_spec s;
        rt_fx_spec(&s, "orphan", ARGS("sh", "-c", "echo up; exec sleep 1000"));
        rt_fx_create_start(&s);
        _exit(0);
    }
    int cst = 0;
    CHECK(waitpid(creator, &cst, 0) == creator && WIFEXITED(cst) && WEXITSTATUS(cst) == 0);
    _cleanup_free_ char *state = rt_fx_state("orphan");
    struct rt_state st = {0};
    dd_err e = {0};
    CHECK(rt_state(state, &st, &e) == 0);
    CHECK_EQ_INT(st.status, RT_RUNNING);
    CHECK(st.shim_pid > 0);
    int fd = rt_watch_fd(state, &e);
    CHECK(fd >= 0);
    _cleanup_free_ char *log = NULL;
    for (int i = 0; i < 2000 && (!log || !*log); i++) {
        free(log);
        log = rt_fx_log_text("orphan");
        usleep(2000);
    }
    CHECK(rt_kill(state, SIGKILL, &e) == 0);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    CHECK(poll(&p, 1, -1) == 1);
    close(fd);
    CHECK(rt_state(state, &st, &e) == 0);
    CHECK_EQ_INT(st.status, RT_EXITED);
    CHECK_EQ_INT(st.exit_code, 137);
    _cleanup_free_ char *text = rt_fx_log_text("orphan");
    CHECK_EQ_STR(text, "up\n");
}

static bool cgroup_exists(const char *name)
{
    struct cg *cg = NULL;
    int r = cg_open_existing(FX.cgparent, name, &cg, NULL);
    cg_free(cg);
    return r >= 0;
}

RT_TEST(rt_delete_leaves_no_mount_cgroup_or_process)
{
    struct rt_spec s;
    rt_fx_spec(&s, "del", ARGS("sh", "-c", "sleep 1000 & sleep 1000"));
    s.cgroup_parent = dd_strdup(FX.cgparent);
    s.resources.pids_limit = 50;
    rt_fx_create_start(&s);
    _cleanup_free_ char *state = rt_fx_state("del");
    pid_t *pids = NULL;
    size_t n = 0;
    dd_err e = {0};
    /* busybox sh execs its last command: two sleeps. */
    for (int i = 0; i < 2000 && n < 2; i++) {
        free(pids);
        pids = NULL;
        CHECK(rt_top(state, &pids, &n, &e) == 0);
        usleep(2000);
    }
    CHECK_EQ_INT(n, 2);
    CHECK(cgroup_exists("del"));
    CHECK(rt_fx_mounted_below(state));
    CHECK(rt_delete(state, &e) == 0);
    CHECK(!rt_fx_mounted_below(state));
    CHECK(!cgroup_exists("del"));
    CHECK(access(state, F_OK) < 0);
    for (size_t i = 0; i < n; i++)
        CHECK(kill(pids[i], 0) < 0 || rt_fx_is_zombie(pids[i]));
    free(pids);
    /* Idempotent, and a created-only container deletes too. */
    CHECK(rt_delete(state, &e) == 0);
    rt_spec_release(&s);
    rt_fx_spec(&s, "del2", ARGS("true"));
    _cleanup_free_ char *state2 = rt_fx_state("del2");
    CHECK(rt_create(&s, state2, &e) == 0);
    CHECK(rt_delete(state2, &e) == 0);
    CHECK(!rt_fx_mounted_below(state2));
    rt_spec_release(&s);
}

RT_TEST(rt_memory_limit_oom_kill_is_reported)
{
    if (!cg_has_controller("memory")) {
        printf("    skipped: no memory controller\n");
        return;
    }
    struct rt_spec s;
    rt_fx_spec(&s, "oom", ARGS("sh", "-c", "x=aaaaaaaaaaaaaaaa; while :; do x=$x$x; done"));
    s.cgroup_parent = dd_strdup(FX.cgparent);
    s.resources.memory = 16 << 20;
    s.resources.memory_swap = 16 << 20;
    rt_fx_create_start(&s);
    struct rt_state st = rt_fx_wait("oom");
    CHECK_EQ_INT(st.exit_code, 137);
    CHECK(st.oom_killed);
    rt_spec_release(&s);
}

RT_TEST(rt_limits_sysctls_loopback_nnp_devices)
{
    struct rlimit have;
    CHECK(getrlimit(RLIMIT_NOFILE, &have) == 0);
    struct stat root;
    CHECK(stat("/", &root) == 0);
    _cleanup_free_ char *cmd =
        dd_asprintf("ulimit -n; ulimit -Hn; ulimit -u; cat /proc/sys/net/ipv4/ip_forward; "
                    "cat /proc/self/oom_score_adj; grep NoNewPrivs /proc/self/status; "
                    "ifconfig lo | grep -c UP; mknod /tmp/disk b %u %u && "
                    "(head -c1 /tmp/disk >/dev/null 2>&1 || echo denied)",
                    major(root.st_dev), minor(root.st_dev));
    struct rt_spec s;
    rt_fx_spec(&s, "lim", ARGS("sh", "-c", cmd));
    s.cgroup_parent = dd_strdup(FX.cgparent);
    s.rlimits = dd_calloc(2, sizeof(*s.rlimits));
    s.n_rlimits = 2;
    /* A hard limit above ours cannot be raised here: it is kept, not an error. */
    s.rlimits[0] = (struct rt_rlimit){RLIMIT_NOFILE, 1000, (uint64_t)have.rlim_max * 4};
    s.rlimits[1] = (struct rt_rlimit){RLIMIT_NPROC, 300, 400};
    s.sysctls = dd_strv_push(NULL, "net.ipv4.ip_forward=1");
    s.oom_score_adj_set = true;
    s.oom_score_adj = 500;
    s.no_new_privileges = true;
    rt_fx_create_start(&s);
    struct rt_state st = rt_fx_wait("lim");
    _cleanup_free_ char *text = rt_fx_log_text("lim");
    _cleanup_free_ char *want = dd_asprintf("1000\n%llu\n300\n1\n500\nNoNewPrivs:\t1\n1\ndenied\n",
                                            (unsigned long long)have.rlim_max);
    if (st.exit_code != 0 || strcmp(text, want) != 0)
        unit_fail(__FILE__, __LINE__, "exit %d %s output: %s", st.exit_code,
                  st.error ? st.error : "", text);
    rt_spec_release(&s);
}

RT_TEST(rt_exec_joins_cgroup_and_top_sees_it)
{
    struct rt_spec s;
    rt_fx_spec(&s, "cgx", ARGS("sleep", "1000"));
    s.cgroup_parent = dd_strdup(FX.cgparent);
    rt_fx_create_start(&s);
    _cleanup_free_ char *state = rt_fx_state("cgx");
    struct rt_process p = {.args = (char **)ARGS("sh", "-c",
                                                 "grep :pids: /proc/self/cgroup; "
                                                 "exec sleep 1000")};
    struct rt_exec_result r;
    dd_err e = {0};
    if (rt_exec(state, &p, &r, &e) < 0)
        unit_fail(__FILE__, __LINE__, "rt_exec: %s", e.msg);
    char buf[256] = {0};
    CHECK(read(r.stdout_fd, buf, sizeof(buf) - 1) > 0);
    CHECK(dd_endswith(buf, ":pids:/\n"));
    pid_t *pids = NULL;
    size_t n = 0;
    /* grep may still be exiting: wait for sleep + the exec'ed sleep. */
    for (int i = 0; i < 2000 && n != 2; i++) {
        free(pids);
        pids = NULL;
        CHECK(rt_top(state, &pids, &n, &e) == 0);
        usleep(2000);
    }
    CHECK_EQ_INT(n, 2);
    CHECK(pids[0] == r.pid || pids[1] == r.pid);
    free(pids);
    kill(r.pid, SIGKILL);
    siginfo_t si;
    CHECK(waitid(P_PIDFD, (id_t)r.pidfd, &si, WEXITED) == 0);
    rt_exec_result_close(&r);
    rt_spec_release(&s);
}

RT_TEST(rt_container_dies_with_its_shim)
{
    struct rt_spec s;
    rt_fx_spec(&s, "shimkill", ARGS("sleep", "1000"));
    rt_fx_create_start(&s);
    _cleanup_free_ char *state = rt_fx_state("shimkill");
    struct rt_state st = {0};
    dd_err e = {0};
    CHECK(rt_state(state, &st, &e) == 0);
    CHECK_EQ_INT(st.status, RT_RUNNING);
    pid_t pid = st.pid;
    CHECK(kill(st.shim_pid, SIGKILL) == 0);
    for (int i = 0; i < 5000 && kill(pid, 0) == 0 && !rt_fx_is_zombie(pid); i++)
        usleep(1000);
    CHECK(kill(pid, 0) < 0 || rt_fx_is_zombie(pid));
    CHECK(rt_state(state, &st, &e) == 0);
    CHECK_EQ_INT(st.status, RT_EXITED);
    CHECK_EQ_INT(st.exit_code, 137);
    CHECK_EQ_STR(st.error, "shim died");
    rt_state_release(&st);
    rt_spec_release(&s);
}
