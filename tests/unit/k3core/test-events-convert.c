/* Unit tests of the events.k8s.io/v1 ↔ core/v1 Event conversion (k3core/api/convert.c): every
 * field renamed both ways and kept on a round trip, and the object layer storing both versions
 * as one set (create through one version, get/list/delete through the other), with upstream's
 * validation wording on events.k8s.io create. */
#include <stdio.h>

#include "k3core/api/objects-internal.h"
#include "tests/unit/unit.h"

static const char *const v1_full =
    "{\"apiVersion\":\"events.k8s.io/v1\",\"kind\":\"Event\","
    "\"metadata\":{\"name\":\"e1\",\"namespace\":\"default\",\"labels\":{\"a\":\"b\"}},"
    "\"eventTime\":\"2026-01-01T00:00:00.000001Z\","
    "\"series\":{\"count\":4,\"lastObservedTime\":\"2026-01-01T00:01:00.000000Z\"},"
    "\"reportingController\":\"example.com/op\",\"reportingInstance\":\"op-0\","
    "\"action\":\"Sync\",\"reason\":\"Synced\","
    "\"regarding\":{\"kind\":\"Pod\",\"name\":\"p\",\"namespace\":\"default\",\"uid\":\"u1\"},"
    "\"related\":{\"kind\":\"Node\",\"name\":\"n\"},\"note\":\"hello\",\"type\":\"Normal\","
    "\"deprecatedSource\":{\"component\":\"c\",\"host\":\"h\"},"
    "\"deprecatedFirstTimestamp\":\"2026-01-01T00:00:00Z\","
    "\"deprecatedLastTimestamp\":\"2026-01-01T00:00:09Z\",\"deprecatedCount\":7}";

static const char *const core_names[] = {"eventTime",
                                         "series",
                                         "reportingComponent",
                                         "reportingInstance",
                                         "action",
                                         "reason",
                                         "involvedObject",
                                         "related",
                                         "message",
                                         "type",
                                         "source",
                                         "firstTimestamp",
                                         "lastTimestamp",
                                         "count",
                                         "metadata",
                                         NULL};

static const kres_resource *ev1(void)
{
    const kres_resource *r = kres_lookup("events.k8s.io", "v1", "events");
    CHECK(r != NULL);
    return r;
}

TEST(events_convert_round_trip)
{
    json_t *in = json_loads(v1_full, 0, NULL);
    CHECK(in != NULL);
    const kres_resource *r = ev1();
    CHECK(kobj_storage_res(r) == kres_lookup("", "v1", "events"));
    json_t *core = kobj_to_storage(r, in);
    CHECK_EQ_STR(json_string_value(json_object_get(core, "apiVersion")), "v1");
    for (size_t i = 0; core_names[i]; i++)
        CHECK(json_object_get(core, core_names[i]) != NULL);
    CHECK_EQ_STR(json_string_value(json_object_get(core, "message")), "hello");
    CHECK_EQ_STR(json_string_value(json_object_get(core, "reportingComponent")), "example.com/op");
    CHECK_EQ_INT((int)json_integer_value(json_object_get(core, "count")), 7);
    CHECK(json_object_get(core, "note") == NULL && json_object_get(core, "regarding") == NULL);
    CHECK_EQ_INT((int)json_object_size(core), (int)json_object_size(in));
    /* and back: every field as it was */
    json_t *back = kobj_from_storage(r, json_incref(core));
    CHECK(json_equal(back, in));
    json_t *again = kobj_to_storage(r, back);
    CHECK(json_equal(again, core)); /* core → v1 → core too */
    json_decref(again);
    json_decref(back);
    json_decref(core);
    json_decref(in);
    /* other kinds pass through untouched */
    const kres_resource *cm = kres_lookup("", "v1", "configmaps");
    json_t *o = json_pack("{s:s}", "message", "x");
    CHECK(kobj_storage_res(cm) == cm);
    json_t *same = kobj_to_storage(cm, o);
    CHECK(same == o);
    json_decref(same);
    CHECK(kobj_from_storage(cm, o) == o);
    json_decref(o);
}

static kobj_api *open_api(kst_store **store)
{
    dd_err e = {0};
    kobj_api *api = NULL;
    if (kst_open(":memory:", NULL, store, &e) < 0 || kobj_open(*store, NULL, &api, &e) < 0)
        unit_fail(__FILE__, __LINE__, "open: %s", e.msg);
    return api;
}

