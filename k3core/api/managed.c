/* managed: metadata.managedFields and server-side apply. A field set is upstream's FieldsV1 JSON
 * ("f:<name>" for fields, "k:{...}" for list-map elements keyed by their merge keys, "v:<json>"
 * for set elements, "." for an element itself). Updates give their manager the fields they
 * changed and take them from the others; apply gives its manager exactly the applied fields,
 * reports fields that another manager owns with a different value as a 409 conflict (unless
 * force), and removes fields the manager applied before but no longer does when nobody else
 * owns them.
 */
#include <stdio.h>

#include "k3core/api/objects-internal.h"

/* ---- building field sets ---- */

static void set_of(const json_t *schema, const json_t *v, json_t *out);

static char *element_key(const json_t *schema, const json_t *elem)
{
    const json_t *keys = json_object_get(schema, "lk");
    const char *mk = json_string_value(json_object_get(schema, "mk"));
    if (!json_is_object(elem)) {
        _cleanup_free_ char *s = json_dumps(elem, JSON_ENCODE_ANY | JSON_COMPACT);
        return dd_asprintf("v:%s", s);
    }
    json_t *k = json_object();
    size_t i;
    json_t *name;
    json_array_foreach(keys, i, name)
    {
        json_t *val = json_object_get(elem, json_string_value(name));
        if (val)
            json_object_set(k, json_string_value(name), val);
    }
    if (!json_object_size(k) && mk && json_object_get(elem, mk))
        json_object_set(k, mk, json_object_get(elem, mk));
    if (!json_object_size(k)) {
        json_decref(k);
        return NULL;
    }
    _cleanup_free_ char *s = json_dumps(k, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(k);
    return dd_asprintf("k:%s", s);
}

static bool keyed_list(const json_t *schema)
{
    const char *lt = json_string_value(json_object_get(schema, "lt"));
    const char *ms = json_string_value(json_object_get(schema, "ms"));
    return dd_streq(lt, "map") || dd_streq(lt, "set") || (ms && strstr(ms, "merge"));
}

static void list_set(const json_t *schema, const json_t *v, json_t *out)
{
    const json_t *items = kres_schema_items(schema);
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        _cleanup_free_ char *k = element_key(schema, e);
        if (!k)
            continue;
        json_t *sub = json_object();
        if (json_is_object(e)) {
            json_object_set_new(sub, ".", json_object());
            set_of(items, e, sub);
        }
        json_object_set_new(out, k, sub);
    }
}

static void set_of(const json_t *schema, const json_t *v, json_t *out)
{
    const json_t *n = kres_schema_resolve(schema);
    const char *k;
    json_t *child;
    json_object_foreach((json_t *)v, k, child)
    {
        _cleanup_free_ char *fk = dd_asprintf("f:%s", k);
        bool known;
        const json_t *cs = n ? kres_schema_child(n, k, &known) : NULL;
        json_t *sub = json_object();
        if (json_is_object(child) && !json_is_true(json_object_get(kres_schema_resolve(cs), "u")))
            set_of(cs, child, sub);
        else if (json_is_array(child) && cs && keyed_list(cs))
            list_set(cs, child, sub);
        json_object_set_new(out, fk, sub);
    }
}

json_t *kobj_fieldset(const kres_resource *r, const json_t *obj)
{
    json_t *copy = json_deep_copy(obj);
    json_object_del(copy, "apiVersion");
    json_object_del(copy, "kind");
    json_object_del(copy, "status");
    json_t *meta = json_object_get(copy, "metadata");
    static const char *const skip[] = {"name",
                                       "namespace",
                                       "uid",
                                       "resourceVersion",
                                       "creationTimestamp",
                                       "generation",
                                       "managedFields",
                                       "deletionTimestamp",
                                       "deletionGracePeriodSeconds",
                                       "selfLink",
                                       "generateName"};
    for (size_t i = 0; i < DD_ARRAY_SIZE(skip); i++)
        json_object_del(meta, skip[i]);
    if (json_object_size(meta) == 0)
        json_object_del(copy, "metadata");
    json_t *out = json_object();
    set_of(kres_schema(r), copy, out);
    json_decref(copy);
    return out;
}

