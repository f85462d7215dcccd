/* Filesystem and time helpers shared by every module. Nothing here follows symlinks out of a
 * tree it removes, and nothing crosses a mount point while deleting. */
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#include "dind/base.h"

int dd_mkdir_p(const char *path, mode_t mode, dd_err *e)
{
    _cleanup_free_ char *p = dd_strdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST)
            return dd_err_sys(e, "creating directory %s", p);
        *s = '/';
    }
    if (mkdir(p, mode) < 0 && errno != EEXIST)
        return dd_err_sys(e, "creating directory %s", p);
    return 0;
}

int dd_read_file(const char *path, size_t max_size, char **ret_data, size_t *ret_len, dd_err *e)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dd_err_sys(e, "opening %s", path);
    dd_buf b = DD_BUF_INIT;
    dd_buf_grow(&b, 4096);
    for (;;) {
        dd_buf_grow(&b, 4096);
        ssize_t n = read(fd, b.data + b.len, b.cap - b.len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int r = dd_err_sys(e, "reading %s", path);
            dd_buf_release(&b);
            return r;
        }
        if (n == 0)
            break;
        b.len += n;
        b.data[b.len] = '\0';
        if (max_size && b.len > max_size) {
            dd_buf_release(&b);
            return dd_err_set(e, EFBIG, "%s is larger than %zu bytes", path, max_size);
        }
    }
    *ret_data = dd_buf_detach(&b, ret_len);
    return 0;
}

int dd_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= n;
    }
    return 0;
}

static int write_and_rename(const char *path, const void *data, size_t len, mode_t mode, bool sync,
                            dd_err *e)
{
    _cleanup_free_ char *tmp = dd_asprintf("%s.tmp%d", path, (int)getpid());
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return dd_err_sys(e, "creating %s", tmp);
    int r = dd_write_all(fd, data, len);
    if (r < 0 || (sync && fsync(fd) < 0)) {
        errno = r < 0 ? -r : errno;
        r = dd_err_sys(e, "writing %s", tmp);
        unlink(tmp);
        return r;
    }
    if (rename(tmp, path) < 0) {
        r = dd_err_sys(e, "renaming %s", tmp);
        unlink(tmp);
        return r;
    }
    return 0;
}

int dd_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, dd_err *e)
{
    return write_and_rename(path, data, len, mode, true, e);
}

int dd_write_file_replace(const char *path, const void *data, size_t len, mode_t mode, dd_err *e)
{
    return write_and_rename(path, data, len, mode, false, e);
}

static int rm_rf_at(int dfd, const char *name, dev_t dev, dd_err *e)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : dd_err_sys(e, "stat %s", name);
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
            return dd_err_sys(e, "removing %s", name);
        return 0;
    }
    if (st.st_dev != dev)
        return dd_err_set(e, EBUSY, "refusing to remove %s: it is a mount point", name);
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return dd_err_sys(e, "opening %s", name);
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return dd_err_sys(e, "opening %s", name);
    }
    int r = 0;
    struct dirent *de;
    while (r >= 0 && (de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        r = rm_rf_at(dirfd(d), de->d_name, dev, e);
        if (r < 0)
            dd_err_wrap(e, "%s", name);
    }
    closedir(d);
    if (r < 0)
        return r;
    if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return dd_err_sys(e, "removing %s", name);
    return 0;
}

int dd_openat2(int dirfd, const char *path, int flags, uint64_t resolve)
{
    struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC), .resolve = resolve};
    long fd;
    int tries = 0;
    do
        fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
    while (fd < 0 && errno == EAGAIN && ++tries < 64);
    return (int)fd;
}

int dd_rm_rf(const char *path, dd_err *e)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : dd_err_sys(e, "stat %s", path);
    return rm_rf_at(AT_FDCWD, path, st.st_dev, e);
}

struct bg_job {
    struct bg_job *next;
    void (*fn)(void *arg);
    void *arg;
};

static pthread_mutex_t bg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bg_idle = PTHREAD_COND_INITIALIZER;
static struct bg_job *bg_head, **bg_tail = &bg_head;
static bool bg_running;

