/* cron.c: the CronJob schedule language as upstream's (robfig/cron ParseStandard): five fields
 * minute hour day-of-month month day-of-week, each a list of `*`, `?`, `N`, `N-M`, with `/step`,
 * month and weekday names (JAN-DEC, SUN-SAT), and the macros @yearly/@annually/@monthly/
 * @weekly/@daily/@midnight/@hourly. When either day field is `*` both must match, otherwise
 * either (Vixie cron's rule). Times are UTC. Parses untrusted input: every error is a message,
 * never a crash (fuzzed by tests/fuzz/fuzz-k8s-cron.c). Not supported: @every, TZ= prefixes.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

#include "k3core/controllers/controllers.h"

#define STAR (1ULL << 63)

static const struct bounds {
    int min, max;
    const char *const *names; /* names[i] is value min+i... (NULL = none) */
    const char *what;
} fields[5] = {
    {0, 59, NULL, "minute"},
    {0, 23, NULL, "hour"},
    {1, 31, NULL, "day of month"},
    {1, 12,
     (const char *const[]){"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                           "nov", "dec", NULL},
     "month"},
    {0, 6, (const char *const[]){"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL},
     "day of week"},
};

static int parse_value(const char *s, size_t len, const struct bounds *b, int *ret, dd_err *e)
{
    for (int i = 0; b->names && b->names[i]; i++)
        if (len == 3 && strncasecmp(s, b->names[i], 3) == 0) {
            *ret = b->min + i;
            return 0;
        }
    int v = 0;
    if (len == 0 || len > 4)
        return dd_err_set(e, EINVAL, "failed to parse int from %.*s", (int)(len > 16 ? 16 : len),
                          s);
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return dd_err_set(e, EINVAL, "failed to parse int from %.*s", (int)len, s);
        v = v * 10 + (s[i] - '0');
    }
    *ret = v;
    return 0;
}

/* One comma-separated term: `*`, `N`, `N-M`, each with an optional `/step`. */
static int parse_range(const char *s, size_t len, const struct bounds *b, uint64_t *bits, dd_err *e)
{
    const char *slash = memchr(s, '/', len);
    size_t rlen = slash ? (size_t)(slash - s) : len;
    int lo, hi, step = 1;
    uint64_t extra = 0;
    if (rlen == 1 && (s[0] == '*' || s[0] == '?')) {
        lo = b->min, hi = b->max, extra = STAR;
    } else {
        const char *dash = memchr(s, '-', rlen);
        if (parse_value(s, dash ? (size_t)(dash - s) : rlen, b, &lo, e) < 0)
            return -EINVAL;
        hi = lo;
        if (dash && parse_value(dash + 1, rlen - (size_t)(dash + 1 - s), b, &hi, e) < 0)
            return -EINVAL;
    }
    if (slash) {
        if (parse_value(slash + 1, len - rlen - 1, &fields[0], &step, e) < 0)
            return -EINVAL;
        if (step == 0)
            return dd_err_set(e, EINVAL, "step of range should be a positive number: %.*s",
                              (int)len, s);
        if (!extra && !memchr(s, '-', rlen))
            hi = b->max; /* "N/step" means N-max/step */
        if (step > 1)
            extra = 0;
    }
    if (lo < b->min)
        return dd_err_set(e, EINVAL, "beginning of range (%d) below minimum (%d): %.*s", lo, b->min,
                          (int)len, s);
    if (hi > b->max)
        return dd_err_set(e, EINVAL, "end of range (%d) above maximum (%d): %.*s", hi, b->max,
                          (int)len, s);
    if (lo > hi)
        return dd_err_set(e, EINVAL, "beginning of range (%d) beyond end of range (%d): %.*s", lo,
                          hi, (int)len, s);
    for (int v = lo; v <= hi; v += step)
        *bits |= 1ULL << v;
    *bits |= extra;
    return 0;
}

static int parse_field(const char *s, size_t len, const struct bounds *b, uint64_t *bits, dd_err *e)
{
    *bits = 0;
    while (len > 0) {
        const char *comma = memchr(s, ',', len);
        size_t n = comma ? (size_t)(comma - s) : len;
        if (n == 0 || parse_range(s, n, b, bits, e) < 0)
            return n == 0 ? dd_err_set(e, EINVAL, "empty %s in schedule", b->what) : -EINVAL;
        s += n + (comma ? 1 : 0);
        len -= n + (comma ? 1 : 0);
        if (comma && len == 0)
            return dd_err_set(e, EINVAL, "empty %s in schedule", b->what);
    }
    return 0;
}

static const struct {
    const char *name, *expansion;
} macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

int kctl_cron_parse(const char *spec, kctl_cron *ret, dd_err *e)
{
    if (!spec || !*spec)
        return dd_err_set(e, EINVAL, "empty spec string");
    if (spec[0] == '@') {
        for (size_t i = 0; i < DD_ARRAY_SIZE(macros); i++)
            if (strcmp(spec, macros[i].name) == 0)
                return kctl_cron_parse(macros[i].expansion, ret, e);
        return dd_err_set(e, EINVAL, "unrecognized descriptor: %.64s", spec);
    }
    const char *p = spec;
    uint64_t bits[5];
    int n = 0;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        if (n == 5)
            return dd_err_set(e, EINVAL, "expected exactly 5 fields, found more: %.64s", spec);
        if (parse_field(start, (size_t)(p - start), &fields[n], &bits[n], e) < 0)
            return -EINVAL;
        n++;
    }
    if (n != 5)
        return dd_err_set(e, EINVAL, "expected exactly 5 fields, found %d: %.64s", n, spec);
    *ret = (kctl_cron){
        .minute = bits[0], .hour = bits[1], .dom = bits[2], .month = bits[3], .dow = bits[4]};
    return 0;
}

static bool has(uint64_t bits, int v)
{
    return bits & (1ULL << v);
}

static bool day_matches(const kctl_cron *c, const struct tm *t)
{
    bool dom = has(c->dom, t->tm_mday), dow = has(c->dow, t->tm_wday);
    if ((c->dom & STAR) || (c->dow & STAR))
        return dom && dow;
    return dom || dow;
}

int64_t kctl_cron_next(const kctl_cron *c, int64_t after)
{
    time_t t = (time_t)(after - (after % 60 + 60) % 60 + 60); /* next whole minute */
    struct tm tm;
    gmtime_r(&t, &tm);
    int start_year = tm.tm_year;
    while (tm.tm_year - start_year <= 5) {
        if (!has(c->month, tm.tm_mon + 1)) {
            tm.tm_mon++, tm.tm_mday = 1, tm.tm_hour = 0, tm.tm_min = 0;
        } else if (!day_matches(c, &tm)) {
            tm.tm_mday++, tm.tm_hour = 0, tm.tm_min = 0;
        } else if (!has(c->hour, tm.tm_hour)) {
            tm.tm_hour++, tm.tm_min = 0;
        } else if (!has(c->minute, tm.tm_min)) {
            tm.tm_min++;
        } else {
            return (int64_t)timegm(&tm);
        }
        t = timegm(&tm); /* normalizes overflowed fields */
        gmtime_r(&t, &tm);
    }
    return -1;
}
