/* crd: turns a CustomResourceDefinition (apiextensions.k8s.io/v1) into resource-table entries,
 * one per served version, and its openAPIV3Schema into the compact schema form (schema.c) used
 * for pruning. It validates only what it needs to build the entries; the object layer validates
 * the CRD object itself on create/update.
 */
#include <stdio.h>

#include "k3core/api/resources-internal.h"

static json_t *compact_node(const json_t *s);

static void compact_props(const json_t *props, json_t *out)
{
    json_t *p = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)props, k, v) json_object_set_new(p, k, compact_node(v));
    json_object_set_new(out, "p", p);
}

static json_t *compact_node(const json_t *s)
{
    json_t *out = json_object();
    if (!json_is_object(s))
        return out;
    const char *type = json_string_value(json_object_get(s, "type"));
    if (type)
        json_object_set_new(out, "t", json_string(type));
    if (json_is_true(json_object_get(s, "x-kubernetes-int-or-string")))
        json_object_set_new(out, "t", json_string("int-or-string"));
    json_t *props = json_object_get(s, "properties");
    if (json_is_object(props))
        compact_props(props, out);
    json_t *items = json_object_get(s, "items");
    if (json_is_object(items))
        json_object_set_new(out, "i", compact_node(items));
    json_t *ap = json_object_get(s, "additionalProperties");
    if (json_is_object(ap))
        json_object_set_new(out, "a", compact_node(ap));
    else if (json_is_true(ap))
        json_object_set_new(out, "a", json_object());
    if (json_is_true(json_object_get(s, "x-kubernetes-preserve-unknown-fields")))
        json_object_set_new(out, "u", json_true());
    if (json_is_true(json_object_get(s, "x-kubernetes-embedded-resource")))
        json_object_set_new(out, "e", json_true());
    static const char *const copy[][2] = {{"x-kubernetes-list-type", "lt"},
                                          {"x-kubernetes-list-map-keys", "lk"},
                                          {"x-kubernetes-map-type", "mt"},
                                          {"required", "q"}};
    for (size_t i = 0; i < DD_ARRAY_SIZE(copy); i++) {
        json_t *v = json_object_get(s, copy[i][0]);
        if (v)
            json_object_set(out, copy[i][1], v);
    }
    return out;
}

