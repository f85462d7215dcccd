/* Reading a container's state from its state directory alone, so that a restarted daemon sees
 * the truth: pids are recorded with their start time and are only trusted while /proc still
 * shows that start time (pid reuse cannot confuse us), and every signal goes through a pidfd
 * opened after that check. Writing the files is the shim's job (shim.c). */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>

#include "dind/lib/rt/rt-internal.h"

uint64_t rt_pid_starttime(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* comm may contain spaces and parentheses: fields restart after the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    p++;
    /* p points at the space before field 3 (state); starttime is field 22. */
    for (int field = 3; field < 22 && p; field++)
        p = strchr(p + 1, ' ');
    if (!p)
        return 0;
    return strtoull(p + 1, NULL, 10);
}

static bool pid_is_zombie(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return true;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return true;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    return !p || p[1] == '\0' || p[2] == 'Z' || p[2] == 'X';
}

int rt_pidfd_checked(pid_t pid, uint64_t starttime)
{
    if (pid <= 0 || starttime == 0)
        return -ESRCH;
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0)
        return -errno;
    /* The pidfd pins the process: if the start time still matches now, fd refers to our pid. */
    if (rt_pid_starttime(pid) != starttime || pid_is_zombie(pid)) {
        close(fd);
        return -ESRCH;
    }
    return fd;
}

int rt_read_pid_file(const char *dir, const char *name, pid_t *ret_pid, uint64_t *ret_start)
{
    _cleanup_free_ char *path = dd_path_join(dir, name);
    _cleanup_free_ char *data = NULL;
    int r = dd_read_file(path, 4096, &data, NULL, NULL);
    if (r < 0)
        return r;
    int pid = 0;
    unsigned long long st = 0;
    if (sscanf(data, "%d %llu", &pid, &st) != 2 || pid <= 0)
        return -EINVAL;
    *ret_pid = pid;
    *ret_start = st;
    return 0;
}

int rt_write_state_file(const char *path, const void *data, size_t len, mode_t mode, dd_err *e)
{
    /* Runtime state (an exec-root is a tmpfs on most hosts): atomic for readers, no fsync. */
    _cleanup_free_ char *tmp = dd_asprintf("%s.tmp", path);
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return dd_err_sys(e, "creating %s", tmp);
    if (dd_write_all(fd, data, len) < 0 || rename(tmp, path) < 0) {
        int r = dd_err_sys(e, "writing %s", path);
        unlink(tmp);
        return r;
    }
    return 0;
}

int rt_write_exit_record(const char *dir, const struct rt_exit_record *x)
{
    dd_buf b = DD_BUF_INIT;
    dd_buf_addf(&b, "%d %d %d %lld\n", x->exit_code, x->exit_signal, x->oom_killed ? 1 : 0,
                (long long)x->finished_at);
    if (x->error)
        dd_buf_adds(&b, x->error);
    _cleanup_free_ char *path = dd_path_join(dir, RT_FILE_EXIT);
    int r = rt_write_state_file(path, b.data, b.len, 0644, NULL);
    dd_buf_release(&b);
    return r;
}

static int read_exit_record(const char *dir, struct rt_state *st)
{
    _cleanup_free_ char *path = dd_path_join(dir, RT_FILE_EXIT);
    _cleanup_free_ char *data = NULL;
    int r = dd_read_file(path, 1 << 16, &data, NULL, NULL);
    if (r < 0)
        return r;
    int code = 0, sig = 0, oom = 0, off = 0;
    long long fin = 0;
    if (sscanf(data, "%d %d %d %lld\n%n", &code, &sig, &oom, &fin, &off) < 4)
        return -EINVAL;
    st->status = RT_EXITED;
    st->exit_code = code;
    st->exit_signal = sig;
    st->oom_killed = oom != 0;
    st->finished_at = fin;
    if (data[off])
        st->error = dd_strdup(data + off);
    return 0;
}

