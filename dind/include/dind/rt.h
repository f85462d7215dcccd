/* rt: the container runtime. One neutral spec (struct rt_spec, OCI field names) in, a running
 * container out. Prefix: rt_. rt knows nothing of Docker, Kubernetes, HTTP or JSON: each API
 * translates its own object (a Docker create body, a PodSpec) into an rt_spec.
 *
 * Process model (conmon's): every container has a *shim*, a small process of our own (dind-shim)
 * that is the parent of the container's PID 1. The shim owns the container's stdio (a pty master,
 * or pipes), writes the log file, serves live attach over a UNIX socket, records the exit status in
 * the state directory and then exits. The shim is detached from its creator (setsid + double
 * fork: it is re-parented to the nearest PR_SET_CHILD_SUBREAPER or to init, which reaps it), so
 * containers survive a `kill -9` of the daemon, and a restarted daemon re-adopts them from the
 * state directory alone (a container does not outlive its own shim: PID 1 has a parent-death
 * signal, so "the shim died" always means "the container is gone"); every call below takes the
 * container's state directory (e.g. <exec-root>/<id>) and holds no state in memory.
 *
 * How the shim is entered: rt executes dind-shim, a small static program installed next to
 * libdind.so (dind/shim/main.c; /proc/self/exe where there is none), with argv[0] =
 * "dind-rt-shim" (or "dind-rt-exec" for rt_exec's helper) and the environment marker
 * DIND_RT_HELPER=1. libdind checks for this marker in a constructor that runs before main() of
 * every program linked with it, so any of them can serve as its own shim;
 * rt_shim_main_if_requested() is the same check for a program that wants it explicit (it never
 * returns when the marker is present). The daemon thus never forks without exec, even when it is
 * multithreaded.
 *
 * Lifecycle:
 *     rt_create(spec, dir)   mounts the rootfs at <dir>/rootfs, creates the cgroup, starts the
 *                            shim; the container process does not exist yet (status CREATED).
 *     rt_attach_connect(dir) optional, before or after start: nothing written after start is lost
 *                            for a client attached before start.
 *     rt_start(dir)          creates the namespaces, mounts, and execs the process (RUNNING).
 *     rt_watch_fd(dir)       a pidfd of the shim: readable once the container has exited and its
 *                            exit status is on disk (EXITED).
 *     rt_delete(dir)         kills what is left, unmounts, removes the cgroup and the directory.
 * Restarting a container (restart policies, `docker restart`) is rt_delete + rt_create + rt_start
 * with the same spec: the upper dir and the log file belong to the caller and are kept.
 *
 * State directory contents (all owned by rt): spec (the serialised rt_spec), shim.pid, shim.sock,
 * state (pid of the container's PID 1 and its start time), exit (the exit record), rootfs/ (the
 * merged overlay mount point, visible to the daemon for archive operations).
 */
#ifndef DIND_RT_H
#define DIND_RT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "dind/base.h"

/* ---- the spec ---- */

enum rt_ns_type {
    RT_NS_MOUNT,
    RT_NS_PID,
    RT_NS_UTS,
    RT_NS_IPC,
    RT_NS_NET,
    RT_NS_CGROUP,
    RT_NS_COUNT,
};

enum rt_ns_mode {
    RT_NS_NEW = 0, /* create a new namespace (the default of a zeroed spec) */
    RT_NS_HOST,    /* stay in the shim's (= the daemon's) namespace: Docker's "host" */
    RT_NS_JOIN, /* join the namespace at `path` (e.g. /proc/<pid>/ns/net, a bind-mounted netns) */
};

struct rt_ns {
    enum rt_ns_mode mode;
    char *path; /* RT_NS_JOIN only */
};

/* One mount, OCI style. type: "bind" (source = host path), "tmpfs", "proc", "sysfs", "mqueue",
 * "devpts", "cgroup" (the container's cgroupfs, ro unless privileged) or any filesystem type.
 * options: "ro", "rw", "bind", "rbind", "nosuid", "nodev", "noexec", "relatime", propagation
 * ("private", "rprivate", "shared", "rshared", "slave", "rslave"), and fs data like "size=64m",
 * "mode=1777". A bind destination that does not exist is created inside the rootfs (an empty
 * file if the source is a file, else a directory); destinations are resolved inside the rootfs,
 * never following a symlink or ".." out of it. Mounts are applied in order. */
