/* Unit tests for dindd's container model: name validation, signals, status strings, filters,
 * create-body parsing and image merge, time parameters, record round trips. */
#include <signal.h>

#include "dind/daemon/container-internal.h"
#include "dind/daemon/create.h"
#include "dind/daemon/ctr-json.h"
#include "dind/daemon/filters.h"
#include "dind/daemon/streams.h"
#include "dind/json.h"
#include "tests/unit/unit.h"

TEST(name_validation)
{
    char *n = NULL;
    dd_err e = {0};
    CHECK(ctr_name_validate("web", &n, &e) == 0);
    CHECK_EQ_STR(n, "/web");
    free(n);
    CHECK(ctr_name_validate("/my_app.1-x", &n, &e) == 0);
    CHECK_EQ_STR(n, "/my_app.1-x");
    free(n);
    CHECK(ctr_name_validate("a", &n, &e) == -EINVAL); /* two characters at least */
    CHECK(ctr_name_validate("-bad", &n, &e) == -EINVAL);
    CHECK(ctr_name_validate("sp ace", &n, &e) == -EINVAL);
    CHECK_EQ_STR(e.msg, "Invalid container name (sp ace), only [a-zA-Z0-9][a-zA-Z0-9_.-] are "
                        "allowed");
}

TEST(signals)
{
    int s = 0;
    CHECK(ctr_signal_parse("TERM", &s) == 0 && s == SIGTERM);
    CHECK(ctr_signal_parse("SIGKILL", &s) == 0 && s == SIGKILL);
    CHECK(ctr_signal_parse("sigint", &s) == 0 && s == SIGINT);
    CHECK(ctr_signal_parse("9", &s) == 0 && s == 9);
    CHECK(ctr_signal_parse("RTMIN+1", &s) == 0 && s == SIGRTMIN + 1);
    CHECK(ctr_signal_parse("BOGUS", &s) == -EINVAL);
    CHECK(ctr_signal_parse("0", &s) == -EINVAL);
    CHECK(ctr_signal_parse("", &s) == -EINVAL);
}

TEST(human_status)
{
    struct container *c = ctr_new();
    int64_t now = 1000LL * 1000000000LL;
    char *s = ctr_status_text(c, now);
    CHECK_EQ_STR(s, "Created");
    free(s);
    c->st.status = CTR_RUNNING;
    c->st.started_ns = now - 120LL * 1000000000LL;
    s = ctr_status_text(c, now);
    CHECK_EQ_STR(s, "Up 2 minutes");
    free(s);
    c->st.started_ns = now - 100000000LL;
    s = ctr_status_text(c, now);
    CHECK_EQ_STR(s, "Up Less than a second");
    free(s);
    c->st.status = CTR_EXITED;
    c->st.exit_code = 2;
    c->st.finished_ns = now - 3LL * 1000000000LL;
    s = ctr_status_text(c, now);
    CHECK_EQ_STR(s, "Exited (2) 3 seconds ago");
    free(s);
    char d[64];
    ctr_human_duration(3600LL * 1000000000LL, d, sizeof(d));
    CHECK_EQ_STR(d, "About an hour");
    ctr_human_duration(61LL * 1000000000LL, d, sizeof(d));
    CHECK_EQ_STR(d, "About a minute");
    ctr_unref(c);
}

TEST(filters_both_forms)
{
    struct flt f;
    dd_err e = {0};
    CHECK(flt_parse("{\"label\":{\"app=web\":true},\"status\":{\"running\":true}}", NULL, &f, &e) ==
          0);
    CHECK_EQ_STR(flt_get(&f, "label")[0], "app=web");
    CHECK_EQ_STR(flt_get(&f, "status")[0], "running");
    CHECK(flt_get(&f, "name") == NULL);
    flt_release(&f);
    CHECK(flt_parse("{\"label\": [\"app=dpy\", \"x\"]}", NULL, &f, &e) == 0);
    CHECK_EQ_STR(flt_get(&f, "label")[1], "x");
    flt_release(&f);
    static const char *const allowed[] = {"label", NULL};
    CHECK(flt_parse("{\"bogus\":[\"1\"]}", allowed, &f, &e) == -EINVAL);
    CHECK_EQ_STR(e.msg, "invalid filter 'bogus'");
    CHECK(flt_parse("notjson", NULL, &f, &e) == -EINVAL);
    CHECK(flt_parse("{\"label\":3}", NULL, &f, &e) == -EINVAL);
}

TEST(label_and_regex_match)
{
    json_t *labels = json_pack("{s:s,s:s}", "app", "web", "tier", "");
    CHECK(flt_label_match(labels, "app"));
    CHECK(flt_label_match(labels, "app=web"));
    CHECK(!flt_label_match(labels, "app=db"));
    CHECK(flt_label_match(labels, "tier="));
    CHECK(!flt_label_match(labels, "missing"));
    json_decref(labels);
    CHECK(flt_regex_match("^/?(k3d-)?server-0$", "/k3d-server-0"));
    CHECK(flt_regex_match("^/?(k3d-)?server-0$", "server-0"));
    CHECK(!flt_regex_match("^/?(k3d-)?server-0$", "/server-01"));
    CHECK(!flt_regex_match("(", "x"));
}

