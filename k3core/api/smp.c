/* smp: strategic merge patch as kubectl and client-go send it. Maps merge recursively (null
 * deletes a key); lists whose schema says x-kubernetes-patch-strategy: merge are merged by
 * their x-kubernetes-patch-merge-key (containers by name, ports by containerPort, ...) or, for
 * primitive lists, by value; other lists are replaced. Directives: `$patch: replace|delete|merge`
 * on maps and list elements, `$retainKeys`, `$setElementOrder/<list>` and
 * `$deleteFromPrimitiveList/<list>`. Without a schema (NULL) every list is replaced, which is
 * what upstream does for unknown fields.
 */
#include <stdio.h>

#include "k3core/api/objects-internal.h"

static json_t *merge_value(const json_t *schema, const json_t *orig, const json_t *patch,
                           kobj_status *st, int *err);

static bool strategy_has(const json_t *schema, const char *what)
{
    const char *ms = json_string_value(json_object_get(schema, "ms"));
    return ms && strstr(ms, what);
}

static const json_t *find_by_key(const json_t *list, const char *key, const json_t *value,
                                 size_t *ret_idx)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        if (json_is_object(e) ? json_equal(json_object_get(e, key), value) : json_equal(e, value)) {
            if (ret_idx)
                *ret_idx = i;
            return e;
        }
    }
    return NULL;
}

static json_t *strip_directive(const json_t *elem)
{
    json_t *c = json_deep_copy(elem);
    json_object_del(c, "$patch");
    return c;
}

static json_t *merge_list(const json_t *schema, const json_t *orig, const json_t *patch,
                          kobj_status *st, int *err)
{
    const char *mk = json_string_value(json_object_get(schema, "mk"));
    const json_t *items = kres_schema_items(schema);
    json_t *out = json_is_array(orig) ? json_deep_copy(orig) : json_array();
    size_t i;
    json_t *pe;
    json_array_foreach(patch, i, pe)
    {
        const char *directive = json_string_value(json_object_get(pe, "$patch"));
        if (dd_streq(directive, "replace")) {
            json_decref(out);
            out = json_array();
            size_t j;
            json_t *x;
            json_array_foreach(patch, j, x) if (!json_object_get(x, "$patch"))
                json_array_append_new(out, strip_directive(x));
            return out;
        }
        const json_t *keyval = mk && json_is_object(pe) ? json_object_get(pe, mk) : pe;
        size_t idx;
        const json_t *cur = keyval ? find_by_key(out, mk ? mk : "", keyval, &idx) : NULL;
        if (!mk && !json_is_object(pe))
            cur = find_by_key(out, "", pe, &idx);
        if (dd_streq(directive, "delete")) {
            if (cur)
                json_array_remove(out, idx);
            continue;
        }
        if (cur && json_is_object(pe)) {
            json_t *m = merge_value(items, cur, pe, st, err);
            if (*err)
                break;
            json_array_set_new(out, idx, m);
        } else if (!cur) {
            json_array_append_new(out, json_is_object(pe) ? strip_directive(pe) : json_incref(pe));
        }
    }
    return out;
}

/* Reorders list by the keys (or values) in order; unlisted elements keep their relative order
 * after the listed ones. */
static json_t *apply_order(const json_t *schema, json_t *list, const json_t *order)
{
    const char *mk = json_string_value(json_object_get(schema, "mk"));
    json_t *out = json_array(), *rest = json_deep_copy(list);
    size_t i;
    json_t *o;
    json_array_foreach(order, i, o)
    {
        const json_t *keyval = mk && json_is_object(o) ? json_object_get(o, mk) : o;
        size_t idx;
        const json_t *e = find_by_key(rest, mk ? mk : "", keyval, &idx);
        if (e) {
            json_array_append(out, (json_t *)e);
            json_array_remove(rest, idx);
        }
    }
    json_array_extend(out, rest);
    json_decref(rest);
    json_decref(list);
    return out;
}

