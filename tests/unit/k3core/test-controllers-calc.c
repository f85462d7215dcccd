/* Unit tests of the workload controllers' pure parts (k3core/controllers/calc.c): the
 * pod-template hash, maxSurge/maxUnavailable arithmetic and the scale-down order of pods. */
#include <stdio.h>

#include "k3core/controllers/controllers.h"
#include "tests/unit/unit.h"

static json_t *js(const char *text)
{
    json_error_t err;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &err);
    if (!v)
        unit_fail(__FILE__, __LINE__, "bad JSON %s: %s", text, err.text);
    return v;
}

TEST(template_hash_stable_and_distinct)
{
    json_t *a = js("{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":"
                   "[{\"name\":\"c\",\"image\":\"busybox\"}]}}");
    /* same template, other key order, a hash label and a null member: same hash */
    json_t *b = js("{\"spec\":{\"containers\":[{\"image\":\"busybox\",\"name\":\"c\"}]},"
                   "\"metadata\":{\"creationTimestamp\":null,\"labels\":{\"app\":\"web\","
                   "\"pod-template-hash\":\"xyz\"}}}");
    json_t *c = js("{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":"
                   "[{\"name\":\"c\",\"image\":\"busybox:1\"}]}}");
    char ha[16], hb[16], hc[16], h1[16];
    kctl_template_hash(a, 0, ha);
    kctl_template_hash(b, 0, hb);
    kctl_template_hash(c, 0, hc);
    kctl_template_hash(a, 1, h1);
    CHECK_EQ_STR(ha, hb);
    CHECK(strcmp(ha, hc) != 0);
    CHECK(strcmp(ha, h1) != 0); /* collisionCount changes the name */
    CHECK(strlen(ha) >= 6 && strlen(ha) <= 10);
    for (const char *p = ha; *p; p++)
        CHECK(strchr("bcdfghjklmnpqrstvwxz2456789", *p));
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

static void fence(const char *surge, const char *unavail, int total, int want_s, int want_u)
{
    json_t *s = js(surge), *u = js(unavail);
    int gs = -1, gu = -1;
    if (kctl_resolve_fenceposts(s, u, total, &gs, &gu) < 0)
        unit_fail(__FILE__, __LINE__, "fenceposts %s %s failed", surge, unavail);
    if (gs != want_s || gu != want_u)
        unit_fail(__FILE__, __LINE__, "%s/%s of %d: got %d/%d, want %d/%d", surge, unavail, total,
                  gs, gu, want_s, want_u);
    json_decref(s);
    json_decref(u);
}

TEST(fenceposts)
{
    fence("\"25%\"", "\"25%\"", 10, 3, 2); /* surge rounds up, unavailable down */
    fence("\"25%\"", "\"25%\"", 1, 1, 0);
    fence("1", "0", 3, 1, 0);
    fence("0", "0", 3, 0, 1); /* both zero: one may be unavailable */
    fence("\"0%\"", "\"0%\"", 3, 0, 1);
    fence("\"100%\"", "\"50%\"", 5, 5, 2);
    fence("2", "\"50%\"", 2, 2, 1);
    fence("null", "null", 4, 0, 1);
    int s, u;
    json_t *bad = js("\"x%\""), *neg = js("-1"), *nopct = js("\"25\"");
    CHECK(kctl_resolve_fenceposts(bad, NULL, 4, &s, &u) == -EINVAL);
    CHECK(kctl_resolve_fenceposts(NULL, neg, 4, &s, &u) == -EINVAL);
    CHECK(kctl_resolve_fenceposts(nopct, NULL, 4, &s, &u) == -EINVAL);
    json_decref(bad);
    json_decref(neg);
    json_decref(nopct);
}

static json_t *pod(const char *node, const char *phase, bool ready, const char *ready_at,
                   int restarts, const char *created)
{
    json_t *p =
        json_pack("{s:{s:s},s:{},s:{s:s,s:[{s:s,s:s,s:s}],s:[{s:i}]}}", "metadata",
                  "creationTimestamp", created, "spec", "status", "phase", phase, "conditions",
                  "type", "Ready", "status", ready ? "True" : "False", "lastTransitionTime",
                  ready_at, "containerStatuses", "restartCount", restarts);
    if (node)
        json_object_set_new(json_object_get(p, "spec"), "nodeName", json_string(node));
    return p;
}

#define T0 "2026-01-01T00:00:00Z"
#define T1 "2026-01-01T00:01:00Z"

TEST(scale_down_order)
{
    json_t *unassigned = pod(NULL, "Pending", false, T0, 0, T0);
    json_t *pending = pod("n", "Pending", false, T0, 0, T0);
    json_t *running_unready = pod("n", "Running", false, T0, 0, T0);
    json_t *ready_new = pod("n", "Running", true, T1, 0, T0);
    json_t *ready_old = pod("n", "Running", true, T0, 0, T0);
    json_t *ready_old_restarts = pod("n", "Running", true, T0, 3, T0);
    json_t *ready_old_newer = pod("n", "Running", true, T0, 0, T1);
    CHECK(kctl_pod_cmp(unassigned, pending) < 0);
    CHECK(kctl_pod_cmp(pending, running_unready) < 0);
    CHECK(kctl_pod_cmp(running_unready, ready_new) < 0);
    CHECK(kctl_pod_cmp(ready_new, ready_old) < 0); /* ready for a shorter time goes first */
    CHECK(kctl_pod_cmp(ready_old_restarts, ready_old) < 0);
    CHECK(kctl_pod_cmp(ready_old_newer, ready_old) < 0);
    CHECK(kctl_pod_cmp(ready_old, ready_old) == 0);
    CHECK(kctl_pod_cmp(ready_old, unassigned) > 0);
    json_decref(unassigned);
    json_decref(pending);
    json_decref(running_unready);
    json_decref(ready_new);
    json_decref(ready_old);
    json_decref(ready_old_restarts);
    json_decref(ready_old_newer);
}

TEST(pod_availability)
{
    json_t *p = pod("n", "Running", true, T0, 0, T0), *q = pod("n", "Failed", false, T0, 0, T0);
    int64_t t0;
    CHECK(dd_parse_rfc3339(T0, &t0) == 0);
    CHECK(kctl_pod_ready(p));
    CHECK(kctl_pod_available(p, 0, t0));
    CHECK(!kctl_pod_available(p, 10, t0 + 9000000000LL));
    CHECK(kctl_pod_available(p, 10, t0 + 10000000000LL));
    CHECK(!kctl_pod_available(q, 0, t0));
    CHECK(kctl_pod_terminal(q) && !kctl_pod_terminal(p));
    json_decref(p);
    json_decref(q);
}

TEST(completed_indexes)
{
    bool done[8] = {true, true, true, false, true, false, true, true};
    char *s = kctl_format_indexes(done, 8);
    CHECK_EQ_STR(s, "0-2,4,6-7");
    bool back[8] = {0};
    kctl_parse_indexes(s, back, 8);
    CHECK(memcmp(done, back, sizeof(done)) == 0);
    free(s);
    bool none[3] = {0};
    s = kctl_format_indexes(none, 3);
    CHECK_EQ_STR(s, "");
    free(s);
    bool got[4] = {0};
    kctl_parse_indexes("1,3-9,x,0", got, 4); /* out of range clipped, stops at garbage */
    CHECK(!got[0] && got[1] && !got[2] && got[3]);
}
