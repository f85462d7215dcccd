/* Unit tests for the protobuf body decoder (k3core/server/kpb.c): bodies built here with a tiny
 * encoder in the shape client-go writes them (gogo: zero-valued fields present). */
#include "k3core/server/kpb.h"
#include "tests/unit/unit.h"

static void varint(dd_buf *b, uint64_t v)
{
    while (v >= 0x80) {
        dd_buf_addc(b, (char)(v | 0x80));
        v >>= 7;
    }
    dd_buf_addc(b, (char)v);
}

static void field_bytes(dd_buf *b, unsigned num, const void *d, size_t n)
{
    varint(b, num << 3 | 2);
    varint(b, n);
    dd_buf_add(b, d, n);
}

static void field_str(dd_buf *b, unsigned num, const char *s)
{
    field_bytes(b, num, s, strlen(s));
}

static void field_varint(dd_buf *b, unsigned num, uint64_t v)
{
    varint(b, num << 3);
    varint(b, v);
}

static void map_entry(dd_buf *b, unsigned num, const char *k, const void *v, size_t vn)
{
    dd_buf e = DD_BUF_INIT;
    field_str(&e, 1, k);
    field_bytes(&e, 2, v, vn);
    field_bytes(b, num, e.data, e.len);
    dd_buf_release(&e);
}

static void envelope(dd_buf *out, const char *api, const char *kind, const dd_buf *raw)
{
    dd_buf tm = DD_BUF_INIT, unk = DD_BUF_INIT;
    field_str(&tm, 1, api);
    field_str(&tm, 2, kind);
    field_bytes(&unk, 1, tm.data, tm.len);
    field_bytes(&unk, 2, raw->data, raw->len);
    field_str(&unk, 3, "");
    field_str(&unk, 4, "");
    dd_buf_add(out, "k8s\0", 4);
    dd_buf_add(out, unk.data, unk.len);
    dd_buf_release(&tm);
    dd_buf_release(&unk);
}

static void configmap_body(dd_buf *body)
{
    dd_buf meta = DD_BUF_INIT, cm = DD_BUF_INIT, ts = DD_BUF_INIT;
    field_str(&meta, 1, "cm1");
    field_str(&meta, 2, "");
    field_varint(&meta, 7, 0);
    field_bytes(&meta, 8, ts.data ? ts.data : "", ts.len); /* zero Time */
    map_entry(&meta, 11, "app", "web", 3);
    field_bytes(&cm, 1, meta.data, meta.len);
    map_entry(&cm, 2, "a", "b", 1);
    map_entry(&cm, 3, "bin", "\x7f\x45\x00", 3);
    envelope(body, "v1", "ConfigMap", &cm);
    dd_buf_release(&meta);
    dd_buf_release(&cm);
}

TEST(kpb_configmap)
{
    dd_buf body = DD_BUF_INIT;
    configmap_body(&body);
    json_t *obj = NULL;
    dd_err e = {0};
    CHECK_EQ_INT(kpb_decode(body.data, body.len, &obj, &e), 0);
    CHECK_EQ_STR(json_string_value(json_object_get(obj, "apiVersion")), "v1");
    CHECK_EQ_STR(json_string_value(json_object_get(obj, "kind")), "ConfigMap");
    json_t *md = json_object_get(obj, "metadata");
    CHECK_EQ_STR(json_string_value(json_object_get(md, "name")), "cm1");
    CHECK(!json_object_get(md, "generateName"));      /* empty string omitted */
    CHECK(!json_object_get(md, "creationTimestamp")); /* zero time omitted */
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(md, "labels"), "app")), "web");
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(obj, "data"), "a")), "b");
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(obj, "binaryData"), "bin")),
                 "f0UA");
    json_decref(obj);
    dd_buf_release(&body);
}

TEST(kpb_delete_options_and_time)
{
    dd_buf raw = DD_BUF_INIT, body = DD_BUF_INIT;
    field_varint(&raw, 1, 0);
    field_str(&raw, 4, "Background");
    field_str(&raw, 5, "All");
    envelope(&body, "v1", "DeleteOptions", &raw);
    json_t *obj = NULL;
    CHECK_EQ_INT(kpb_decode(body.data, body.len, &obj, NULL), 0);
    CHECK_EQ_STR(json_string_value(json_object_get(obj, "propagationPolicy")), "Background");
    CHECK_EQ_INT(json_integer_value(json_object_get(obj, "gracePeriodSeconds")), 0);
    CHECK_EQ_STR(json_string_value(json_array_get(json_object_get(obj, "dryRun"), 0)), "All");
    json_decref(obj);

    const struct kpb_msg *t = kpb_find("k8s.io.apimachinery.pkg.apis.meta.v1.Time");
    CHECK(t != NULL);
    dd_buf tb = DD_BUF_INIT;
    field_varint(&tb, 1, 1700000000);
    CHECK_EQ_INT(kpb_decode_msg(t, (const uint8_t *)tb.data, tb.len, &obj, NULL), 0);
    CHECK_EQ_STR(json_string_value(obj), "2023-11-14T22:13:20Z");
    json_decref(obj);
    dd_buf_release(&tb);
    dd_buf_release(&raw);
    dd_buf_release(&body);
}