TEST(events_convert_one_storage)
{
    kst_store *store = NULL;
    kobj_api *api = open_api(&store);
    const kres_resource *core = kres_lookup("", "v1", "events");
    kobj_req v1req = {.res = ev1(), .ns = "default", .field_manager = "t"};
    kobj_result res = {0};
    kobj_status st = {0};
    json_t *body = json_loads(v1_full, 0, NULL);
    CHECK(body != NULL);
    json_object_del(body, "series");
    json_object_del(body, "deprecatedSource");
    json_object_del(body, "deprecatedFirstTimestamp");
    json_object_del(body, "deprecatedLastTimestamp");
    json_object_del(body, "deprecatedCount");
    CHECK_EQ_INT(kobj_create(api, &v1req, body, &res, &st), 0);
    kobj_result_release(&res);
    /* read through core/v1 */
    kobj_req creq = {.res = core, .ns = "default", .name = "e1"};
    json_t *got = NULL;
    CHECK_EQ_INT(kobj_get(api, &creq, &got, &st), 0);
    CHECK_EQ_STR(json_string_value(json_object_get(got, "kind")), "Event");
    CHECK_EQ_STR(json_string_value(json_object_get(got, "apiVersion")), "v1");
    CHECK_EQ_STR(json_string_value(json_object_get(got, "message")), "hello");
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(got, "involvedObject"), "name")),
                 "p");
    json_decref(got);
    /* list through events.k8s.io with a regarding.* field selector */
    kobj_list_opts lo = {.field_selector = "regarding.name=p"};
    json_t *list = NULL;
    kobj_req lreq = {.res = ev1(), .ns = "default"};
    CHECK_EQ_INT(kobj_list(api, &lreq, &lo, &list, &st), 0);
    json_t *items = json_object_get(list, "items");
    CHECK_EQ_INT((int)json_array_size(items), 1);
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(items, 0), "note")), "hello");
    json_decref(list);
    /* events.k8s.io update: the series may change, what the Event reports may not */
    kobj_req ureq = {.res = ev1(), .ns = "default", .name = "e1", .field_manager = "t"};
    json_t *patch = json_loads("{\"series\":{\"count\":2,\"lastObservedTime\":"
                               "\"2026-01-01T00:02:00.000000Z\"}}",
                               0, NULL);
    CHECK_EQ_INT(kobj_patch(api, &ureq, KOBJ_PATCH_MERGE, patch, &res, &st), 0);
    kobj_result_release(&res);
    json_decref(patch);
    patch = json_loads("{\"note\":\"changed\",\"series\":{\"count\":1}}", 0, NULL);
    CHECK(kobj_patch(api, &ureq, KOBJ_PATCH_MERGE, patch, &res, &st) < 0);
    CHECK_EQ_INT(st.code, 422);
    CHECK_EQ_STR(st.message, "Event.events.k8s.io \"e1\" is invalid: [series.count: Invalid "
                             "value: \"\": should be at least 2, message: Invalid value: "
                             "\"changed\": field is immutable]");
    kobj_status_release(&st);
    json_decref(patch);
    /* delete through core: gone for events.k8s.io */
    CHECK_EQ_INT(kobj_do_delete(api, core, "default", "e1", &st), 0);
    v1req.name = "e1";
    CHECK(kobj_get(api, &v1req, &got, &st) < 0);
    CHECK_EQ_INT(st.code, 404);
    CHECK_EQ_STR(st.message, "events.events.k8s.io \"e1\" not found");
    kobj_status_release(&st);
    json_decref(body);
    kobj_close(api);
    kst_close(store);
}

TEST(events_convert_v1_validation)
{
    kst_store *store = NULL;
    kobj_api *api = open_api(&store);
    kobj_req req = {.res = ev1(), .ns = "default", .field_manager = "t"};
    kobj_result res = {0};
    kobj_status st = {0};
    json_t *body = json_loads("{\"metadata\":{\"name\":\"bad\"},\"type\":\"Odd\","
                              "\"deprecatedCount\":2}",
                              0, NULL);
    CHECK(kobj_create(api, &req, body, &res, &st) < 0);
    CHECK_EQ_INT(st.code, 422);
    CHECK_EQ_STR(st.message, "Event.events.k8s.io \"bad\" is invalid: [eventTime: Required value, "
                             "type: Invalid value: \"\": has invalid value: Odd, count: "
                             "Invalid value: \"\": needs to be unset]");
    kobj_status_release(&st);
    /* with eventTime: the reporting fields are required */
    json_object_set_new(body, "eventTime", json_string("2026-01-01T00:00:00.000000Z"));
    json_object_set_new(body, "type", json_string("Normal"));
    json_object_del(body, "deprecatedCount");
    CHECK(kobj_create(api, &req, body, &res, &st) < 0);
    CHECK(strstr(st.message, "[reportingController: Required value, reportingController: Invalid "
                             "value: \"\": name part must be non-empty, reportingController: "
                             "Invalid value: \"\": name part must consist of") != NULL);
    CHECK_EQ_INT((int)json_array_size(st.causes), 6);
    kobj_status_release(&st);
    json_object_set_new(body, "reportingController", json_string("bad controller"));
    CHECK(kobj_create(api, &req, body, &res, &st) < 0);
    CHECK(strstr(st.message,
                 "Event.events.k8s.io \"bad\" is invalid: [reportingController: "
                 "Invalid value: \"bad controller\": name part must consist of") == st.message);
    CHECK(strstr(st.message, "reportingInstance: Required value, action: Required value, reason: "
                             "Required value]") != NULL);
    CHECK_EQ_INT((int)json_array_size(st.causes), 4);
    kobj_status_release(&st);
    json_decref(body);
    kobj_close(api);
    kst_close(store);
}

