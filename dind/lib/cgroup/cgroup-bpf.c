/* cgroup v2 device access control: v2 has no devices.allow/deny files, so the rules become a
 * small eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE, attached to the container's cgroup
 * with BPF_F_ALLOW_MULTI (a parent's program still applies: nesting only narrows). Programs we
 * attached earlier to the same cgroup are detached after the new one is in place, so an update
 * never leaves a window without a filter.
 *
 * Rule semantics (v1's, for the lists runtimes write): the last rule of type 'a' with full access
 * sets the default (deny all / allow all); the rules after it are exceptions, and the last
 * exception that matches a request decides. An allow rule matches when it grants every access bit
 * requested; a deny rule matches when it covers any of them. No helper functions are called, so
 * the program needs no GPL-only kernel symbols. */
#include <linux/bpf.h>
#include <fcntl.h>
#include <sys/syscall.h>

#include "cgroup-internal.h"

#define MAX_INSNS 4096

struct prog {
    struct bpf_insn insns[MAX_INSNS];
    size_t n;
};

static void emit(struct prog *p, uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
    if (p->n < MAX_INSNS)
        p->insns[p->n] =
            (struct bpf_insn){.code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm};
    p->n++;
}

static int access_bits(const char *acc)
{
    int bits = 0;
    if (!acc[0])
        return BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD;
    for (const char *c = acc; *c; c++)
        bits |= *c == 'r'   ? BPF_DEVCG_ACC_READ
                : *c == 'w' ? BPF_DEVCG_ACC_WRITE
                : *c == 'm' ? BPF_DEVCG_ACC_MKNOD
                            : 0x100;
    return bits;
}

/* Registers after the prologue: r2 = device type, r3 = access bits, r4 = major, r5 = minor. */
static void emit_prologue(struct prog *p)
{
    emit(p, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_1, 0, 0); /* access_type */
    emit(p, BPF_ALU | BPF_MOV | BPF_X, BPF_REG_3, BPF_REG_2, 0, 0);
    emit(p, BPF_ALU | BPF_AND | BPF_K, BPF_REG_2, 0, 0, 0xFFFF);
    emit(p, BPF_ALU | BPF_RSH | BPF_K, BPF_REG_3, 0, 0, 16);
    emit(p, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_4, BPF_REG_1, 4, 0); /* major */
    emit(p, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_5, BPF_REG_1, 8, 0); /* minor */
}