TEST(kpb_intorstring_and_kind_lookup)
{
    CHECK(kpb_find_kind("apps/v1", "Deployment") != NULL);
    CHECK(kpb_find_kind("rbac.authorization.k8s.io/v1", "ClusterRole") != NULL);
    CHECK(kpb_find_kind("authorization.k8s.io/v1", "SelfSubjectAccessReview") != NULL);
    CHECK(kpb_find_kind("v1", "NoSuchKind") == NULL);
    const struct kpb_msg *m = kpb_find("k8s.io.apimachinery.pkg.util.intstr.IntOrString");
    dd_buf b = DD_BUF_INIT;
    field_varint(&b, 1, 1);
    field_str(&b, 3, "25%");
    json_t *v = NULL;
    CHECK_EQ_INT(kpb_decode_msg(m, (const uint8_t *)b.data, b.len, &v, NULL), 0);
    CHECK_EQ_STR(json_string_value(v), "25%");
    json_decref(v);
    dd_buf_release(&b);
}

TEST(kpb_rejects_garbage)
{
    json_t *obj = NULL;
    dd_err e = {0};
    CHECK(kpb_decode("nope", 4, &obj, &e) < 0);
    CHECK(kpb_decode("k8s\0\x0a\xff", 6, &obj, &e) < 0);
    dd_buf raw = DD_BUF_INIT, body = DD_BUF_INIT;
    field_bytes(&raw, 1,
                "\x0a\x05"
                "ab",
                4); /* metadata with a truncated name */
    envelope(&body, "v1", "ConfigMap", &raw);
    CHECK(kpb_decode(body.data, body.len, &obj, &e) < 0);
    dd_buf_reset(&body);
    envelope(&body, "v1", "Gizmo", &raw);
    CHECK(kpb_decode(body.data, body.len, &obj, &e) < 0);
    CHECK(strstr(e.msg, "Gizmo") != NULL);
    dd_buf_release(&raw);
    dd_buf_release(&body);
}

/* Appends message field num holding the bytes of *sub, then empties sub for reuse. */
static void field_msg(dd_buf *b, unsigned num, dd_buf *sub)
{
    field_bytes(b, num, sub->data ? sub->data : "", sub->len);
    dd_buf_reset(sub);
}

static void meta_name(dd_buf *b, const char *name)
{
    dd_buf meta = DD_BUF_INIT;
    field_str(&meta, 1, name);
    field_msg(b, 1, &meta);
    dd_buf_release(&meta);
}

/* What `kubectl create ingress demo --rule=foo.com/bar=svc:80` sends (networking.k8s.io/v1):
 * IngressRule.ingressRuleValue is an inline embedded struct whose `http` belongs to the rule. */
TEST(kpb_ingress_rule_inline)
{
    dd_buf port = DD_BUF_INIT, svc = DD_BUF_INIT, be = DD_BUF_INIT, path = DD_BUF_INIT;
    dd_buf http = DD_BUF_INIT, irv = DD_BUF_INIT, rule = DD_BUF_INIT, spec = DD_BUF_INIT;
    dd_buf ing = DD_BUF_INIT, body = DD_BUF_INIT;
    field_str(&port, 1, "");
    field_varint(&port, 2, 80);
    field_str(&svc, 1, "svc");
    field_msg(&svc, 2, &port);
    field_msg(&be, 4, &svc);
    field_str(&path, 1, "/bar");
    field_msg(&path, 2, &be);
    field_str(&path, 3, "Exact");
    field_msg(&http, 1, &path);
    field_msg(&irv, 1, &http);
    field_str(&rule, 1, "foo.com");
    field_msg(&rule, 2, &irv);
    field_msg(&spec, 3, &rule);
    meta_name(&ing, "demo");
    field_msg(&ing, 2, &spec);
    envelope(&body, "networking.k8s.io/v1", "Ingress", &ing);
    json_t *obj = NULL;
    dd_err e = {0};
    CHECK_EQ_INT(kpb_decode(body.data, body.len, &obj, &e), 0);
    json_t *r = json_array_get(json_object_get(json_object_get(obj, "spec"), "rules"), 0);
    CHECK_EQ_STR(json_string_value(json_object_get(r, "host")), "foo.com");
    CHECK(!json_object_get(r, "ingressRuleValue"));
    json_t *p = json_array_get(json_object_get(json_object_get(r, "http"), "paths"), 0);
    CHECK_EQ_STR(json_string_value(json_object_get(p, "path")), "/bar");
    CHECK_EQ_STR(json_string_value(json_object_get(p, "pathType")), "Exact");
    json_t *s = json_object_get(json_object_get(p, "backend"), "service");
    CHECK_EQ_STR(json_string_value(json_object_get(s, "name")), "svc");
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(s, "port"), "number")), 80);
    CHECK_EQ_INT(json_object_size(r), 2);
    json_decref(obj);
    dd_buf *all[] = {&port, &svc, &be, &path, &http, &irv, &rule, &spec, &ing, &body};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        dd_buf_release(all[i]);
}

