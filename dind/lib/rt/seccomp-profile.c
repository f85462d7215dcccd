/* Docker's default seccomp profile as data. The syscall names, capability conditions and
 * argument filters below are taken from moby/moby profiles/seccomp/default.json (the v24-era
 * profile, Apache-2.0, Copyright Docker, Inc.); only the list of names and conditions is reused,
 * expressed as C tables. security.c turns them into a libseccomp filter. Nothing here decides
 * policy beyond what default.json says; the default action (EPERM) lives in security.c. */
#include <linux/capability.h>

#include "dind/base.h"
#include "seccomp-profile.h"

#define CAPB(c) (UINT64_C(1) << (c))
#define NAMES(...) ((const char *const[]){__VA_ARGS__, NULL})
#define ARCHES(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Everything a normal process needs: allowed for every container. */
static const char *const allow_always[] = {
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "capget", "capset",
    "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres",
    "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
    "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat",
    "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
    "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
    "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64",
    "fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchown",
    "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock",
    "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs",
    "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex", "futex_time64", "futex_waitv",
    "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32",
    "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer",
    "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom",
    "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list",
    "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid",
    "gettimeofday", "getuid", "getuid32", "getxattr", "inotify_add_watch", "inotify_init",
    "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents",
    "io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup",
    "io_submit", "io_uring_enter", "io_uring_register", "io_uring_setup", "ipc", "kill",
    "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown",
    "lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr", "_llseek",
    "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise", "membarrier",
    "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock",
    "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open",
    "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64",
    "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock",
    "munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat", "_newselect",
    "open", "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2",
    "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl",
    "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease", "pselect6",
    "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
    "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg",
    "remap_file_pages", "removexattr", "rename", "renameat", "renameat2", "restart_syscall",
    "rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
    "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr", "sched_getparam",
    "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
    "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity",
    "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select",
    "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send", "sendfile",
    "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid",
    "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid",
    "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
    "setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid",
    "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr",
    "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4",
    "sigprocmask", "sigreturn", "socketcall", "socketpair", "splice", "stat", "stat64",
    "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs",
    "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun",
    "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create",
    "timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times",
    "tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat",
    "utime", "utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid",
    "waitpid", "write", "writev", NULL};

/* CAP_SYS_ADMIN: mounts, namespaces, and the rest of what default.json gates on it. */
static const char *const allow_sys_admin[] = {
    "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
    "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open",
    "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog", "umount",
    "umount2", "unshare", NULL};

/* socket(AF_VSOCK = 40, ...) is refused. */
static const struct rt_sc_arg socket_not_vsock[] = {{0, RT_SC_NE, 40, 0}};
static const struct rt_sc_arg pers_linux[] = {{0, RT_SC_EQ, 0x0, 0}};
static const struct rt_sc_arg pers_linux32[] = {{0, RT_SC_EQ, 0x8, 0}};
static const struct rt_sc_arg pers_uname26[] = {{0, RT_SC_EQ, 0x20000, 0}};
static const struct rt_sc_arg pers_uname26_32[] = {{0, RT_SC_EQ, 0x20008, 0}};
static const struct rt_sc_arg pers_query[] = {{0, RT_SC_EQ, 0xffffffff, 0}};
/* clone without any CLONE_NEW* flag: NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWCGROUP. */
static const struct rt_sc_arg clone_no_ns_a0[] = {{0, RT_SC_MASKED_EQ, 0x7E020000, 0}};
static const struct rt_sc_arg clone_no_ns_a1[] = {{1, RT_SC_MASKED_EQ, 0x7E020000, 0}};

