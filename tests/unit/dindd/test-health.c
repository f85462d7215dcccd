/* Unit tests for dindd's HEALTHCHECK logic (health-state.c): configuration with defaults, the
 * create-time checks, the image merge, the state machine (streak, start period, log of 5), the
 * next-probe delay and Go's duration text. */
#include "dind/daemon/container-internal.h"
#include "dind/daemon/ctr-json.h"
#include "dind/daemon/health.h"
#include "dind/json.h"
#include "tests/unit/unit.h"

#define S 1000000000LL

static json_t *cfg_of(const char *text)
{
    json_t *j = NULL;
    CHECK(jx_parse(text, strlen(text), &j, NULL) == 0);
    return j;
}

TEST(health_config_defaults_and_kinds)
{
    struct health_config h;
    json_t *c = cfg_of("{\"Healthcheck\":{\"Test\":[\"CMD-SHELL\",\"curl -f x\"]}}");
    health_config_get(c, &h);
    CHECK(h.kind == HEALTH_SHELL);
    CHECK_EQ_STR(h.cmd[0], "/bin/sh");
    CHECK_EQ_STR(h.cmd[1], "-c");
    CHECK_EQ_STR(h.cmd[2], "curl -f x");
    CHECK(h.cmd[3] == NULL);
    CHECK(h.interval_ns == 30 * S && h.timeout_ns == 30 * S && h.start_period_ns == 0);
    CHECK(h.start_interval_ns == 5 * S && h.retries == 3);
    health_config_release(&h);
    json_decref(c);

    c = cfg_of("{\"Shell\":[\"/bin/bash\",\"-xc\"],\"Healthcheck\":{\"Test\":[\"CMD-SHELL\",\"t\"],"
               "\"Interval\":2000000000,\"Retries\":7}}");
    health_config_get(c, &h);
    CHECK_EQ_STR(h.cmd[0], "/bin/bash");
    CHECK_EQ_STR(h.cmd[2], "t");
    CHECK(h.interval_ns == 2 * S && h.retries == 7);
    health_config_release(&h);
    json_decref(c);

    c = cfg_of("{\"Healthcheck\":{\"Test\":[\"CMD\",\"/bin/check\",\"-v\"]}}");
    health_config_get(c, &h);
    CHECK(h.kind == HEALTH_CMD);
    CHECK_EQ_STR(h.cmd[0], "/bin/check");
    CHECK_EQ_STR(h.cmd[1], "-v");
    health_config_release(&h);
    json_decref(c);

    static const char *const none[] = {
        "{}", "{\"Healthcheck\":{\"Test\":[\"NONE\"]}}", "{\"Healthcheck\":{\"Test\":[]}}",
        "{\"Healthcheck\":{\"Test\":[\"CMD\"]}}", "{\"Healthcheck\":{\"Test\":[\"WHAT\",\"x\"]}}"};
    for (size_t i = 0; i < DD_ARRAY_SIZE(none); i++) {
        c = cfg_of(none[i]);
        health_config_get(c, &h);
        CHECK(h.kind == HEALTH_NONE && h.cmd == NULL);
        json_decref(c);
    }
}

TEST(health_check_config_messages)
{
    dd_err e = {0};
    json_t *c = cfg_of("{\"Healthcheck\":{\"Test\":[\"CMD\",\"x\"],\"Interval\":999}}");
    CHECK(health_check_config(c, &e) == -EINVAL);
    CHECK_EQ_STR(e.msg, "Interval in Healthcheck cannot be less than 1ms");
    json_decref(c);
    c = cfg_of("{\"Healthcheck\":{\"Timeout\":5}}");
    CHECK(health_check_config(c, &e) == -EINVAL);
    CHECK_EQ_STR(e.msg, "Timeout in Healthcheck cannot be less than 1ms");
    json_decref(c);
    c = cfg_of("{\"Healthcheck\":{\"Retries\":-1}}");
    CHECK(health_check_config(c, &e) == -EINVAL);
    CHECK_EQ_STR(e.msg, "Retries in Healthcheck cannot be negative");
    json_decref(c);
    c = cfg_of("{\"Healthcheck\":{\"Test\":\"CMD\"}}");
    CHECK(health_check_config(c, &e) == -EINVAL);
    json_decref(c);
    c = cfg_of("{\"Healthcheck\":{\"Test\":[\"NONE\"],\"Interval\":0,\"StartPeriod\":1000000}}");
    CHECK(health_check_config(c, &e) == 0);
    json_decref(c);
}

TEST(health_merge_with_image)
{
    json_t *img = cfg_of("{\"Healthcheck\":{\"Test\":[\"CMD\",\"img\"],\"Interval\":5,"
                         "\"Retries\":4}}");
    json_t *c = cfg_of("{}");
    health_merge_image(c, img);
    CHECK_EQ_STR(json_string_value(
                     json_array_get(json_object_get(json_object_get(c, "Healthcheck"), "Test"), 1)),
                 "img");
    json_decref(c);
    /* the user's fields win; zero ones come from the image */
    c = cfg_of("{\"Healthcheck\":{\"Test\":[],\"Interval\":9}}");
    health_merge_image(c, img);
    json_t *h = json_object_get(c, "Healthcheck");
    CHECK_EQ_STR(json_string_value(json_array_get(json_object_get(h, "Test"), 1)), "img");
    CHECK_EQ_INT(json_integer_value(json_object_get(h, "Interval")), 9);
    CHECK_EQ_INT(json_integer_value(json_object_get(h, "Retries")), 4);
    json_decref(c);
    json_decref(img);
}

