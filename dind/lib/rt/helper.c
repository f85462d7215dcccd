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

#include "dind/lib/rt/rt-helper.h"

extern char **environ;

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

static char **helper_env(void)
{
    char **env = NULL;
    for (char **p = environ; p && *p; p++)
        if (!dd_startswith(*p, RT_HELPER_ENV "="))
            env = dd_strv_push(env, *p);
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
