/* Unit tests of the object layer (k3core/api/objects.h) on an in-memory store: bootstrap
 * objects, create/get/update/delete with upstream's messages, defaults, validation causes,
 * fieldValidation, generation, subresources, selectors and paging, watches, namespace
 * lifecycle and garbage collection. */
#include <stdio.h>
#include <sys/wait.h>

#include "k3core/api/objects.h"
#include "tests/unit/unit.h"

typedef struct env {
    kst_store *store;
    kobj_api *api;
} env;

static env setup(void)
{
    env v = {0};
    dd_err e = {0};
    if (kst_open(":memory:", NULL, &v.store, &e) < 0)
        unit_fail(__FILE__, __LINE__, "store: %s", e.msg);
    kobj_config cfg = {.ca_pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"};
    if (kobj_open(v.store, &cfg, &v.api, &e) < 0)
        unit_fail(__FILE__, __LINE__, "kobj_open: %s", e.msg);
    return v;
}

static const kres_resource *res(const char *group, const char *resource)
{
    const kres_resource *r = kres_lookup_any_version(group, resource);
    CHECK(r != NULL);
    return r;
}

static json_t *parse(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    if (!j)
        unit_fail(__FILE__, __LINE__, "bad test JSON: %s", text);
    return j;
}

/* Creates and returns the stored object (caller decrefs); fails the test on error. */
static json_t *create(env *v, const char *group, const char *resource, const char *ns,
                      const char *body)
{
    kobj_req req = {.res = res(group, resource), .ns = ns, .field_manager = "test"};
    kobj_result r = {0};
    kobj_status st = {0};
    json_t *b = parse(body);
    if (kobj_create(v->api, &req, b, &r, &st) < 0)
        unit_fail(__FILE__, __LINE__, "create: %d %s", st.code, st.message);
    json_decref(b);
    CHECK_EQ_INT(r.code, 201);
    json_t *o = json_incref(r.object);
    kobj_result_release(&r);
    return o;
}

static const char *str_at(const json_t *o, const char *path)
{
    _cleanup_free_ char *copy = dd_strdup(path);
    char *save = NULL;
    const json_t *cur = o;
    for (char *p = strtok_r(copy, ".", &save); p && cur; p = strtok_r(NULL, ".", &save))
        cur = json_is_array(cur) ? json_array_get(cur, (size_t)atoi(p)) : json_object_get(cur, p);
    return json_string_value(cur);
}

static json_int_t int_at(const json_t *o, const char *path)
{
    _cleanup_free_ char *copy = dd_strdup(path);
    char *save = NULL;
    const json_t *cur = o;
    for (char *p = strtok_r(copy, ".", &save); p && cur; p = strtok_r(NULL, ".", &save))
        cur = json_is_array(cur) ? json_array_get(cur, (size_t)atoi(p)) : json_object_get(cur, p);
    return json_integer_value(cur);
}

static const json_t *value_at(const json_t *o, const char *path)
{
    _cleanup_free_ char *copy = dd_strdup(path);
    char *save = NULL;
    const json_t *cur = o;
    for (char *p = strtok_r(copy, ".", &save); p && cur; p = strtok_r(NULL, ".", &save))
        cur = json_is_array(cur) ? json_array_get(cur, (size_t)atoi(p)) : json_object_get(cur, p);
    return cur;
}

TEST(objects_bootstrap)
{
    env v = setup();
    kobj_req req = {.res = res("", "namespaces"), .name = "kube-system"};
    json_t *o;
    kobj_status st = {0};
    CHECK_EQ_INT(kobj_get(v.api, &req, &o, &st), 0);
    CHECK_EQ_STR(str_at(o, "status.phase"), "Active");
    CHECK_EQ_STR(str_at(o, "spec.finalizers.0"), "kubernetes");
    json_decref(o);
    kobj_req sa = {.res = res("", "serviceaccounts"), .ns = "kube-public", .name = "default"};
    CHECK_EQ_INT(kobj_get(v.api, &sa, &o, &st), 0);
    json_decref(o);
    kobj_req cm = {.res = res("", "configmaps"), .ns = "default", .name = "kube-root-ca.crt"};
    CHECK_EQ_INT(kobj_get(v.api, &cm, &o, &st), 0);
    CHECK(strstr(json_string_value(json_object_get(json_object_get(o, "data"), "ca.crt")),
                 "BEGIN CERTIFICATE") != NULL);
    json_decref(o);
    kobj_req svc = {.res = res("", "services"), .ns = "default", .name = "kubernetes"};
    CHECK_EQ_INT(kobj_get(v.api, &svc, &o, &st), 0);
    CHECK_EQ_STR(str_at(o, "spec.clusterIP"), "10.43.0.1");
    json_decref(o);
}

TEST(objects_create_get_errors_and_defaults)
{
    env v = setup();
    json_t *pod = create(&v, "", "pods", "default",
                         "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"generateName\":"
                         "\"web-\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":"
                         "\"nginx\"},{\"name\":\"d\",\"image\":\"busybox:1.36\"}]}}");
    const char *name = str_at(pod, "metadata.name");
    CHECK(dd_startswith(name, "web-") && strlen(name) == 9);
    CHECK(str_at(pod, "metadata.uid") && strlen(str_at(pod, "metadata.uid")) == 36);
    CHECK(dd_endswith(str_at(pod, "metadata.creationTimestamp"), "Z"));
    CHECK(str_at(pod, "metadata.resourceVersion") != NULL);
    CHECK_EQ_STR(str_at(pod, "spec.restartPolicy"), "Always");
    CHECK_EQ_STR(str_at(pod, "spec.dnsPolicy"), "ClusterFirst");
    CHECK_EQ_STR(str_at(pod, "spec.serviceAccountName"), "default");
    CHECK_EQ_INT(int_at(pod, "spec.terminationGracePeriodSeconds"), 30);
    CHECK_EQ_STR(str_at(pod, "spec.containers.0.imagePullPolicy"), "Always");
    CHECK_EQ_STR(str_at(pod, "spec.containers.1.imagePullPolicy"), "IfNotPresent");
    CHECK_EQ_STR(str_at(pod, "spec.containers.0.terminationMessagePath"), "/dev/termination-log");
    CHECK_EQ_STR(str_at(pod, "status.phase"), "Pending");
    CHECK_EQ_STR(str_at(pod, "status.qosClass"), "BestEffort");
    CHECK(json_object_get(json_object_get(pod, "metadata"), "generation") == NULL);
    json_decref(pod);

    json_t *cm = create(&v, "", "configmaps", "default", "{\"metadata\":{\"name\":\"x\"}}");
    json_decref(cm);
    kobj_req req = {.res = res("", "configmaps"), .ns = "default"};
    kobj_result r = {0};
    kobj_status st = {0};
    json_t *b = parse("{\"metadata\":{\"name\":\"x\"}}");
    CHECK(kobj_create(v.api, &req, b, &r, &st) < 0);
    CHECK_EQ_INT(st.code, 409);
    CHECK_EQ_STR(st.reason, "AlreadyExists");
    CHECK_EQ_STR(st.message, "configmaps \"x\" already exists");
    json_decref(b);
    req.name = "nope";
    json_t *o;
    CHECK(kobj_get(v.api, &req, &o, &st) < 0);
    CHECK_EQ_STR(st.message, "configmaps \"nope\" not found");
    json_t *sj = kobj_status_json(&st);
    CHECK_EQ_INT(int_at(sj, "code"), 404);
    CHECK_EQ_STR(str_at(sj, "details.kind"), "configmaps");
    json_decref(sj);
    kobj_req nsreq = {.res = res("", "configmaps"), .ns = "missing"};
    b = parse("{\"metadata\":{\"name\":\"y\"}}");
    CHECK(kobj_create(v.api, &nsreq, b, &r, &st) < 0);
    CHECK_EQ_STR(st.message, "namespaces \"missing\" not found");
    json_decref(b);
}

/* upstream 1.33's v1 SetDefaults_CSIDriver, _PriorityClass and flowcontrol v1's, stored */
TEST(objects_defaults_storage_scheduling_flowcontrol)
{
    env v = setup();
    json_t *d = create(&v, "storage.k8s.io", "csidrivers", NULL,
                       "{\"metadata\":{\"name\":\"d\"},\"spec\":{\"podInfoOnMount\":true}}");
    CHECK(json_is_true(value_at(d, "spec.attachRequired")));
    CHECK(json_is_true(value_at(d, "spec.podInfoOnMount")));
    static const char *const off[] = {"spec.storageCapacity", "spec.requiresRepublish",
                                      "spec.seLinuxMount"};
    for (size_t i = 0; i < DD_ARRAY_SIZE(off); i++)
        CHECK(json_is_false(value_at(d, off[i])));
    CHECK_EQ_STR(str_at(d, "spec.fsGroupPolicy"), "ReadWriteOnceWithFSType");
    CHECK_EQ_STR(str_at(d, "spec.volumeLifecycleModes.0"), "Persistent");
    CHECK_EQ_INT(json_array_size(value_at(d, "spec.volumeLifecycleModes")), 1);
    json_decref(d);
    d = create(&v, "storage.k8s.io", "csidrivers", NULL,
               "{\"metadata\":{\"name\":\"e\"},\"spec\":{\"attachRequired\":false,"
               "\"volumeLifecycleModes\":[\"Ephemeral\"]}}");
    CHECK(json_is_false(value_at(d, "spec.attachRequired")));
    CHECK_EQ_STR(str_at(d, "spec.volumeLifecycleModes.0"), "Ephemeral");
    CHECK_EQ_INT(json_array_size(value_at(d, "spec.volumeLifecycleModes")), 1);
    json_decref(d);

    json_t *pc = create(&v, "scheduling.k8s.io", "priorityclasses", NULL,
                        "{\"metadata\":{\"name\":\"p\"},\"value\":5}");
    CHECK_EQ_STR(str_at(pc, "preemptionPolicy"), "PreemptLowerPriority");
    json_decref(pc);
    pc = create(&v, "scheduling.k8s.io", "priorityclasses", NULL,
                "{\"metadata\":{\"name\":\"q\"},\"value\":5,\"preemptionPolicy\":\"Never\"}");
    CHECK_EQ_STR(str_at(pc, "preemptionPolicy"), "Never");
    json_decref(pc);

    /* matchingPrecedence is a plain int32 upstream: 0 is unset */
    json_t *fs = create(&v, "flowcontrol.apiserver.k8s.io", "flowschemas", NULL,
                        "{\"metadata\":{\"name\":\"f\"},\"spec\":{\"matchingPrecedence\":0,"
                        "\"priorityLevelConfiguration\":{\"name\":\"l\"}}}");
    CHECK_EQ_INT(int_at(fs, "spec.matchingPrecedence"), 1000);
    json_decref(fs);
    json_t *pl = create(&v, "flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations", NULL,
                        "{\"metadata\":{\"name\":\"l\"},\"spec\":{\"type\":\"Limited\","
                        "\"limited\":{\"limitResponse\":{\"type\":\"Queue\",\"queuing\":{"
                        "\"handSize\":4}}}}}");
    CHECK_EQ_INT(int_at(pl, "spec.limited.nominalConcurrencyShares"), 30);
    CHECK(json_is_integer(value_at(pl, "spec.limited.lendablePercent")));
    CHECK_EQ_INT(int_at(pl, "spec.limited.lendablePercent"), 0);
    CHECK_EQ_INT(int_at(pl, "spec.limited.limitResponse.queuing.queues"), 64);
    CHECK_EQ_INT(int_at(pl, "spec.limited.limitResponse.queuing.handSize"), 4);
    CHECK_EQ_INT(int_at(pl, "spec.limited.limitResponse.queuing.queueLengthLimit"), 50);
    json_decref(pl);
    /* v1's nominalConcurrencyShares is a pointer: an explicit 0 stays; Reject has no queuing */
    pl = create(&v, "flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations", NULL,
                "{\"metadata\":{\"name\":\"jail\"},\"spec\":{\"type\":\"Limited\","
                "\"limited\":{\"nominalConcurrencyShares\":0,\"limitResponse\":{\"type\":"
                "\"Reject\"}}}}");
    CHECK(json_is_integer(value_at(pl, "spec.limited.nominalConcurrencyShares")));
    CHECK_EQ_INT(int_at(pl, "spec.limited.nominalConcurrencyShares"), 0);
    CHECK(value_at(pl, "spec.limited.limitResponse.queuing") == NULL);
    json_decref(pl);
    pl = create(&v, "flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations", NULL,
                "{\"metadata\":{\"name\":\"x\"},\"spec\":{\"type\":\"Exempt\","
                "\"exempt\":{}}}");
    CHECK(json_is_integer(value_at(pl, "spec.exempt.nominalConcurrencyShares")));
    CHECK(json_is_integer(value_at(pl, "spec.exempt.lendablePercent")));
    json_decref(pl);
}

TEST(objects_update_conflict_and_generation)
{
    env v = setup();
    json_t *d = create(&v, "apps", "deployments", "default",
                       "{\"metadata\":{\"name\":\"web\",\"labels\":{\"app\":\"web\"}},\"spec\":{"
                       "\"selector\":{\"matchLabels\":{\"app\":\"web\"}},\"template\":{"
                       "\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{"
                       "\"name\":\"c\",\"image\":\"nginx\"}]}}}}");
    CHECK_EQ_INT(int_at(d, "metadata.generation"), 1);
    CHECK_EQ_INT(int_at(d, "spec.replicas"), 1);
    CHECK_EQ_STR(str_at(d, "spec.strategy.rollingUpdate.maxSurge"), "25%");
    CHECK_EQ_INT(int_at(d, "spec.revisionHistoryLimit"), 10);
    CHECK_EQ_INT(int_at(d, "spec.progressDeadlineSeconds"), 600);
    kobj_req req = {
        .res = res("apps", "deployments"), .ns = "default", .name = "web", .field_manager = "test"};
    json_t *upd = json_deep_copy(d);
    json_object_set_new(json_object_get(upd, "spec"), "replicas", json_integer(3));
    kobj_result r = {0};
    kobj_status st = {0};
    CHECK_EQ_INT(kobj_update(v.api, &req, upd, &r, &st), 0);
    CHECK_EQ_INT(int_at(r.object, "metadata.generation"), 2);
    kobj_result_release(&r);
    /* stale resourceVersion */
    CHECK(kobj_update(v.api, &req, upd, &r, &st) < 0);
    CHECK_EQ_INT(st.code, 409);
    CHECK_EQ_STR(st.message, "Operation cannot be fulfilled on deployments.apps \"web\": the "
                             "object has been modified; please apply your changes to the latest "
                             "version and try again");
    /* status subresource ignores spec, main resource ignores status */
    json_t *cur;
    CHECK_EQ_INT(kobj_get(v.api, &req, &cur, &st), 0);
    json_object_set_new(cur, "status", parse("{\"replicas\":3}"));
    json_object_set_new(json_object_get(cur, "spec"), "replicas", json_integer(9));
    req.subresource = "status";
    CHECK_EQ_INT(kobj_update(v.api, &req, cur, &r, &st), 0);
    CHECK_EQ_INT(int_at(r.object, "status.replicas"), 3);
    CHECK_EQ_INT(int_at(r.object, "spec.replicas"), 3);
    CHECK_EQ_INT(int_at(r.object, "metadata.generation"), 2);
    kobj_result_release(&r);
    json_decref(cur);
    json_decref(upd);
    json_decref(d);
}

TEST(objects_validation_causes_and_field_validation)
{
    env v = setup();
    kobj_req req = {.res = res("", "pods"), .ns = "default", .validation = KOBJ_VALIDATE_STRICT};
    kobj_result r = {0};
    kobj_status st = {0};
    json_t *b = parse("{\"metadata\":{\"name\":\"Bad_Name\"},\"spec\":{\"containers\":[{"
                      "\"name\":\"c\"}]}}");
    CHECK(kobj_create(v.api, &req, b, &r, &st) < 0);
    CHECK_EQ_INT(st.code, 422);
    CHECK(dd_startswith(st.message, "Pod \"Bad_Name\" is invalid: [metadata.name: Invalid value: "
                                    "\"Bad_Name\": a lowercase RFC 1123 subdomain"));
    CHECK_EQ_INT(json_array_size(st.causes), 2);
    CHECK_EQ_STR(str_at(st.causes, "1.field"), "spec.containers[0].image");
    CHECK_EQ_STR(str_at(st.causes, "1.reason"), "FieldValueRequired");
    kobj_status_release(&st);
    json_decref(b);
    b = parse("{\"metadata\":{\"name\":\"p\"},\"spec\":{\"foo\":1,\"containers\":[{\"name\":"
              "\"c\",\"image\":\"i\",\"bar\":2}]}}");
    CHECK(kobj_create(v.api, &req, b, &r, &st) < 0);
    CHECK_EQ_INT(st.code, 400);
    CHECK_EQ_STR(st.message, "strict decoding error: unknown field \"spec.foo\", unknown field "
                             "\"spec.containers[0].bar\"");
    req.validation = KOBJ_VALIDATE_WARN;
    CHECK_EQ_INT(kobj_create(v.api, &req, b, &r, &st), 0);
    CHECK_EQ_INT(dd_strv_len(r.warnings), 2);
    CHECK_EQ_STR(r.warnings[0], "unknown field \"spec.foo\"");
    CHECK(json_object_get(json_object_get(r.object, "spec"), "foo") == NULL);
    kobj_result_release(&r);
    json_decref(b);
    b = parse("{\"metadata\":{\"name\":\"q\"},\"spec\":{\"containers\":[{\"name\":\"c\","
              "\"image\":\"i\",\"ports\":[{\"containerPort\":\"80\"}]}]}}");
    CHECK(kobj_create(v.api, &req, b, &r, &st) < 0);
    CHECK_EQ_INT(st.code, 400);
    CHECK_EQ_STR(st.message, "Pod in version \"v1\" cannot be handled as a Pod: json: cannot "
                             "unmarshal string into Go struct field "
                             "spec.containers[0].ports[0].containerPort of type integer");
    json_decref(b);
    b = parse("{\"metadata\":{\"name\":\"q\"},\"spec\":{\"containers\":[{\"name\":\"c\","
              "\"image\":\"i\",\"resources\":{\"limits\":{\"cpu\":\"1x\"}}}]}}");
    CHECK(kobj_create(v.api, &req, b, &r, &st) < 0);
    CHECK_EQ_INT(st.code, 400);
    CHECK(strstr(st.message, "quantities must match the regular expression") != NULL);
    json_decref(b);
}

TEST(objects_service_allocation)
{
    env v = setup();
    json_t *s = create(&v, "", "services", "default",
                       "{\"metadata\":{\"name\":\"web\"},\"spec\":{\"type\":\"NodePort\","
                       "\"selector\":{\"app\":\"web\"},\"ports\":[{\"port\":80}]}}");
    CHECK(dd_startswith(str_at(s, "spec.clusterIP"), "10.43."));
    CHECK_EQ_STR(str_at(s, "spec.clusterIPs.0"), str_at(s, "spec.clusterIP"));
    json_int_t np = int_at(s, "spec.ports.0.nodePort");
    CHECK(np >= 30000 && np <= 32767);
    CHECK_EQ_INT(int_at(s, "spec.ports.0.targetPort"), 80);
    CHECK_EQ_STR(str_at(s, "spec.ports.0.protocol"), "TCP");
    CHECK_EQ_STR(str_at(s, "spec.sessionAffinity"), "None");
    CHECK_EQ_STR(str_at(s, "spec.ipFamilyPolicy"), "SingleStack");
    json_decref(s);
    kobj_req req = {.res = res("", "services"), .ns = "default"};
    kobj_result r = {0};
    kobj_status st = {0};
    json_t *b = parse("{\"metadata\":{\"name\":\"dup\"},\"spec\":{\"clusterIP\":\"10.43.0.1\","
                      "\"ports\":[{\"port\":80}]}}");
    CHECK(kobj_create(v.api, &req, b, &r, &st) < 0);
    CHECK_EQ_INT(st.code, 422);
    CHECK(strstr(st.message, "provided IP is already allocated") != NULL);
    json_decref(b);
}

static json_t *list(env *v, const char *resource, const char *ns, const char *ls, const char *fs,
                    int64_t limit, const char *cont)
{
    kobj_req req = {.res = res("", resource), .ns = ns};
    kobj_list_opts o = {
        .label_selector = ls, .field_selector = fs, .limit = limit, .continue_token = cont};
    json_t *l = NULL;
    kobj_status st = {0};
    if (kobj_list(v->api, &req, &o, &l, &st) < 0)
        unit_fail(__FILE__, __LINE__, "list: %s", st.message);
    return l;
}

TEST(objects_list_selectors_and_paging)
{
    env v = setup();
    static const char *const specs[] = {
        "{\"metadata\":{\"name\":\"a\",\"labels\":{\"app\":\"web\",\"tier\":\"fe\"}}}",
        "{\"metadata\":{\"name\":\"b\",\"labels\":{\"app\":\"db\"}}}",
        "{\"metadata\":{\"name\":\"c\",\"labels\":{\"app\":\"web\"}}}",
    };
    for (size_t i = 0; i < DD_ARRAY_SIZE(specs); i++)
        json_decref(create(&v, "", "configmaps", "default", specs[i]));
    json_t *l = list(&v, "configmaps", "default", "app=web", NULL, 0, NULL);
    CHECK_EQ_INT(json_array_size(json_object_get(l, "items")), 2);
    CHECK_EQ_STR(str_at(l, "kind"), "ConfigMapList");
    json_decref(l);
    l = list(&v, "configmaps", "default", "app in (db),!tier", NULL, 0, NULL);
    CHECK_EQ_INT(json_array_size(json_object_get(l, "items")), 1);
    json_decref(l);
    l = list(&v, "configmaps", "default", "tier", "metadata.name!=b", 0, NULL);
    CHECK_EQ_INT(json_array_size(json_object_get(l, "items")), 1);
    json_decref(l);
    l = list(&v, "configmaps", "default", "app notin (web)", "metadata.name=b", 0, NULL);
    CHECK_EQ_INT(json_array_size(json_object_get(l, "items")), 1);
    json_decref(l);
    /* 3 created + kube-root-ca.crt; pages of 2 */
    l = list(&v, "configmaps", "default", NULL, NULL, 2, NULL);
    CHECK_EQ_INT(json_array_size(json_object_get(l, "items")), 2);
    const char *cont = str_at(l, "metadata.continue");
    CHECK(cont != NULL);
    CHECK_EQ_INT(int_at(l, "metadata.remainingItemCount"), 2);
    json_t *l2 = list(&v, "configmaps", "default", NULL, NULL, 2, cont);
    CHECK_EQ_INT(json_array_size(json_object_get(l2, "items")), 2);
    CHECK(str_at(l2, "metadata.continue") == NULL);
    CHECK_EQ_STR(str_at(l2, "items.0.metadata.name"), "c");
    json_decref(l2);
    json_decref(l);
    kobj_req req = {.res = res("", "configmaps"), .ns = "default"};
    kobj_list_opts o = {.field_selector = "spec.nodeName=x"};
    kobj_status st = {0};
    CHECK(kobj_list(v.api, &req, &o, &l, &st) < 0);
    CHECK_EQ_STR(st.message, "field label not supported: spec.nodeName");
    kobj_req pods = {.res = res("", "pods")};
    o.field_selector = "spec.nodeName=x,status.phase!=Running";
    CHECK_EQ_INT(kobj_list(v.api, &pods, &o, &l, &st), 0);
    json_decref(l);
}

static void body_reopen(const char *path)
{
    for (int round = 0; round < 2; round++) {
        kst_store *s = NULL;
        kobj_api *api = NULL;
        dd_err e = {0};
        if (kst_open(path, NULL, &s, &e) < 0 || kobj_open(s, NULL, &api, &e) < 0)
            unit_fail(__FILE__, __LINE__, "round %d: %s", round, e.msg);
        kobj_close(api);
        kst_close(s);
    }
}

/* Bootstrap on an existing store (a restart) finds its objects and creates nothing twice. */
TEST(objects_bootstrap_again_after_restart)
{
    char tmpl[] = "/tmp/kobj-test-XXXXXX";
    char *dir = mkdtemp(tmpl);
    CHECK(dir != NULL);
    _cleanup_free_ char *path = dd_asprintf("%s/state.db", dir);
    pid_t pid = fork();
    if (pid == 0) {
        body_reopen(path);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    dd_rm_rf(dir, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
