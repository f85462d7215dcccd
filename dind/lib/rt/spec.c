/* The rt_spec's lifetime and its serialisation into the state directory. The format is private
 * to one build of libdind (the shim and the exec helper are the same binary as their creator),
 * little-endian, length-prefixed and versioned by a magic word; the reader is bounds-checked and
 * never trusts a length. It is not an interchange format: rt knows no JSON. */
#include <stdio.h>

#include "dind/lib/rt/rt-internal.h"

#define SPEC_MAGIC  0x31737472646e6964ULL /* "dindrts1" */
#define NULL_STRLEN UINT64_MAX
#define MAX_ITEMS   (1u << 20)

void rt_pack_u64(dd_buf *b, uint64_t v)
{
    unsigned char x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    dd_buf_add(b, x, 8);
}

void rt_pack_str(dd_buf *b, const char *s)
{
    if (!s) {
        rt_pack_u64(b, NULL_STRLEN);
        return;
    }
    size_t n = strlen(s);
    rt_pack_u64(b, n);
    dd_buf_add(b, s, n);
}

void rt_pack_strv(dd_buf *b, char *const *v)
{
    if (!v) {
        rt_pack_u64(b, NULL_STRLEN);
        return;
    }
    size_t n = dd_strv_len(v);
    rt_pack_u64(b, n);
    for (size_t i = 0; i < n; i++)
        rt_pack_str(b, v[i]);
}

uint64_t rt_unpack_u64(struct rt_unpack *u)
{
    if (u->bad || u->end - u->p < 8) {
        u->bad = true;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)u->p[i] << (8 * i);
    u->p += 8;
    return v;
}

char *rt_unpack_str(struct rt_unpack *u)
{
    uint64_t n = rt_unpack_u64(u);
    if (u->bad || n == NULL_STRLEN)
        return NULL;
    if (n > (uint64_t)(u->end - u->p)) {
        u->bad = true;
        return NULL;
    }
    char *s = dd_strndup((const char *)u->p, n);
    u->p += n;
    return s;
}

char **rt_unpack_strv(struct rt_unpack *u)
{
    uint64_t n = rt_unpack_u64(u);
    if (u->bad || n == NULL_STRLEN)
        return NULL;
    if (n > MAX_ITEMS) {
        u->bad = true;
        return NULL;
    }
    char **v = dd_calloc(n + 1, sizeof(char *));
    for (uint64_t i = 0; i < n && !u->bad; i++) {
        v[i] = rt_unpack_str(u);
        if (!v[i])
            v[i] = dd_strdup("");
    }
    return v;
}

void rt_process_pack(dd_buf *b, const struct rt_process *p)
{
    rt_pack_strv(b, p->args);
    rt_pack_strv(b, p->env);
    rt_pack_str(b, p->cwd);
    rt_pack_str(b, p->user);
    rt_pack_strv(b, p->additional_groups);
    rt_pack_u64(b, p->terminal | (uint64_t)p->open_stdin << 1 | (uint64_t)p->privileged << 2);
    rt_pack_u64(b, p->rows | (uint64_t)p->cols << 16);
}

void rt_process_unpack(struct rt_unpack *u, struct rt_process *p)
{
    p->args = rt_unpack_strv(u);
    p->env = rt_unpack_strv(u);
    p->cwd = rt_unpack_str(u);
    p->user = rt_unpack_str(u);
    p->additional_groups = rt_unpack_strv(u);
    uint64_t f = rt_unpack_u64(u);
    p->terminal = f & 1;
    p->open_stdin = f & 2;
    p->privileged = f & 4;
    uint64_t sz = rt_unpack_u64(u);
    p->rows = (unsigned short)sz;
    p->cols = (unsigned short)(sz >> 16);
}

static void pack_mounts(dd_buf *b, const struct rt_spec *s)
{
    rt_pack_u64(b, s->n_mounts);
    for (size_t i = 0; i < s->n_mounts; i++) {
        rt_pack_str(b, s->mounts[i].destination);
        rt_pack_str(b, s->mounts[i].type);
        rt_pack_str(b, s->mounts[i].source);
        rt_pack_strv(b, s->mounts[i].options);
    }
}

static void pack_devices_rlimits(dd_buf *b, const struct rt_spec *s)
{
    rt_pack_u64(b, s->n_devices);
    for (size_t i = 0; i < s->n_devices; i++) {
        const struct rt_device *d = &s->devices[i];
        rt_pack_str(b, d->path);
        rt_pack_u64(b, (uint64_t)(unsigned char)d->type);
        rt_pack_u64(b, d->major | (uint64_t)d->minor << 32);
        rt_pack_u64(b, d->mode);
        rt_pack_u64(b, d->uid | (uint64_t)d->gid << 32);
    }
    rt_pack_u64(b, s->n_rlimits);
    for (size_t i = 0; i < s->n_rlimits; i++) {
        rt_pack_u64(b, (uint64_t)s->rlimits[i].resource);
        rt_pack_u64(b, s->rlimits[i].soft);
        rt_pack_u64(b, s->rlimits[i].hard);
    }
}

