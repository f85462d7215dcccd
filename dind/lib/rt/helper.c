/* Entering rt's helper processes. The daemon never forks without exec (it may be
 * multithreaded): it posix_spawns the helper program with argv[0] = "dind-rt-exec" and
 * DIND_RT_HELPER=1 in the environment, or spawns it detached (below) with argv[0] =
 * "dind-rt-shim" and DIND_RT_HELPER=2, with its end of a socket as fd 3. The
 * helper program is dind-shim, a small static binary installed next to libdind.so (found through
 * dladdr of this code); where there is none, /proc/self/exe: a constructor of libdind recognises
 * the marker before any program's main() runs, so every binary linked with libdind (dindd,
 * k3core, the unit tests) can also serve as its own shim, only more slowly. */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
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

/* The marker's value: "1", or "2" for a shim that rt_spawn_helper_detached already detached. */
static bool requested(int argc, char **argv, const char **ret_kind, bool *ret_detached)
{
    const char *marker = getenv(RT_HELPER_ENV);
    if (!marker || (strcmp(marker, "1") != 0 && strcmp(marker, "2") != 0) || argc < 1 || !argv ||
        !argv[0])
        return false;
    *ret_detached = marker[0] == '2';
    if (strcmp(argv[0], RT_SHIM_ARGV0) != 0 && strcmp(argv[0], RT_EXEC_ARGV0) != 0)
        return false;
    *ret_kind = argv[0];
    return true;
}

void rt_shim_main_if_requested(int argc, char **argv)
{
    const char *kind = NULL;
    bool detached = false;
    if (!requested(argc, argv, &kind, &detached))
        return;
    unsetenv(RT_HELPER_ENV);
    import_host_facts();
    if (strcmp(kind, RT_EXEC_ARGV0) == 0)
        _exit(rt_exec_helper_main(3, 4));
    if (argc < 2)
        _exit(2);
    if (detached)
        _exit(rt_shim_main(3, argv[1]));
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

static char **helper_env(const char *marker)
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
    return dd_strv_push(env, marker);
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
    char **env = helper_env(RT_HELPER_ENV "=1");
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

/* ---- detached spawn: two vfork-style clones, one exec ----
 *
 * A shim must be nobody's child but init's (or the nearest subreaper's). posix_spawn + a fork
 * in the helper costs an extra process with its own page tables, copy-on-write faults and exit,
 * a millisecond and more per container on a virtual machine. Instead: a child sharing our memory
 * (CLONE_VM | CLONE_VFORK, as posix_spawn does internally) starts a new session and spawns the
 * helper the same way, then exits; the helper is orphaned at once. We stay suspended meanwhile,
 * so the children may use our memory; they only make system calls. */
struct detach_ctx {
    const char *path;
    char *const *argv;
    char *const *envp;
    const int *fds; /* fds[i] becomes fd i; already moved above the targets, CLOEXEC */
    size_t n_fds;
    int err; /* errno of a failed step, reported back through the shared memory */
    char *stack2;
};

#define DETACH_STACK (32 * 1024)

static int detach_exec(void *arg)
{
    struct detach_ctx *c = arg;
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    for (int sig = 1; sig < _NSIG; sig++)
        (void)sigaction(sig, &dfl, NULL); /* our own copy of the table (no CLONE_SIGHAND) */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (size_t i = 0; i < c->n_fds; i++)
        if (c->fds[i] >= 0 && dup2(c->fds[i], (int)i) < 0) {
            c->err = errno;
            _exit(127);
        }
    execve(c->path, c->argv, c->envp);
    c->err = errno;
    _exit(127);
}

static int detach_session(void *arg)
{
    struct detach_ctx *c = arg;
    if (setsid() < 0) {
        c->err = errno;
        _exit(1);
    }
    /* Its exit signal goes to us, who are gone by then: nobody waits for it. */
    pid_t pid = clone(detach_exec, c->stack2 + DETACH_STACK, CLONE_VM | CLONE_VFORK, c);
    if (pid < 0)
        c->err = errno;
    _exit(0);
}

int rt_spawn_helper_detached(char *const argv[], const int *fds, size_t n_fds, dd_err *e)
{
    if (n_fds > 8)
        return dd_err_set(e, EINVAL, "too many fds for a helper");
    int moved[8];
    for (size_t i = 0; i < n_fds; i++)
        moved[i] = fds[i] >= 0 ? fcntl(fds[i], F_DUPFD_CLOEXEC, 16) : -1;
    char **env = helper_env(RT_HELPER_ENV "=2");
    char *stacks = dd_malloc(2 * DETACH_STACK);
    struct detach_ctx c = {.path = rt_helper_program(),
                           .argv = argv,
                           .envp = env,
                           .fds = moved,
                           .n_fds = n_fds,
                           .stack2 = stacks + DETACH_STACK};
    /* No signal handler of ours may run on the children's side of our memory. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pid_t pid = clone(detach_session, stacks + DETACH_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &c);
    int clone_err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid > 0)
        rt_reap(pid);
    free(stacks);
    dd_strv_free(env);
    for (size_t i = 0; i < n_fds; i++)
        if (moved[i] >= 0)
            close(moved[i]);
    if (pid < 0) {
        errno = clone_err;
        return dd_err_sys(e, "starting %s", argv[0]);
    }
    if (c.err) {
        errno = c.err;
        return dd_err_sys(e, "starting %s", argv[0]);
    }
    return 0;
}

void rt_reap(pid_t pid)
{
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}
