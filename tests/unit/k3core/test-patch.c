/* Unit tests of PATCH (k3core/api/patch.c, smp.c, managed.c): JSON patch, merge patch,
 * strategic merge patch with merge keys and directives, scale subresource, server-side apply
 * with conflicts and force. */
#include <stdio.h>

#include "k3core/api/objects.h"
#include "tests/unit/unit.h"

static kobj_api *setup(void)
{
    kst_store *s = NULL;
    kobj_api *api = NULL;
    dd_err e = {0};
    if (kst_open(":memory:", NULL, &s, &e) < 0 || kobj_open(s, NULL, &api, &e) < 0)
        unit_fail(__FILE__, __LINE__, "setup: %s", e.msg);
    return api;
}

static json_t *parse(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    if (!j)
        unit_fail(__FILE__, __LINE__, "bad test JSON: %s", text);
    return j;
}

static const char deploy[] =
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\"},"
    "\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"web\"}},\"template\":{\"metadata\":{"
    "\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"nginx:1\","
    "\"env\":[{\"name\":\"X\",\"value\":\"1\"}]},{\"name\":\"b\",\"image\":\"redis:7\"}]}}}}";

static kobj_req req_for(const char *manager)
{
    kobj_req r = {.res = kres_lookup("apps", "v1", "deployments"),
                  .ns = "default",
                  .name = "web",
                  .field_manager = manager};
    return r;
}

static void make_deploy(kobj_api *api)
{
    kobj_req req = req_for("kubectl-create");
    req.name = NULL;
    kobj_result r = {0};
    kobj_status st = {0};
    json_t *b = parse(deploy);
    if (kobj_create(api, &req, b, &r, &st) < 0)
        unit_fail(__FILE__, __LINE__, "create: %s", st.message);
    kobj_result_release(&r);
    json_decref(b);
}

static json_t *do_patch(kobj_api *api, kobj_req *req, enum kobj_patch_type t, const char *body,
                        kobj_status *st, int *ret)
{
    kobj_result r = {0};
    json_t *p = parse(body);
    *ret = kobj_patch(api, req, t, p, &r, st);
    json_decref(p);
    json_t *o = r.object ? json_incref(r.object) : NULL;
    kobj_result_release(&r);
    return o;
}

static json_t *containers(json_t *d)
{
    return json_object_get(
        json_object_get(json_object_get(json_object_get(d, "spec"), "template"), "spec"),
        "containers");
}

static const char *cname(json_t *d, size_t i)
{
    return json_string_value(json_object_get(json_array_get(containers(d), i), "name"));
}

static const char *cimage(json_t *d, size_t i)
{
    return json_string_value(json_object_get(json_array_get(containers(d), i), "image"));
}

TEST(patch_strategic_merge_by_name)
{
    kobj_api *api = setup();
    make_deploy(api);
    kobj_req req = req_for("kubectl-set");
    kobj_status st = {0};
    int r;
    json_t *o = do_patch(api, &req, KOBJ_PATCH_STRATEGIC,
                         "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"b\","
                         "\"image\":\"redis:8\"}]}}}}",
                         &st, &r);
    CHECK_EQ_INT(r, 0);
    CHECK_EQ_INT(json_array_size(containers(o)), 2);
    CHECK_EQ_STR(cimage(o, 0), "nginx:1");
    CHECK_EQ_STR(cimage(o, 1), "redis:8");
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(o, "metadata"), "generation")),
                 2);
    json_decref(o);
    /* new element + order directive + delete directive */
    o = do_patch(api, &req, KOBJ_PATCH_STRATEGIC,
                 "{\"spec\":{\"template\":{\"spec\":{\"$setElementOrder/containers\":[{\"name\":"
                 "\"c\"},{\"name\":\"a\"}],\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"},"
                 "{\"name\":\"b\",\"$patch\":\"delete\"}]}}}}",
                 &st, &r);
    CHECK_EQ_INT(r, 0);
    CHECK_EQ_INT(json_array_size(containers(o)), 2);
    CHECK_EQ_STR(cname(o, 0), "c");
    CHECK_EQ_STR(cname(o, 1), "a");
    json_decref(o);
    /* env merged by name inside a container; strategy retainKeys */
    o = do_patch(api, &req, KOBJ_PATCH_STRATEGIC,
                 "{\"spec\":{\"strategy\":{\"$retainKeys\":[\"type\"],\"type\":\"Recreate\"},"
                 "\"template\":{\"spec\":{\"containers\":[{\"name\":\"a\",\"env\":[{\"name\":"
                 "\"Y\",\"value\":\"2\"}]}]}}}}",
                 &st, &r);
    CHECK_EQ_INT(r, 0);
    json_t *strategy = json_object_get(json_object_get(o, "spec"), "strategy");
    CHECK_EQ_STR(json_string_value(json_object_get(strategy, "type")), "Recreate");
    CHECK(json_object_get(strategy, "rollingUpdate") == NULL);
    json_t *env = json_object_get(json_array_get(containers(o), 1), "env");
    CHECK_EQ_INT(json_array_size(env), 2);
    json_decref(o);
}