/* The root of a custom resource: apiVersion/kind/metadata are always known. */
static json_t *crd_root_schema(const json_t *version)
{
    json_t *open_api = json_object_get(json_object_get(version, "schema"), "openAPIV3Schema");
    json_t *root = compact_node(open_api);
    if (!open_api)
        json_object_set_new(root, "u", json_true());
    json_t *p = json_object_get(root, "p");
    if (!p) {
        p = json_object();
        json_object_set_new(root, "p", p);
    }
    json_object_set_new(p, "apiVersion", json_pack("{s:s}", "t", "string"));
    json_object_set_new(p, "kind", json_pack("{s:s}", "t", "string"));
    json_object_set_new(p, "metadata",
                        json_pack("{s:s}", "r", "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
    json_t *scale = json_object_get(json_object_get(version, "subresources"), "scale");
    if (json_is_object(scale))
        json_object_set_new(root, "sc",
                            json_pack("{s:O?,s:O?,s:O?}", "spec",
                                      json_object_get(scale, "specReplicasPath"), "status",
                                      json_object_get(scale, "statusReplicasPath"), "sel",
                                      json_object_get(scale, "labelSelectorPath")));
    return root;
}

static const char **strv_from_json(const json_t *a)
{
    if (!json_is_array(a) || json_array_size(a) == 0)
        return NULL;
    const char **v = dd_calloc(json_array_size(a) + 1, sizeof(char *));
    size_t n = 0, i;
    json_t *x;
    json_array_foreach(a, i, x) if (json_is_string(x)) v[n++] = dd_strdup(json_string_value(x));
    return v;
}

static void free_strv(const char *const *v)
{
    if (!v)
        return;
    for (size_t i = 0; v[i]; i++)
        free((char *)v[i]);
    free((void *)v);
}

static void free_entry(kres_resource *r)
{
    free((char *)r->group);
    free((char *)r->version);
    free((char *)r->kind);
    free((char *)r->list_kind);
    free((char *)r->resource);
    free((char *)r->singular);
    free((char *)r->schema_name);
    free_strv(r->short_names);
    free_strv(r->categories);
    free((void *)r->subresources);
    free(r);
}

static kres_subresource *subresources_for(const json_t *version, const char *group,
                                          const char *kind, size_t *ret_n)
{
    json_t *subs = json_object_get(version, "subresources");
    kres_subresource *out = dd_calloc(2, sizeof(*out));
    size_t n = 0;
    /* names/kinds point at the entry's own strings or literals: they live as long as it */
    if (json_object_get(subs, "scale"))
        out[n++] = (kres_subresource){"scale", "autoscaling", "v1", "Scale",
                                      KRES_GET | KRES_PATCH | KRES_UPDATE};
    if (json_object_get(subs, "status"))
        out[n++] =
            (kres_subresource){"status", group, "", kind, KRES_GET | KRES_PATCH | KRES_UPDATE};
    *ret_n = n;
    return out;
}

typedef struct crd_names {
    const char *group, *name, *plural, *singular, *kind, *list_kind;
    bool namespaced;
    const json_t *names;
} crd_names;

static int read_names(const json_t *crd, crd_names *n, dd_err *e)
{
    json_t *spec = json_object_get(crd, "spec");
    n->names = json_object_get(spec, "names");
    n->group = json_string_value(json_object_get(spec, "group"));
    n->name = json_string_value(json_object_get(json_object_get(crd, "metadata"), "name"));
    n->plural = json_string_value(json_object_get(n->names, "plural"));
    n->kind = json_string_value(json_object_get(n->names, "kind"));
    n->singular = json_string_value(json_object_get(n->names, "singular"));
    n->list_kind = json_string_value(json_object_get(n->names, "listKind"));
    n->namespaced = dd_streq(json_string_value(json_object_get(spec, "scope")), "Namespaced");
    if (!n->group || !n->name || !n->plural || !n->kind)
        return dd_err_set(e, EINVAL,
                          "CustomResourceDefinition needs spec.group, spec.names.plural"
                          " and spec.names.kind");
    return 0;
}

static kres_resource *entry_for(const crd_names *n, const json_t *version, const char *vname,
                                bool storage)
{
    kres_resource *r = dd_calloc(1, sizeof(*r));
    r->group = dd_strdup(n->group);
    r->version = dd_strdup(vname);
    r->kind = dd_strdup(n->kind);
    r->list_kind = n->list_kind ? dd_strdup(n->list_kind) : dd_asprintf("%sList", n->kind);
    r->resource = dd_strdup(n->plural);
    r->singular = n->singular ? dd_strdup(n->singular) : dd_strdup(n->kind);
    for (char *c = (char *)r->singular; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
    r->flags =
        KRES_CUSTOM | (n->namespaced ? KRES_NAMESPACED : 0) | (storage ? KRES_STORAGE_VERSION : 0);
    r->verbs = KRES_GET | KRES_LIST | KRES_WATCH | KRES_CREATE | KRES_UPDATE | KRES_PATCH |
               KRES_DELETE | KRES_DELETECOLLECTION;
    r->short_names = (const char *const *)strv_from_json(json_object_get(n->names, "shortNames"));
    r->categories = (const char *const *)strv_from_json(json_object_get(n->names, "categories"));
    r->subresources = subresources_for(version, r->group, r->kind, &r->n_subresources);
    for (size_t i = 0; i < r->n_subresources; i++)
        if (strcmp(r->subresources[i].name, "status") == 0)
            ((kres_subresource *)r->subresources)[i].version = r->version;
    r->schema_name = dd_asprintf("%s/%s", n->name, vname);
    return r;
}

int kres_register_crd(const json_t *crd, dd_err *e)
{
    crd_names n;
    int r = read_names(crd, &n, e);
    if (r < 0)
        return r;
    json_t *versions = json_object_get(json_object_get(crd, "spec"), "versions");
    if (!json_is_array(versions) || json_array_size(versions) == 0)
        return dd_err_set(e, EINVAL, "CustomResourceDefinition %s has no spec.versions", n.name);
    kres_unregister_crd(n.name);
    size_t i;
    json_t *v;
    json_array_foreach(versions, i, v)
    {
        const char *vname = json_string_value(json_object_get(v, "name"));
        if (!vname || json_is_false(json_object_get(v, "served")))
            continue;
        kres_resource *res = entry_for(&n, v, vname, json_is_true(json_object_get(v, "storage")));
        kres_schema_put(res->schema_name, crd_root_schema(v));
        kres_custom_add(res);
    }
    return 0;
}

void kres_unregister_crd(const char *name)
{
    kres_resource *r;
    bool changed = false;
    while ((r = kres_custom_take(name))) {
        kres_schema_drop(r->schema_name);
        free_entry(r);
        changed = true;
    }
    if (changed)
        kres_table_changed();
}
