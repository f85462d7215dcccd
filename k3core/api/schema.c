/* schema: the compact schemas behind pruning, defaulting and strategic merge. The built-in ones
 * are one JSON object (definition name → node) generated into schemas.json, embedded by
 * schema-blob.c and parsed on
 * first use; CRD versions add their structural schema under "<crd name>/<version>". A node has
 * short keys: r ($ref to another definition), t (type), p (properties), i (items),
 * a (additionalProperties), q (required), ms/mk (patch strategy/merge key), lt/lk (list type /
 * map keys), mt (map type), u (preserve unknown fields), e (embedded resource); a CRD root also
 * carries sc {spec,status,sel} for its scale subresource.
 */
#include "k3core/api/resources-internal.h"

static json_t *defs;

static json_t *all_defs(void)
{
    if (!defs) {
        json_error_t je;
        defs = json_loadb(kres_schema_json, kres_schema_json_size(), 0, &je);
        if (!defs) /* the blob is generated and checked by the unit tests: this is a build bug */
            abort();
    }
    return defs;
}

void kres_schema_put(const char *name, json_t *schema_new)
{
    json_object_set_new(all_defs(), name, schema_new);
}

void kres_schema_drop(const char *name)
{
    json_object_del(all_defs(), name);
}

/* Follows $ref links to the node that carries the structure. */
static const json_t *resolve(const json_t *node)
{
    for (int depth = 0; node && depth < 8; depth++) {
        const char *ref = json_string_value(json_object_get(node, "r"));
        if (!ref)
            return node;
        node = json_object_get(all_defs(), ref);
    }
    return node;
}

const json_t *kres_schema(const kres_resource *r)
{
    if (!r->schema_name || !r->schema_name[0])
        return NULL;
    return json_object_get(all_defs(), r->schema_name);
}

const json_t *kres_schema_resolve(const json_t *node)
{
    return resolve(node);
}

const json_t *kres_schema_child(const json_t *node, const char *name, bool *ret_known)
{
    const json_t *n = resolve(node);
    bool known = false;
    const json_t *child = NULL;
    if (!n) {
        known = true; /* untyped: anything goes */
    } else if (json_object_get(n, "p")) {
        child = json_object_get(json_object_get(n, "p"), name);
        known = child != NULL;
        if (!known && json_object_get(n, "a"))
            child = json_object_get(n, "a"), known = true;
        if (!known && json_is_true(json_object_get(n, "u")))
            known = true;
    } else if (json_object_get(n, "a")) {
        child = json_object_get(n, "a");
        known = true;
    } else {
        /* no properties declared: free-form object (e.g. RawExtension, JSON) unless typed as a
         * scalar */
        known = true;
    }
    if (ret_known)
        *ret_known = known;
    return child;
}

const json_t *kres_schema_items(const json_t *node)
{
    const json_t *n = resolve(node);
    return n ? json_object_get(n, "i") : NULL;
}
