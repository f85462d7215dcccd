/* rt security: capability names and sets, applying a capability set in the container child, and
 * building + loading Docker's default seccomp profile from the tables in seccomp-profile.c.
 * Runs in the forked container child between namespace setup and execve (see security.h for the
 * order). It does not parse user-supplied seccomp JSON profiles (only the default one) and does
 * not handle ambient capabilities (Docker does not set them either). */
#include <linux/capability.h>
#include <seccomp.h>
#include <strings.h>
#include <sys/capability.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include "security.h"
#include "seccomp-profile.h"

/* Index = capability number (linux/capability.h). */
static const char *const cap_names[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

int rt_cap_from_name(const char *name, int *ret_cap)
{
    if (!name)
        return -EINVAL;
    const char *bare = strncasecmp(name, "CAP_", 4) == 0 ? name + 4 : name;
    for (size_t i = 0; i < DD_ARRAY_SIZE(cap_names); i++) {
        if (strcasecmp(bare, cap_names[i] + 4) == 0) {
            *ret_cap = (int)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *rt_cap_name(int cap)
{
    if (cap < 0 || (size_t)cap >= DD_ARRAY_SIZE(cap_names))
        return NULL;
    return cap_names[cap];
}

int rt_cap_last(void)
{
    static int last = -1;
    if (last >= 0)
        return last;
    _cleanup_free_ char *s = NULL;
    int64_t v = 0;
    if (dd_read_file("/proc/sys/kernel/cap_last_cap", 64, &s, NULL, NULL) >= 0) {
        s[strcspn(s, "\n")] = '\0';
        if (dd_parse_int64(s, &v) >= 0 && v > 0 && v < 64)
            last = (int)v;
    }
    if (last < 0)
        last = CAP_LAST_CAP;
    return last;
}

uint64_t rt_caps_docker_default(void)
{
    static const int def[] = {CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,
                              CAP_MKNOD,   CAP_NET_RAW,      CAP_SETGID,           CAP_SETUID,
                              CAP_SETFCAP, CAP_SETPCAP,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
                              CAP_KILL,    CAP_AUDIT_WRITE};
    uint64_t set = 0;
    for (size_t i = 0; i < DD_ARRAY_SIZE(def); i++)
        set |= RT_CAP_BIT(def[i]);
    return set;
}

uint64_t rt_caps_daemon_bounding(void)
{
    uint64_t set = 0;
    int last = rt_cap_last();
    for (int c = 0; c <= last; c++)
        if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1)
            set |= RT_CAP_BIT(c);
    return set;
}

static int caps_drop_bounding(uint64_t keep, dd_err *e)
{
    int last = rt_cap_last();
    for (int c = 0; c <= last; c++) {
        if (keep & RT_CAP_BIT(c))
            continue;
        if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) != 1)
            continue;
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
            return dd_err_sys(e, "dropping %s from the bounding set",
                              rt_cap_name(c) ? rt_cap_name(c) : "capability");
    }
    return 0;
}

/* Sets permitted = effective = set, inheritable empty. Only lowers what we hold. */
static int caps_set_proc(uint64_t set, dd_err *e)
{
    cap_t c = cap_init();
    if (!c)
        return dd_err_sys(e, "cap_init");
    int last = rt_cap_last();
    for (int i = 0; i <= last; i++) {
        if (!(set & RT_CAP_BIT(i)))
            continue;
        cap_value_t v = i;
        if (cap_set_flag(c, CAP_PERMITTED, 1, &v, CAP_SET) < 0 ||
            cap_set_flag(c, CAP_EFFECTIVE, 1, &v, CAP_SET) < 0) {
            int r = dd_err_sys(e, "cap_set_flag");
            cap_free(c);
            return r;
        }
    }
    int r = cap_set_proc(c);
    int saved = errno;
    cap_free(c);
    if (r < 0) {
        errno = saved;
        return dd_err_sys(e, "setting capabilities");
    }
    return 0;
}

int rt_caps_apply(uint64_t caps, uid_t uid, dd_err *e)
{
    dd_err local = {0};
    if (!e)
        e = &local;
    uint64_t have = rt_caps_daemon_bounding();
    caps &= have;
    int r = caps_drop_bounding(caps, e);
    if (r < 0)
        return r;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return dd_err_sys(e, "clearing ambient capabilities");
    /* KEEPCAPS off: the caller's setresuid() to a non-zero uid then clears permitted and
     * effective, which is what Docker gives a non-root user. Root keeps its sets; execve as
     * root recomputes them from the bounding set we just narrowed. */
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
        return dd_err_sys(e, "prctl(PR_SET_KEEPCAPS)");
    /* Keep SETUID/SETGID until the caller switched ids, even if caps lacks them: for root
     * execve drops them (not in the bounding set), for other uids setresuid does. */
    uint64_t keep = caps | (have & (RT_CAP_BIT(CAP_SETUID) | RT_CAP_BIT(CAP_SETGID)));
    if (uid != 0)
        keep = have & (RT_CAP_BIT(CAP_SETUID) | RT_CAP_BIT(CAP_SETGID));
    r = caps_set_proc(keep, e);
    if (r < 0)
        return dd_err_wrap(e, "applying capabilities");
    return 0;
}

/* ---- seccomp ---- */

static const char *arch_docker_name(uint32_t arch)
{
    switch (arch) {
    case SCMP_ARCH_X86_64:
        return "amd64";
    case SCMP_ARCH_X86:
        return "x86";
    case SCMP_ARCH_X32:
        return "x32";
    case SCMP_ARCH_AARCH64:
        return "arm64";
    case SCMP_ARCH_ARM:
        return "arm";
    case SCMP_ARCH_S390X:
        return "s390x";
    case SCMP_ARCH_S390:
        return "s390";
    case SCMP_ARCH_PPC64LE:
        return "ppc64le";
    case SCMP_ARCH_RISCV64:
        return "riscv64";
    default:
        return "";
    }
}

static bool list_has(const char *const *list, const char *s)
{
    for (; list && *list; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

static bool rule_applies(const struct rt_sc_rule *r, uint64_t caps, const char *arch)
{
    if ((r->caps_all & caps) != r->caps_all)
        return false;
    if (r->caps_none & caps)
        return false;
    if (r->arches && !list_has(r->arches, arch))
        return false;
    if (r->not_arches && list_has(r->not_arches, arch))
        return false;
    return true;
}

static struct scmp_arg_cmp arg_cmp(const struct rt_sc_arg *a)
{
    enum scmp_compare op = a->op == RT_SC_EQ   ? SCMP_CMP_EQ
                           : a->op == RT_SC_NE ? SCMP_CMP_NE
                                               : SCMP_CMP_MASKED_EQ;
    return (struct scmp_arg_cmp){
        .arg = a->index, .op = op, .datum_a = a->value, .datum_b = a->value2};
}

static int add_rule(scmp_filter_ctx ctx, const struct rt_sc_rule *rule, dd_err *e)
{
    uint32_t action =
        rule->action == RT_SC_ALLOW ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO((uint32_t)rule->errno_ret);
    struct scmp_arg_cmp cmps[6];
    size_t n = rule->n_args < 6 ? rule->n_args : 6;
    for (size_t i = 0; i < n; i++)
        cmps[i] = arg_cmp(&rule->args[i]);
    for (const char *const *name = rule->names; *name; name++) {
        int nr = seccomp_syscall_resolve_name(*name);
        if (nr == __NR_SCMP_ERROR)
            continue; /* unknown to libseccomp on this architecture */
        int r = seccomp_rule_add_array(ctx, action, nr, (unsigned)n, cmps);
        if (r < 0 && r != -EDOM && r != -EOPNOTSUPP)
            return dd_err_set(e, -r, "seccomp rule for %s: %s", *name, strerror(-r));
    }
    return 0;
}

static void add_companion_arches(scmp_filter_ctx ctx, uint32_t native)
{
    static const uint32_t x86_64[] = {SCMP_ARCH_X86, SCMP_ARCH_X32};
    static const uint32_t aarch64[] = {SCMP_ARCH_ARM};
    static const uint32_t s390x[] = {SCMP_ARCH_S390};
    const uint32_t *list = NULL;
    size_t n = 0;
    if (native == SCMP_ARCH_X86_64)
        list = x86_64, n = DD_ARRAY_SIZE(x86_64);
    else if (native == SCMP_ARCH_AARCH64)
        list = aarch64, n = DD_ARRAY_SIZE(aarch64);
    else if (native == SCMP_ARCH_S390X)
        list = s390x, n = DD_ARRAY_SIZE(s390x);
    /* A kernel or libseccomp without the companion simply keeps the native filter. */
    for (size_t i = 0; i < n; i++)
        (void)seccomp_arch_add(ctx, list[i]);
}

static int build_default(scmp_filter_ctx ctx, uint64_t caps, dd_err *e)
{
    uint32_t native = seccomp_arch_native();
    const char *arch = arch_docker_name(native);
    int r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    if (r < 0)
        return dd_err_set(e, -r, "seccomp: clearing the no_new_privs attribute");
    add_companion_arches(ctx, native);
    for (size_t i = 0; i < rt_sc_default_n_rules; i++) {
        const struct rt_sc_rule *rule = &rt_sc_default_rules[i];
        if (!rule_applies(rule, caps, arch))
            continue;
        r = add_rule(ctx, rule, e);
        if (r < 0)
            return r;
    }
    return 0;
}

int rt_seccomp_apply_default(uint64_t caps, dd_err *e)
{
    dd_err local = {0};
    if (!e)
        e = &local;
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    if (!ctx)
        return dd_err_set(e, ENOMEM, "seccomp_init failed");
    int r = build_default(ctx, caps, e);
    if (r >= 0) {
        r = seccomp_load(ctx);
        if (r < 0)
            dd_err_set(e, -r, "loading the seccomp filter: %s", strerror(-r));
    }
    seccomp_release(ctx);
    if (r < 0)
        return dd_err_wrap(e, "default seccomp profile");
    return 0;
}

int rt_seccomp_export_default(uint64_t caps, void **ret, size_t *ret_len, dd_err *e)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    if (!ctx)
        return dd_err_set(e, ENOMEM, "seccomp_init failed");
    int r = build_default(ctx, caps, e);
    int fd = r < 0 ? -1 : memfd_create("seccomp-bpf", MFD_CLOEXEC);
    if (r >= 0 && fd < 0)
        r = dd_err_sys(e, "memfd_create");
    if (r >= 0 && (r = seccomp_export_bpf(ctx, fd)) < 0)
        dd_err_set(e, -r, "exporting the seccomp filter: %s", strerror(-r));
    seccomp_release(ctx);
    if (r >= 0) {
        _cleanup_free_ char *path = dd_asprintf("/proc/self/fd/%d", fd);
        char *data = NULL;
        size_t len = 0;
        r = dd_read_file(path, 0, &data, &len, e);
        if (r >= 0) {
            *ret = data;
            *ret_len = len;
        }
    }
    if (fd >= 0)
        close(fd);
    return r < 0 ? dd_err_wrap(e, "default seccomp profile") : 0;
}
