/* Internals of the rt module shared by its files: the state directory's file names, the spec
 * serialisation, the helper-process entry points and the container child's setup steps. */
#ifndef DIND_RT_INTERNAL_H
#define DIND_RT_INTERNAL_H

#include <sys/types.h>

#include "dind/base.h"
#include "dind/lib/rt/security.h"
#include "dind/rt.h"

#define RT_HELPER_ENV   "DIND_RT_HELPER"
#define RT_SHIM_ARGV0   "dind-rt-shim"
#define RT_EXEC_ARGV0   "dind-rt-exec"
#define RT_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#define RT_FILE_SPEC     "spec"
#define RT_FILE_SHIM_PID "shim.pid"
#define RT_FILE_SOCK     "shim.sock"
#define RT_FILE_STATE    "state"
#define RT_FILE_EXIT     "exit"
#define RT_DIR_ROOTFS    "rootfs"
#define RT_FILE_SECCOMP  "seccomp.bpf"

/* ---- serialisation (spec.c): a private, versioned binary format ---- */

void rt_pack_u64(dd_buf *b, uint64_t v);
void rt_pack_str(dd_buf *b, const char *s);
void rt_pack_strv(dd_buf *b, char *const *v);

struct rt_unpack {
    const unsigned char *p, *end;
    bool bad;
};
uint64_t rt_unpack_u64(struct rt_unpack *u);
char *rt_unpack_str(struct rt_unpack *u);
char **rt_unpack_strv(struct rt_unpack *u);

void rt_spec_pack(dd_buf *b, const struct rt_spec *s);
int rt_spec_unpack(const void *data, size_t len, struct rt_spec *ret, dd_err *e);
void rt_process_pack(dd_buf *b, const struct rt_process *p);
void rt_process_unpack(struct rt_unpack *u, struct rt_process *p);

/* ---- process identity (state.c) ---- */

/* Start time (clock ticks since boot, /proc/<pid>/stat field 22) or 0 if the pid is gone. */
uint64_t rt_pid_starttime(pid_t pid);
/* A pidfd for pid if it still has that start time; -ESRCH otherwise. */
int rt_pidfd_checked(pid_t pid, uint64_t starttime);
/* Reads "pid starttime" from a state-dir file; -ENOENT if missing. */
int rt_read_pid_file(const char *dir, const char *name, pid_t *ret_pid, uint64_t *ret_start);

/* Writes path via a temporary file and rename (atomic for readers), without fsync. */
int rt_write_state_file(const char *path, const void *data, size_t len, mode_t mode, dd_err *e);

struct rt_exit_record {
    int exit_code, exit_signal;
    bool oom_killed;
    int64_t finished_at;
    char *error;
};
int rt_write_exit_record(const char *dir, const struct rt_exit_record *x);

/* ---- shim (shim.c) and its client side (client.c) ---- */

int rt_shim_main(int sync_fd, const char *state_dir);
/* Connects to the shim's socket and sends one command line; returns the connected fd after the
 * shim's "OK" reply, or an error carrying the shim's message. */
int rt_shim_command(const char *state_dir, const char *cmd, char **ret_reply, dd_err *e);

/* ---- the container child (child.c, mounts.c, devices.c, user.c, init.c) ---- */

struct rt_cgroup_mount {
    char *type;    /* "cgroup" or "cgroup2" */
    char *options; /* super options, e.g. "memory" or "name=systemd" */
    char *subdir;  /* mount point below /sys/fs/cgroup ("" for a v2-only host) */
};

/* The host's cgroup mounts as text lines (shimstart.c), and the copy a helper process received
 * from the daemon that started it (helper.c; NULL if none: the shim then reads them itself). */
char *rt_cgroup_mounts_text(void);
extern const char *rt_helper_cgroup_mounts;

/* Everything the child needs, prepared by the shim before clone (the child is a copy of the shim
 * and must not allocate much or take locks others may hold). */