static void pack_resources(dd_buf *b, const struct rt_resources *r)
{
    rt_pack_u64(b, (uint64_t)r->memory);
    rt_pack_u64(b, (uint64_t)r->memory_swap);
    rt_pack_u64(b, (uint64_t)r->pids_limit);
    rt_pack_u64(b, (uint64_t)r->cpu_quota);
    rt_pack_u64(b, r->cpu_period);
    rt_pack_u64(b, r->cpu_shares);
    rt_pack_str(b, r->cpuset_cpus);
    rt_pack_str(b, r->cpuset_mems);
}

void rt_spec_pack(dd_buf *b, const struct rt_spec *s)
{
    rt_pack_u64(b, SPEC_MAGIC);
    rt_pack_str(b, s->id);
    rt_process_pack(b, &s->process);
    rt_pack_strv(b, s->lower_dirs);
    rt_pack_str(b, s->upper_dir);
    rt_pack_str(b, s->work_dir);
    rt_pack_str(b, s->root_path);
    rt_pack_str(b, s->hostname);
    for (int i = 0; i < RT_NS_COUNT; i++) {
        rt_pack_u64(b, s->namespaces[i].mode);
        rt_pack_str(b, s->namespaces[i].path);
    }
    pack_mounts(b, s);
    rt_pack_u64(b, s->capabilities);
    rt_pack_u64(b, s->root_readonly | (uint64_t)s->seccomp << 1 | (uint64_t)s->privileged << 2 |
                       (uint64_t)s->oom_score_adj_set << 3 | (uint64_t)s->init << 4 |
                       (uint64_t)s->no_new_privileges << 5 | (uint64_t)s->root_volatile << 6);
    rt_pack_strv(b, s->masked_paths);
    rt_pack_strv(b, s->readonly_paths);
    pack_devices_rlimits(b, s);
    rt_pack_u64(b, (uint64_t)(int64_t)s->oom_score_adj);
    rt_pack_strv(b, s->sysctls);
    rt_pack_str(b, s->cgroup_parent);
    pack_resources(b, &s->resources);
    rt_pack_u64(b, (uint64_t)s->stop_signal);
    rt_pack_str(b, s->log_path);
    rt_pack_u64(b, s->log_format);
}

static void unpack_mounts(struct rt_unpack *u, struct rt_spec *s)
{
    uint64_t n = rt_unpack_u64(u);
    if (u->bad || n > MAX_ITEMS) {
        u->bad = true;
        return;
    }
    s->mounts = dd_calloc(n ? n : 1, sizeof(*s->mounts));
    s->n_mounts = n;
    for (size_t i = 0; i < n && !u->bad; i++) {
        s->mounts[i].destination = rt_unpack_str(u);
        s->mounts[i].type = rt_unpack_str(u);
        s->mounts[i].source = rt_unpack_str(u);
        s->mounts[i].options = rt_unpack_strv(u);
    }
}

static void unpack_devices_rlimits(struct rt_unpack *u, struct rt_spec *s)
{
    uint64_t n = rt_unpack_u64(u);
    if (u->bad || n > MAX_ITEMS) {
        u->bad = true;
        return;
    }
    s->devices = dd_calloc(n ? n : 1, sizeof(*s->devices));
    s->n_devices = n;
    for (size_t i = 0; i < n && !u->bad; i++) {
        struct rt_device *d = &s->devices[i];
        d->path = rt_unpack_str(u);
        d->type = (char)rt_unpack_u64(u);
        uint64_t mm = rt_unpack_u64(u);
        d->major = (unsigned)mm;
        d->minor = (unsigned)(mm >> 32);
        d->mode = (mode_t)rt_unpack_u64(u);
        uint64_t ug = rt_unpack_u64(u);
        d->uid = (uid_t)ug;
        d->gid = (gid_t)(ug >> 32);
    }
    n = rt_unpack_u64(u);
    if (u->bad || n > MAX_ITEMS) {
        u->bad = true;
        return;
    }
    s->rlimits = dd_calloc(n ? n : 1, sizeof(*s->rlimits));
    s->n_rlimits = n;
    for (size_t i = 0; i < n && !u->bad; i++) {
        s->rlimits[i].resource = (int)rt_unpack_u64(u);
        s->rlimits[i].soft = rt_unpack_u64(u);
        s->rlimits[i].hard = rt_unpack_u64(u);
    }
}

