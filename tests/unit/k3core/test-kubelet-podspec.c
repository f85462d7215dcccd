/* Unit tests of the PodSpec container → rt_spec translation (k3core/kubelet/podspec.c):
 * `$(VAR)` expansion, command/args against the image's Entrypoint/Cmd, resources, security
 * context and the pod's shared namespaces. */
#include "k3core/kubelet/podspec.h"
#include "tests/unit/unit.h"

static json_t *js(const char *text)
{
    json_t *v = json_loads(text, 0, NULL);
    if (!v)
        unit_fail(__FILE__, __LINE__, "bad JSON %s", text);
    return v;
}

TEST(kubelet_expand)
{
    char a[] = "A=1", b[] = "B=two", c[] = "A=3";
    char *env[] = {a, b, c, NULL};
    char *s = kps_expand("x$(A)y$(B)z$(C)$$(A)$", env);
    CHECK_EQ_STR(s, "x3ytwoz$(C)$(A)$");
    free(s);
    s = kps_expand("$(A", env);
    CHECK_EQ_STR(s, "$(A");
    free(s);
}

static char *joined(char **v)
{
    dd_buf b;
    dd_buf_init(&b);
    for (size_t i = 0; v && v[i]; i++)
        dd_buf_addf(&b, "%s%s", i ? " " : "", v[i]);
    return dd_buf_detach(&b, NULL);
}

static char *argv_of(const char *ctr, const char *rc)
{
    json_t *c = js(ctr), *r = js(rc);
    char x[] = "X=ex";
    char *env[] = {x, NULL};
    char **argv = NULL;
    dd_err e = {0};
    int ret = kps_argv(c, r, env, &argv, &e);
    json_decref(c), json_decref(r);
    if (ret < 0)
        return dd_asprintf("error: %s", e.msg);
    char *s = joined(argv);
    dd_strv_free(argv);
    return s;
}

TEST(kubelet_argv_merge)
{
    const char *img = "{\"Entrypoint\":[\"/ep\"],\"Cmd\":[\"c1\",\"c2\"]}";
    char *s = argv_of("{}", img);
    CHECK_EQ_STR(s, "/ep c1 c2");
    free(s);
    s = argv_of("{\"args\":[\"a\",\"$(X)\"]}", img);
    CHECK_EQ_STR(s, "/ep a ex");
    free(s);
    s = argv_of("{\"command\":[\"sh\"]}", img);
    CHECK_EQ_STR(s, "sh");
    free(s);
    s = argv_of("{\"command\":[\"sh\"],\"args\":[\"-c\",\"$(X)\"]}", img);
    CHECK_EQ_STR(s, "sh -c ex");
    free(s);
    s = argv_of("{}", "{}");
    CHECK_EQ_STR(s, "error: no command specified");
    free(s);
}

TEST(kubelet_resources)
{
    json_t *r = js("{\"limits\":{\"memory\":\"64Mi\",\"cpu\":\"500m\"},"
                   "\"requests\":{\"cpu\":\"250m\"}}");
    struct rt_resources res;
    dd_err e = {0};
    CHECK(kps_resources(r, &res, &e) == 0);
    CHECK_EQ_INT(res.memory, 64 * 1024 * 1024);
    CHECK_EQ_INT(res.cpu_quota, 50000);
    CHECK_EQ_INT(res.cpu_period, 100000);
    CHECK_EQ_INT(res.cpu_shares, 256);
    json_decref(r);
    r = js("{\"limits\":{\"memory\":\"lots\"}}");
    CHECK(kps_resources(r, &res, &e) == -EINVAL);
    json_decref(r);
}

TEST(kubelet_build_spec)
{
    json_t *pod = js("{\"spec\":{\"securityContext\":{\"runAsUser\":1000}}}");
    json_t *ctr = js("{\"name\":\"c\",\"image\":\"bb\",\"workingDir\":\"/w\","
                     "\"securityContext\":{\"runAsGroup\":7,\"readOnlyRootFilesystem\":true,"
                     "\"capabilities\":{\"drop\":[\"ALL\"],\"add\":[\"NET_ADMIN\"]}}}");
    json_t *rc = js("{\"Cmd\":[\"sh\"]}");
    char l1[] = "/l1", a1[] = "A=1";
    char *lowers[] = {l1, NULL}, *env[] = {a1, NULL};
    struct kps_in in = {.pod = pod,
                        .ctr = ctr,
                        .runconfig = rc,
                        .lower_dirs = lowers,
                        .env = env,
                        .id = "uid-c-0",
                        .upper_dir = "/u",
                        .work_dir = "/w2",
                        .log_path = "/log",
                        .netns = "/ns/net",
                        .ipcns = "/ns/ipc"};
    struct rt_spec s;
    dd_err e = {0};
    CHECK(kps_build(&in, &s, &e) == 0);
    CHECK_EQ_STR(s.process.user, "1000:7");
    CHECK_EQ_STR(s.process.cwd, "/w");
    CHECK(s.root_readonly);
    CHECK(s.capabilities == (UINT64_C(1) << 12)); /* CAP_NET_ADMIN only */
    CHECK_EQ_INT(s.namespaces[RT_NS_NET].mode, RT_NS_JOIN);
    CHECK_EQ_STR(s.namespaces[RT_NS_NET].path, "/ns/net");
    CHECK_EQ_INT(s.namespaces[RT_NS_UTS].mode, RT_NS_NEW);
    CHECK_EQ_INT(s.log_format, RT_LOG_CRI);
    CHECK_EQ_STR(s.process.args[0], "sh");
    rt_spec_release(&s);
    json_decref(ctr);
    ctr = js("{\"securityContext\":{\"capabilities\":{\"add\":[\"NOPE\"]}}}");
    in.ctr = ctr;
    CHECK(kps_build(&in, &s, &e) == -EINVAL);
    CHECK(strstr(e.msg, "NOPE") != NULL);
    json_decref(ctr), json_decref(pod), json_decref(rc);
}