TEST(patch_merge_json_and_scale)
{
    kobj_api *api = setup();
    make_deploy(api);
    kobj_req req = req_for("kubectl-label");
    kobj_status st = {0};
    int r;
    json_t *o =
        do_patch(api, &req, KOBJ_PATCH_MERGE, "{\"metadata\":{\"labels\":{\"k\":\"v\"}}}", &st, &r);
    CHECK_EQ_INT(r, 0);
    CHECK_EQ_STR(json_string_value(json_object_get(
                     json_object_get(json_object_get(o, "metadata"), "labels"), "k")),
                 "v");
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(o, "metadata"), "generation")),
                 1);
    json_decref(o);
    o = do_patch(api, &req, KOBJ_PATCH_JSON,
                 "[{\"op\":\"test\",\"path\":\"/metadata/labels/k\",\"value\":\"v\"},"
                 "{\"op\":\"remove\",\"path\":\"/metadata/labels/k\"},"
                 "{\"op\":\"add\",\"path\":\"/metadata/annotations\",\"value\":{}},"
                 "{\"op\":\"add\",\"path\":\"/metadata/annotations/example.com~1y\",\"value\":"
                 "\"1\"},"
                 "{\"op\":\"replace\",\"path\":\"/spec/template/spec/containers/1/image\","
                 "\"value\":\"redis:9\"}]",
                 &st, &r);
    if (r < 0)
        unit_fail(__FILE__, __LINE__, "json patch: %s", st.message);
    CHECK(json_object_get(json_object_get(json_object_get(o, "metadata"), "labels"), "k") == NULL);
    CHECK_EQ_STR(cimage(o, 1), "redis:9");
    CHECK_EQ_STR(
        json_string_value(json_object_get(
            json_object_get(json_object_get(o, "metadata"), "annotations"), "example.com/y")),
        "1");
    json_decref(o);
    o = do_patch(api, &req, KOBJ_PATCH_JSON,
                 "[{\"op\":\"replace\",\"path\":\"/spec/nope/x\",\"value\":1}]", &st, &r);
    CHECK(r < 0);
    CHECK_EQ_INT(st.code, 422);
    req.subresource = "scale";
    o = do_patch(api, &req, KOBJ_PATCH_MERGE, "{\"spec\":{\"replicas\":4}}", &st, &r);
    CHECK_EQ_INT(r, 0);
    CHECK_EQ_STR(json_string_value(json_object_get(o, "kind")), "Scale");
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(o, "spec"), "replicas")), 4);
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(o, "status"), "selector")),
                 "app=web");
    json_decref(o);
}