/* ---- set algebra on FieldsV1 trees ---- */

/* a minus b (new tree). A node present in both with children recurses; leaves in b remove. */
static json_t *set_minus(const json_t *a, const json_t *b)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)a, k, v)
    {
        json_t *bv = json_object_get(b, k);
        if (!bv) {
            json_object_set(out, k, v);
        } else if (json_object_size(v) && json_object_size(bv)) {
            json_t *d = set_minus(v, bv);
            if (json_object_size(d) && !(json_object_size(d) == 1 && json_object_get(d, ".")))
                json_object_set_new(out, k, d);
            else
                json_decref(d);
        } else if (json_object_size(v) && !json_object_size(bv)) {
            /* b owns the node as a leaf; a keeps its children */
            json_t *d = json_deep_copy(v);
            json_object_del(d, ".");
            if (json_object_size(d))
                json_object_set_new(out, k, d);
            else
                json_decref(d);
        }
    }
    return out;
}

static void set_union_into(json_t *a, const json_t *b)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)b, k, v)
    {
        json_t *av = json_object_get(a, k);
        if (!av)
            json_object_set_new(a, k, json_deep_copy(v));
        else
            set_union_into(av, v);
    }
}

/* Leaf paths of the intersection of a and b, as ".spec.replicas"-style strings. */
static void set_common(const json_t *a, const json_t *b, const char *prefix, char ***paths)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)a, k, v)
    {
        json_t *bv = json_object_get(b, k);
        if (!bv || strcmp(k, ".") == 0)
            continue;
        _cleanup_free_ char *p = k[0] == 'f' ? dd_asprintf("%s.%s", prefix, k + 2)
                                             : dd_asprintf("%s[%s]", prefix, k + 2);
        if (json_object_size(v) == 0 || json_object_size(bv) == 0)
            *paths = dd_strv_push(*paths, p);
        else
            set_common(v, bv, p, paths);
    }
}

/* ---- managedFields entries ---- */

static json_t *entry_new(const char *manager, const char *op, const char *api_version,
                         const char *subresource, json_t *set_new)
{
    char now[32];
    kobj_now(now);
    json_t *e =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}", "manager", manager, "operation", op, "apiVersion",
                  api_version, "time", now, "fieldsType", "FieldsV1", "fieldsV1", set_new);
    if (subresource && strcmp(subresource, KOBJ_INTERNAL_WRITE) != 0)
        jx_set_str(e, "subresource", subresource);
    return e;
}

static bool same_entry(const json_t *e, const char *manager, const char *op, const char *sub)
{
    const char *esub = json_string_value(json_object_get(e, "subresource"));
    if (sub && strcmp(sub, KOBJ_INTERNAL_WRITE) == 0)
        sub = NULL;
    return dd_streq(json_string_value(json_object_get(e, "manager")), manager) &&
           dd_streq(json_string_value(json_object_get(e, "operation")), op) &&
           dd_streq(esub ? esub : "", sub ? sub : "");
}

/* Removes `taken` from every entry but skip_idx, dropping entries left empty. */
static json_t *take_from_others(const json_t *entries, const json_t *taken, const json_t *keep)
{
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e)
    {
        if (e == keep) {
            json_array_append(out, e);
            continue;
        }
        json_t *rest = set_minus(json_object_get(e, "fieldsV1"), taken);
        if (json_object_size(rest)) {
            json_t *c = json_copy(e);
            json_object_set_new(c, "fieldsV1", rest);
            json_array_append_new(out, c);
        } else {
            json_decref(rest);
        }
    }
    return out;
}

/* Fields of new_set whose values differ from old's (what an update changed). */
static json_t *changed_fields(const kres_resource *r, const json_t *obj, const json_t *old)
{
    json_t *now = kobj_fieldset(r, obj);
    if (!old)
        return now;
    json_t *before = kobj_fieldset(r, old);
    /* fields present now but not before, plus leaves whose value changed: approximated by
     * comparing serialised subtrees per top-level field */
    json_t *added = set_minus(now, before);
    const char *k;
    json_t *v;
    json_object_foreach(now, k, v)
    {
        const char *field = k + 2;
        json_t *a = json_object_get(obj, field), *b = json_object_get(old, field);
        if (strcmp(field, "metadata") == 0 || strcmp(field, "spec") == 0) {
            const char *k2;
            json_t *v2;
            json_object_foreach(
                v, k2, v2) if (!json_equal(json_object_get(a, k2 + 2), json_object_get(b, k2 + 2)))
            {
                json_t *slot = json_object_get(added, k);
                if (!slot)
                    json_object_set_new(added, k, slot = json_object());
                json_object_set(slot, k2, v2);
            }
        } else if (!json_equal(a, b)) {
            json_object_set(added, k, v);
        }
    }
    json_decref(now);
    json_decref(before);
    return added;
}

