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
