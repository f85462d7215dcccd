/* payload.c: the files of a configMap, secret, downwardAPI or projected volume, written the way
 * upstream's AtomicWriter does so that a running container sees an update all at once: the
 * payload goes into a fresh hidden directory <dir>/..<timestamp>.<random>, the symlink
 * <dir>/..data is renamed onto it in one step, and each top-level name of the payload is a
 * symlink <dir>/<name> → ..data/<name>. The previous payload directory and names that left the
 * payload are then removed. An unchanged payload touches nothing, so refreshing every few
 * seconds costs a few reads. Paths are checked as upstream does (relative, no ".." element, not
 * starting with "..").
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "k3core/kubelet/payload.h"

int kl_payload_add(struct kl_payload *pl, const char *path, const void *data, size_t len,
                   mode_t mode, dd_err *e)
{
    if (!*path || path[0] == '/' || dd_startswith(path, ".."))
        return dd_err_set(e, EINVAL, "invalid volume item path \"%s\"", path);
    for (const char *s = path; s; s = strchr(s, '/') ? strchr(s, '/') + 1 : NULL)
        if (!strncmp(s, "..", 2) && (s[2] == '/' || !s[2]))
            return dd_err_set(e, EINVAL, "invalid volume item path \"%s\": must not contain '..'",
                              path);
    for (size_t i = 0; i < pl->n; i++)
        if (!strcmp(pl->f[i].path, path)) /* a later source wins, as upstream's projection */
            free(pl->f[i].path), free(pl->f[i].data), pl->f[i] = pl->f[--pl->n];
    pl->f = dd_realloc(pl->f, (pl->n + 1) * sizeof(*pl->f));
    char *copy = dd_malloc(len + 1);
    memcpy(copy, data, len);
    copy[len] = 0;
    pl->f[pl->n++] =
        (struct kl_file){.path = dd_strdup(path), .data = copy, .len = len, .mode = mode & 07777};
    return 0;
}

void kl_payload_release(struct kl_payload *pl)
{
    for (size_t i = 0; i < pl->n; i++)
        free(pl->f[i].path), free(pl->f[i].data);
    free(pl->f);
    *pl = (struct kl_payload){0};
}

const struct kl_file *kl_payload_find(const struct kl_payload *pl, const char *path)
{
    for (size_t i = 0; i < pl->n; i++)
        if (!strcmp(pl->f[i].path, path))
            return &pl->f[i];
    return NULL;
}

/* Regular files under dir (recursively); -1 when dir cannot be read. */
static long count_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    long n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n >= 0) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        _cleanup_free_ char *p = dd_path_join(dir, de->d_name);
        struct stat st;
        if (lstat(p, &st) < 0)
            n = -1;
        else if (S_ISDIR(st.st_mode)) {
            long sub = count_files(p);
            n = sub < 0 ? -1 : n + sub;
        } else
            n++;
    }
    closedir(d);
    return n;
}

/* The payload is exactly what <dir>/..data holds (contents, modes, no extra file). */
static bool unchanged(const char *dir, const struct kl_payload *pl)
{
    _cleanup_free_ char *data = dd_path_join(dir, "..data");
    if (count_files(data) != (long)pl->n)
        return false;
    for (size_t i = 0; i < pl->n; i++) {
        _cleanup_free_ char *p = dd_path_join(data, pl->f[i].path);
        _cleanup_free_ char *cur = NULL;
        size_t len = 0;
        struct stat st;
        if (lstat(p, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 07777) != pl->f[i].mode ||
            dd_read_file(p, pl->f[i].len + 1, &cur, &len, NULL) < 0 || len != pl->f[i].len ||
            memcmp(cur, pl->f[i].data, len))
            return false;
    }
    return true;
}

static int write_payload(const char *ts_dir, const struct kl_payload *pl, dd_err *e)
{
    for (size_t i = 0; i < pl->n; i++) {
        _cleanup_free_ char *full = dd_path_join(ts_dir, pl->f[i].path);
        _cleanup_free_ char *parent = dd_strdup(full);
        *strrchr(parent, '/') = 0;
        int r = dd_mkdir_p(parent, 0755, e);
        if (r >= 0)
            r = dd_write_file_replace(full, pl->f[i].data, pl->f[i].len, pl->f[i].mode, e);
        if (r >= 0 && chmod(full, pl->f[i].mode) < 0) /* exact mode, whatever the umask */
            r = dd_err_sys(e, "chmod %s", full);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Atomically points <dir>/<name> at target (a symlink renamed into place). */
static int link_into_place(const char *dir, const char *name, const char *target, dd_err *e)
{
    _cleanup_free_ char *tmp = dd_asprintf("%s/..%s_tmp", dir, name);
    _cleanup_free_ char *dst = dd_path_join(dir, name);
    unlink(tmp);
    if (symlink(target, tmp) < 0)
        return dd_err_sys(e, "linking %s", tmp);
    if (rename(tmp, dst) < 0) {
        int r = dd_err_sys(e, "renaming %s onto %s", tmp, dst);
        unlink(tmp);
        return r;
    }
    return 0;
}

static bool top_level_in(const struct kl_payload *pl, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < pl->n; i++)
        if (!strncmp(pl->f[i].path, name, n) && (!pl->f[i].path[n] || pl->f[i].path[n] == '/'))
            return true;
    return false;
}

/* The user-visible names: one symlink per top-level payload name; stale ones go. */
static int update_names(const char *dir, const struct kl_payload *pl, dd_err *e)
{
    for (size_t i = 0; i < pl->n; i++) {
        _cleanup_free_ char *top = dd_strndup(pl->f[i].path, strcspn(pl->f[i].path, "/"));
        _cleanup_free_ char *target = dd_path_join("..data", top);
        _cleanup_free_ char *p = dd_path_join(dir, top);
        char cur[PATH_MAX];
        ssize_t n = readlink(p, cur, sizeof(cur) - 1);
        if (n >= 0 && (size_t)n == strlen(target) && !memcmp(cur, target, (size_t)n))
            continue;
        int r = link_into_place(dir, top, target, e);
        if (r < 0)
            return r;
    }
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (de->d_name[0] != '.' && !top_level_in(pl, de->d_name) && de->d_type == DT_LNK)
            unlinkat(dirfd(d), de->d_name, 0);
    if (d)
        closedir(d);
    return 0;
}

int kl_payload_write(const char *dir, const struct kl_payload *pl, dd_err *e)
{
    if (unchanged(dir, pl))
        return 0;
    char stamp[64];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "..%Y_%m_%d_%H_%M_%S", &tm);
    _cleanup_free_ char *ts = dd_asprintf("%s/%s.XXXXXX", dir, stamp);
    if (!mkdtemp(ts))
        return dd_err_sys(e, "creating %s", ts);
    chmod(ts, 0755);
    _cleanup_free_ char *data = dd_path_join(dir, "..data");
    char old[PATH_MAX];
    ssize_t n = readlink(data, old, sizeof(old) - 1);
    old[n > 0 ? n : 0] = 0;
    int r = write_payload(ts, pl, e);
    if (r >= 0)
        r = link_into_place(dir, "..data", strrchr(ts, '/') + 1, e);
    if (r < 0) {
        dd_rm_rf(ts, NULL);
        return r;
    }
    r = update_names(dir, pl, e);
    if (old[0] && !strchr(old, '/')) {
        _cleanup_free_ char *prev = dd_path_join(dir, old);
        dd_rm_rf(prev, NULL);
    }
    return r < 0 ? r : 1;
}
