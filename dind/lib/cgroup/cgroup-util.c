/* cgroup helpers shared by the v1 and v2 drivers: reading and writing cgroupfs files (one
 * write(2) per value, as the kernel wants), flat-keyed file parsing, pid lists, directory walks
 * and removal, path validation and unit conversions. No policy lives here. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "cgroup-internal.h"

int cg_write(const char *dir, const char *file, const char *s, dd_err *e)
{
    _cleanup_free_ char *p = dd_path_join(dir, file);
    _cleanup_close_ int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return dd_err_sys(e, "opening %s", p);
    size_t n = strlen(s);
    ssize_t w = write(fd, s, n);
    if (w < 0)
        return dd_err_sys(e, "writing '%s' to %s", s, p);
    if ((size_t)w != n)
        return dd_err_set(e, EIO, "short write of '%s' to %s", s, p);
    return 0;
}

int cg_writef(const char *dir, const char *file, dd_err *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *s = NULL;
    int r = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (r < 0)
        return dd_err_set(e, ENOMEM, "out of memory");
    return cg_write(dir, file, s, e);
}

int cg_read(const char *dir, const char *file, char **ret, dd_err *e)
{
    _cleanup_free_ char *p = dd_path_join(dir, file);
    char *s = NULL;
    size_t n = 0;
    int r = dd_read_file(p, 0, &s, &n, e);
    if (r < 0)
        return r;
    while (n > 0 && s[n - 1] == '\n')
        s[--n] = '\0';
    *ret = s;
    return 0;
}

int cg_read_u64(const char *dir, const char *file, uint64_t *ret, dd_err *e)
{
    _cleanup_free_ char *s = NULL;
    int r = cg_read(dir, file, &s, e);
    if (r < 0)
        return r;
    if (strncmp(s, "max", 3) == 0) {
        *ret = UINT64_MAX;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return dd_err_set(e, EINVAL, "%s/%s: not a number: '%s'", dir, file, s);
    *ret = v;
    return 0;
}

int cg_kv_u64(const char *text, const char *key, uint64_t *ret)
{
    size_t kl = strlen(key);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, key, kl) == 0 && p[kl] == ' ') {
            *ret = strtoull(p + kl + 1, NULL, 10);
            return 0;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return -ENOENT;
}

bool cg_file_exists(const char *dir, const char *file)
{
    _cleanup_free_ char *p = dd_path_join(dir, file);
    return access(p, F_OK) == 0;
}

int cg_parse_pids(const char *text, pid_t **ret, size_t *ret_n)
{
    size_t n = 0, cap = 16;
    pid_t *v = dd_malloc(cap * sizeof(*v));
    for (const char *p = text; *p;) {
        char *end = NULL;
        long pid = strtol(p, &end, 10);
        if (end == p)
            break;
        if (n == cap)
            v = dd_realloc(v, (cap *= 2) * sizeof(*v));
        v[n++] = (pid_t)pid;
        p = end;
        while (*p == '\n' || *p == ' ')
            p++;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

struct pids_acc {
    pid_t *v;
    size_t n, cap;
};

static int collect_pids(const char *dir, void *ud)
{
    struct pids_acc *a = ud;
    _cleanup_free_ char *s = NULL;
    if (cg_read(dir, "cgroup.procs", &s, NULL) < 0)
        return 0; /* removed under us */
    pid_t *v = NULL;
    size_t n = 0;
    cg_parse_pids(s, &v, &n);
    if (a->n + n > a->cap) {
        a->cap = (a->n + n) * 2;
        a->v = dd_realloc(a->v, a->cap * sizeof(pid_t));
    }
    memcpy(a->v + a->n, v, n * sizeof(pid_t));
    a->n += n;
    free(v);
    return 0;
}

int cg_tree_pids(const char *dir, pid_t **ret, size_t *ret_n, dd_err *e)
{
    _cleanup_free_ char *s = NULL;
    int r = cg_read(dir, "cgroup.procs", &s, e);
    if (r < 0)
        return r;
    struct pids_acc a = {dd_malloc(16 * sizeof(pid_t)), 0, 16};
    cg_walk(dir, collect_pids, &a);
    *ret = a.v;
    *ret_n = a.n;
    return 0;
}

int cg_mkdir(const char *path, bool *ret_created, dd_err *e)
{
    if (mkdir(path, 0755) == 0) {
        if (ret_created)
            *ret_created = true;
        return 0;
    }
    if (errno != EEXIST)
        return dd_err_sys(e, "creating cgroup %s", path);
    if (ret_created)
        *ret_created = false;
    return 0;
}

/* Subdirectories of dir (cgroups), as a strv of absolute paths. */
static char **subdirs(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char **v = NULL;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        v = dd_strv_consume(v, dd_path_join(dir, de->d_name));
    }
    closedir(d);
    return v;
}