TEST(patch_server_side_apply_conflict_and_force)
{
    kobj_api *api = setup();
    kobj_req req = req_for("kubectl");
    kobj_status st = {0};
    int r;
    static const char applied[] =
        "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\"},"
        "\"spec\":{\"replicas\":2,\"selector\":{\"matchLabels\":{\"app\":\"web\"}},\"template\":"
        "{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":\"a\","
        "\"image\":\"nginx:1\"}]}}}}";
    json_t *o = do_patch(api, &req, KOBJ_PATCH_APPLY, applied, &st, &r);
    CHECK_EQ_INT(r, 0);
    json_t *mf = json_object_get(json_object_get(o, "metadata"), "managedFields");
    CHECK_EQ_INT(json_array_size(mf), 1);
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(mf, 0), "operation")), "Apply");
    json_decref(o);
    /* another manager takes spec.replicas with an update */
    kobj_req other = req_for("kubectl-scale");
    other.subresource = NULL;
    o = do_patch(api, &other, KOBJ_PATCH_MERGE, "{\"spec\":{\"replicas\":5}}", &st, &r);
    CHECK_EQ_INT(r, 0);
    json_decref(o);
    /* re-applying replicas: 2 conflicts */
    o = do_patch(api, &req, KOBJ_PATCH_APPLY, applied, &st, &r);
    CHECK(r < 0);
    CHECK_EQ_INT(st.code, 409);
    CHECK_EQ_STR(st.message, "Apply failed with 1 conflict: conflict with \"kubectl-scale\" using "
                             "apps/v1: .spec.replicas");
    kobj_status_release(&st);
    req.force = true;
    o = do_patch(api, &req, KOBJ_PATCH_APPLY, applied, &st, &r);
    CHECK_EQ_INT(r, 0);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(o, "spec"), "replicas")), 2);
    /* force moved spec.replicas to kubectl: kubectl-scale owned nothing else */
    mf = json_object_get(json_object_get(o, "metadata"), "managedFields");
    CHECK_EQ_INT(json_array_size(mf), 1);
    json_decref(o);
    /* applying the same again is no change and no conflict */
    req.force = false;
    o = do_patch(api, &req, KOBJ_PATCH_APPLY, applied, &st, &r);
    CHECK_EQ_INT(r, 0);
    json_decref(o);
    /* a field the manager stops applying is removed (no one else owns it) */
    json_t *a2 = parse(applied);
    json_object_set_new(json_object_get(a2, "metadata"), "labels",
                        parse("{\"keep\":\"1\",\"drop\":\"1\"}"));
    _cleanup_free_ char *with_labels = json_dumps(a2, JSON_COMPACT);
    json_object_set_new(json_object_get(a2, "metadata"), "labels", parse("{\"keep\":\"1\"}"));
    _cleanup_free_ char *fewer_labels = json_dumps(a2, JSON_COMPACT);
    json_decref(a2);
    o = do_patch(api, &req, KOBJ_PATCH_APPLY, with_labels, &st, &r);
    CHECK_EQ_INT(r, 0);
    json_decref(o);
    o = do_patch(api, &req, KOBJ_PATCH_APPLY, fewer_labels, &st, &r);
    if (r < 0)
        unit_fail(__FILE__, __LINE__, "apply: %s", st.message);
    json_t *labels = json_object_get(json_object_get(o, "metadata"), "labels");
    CHECK(json_object_get(labels, "keep") != NULL);
    CHECK(json_object_get(labels, "drop") == NULL);
    json_decref(o);
}

static json_t *entry_of(json_t *o, const char *manager)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(json_object_get(o, "metadata"), "managedFields"), i, e)
    {
        if (!strcmp(json_string_value(json_object_get(e, "manager")), manager))
            return e;
    }
    return NULL;
}

/* Upstream's structured merge with several appliers: fields compared leaf by leaf, defaulted
 * fields owned by nobody, equal values shared, conflicts grouped by manager in upstream's
 * words, an updater's write recorded with what it changed only. */