const struct rt_sc_rule rt_sc_default_rules[] = {
    {.names = allow_always, .action = RT_SC_ALLOW},
    /* default.json: minKernel 4.8 (seccomp can no longer be bypassed through ptrace). */
    {.names = NAMES("process_vm_readv", "process_vm_writev", "ptrace"), .action = RT_SC_ALLOW},
    {.names = NAMES("socket"), .action = RT_SC_ALLOW, .args = socket_not_vsock, .n_args = 1},
    {.names = NAMES("personality"), .action = RT_SC_ALLOW, .args = pers_linux, .n_args = 1},
    {.names = NAMES("personality"), .action = RT_SC_ALLOW, .args = pers_linux32, .n_args = 1},
    {.names = NAMES("personality"), .action = RT_SC_ALLOW, .args = pers_uname26, .n_args = 1},
    {.names = NAMES("personality"), .action = RT_SC_ALLOW, .args = pers_uname26_32, .n_args = 1},
    {.names = NAMES("personality"), .action = RT_SC_ALLOW, .args = pers_query, .n_args = 1},
    {.names = NAMES("sync_file_range2", "swapcontext"),
     .action = RT_SC_ALLOW,
     .arches = ARCHES("ppc64le")},
    {.names = NAMES("arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint",
                    "cacheflush", "set_tls"),
     .action = RT_SC_ALLOW,
     .arches = ARCHES("arm", "arm64")},
    {.names = NAMES("arch_prctl"), .action = RT_SC_ALLOW, .arches = ARCHES("amd64", "x32")},
    {.names = NAMES("modify_ldt"), .action = RT_SC_ALLOW, .arches = ARCHES("amd64", "x32", "x86")},
    {.names = NAMES("s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"),
     .action = RT_SC_ALLOW,
     .arches = ARCHES("s390", "s390x")},
    {.names = NAMES("riscv_flush_icache"), .action = RT_SC_ALLOW, .arches = ARCHES("riscv64")},
    {.names = NAMES("open_by_handle_at"),
     .action = RT_SC_ALLOW,
     .caps_all = CAPB(CAP_DAC_READ_SEARCH)},
    {.names = allow_sys_admin, .action = RT_SC_ALLOW, .caps_all = CAPB(CAP_SYS_ADMIN)},
    {.names = NAMES("clone"),
     .action = RT_SC_ALLOW,
     .args = clone_no_ns_a0,
     .n_args = 1,
     .caps_none = CAPB(CAP_SYS_ADMIN),
     .not_arches = ARCHES("s390", "s390x")},
    /* s390 passes clone's flags as the second argument. */
    {.names = NAMES("clone"),
     .action = RT_SC_ALLOW,
     .args = clone_no_ns_a1,
     .n_args = 1,
     .caps_none = CAPB(CAP_SYS_ADMIN),
     .arches = ARCHES("s390", "s390x")},
    /* clone3 flags live in memory seccomp cannot read: make libc fall back to clone. */
    {.names = NAMES("clone3"),
     .action = RT_SC_ERRNO,
     .errno_ret = 38 /* ENOSYS */,
     .caps_none = CAPB(CAP_SYS_ADMIN)},
    {.names = NAMES("reboot"), .action = RT_SC_ALLOW, .caps_all = CAPB(CAP_SYS_BOOT)},
    {.names = NAMES("chroot"), .action = RT_SC_ALLOW, .caps_all = CAPB(CAP_SYS_CHROOT)},
    {.names = NAMES("delete_module", "init_module", "finit_module"),
     .action = RT_SC_ALLOW,
     .caps_all = CAPB(CAP_SYS_MODULE)},
    {.names = NAMES("acct"), .action = RT_SC_ALLOW, .caps_all = CAPB(CAP_SYS_PACCT)},
    {.names = NAMES("kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv",
                    "process_vm_writev", "ptrace"),
     .action = RT_SC_ALLOW,
     .caps_all = CAPB(CAP_SYS_PTRACE)},
    {.names = NAMES("iopl", "ioperm"), .action = RT_SC_ALLOW, .caps_all = CAPB(CAP_SYS_RAWIO)},
    {.names = NAMES("settimeofday", "stime", "clock_settime", "clock_settime64"),
     .action = RT_SC_ALLOW,
     .caps_all = CAPB(CAP_SYS_TIME)},
    {.names = NAMES("vhangup"), .action = RT_SC_ALLOW, .caps_all = CAPB(CAP_SYS_TTY_CONFIG)},
    {.names = NAMES("get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"),
     .action = RT_SC_ALLOW,
     .caps_all = CAPB(CAP_SYS_NICE)},
    {.names = NAMES("syslog"), .action = RT_SC_ALLOW, .caps_all = CAPB(CAP_SYSLOG)},
    {.names = NAMES("bpf"), .action = RT_SC_ALLOW, .caps_all = CAPB(CAP_BPF)},
    {.names = NAMES("perf_event_open"), .action = RT_SC_ALLOW, .caps_all = CAPB(CAP_PERFMON)},
};
const size_t rt_sc_default_n_rules = DD_ARRAY_SIZE(rt_sc_default_rules);
