/* Unit tests of watches, deletion, namespace lifecycle, garbage collection and CRDs in the
 * object layer (k3core/api: watch.c, delete.c, controllers.c, crd.c). */
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

static const char *uid_of(const json_t *o)
{
    return json_string_value(json_object_get(json_object_get(o, "metadata"), "uid"));
}

static json_t *mk(kobj_api *api, const char *group, const char *resource, const char *ns,
                  const char *body)
{
    kobj_req req = {.res = kres_lookup_any_version(group, resource), .ns = ns};
    CHECK(req.res != NULL);
    kobj_result r = {0};
    kobj_status st = {0};
    json_t *b = parse(body);
    if (kobj_create(api, &req, b, &r, &st) < 0)
        unit_fail(__FILE__, __LINE__, "create %s: %s", resource, st.message);
    json_decref(b);
    json_t *o = json_incref(r.object);
    kobj_result_release(&r);
    return o;
}

static int del(kobj_api *api, const char *group, const char *resource, const char *ns,
               const char *name, const char *opts, kobj_result *r, kobj_status *st)
{
    kobj_req req = {.res = kres_lookup_any_version(group, resource), .ns = ns, .name = name};
    json_t *o = opts ? parse(opts) : NULL;
    int ret = kobj_delete(api, &req, o, r, st);
    json_decref(o);
    return ret;
}

static bool exists(kobj_api *api, const char *group, const char *resource, const char *ns,
                   const char *name)
{
    kobj_req req = {.res = kres_lookup_any_version(group, resource), .ns = ns, .name = name};
    json_t *o = NULL;
    kobj_status st = {0};
    int r = kobj_get(api, &req, &o, &st);
    json_decref(o);
    return r >= 0;
}

static void settle(kobj_api *api)
{
    dd_err e = {0};
    for (int i = 0; i < 20; i++) {
        int r = kobj_run_controllers(api, &e);
        CHECK(r >= 0);
        if (r == 0)
            return;
    }
    unit_fail(__FILE__, __LINE__, "controllers did not settle");
}

typedef struct events {
    char log[2048];
} events;

static void on_watch(void *ud, const char *type, json_t *o)
{
    events *ev = ud;
    size_t n = strlen(ev->log);
    snprintf(ev->log + n, sizeof(ev->log) - n, "%s:%s;", type,
             json_string_value(json_object_get(json_object_get(o, "metadata"), "name")) ?: "-");
}

TEST(lifecycle_watch_selector_semantics)
{
    kobj_api *api = setup();
    json_decref(mk(api, "", "configmaps", "default",
                   "{\"metadata\":{\"name\":\"old\",\"labels\":{\"w\":\"1\"}}}"));
    events ev = {0};
    kobj_req req = {.res = kres_lookup("", "v1", "configmaps"), .ns = "default"};
    kobj_watch_opts o = {
        .label_selector = "w=1", .allow_bookmarks = true, .send_initial_events = true};
    kobj_watch *w = NULL;
    kobj_status st = {0};
    CHECK_EQ_INT(kobj_watch_start(api, &req, &o, on_watch, &ev, &w, &st), 0);
    CHECK_EQ_STR(ev.log, "ADDED:old;BOOKMARK:-;");
    json_t *c = mk(api, "", "configmaps", "default",
                   "{\"metadata\":{\"name\":\"x\",\"labels\":{\"w\":\"1\"}}}");
    kobj_req preq = {.res = req.res, .ns = "default", .name = "x", .field_manager = "t"};
    kobj_result r = {0};
    json_t *p = parse("{\"metadata\":{\"labels\":{\"w\":\"2\"}}}");
    CHECK_EQ_INT(kobj_patch(api, &preq, KOBJ_PATCH_MERGE, p, &r, &st), 0);
    kobj_result_release(&r);
    json_decref(p);
    p = parse("{\"metadata\":{\"labels\":{\"w\":\"1\"}}}");
    CHECK_EQ_INT(kobj_patch(api, &preq, KOBJ_PATCH_MERGE, p, &r, &st), 0);
    kobj_result_release(&r);
    json_decref(p);
    CHECK_EQ_INT(del(api, "", "configmaps", "default", "x", NULL, &r, &st), 0);
    kobj_result_release(&r);
    CHECK_EQ_STR(ev.log, "ADDED:old;BOOKMARK:-;ADDED:x;DELETED:x;ADDED:x;DELETED:x;");
    kobj_watch_stop(w);
    /* watching from the create's revision replays what followed */
    events ev2 = {0};
    kobj_watch_opts o2 = {.resource_version = json_string_value(
                              json_object_get(json_object_get(c, "metadata"), "resourceVersion"))};
    CHECK_EQ_INT(kobj_watch_start(api, &req, &o2, on_watch, &ev2, &w, &st), 0);
    CHECK_EQ_STR(ev2.log, "MODIFIED:x;MODIFIED:x;DELETED:x;");
    kobj_watch_stop(w);
    json_decref(c);
}