static void emit_return(struct prog *p, bool allow)
{
    emit(p, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, allow ? 1 : 0);
    emit(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

/* One exception: every test jumps past the block when it fails. */
static void emit_rule(struct prog *p, const struct cg_device_rule *r)
{
    size_t jumps[4];
    size_t nj = 0;
    int acc = access_bits(r->access);
    if (r->type != 'a') {
        jumps[nj++] = p->n;
        emit(p, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_2, 0, 0,
             r->type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK);
    }
    emit(p, BPF_ALU | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_3, 0, 0);
    emit(p, BPF_ALU | BPF_AND | BPF_K, BPF_REG_1, 0, 0, r->allow ? (~acc & 7) : acc);
    jumps[nj++] = p->n;
    emit(p, BPF_JMP | (r->allow ? BPF_JNE : BPF_JEQ) | BPF_K, BPF_REG_1, 0, 0, 0);
    if (r->major >= 0) {
        jumps[nj++] = p->n;
        emit(p, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_4, 0, 0, (int32_t)r->major);
    }
    if (r->minor >= 0) {
        jumps[nj++] = p->n;
        emit(p, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_5, 0, 0, (int32_t)r->minor);
    }
    emit_return(p, r->allow);
    for (size_t i = 0; i < nj && p->n <= MAX_INSNS; i++)
        p->insns[jumps[i]].off = (int16_t)(p->n - jumps[i] - 1);
}

static bool is_default_rule(const struct cg_device_rule *r)
{
    return r->type == 'a' && access_bits(r->access) == 7;
}

static int validate(const struct cg_device_rule *rules, size_t n, dd_err *e)
{
    for (size_t i = 0; i < n; i++) {
        const struct cg_device_rule *r = &rules[i];
        if (r->type != 'a' && r->type != 'c' && r->type != 'b')
            return dd_err_set(e, EINVAL, "device rule type must be a, c or b");
        if (access_bits(r->access) & ~7)
            return dd_err_set(e, EINVAL, "device rule access '%s' is not a subset of rwm",
                              r->access);
        if (r->major > INT32_MAX || r->minor > INT32_MAX)
            return dd_err_set(e, EINVAL, "device number out of range");
    }
    return 0;
}

static int build(struct prog *p, const struct cg_device_rule *rules, size_t n)
{
    size_t first = 0;
    bool dflt = true; /* a fresh cgroup allows everything its parents allow */
    for (size_t i = 0; i < n; i++)
        if (is_default_rule(&rules[i])) {
            first = i + 1;
            dflt = rules[i].allow;
        }
    emit_prologue(p);
    /* Last match wins: test the exceptions from the end. */
    for (size_t i = n; i > first; i--)
        emit_rule(p, &rules[i - 1]);
    emit_return(p, dflt);
    return p->n <= MAX_INSNS ? 0 : -E2BIG;
}

static long sys_bpf(int cmd, union bpf_attr *attr)
{
    return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

static int load(const struct prog *p, dd_err *e)
{
    static char log[8192];
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    a.insns = (uint64_t)(uintptr_t)p->insns;
    a.insn_cnt = (uint32_t)p->n;
    a.license = (uint64_t)(uintptr_t) "Apache-2.0";
    a.log_buf = (uint64_t)(uintptr_t)log;
    a.log_size = sizeof(log);
    a.log_level = 1;
    log[0] = '\0';
    int fd = (int)sys_bpf(BPF_PROG_LOAD, &a);
    if (fd < 0 && errno == ENOSPC) {
        a.log_level = 0, a.log_buf = 0, a.log_size = 0;
        fd = (int)sys_bpf(BPF_PROG_LOAD, &a);
    }
    if (fd < 0)
        return dd_err_sys(e, "loading the device filter (%.200s)", log);
    return fd;
}

/* Ids of the device programs attached directly to the cgroup (not inherited ones). */
static int query(int cgfd, uint32_t *ids, uint32_t *ret_n)
{
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.query.target_fd = (uint32_t)cgfd;
    a.query.attach_type = BPF_CGROUP_DEVICE;
    a.query.prog_ids = (uint64_t)(uintptr_t)ids;
    a.query.prog_cnt = *ret_n;
    if (sys_bpf(BPF_PROG_QUERY, &a) < 0)
        return -errno;
    *ret_n = a.query.prog_cnt;
    return 0;
}

static void detach_id(int cgfd, uint32_t id)
{
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.prog_id = id;
    _cleanup_close_ int pfd = (int)sys_bpf(BPF_PROG_GET_FD_BY_ID, &a);
    if (pfd < 0)
        return;
    memset(&a, 0, sizeof(a));
    a.target_fd = (uint32_t)cgfd;
    a.attach_bpf_fd = (uint32_t)pfd;
    a.attach_type = BPF_CGROUP_DEVICE;
    (void)sys_bpf(BPF_PROG_DETACH, &a);
}

int cg_bpf_devices_apply(const char *dir, const struct cg_device_rule *rules, size_t n, dd_err *e)
{
    int r = validate(rules, n, e);
    if (r < 0)
        return r;
    _cleanup_free_ struct prog *p = dd_calloc(1, sizeof(*p));
    if (build(p, rules, n) < 0)
        return dd_err_set(e, E2BIG, "too many device rules (%zu)", n);
    _cleanup_close_ int cgfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cgfd < 0)
        return dd_err_sys(e, "opening %s", dir);
    uint32_t old[64], nold = DD_ARRAY_SIZE(old);
    if (query(cgfd, old, &nold) < 0)
        nold = 0;
    _cleanup_close_ int pfd = load(p, e);
    if (pfd < 0)
        return pfd;
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.target_fd = (uint32_t)cgfd;
    a.attach_bpf_fd = (uint32_t)pfd;
    a.attach_type = BPF_CGROUP_DEVICE;
    a.attach_flags = BPF_F_ALLOW_MULTI;
    if (sys_bpf(BPF_PROG_ATTACH, &a) < 0)
        return dd_err_sys(e, "attaching the device filter to %s", dir);
    for (uint32_t i = 0; i < nold && i < DD_ARRAY_SIZE(old); i++)
        detach_id(cgfd, old[i]);
    return 0;
}
