/* base: errors that gain context, logging, growable buffers, string vectors, fs helpers and the
 * cleanup attributes every other module uses. Prefix: dd_.
 *
 * Error convention (crun/systemd style): library functions return int, >= 0 on success and a
 * negative errno-style code on failure, and fill a caller-provided `dd_err` (which may be NULL).
 * Each layer adds context with dd_err_wrap(), so the message reads outer-to-inner:
 *     "pulling 'alpine:3.20': fetching manifest: 401 unauthorized"
 * Library code never logs an error it returns; the front-end maps dd_err.code to its wire error
 * (Docker {"message"}, Kubernetes Status) exactly once.
 */
#ifndef DIND_BASE_H
#define DIND_BASE_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DD_PRINTF(a, b)  __attribute__((format(printf, a, b)))
#define DD_UNUSED        __attribute__((unused))
#define DD_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- errors ---- */

typedef struct dd_err {
    int code;       /* positive errno-style code; 0 = no error */
    char msg[1024]; /* human message, outermost context first */
} dd_err;

/* Sets code and message; returns -code. Safe with e == NULL. */
int dd_err_set(dd_err *e, int code, const char *fmt, ...) DD_PRINTF(3, 4);
/* Like dd_err_set with code = errno and ": strerror(errno)" appended. */
int dd_err_sys(dd_err *e, const char *fmt, ...) DD_PRINTF(2, 3);
/* Prefixes "ctx: " to the message; keeps the code; returns -code. */
int dd_err_wrap(dd_err *e, const char *fmt, ...) DD_PRINTF(2, 3);
static inline void dd_err_clear(dd_err *e)
{
    if (e) {
        e->code = 0;
        e->msg[0] = '\0';
    }
}

/* ---- logging (front-ends only; library code returns errors instead) ---- */

enum dd_log_level { DD_LOG_ERROR, DD_LOG_WARN, DD_LOG_INFO, DD_LOG_DEBUG };
extern enum dd_log_level dd_log_threshold;
/* Parses "error|warn|warning|info|debug" (also "fatal", "panic" as error); returns -EINVAL
 * otherwise. */
int dd_log_parse_level(const char *s, enum dd_log_level *ret_level);
void dd_log(enum dd_log_level lvl, const char *fmt, ...) DD_PRINTF(2, 3);
#define dd_error(...) dd_log(DD_LOG_ERROR, __VA_ARGS__)
#define dd_warn(...)  dd_log(DD_LOG_WARN, __VA_ARGS__)
#define dd_info(...)  dd_log(DD_LOG_INFO, __VA_ARGS__)
#define dd_debug(...)                                                                              \
    do {                                                                                           \
        if (dd_log_threshold >= DD_LOG_DEBUG)                                                      \
            dd_log(DD_LOG_DEBUG, __VA_ARGS__);                                                     \
    } while (0)

/* ---- cleanup ---- */

void dd_freep(void *p);   /* free(*(void **)p) */
void dd_closep(int *fd);  /* close(*fd) if >= 0, preserving errno */
void dd_fclosep(void *f); /* fclose(*(FILE **)f) if non-NULL */
#define _cleanup_(f)     __attribute__((cleanup(f)))
#define _cleanup_free_   _cleanup_(dd_freep)
#define _cleanup_close_  _cleanup_(dd_closep)
#define _cleanup_fclose_ _cleanup_(dd_fclosep)
#define TAKE_PTR(p)                                                                                \
    ({                                                                                             \
        __typeof__(p) _tp = (p);                                                                   \
        (p) = NULL;                                                                                \
        _tp;                                                                                       \
    })
#define TAKE_FD(fd)                                                                                \
    ({                                                                                             \
        int _tf = (fd);                                                                            \
        (fd) = -EBADF;                                                                             \
        _tf;                                                                                       \
    })

/* Allocation that cannot fail (aborts on OOM: a daemon cannot recover from it meaningfully). */
void *dd_malloc(size_t n);
void *dd_calloc(size_t n, size_t size);
void *dd_realloc(void *p, size_t n);
char *dd_strdup(const char *s);
char *dd_strndup(const char *s, size_t n);
char *dd_asprintf(const char *fmt, ...) DD_PRINTF(1, 2);

/* ---- growable byte buffer (git's strbuf model). Always NUL-terminated after init. ---- */