void kobj_record_manager(const kres_resource *r, json_t *obj, const json_t *old,
                         const char *manager, const char *operation, const char *subresource)
{
    char av[256];
    kres_api_version(r, av, sizeof(av));
    if (!manager || !*manager)
        manager = "unknown";
    json_t *meta = kobj_meta(obj);
    json_t *entries = json_object_get(json_object_get(old, "metadata"), "managedFields");
    json_t *changed = changed_fields(r, obj, old);
    if (!json_object_size(changed) && old) {
        json_object_set(meta, "managedFields", entries ? entries : json_array());
        if (!entries)
            json_object_del(meta, "managedFields");
        json_decref(changed);
        return;
    }
    json_t *mine = NULL;
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e) if (same_entry(e, manager, operation, subresource)) mine = e;
    json_t *none = json_array();
    json_t *out = take_from_others(entries ? entries : none, changed, mine);
    json_decref(none);
    json_t *merged = mine ? json_deep_copy(json_object_get(mine, "fieldsV1")) : json_object();
    set_union_into(merged, changed);
    json_decref(changed);
    /* replace (or add) this manager's entry */
    json_t *fresh = json_array();
    json_array_foreach(out, i, e) if (e != mine) json_array_append(fresh, e);
    json_array_append_new(fresh, entry_new(manager, operation, av, subresource, merged));
    json_decref(out);
    json_object_set_new(meta, "managedFields", fresh);
}

/* ---- server-side apply ---- */

static bool leaf_node(const json_t *sub)
{
    return json_object_size(sub) == 0 || (json_object_size(sub) == 1 && json_object_get(sub, "."));
}

static bool element_matches(const json_t *elem, const json_t *keys)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)keys, k,
                        v) if (!json_equal(json_object_get(elem, k), v)) return false;
    return true;
}

/* Removes from v the fields a field set names (fields the applier stopped applying). */
static void remove_fields(json_t *v, const json_t *set)
{
    const char *k;
    json_t *sub;
    json_object_foreach((json_t *)set, k, sub)
    {
        if (k[0] == 'f' && json_is_object(v)) {
            if (leaf_node(sub))
                json_object_del(v, k + 2);
            else
                remove_fields(json_object_get(v, k + 2), sub);
            continue;
        }
        if (!json_is_array(v) || (k[0] != 'k' && k[0] != 'v'))
            continue;
        json_t *key = json_loads(k + 2, JSON_DECODE_ANY, NULL);
        for (size_t i = json_array_size(v); key && i-- > 0;) {
            json_t *e = json_array_get(v, i);
            bool hit = k[0] == 'k' ? element_matches(e, key) : json_equal(e, key);
            if (hit && leaf_node(sub))
                json_array_remove(v, i);
            else if (hit)
                remove_fields(e, sub);
        }
        json_decref(key);
    }
}

/* Fields `mine` applied before and `applied` no longer has, minus what others still own. */
static json_t *fields_to_drop(const json_t *entries, const json_t *mine, const json_t *applied)
{
    json_t *drop = set_minus(json_object_get(mine, "fieldsV1"), applied);
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e)
    {
        if (e == mine)
            continue;
        json_t *rest = set_minus(drop, json_object_get(e, "fieldsV1"));
        json_decref(drop);
        drop = rest;
    }
    return drop;
}

