/* Host-side numbers derived from /proc and from the cgroups *we* live in: the capacity a node
 * agent may advertise (memory, cpus, pids) and the system cpu counter Docker's stats use. The
 * capacity walks from the daemon's own cgroup up through every ancestor visible in the mount
 * and takes the smallest limit, so inside a limited container (or a cgroup namespace) the node
 * reports what it can really use, not the host's totals. */
#include <sched.h>
#include <stdio.h>

#include "cgroup-internal.h"

int cg_host_cpu_ns(uint64_t *ret, dd_err *e)
{
    _cleanup_free_ char *s = NULL;
    int r = dd_read_file("/proc/stat", 0, &s, NULL, e);
    if (r < 0)
        return r;
    if (strncmp(s, "cpu ", 4) != 0)
        return dd_err_set(e, EINVAL, "/proc/stat does not start with a cpu line");
    uint64_t ticks = 0;
    char *p = s + 4, *end;
    /* user nice system idle iowait irq softirq steal (guest time is inside user/nice). */
    for (int i = 0; i < 8; i++, p = end) {
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p)
            break;
        ticks += v;
    }
    *ret = ticks * (1000000000ULL / (uint64_t)sysconf(_SC_CLK_TCK));
    return 0;
}

/* Smallest value of file in dir and its ancestors, as long as they have the file. parse returns
 * false for "no limit". */
static uint64_t min_up(const char *dir, const char *file,
                       bool (*parse)(const char *dir, uint64_t *ret))
{
    uint64_t best = UINT64_MAX;
    _cleanup_free_ char *path = dd_strdup(dir);
    for (;;) {
        if (!cg_file_exists(path, file))
            break;
        uint64_t v;
        if (parse(path, &v) && v < best)
            best = v;
        char *slash = strrchr(path, '/');
        if (!slash || slash == path)
            break;
        *slash = '\0';
    }
    return best;
}

static bool parse_v1_mem(const char *dir, uint64_t *ret)
{
    return cg_read_u64(dir, "memory.limit_in_bytes", ret, NULL) >= 0;
}

static bool parse_v2_mem(const char *dir, uint64_t *ret)
{
    return cg_read_u64(dir, "memory.max", ret, NULL) >= 0 && *ret != UINT64_MAX;
}

static bool parse_pids(const char *dir, uint64_t *ret)
{
    return cg_read_u64(dir, "pids.max", ret, NULL) >= 0 && *ret != UINT64_MAX;
}

/* cpu quota in millicores. */
static bool parse_v1_cpu(const char *dir, uint64_t *ret)
{
    _cleanup_free_ char *q = NULL;
    uint64_t period = 0;
    if (cg_read(dir, "cpu.cfs_quota_us", &q, NULL) < 0 || q[0] == '-' ||
        cg_read_u64(dir, "cpu.cfs_period_us", &period, NULL) < 0 || period == 0)
        return false;
    uint64_t quota = strtoull(q, NULL, 10);
    *ret = (quota * 1000 + period - 1) / period;
    return true;
}

static bool parse_v2_cpu(const char *dir, uint64_t *ret)
{
    _cleanup_free_ char *s = NULL;
    unsigned long long quota, period;
    if (cg_read(dir, "cpu.max", &s, NULL) < 0 || sscanf(s, "%llu %llu", &quota, &period) != 2 ||
        period == 0)
        return false;
    *ret = (quota * 1000 + period - 1) / period;
    return true;
}

static uint64_t pid_max(void)
{
    _cleanup_free_ char *s = NULL;
    if (dd_read_file("/proc/sys/kernel/pid_max", 64, &s, NULL, NULL) < 0)
        return 32768;
    return strtoull(s, NULL, 10);
}

int cg_capacity_read(struct cg_capacity *ret, dd_err *e)
{
    memset(ret, 0, sizeof(*ret));
    int r = cg_host_memory(&ret->memory_bytes, e);
    if (r < 0)
        return r;
    cpu_set_t set;
    CPU_ZERO(&set);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    ret->ncpu = sched_getaffinity(0, sizeof(set), &set) == 0 ? (uint64_t)CPU_COUNT(&set)
                                                             : (uint64_t)(online > 0 ? online : 1);
    ret->cpu_milli = ret->ncpu * 1000;
    ret->pids_max = pid_max();
    uint64_t mem = UINT64_MAX, cpu = UINT64_MAX, pids = UINT64_MAX;
    enum cg_mode m = cg_mode();
    if (m == CG_MODE_V1) {
        if (cg_sys.v1_base[CG_MEMORY])
            mem = min_up(cg_sys.v1_base[CG_MEMORY], "memory.limit_in_bytes", parse_v1_mem);
        if (cg_sys.v1_base[CG_CPU])
            cpu = min_up(cg_sys.v1_base[CG_CPU], "cpu.cfs_quota_us", parse_v1_cpu);
        if (cg_sys.v1_base[CG_PIDS])
            pids = min_up(cg_sys.v1_base[CG_PIDS], "pids.max", parse_pids);
    } else if (m == CG_MODE_V2) {
        mem = min_up(cg_sys.v2_base, "memory.max", parse_v2_mem);
        cpu = min_up(cg_sys.v2_base, "cpu.max", parse_v2_cpu);
        pids = min_up(cg_sys.v2_base, "pids.max", parse_pids);
    }
    if (mem < ret->memory_bytes)
        ret->memory_bytes = mem;
    if (cpu < ret->cpu_milli)
        ret->cpu_milli = cpu;
    if (pids < ret->pids_max)
        ret->pids_max = pids;
    return 0;
}