TEST(lifecycle_finalizers_and_pod_delete)
{
    kobj_api *api = setup();
    json_decref(mk(api, "", "configmaps", "default",
                   "{\"metadata\":{\"name\":\"f\",\"finalizers\":[\"example.com/hold\"]}}"));
    kobj_result r = {0};
    kobj_status st = {0};
    CHECK_EQ_INT(del(api, "", "configmaps", "default", "f", NULL, &r, &st), 0);
    CHECK(json_object_get(json_object_get(r.object, "metadata"), "deletionTimestamp") != NULL);
    kobj_result_release(&r);
    CHECK(exists(api, "", "configmaps", "default", "f"));
    kobj_req preq = {.res = kres_lookup("", "v1", "configmaps"), .ns = "default", .name = "f"};
    json_t *p = parse("{\"metadata\":{\"finalizers\":null}}");
    CHECK_EQ_INT(kobj_patch(api, &preq, KOBJ_PATCH_MERGE, p, &r, &st), 0);
    kobj_result_release(&r);
    json_decref(p);
    CHECK(!exists(api, "", "configmaps", "default", "f"));
    /* unscheduled pod goes at once and comes back as the object */
    json_decref(mk(api, "", "pods", "default",
                   "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":\"c\","
                   "\"image\":\"i\"}]}}"));
    CHECK_EQ_INT(
        del(api, "", "pods", "default", "p", "{\"propagationPolicy\":\"Background\"}", &r, &st), 0);
    CHECK_EQ_STR(json_string_value(json_object_get(r.object, "kind")), "Pod");
    kobj_result_release(&r);
    CHECK(!exists(api, "", "pods", "default", "p"));
    CHECK(del(api, "", "pods", "default", "p", NULL, &r, &st) < 0);
    CHECK_EQ_STR(st.message, "pods \"p\" not found");
}

TEST(lifecycle_namespace_termination)
{
    kobj_api *api = setup();
    json_decref(mk(api, "", "namespaces", NULL, "{\"metadata\":{\"name\":\"team\"}}"));
    CHECK(exists(api, "", "serviceaccounts", "team", "default"));
    json_decref(mk(api, "", "configmaps", "team", "{\"metadata\":{\"name\":\"c\"}}"));
    kobj_result r = {0};
    kobj_status st = {0};
    CHECK_EQ_INT(del(api, "", "namespaces", NULL, "team", NULL, &r, &st), 0);
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(r.object, "status"), "phase")),
                 "Terminating");
    kobj_result_release(&r);
    kobj_req req = {.res = kres_lookup("", "v1", "configmaps"), .ns = "team"};
    json_t *b = parse("{\"metadata\":{\"name\":\"late\"}}");
    CHECK(kobj_create(api, &req, b, &r, &st) < 0);
    CHECK_EQ_INT(st.code, 403);
    CHECK_EQ_STR(st.message, "configmaps \"late\" is forbidden: unable to create new content in "
                             "namespace team because it is being terminated");
    json_decref(b);
    settle(api);
    CHECK(!exists(api, "", "configmaps", "team", "c"));
    CHECK(!exists(api, "", "namespaces", NULL, "team"));
}

