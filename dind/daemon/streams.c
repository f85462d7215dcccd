/* streams: the multiplexed frame header and the since/until time syntax that logs and events
 * share. Pure functions, unit-tested. */
#include <ctype.h>

#include "streams.h"

void stream_frame_header(dd_buf *b, int stream, size_t len)
{
    unsigned char h[8] = {(unsigned char)stream,
                          0,
                          0,
                          0,
                          (unsigned char)(len >> 24),
                          (unsigned char)(len >> 16),
                          (unsigned char)(len >> 8),
                          (unsigned char)len};
    dd_buf_add(b, h, sizeof(h));
}

int stream_parse_time(const char *s, int64_t *ret_ns, dd_err *e)
{
    *ret_ns = 0;
    if (!s || !*s)
        return 0;
    const char *dot = strchr(s, '.');
    bool numeric = true;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p) && !(p == s && *p == '-') && p != dot)
            numeric = false;
    if (numeric) {
        _cleanup_free_ char *secs = dd_strndup(s, dot ? (size_t)(dot - s) : strlen(s));
        int64_t sec = 0, frac = 0;
        if (dd_parse_int64(secs, &sec) < 0)
            return dd_err_set(e, EINVAL, "invalid time value: %s", s);
        if (dot) {
            char digits[10] = "000000000";
            size_t n = strlen(dot + 1);
            memcpy(digits, dot + 1, n > 9 ? 9 : n);
            if (dd_parse_int64(digits, &frac) < 0)
                return dd_err_set(e, EINVAL, "invalid time value: %s", s);
        }
        *ret_ns = sec * 1000000000LL + frac;
        return 0;
    }
    if (dd_parse_rfc3339(s, ret_ns) < 0)
        return dd_err_set(e, EINVAL, "invalid time value: %s", s);
    return 0;
}
