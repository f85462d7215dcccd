/* rt: containers from a busybox rootfs, run for real (needs root): output and exit codes, kill,
 * missing binaries, pty, attach before start, mounts, users, init, exec, privileged, re-adoption
 * after the creator died, and that rt_delete leaves nothing behind. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tests/unit/rt/rt-fixture.h"

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static struct rt_state run(const char *name, const char *const *args)
{
    struct rt_spec s;
    rt_fx_spec(&s, name, args);
    rt_fx_create_start(&s);
    rt_spec_release(&s);
    return rt_fx_wait(name);
}

RT_TEST(rt_echo_hi_logs_and_exits_0)
{
    struct rt_state st = run("echo", ARGS("echo", "hi"));
    CHECK_EQ_INT(st.status, RT_EXITED);
    CHECK_EQ_INT(st.exit_code, 0);
    CHECK(st.finished_at > 0);
    _cleanup_free_ char *text = rt_fx_log_text("echo");
    CHECK_EQ_STR(text, "hi\n");
    _cleanup_free_ char *path = rt_fx_log("echo");
    _cleanup_free_ char *raw = NULL;
    CHECK(dd_read_file(path, 0, &raw, NULL, NULL) == 0);
    CHECK(dd_startswith(raw, "{\"log\":\"hi\\n\",\"stream\":\"stdout\",\"time\":\"20"));
    rt_state_release(&st);
}

RT_TEST(rt_exit_code_and_stderr)
{
    struct rt_state st = run("exit3", ARGS("sh", "-c", "echo out; echo err >&2; exit 3"));
    CHECK_EQ_INT(st.exit_code, 3);
    CHECK_EQ_INT(st.exit_signal, 0);
    _cleanup_free_ char *path = rt_fx_log("exit3");
    _cleanup_free_ char *raw = NULL;
    CHECK(dd_read_file(path, 0, &raw, NULL, NULL) == 0);
    CHECK(strstr(raw, "\"log\":\"err\\n\",\"stream\":\"stderr\""));
    CHECK(strstr(raw, "\"log\":\"out\\n\",\"stream\":\"stdout\""));
}

RT_TEST(rt_kill_gives_137_and_state_running_before)
{
    struct rt_spec s;
    rt_fx_spec(&s, "sleeper", ARGS("sleep", "1000"));
    rt_fx_create_start(&s);
    _cleanup_free_ char *state = rt_fx_state("sleeper");
    struct rt_state st = {0};
    dd_err e = {0};
    CHECK(rt_state(state, &st, &e) == 0);
    CHECK_EQ_INT(st.status, RT_RUNNING);
    CHECK(st.pid > 0);
    CHECK(st.started_at > 0);
    CHECK(rt_kill(state, SIGKILL, &e) == 0);
    st = rt_fx_wait("sleeper");
    CHECK_EQ_INT(st.status, RT_EXITED);
    CHECK_EQ_INT(st.exit_code, 137);
    CHECK_EQ_INT(st.exit_signal, SIGKILL);
    CHECK(rt_kill(state, SIGKILL, &e) == -ESRCH);
    rt_spec_release(&s);
}

RT_TEST(rt_missing_binary_is_127_with_docker_message)
{
    struct rt_spec s;
    rt_fx_spec(&s, "nobin", ARGS("nosuchcmd"));
    _cleanup_free_ char *state = rt_fx_state("nobin");
    dd_err e = {0};
    CHECK(rt_create(&s, state, &e) == 0);
    CHECK(rt_start(state, &e) == -ENOENT);
    CHECK_EQ_STR(e.msg, "exec: \"nosuchcmd\": executable file not found in $PATH");
    struct rt_state st = rt_fx_wait("nobin");
    CHECK_EQ_INT(st.exit_code, 127);
    CHECK(st.error && strstr(st.error, "executable file not found"));
    rt_state_release(&st);
    rt_spec_release(&s);
}

RT_TEST(rt_permission_denied_is_126)
{
    struct rt_spec s;
    rt_fx_spec(&s, "noexec", ARGS("/etc/passwd"));
    _cleanup_free_ char *state = rt_fx_state("noexec");
    dd_err e = {0};
    CHECK(rt_create(&s, state, &e) == 0);
    CHECK(rt_start(state, &e) == -EACCES);
    CHECK_EQ_STR(e.msg, "exec: \"/etc/passwd\": permission denied");
    struct rt_state st = rt_fx_wait("noexec");
    CHECK_EQ_INT(st.exit_code, 126);
    rt_state_release(&st);
    rt_spec_release(&s);
}

RT_TEST(rt_isolation_hostname_pid1_proc_masks)
{
    struct rt_state st =
        run("iso", ARGS("sh", "-c",
                        "hostname; echo pid=$$; wc -c </proc/timer_list; "
                        "ls /sys/firmware | wc -l; grep -c ' /sys sysfs ro' "
                        "/proc/mounts; (echo x >/proc/sys/kernel/domainname) 2>/dev/null || "
                        "echo ro; grep Seccomp: /proc/self/status; "
                        "grep CapEff /proc/self/status"));
    CHECK_EQ_INT(st.exit_code, 0);
    _cleanup_free_ char *text = rt_fx_log_text("iso");
    if (!dd_startswith(text, "iso\npid=1\n0\n0\n1\n"))
        unit_fail(__FILE__, __LINE__, "output: %s", text);
    CHECK(strstr(text, "ro\nSeccomp:\t2\nCapEff:\t00000000a80425fb\n"));
}

RT_TEST(rt_user_resolution)
{
    struct rt_spec s;
    rt_fx_spec(&s, "user", ARGS("sh", "-c", "id -u; id -g; echo $HOME"));
    s.process.user = dd_strdup("nobody");
    rt_fx_create_start(&s);
    struct rt_state st = rt_fx_wait("user");
    CHECK_EQ_INT(st.exit_code, 0);
    _cleanup_free_ char *text = rt_fx_log_text("user");
    CHECK_EQ_STR(text, "65534\n65534\n/nonexistent\n");
    rt_spec_release(&s);

    rt_fx_spec(&s, "user2", ARGS("id"));
    s.process.user = dd_strdup("1234:root");
    rt_fx_create_start(&s);
    rt_fx_wait("user2");
    _cleanup_free_ char *t2 = rt_fx_log_text("user2");
    CHECK(dd_startswith(t2, "uid=1234 gid=0(root)"));
    rt_spec_release(&s);

    rt_fx_spec(&s, "user3", ARGS("id"));
    s.process.user = dd_strdup("ghost");
    _cleanup_free_ char *state = rt_fx_state("user3");
    dd_err e = {0};
    CHECK(rt_create(&s, state, &e) == 0);
    CHECK(rt_start(state, &e) < 0);
    CHECK_EQ_STR(e.msg, "unable to find user ghost: no matching entries in passwd file");
    rt_spec_release(&s);
}
