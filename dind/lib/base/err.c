/* Errors that gain context as they rise, and the front-end logger. Library code only fills
 * dd_err; it never prints. */
#include <stdio.h>
#include <time.h>

#include "dind/base.h"

static int err_vset(dd_err *e, int code, const char *fmt, va_list ap)
{
    if (code < 0)
        code = -code;
    if (code == 0)
        code = EIO;
    if (e) {
        e->code = code;
        vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    }
    return -code;
}

int dd_err_set(dd_err *e, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = err_vset(e, code, fmt, ap);
    va_end(ap);
    return r;
}

int dd_err_sys(dd_err *e, const char *fmt, ...)
{
    int code = errno ? errno : EIO;
    va_list ap;
    va_start(ap, fmt);
    int r = err_vset(e, code, fmt, ap);
    va_end(ap);
    if (e) {
        size_t n = strlen(e->msg);
        snprintf(e->msg + n, sizeof(e->msg) - n, ": %s", strerror(code));
    }
    return r;
}

int dd_err_wrap(dd_err *e, const char *fmt, ...)
{
    if (!e)
        return -EIO;
    if (e->code == 0)
        e->code = EIO;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    char old[sizeof(e->msg)];
    memcpy(old, e->msg, sizeof(old));
    if (old[0])
        snprintf(e->msg, sizeof(e->msg), "%s: %s", prefix, old);
    else
        snprintf(e->msg, sizeof(e->msg), "%s", prefix);
    return -e->code;
}

enum dd_log_level dd_log_threshold = DD_LOG_INFO;

int dd_log_parse_level(const char *s, enum dd_log_level *ret_level)
{
    static const struct {
        const char *name;
        enum dd_log_level lvl;
    } names[] = {
        {"panic", DD_LOG_ERROR}, {"fatal", DD_LOG_ERROR},  {"error", DD_LOG_ERROR},
        {"warn", DD_LOG_WARN},   {"warning", DD_LOG_WARN}, {"info", DD_LOG_INFO},
        {"debug", DD_LOG_DEBUG}, {"trace", DD_LOG_DEBUG},
    };
    for (size_t i = 0; i < DD_ARRAY_SIZE(names); i++)
        if (s && strcasecmp(s, names[i].name) == 0) {
            *ret_level = names[i].lvl;
            return 0;
        }
    return -EINVAL;
}

void dd_log(enum dd_log_level lvl, const char *fmt, ...)
{
    static const char *const tags[] = {"error", "warn", "info", "debug"};
    if (lvl > dd_log_threshold)
        return;
    int saved = errno;
    char ts[48];
    dd_format_rfc3339nano(dd_now_ns(), ts, sizeof(ts));
    char line[4096];
    int n = snprintf(line, sizeof(line), "time=\"%s\" level=%s msg=\"", ts, tags[lvl]);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(line))
        n += vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line) - 3)
        n = sizeof(line) - 3;
    line[n++] = '"';
    line[n++] = '\n';
    (void)!write(STDERR_FILENO, line, n);
    errno = saved;
}