static void delete_from_primitive(json_t *list, const json_t *values)
{
    size_t i;
    json_t *v;
    json_array_foreach(values, i, v)
    {
        size_t idx;
        while (find_by_key(list, "", v, &idx))
            json_array_remove(list, idx);
    }
}

static void retain_keys(json_t *out, const json_t *keys)
{
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(out, tmp, k, v)
    {
        bool keep = false;
        size_t i;
        json_t *x;
        json_array_foreach(keys, i, x) if (dd_streq(json_string_value(x), k)) keep = true;
        if (!keep)
            json_object_del(out, k);
    }
}

static void apply_directive_key(const json_t *schema, json_t *out, const char *k, const json_t *v)
{
    if (dd_startswith(k, "$setElementOrder/")) {
        const char *field = k + strlen("$setElementOrder/");
        bool known;
        const json_t *child = kres_schema_child(schema, field, &known);
        json_t *list = json_object_get(out, field);
        if (json_is_array(list))
            json_object_set_new(
                out, field,
                apply_order(kres_schema_resolve(child) ? child : child, json_incref(list), v));
    } else if (dd_startswith(k, "$deleteFromPrimitiveList/")) {
        json_t *list = json_object_get(out, k + strlen("$deleteFromPrimitiveList/"));
        if (json_is_array(list))
            delete_from_primitive(list, v);
    }
}

static json_t *merge_map(const json_t *schema, const json_t *orig, const json_t *patch,
                         kobj_status *st, int *err)
{
    const char *directive = json_string_value(json_object_get(patch, "$patch"));
    if (dd_streq(directive, "replace"))
        return strip_directive(patch);
    json_t *out = json_is_object(orig) ? json_deep_copy(orig) : json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)patch, k, v)
    {
        if (k[0] == '$')
            continue;
        if (json_is_null(v)) {
            json_object_del(out, k);
            continue;
        }
        bool known;
        const json_t *child = kres_schema_child(schema, k, &known);
        json_t *m = merge_value(child, json_object_get(out, k), v, st, err);
        if (*err) {
            json_decref(m);
            json_decref(out);
            return NULL;
        }
        if (m)
            json_object_set_new(out, k, m);
        else
            json_object_del(out, k);
    }
    /* directives that look at merged fields run after the merge */
    json_object_foreach((json_t *)patch, k, v) if (k[0] == '$')
        apply_directive_key(schema, out, k, v);
    json_t *retain = json_object_get(patch, "$retainKeys");
    if (json_is_array(retain))
        retain_keys(out, retain);
    return out;
}

/* Returns the merged value (new reference) or NULL when the patch deletes it. */
static json_t *merge_value(const json_t *schema, const json_t *orig, const json_t *patch,
                           kobj_status *st, int *err)
{
    if (json_is_object(patch)) {
        if (dd_streq(json_string_value(json_object_get(patch, "$patch")), "delete"))
            return NULL;
        const json_t *n = kres_schema_resolve(schema);
        return merge_map(n ? schema : NULL, orig, patch, st, err);
    }
    if (json_is_array(patch)) {
        if (schema && strategy_has(schema, "merge"))
            return merge_list(schema, orig, patch, st, err);
        json_t *out = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(patch, i, e) if (!json_is_object(e) || !json_object_get(e, "$patch"))
            json_array_append_new(out, json_is_object(e) ? strip_directive(e) : json_incref(e));
        return out;
    }
    return json_incref((json_t *)patch);
}

int kobj_strategic_patch(const json_t *schema, const json_t *doc, const json_t *patch, json_t **ret,
                         kobj_status *st)
{
    if (!json_is_object(patch))
        return kobj_fail(st, 400, "BadRequest",
                         "strategic merge patch body must be a JSON "
                         "object");
    int err = 0;
    json_t *out = merge_map(schema, doc, patch, st, &err);
    if (err || !out) {
        json_decref(out);
        return err ? err : kobj_fail(st, 422, "Invalid", "the patch deletes the object");
    }
    *ret = out;
    return 0;
}