int cg_walk(const char *dir, int (*fn)(const char *dir, void *ud), void *ud)
{
    int r = fn(dir, ud);
    if (r)
        return r;
    _cleanup_strv_free_ char **sub = subdirs(dir);
    for (char **s = sub; s && *s; s++) {
        r = cg_walk(*s, fn, ud);
        if (r)
            return r;
    }
    return 0;
}

int cg_rmdir_tree(const char *dir, dd_err *e)
{
    _cleanup_strv_free_ char **sub = subdirs(dir);
    for (char **s = sub; s && *s; s++) {
        int r = cg_rmdir_tree(*s, e);
        if (r < 0)
            return r;
    }
    if (rmdir(dir) < 0 && errno != ENOENT)
        return dd_err_sys(e, "removing cgroup %s", dir);
    return 0;
}

/* rmdir base/parent_rel, then its parents up to the base, while they are empty. */
int cg_prune_path(const char *base, const char *parent_rel, dd_err *e)
{
    _cleanup_free_ char *path = dd_path_join(base, parent_rel);
    size_t blen = strlen(base);
    while (strlen(path) > blen) {
        if (rmdir(path) < 0) {
            if (errno == EBUSY || errno == ENOTEMPTY)
                return 0;
            if (errno != ENOENT)
                return dd_err_sys(e, "removing cgroup %s", path);
        }
        *strrchr(path, '/') = '\0';
    }
    return 0;
}

void cg_backoff(int *ms)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)*ms * 1000000L};
    nanosleep(&ts, NULL);
    if (*ms < 50)
        *ms *= 2;
}

static int check_component(const char *c, size_t n, dd_err *e)
{
    if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
        return dd_err_set(e, EINVAL, "invalid cgroup path component '%.*s'", (int)n, c);
    for (size_t i = 0; i < n; i++)
        if (c[i] == '\n' || c[i] == '\0')
            return dd_err_set(e, EINVAL, "invalid character in cgroup name");
    return 0;
}

int cg_check_rel(const char *parent_rel, const char *name, char **ret_rel, dd_err *e)
{
    if (!name || strchr(name, '/'))
        return dd_err_set(e, EINVAL, "invalid cgroup name '%s'", name ? name : "(null)");
    int r = check_component(name, strlen(name), e);
    if (r < 0)
        return r;
    if (!parent_rel || !*parent_rel) {
        *ret_rel = dd_strdup(name);
        return 0;
    }
    if (parent_rel[0] == '/')
        return dd_err_set(e, EINVAL, "cgroup parent '%s' must be relative", parent_rel);
    for (const char *p = parent_rel; *p;) {
        size_t n = strcspn(p, "/");
        r = check_component(p, n, e);
        if (r < 0)
            return dd_err_wrap(e, "cgroup parent '%s'", parent_rel);
        p += n;
        if (*p == '/')
            p++;
    }
    *ret_rel = dd_path_join(parent_rel, name);
    return 0;
}

uint64_t cg_shares_to_weight(uint64_t shares)
{
    if (shares == 0)
        return 0;
    if (shares < 2)
        shares = 2;
    if (shares > 262144)
        shares = 262144;
    return 1 + ((shares - 2) * 9999) / 262142;
}

uint64_t cg_weight_to_shares(uint64_t weight)
{
    if (weight == 0)
        return 0;
    if (weight > 10000)
        weight = 10000;
    return 2 + ((weight - 1) * 262142) / 9999;
}

uint64_t cg_blkio_to_io_weight(uint16_t w)
{
    if (w < 10)
        w = 10;
    if (w > 1000)
        w = 1000;
    return 1 + ((uint64_t)(w - 10) * 9999) / 990;
}

int cg_host_memory(uint64_t *ret, dd_err *e)
{
    _cleanup_free_ char *s = NULL;
    int r = dd_read_file("/proc/meminfo", 0, &s, NULL, e);
    if (r < 0)
        return r;
    char *p = strstr(s, "MemTotal:");
    if (!p)
        return dd_err_set(e, EINVAL, "/proc/meminfo has no MemTotal");
    *ret = strtoull(p + 9, NULL, 10) * 1024;
    return 0;
}

void cg_device_rule_text(const struct cg_device_rule *r, char *out, size_t n)
{
    const char *acc = r->access[0] ? r->access : "rwm";
    if (r->type == 'a') {
        snprintf(out, n, "a *:* %s", acc);
        return;
    }
    char maj[24] = "*", min[24] = "*";
    if (r->major >= 0)
        snprintf(maj, sizeof(maj), "%lld", (long long)r->major);
    if (r->minor >= 0)
        snprintf(min, sizeof(min), "%lld", (long long)r->minor);
    snprintf(out, n, "%c %s:%s %s", r->type, maj, min, acc);
}
