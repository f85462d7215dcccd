/* Unit tests of the server's node controllers on an in-memory store. node-ipam
 * (k3core/server/ipam.c): Nodes get the lowest free /24 of the cluster CIDR when they appear,
 * keep it, a deleted Node's /24 is reused, a full cluster CIDR assigns nothing, and a bad
 * cluster CIDR is refused. node lifecycle (nodelife.c): a Node whose Lease went stale turns
 * Unknown and tainted unreachable, and loses the taint once it posts Ready again. */
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

static void put_json(struct env *v, const char *group, const char *resource, const char *ns,
                     const char *name, const char *sub, json_t *obj, bool create)
{
    kobj_req req = {.res = kres_lookup(group, "v1", resource),
                    .ns = ns,
                    .name = create ? NULL : name,
                    .subresource = sub,
                    .field_manager = "test"};
    kobj_result r = {0};
    kobj_status st = {0};
    int rc = create ? kobj_create(v->s.api, &req, obj, &r, &st)
                    : kobj_update(v->s.api, &req, obj, &r, &st);
    if (rc < 0)
        unit_fail(__FILE__, __LINE__, "%s %s: %s", resource, name, st.message);
    kobj_result_release(&r);
    json_decref(obj);
}

static void lease_renew(struct env *v, const char *node, int64_t at_ns, bool create)
{
    char t[64];
    dd_format_rfc3339nano(at_ns, t, sizeof(t));
    json_t *l =
        json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s}}", "apiVersion", "coordination.k8s.io/v1",
                  "kind", "Lease", "metadata", "name", node, "namespace", "kube-node-lease", "spec",
                  "holderIdentity", node, "renewTime", t);
    put_json(v, "coordination.k8s.io", "leases", "kube-node-lease", node, NULL, l, create);
}

static json_t *node_get(struct env *v, const char *name)
{
    kobj_req req = {.res = kres_lookup("", "v1", "nodes"), .name = name};
    kobj_status st = {0};
    json_t *n = NULL;
    if (kobj_get(v->s.api, &req, &n, &st) < 0)
        unit_fail(__FILE__, __LINE__, "get %s: %s", name, st.message);
    return n;
}

static void node_post_ready(struct env *v, const char *name)
{
    json_t *n = node_get(v, name);
    json_object_set_new(n, "status",
                        json_pack("{s:[{s:s,s:s,s:s}]}", "conditions", "type", "Ready", "status",
                                  "True", "reason", "KubeletReady"));
    json_object_del(json_object_get(n, "metadata"), "resourceVersion");
    put_json(v, "", "nodes", NULL, name, "status", n, false);
}

static const char *ready_status(json_t *n)
{
    return json_string_value(json_object_get(
        json_array_get(json_object_get(json_object_get(n, "status"), "conditions"), 0), "status"));
}

static const char *first_taint(json_t *n)
{
    return json_string_value(json_object_get(
        json_array_get(json_object_get(json_object_get(n, "spec"), "taints"), 0), "key"));
}

TEST(nodelife_stale_lease_unknown_and_back)
{
    struct env v;
    const int64_t grace = 50 * 1000000000LL, now = dd_now_ns();
    setup(&v, "10.42.0.0/16");
    node_create(&v, "n1");
    node_post_ready(&v, "n1");
    lease_renew(&v, "n1", now, true);
    ksrv_nodelife_pass(&v.s, now + grace / 2, grace);
    json_t *n = node_get(&v, "n1");
    CHECK_EQ_STR(ready_status(n), "True");
    CHECK(first_taint(n) == NULL);
    json_decref(n);

    ksrv_nodelife_pass(&v.s, now + 2 * grace, grace);
    n = node_get(&v, "n1");
    CHECK_EQ_STR(ready_status(n), "Unknown");
    CHECK_EQ_STR(first_taint(n), "node.kubernetes.io/unreachable");
    json_decref(n);
    ksrv_nodelife_pass(&v.s, now + 3 * grace, grace); /* no second taint */
    n = node_get(&v, "n1");
    CHECK_EQ_INT((int)json_array_size(json_object_get(json_object_get(n, "spec"), "taints")), 1);
    json_decref(n);

    lease_renew(&v, "n1", now + 3 * grace, false);
    node_post_ready(&v, "n1");
    ksrv_nodelife_pass(&v.s, now + 3 * grace, grace);
    n = node_get(&v, "n1");
    CHECK_EQ_STR(ready_status(n), "True");
    CHECK(first_taint(n) == NULL);
    json_decref(n);
    teardown(&v);
}