struct rt_child_ctx {
    const struct rt_spec *spec;
    const char *rootfs; /* merged dir on the host */
    int sync_fd;        /* socket to the shim: errors go here; CLOEXEC so exec closes it */
    int stdio[3];       /* the container's fds 0, 1, 2 */
    int console_fd;     /* pty slave for a terminal container, else -1 */
    struct rt_cgroup_mount *cgroup_mounts;
    size_t n_cgroup_mounts;
    const void *bpf; /* seccomp program or NULL */
    size_t bpf_len;
};

/* Runs in the cloned child; never returns. */
__attribute__((noreturn)) void rt_child_main(struct rt_child_ctx *c);
/* Reports "msg" (with the exit code the container should record) to the parent, then _exit. */
__attribute__((noreturn)) void rt_child_fail(int sync_fd, int exit_code, const dd_err *e);
void rt_child_reset_signals(void);
void rt_child_terminal(int sync_fd, unsigned short rows, unsigned short cols, bool console);
__attribute__((noreturn, format(printf, 3, 4))) void rt_child_die(int sync_fd, int exit_code,
                                                                  const char *fmt, ...);
__attribute__((noreturn, format(printf, 3, 4))) void rt_child_die_errno(int sync_fd, int exit_code,
                                                                        const char *fmt, ...);

int rt_mount_rootfs(const struct rt_spec *s, const char *target, dd_err *e);
int rt_setup_mounts(struct rt_child_ctx *c, dd_err *e);
int rt_setup_dev(struct rt_child_ctx *c, int rootfd, dd_err *e);
int rt_do_mount(struct rt_child_ctx *c, int rootfd, const struct rt_mount *m, dd_err *e);
int rt_pivot_root(const char *rootfs, dd_err *e);
int rt_finish_mounts(const struct rt_spec *s, dd_err *e);
/* Opens `path` below rootfd without leaving it (RESOLVE_IN_ROOT); with create, missing
 * directories are made and a missing last component is created as a directory or an empty
 * file. Returns an O_PATH fd. */
int rt_open_in_root(int rootfd, const char *path, int create, dd_err *e);
enum { RT_CREATE_NONE, RT_CREATE_DIR, RT_CREATE_FILE };

struct rt_user {
    uid_t uid;
    gid_t gid;
    gid_t *groups;
    size_t n_groups;
    char *home;
};
/* Resolves user/group specs from /etc/passwd and /etc/group of the current root. */
int rt_user_resolve(const char *user, char *const *additional, struct rt_user *ret, dd_err *e);
/* The same from the files' contents (NULL = file missing); the fuzz harness's entry point. */
int rt_user_resolve_text(const char *user, char *const *additional, const char *passwd_text,
                         const char *group_text, struct rt_user *ret, dd_err *e);
void rt_user_release(struct rt_user *u);

/* Finds args[0] in PATH like Go's exec.LookPath; returns a malloc'd path. */
int rt_lookpath(const char *file, char *const *env, char **ret, dd_err *e);
/* Sets user, groups, capabilities, seccomp and execs; on failure reports over sync_fd. */
/* What a process is allowed: its capability set, the seccomp program to load (NULL = none). */
struct rt_security {
    uint64_t caps;
    const void *bpf;
    size_t bpf_len;
    bool no_new_privs;
    bool pdeathsig; /* die with the parent (the shim): a container's PID 1 */
};
__attribute__((noreturn)) void rt_exec_process(const struct rt_process *p,
                                               const struct rt_security *sec, int sync_fd,
                                               bool is_exec);

/* seccache.c: the default profile compiled once per capability set (in the daemon) and the raw
 * load in the children. */
int rt_seccomp_bpf_get(uint64_t caps, void **ret, size_t *ret_len, dd_err *e);
int rt_seccomp_bpf_load(const void *prog, size_t len, dd_err *e);
/* Reads <state_dir>/seccomp.bpf; *ret = NULL (and 0) when the container has no seccomp. */
int rt_seccomp_bpf_read(const char *state_dir, void **ret, size_t *ret_len, dd_err *e);
/* PID 1 of a container with init: forwards signals to child, reaps, exits like the child. */
__attribute__((noreturn)) void rt_init_run(pid_t child);

#endif