static int parse(const char *body, json_t **cfg, json_t **hc, dd_err *e)
{
    json_t *net = NULL;
    int r = create_parse(body, strlen(body), cfg, hc, &net, e);
    json_decref(net);
    return r;
}

TEST(create_parse_case_insensitive_and_defaults)
{
    json_t *cfg = NULL, *hc = NULL;
    dd_err e = {0};
    CHECK(parse("{\"image\":\"busybox\",\"cmd\":\"true\",\"tty\":true,\"Unknown\":1,"
                "\"hostconfig\":{\"autoremove\":true}}",
                &cfg, &hc, &e) == 0);
    CHECK_EQ_STR(json_string_value(json_object_get(cfg, "Image")), "busybox");
    CHECK(json_is_true(json_object_get(cfg, "Tty")));
    CHECK_EQ_STR(json_string_value(json_array_get(json_object_get(cfg, "Cmd"), 0)), "true");
    CHECK(json_object_get(cfg, "Unknown") == NULL);
    CHECK(json_is_true(json_object_get(hc, "AutoRemove")));
    CHECK_EQ_STR(json_string_value(json_object_get(hc, "NetworkMode")), "default");
    CHECK_EQ_INT(json_integer_value(json_object_get(hc, "ShmSize")), 67108864);
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(hc, "RestartPolicy"), "Name")),
                 "no");
    json_decref(cfg);
    json_decref(hc);
}

TEST(create_parse_rejects_bad_input)
{
    json_t *cfg = NULL, *hc = NULL;
    dd_err e = {0};
    CHECK(parse("{\"Image\":", &cfg, &hc, &e) == -EINVAL);
    CHECK(dd_startswith(e.msg, "invalid JSON"));
    CHECK(parse("{\"Image\":\"b\",\"Tty\":\"yes\"}", &cfg, &hc, &e) == -EINVAL);
    CHECK_EQ_STR(e.msg, "Config.Tty: expected a boolean");
    CHECK(parse("{\"Image\":\"b\",\"HostConfig\":{\"RestartPolicy\":{\"Name\":\"sometimes\"}}}",
                &cfg, &hc, &e) == -EINVAL);
    CHECK_EQ_STR(e.msg, "invalid restart policy 'sometimes'");
    CHECK(parse("{\"Image\":\"b\",\"HostConfig\":{\"AutoRemove\":true,"
                "\"RestartPolicy\":{\"Name\":\"always\"}}}",
                &cfg, &hc, &e) == -EINVAL);
    CHECK(parse("{\"Image\":\"b\",\"HostConfig\":{\"Binds\":[\"my vol:/data\"]}}", &cfg, &hc, &e) ==
          -EINVAL);
    CHECK(strstr(e.msg, "includes invalid characters for a local volume name") != NULL);
    CHECK(parse("{\"Image\":\"b\",\"HostConfig\":{\"Memory\":1024}}", &cfg, &hc, &e) == -EINVAL);
    CHECK_EQ_STR(e.msg, "Minimum memory limit allowed is 6MB");
    CHECK(parse("{\"Image\":\"b\",\"StopSignal\":\"NOPE\"}", &cfg, &hc, &e) == -EINVAL);
    CHECK_EQ_STR(e.msg, "Invalid signal: NOPE");
    CHECK(parse("{\"Image\":\"b\",\"HostConfig\":{\"CapAdd\":[\"NOT_A_CAP\"]}}", &cfg, &hc, &e) ==
          -EINVAL);
    CHECK(parse("{\"Image\":\"b\",\"HostConfig\":{\"Ulimits\":[{\"Name\":\"nofile\",\"Soft\":10,"
                "\"Hard\":5}]}}",
                &cfg, &hc, &e) == -EINVAL);
}

