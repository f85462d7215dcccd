/* prune: removes fields the kind's schema does not know, as the API server's decoder does for
 * every request, and reports them for fieldValidation: Strict → 400 `strict decoding error:
 * unknown field "spec.foo"`, Warn → one warning per field, Ignore → silent. Fields below
 * x-kubernetes-preserve-unknown-fields, embedded resources, maps and untyped nodes are kept.
 * It also rejects values of the wrong JSON type (a string where the schema says integer...)
 * with a 400, as upstream's typed decoder does, so nothing badly typed is ever stored.
 */
#include <stdio.h>

#include "k3core/api/objects-internal.h"
#include "k3core/api/quantity.h"

typedef struct prune_ctx {
    char **unknown;   /* paths */
    char *type_error; /* first value of the wrong type: "cannot unmarshal ..." */
} prune_ctx;

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_TRUE:
    case JSON_FALSE:
        return "bool";
    default:
        return "number";
    }
}

static bool type_ok(const char *t, const json_t *v)
{
    if (json_is_null(v) || !t)
        return true;
    if (strcmp(t, "integer") == 0)
        return json_is_integer(v);
    if (strcmp(t, "number") == 0)
        return json_is_number(v);
    if (strcmp(t, "boolean") == 0)
        return json_is_boolean(v);
    if (strcmp(t, "string") == 0)
        return json_is_string(v);
    if (strcmp(t, "object") == 0)
        return json_is_object(v);
    if (strcmp(t, "array") == 0)
        return json_is_array(v);
    if (strcmp(t, "int-or-string") == 0)
        return json_is_integer(v) || json_is_string(v);
    return true;
}

static void walk(prune_ctx *c, const json_t *schema, json_t *value, const char *path);

static void walk_array(prune_ctx *c, const json_t *items, json_t *arr, const char *path)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        _cleanup_free_ char *p = dd_asprintf("%s[%zu]", path, i);
        walk(c, items, v, p);
    }
}

static bool is_quantity(const json_t *schema)
{
    return dd_streq(json_string_value(json_object_get(schema, "r")),
                    "io.k8s.apimachinery.pkg.api.resource.Quantity");
}

/* A Quantity is checked and stored in upstream's canonical form ("1000m" → "1"; a JSON number
 * becomes its string), as the API server's typed decoder and encoder leave it. NULL: unchanged. */
static json_t *canonical_quantity(prune_ctx *c, const json_t *value)
{
    dd_err e = {0};
    kqty q;
    char num[64];
    const char *s = json_string_value(value);
    if (json_is_integer(value))
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(value)), s = num;
    else if (json_is_real(value))
        snprintf(num, sizeof(num), "%.17g", json_real_value(value)), s = num;
    else if (!json_is_string(value)) {
        if (!json_is_null(value) && !c->type_error)
            c->type_error = dd_strdup("quantities must be a string or a number");
        return NULL;
    }
    if (kqty_parse(s, &q, &e) < 0) {
        if (!c->type_error)
            c->type_error = dd_strdup(e.msg);
        return NULL;
    }
    char *canon = kqty_canonical(&q);
    json_t *out = json_is_string(value) && !strcmp(canon, s) ? NULL : json_string(canon);
    free(canon);
    return out;
}

static void walk(prune_ctx *c, const json_t *schema, json_t *value, const char *path)
{
    if (is_quantity(schema))
        return; /* replaced by its parent (canonical_quantity) */
    const json_t *n = kres_schema_resolve(schema);
    const char *t = json_string_value(json_object_get(n, "t"));
    if (n && !c->type_error && !type_ok(t, value))
        c->type_error = dd_asprintf("json: cannot unmarshal %s into Go struct field %s of type %s",
                                    json_kind(value), *path ? path : "(root)", t);
    if (!n || json_is_true(json_object_get(n, "u")) || json_is_true(json_object_get(n, "e")))
        return;
    if (json_is_array(value)) {
        const json_t *items = json_object_get(n, "i");
        if (items)
            walk_array(c, items, value, path);
        return;
    }
    if (!json_is_object(value))
        return;
    const json_t *props = json_object_get(n, "p");
    const json_t *addl = json_object_get(n, "a");
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(value, tmp, k, v)
    {
        const json_t *child = props ? json_object_get(props, k) : NULL;
        if (!child && addl)
            child = addl;
        _cleanup_free_ char *p = *path ? dd_asprintf("%s.%s", path, k) : dd_strdup(k);
        if (!child && props) {
            c->unknown = dd_strv_push(c->unknown, p);
            json_object_del(value, k);
            continue;
        }
        if (child && is_quantity(child)) {
            json_t *canon = canonical_quantity(c, v);
            if (canon)
                json_object_set_new(value, k, canon);
        } else if (child) {
            walk(c, child, v, p);
        }
    }
}

int kobj_prune(const kres_resource *r, json_t *obj, enum kobj_validation mode, char ***warnings,
               kobj_status *st)
{
    const json_t *schema = kres_schema(r);
    if (!schema)
        return 0;
    prune_ctx c = {0};
    /* apiVersion/kind/metadata are part of every kind's schema; walk the rest */
    walk(&c, schema, obj, "");
    if (c.type_error) {
        int ret =
            kobj_fail(st, 400, "BadRequest", "%s in version \"%s\" cannot be handled as a %s: %s",
                      r->kind, r->version, r->kind, c.type_error);
        free(c.type_error);
        dd_strv_free(c.unknown);
        return ret;
    }
    if (!c.unknown)
        return 0;
    int ret = 0;
    if (mode == KOBJ_VALIDATE_STRICT) {
        dd_buf b = DD_BUF_INIT;
        dd_buf_init(&b);
        dd_buf_adds(&b, "strict decoding error: ");
        for (size_t i = 0; c.unknown[i]; i++)
            dd_buf_addf(&b, "%sunknown field \"%s\"", i ? ", " : "", c.unknown[i]);
        ret = kobj_fail(st, 400, "BadRequest", "%s", b.data);
        dd_buf_release(&b);
    } else if (mode == KOBJ_VALIDATE_WARN && warnings) {
        for (size_t i = 0; c.unknown[i]; i++)
            *warnings =
                dd_strv_consume(*warnings, dd_asprintf("unknown field \"%s\"", c.unknown[i]));
    }
    dd_strv_free(c.unknown);
    return ret;
}