/* A Pod with a configMap volume (Volume.volumeSource and ConfigMapVolumeSource.
 * localObjectReference inline), an env var from a ConfigMap key (ConfigMapKeySelector.
 * localObjectReference inline), an httpGet liveness and an exec readiness probe (Probe.handler
 * inline). */
TEST(kpb_pod_volume_probe_inline)
{
    dd_buf ref = DD_BUF_INIT, cmv = DD_BUF_INIT, vs = DD_BUF_INIT, vol = DD_BUF_INIT;
    dd_buf hg = DD_BUF_INIT, ph = DD_BUF_INIT, live = DD_BUF_INIT, ex = DD_BUF_INIT;
    dd_buf ready = DD_BUF_INIT, c = DD_BUF_INIT, spec = DD_BUF_INIT, pod = DD_BUF_INIT;
    dd_buf ks = DD_BUF_INIT, src = DD_BUF_INIT, env = DD_BUF_INIT, body = DD_BUF_INIT;
    dd_buf tmp = DD_BUF_INIT;
    field_str(&ref, 1, "cfg");
    field_msg(&cmv, 1, &ref);
    field_varint(&cmv, 3, 0644);
    field_varint(&cmv, 4, 0);
    field_msg(&vs, 19, &cmv);
    field_str(&vol, 1, "conf");
    field_msg(&vol, 2, &vs);
    field_msg(&spec, 1, &vol);

    field_str(&hg, 1, "/healthz");
    field_varint(&tmp, 1, 0); /* IntOrString{type: Int, intVal: 8080} */
    field_varint(&tmp, 2, 8080);
    field_msg(&hg, 2, &tmp);
    field_str(&hg, 4, "HTTP");
    field_msg(&ph, 2, &hg);
    field_msg(&live, 1, &ph);
    field_varint(&live, 2, 3);
    field_varint(&live, 4, 10);
    field_str(&ex, 1, "cat");
    field_str(&ex, 1, "/etc/conf/ready");
    field_msg(&ph, 1, &ex);
    field_msg(&ready, 1, &ph);
    field_varint(&ready, 6, 2);

    field_str(&ref, 1, "cfg");
    field_msg(&ks, 1, &ref);
    field_str(&ks, 2, "mode");
    field_msg(&src, 3, &ks);
    field_str(&env, 1, "MODE");
    field_msg(&env, 3, &src);

    field_str(&c, 1, "app");
    field_str(&c, 2, "busybox");
    field_msg(&c, 7, &env);
    field_str(&tmp, 1, "conf");
    field_str(&tmp, 3, "/etc/conf");
    field_msg(&c, 9, &tmp);
    field_msg(&c, 10, &live);
    field_msg(&c, 11, &ready);
    field_msg(&spec, 2, &c);
    meta_name(&pod, "p1");
    field_msg(&pod, 2, &spec);
    envelope(&body, "v1", "Pod", &pod);

    json_t *obj = NULL;
    dd_err e = {0};
    CHECK_EQ_INT(kpb_decode(body.data, body.len, &obj, &e), 0);
    json_t *sp = json_object_get(obj, "spec");
    json_t *v = json_array_get(json_object_get(sp, "volumes"), 0);
    CHECK_EQ_STR(json_string_value(json_object_get(v, "name")), "conf");
    CHECK(!json_object_get(v, "volumeSource"));
    json_t *cm = json_object_get(v, "configMap");
    CHECK_EQ_STR(json_string_value(json_object_get(cm, "name")), "cfg");
    CHECK(!json_object_get(cm, "localObjectReference"));
    CHECK_EQ_INT(json_integer_value(json_object_get(cm, "defaultMode")), 0644);
    CHECK(json_is_false(json_object_get(cm, "optional")));

    json_t *ct = json_array_get(json_object_get(sp, "containers"), 0);
    json_t *ref1 = json_object_get(
        json_object_get(json_object_get(json_array_get(json_object_get(ct, "env"), 0), "valueFrom"),
                        "configMapKeyRef"),
        "name");
    CHECK_EQ_STR(json_string_value(ref1), "cfg");
    json_t *lp = json_object_get(ct, "livenessProbe");
    CHECK(!json_object_get(lp, "handler"));
    json_t *g = json_object_get(lp, "httpGet");
    CHECK_EQ_STR(json_string_value(json_object_get(g, "path")), "/healthz");
    CHECK_EQ_INT(json_integer_value(json_object_get(g, "port")), 8080);
    CHECK_EQ_STR(json_string_value(json_object_get(g, "scheme")), "HTTP");
    CHECK_EQ_INT(json_integer_value(json_object_get(lp, "initialDelaySeconds")), 3);
    CHECK_EQ_INT(json_integer_value(json_object_get(lp, "periodSeconds")), 10);
    json_t *rp = json_object_get(ct, "readinessProbe");
    json_t *cmd = json_object_get(json_object_get(rp, "exec"), "command");
    CHECK_EQ_INT(json_array_size(cmd), 2);
    CHECK_EQ_STR(json_string_value(json_array_get(cmd, 1)), "/etc/conf/ready");
    CHECK_EQ_INT(json_integer_value(json_object_get(rp, "failureThreshold")), 2);
    CHECK(!json_object_get(rp, "handler") && !json_object_get(rp, "httpGet"));
    json_decref(obj);
    dd_buf *all[] = {&ref, &cmv,  &vs,  &vol, &hg,  &ph,  &live, &ex, &ready,
                     &c,   &spec, &pod, &ks,  &src, &env, &body, &tmp};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        dd_buf_release(all[i]);
}