static bool v1_exists(kobj_api *api, const char *name)
{
    kobj_req req = {.res = ev1(), .ns = "default", .name = name};
    kobj_status st = {0};
    json_t *o = NULL;
    int r = kobj_get(api, &req, &o, &st);
    kobj_status_release(&st);
    json_decref(o);
    return r == 0;
}

/* events.k8s.io Events expire like core ones; an ongoing series keeps an old Event. */
TEST(events_convert_v1_events_expire)
{
    kst_store *store = NULL;
    kobj_api *api = open_api(&store);
    char now[32];
    kobj_now(now);
    const char *const series[] = {NULL, now};
    const char *const names[] = {"old", "ongoing"};
    for (size_t i = 0; i < 2; i++) {
        kobj_req req = {.res = ev1(), .ns = "default", .field_manager = "t"};
        kobj_result res = {0};
        kobj_status st = {0};
        json_t *b = json_loads(v1_full, 0, NULL);
        CHECK(b != NULL);
        json_object_set_new(json_object_get(b, "metadata"), "name", json_string(names[i]));
        json_object_set_new(b, "eventTime", json_string("2020-01-01T00:00:00.000000Z"));
        json_object_del(b, "deprecatedSource");
        json_object_del(b, "deprecatedFirstTimestamp");
        json_object_del(b, "deprecatedLastTimestamp");
        json_object_del(b, "deprecatedCount");
        if (series[i])
            json_object_set_new(json_object_get(b, "series"), "lastObservedTime",
                                json_string(series[i]));
        else
            json_object_del(b, "series");
        CHECK_EQ_INT(kobj_create(api, &req, b, &res, &st), 0);
        kobj_result_release(&res);
        json_decref(b);
    }
    dd_err e = {0};
    CHECK(kobj_run_controllers(api, &e) >= 1);
    CHECK(!v1_exists(api, "old"));
    CHECK(v1_exists(api, "ongoing"));
    kobj_close(api);
    kst_close(store);
}

/* core/v1 Events get upstream's legacy checks too: an Event with eventTime needs the reporting
 * fields, and the namespaces must agree. */
TEST(events_convert_core_legacy_validation)
{
    kst_store *store = NULL;
    kobj_api *api = open_api(&store);
    kobj_req req = {
        .res = kres_lookup("", "v1", "events"), .ns = "kube-public", .field_manager = "t"};
    kobj_result res = {0};
    kobj_status st = {0};
    json_t *body = json_loads("{\"metadata\":{\"name\":\"c\"},\"involvedObject\":{\"kind\":"
                              "\"Pod\",\"name\":\"p\",\"namespace\":\"default\"},"
                              "\"reason\":\"X\"}",
                              0, NULL);
    CHECK(kobj_create(api, &req, body, &res, &st) < 0);
    CHECK_EQ_STR(st.message, "Event \"c\" is invalid: involvedObject.namespace: Invalid value: "
                             "\"default\": does not match event.namespace");
    kobj_status_release(&st);
    json_object_set_new(json_object_get(body, "involvedObject"), "namespace",
                        json_string("kube-public"));
    json_object_set_new(body, "eventTime", json_string("2026-01-01T00:00:00.000000Z"));
    json_object_set_new(body, "reportingComponent", json_string("kubelet"));
    json_object_set_new(body, "reportingInstance", json_string("n1"));
    CHECK(kobj_create(api, &req, body, &res, &st) < 0);
    CHECK_EQ_STR(st.message, "Event \"c\" is invalid: action: Required value");
    kobj_status_release(&st);
    json_object_set_new(body, "action", json_string("Pull"));
    CHECK_EQ_INT(kobj_create(api, &req, body, &res, &st), 0);
    kobj_result_release(&res);
    json_decref(body);
    kobj_close(api);
    kst_close(store);
}