static void *bg_worker(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&bg_lock);
    while (bg_head) {
        struct bg_job *j = bg_head;
        bg_head = j->next;
        if (!bg_head)
            bg_tail = &bg_head;
        pthread_mutex_unlock(&bg_lock);
        j->fn(j->arg);
        free(j);
        pthread_mutex_lock(&bg_lock);
    }
    bg_running = false;
    pthread_cond_broadcast(&bg_idle);
    pthread_mutex_unlock(&bg_lock);
    return NULL;
}

void dd_background(void (*fn)(void *arg), void *arg)
{
    struct bg_job *j = dd_malloc(sizeof(*j));
    *j = (struct bg_job){NULL, fn, arg};
    bool inline_run = false;
    pthread_mutex_lock(&bg_lock);
    *bg_tail = j;
    bg_tail = &j->next;
    if (!bg_running) {
        pthread_attr_t a;
        pthread_t t;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&a, 256 * 1024);
        bool started = pthread_create(&t, &a, bg_worker, NULL) == 0;
        pthread_attr_destroy(&a);
        inline_run = !started;
        bg_running = true; /* the new thread's, or ours below */
    }
    pthread_mutex_unlock(&bg_lock);
    if (inline_run) /* no thread: run the queue here (ours last, so the order holds) */
        bg_worker(NULL);
}

static void rm_rf_job(void *path)
{
    (void)dd_rm_rf(path, NULL);
    free(path);
}

void dd_rm_rf_background(const char *path)
{
    dd_background(rm_rf_job, dd_strdup(path));
}

bool dd_background_wait(int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&bg_lock);
    int r = 0;
    while (bg_running && r == 0)
        r = pthread_cond_timedwait(&bg_idle, &bg_lock, &until);
    bool done = !bg_running;
    pthread_mutex_unlock(&bg_lock);
    return done;
}

char *dd_path_join(const char *a, const char *b)
{
    size_t la = strlen(a);
    while (la > 1 && a[la - 1] == '/')
        la--;
    while (*b == '/')
        b++;
    if (la == 1 && a[0] == '/')
        return dd_asprintf("/%s", b);
    return dd_asprintf("%.*s/%s", (int)la, a, b);
}

int dd_set_nonblock(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
}

int dd_set_cloexec(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0)
        return -errno;
    fl = on ? (fl | FD_CLOEXEC) : (fl & ~FD_CLOEXEC);
    return fcntl(fd, F_SETFD, fl) < 0 ? -errno : 0;
}

int64_t dd_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t dd_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void dd_format_rfc3339nano(int64_t ns, char *out, size_t outlen)
{
    time_t s = (time_t)(ns / 1000000000LL);
    long frac = (long)(ns % 1000000000LL);
    if (frac < 0) {
        frac += 1000000000L;
        s -= 1;
    }
    struct tm tm;
    gmtime_r(&s, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, outlen, "%s.%09ldZ", base, frac);
}

int dd_parse_rfc3339(const char *s, int64_t *ret_ns)
{
    struct tm tm = {0};
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return -EINVAL;
    int64_t frac = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 9)
                frac = frac * 10 + (*p - '0');
        if (digits == 0)
            return -EINVAL;
        for (; digits < 9; digits++)
            frac *= 10;
    }
    int64_t off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        /* Exactly "+hh:mm": a shorter form must not move p past the end. */
        for (int i = 1; i <= 5; i++)
            if (i == 3 ? p[i] != ':' : !(p[i] >= '0' && p[i] <= '9'))
                return -EINVAL;
        int hh = (p[1] - '0') * 10 + (p[2] - '0'), mm = (p[4] - '0') * 10 + (p[5] - '0');
        off = (hh * 3600 + mm * 60) * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return -EINVAL;
    }
    if (*p)
        return -EINVAL;
    time_t t = timegm(&tm);
    *ret_ns = ((int64_t)t - off) * 1000000000LL + frac;
    return 0;
}