TEST(patch_server_side_apply_two_managers)
{
    kobj_api *api = setup();
    kobj_status st = {0};
    int r;
    kobj_req m1 = req_for("m1"), m2 = req_for("m2"), m3 = req_for("m3"), m4 = req_for("m4");
    static const char base[] =
        "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\"},"
        "\"spec\":{\"replicas\":2,\"selector\":{\"matchLabels\":{\"app\":\"web\"}},\"template\":"
        "{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":\"a\","
        "\"image\":\"nginx:1\"}]}}}}";
    json_t *o = do_patch(api, &m1, KOBJ_PATCH_APPLY, base, &st, &r);
    CHECK_EQ_INT(r, 0);
    json_decref(o);
    /* another container field and the defaulted strategy: nobody owns them, no conflict */
    static const char pull[] =
        "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\"},"
        "\"spec\":{\"strategy\":{\"rollingUpdate\":{\"maxSurge\":1}},\"template\":{\"spec\":{"
        "\"containers\":[{\"name\":\"a\",\"imagePullPolicy\":\"Always\"}]}}}}";
    o = do_patch(api, &m2, KOBJ_PATCH_APPLY, pull, &st, &r);
    if (r < 0)
        unit_fail(__FILE__, __LINE__, "m2: %s", st.message);
    _cleanup_free_ char *m2set =
        json_dumps(json_object_get(entry_of(o, "m2"), "fieldsV1"), JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_EQ_STR(m2set, "{\"f:spec\":{\"f:strategy\":{\"f:rollingUpdate\":{\"f:maxSurge\":{}}},"
                        "\"f:template\":{\"f:spec\":{\"f:containers\":{\"k:{\\\"name\\\":\\\"a\\\"}"
                        "\":{\".\":{},\"f:imagePullPolicy\":{},\"f:name\":{}}}}}}}");
    json_decref(o);
    /* the same values by a new manager: recorded as a co-owner */
    o = do_patch(api, &m4, KOBJ_PATCH_APPLY, base, &st, &r);
    CHECK_EQ_INT(r, 0);
    CHECK(entry_of(o, "m4") != NULL);
    CHECK(json_equal(json_object_get(entry_of(o, "m4"), "fieldsV1"),
                     json_object_get(entry_of(o, "m1"), "fieldsV1")));
    json_decref(o);
    /* other values for fields of m1 (and m4) and of m2: grouped by manager, sorted */
    static const char other[] =
        "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\"},"
        "\"spec\":{\"replicas\":3,\"template\":{\"spec\":{\"containers\":[{\"name\":\"a\","
        "\"imagePullPolicy\":\"Never\"}]}}}}";
    o = do_patch(api, &m3, KOBJ_PATCH_APPLY, other, &st, &r);
    CHECK(r < 0);
    CHECK_EQ_INT(st.code, 409);
    CHECK_EQ_STR(st.message, "Apply failed with 3 conflicts: conflicts with \"m1\":\n"
                             "- .spec.replicas\n"
                             "conflicts with \"m2\":\n"
                             "- .spec.template.spec.containers[name=\"a\"].imagePullPolicy\n"
                             "conflicts with \"m4\":\n"
                             "- .spec.replicas");
    CHECK_EQ_INT(json_array_size(st.causes), 3);
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(st.causes, 0), "field")),
                 ".spec.replicas");
    kobj_status_release(&st);
    /* an update changing one container field takes that field only */
    kobj_req upd = req_for("kubectl-set");
    o = do_patch(api, &upd, KOBJ_PATCH_STRATEGIC,
                 "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"a\","
                 "\"image\":\"nginx:2\"}]}}}}",
                 &st, &r);
    CHECK_EQ_INT(r, 0);
    _cleanup_free_ char *updset = json_dumps(
        json_object_get(entry_of(o, "kubectl-set"), "fieldsV1"), JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_EQ_STR(updset, "{\"f:spec\":{\"f:template\":{\"f:spec\":{\"f:containers\":{"
                         "\"k:{\\\"name\\\":\\\"a\\\"}\":{\"f:image\":{}}}}}}}");
    /* upstream's order: appliers, then updaters, each by time, then name */
    json_t *mf = json_object_get(json_object_get(o, "metadata"), "managedFields");
    static const char *const order[] = {"m1", "m2", "m4", "kubectl-set"};
    CHECK_EQ_INT(json_array_size(mf), DD_ARRAY_SIZE(order));
    for (size_t i = 0; i < DD_ARRAY_SIZE(order) && i < json_array_size(mf); i++)
        CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(mf, i), "manager")),
                     order[i]);
    json_t *m1set = json_object_get(entry_of(o, "m1"), "fieldsV1");
    _cleanup_free_ char *m1s = json_dumps(m1set, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK(strstr(m1s, "f:image") == NULL);
    CHECK(strstr(m1s, "f:labels") != NULL);
    json_decref(o);
    /* m1 re-applying the old image conflicts with the updater, "using" its version */
    o = do_patch(api, &m1, KOBJ_PATCH_APPLY, base, &st, &r);
    CHECK(r < 0);
    CHECK_EQ_STR(st.message,
                 "Apply failed with 1 conflict: conflict with \"kubectl-set\" using apps/v1: "
                 ".spec.template.spec.containers[name=\"a\"].image");
    kobj_status_release(&st);
}