TEST(merge_with_image)
{
    json_t *cfg = NULL, *hc = NULL;
    dd_err e = {0};
    json_t *img = json_pack("{s:[ss],s:[s],s:s,s:{s:s,s:s}}", "Env", "PATH=/bin", "A=img", "Cmd",
                            "sh", "WorkingDir", "/w", "Labels", "a", "1", "b", "2");
    CHECK(parse("{\"Image\":\"b\",\"Env\":[\"A=user\"],\"Labels\":{\"b\":\"x\"}}", &cfg, &hc, &e) ==
          0);
    create_merge_image(cfg, img);
    json_t *env = json_object_get(cfg, "Env");
    CHECK_EQ_INT(json_array_size(env), 2);
    CHECK_EQ_STR(json_string_value(json_array_get(env, 0)), "A=user");
    CHECK_EQ_STR(json_string_value(json_array_get(env, 1)), "PATH=/bin");
    CHECK_EQ_STR(json_string_value(json_object_get(cfg, "WorkingDir")), "/w");
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(cfg, "Labels"), "a")), "1");
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(cfg, "Labels"), "b")), "x");
    char *path = NULL, **args = NULL;
    CHECK(create_command(cfg, &path, &args, &e) == 0);
    CHECK_EQ_STR(path, "sh");
    CHECK(args[0] == NULL);
    free(path);
    dd_strv_free(args);
    json_decref(cfg);
    json_decref(hc);
    /* An explicit Entrypoint drops the image's Cmd; nothing at all is "No command specified". */
    CHECK(parse("{\"Image\":\"b\",\"Entrypoint\":[\"echo\"]}", &cfg, &hc, &e) == 0);
    create_merge_image(cfg, img);
    CHECK(create_command(cfg, &path, &args, &e) == 0);
    CHECK_EQ_STR(path, "echo");
    CHECK(args[0] == NULL);
    free(path);
    dd_strv_free(args);
    json_decref(cfg);
    json_decref(hc);
    CHECK(parse("{\"Image\":\"b\"}", &cfg, &hc, &e) == 0);
    create_merge_image(cfg, json_object_get(img, "nothing"));
    CHECK(create_command(cfg, &path, &args, &e) == -EINVAL);
    CHECK_EQ_STR(e.msg, "No command specified");
    json_decref(cfg);
    json_decref(hc);
    json_decref(img);
}

TEST(mounts_parse)
{
    json_t *hc = json_pack("{s:[ss],s:{s:s}}", "Binds", "/tmp:/host:ro", "/var:/v:rw,rshared",
                           "Tmpfs", "/run", "rw,size=1m,exec");
    struct spec_mount *m = NULL;
    size_t n = 0;
    dd_err e = {0};
    CHECK(spec_mounts(hc, NULL, &m, &n, &e) == 0);
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_STR(m[0].dest, "/host");
    CHECK(!m[0].rw);
    CHECK_EQ_STR(m[0].mode, "ro");
    CHECK_EQ_STR(m[1].propagation, "rshared");
    CHECK_EQ_STR(m[2].type, "tmpfs");
    CHECK(!dd_strv_contains(m[2].opts, "noexec"));
    CHECK(dd_strv_contains(m[2].opts, "size=1m"));
    spec_mounts_free(m, n);
    json_decref(hc);
}

TEST(time_parameters)
{
    int64_t ns = 0;
    dd_err e = {0};
    CHECK(stream_parse_time("1795374997", &ns, &e) == 0);
    CHECK_EQ_INT(ns, 1795374997LL * 1000000000LL);
    CHECK(stream_parse_time("1795374997.2387693", &ns, &e) == 0);
    CHECK_EQ_INT(ns, 1795374997LL * 1000000000LL + 238769300LL);
    CHECK(stream_parse_time("2026-11-23T09:00:00Z", &ns, &e) == 0);
    CHECK(ns > 0);
    CHECK(stream_parse_time("yesterday", &ns, &e) == -EINVAL);
    dd_buf b = DD_BUF_INIT;
    stream_frame_header(&b, 2, 258);
    CHECK_EQ_INT(b.len, 8);
    CHECK_EQ_INT((unsigned char)b.data[0], 2);
    CHECK_EQ_INT((unsigned char)b.data[6], 1);
    CHECK_EQ_INT((unsigned char)b.data[7], 2);
    dd_buf_release(&b);
}

TEST(record_round_trip)
{
    struct container *c = ctr_new(), *back = NULL;
    dd_err e = {0};
    memset(c->id, 'a', 64);
    c->name = dd_strdup("/web");
    c->image = dd_strdup("busybox");
    c->image_id = dd_strdup("sha256:00");
    c->path = dd_strdup("sh");
    c->config = json_pack("{s:b,s:[s],s:s}", "Tty", 1, "Env", "A=1", "StopSignal", "SIGINT");
    c->host_config = json_pack("{s:s}", "NetworkMode", "host");
    c->st.status = CTR_EXITED;
    c->st.exit_code = 3;
    c->st.manual_stop = true;
    char *text = ctr_record_dump(c);
    CHECK(ctr_record_load(text, &back, &e) == 0);
    CHECK_EQ_STR(back->name, "/web");
    CHECK_EQ_INT(back->st.status, CTR_EXITED);
    CHECK_EQ_INT(back->st.exit_code, 3);
    CHECK(back->st.manual_stop);
    CHECK(back->tty);
    CHECK_EQ_STR(back->env[0], "A=1");
    CHECK_EQ_INT(back->stop_signal, SIGINT);
    CHECK_EQ_STR(back->network_mode, "host");
    ctr_unref(back);
    back = NULL;
    CHECK(ctr_record_load("{\"Id\":\"short\"}", &back, &e) < 0);
    free(text);
    ctr_unref(c);
}