static void unpack_resources(struct rt_unpack *u, struct rt_resources *r)
{
    r->memory = (int64_t)rt_unpack_u64(u);
    r->memory_swap = (int64_t)rt_unpack_u64(u);
    r->pids_limit = (int64_t)rt_unpack_u64(u);
    r->cpu_quota = (int64_t)rt_unpack_u64(u);
    r->cpu_period = rt_unpack_u64(u);
    r->cpu_shares = rt_unpack_u64(u);
    r->cpuset_cpus = rt_unpack_str(u);
    r->cpuset_mems = rt_unpack_str(u);
}

int rt_spec_unpack(const void *data, size_t len, struct rt_spec *ret, dd_err *e)
{
    struct rt_unpack u = {data, (const unsigned char *)data + len, false};
    struct rt_spec s = {0};
    if (rt_unpack_u64(&u) != SPEC_MAGIC)
        return dd_err_set(e, EINVAL, "container spec: unknown format");
    s.id = rt_unpack_str(&u);
    rt_process_unpack(&u, &s.process);
    s.lower_dirs = rt_unpack_strv(&u);
    s.upper_dir = rt_unpack_str(&u);
    s.work_dir = rt_unpack_str(&u);
    s.root_path = rt_unpack_str(&u);
    s.hostname = rt_unpack_str(&u);
    for (int i = 0; i < RT_NS_COUNT; i++) {
        s.namespaces[i].mode = (enum rt_ns_mode)rt_unpack_u64(&u);
        s.namespaces[i].path = rt_unpack_str(&u);
    }
    unpack_mounts(&u, &s);
    s.capabilities = rt_unpack_u64(&u);
    uint64_t f = rt_unpack_u64(&u);
    s.root_readonly = f & 1;
    s.seccomp = f & 2;
    s.privileged = f & 4;
    s.oom_score_adj_set = f & 8;
    s.init = f & 16;
    s.no_new_privileges = f & 32;
    s.root_volatile = f & 64;
    s.masked_paths = rt_unpack_strv(&u);
    s.readonly_paths = rt_unpack_strv(&u);
    unpack_devices_rlimits(&u, &s);
    s.oom_score_adj = (int)(int64_t)rt_unpack_u64(&u);
    s.sysctls = rt_unpack_strv(&u);
    s.cgroup_parent = rt_unpack_str(&u);
    unpack_resources(&u, &s.resources);
    s.stop_signal = (int)rt_unpack_u64(&u);
    s.log_path = rt_unpack_str(&u);
    s.log_format = (enum rt_log_format)rt_unpack_u64(&u);
    if (u.bad) {
        rt_spec_release(&s);
        return dd_err_set(e, EINVAL, "container spec: truncated or corrupt");
    }
    *ret = s;
    return 0;
}

void rt_process_release(struct rt_process *p)
{
    if (!p)
        return;
    dd_strv_free(p->args);
    dd_strv_free(p->env);
    free(p->cwd);
    free(p->user);
    dd_strv_free(p->additional_groups);
    memset(p, 0, sizeof(*p));
}

void rt_spec_release(struct rt_spec *s)
{
    if (!s)
        return;
    free(s->id);
    rt_process_release(&s->process);
    dd_strv_free(s->lower_dirs);
    free(s->upper_dir);
    free(s->work_dir);
    free(s->root_path);
    free(s->hostname);
    for (int i = 0; i < RT_NS_COUNT; i++)
        free(s->namespaces[i].path);
    for (size_t i = 0; i < s->n_mounts; i++) {
        free(s->mounts[i].destination);
        free(s->mounts[i].type);
        free(s->mounts[i].source);
        dd_strv_free(s->mounts[i].options);
    }
    free(s->mounts);
    dd_strv_free(s->masked_paths);
    dd_strv_free(s->readonly_paths);
    for (size_t i = 0; i < s->n_devices; i++)
        free(s->devices[i].path);
    free(s->devices);
    free(s->rlimits);
    dd_strv_free(s->sysctls);
    free(s->cgroup_parent);
    free(s->resources.cpuset_cpus);
    free(s->resources.cpuset_mems);
    free(s->log_path);
    memset(s, 0, sizeof(*s));
}

int rt_spec_load(const char *state_dir, struct rt_spec *ret, dd_err *e)
{
    _cleanup_free_ char *path = dd_path_join(state_dir, RT_FILE_SPEC);
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    int r = dd_read_file(path, 64 << 20, &data, &len, e);
    if (r < 0)
        return r;
    return rt_spec_unpack(data, len, ret, e);
}
