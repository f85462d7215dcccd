/* The last steps before execve, shared by the container's PID 1 (child.c) and rt_exec's
 * process (exec.c): resolve the user inside the container, cwd, HOME, look the program up in
 * PATH like Go's exec.LookPath (so the error texts are Docker's), load seccomp, drop
 * capabilities, switch ids, exec. Exit codes recorded for failures are Docker's: 127 when the
 * program does not exist, 126 when it cannot be executed, 128 for any other setup failure. */
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "dind/lib/rt/rt-internal.h"

static const char *env_get(char *const *env, const char *key)
{
    size_t n = strlen(key);
    const char *val = NULL;
    for (size_t i = 0; env && env[i]; i++)
        if (strncmp(env[i], key, n) == 0 && env[i][n] == '=')
            val = env[i] + n + 1;
    return val;
}

static int check_executable(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return -errno;
    if (S_ISDIR(st.st_mode) || !(st.st_mode & 0111))
        return -EACCES;
    return 0;
}

int rt_lookpath(const char *file, char *const *env, char **ret, dd_err *e)
{
    if (!file || !*file)
        return dd_err_set(e, ENOENT, "exec: \"\": executable file not found in $PATH");
    if (strchr(file, '/')) {
        int r = check_executable(file);
        if (r == -EACCES)
            return dd_err_set(e, EACCES, "exec: \"%s\": permission denied", file);
        if (r < 0)
            return dd_err_set(e, -r, "exec: \"%s\": stat %s: %s", file, file, strerror(-r));
        *ret = dd_strdup(file);
        return 0;
    }
    const char *path = env_get(env, "PATH");
    _cleanup_free_ char *copy = dd_strdup(path ? path : RT_DEFAULT_PATH);
    char *p = copy;
    for (;;) {
        char *colon = strchr(p, ':');
        if (colon)
            *colon = '\0';
        _cleanup_free_ char *cand = dd_asprintf("%s/%s", *p ? p : ".", file);
        if (check_executable(cand) == 0) {
            *ret = TAKE_PTR(cand);
            return 0;
        }
        if (!colon)
            break;
        p = colon + 1;
    }
    return dd_err_set(e, ENOENT, "exec: \"%s\": executable file not found in $PATH", file);
}

static char **build_env(const struct rt_process *p, const struct rt_user *u)
{
    char **env = dd_strv_copy(p->env);
    if (!env_get(env, "HOME"))
        env = dd_strv_consume(env, dd_asprintf("HOME=%s", u->home ? u->home : "/"));
    return env;
}

/* Reports e with the exec prefix and the Docker exit code for its errno. */
__attribute__((noreturn)) static void fail(int sync_fd, bool is_exec, int code, dd_err *e)
{
    if (is_exec)
        dd_err_wrap(e, "exec failed: unable to start container process");
    rt_child_fail(sync_fd, code, e);
}

void rt_exec_process(const struct rt_process *p, const struct rt_security *sec, int sync_fd,
                     bool is_exec)
{
    dd_err e = {0};
    struct rt_user u = {0};
    if (!p->args || !p->args[0])
        rt_child_die(sync_fd, 128, "no command specified");
    if (rt_user_resolve(p->user, p->additional_groups, &u, &e) < 0)
        fail(sync_fd, is_exec, 128, &e);
    const char *cwd = p->cwd && *p->cwd ? p->cwd : "/";
    if (chdir(cwd) < 0) {
        dd_err_sys(&e, "chdir to cwd (\"%s\") set in config.json failed", cwd);
        fail(sync_fd, is_exec, 128, &e);
    }
    char **env = build_env(p, &u);
    char *path = NULL;
    if (rt_lookpath(p->args[0], env, &path, &e) < 0)
        fail(sync_fd, is_exec, e.code == EACCES ? 126 : 127, &e);
    if (sec->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        dd_err_sys(&e, "setting no_new_privs");
        fail(sync_fd, is_exec, 128, &e);
    }
    if (sec->bpf && rt_seccomp_bpf_load(sec->bpf, sec->bpf_len, &e) < 0)
        fail(sync_fd, is_exec, 128, &e);
    if (rt_caps_apply(sec->caps, u.uid, &e) < 0)
        fail(sync_fd, is_exec, 128, &e);
    if (setgroups(u.n_groups, u.groups) < 0 || setresgid(u.gid, u.gid, u.gid) < 0 ||
        setresuid(u.uid, u.uid, u.uid) < 0) {
        dd_err_sys(&e, "setting user %u:%u", (unsigned)u.uid, (unsigned)u.gid);
        fail(sync_fd, is_exec, 128, &e);
    }
    /* the report channel must close at exec, so the waiting side sees EOF at once */
    if (sync_fd >= 0)
        (void)dd_set_cloexec(sync_fd, true);
    /* Changing credentials cleared the parent-death signal: set it again. */
    if (sec->pdeathsig)
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    execve(path, p->args, env);
    int err = errno;
    if (err == ENOENT)
        dd_err_set(&e, ENOENT, "exec: \"%s\": no such file or directory", p->args[0]);
    else
        dd_err_set(&e, err, "exec: \"%s\": %s", p->args[0], strerror(err));
    fail(sync_fd, is_exec, err == ENOENT ? 127 : 126, &e);
}