/* Nested inline (NamedRuleWithOperations embeds RuleWithOperations, which embeds Rule) and a proto
 * name that differs from the JSON name (`Webhooks` → `webhooks`). */
TEST(kpb_nested_inline_and_json_names)
{
    dd_buf rule = DD_BUF_INIT, rwo = DD_BUF_INIT, mc = DD_BUF_INIT, spec = DD_BUF_INIT;
    dd_buf vap = DD_BUF_INIT, body = DD_BUF_INIT, tmp = DD_BUF_INIT;
    field_str(&rule, 1, "apps");
    field_str(&rule, 2, "v1");
    field_str(&rule, 3, "deployments");
    field_str(&rwo, 1, "CREATE");
    field_msg(&rwo, 2, &rule);
    field_str(&tmp, 1, "web");
    field_msg(&tmp, 2, &rwo);
    field_msg(&mc, 3, &tmp);
    field_msg(&spec, 2, &mc);
    meta_name(&vap, "pol");
    field_msg(&vap, 2, &spec);
    envelope(&body, "admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy", &vap);
    json_t *obj = NULL;
    dd_err e = {0};
    CHECK_EQ_INT(kpb_decode(body.data, body.len, &obj, &e), 0);
    json_t *rr = json_array_get(
        json_object_get(json_object_get(json_object_get(obj, "spec"), "matchConstraints"),
                        "resourceRules"),
        0);
    CHECK_EQ_STR(json_string_value(json_array_get(json_object_get(rr, "resourceNames"), 0)), "web");
    CHECK_EQ_STR(json_string_value(json_array_get(json_object_get(rr, "operations"), 0)), "CREATE");
    CHECK_EQ_STR(json_string_value(json_array_get(json_object_get(rr, "apiGroups"), 0)), "apps");
    CHECK_EQ_STR(json_string_value(json_array_get(json_object_get(rr, "resources"), 0)),
                 "deployments");
    CHECK_EQ_INT(json_object_size(rr), 5);
    json_decref(obj);

    dd_buf_reset(&body);
    dd_buf_reset(&vap);
    field_str(&tmp, 1, "hook.example.com");
    meta_name(&vap, "hooks");
    field_msg(&vap, 2, &tmp);
    envelope(&body, "admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", &vap);
    CHECK_EQ_INT(kpb_decode(body.data, body.len, &obj, &e), 0);
    CHECK(!json_object_get(obj, "Webhooks"));
    CHECK_EQ_STR(json_string_value(
                     json_object_get(json_array_get(json_object_get(obj, "webhooks"), 0), "name")),
                 "hook.example.com");
    json_decref(obj);
    dd_buf *all[] = {&rule, &rwo, &mc, &spec, &vap, &body, &tmp};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        dd_buf_release(all[i]);
}