static char *owned_rs(const char *name, const char *owner_uid)
{
    return dd_asprintf(
        "{\"metadata\":{\"name\":\"%s\",\"ownerReferences\":[{\"apiVersion\":\"apps/v1\","
        "\"kind\":\"Deployment\",\"name\":\"web\",\"uid\":\"%s\",\"controller\":true,"
        "\"blockOwnerDeletion\":true}]},\"spec\":{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},"
        "\"template\":{\"metadata\":{\"labels\":{\"a\":\"b\"}},\"spec\":{\"containers\":[{"
        "\"name\":\"c\",\"image\":\"i\"}]}}}}",
        name, owner_uid);
}

static const char web_deploy[] =
    "{\"metadata\":{\"name\":\"web\"},\"spec\":{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},"
    "\"template\":{\"metadata\":{\"labels\":{\"a\":\"b\"}},\"spec\":{\"containers\":[{\"name\":"
    "\"c\",\"image\":\"i\"}]}}}}";

TEST(lifecycle_garbage_collection_policies)
{
    kobj_api *api = setup();
    kobj_result r = {0};
    kobj_status st = {0};
    /* Background */
    json_t *d = mk(api, "apps", "deployments", "default", web_deploy);
    _cleanup_free_ char *rs1 = owned_rs("rs1", uid_of(d));
    json_decref(mk(api, "apps", "replicasets", "default", rs1));
    CHECK_EQ_INT(del(api, "apps", "deployments", "default", "web",
                     "{\"propagationPolicy\":\"Background\"}", &r, &st),
                 0);
    CHECK_EQ_STR(json_string_value(json_object_get(r.object, "status")), "Success");
    kobj_result_release(&r);
    settle(api);
    CHECK(!exists(api, "apps", "replicasets", "default", "rs1"));
    json_decref(d);
    /* Orphan */
    d = mk(api, "apps", "deployments", "default", web_deploy);
    _cleanup_free_ char *rs2 = owned_rs("rs2", uid_of(d));
    json_decref(mk(api, "apps", "replicasets", "default", rs2));
    CHECK_EQ_INT(del(api, "apps", "deployments", "default", "web",
                     "{\"propagationPolicy\":\"Orphan\"}", &r, &st),
                 0);
    kobj_result_release(&r);
    settle(api);
    CHECK(exists(api, "apps", "replicasets", "default", "rs2"));
    json_decref(d);
    /* Foreground: the owner waits for its dependents */
    d = mk(api, "apps", "deployments", "default", web_deploy);
    _cleanup_free_ char *rs3 = owned_rs("rs3", uid_of(d));
    json_decref(mk(api, "apps", "replicasets", "default", rs3));
    CHECK_EQ_INT(del(api, "apps", "deployments", "default", "web",
                     "{\"propagationPolicy\":\"Foreground\"}", &r, &st),
                 0);
    kobj_result_release(&r);
    CHECK(exists(api, "apps", "deployments", "default", "web"));
    settle(api);
    CHECK(!exists(api, "apps", "replicasets", "default", "rs3"));
    CHECK(!exists(api, "apps", "deployments", "default", "web"));
    json_decref(d);
}

