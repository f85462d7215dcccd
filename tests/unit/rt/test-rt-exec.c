/* rt: exec into a running container, pty containers, attach before start, resize. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "tests/unit/rt/rt-fixture.h"

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void start_sleeper(const char *name)
{
    struct rt_spec s;
    rt_fx_spec(&s, name, ARGS("sleep", "1000"));
    rt_fx_create_start(&s);
    rt_spec_release(&s);
}

static int wait_exit(struct rt_exec_result *r)
{
    siginfo_t si = {0};
    while (waitid(P_PIDFD, (id_t)r->pidfd, &si, WEXITED) < 0 && errno == EINTR)
        ;
    return si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
}

RT_TEST(rt_exec_output_and_exit_code)
{
    start_sleeper("ex");
    _cleanup_free_ char *state = rt_fx_state("ex");
    struct rt_process p = {.args = (char **)ARGS("sh", "-c",
                                                 "echo out $$; cat; echo err >&2; "
                                                 "hostname; grep Seccomp: /proc/self/status; "
                                                 "exit 5"),
                           .env = (char **)ARGS("PATH=/bin"),
                           .open_stdin = true};
    struct rt_exec_result r;
    dd_err e = {0};
    if (rt_exec(state, &p, &r, &e) < 0)
        unit_fail(__FILE__, __LINE__, "rt_exec: %s", e.msg);
    CHECK(r.pid > 0);
    CHECK(dd_write_all(r.stdin_fd, "in\n", 3) == 0);
    close(r.stdin_fd);
    r.stdin_fd = -1;
    _cleanup_free_ char *out = rt_fx_read_all(r.stdout_fd);
    _cleanup_free_ char *err = rt_fx_read_all(r.stderr_fd);
    CHECK_EQ_INT(wait_exit(&r), 5);
    /* A pid in the container's namespace (not 1: that is sleep). */
    CHECK(dd_startswith(out, "out "));
    CHECK(!dd_startswith(out, "out 1\n"));
    CHECK(dd_endswith(out, "\nin\nex\nSeccomp:\t2\n"));
    CHECK_EQ_STR(err, "err\n");
    rt_exec_result_close(&r);
}

RT_TEST(rt_exec_missing_binary_and_not_running)
{
    start_sleeper("ex2");
    _cleanup_free_ char *state = rt_fx_state("ex2");
    struct rt_process p = {.args = (char **)ARGS("bash")};
    struct rt_exec_result r;
    dd_err e = {0};
    CHECK(rt_exec(state, &p, &r, &e) == -ENOENT);
    CHECK_EQ_STR(e.msg, "exec failed: unable to start container process: exec: \"bash\": "
                        "executable file not found in $PATH");
    CHECK(waitpid(-1, NULL, WNOHANG) <= 0); /* nothing left to reap */
    CHECK(rt_kill(state, SIGKILL, &e) == 0);
    rt_fx_wait("ex2");
    CHECK(rt_exec(state, &p, &r, &e) == -ESRCH);
}

RT_TEST(rt_exec_user_and_tty)
{
    start_sleeper("ex3");
    _cleanup_free_ char *state = rt_fx_state("ex3");
    struct rt_process p = {.args = (char **)ARGS("sh", "-c", "id -u; tty; stty size"),
                           .user = (char *)"nobody",
                           .terminal = true,
                           .rows = 30,
                           .cols = 100};
    struct rt_exec_result r;
    dd_err e = {0};
    if (rt_exec(state, &p, &r, &e) < 0)
        unit_fail(__FILE__, __LINE__, "rt_exec: %s", e.msg);
    CHECK(r.stderr_fd < 0);
    dd_buf b = DD_BUF_INIT;
    char buf[1024];
    for (ssize_t n; (n = read(r.stdout_fd, buf, sizeof(buf))) > 0;) /* EIO at the end */
        dd_buf_add(&b, buf, (size_t)n);
    dd_buf_addc(&b, '\0');
    CHECK_EQ_INT(wait_exit(&r), 0);
    if (!strstr(b.data, "65534\r\n/dev/pts/") || !strstr(b.data, "30 100\r\n"))
        unit_fail(__FILE__, __LINE__, "output: %s", b.data);
    dd_buf_release(&b);
    rt_exec_result_close(&r);
}