static bool pid_file_alive(const char *dir, const char *name, pid_t *ret_pid)
{
    pid_t pid = 0;
    uint64_t start = 0;
    if (rt_read_pid_file(dir, name, &pid, &start) < 0)
        return false;
    if (rt_pid_starttime(pid) != start || pid_is_zombie(pid))
        return false;
    *ret_pid = pid;
    return true;
}

static void read_started_at(const char *dir, struct rt_state *st)
{
    _cleanup_free_ char *path = dd_path_join(dir, RT_FILE_STATE);
    _cleanup_free_ char *data = NULL;
    if (dd_read_file(path, 4096, &data, NULL, NULL) < 0)
        return;
    int pid = 0;
    unsigned long long start = 0;
    long long at = 0;
    if (sscanf(data, "%d %llu %lld", &pid, &start, &at) == 3)
        st->started_at = at;
}

int rt_state(const char *state_dir, struct rt_state *ret, dd_err *e)
{
    struct rt_state st = {.status = RT_UNKNOWN};
    _cleanup_free_ char *spec = dd_path_join(state_dir, RT_FILE_SPEC);
    if (access(spec, F_OK) < 0)
        return dd_err_set(e, ENOENT, "no container in %s", state_dir);
    read_started_at(state_dir, &st);
    if (read_exit_record(state_dir, &st) == 0) {
        *ret = st;
        return 0;
    }
    bool shim = pid_file_alive(state_dir, RT_FILE_SHIM_PID, &st.shim_pid);
    /* Re-read: the shim may have written the record between our two looks. */
    if (!shim && read_exit_record(state_dir, &st) == 0) {
        st.shim_pid = 0;
        *ret = st;
        return 0;
    }
    if (!shim) {
        st.status = RT_EXITED;
        st.exit_code = 137;
        st.exit_signal = SIGKILL;
        st.error = dd_strdup("shim died");
    } else if (pid_file_alive(state_dir, RT_FILE_STATE, &st.pid)) {
        st.status = RT_RUNNING;
    } else {
        /* A recorded pid that is gone while the shim lives: the shim is writing the record. */
        _cleanup_free_ char *sp = dd_path_join(state_dir, RT_FILE_STATE);
        st.status = access(sp, F_OK) == 0 ? RT_RUNNING : RT_CREATED;
        st.pid = 0;
    }
    *ret = st;
    return 0;
}

void rt_state_release(struct rt_state *s)
{
    if (!s)
        return;
    free(s->error);
    s->error = NULL;
}

int rt_watch_fd(const char *state_dir, dd_err *e)
{
    pid_t pid = 0;
    uint64_t start = 0;
    int r = rt_read_pid_file(state_dir, RT_FILE_SHIM_PID, &pid, &start);
    if (r < 0)
        return dd_err_set(e, -r, "reading the shim pid of %s", state_dir);
    r = rt_pidfd_checked(pid, start);
    if (r < 0)
        return dd_err_set(e, -r, "the shim of %s is gone", state_dir);
    return r;
}

int rt_kill(const char *state_dir, int sig, dd_err *e)
{
    pid_t pid = 0;
    uint64_t start = 0;
    if (sig == 0) {
        struct rt_spec s = {0};
        if (rt_spec_load(state_dir, &s, e) < 0)
            return -e->code;
        sig = s.stop_signal > 0 ? s.stop_signal : SIGTERM;
        rt_spec_release(&s);
    }
    if (rt_read_pid_file(state_dir, RT_FILE_STATE, &pid, &start) < 0)
        return dd_err_set(e, ESRCH, "container is not running");
    _cleanup_close_ int fd = rt_pidfd_checked(pid, start);
    if (fd < 0)
        return dd_err_set(e, ESRCH, "container is not running");
    if (syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) < 0) {
        if (errno == ESRCH)
            return dd_err_set(e, ESRCH, "container is not running");
        return dd_err_sys(e, "sending signal %d", sig);
    }
    return 0;
}