struct rt_mount {
    char *destination;
    char *type;
    char *source;
    char **options;
};

/* A device node to create in the container's /dev (besides the defaults). */
struct rt_device {
    char *path; /* in the container, e.g. /dev/fuse */
    char type;  /* 'c' or 'b' */
    unsigned major, minor;
    mode_t mode; /* permission bits, e.g. 0666 */
    uid_t uid;
    gid_t gid;
};

struct rt_rlimit {
    int resource; /* RLIMIT_* */
    uint64_t soft, hard;
};

/* The process to run (the container's, or one for rt_exec). */
struct rt_process {
    char **args; /* args[0] is looked up in PATH of `env` unless it contains a '/' */
    char **env;  /* "K=V"; PATH defaults to Docker's, HOME to the user's home directory */
    char *cwd;   /* absolute; created in the rootfs if missing; NULL = "/" */
    /* "", "name", "uid", "name:group", "uid:gid", ... resolved in the container's /etc/passwd
     * and /etc/group (Docker's rules; a numeric uid needs no passwd entry). NULL/"" = root. */
    char *user;
    char **additional_groups; /* names or numeric gids, also resolved in the container */
    bool terminal;            /* a pty: stdout and stderr merged, "\r\n" line ends */
    unsigned short rows, cols;
    bool open_stdin; /* give the process a stdin (pipe or pty); otherwise /dev/null */
    /* rt_exec only: every capability of the daemon's bounding set, no seccomp. */
    bool privileged;
};

enum rt_log_format {
    RT_LOG_NONE = 0,
    RT_LOG_JSON_FILE, /* Docker's {"log":"..","stream":"stdout","time":".."}\n */
    RT_LOG_CRI,       /* Kubernetes' "<RFC3339Nano> stdout F text\n" (P for partial lines) */
};

/* cgroup limits; 0 = unset (no limit). memory_swap = -1 means unlimited swap. */
struct rt_resources {
    int64_t memory;      /* bytes */
    int64_t memory_swap; /* memory + swap, bytes; -1 unlimited */
    int64_t pids_limit;  /* > 0 */
    int64_t cpu_quota;   /* microseconds per cpu_period */
    uint64_t cpu_period; /* microseconds, default 100000 */
    uint64_t cpu_shares; /* v1 shares (2..262144), converted to a v2 weight */
    char *cpuset_cpus;   /* "0-1" */
    char *cpuset_mems;
};

struct rt_spec {
    char *id; /* names the cgroup; [A-Za-z0-9_.-]+ */
    struct rt_process process;

    /* Root filesystem: either an overlay of lower_dirs (top-most first) with upper_dir/work_dir
     * (both on a real filesystem, not on overlayfs), or a plain directory `root_path`. A lower-only
     * overlay (no upper) is read-only. The merged tree is mounted at <state_dir>/rootfs. */
    char **lower_dirs;
    char *upper_dir, *work_dir;
    char *root_path;
    bool root_readonly;
    /* The overlay is mounted "volatile" (no syncs of the upper filesystem, not even at unmount)
     * for a container whose writable layer is thrown away with it (docker run --rm): a crash
     * may lose its writes, which nobody will read. Ignored where the kernel lacks the option. */
    bool root_volatile;

    char *hostname;
    struct rt_ns namespaces[RT_NS_COUNT];

    struct rt_mount *mounts;
    size_t n_mounts;

    /* Capability bitmask (bit n = capability n); ignored when privileged. */
    uint64_t capabilities;
    bool seccomp;           /* Docker's default seccomp profile; ignored when privileged */
    bool no_new_privileges; /* --security-opt no-new-privileges (also for rt_exec) */
    /* Every capability of the daemon's bounding set, every host device, no seccomp, no masked or
     * read-only paths, writable /sys and cgroupfs: such a container can mount, unshare and create
     * cgroups itself. */
    bool privileged;
    /* NULL = Docker's defaults (none when privileged); an empty vector (only NULL) = none. */
    char **masked_paths;
    char **readonly_paths;