/* Reads frames from an attach socket until EOF; returns stdout and stderr concatenated with a
 * stream marker per frame ("1:" / "2:"). */
static char *read_frames(int fd)
{
    size_t raw_len = 0;
    _cleanup_free_ char *raw = rt_fx_read_all_len(fd, &raw_len);
    dd_buf b = DD_BUF_INIT;
    dd_buf_adds(&b, "");
    size_t len = raw_len;
    for (size_t i = 0; i + 8 <= len;) {
        const unsigned char *h = (const unsigned char *)raw + i;
        size_t n = (size_t)h[4] << 24 | (size_t)h[5] << 16 | (size_t)h[6] << 8 | h[7];
        dd_buf_addf(&b, "%d:", h[0]);
        dd_buf_add(&b, raw + i + 8, n);
        i += 8 + n;
    }
    return dd_buf_detach(&b, NULL);
}

RT_TEST(rt_attach_before_start_loses_nothing)
{
    struct rt_spec s;
    rt_fx_spec(&s, "att", ARGS("sh", "-c", "echo first; read x; echo got $x; echo e >&2"));
    s.process.open_stdin = true;
    _cleanup_free_ char *state = rt_fx_state("att");
    dd_err e = {0};
    CHECK(rt_create(&s, state, &e) == 0);
    struct rt_state st = {0};
    CHECK(rt_state(state, &st, &e) == 0);
    CHECK_EQ_INT(st.status, RT_CREATED);
    int fd = rt_attach_connect(state, &e);
    if (fd < 0)
        unit_fail(__FILE__, __LINE__, "attach: %s", e.msg);
    CHECK(rt_start(state, &e) == 0);
    unsigned char frame[8 + 4] = {RT_STREAM_STDIN, 0, 0, 0, 0, 0, 0, 4, 'a', 'b', 'c', '\n'};
    CHECK(dd_write_all(fd, frame, sizeof(frame)) == 0);
    unsigned char eof[8] = {RT_STREAM_STDIN_EOF};
    CHECK(dd_write_all(fd, eof, sizeof(eof)) == 0);
    _cleanup_free_ char *got = read_frames(fd);
    close(fd);
    /* Writes may share a frame: check the text and the stream ids. */
    if (!dd_startswith(got, "1:first\n") || !strstr(got, "got abc\n") || !strstr(got, "2:e\n"))
        unit_fail(__FILE__, __LINE__, "frames: %s", got);
    st = rt_fx_wait("att");
    CHECK_EQ_INT(st.exit_code, 0);
    rt_spec_release(&s);
}

RT_TEST(rt_pty_container_and_resize)
{
    struct rt_spec s;
    rt_fx_spec(&s, "pty", ARGS("sh", "-c", "tty; read x; stty size; echo $x"));
    s.process.terminal = true;
    s.process.open_stdin = true;
    s.process.rows = 24;
    s.process.cols = 80;
    _cleanup_free_ char *state = rt_fx_state("pty");
    dd_err e = {0};
    CHECK(rt_create(&s, state, &e) == 0);
    int fd = rt_attach_connect(state, &e);
    CHECK(fd >= 0);
    CHECK(rt_start(state, &e) == 0);
    CHECK(rt_resize(state, 50, 120, &e) == 0);
    unsigned char frame[8 + 3] = {RT_STREAM_STDIN, 0, 0, 0, 0, 0, 0, 3, 'h', 'i', '\n'};
    CHECK(dd_write_all(fd, frame, sizeof(frame)) == 0);
    _cleanup_free_ char *got = read_frames(fd);
    close(fd);
    if (!strstr(got, "/dev/pts/0\r\n") || !strstr(got, "50 120\r\n") || !strstr(got, "hi\r\n"))
        unit_fail(__FILE__, __LINE__, "frames: %s", got);
    CHECK(!strstr(got, "2:"));
    struct rt_state st = rt_fx_wait("pty");
    CHECK_EQ_INT(st.exit_code, 0);
    _cleanup_free_ char *log = rt_fx_log_text("pty");
    CHECK(strstr(log, "/dev/pts/0\r\n"));
    rt_spec_release(&s);

    /* A non-terminal container has nothing to resize. */
    start_sleeper("nopty");
    _cleanup_free_ char *st2 = rt_fx_state("nopty");
    CHECK(rt_resize(st2, 10, 10, &e) == -ENOTTY);
}
