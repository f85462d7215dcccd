/* Unit tests of the CronJob schedule parser and next-time computation
 * (k3core/controllers/cron.c). */
#include <stdio.h>
#include <time.h>

#include "k3core/controllers/controllers.h"
#include "tests/unit/unit.h"

static int64_t at(const char *rfc3339)
{
    int64_t ns;
    if (dd_parse_rfc3339(rfc3339, &ns) < 0)
        unit_fail(__FILE__, __LINE__, "bad time %s", rfc3339);
    return ns / 1000000000LL;
}

/* next(spec, after) == want */
static void next_is(const char *spec, const char *after, const char *want)
{
    kctl_cron c;
    dd_err e = {0};
    if (kctl_cron_parse(spec, &c, &e) < 0)
        unit_fail(__FILE__, __LINE__, "parse \"%s\": %s", spec, e.msg);
    int64_t got = kctl_cron_next(&c, at(after));
    if (got != at(want)) {
        char buf[64];
        dd_format_rfc3339nano(got * 1000000000LL, buf, sizeof(buf));
        unit_fail(__FILE__, __LINE__, "\"%s\" after %s: got %s, want %s", spec, after, buf, want);
    }
}

static void bad(const char *spec, const char *msg_part)
{
    kctl_cron c;
    dd_err e = {0};
    if (kctl_cron_parse(spec, &c, &e) != -EINVAL)
        unit_fail(__FILE__, __LINE__, "\"%s\" accepted", spec);
    if (!strstr(e.msg, msg_part))
        unit_fail(__FILE__, __LINE__, "\"%s\": message \"%s\" lacks \"%s\"", spec, e.msg, msg_part);
}

TEST(cron_next_times)
{
    next_is("* * * * *", "2026-03-01T10:00:30Z", "2026-03-01T10:01:00Z");
    next_is("* * * * *", "2026-03-01T10:01:00Z", "2026-03-01T10:02:00Z"); /* strictly after */
    next_is("*/15 * * * *", "2026-03-01T10:01:00Z", "2026-03-01T10:15:00Z");
    next_is("5 4 * * *", "2026-03-01T10:00:00Z", "2026-03-02T04:05:00Z");
    next_is("0 0 1 1 *", "2026-03-01T10:00:00Z", "2027-01-01T00:00:00Z");
    next_is("@hourly", "2026-03-01T10:00:00Z", "2026-03-01T11:00:00Z");
    next_is("@weekly", "2026-03-04T10:00:00Z", "2026-03-08T00:00:00Z"); /* a Sunday */
    next_is("0 9 * * MON-FRI", "2026-03-06T10:00:00Z", "2026-03-09T09:00:00Z");
    next_is("0 0 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z");
    next_is("30 2 * jan,Jul *", "2026-03-01T00:00:00Z", "2026-07-01T02:30:00Z");
    next_is("10-20/5 * * * *", "2026-03-01T10:16:00Z", "2026-03-01T10:20:00Z");
    next_is("5/20 * * * *", "2026-03-01T10:26:00Z", "2026-03-01T10:45:00Z");
    next_is("0 0 23 12 *", "2026-12-31T23:59:00Z", "2027-12-23T00:00:00Z");
    next_is("?  0  1  *  *", "2026-03-01T00:59:00Z", "2026-04-01T00:00:00Z");
}

TEST(cron_day_rule)
{
    /* both day fields restricted: either matches (1st of the month or a Friday) */
    next_is("0 0 1 * 5", "2026-03-02T00:00:00Z", "2026-03-06T00:00:00Z");
    next_is("0 0 1 * 5", "2026-03-28T00:00:00Z", "2026-04-01T00:00:00Z");
    /* one of them `*`: both must match (every Friday) */
    next_is("0 0 * * 5", "2026-03-02T00:00:00Z", "2026-03-06T00:00:00Z");
    /* `*` with a step of 1 still counts as `*` */
    next_is("0 0 */1 * 5", "2026-03-07T00:00:00Z", "2026-03-13T00:00:00Z");
}

TEST(cron_never)
{
    kctl_cron c;
    CHECK(kctl_cron_parse("0 0 30 2 *", &c, NULL) == 0);
    CHECK_EQ_INT(kctl_cron_next(&c, at("2026-01-01T00:00:00Z")), -1);
}

TEST(cron_errors)
{
    bad("", "empty spec");
    bad("* * * *", "expected exactly 5 fields, found 4");
    bad("* * * * * *", "found more");
    bad("60 * * * *", "above maximum (59)");
    bad("* * 0 * *", "below minimum (1)");
    bad("* * * 13 *", "above maximum (12)");
    bad("* * * * 7", "above maximum (6)");
    bad("5-1 * * * *", "beyond end of range");
    bad("*/0 * * * *", "positive number");
    bad("a * * * *", "failed to parse int from a");
    bad("1,,2 * * * *", "empty minute");
    bad("1, * * * *", "empty minute");
    bad("@every 5m", "unrecognized descriptor");
    bad("* * * foo *", "failed to parse int from foo");
    bad("99999 * * * *", "failed to parse int");
}