    struct rt_device *devices;
    size_t n_devices;
    struct rt_rlimit *rlimits; /* a hard limit that cannot be raised keeps the current one */
    size_t n_rlimits;
    bool oom_score_adj_set;
    int oom_score_adj; /* best effort: lowering needs CAP_SYS_RESOURCE */
    char **sysctls;    /* "net.ipv4.ip_forward=1" */

    /* cgroup: <cgroup_parent>/<id> below the daemon's own cgroup (cgroup.h's "base"), in every
     * hierarchy, with Docker's device allow-list (all devices when privileged); NULL = no cgroup
     * of its own (then rt_top needs a new pid namespace, and nothing reports OOM kills). Stats
     * and `docker update`: cg_open_existing(cgroup_parent, id) and the cg_ calls. */
    char *cgroup_parent;
    struct rt_resources resources;

    bool init;       /* a built-in init is PID 1: forwards signals, reaps zombies */
    int stop_signal; /* recorded for the daemon; 0 = SIGTERM */

    char *log_path; /* appended to; NULL or RT_LOG_NONE = no log */
    enum rt_log_format log_format;
};

/* Frees everything the spec points to (every field is heap-owned) and zeroes it. */
void rt_spec_release(struct rt_spec *s);
void rt_process_release(struct rt_process *p);

/* ---- lifecycle ---- */

/* Creates the container described by `spec` in `state_dir` (created; must not hold a container).
 * On failure nothing is left behind (no mount, cgroup, process or directory). */
int rt_create(const struct rt_spec *spec, const char *state_dir, dd_err *e);

/* Starts the process. On an exec failure the error is "exec: \"foo\": executable file not found
 * in $PATH" with code ENOENT (exit record 127) or "exec: \"foo\": permission denied" with EACCES
 * (126); other setup failures (user not found, mount errors) are reported the same way with the
 * exit record 128 (Docker reports these at start and the container is then exited). Starting a
 * container twice fails with EALREADY. */
int rt_start(const char *state_dir, dd_err *e);

enum rt_status { RT_CREATED, RT_RUNNING, RT_EXITED, RT_UNKNOWN };

struct rt_state {
    enum rt_status status;
    pid_t pid;           /* host pid of the container's PID 1; 0 unless RUNNING */
    pid_t shim_pid;      /* 0 if the shim is gone */
    int64_t started_at;  /* ns since the epoch; 0 if never started */
    int64_t finished_at; /* ns; 0 unless EXITED */
    int exit_code;       /* Docker's: the code, or 128+N when killed by signal N */
    int exit_signal;     /* N, or 0 */
    bool oom_killed;
    char *error; /* start/exec failure message, or NULL; owned */
};
void rt_state_release(struct rt_state *s);

/* Reads the state from the directory; pids are checked alive against their recorded start time
 * (no confusion with a reused pid). A shim that died without writing an exit record (e.g. killed
 * with SIGKILL) yields EXITED with exit code 137 and error "shim died". */
int rt_state(const char *state_dir, struct rt_state *ret, dd_err *e);

/* A pidfd (CLOEXEC) of the shim: it becomes readable once the container has exited and the exit
 * record is on disk. -ESRCH if the shim is already gone (read rt_state then). The shim is not
 * the caller's child, unless the caller is its subreaper; waitid(P_PIDFD) on it then reaps it. */
int rt_watch_fd(const char *state_dir, dd_err *e);

/* Sends sig to the container's PID 1 (via pidfd, so never to a reused pid). sig 0 = the spec's
 * stop signal. -ESRCH with "container is not running" if there is none. */
int rt_kill(const char *state_dir, int sig, dd_err *e);

/* Kills whatever is left (SIGKILL to every process of the cgroup or pid namespace), waits for the
 * shim, unmounts the rootfs, removes the cgroup and the state directory. Idempotent. */
int rt_delete(const char *state_dir, dd_err *e);
/* rt_delete that returns once the container is stopped, its cgroup gone and its rootfs
 * unmounted: the state dir is then renamed to trash (a path on the same filesystem) and removed
 * by a background job (dd_rm_rf_background). A crash may leave trash behind, for rt_delete. */
int rt_delete_detached(const char *state_dir, const char *trash, dd_err *e);

/* Host pids of every process in the container (sorted). */
int rt_top(const char *state_dir, pid_t **ret_pids, size_t *ret_n, dd_err *e);

