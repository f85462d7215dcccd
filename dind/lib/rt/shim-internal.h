/* The shim's state, shared by shim.c (event loop, attach, exit) and shimstart.c (stdio, clone of
 * the container's PID 1, cgroups). */
#ifndef DIND_RT_SHIM_INTERNAL_H
#define DIND_RT_SHIM_INTERNAL_H

#include "dind/lib/rt/log-internal.h"
#include "dind/lib/rt/rt-internal.h"

enum { CLIENT_COMMAND, CLIENT_ATTACH };

struct shim_client {
    int fd;
    int kind;
    bool read_closed, close_after_flush;
    dd_buf in, out;
};

struct shim {
    const char *dir;
    char *rootfs;
    struct rt_spec spec;
    bool terminal;
    int listen_fd, sig_fd;
    struct shim_client clients[64];
    size_t n_clients;

    int out_fd[2]; /* stdout (or the pty master) and stderr read ends */
    int stdin_fd;  /* container stdin write end (or the pty master), -1 */
    bool stdin_eof;
    dd_buf stdin_pending;
    int pty_master;
    int child_stdio[3]; /* the container's ends, closed once it started */

    pid_t pid;
    bool started, exited, output_seen;
    int wait_status;
    bool start_failed;
    int start_exit_code;
    char *start_error;
    struct rt_log_writer log;
    void *bpf; /* the seccomp program from the state dir, or NULL */
    size_t bpf_len;
};

int rt_shim_stdio(struct shim *s, dd_err *e);
int rt_shim_start(struct shim *s, dd_err *e);
bool rt_shim_oom_killed(struct shim *s);
void rt_shim_broadcast(struct shim *s, int stream, const char *data, size_t len);

#endif
