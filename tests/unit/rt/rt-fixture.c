/* The rt tests' fixture (see rt-fixture.h). */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "dind/cgroup.h"
#include "dind/lib/rt/security.h"
#include "tests/unit/rt/rt-fixture.h"

struct rt_fx FX;

static void build_rootfs(void)
{
    const char *script = getenv("RT_FIXTURE_SCRIPT");
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "sh %s %s >/dev/null",
             script ? script : "tests/fixtures/busybox-rootfs.sh", FX.lower);
    if (system(cmd) != 0)
        unit_fail(__FILE__, __LINE__, "building the busybox rootfs failed: %s", cmd);
}

static void delete_all(void)
{
    DIR *d = opendir(FX.dir);
    for (struct dirent *de; d && (de = readdir(d));) {
        if (de->d_name[0] == '.' || de->d_type != DT_DIR || strcmp(de->d_name, "lower") == 0)
            continue;
        char state[600];
        snprintf(state, sizeof(state), "%s/%s/state", FX.dir, de->d_name);
        dd_err e = {0};
        if (access(state, F_OK) == 0 && rt_delete(state, &e) < 0)
            fprintf(stderr, "    cleanup: %s\n", e.msg);
    }
    if (d)
        closedir(d);
}

/* Unmounts anything still below FX.dir, deepest (latest) first. */
static void unmount_below(void)
{
    for (int round = 0; round < 8 && rt_fx_mounted_below(FX.dir); round++) {
        FILE *f = fopen("/proc/self/mountinfo", "re");
        char line[4096], mp[2048];
        char *last = NULL;
        while (f && fgets(line, sizeof(line), f))
            if (sscanf(line, "%*s %*s %*s %*s %2047s", mp) == 1 && dd_startswith(mp, FX.dir)) {
                free(last);
                last = dd_strdup(mp);
            }
        if (f)
            fclose(f);
        if (last)
            umount2(last, MNT_DETACH);
        free(last);
    }
}

static void cleanup(void)
{
    if (getenv("RT_FX_KEEP")) { /* debugging a failure: leave everything in place */
        fprintf(stderr, "    kept %s\n", FX.dir);
        return;
    }
    delete_all();
    /* Reap any shim or process that was re-parented to us. */
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    unmount_below();
    dd_rm_rf(FX.dir, NULL);
    cg_prune(FX.cgparent, NULL);
}

void rt_fx_run(void (*body)(void))
{
    snprintf(FX.dir, sizeof(FX.dir), "/tmp/rt-unit-XXXXXX");
    if (!mkdtemp(FX.dir))
        unit_fail(__FILE__, __LINE__, "mkdtemp");
    snprintf(FX.lower, sizeof(FX.lower), "%s/lower", FX.dir);
    snprintf(FX.cgparent, sizeof(FX.cgparent), "rt-unit-%d", (int)getpid());
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    build_rootfs();
    const char *t = getenv("UNIT_TIMEOUT");
    unsigned timeout = t ? (unsigned)atoi(t) : 30;
    alarm(0); /* ours below: the body gets the time, the cleanup always runs */
    pid_t pid = fork();
    if (pid == 0) {
        alarm(timeout > 10 ? timeout - 8 : timeout);
        body();
        fflush(NULL);
        _exit(0);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    cleanup();
    bool leaked = rt_fx_mounted_below(FX.dir);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        if (WIFSIGNALED(st))
            fprintf(stderr, "    test body killed by signal %d%s\n", WTERMSIG(st),
                    WTERMSIG(st) == SIGALRM ? " (timeout)" : "");
        _exit(1);
    }
    if (leaked)
        unit_fail(__FILE__, __LINE__, "mounts left below %s", FX.dir);
}

char *rt_fx_state(const char *name)
{
    return dd_asprintf("%s/%s/state", FX.dir, name);
}

char *rt_fx_log(const char *name)
{
    return dd_asprintf("%s/%s.log", FX.dir, name);
}

void rt_fx_spec(struct rt_spec *s, const char *name, const char *const *args)
{
    memset(s, 0, sizeof(*s));
    s->id = dd_strdup(name);
    s->process.args = dd_strv_copy((char *const *)args);
    s->process.env = dd_strv_push(NULL, "PATH=/usr/sbin:/usr/bin:/sbin:/bin");
    s->lower_dirs = dd_strv_push(NULL, FX.lower);
    s->upper_dir = dd_asprintf("%s/%s/upper", FX.dir, name);
    s->work_dir = dd_asprintf("%s/%s/work", FX.dir, name);
    dd_mkdir_p(s->upper_dir, 0755, NULL);
    dd_mkdir_p(s->work_dir, 0755, NULL);
    s->hostname = dd_strdup(name);
    s->capabilities = rt_caps_docker_default();
    s->seccomp = true;
    s->log_path = rt_fx_log(name);
    s->log_format = RT_LOG_JSON_FILE;
}

void rt_fx_create_start(struct rt_spec *s)
{
    _cleanup_free_ char *state = rt_fx_state(s->id);
    dd_err e = {0};
    if (rt_create(s, state, &e) < 0)
        unit_fail(__FILE__, __LINE__, "rt_create: %s", e.msg);
    if (rt_start(state, &e) < 0)
        unit_fail(__FILE__, __LINE__, "rt_start: %s", e.msg);
}

struct rt_state rt_fx_wait(const char *name)
{
    _cleanup_free_ char *state = rt_fx_state(name);
    dd_err e = {0};
    int fd = rt_watch_fd(state, &e);
    if (fd >= 0) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        while (poll(&p, 1, -1) < 0 && errno == EINTR)
            ;
        close(fd);
    }
    struct rt_state st = {0};
    if (rt_state(state, &st, &e) < 0)
        unit_fail(__FILE__, __LINE__, "rt_state: %s", e.msg);
    return st;
}

char *rt_fx_log_text(const char *name)
{
    _cleanup_free_ char *path = rt_fx_log(name);
    struct rt_log_reader *r = NULL;
    dd_err e = {0};
    if (rt_log_open(path, RT_LOG_JSON_FILE, 0, 0, -1, &r, &e) < 0)
        unit_fail(__FILE__, __LINE__, "rt_log_open: %s", e.msg);
    dd_buf b = DD_BUF_INIT;
    dd_buf_adds(&b, "");
    struct rt_log_entry ent;
    while (rt_log_next(r, &ent, &e) > 0)
        dd_buf_add(&b, ent.data, ent.len);
    rt_log_close(r);
    return dd_buf_detach(&b, NULL);
}

char *rt_fx_read_all(int fd)
{
    return rt_fx_read_all_len(fd, NULL);
}

char *rt_fx_read_all_len(int fd, size_t *ret_len)
{
    dd_buf b = DD_BUF_INIT;
    dd_buf_adds(&b, "");
    char buf[4096];
    for (ssize_t n; (n = read(fd, buf, sizeof(buf))) != 0;) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        dd_buf_add(&b, buf, (size_t)n);
    }
    return dd_buf_detach(&b, ret_len);
}

bool rt_fx_mounted_below(const char *dir)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[4096], mp[2048];
    bool found = false;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "%*s %*s %*s %*s %2047s", mp) == 1 && dd_startswith(mp, dir))
            found = true;
    if (f)
        fclose(f);
    return found;
}

bool rt_fx_is_zombie(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return true;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return true;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    return !p || p[2] == 'Z';
}