TEST(lifecycle_crd_registers_and_prunes)
{
    kobj_api *api = setup();
    json_decref(mk(api, "apiextensions.k8s.io", "customresourcedefinitions", NULL,
                   "{\"metadata\":{\"name\":\"widgets.example.com\"},\"spec\":{\"group\":"
                   "\"example.com\",\"scope\":\"Namespaced\",\"names\":{\"plural\":\"widgets\","
                   "\"singular\":\"widget\",\"kind\":\"Widget\",\"shortNames\":[\"wd\"]},"
                   "\"versions\":[{\"name\":\"v1\",\"served\":true,\"storage\":true,"
                   "\"subresources\":{\"status\":{}},\"schema\":{\"openAPIV3Schema\":{\"type\":"
                   "\"object\",\"properties\":{\"spec\":{\"type\":\"object\",\"properties\":{"
                   "\"size\":{\"type\":\"integer\"}}}}}}}]}}"));
    const kres_resource *r = kres_lookup("example.com", "v1", "widgets");
    CHECK(r != NULL);
    CHECK(kres_namespaced(r));
    CHECK_EQ_STR(r->short_names[0], "wd");
    json_t *w = mk(api, "example.com", "widgets", "default",
                   "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\",\"metadata\":{"
                   "\"name\":\"w1\"},\"spec\":{\"size\":3,\"color\":\"red\"}}");
    CHECK(json_object_get(json_object_get(w, "spec"), "color") == NULL);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(w, "spec"), "size")), 3);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(w, "metadata"), "generation")),
                 1);
    json_decref(w);
    events ev = {0};
    kobj_req wreq = {.res = r, .ns = "default"};
    kobj_watch_opts wo = {.resource_version = "0"};
    kobj_watch *watch = NULL;
    kobj_status st = {0};
    CHECK_EQ_INT(kobj_watch_start(api, &wreq, &wo, on_watch, &ev, &watch, &st), 0);
    kobj_result res = {0};
    CHECK_EQ_INT(del(api, "apiextensions.k8s.io", "customresourcedefinitions", NULL,
                     "widgets.example.com", NULL, &res, &st),
                 0);
    kobj_result_release(&res);
    /* the watch outlives the CRD's table entry and still sees its objects go */
    CHECK_EQ_STR(ev.log, "ADDED:w1;DELETED:w1;");
    kobj_watch_stop(watch);
    CHECK(kres_lookup("example.com", "v1", "widgets") == NULL);
    int64_t left = -1;
    CHECK_EQ_INT(kst_count_prefix(kobj_store(api), "/registry/example.com/widgets/", &left, NULL),
                 0);
    CHECK_EQ_INT(left, 0);
}

TEST(lifecycle_immortal_namespaces_and_immutable_fields)
{
    kobj_api *api = setup();
    kobj_result r = {0};
    kobj_status st = {0};
    CHECK(del(api, "", "namespaces", NULL, "kube-system", NULL, &r, &st) < 0);
    CHECK_EQ_INT(st.code, 403);
    CHECK_EQ_STR(st.message, "namespaces \"kube-system\" is forbidden: this namespace may not be "
                             "deleted");
    kobj_req req = {.res = kres_lookup("", "v1", "configmaps"), .ns = "default"};
    json_t *b = parse("{\"metadata\":{\"name\":\"x\",\"resourceVersion\":\"5\"}}");
    CHECK(kobj_create(api, &req, b, &r, &st) < 0);
    CHECK_EQ_INT(st.code, 400);
    json_decref(b);
    json_t *d = mk(api, "apps", "deployments", "default", web_deploy);
    kobj_req preq = {
        .res = kres_lookup("apps", "v1", "deployments"), .ns = "default", .name = "web"};
    json_t *p = parse("{\"spec\":{\"selector\":{\"matchLabels\":{\"a\":\"c\"}}}}");
    CHECK(kobj_patch(api, &preq, KOBJ_PATCH_MERGE, p, &r, &st) < 0);
    CHECK_EQ_INT(st.code, 422);
    CHECK(strstr(st.message, "spec.selector: Invalid value") != NULL);
    CHECK(strstr(st.message, "field is immutable") != NULL);
    kobj_status_release(&st);
    json_decref(p);
    json_decref(d);
}

TEST(lifecycle_events_expire_after_an_hour)
{
    kobj_api *api = setup();
    json_decref(mk(api, "", "events", "default",
                   "{\"metadata\":{\"name\":\"old\"},\"involvedObject\":{\"kind\":\"Pod\","
                   "\"name\":\"p\"},\"reason\":\"X\",\"lastTimestamp\":\"2020-01-01T00:00:00Z\"}"));
    json_decref(mk(api, "", "events", "default",
                   "{\"metadata\":{\"name\":\"new\"},\"involvedObject\":{\"kind\":\"Pod\","
                   "\"name\":\"p\"},\"reason\":\"X\"}"));
    dd_err e = {0};
    CHECK(kobj_run_controllers(api, &e) >= 1);
    CHECK(!exists(api, "", "events", "default", "old"));
    CHECK(exists(api, "", "events", "default", "new"));
}