static int conflict_error(kobj_status *st, json_t *conflicts, size_t n)
{
    dd_buf b = DD_BUF_INIT;
    dd_buf_init(&b);
    dd_buf_addf(&b, "Apply failed with %zu conflict%s: ", n, n == 1 ? "" : "s");
    size_t i;
    json_t *c;
    json_array_foreach(conflicts, i, c)
    {
        const char *msg = json_string_value(json_object_get(c, "message"));
        const char *field = json_string_value(json_object_get(c, "field"));
        if (n == 1)
            dd_buf_addf(&b, "%s: %s", msg, field);
        else
            dd_buf_addf(&b, "%s%s: %s", i ? "\n" : "", msg, field);
    }
    int r = kobj_fail(st, 409, "Conflict", "%s", b.data);
    dd_buf_release(&b);
    st->causes = conflicts;
    return r;
}

static int find_conflicts(const json_t *entries, const json_t *applied_set, const char *manager,
                          json_t **ret_taken, kobj_status *st, bool force)
{
    json_t *conflicts = json_array(), *taken = json_object();
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e)
    {
        if (dd_streq(json_string_value(json_object_get(e, "manager")), manager))
            continue;
        char **paths = NULL;
        set_common(json_object_get(e, "fieldsV1"), applied_set, "", &paths);
        for (size_t p = 0; paths && paths[p]; p++) {
            _cleanup_free_ char *msg = dd_asprintf(
                "conflict with \"%s\"%s%s", json_string_value(json_object_get(e, "manager")),
                json_string_value(json_object_get(e, "apiVersion")) ? " using " : "",
                json_string_value(json_object_get(e, "apiVersion")) ?: "");
            json_array_append_new(conflicts,
                                  json_pack("{s:s,s:s,s:s}", "reason", "FieldManagerConflict",
                                            "message", msg, "field", paths[p]));
        }
        dd_strv_free(paths);
    }
    size_t n = json_array_size(conflicts);
    *ret_taken = taken;
    if (n && !force)
        return conflict_error(st, conflicts, n);
    json_decref(conflicts);
    return 0;
}

int kobj_server_side_apply(const kres_resource *r, const json_t *live, const json_t *applied,
                           const char *manager, bool force, json_t **ret, kobj_status *st)
{
    if (!json_is_object(applied))
        return kobj_fail(st, 400, "BadRequest", "apply patch body must be an object");
    if (!manager || !*manager)
        return kobj_fail(st, 400, "BadRequest",
                         "PATCH, application/apply-patch+yaml requests "
                         "must have a fieldManager");
    json_t *aset = kobj_fieldset(r, applied);
    json_t *entries =
        live ? json_object_get(json_object_get(live, "metadata"), "managedFields") : NULL;
    /* fields whose applied value equals the live one are shared, not conflicting */
    json_t *merged = NULL;
    int rr = live ? kobj_strategic_patch(kres_schema(r), live, applied, &merged, st)
                  : (merged = json_deep_copy(applied), 0);
    if (rr < 0) {
        json_decref(aset);
        return rr;
    }
    json_t *diff = live ? changed_fields(r, merged, live) : json_object();
    json_t *conflict_set = json_object();
    set_union_into(conflict_set, diff);
    json_t *taken = NULL;
    rr = find_conflicts(entries, conflict_set, manager, &taken, st, force);
    json_decref(taken);
    json_decref(diff);
    if (rr < 0) {
        json_decref(aset);
        json_decref(conflict_set);
        json_decref(merged);
        return rr;
    }
    char av[256];
    kres_api_version(r, av, sizeof(av));
    json_t *mine = NULL;
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e) if (same_entry(e, manager, "Apply", NULL)) mine = e;
    if (mine) {
        json_t *drop = fields_to_drop(entries, mine, aset);
        remove_fields(merged, drop);
        json_decref(drop);
    }
    json_t *none = json_array(), *nothing = json_object();
    json_t *others =
        take_from_others(entries ? entries : none, force ? conflict_set : nothing, mine);
    json_decref(none);
    json_decref(nothing);
    json_decref(conflict_set);
    json_t *fresh = json_array();
    json_array_foreach(others, i, e) if (e != mine) json_array_append(fresh, e);
    json_array_append_new(fresh, entry_new(manager, "Apply", av, NULL, aset));
    json_decref(others);
    json_object_set_new(kobj_meta(merged), "managedFields", fresh);
    *ret = merged;
    return 0;
}
