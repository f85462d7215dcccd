/* health-state: the pure half of HEALTHCHECK (health.h): reading and checking
 * Config.Healthcheck, merging it with the image's, the State.Health state machine (log, failing
 * streak, status), the delay before the next probe and the texts clients read. No I/O, no clock:
 * everything takes its times as arguments, so it is unit-tested without a daemon.
 */
#include <stdio.h>

#include "dind/json.h"
#include "health.h"

static int64_t dur_or(const json_t *hc, const char *key, int64_t def)
{
    json_t *v = json_object_get(hc, key);
    int64_t n = json_is_integer(v) ? json_integer_value(v) : 0;
    return n > 0 ? n : def;
}

static char **shell_of(const json_t *cfg)
{
    char **sh = NULL;
    if (jx_strv(cfg, "Shell", &sh, NULL) == 0 && sh && sh[0])
        return sh;
    dd_strv_free(sh);
    sh = dd_strv_push(NULL, "/bin/sh");
    return dd_strv_push(sh, "-c");
}

void health_config_get(const json_t *cfg, struct health_config *ret)
{
    memset(ret, 0, sizeof(*ret));
    json_t *hc = json_object_get(cfg, "Healthcheck");
    char **test = NULL;
    if (json_is_object(hc))
        jx_strv(hc, "Test", &test, NULL);
    ret->interval_ns = dur_or(hc, "Interval", HEALTH_DEFAULT_INTERVAL_NS);
    ret->timeout_ns = dur_or(hc, "Timeout", HEALTH_DEFAULT_TIMEOUT_NS);
    ret->start_period_ns = dur_or(hc, "StartPeriod", 0);
    ret->start_interval_ns = dur_or(hc, "StartInterval", HEALTH_DEFAULT_START_INTERVAL_NS);
    ret->retries = (int)dur_or(hc, "Retries", HEALTH_DEFAULT_RETRIES);
    if (test && test[0] && test[1] && dd_streq(test[0], "CMD")) {
        ret->kind = HEALTH_CMD;
        ret->cmd = dd_strv_copy(test + 1);
    } else if (test && test[0] && test[1] && dd_streq(test[0], "CMD-SHELL")) {
        ret->kind = HEALTH_SHELL;
        ret->cmd = shell_of(cfg);
        for (size_t i = 1; test[i]; i++)
            ret->cmd = dd_strv_push(ret->cmd, test[i]);
    }
    dd_strv_free(test);
}

void health_config_release(struct health_config *h)
{
    dd_strv_free(h->cmd);
    h->cmd = NULL;
}

