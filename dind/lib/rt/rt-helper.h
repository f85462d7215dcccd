/* Spawning rt's helper processes (helper.c): the shim (shim.c) and the exec helper (exec.c). */
#ifndef DIND_RT_HELPER_H
#define DIND_RT_HELPER_H

#include "dind/lib/rt/rt-internal.h"

/* The helper program's file name next to libdind.so. */
#define RT_HELPER_PROGRAM "dind-shim"

/* The program rt spawns as its helpers: <dir of libdind.so>/dind-shim, or /proc/self/exe. */
const char *rt_helper_program(void);
/* posix_spawn of rt_helper_program() with the helper marker; fds[i] (if >= 0) becomes fd i. */
int rt_spawn_helper(char *const argv[], const int *fds, size_t n_fds, pid_t *ret_pid, dd_err *e);
/* The same for the shim, detached: a session of its own, its parent gone before this returns
 * (no intermediate process of ours to reap later). Fails if the program could not be executed. */
int rt_spawn_helper_detached(char *const argv[], const int *fds, size_t n_fds, dd_err *e);
/* waitpid(pid) retrying on EINTR (ECHILD if someone else reaped it is fine). */
void rt_reap(pid_t pid);
/* The exec helper: request on req_fd, replies on sync_fd. Returns its exit code. */
int rt_exec_helper_main(int sync_fd, int req_fd);

#endif