static bool apply(json_t *h, const struct health_config *cfg, int code, int64_t start)
{
    struct health_result r = {
        .start_ns = start, .end_ns = start + 1, .exit_code = code, .output = "out"};
    return health_apply(h, cfg, &r, 100 * S);
}

TEST(health_state_machine)
{
    struct health_config cfg = {.kind = HEALTH_CMD, .retries = 2, .start_period_ns = 10 * S};
    json_t *h = health_reset(NULL);
    CHECK_EQ_STR(health_status(h), "starting");
    CHECK_EQ_STR(health_ps_text(h), "health: starting");
    /* failures inside the start period do not count while starting */
    CHECK(!apply(h, &cfg, 1, 101 * S));
    CHECK(!apply(h, &cfg, 1, 102 * S));
    CHECK_EQ_INT(json_integer_value(json_object_get(h, "FailingStreak")), 0);
    CHECK_EQ_STR(health_status(h), "starting");
    /* after it they do: retries=2 consecutive failures make it unhealthy */
    CHECK(!apply(h, &cfg, 1, 111 * S));
    CHECK(apply(h, &cfg, 1, 112 * S));
    CHECK_EQ_STR(health_status(h), "unhealthy");
    CHECK_EQ_INT(json_integer_value(json_object_get(h, "FailingStreak")), 2);
    /* one success: healthy, streak reset */
    CHECK(apply(h, &cfg, 0, 113 * S));
    CHECK_EQ_STR(health_ps_text(h), "healthy");
    CHECK_EQ_INT(json_integer_value(json_object_get(h, "FailingStreak")), 0);
    /* once healthy, a failure in the start period counts */
    json_t *h2 = health_reset(h);
    CHECK_EQ_INT(json_array_size(json_object_get(h2, "Log")), 5);
    CHECK(apply(h, &cfg, 1, 101 * S) == false);
    CHECK_EQ_INT(json_integer_value(json_object_get(h, "FailingStreak")), 1);
    /* the log keeps the last 5, oldest first */
    json_t *log = json_object_get(h, "Log");
    CHECK_EQ_INT(json_array_size(log), 5);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(log, 4), "ExitCode")), 1);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(log, 3), "ExitCode")), 0);
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(log, 4), "Output")), "out");
    json_decref(h);
    json_decref(h2);
    CHECK_EQ_STR(health_status(NULL), "none");
    CHECK(health_status_valid("none") && health_status_valid("starting"));
    CHECK(!health_status_valid("sick"));
}

TEST(health_next_delay_rule)
{
    struct health_config cfg = {
        .interval_ns = 30 * S, .start_period_ns = 60 * S, .start_interval_ns = 5 * S};
    json_t *h = health_reset(NULL);
    CHECK(health_next_delay(&cfg, h, 0) == 5 * S);       /* starting: StartInterval */
    CHECK(health_next_delay(&cfg, h, 40 * S) == 20 * S); /* cut to the end of StartPeriod */
    CHECK(health_next_delay(&cfg, h, 60 * S) == 30 * S); /* after it: Interval */
    jx_set_str(h, "Status", "healthy");
    CHECK(health_next_delay(&cfg, h, 0) == 30 * S);
    cfg.start_period_ns = 0;
    CHECK(health_next_delay(&cfg, h, 0) == 30 * S);
    json_decref(h);
}

TEST(health_go_durations)
{
    char b[32];
    health_go_duration(30 * S, b, sizeof(b));
    CHECK_EQ_STR(b, "30s");
    health_go_duration(500000000, b, sizeof(b));
    CHECK_EQ_STR(b, "500ms");
    health_go_duration(1500000000, b, sizeof(b));
    CHECK_EQ_STR(b, "1.5s");
    health_go_duration(90 * S, b, sizeof(b));
    CHECK_EQ_STR(b, "1m30s");
    health_go_duration(3600 * S, b, sizeof(b));
    CHECK_EQ_STR(b, "1h0m0s");
    health_go_duration(1250000, b, sizeof(b));
    CHECK_EQ_STR(b, "1.25ms");
    health_go_duration(0, b, sizeof(b));
    CHECK_EQ_STR(b, "0s");
}

TEST(health_ps_status_text)
{
    struct container *c = ctr_new();
    int64_t now = 1000 * S;
    c->st.status = CTR_RUNNING;
    c->st.started_ns = now - 3 * S;
    c->health = health_reset(NULL);
    char *s = ctr_status_text(c, now);
    CHECK_EQ_STR(s, "Up 3 seconds (health: starting)");
    free(s);
    jx_set_str(c->health, "Status", "healthy");
    s = ctr_status_text(c, now);
    CHECK_EQ_STR(s, "Up 3 seconds (healthy)");
    free(s);
    ctr_unref(c);
}