static int check_dur(const json_t *hc, const char *key, dd_err *e)
{
    json_t *v = json_object_get(hc, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return dd_err_set(e, EINVAL, "Healthcheck.%s: expected a number of nanoseconds", key);
    int64_t n = json_integer_value(v);
    if (n != 0 && n < 1000000)
        return dd_err_set(e, EINVAL, "%s in Healthcheck cannot be less than 1ms", key);
    return 0;
}

int health_check_config(const json_t *cfg, dd_err *e)
{
    json_t *hc = json_object_get(cfg, "Healthcheck");
    if (!hc || json_is_null(hc))
        return 0;
    if (!json_is_object(hc))
        return dd_err_set(e, EINVAL, "Healthcheck: expected an object");
    json_t *test = json_object_get(hc, "Test"), *v;
    size_t i;
    if (test && !json_is_null(test) && !json_is_array(test))
        return dd_err_set(e, EINVAL, "Healthcheck.Test: expected an array of strings");
    json_array_foreach(test, i, v) if (!json_is_string(v)) return dd_err_set(
        e, EINVAL, "Healthcheck.Test[%zu]: expected a string", i);
    int r = 0;
    r = r < 0 ? r : check_dur(hc, "Interval", e);
    r = r < 0 ? r : check_dur(hc, "Timeout", e);
    r = r < 0 ? r : check_dur(hc, "StartPeriod", e);
    r = r < 0 ? r : check_dur(hc, "StartInterval", e);
    if (r < 0)
        return r;
    json_t *rv = json_object_get(hc, "Retries");
    if (rv && !json_is_null(rv) && !json_is_integer(rv))
        return dd_err_set(e, EINVAL, "Healthcheck.Retries: expected an integer");
    if (json_is_integer(rv) && json_integer_value(rv) < 0)
        return dd_err_set(e, EINVAL, "Retries in Healthcheck cannot be negative");
    return 0;
}

static bool zero_field(const json_t *v)
{
    return !v || json_is_null(v) || (json_is_integer(v) && json_integer_value(v) == 0) ||
           (json_is_array(v) && json_array_size(v) == 0);
}

void health_merge_image(json_t *cfg, const json_t *img)
{
    json_t *ih = json_object_get(img, "Healthcheck");
    if (!json_is_object(ih))
        return;
    json_t *uh = json_object_get(cfg, "Healthcheck");
    if (!json_is_object(uh)) {
        json_object_set_new(cfg, "Healthcheck", json_deep_copy(ih));
        return;
    }
    static const char *const keys[] = {"Test",        "Interval", "Timeout",
                                       "StartPeriod", "Retries",  "StartInterval"};
    for (size_t i = 0; i < DD_ARRAY_SIZE(keys); i++) {
        json_t *iv = json_object_get(ih, keys[i]);
        if (zero_field(json_object_get(uh, keys[i])) && iv && !zero_field(iv))
            json_object_set_new(uh, keys[i], json_deep_copy(iv));
    }
}

const char *health_status(const json_t *health)
{
    const char *s = json_string_value(json_object_get(health, "Status"));
    return health && s ? s : "none";
}

const char *health_ps_text(const json_t *health)
{
    const char *s = health_status(health);
    return dd_streq(s, "starting") ? "health: starting" : s;
}

bool health_status_valid(const char *s)
{
    return dd_streq(s, "starting") || dd_streq(s, "healthy") || dd_streq(s, "unhealthy") ||
           dd_streq(s, "none");
}

json_t *health_reset(const json_t *prev)
{
    json_t *h = json_object();
    jx_set_str(h, "Status", "starting");
    jx_set_int(h, "FailingStreak", 0);
    json_t *log = json_object_get(prev, "Log");
    jx_set_new(h, "Log", json_is_array(log) ? json_deep_copy(log) : json_array());
    return h;
}

static json_t *time_json(int64_t ns)
{
    char buf[64];
    dd_format_rfc3339nano(ns, buf, sizeof(buf));
    return json_string(buf);
}

static void append_log(json_t *health, const struct health_result *r)
{
    json_t *log = json_object_get(health, "Log");
    if (!json_is_array(log)) {
        log = json_array();
        json_object_set_new(health, "Log", log);
    }
    json_t *ent = json_object();
    jx_set_new(ent, "Start", time_json(r->start_ns));
    jx_set_new(ent, "End", time_json(r->end_ns));
    jx_set_int(ent, "ExitCode", r->exit_code);
    /* Go's encoder replaces invalid UTF-8; jansson refuses it, so do the same by hand. */
    json_t *out = json_string(r->output ? r->output : "");
    if (!out) {
        dd_buf b = DD_BUF_INIT;
        for (const unsigned char *p = (const unsigned char *)r->output; *p; p++)
            if (*p < 0x80)
                dd_buf_addc(&b, (char)*p);
            else
                dd_buf_adds(&b, "\xef\xbf\xbd");
        char *s = dd_buf_detach(&b, NULL);
        out = json_string(s ? s : "");
        free(s);
    }
    jx_set_new(ent, "Output", out);
    json_array_append_new(log, ent);
    while (json_array_size(log) > HEALTH_MAX_LOG)
        json_array_remove(log, 0);
}

bool health_apply(json_t *health, const struct health_config *cfg, const struct health_result *r,
                  int64_t started_ns)
{
    _cleanup_free_ char *old = dd_strdup(health_status(health));
    append_log(health, r);
    json_int_t streak = json_integer_value(json_object_get(health, "FailingStreak"));
    if (r->exit_code == 0) {
        streak = 0;
        jx_set_str(health, "Status", "healthy");
    } else {
        bool count = true;
        /* A container that never passed is given StartPeriod before failures count. */
        if (dd_streq(old, "starting") && r->start_ns - started_ns < cfg->start_period_ns)
            count = false;
        if (count && ++streak >= cfg->retries)
            jx_set_str(health, "Status", "unhealthy");
    }
    jx_set_int(health, "FailingStreak", streak);
    return !dd_streq(old, health_status(health));
}

int64_t health_next_delay(const struct health_config *cfg, const json_t *health,
                          int64_t since_start_ns)
{
    if (since_start_ns >= cfg->start_period_ns)
        return cfg->interval_ns;
    int64_t remaining = cfg->start_period_ns - since_start_ns;
    if (remaining < cfg->interval_ns)
        return remaining;
    if (dd_streq(health_status(health), "starting"))
        return cfg->start_interval_ns;
    return cfg->interval_ns;
}

/* Go's fractional formatting: digits after the point with trailing zeros dropped. */
static void frac(char *out, size_t len, int64_t whole, int64_t part, int digits, const char *unit)
{
    char f[16] = "";
    if (part) {
        snprintf(f, sizeof(f), ".%0*lld", digits, (long long)part);
        size_t n = strlen(f);
        while (n > 1 && f[n - 1] == '0')
            f[--n] = '\0';
    }
    snprintf(out, len, "%lld%s%s", (long long)whole, f, unit);
}

void health_go_duration(int64_t ns, char *out, size_t len)
{
    if (ns == 0) {
        snprintf(out, len, "0s");
        return;
    }
    if (ns < 1000) {
        snprintf(out, len, "%lldns", (long long)ns);
        return;
    }
    if (ns < 1000000) {
        frac(out, len, ns / 1000, ns % 1000, 3, "\xc2\xb5s");
        return;
    }
    if (ns < 1000000000) {
        frac(out, len, ns / 1000000, ns % 1000000, 6, "ms");
        return;
    }
    int64_t s = ns / 1000000000, h = s / 3600, m = (s / 60) % 60;
    char sec[40], pre[48] = "";
    frac(sec, sizeof(sec), s % 60, ns % 1000000000, 9, "s");
    if (h)
        snprintf(pre, sizeof(pre), "%lldh%lldm", (long long)h, (long long)m);
    else if (m)
        snprintf(pre, sizeof(pre), "%lldm", (long long)m);
    snprintf(out, len, "%s%s", pre, sec);
}