/* Pty size of a terminal container (fails with ENOTTY for a non-terminal one). */
int rt_resize(const char *state_dir, unsigned short rows, unsigned short cols, dd_err *e);

/* Reads the spec the container was created with (for callers that need e.g. its stop signal). */
int rt_spec_load(const char *state_dir, struct rt_spec *ret, dd_err *e);

/* ---- attach ----
 * rt_attach_connect() returns a connected, blocking, CLOEXEC stream socket to the shim; the shim
 * has registered the client when it returns. Framing in both directions is Docker's multiplexed
 * stream header: 8 bytes [type, 0, 0, 0, len as big-endian u32] then len bytes of payload.
 *   shim → client: type 1 = stdout, 2 = stderr (a terminal container sends only 1). The shim
 *                  closes the socket after the container exited and all output was sent.
 *   client → shim: type 0 = stdin data, 3 = stdin EOF (closes the container's stdin; len 0),
 *                  4 = resize (payload: rows, cols as big-endian u16 each).
 * A client that does not read while the shim has more than 1 MiB queued for it is disconnected
 * (the log file always gets everything). */
enum {
    RT_STREAM_STDIN = 0,
    RT_STREAM_STDOUT = 1,
    RT_STREAM_STDERR = 2,
    RT_STREAM_STDIN_EOF = 3,
    RT_STREAM_RESIZE = 4,
};
int rt_attach_connect(const char *state_dir, dd_err *e);

/* ---- exec ---- */

struct rt_exec_result {
    pid_t pid;     /* a child of the caller */
    int pidfd;     /* CLOEXEC pidfd of pid; waitid(P_PIDFD) reaps it */
    int stdin_fd;  /* write end, or -1 without open_stdin; pty master for a terminal */
    int stdout_fd; /* read end; the pty master (dup) for a terminal */
    int stderr_fd; /* read end, or -1 for a terminal */
};

/* Runs `proc` inside the running container: joins its namespaces (pid and cgroup included) and
 * cgroup, with the container's capabilities, seccomp and user rules unless proc->privileged.
 * Blocks until the process has exec'ed. On failure to exec, returns an error whose message is
 * "exec failed: unable to start container process: exec: \"bash\": executable file not found in
 * $PATH" (code ENOENT) and no process is left; Docker reports exit code 126 for every exec failure
 * and writes "OCI runtime exec failed: <msg>: unknown" to the stream. -ESRCH if the container is
 * not running. */
int rt_exec(const char *state_dir, const struct rt_process *proc, struct rt_exec_result *ret,
            dd_err *e);
void rt_exec_result_close(struct rt_exec_result *r);

/* ---- logs ---- */

struct rt_log_entry {
    int64_t time; /* ns since the epoch */
    int stream;   /* RT_STREAM_STDOUT or RT_STREAM_STDERR */
    bool partial; /* CRI "P": the line continues in the next entry */
    char *data;   /* the bytes written, newline included; owned by the reader until next call */
    size_t len;
};

struct rt_log_reader;

/* Opens a log file written by a shim. tail < 0 = all entries, else only the last `tail`; since and
 * until (ns, 0 = unbounded) filter by entry time. */
int rt_log_open(const char *path, enum rt_log_format format, int64_t since, int64_t until,
                long tail, struct rt_log_reader **ret, dd_err *e);
/* Next entry: 1 and *ret filled, 0 at the current end of the file, < 0 on a read error. A corrupt
 * line is skipped. With follow, call again once rt_log_wait_fd() is readable. */
int rt_log_next(struct rt_log_reader *r, struct rt_log_entry *ret, dd_err *e);
/* An inotify fd (created on first call; CLOEXEC, non-blocking) that becomes readable when the
 * file grows; rt_log_next() drains it. */
int rt_log_wait_fd(struct rt_log_reader *r, dd_err *e);
void rt_log_close(struct rt_log_reader *r);

/* ---- helper processes ---- */

/* If argv/environment mark this process as an rt helper (shim or exec helper), runs it and
 * exits; otherwise returns. libdind already calls this from a constructor; calling it again at the
 * top of main() is harmless. */
void rt_shim_main_if_requested(int argc, char **argv);

/* Docker's default masked and read-only paths (NULL-terminated). */
extern const char *const rt_default_masked_paths[];
extern const char *const rt_default_readonly_paths[];

#endif