typedef struct dd_buf {
    char *data;
    size_t len;
    size_t cap;
} dd_buf;
#define DD_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }
void dd_buf_init(dd_buf *b);
void dd_buf_release(dd_buf *b); /* frees and re-inits */
void dd_buf_grow(dd_buf *b, size_t extra);
void dd_buf_add(dd_buf *b, const void *data, size_t n);
void dd_buf_adds(dd_buf *b, const char *s);
void dd_buf_addc(dd_buf *b, char c);
void dd_buf_addf(dd_buf *b, const char *fmt, ...) DD_PRINTF(2, 3);
void dd_buf_vaddf(dd_buf *b, const char *fmt, va_list ap);
void dd_buf_reset(dd_buf *b);                    /* len = 0, keeps memory */
void dd_buf_consume(dd_buf *b, size_t n);        /* drops the first n bytes */
char *dd_buf_detach(dd_buf *b, size_t *ret_len); /* caller frees; b is re-inited */

/* ---- NULL-terminated string vectors ---- */

size_t dd_strv_len(char *const *v);
void dd_strv_free(char **v);
void dd_strv_freep(char ***v);
#define _cleanup_strv_free_ _cleanup_(dd_strv_freep)
char **dd_strv_copy(char *const *v);
/* Appends a copy of s (v may be NULL); returns the new vector. */
char **dd_strv_push(char **v, const char *s);
/* Appends s, taking ownership. */
char **dd_strv_consume(char **v, char *s);
bool dd_strv_contains(char *const *v, const char *s);

/* ---- strings ---- */

bool dd_streq(const char *a, const char *b); /* NULL-safe */
bool dd_startswith(const char *s, const char *prefix);
bool dd_endswith(const char *s, const char *suffix);
/* Go's strconv.ParseBool-like rule Docker uses for query values: "", "0", "no", "false", "none"
 * (any case) are false; anything else is true. NULL is false. */
bool dd_parse_bool(const char *s);
int dd_parse_int64(const char *s, int64_t *ret);
/* Lower-case hex of n random bytes into out (2n+1 bytes). */
int dd_random_hex(char *out, size_t nbytes);

/* ---- filesystem ---- */

int dd_mkdir_p(const char *path, mode_t mode, dd_err *e);
/* Reads a whole file (NUL-terminated); max_size 0 = unlimited. */
int dd_read_file(const char *path, size_t max_size, char **ret_data, size_t *ret_len, dd_err *e);
/* Writes to path.tmp, fsyncs, renames over path. */
int dd_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, dd_err *e);
/* The same without the fsync: atomic for readers, not durable across a power loss. For files
 * regenerated whenever they are needed (a container's /etc files, rewritten at every start):
 * an fsync costs milliseconds of journal commit on the start path for nothing. */
int dd_write_file_replace(const char *path, const void *data, size_t len, mode_t mode, dd_err *e);
/* openat2(2) with O_CLOEXEC added, retried while the kernel answers EAGAIN (a concurrent rename
 * or mount raced a ".." step of RESOLVE_IN_ROOT/RESOLVE_BENEATH, which busy hosts do see).
 * Returns the fd or -1 with errno. */
int dd_openat2(int dirfd, const char *path, int flags, uint64_t resolve);
/* Removes a tree without crossing mount points; missing path is success. */
int dd_rm_rf(const char *path, dd_err *e);
/* Runs fn(arg) on a background thread of this process (started when needed, gone when idle),
 * one job after the other in the order queued. For work the caller need not wait for, such as
 * deleting trees already renamed out of the way (milliseconds per file on a filesystem mounted
 * with discard). No fork: after a fork every page the daemon then writes costs a copy and a TLB
 * shootdown. Without a thread, fn runs before dd_background returns. */
void dd_background(void (*fn)(void *arg), void *arg);
/* dd_rm_rf(path) as a background job. */
void dd_rm_rf_background(const char *path);
/* Waits up to timeout_ms for the jobs queued so far; false on timeout. */
bool dd_background_wait(int timeout_ms);
char *dd_path_join(const char *a, const char *b);
/* Writes all bytes, retrying on EINTR/short writes (blocking fds). */
int dd_write_all(int fd, const void *data, size_t len);
int dd_set_nonblock(int fd, bool on);
int dd_set_cloexec(int fd, bool on);

/* Nanoseconds since the epoch (CLOCK_REALTIME) and monotonic. */
int64_t dd_now_ns(void);
int64_t dd_mono_ns(void);
/* RFC 3339 with nanoseconds in UTC ("2026-11-23T09:00:00.123456789Z"); out >= 40 bytes. */
void dd_format_rfc3339nano(int64_t ns, char *out, size_t outlen);
/* Parses RFC 3339 (any fractional digits, Z or +hh:mm); returns -EINVAL on bad input. */
int dd_parse_rfc3339(const char *s, int64_t *ret_ns);

#endif
