/* Entering rt's helper processes. The daemon never forks without exec (it may be
 * multithreaded): it posix_spawns the helper program with argv[0] = "dind-rt-shim" or
 * "dind-rt-exec" and DIND_RT_HELPER=1 in the environment, with its end of a socket as fd 3. The
 * helper program is dind-shim, a small static binary installed next to libdind.so (found through
 * dladdr of this code); where there is none, /proc/self/exe: a constructor of libdind recognises
 * the marker before any program's main() runs, so every binary linked with libdind (dindd,
 * k3core, the unit tests) can also serve as its own shim, only more slowly. */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>

#include "dind/cgroup.h"
#include "dind/lib/rt/rt-helper.h"

extern char **environ;

/* What the daemon knows about the host and hands to its helpers in the environment, so that
 * every container start does not parse the host's mount table (hundreds of mounts on a busy
 * host) again: the cgroup layout (cg_export) and the cgroup mounts to reproduce inside. */
#define RT_CGROUPS_ENV       "DIND_RT_CGROUPS"
#define RT_CGROUP_MOUNTS_ENV "DIND_RT_CGROUP_MOUNTS"

const char *rt_helper_cgroup_mounts;

static void import_host_facts(void)
{
    const char *cg = getenv(RT_CGROUPS_ENV);
    const char *mounts = getenv(RT_CGROUP_MOUNTS_ENV);
    if (cg && *cg)
        (void)cg_import(cg, NULL); /* unusable: detected on first use, as without it */
    if (mounts)
        rt_helper_cgroup_mounts = dd_strdup(mounts);
    unsetenv(RT_CGROUPS_ENV);
    unsetenv(RT_CGROUP_MOUNTS_ENV);
}

static bool requested(int argc, char **argv, const char **ret_kind)
{
    const char *marker = getenv(RT_HELPER_ENV);
    if (!marker || strcmp(marker, "1") != 0 || argc < 1 || !argv || !argv[0])
        return false;
    if (strcmp(argv[0], RT_SHIM_ARGV0) != 0 && strcmp(argv[0], RT_EXEC_ARGV0) != 0)
        return false;
    *ret_kind = argv[0];
    return true;
}

void rt_shim_main_if_requested(int argc, char **argv)
{
    const char *kind = NULL;
    if (!requested(argc, argv, &kind))
        return;
    unsetenv(RT_HELPER_ENV);
    import_host_facts();
    if (strcmp(kind, RT_EXEC_ARGV0) == 0)
        _exit(rt_exec_helper_main(3, 4));
    if (argc < 2)
        _exit(2);
    /* Detach: a new session, and a second fork so the shim is nobody's child but init's (or
     * the nearest subreaper's). */
    setsid();
    pid_t pid = fork();
    if (pid < 0) {
        dprintf(3, "ERR %d fork: %s\n", errno, strerror(errno));
        _exit(1);
    }
    if (pid > 0)
        _exit(0);
    _exit(rt_shim_main(3, argv[1]));
}

__attribute__((constructor)) static void rt_helper_ctor(int argc, char **argv, char **envp)
{
    (void)envp;
    rt_shim_main_if_requested(argc, argv);
}

static pthread_once_t mounts_once = PTHREAD_ONCE_INIT;
static char *mounts_env;

static void mounts_find(void)
{
    _cleanup_free_ char *text = rt_cgroup_mounts_text();
    mounts_env = dd_asprintf(RT_CGROUP_MOUNTS_ENV "=%s", text);
}

static char **helper_env(void)
{
    char **env = NULL;
    for (char **p = environ; p && *p; p++)
        if (!dd_startswith(*p, RT_HELPER_ENV "=") && !dd_startswith(*p, RT_CGROUPS_ENV "=") &&
            !dd_startswith(*p, RT_CGROUP_MOUNTS_ENV "="))
            env = dd_strv_push(env, *p);
    _cleanup_free_ char *cg = cg_export();
    if (cg) {
        _cleanup_free_ char *var = dd_asprintf(RT_CGROUPS_ENV "=%s", cg);
        env = dd_strv_push(env, var);
    }
    pthread_once(&mounts_once, mounts_find);
    env = dd_strv_push(env, mounts_env);
    return dd_strv_push(env, RT_HELPER_ENV "=1");
}

static pthread_once_t helper_once = PTHREAD_ONCE_INIT;
static char *helper_path;

static void helper_find(void)
{
    Dl_info info;
    if (dladdr((void *)helper_find, &info) && info.dli_fname && strchr(info.dli_fname, '/')) {
        _cleanup_free_ char *lib = realpath(info.dli_fname, NULL);
        char *slash = lib ? strrchr(lib, '/') : NULL;
        if (slash) {
            *slash = '\0';
            _cleanup_free_ char *path = dd_path_join(lib, RT_HELPER_PROGRAM);
            if (access(path, X_OK) == 0) {
                helper_path = path;
                path = NULL;
            }
        }
    }
    if (!helper_path)
        helper_path = dd_strdup("/proc/self/exe");
}

const char *rt_helper_program(void)
{
    pthread_once(&helper_once, helper_find);
    return helper_path;
}

int rt_spawn_helper(char *const argv[], const int *fds, size_t n_fds, pid_t *ret_pid, dd_err *e)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    /* Move every source above the targets first, so a dup2 never clobbers a later source. */
    int moved[8];
    for (size_t i = 0; i < n_fds && i < 8; i++)
        moved[i] = fds[i] >= 0 ? fcntl(fds[i], F_DUPFD_CLOEXEC, 16) : -1;
    for (size_t i = 0; i < n_fds && i < 8; i++)
        if (moved[i] >= 0)
            posix_spawn_file_actions_adddup2(&fa, moved[i], (int)i);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    char **env = helper_env();
    int r = posix_spawn(ret_pid, rt_helper_program(), &fa, &attr, argv, env);
    dd_strv_free(env);
    for (size_t i = 0; i < n_fds && i < 8; i++)
        if (moved[i] >= 0)
            close(moved[i]);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (r != 0) {
        errno = r;
        return dd_err_sys(e, "starting %s", argv[0]);
    }
    return 0;
}

void rt_reap(pid_t pid)
{
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}
