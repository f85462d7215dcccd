/* Unit tests of the server's node-ipam (k3core/server/ipam.c) on an in-memory store: Nodes get
 * the lowest free /24 of the cluster CIDR when they appear, keep it, a deleted Node's /24 is
 * reused, a full cluster CIDR assigns nothing, and a bad cluster CIDR is refused. */
#include <stdio.h>

#include "k3core/server/server-internal.h"
#include "tests/unit/unit.h"

struct env {
    struct kcfg cfg;
    struct ksrv s;
};

static void setup(struct env *v, const char *cluster_cidr)
{
    dd_err e = {0};
    memset(v, 0, sizeof(*v));
    v->cfg.cluster_cidr = (char *)cluster_cidr;
    v->s.cfg = &v->cfg;
    if (!(v->s.loop = ev_loop_new(&e)) || kst_open(":memory:", NULL, &v->s.store, &e) < 0)
        unit_fail(__FILE__, __LINE__, "setup: %s", e.msg);
    kobj_config oc = {0};
    if (kobj_open(v->s.store, &oc, &v->s.api, &e) < 0)
        unit_fail(__FILE__, __LINE__, "kobj_open: %s", e.msg);
}

static void teardown(struct env *v)
{
    ksrv_ipam_stop(&v->s);
    kobj_close(v->s.api);
    kst_close(v->s.store);
    ev_loop_free(v->s.loop);
}

static void settle(struct env *v)
{
    for (int i = 0; i < 5; i++)
        ev_run_once(v->s.loop, 10);
}

static void node_create(struct env *v, const char *name)
{
    kobj_req req = {.res = kres_lookup("", "v1", "nodes"), .field_manager = "test"};
    json_t *n = json_pack("{s:s,s:s,s:{s:s}}", "apiVersion", "v1", "kind", "Node", "metadata",
                          "name", name);
    kobj_result r = {0};
    kobj_status st = {0};
    if (kobj_create(v->s.api, &req, n, &r, &st) < 0)
        unit_fail(__FILE__, __LINE__, "create %s: %s", name, st.message);
    kobj_result_release(&r);
    json_decref(n);
}

static void node_delete(struct env *v, const char *name)
{
    kobj_req req = {.res = kres_lookup("", "v1", "nodes"), .name = name};
    kobj_result r = {0};
    kobj_status st = {0};
    if (kobj_delete(v->s.api, &req, NULL, &r, &st) < 0)
        unit_fail(__FILE__, __LINE__, "delete %s: %s", name, st.message);
    kobj_result_release(&r);
}

/* The Node's spec.podCIDR ("" when none; static buffer). */
static const char *cidr_of(struct env *v, const char *name)
{
    static char out[64];
    kobj_req req = {.res = kres_lookup("", "v1", "nodes"), .name = name};
    kobj_status st = {0};
    json_t *n = NULL;
    out[0] = 0;
    if (kobj_get(v->s.api, &req, &n, &st) == 0) {
        const json_t *spec = json_object_get(n, "spec");
        const char *c = json_string_value(json_object_get(spec, "podCIDR"));
        const char *c0 = json_string_value(json_array_get(json_object_get(spec, "podCIDRs"), 0));
        if (c && dd_streq(c, c0))
            snprintf(out, sizeof(out), "%s", c);
    }
    json_decref(n);
    kobj_status_release(&st);
    return out;
}

TEST(ipam_assigns_lowest_free_and_reuses)
{
    struct env v;
    dd_err e = {0};
    setup(&v, "10.42.0.0/16");
    node_create(&v, "before-start");
    CHECK_EQ_INT(ksrv_ipam_start(&v.s, &e), 0);
    settle(&v);
    CHECK_EQ_STR(cidr_of(&v, "before-start"), "10.42.0.0/24");
    node_create(&v, "b");
    node_create(&v, "c");
    settle(&v);
    CHECK_EQ_STR(cidr_of(&v, "b"), "10.42.1.0/24");
    CHECK_EQ_STR(cidr_of(&v, "c"), "10.42.2.0/24");
    node_delete(&v, "b");
    node_create(&v, "d");
    settle(&v);
    CHECK_EQ_STR(cidr_of(&v, "d"), "10.42.1.0/24");
    CHECK_EQ_STR(cidr_of(&v, "c"), "10.42.2.0/24");
    teardown(&v);
}

TEST(ipam_full_cluster_cidr_and_bad_cidr)
{
    struct env v;
    dd_err e = {0};
    setup(&v, "10.99.0.0/23");
    CHECK_EQ_INT(ksrv_ipam_start(&v.s, &e), 0);
    node_create(&v, "a");
    node_create(&v, "b");
    node_create(&v, "c");
    settle(&v);
    CHECK_EQ_STR(cidr_of(&v, "a"), "10.99.0.0/24");
    CHECK_EQ_STR(cidr_of(&v, "b"), "10.99.1.0/24");
    CHECK_EQ_STR(cidr_of(&v, "c"), "");
    teardown(&v);

    setup(&v, "10.42.0.0/25");
    CHECK(ksrv_ipam_start(&v.s, &e) < 0);
    CHECK(strstr(e.msg, "--cluster-cidr") != NULL);
    teardown(&v);
}
