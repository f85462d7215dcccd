/* managed: metadata.managedFields and server-side apply. A field set is upstream's FieldsV1 JSON
 * ("f:<name>" for fields, "k:{...}" for list-map elements keyed by their merge keys, "v:<json>"
 * for set elements, "." for an element itself). A write is compared with the stored object leaf
 * by leaf (list elements matched by key): updates give their manager the fields they added or
 * changed and take those and the removed ones from the others; apply gives its manager exactly
 * the applied fields (defaults filled in afterwards belong to nobody), reports fields another
 * manager owns and the apply changes as a 409 conflict in upstream's words (unless force),
 * records a co-owner of equal values, and removes fields the manager applied before but no
 * longer does when nobody else owns them. Each entry keeps the apiVersion its manager wrote
 * through; an entry of another served version of the kind (autoscaling/v1 ↔ v2) is compared in
 * its own version by converting the objects, as upstream does.
 *
 * Not done: the cap of ten Update entries, the client-side-apply → server-side-apply migration
 * of last-applied-configuration, atomic maps/structs (x-kubernetes-map-type) in the merge.
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

static bool element_matches(const json_t *elem, const json_t *keys)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)keys, k,
                        v) if (!json_equal(json_object_get(elem, k), v)) return false;
    return true;
}

/* The element of list v a "k:{...}" or "v:<json>" key names, or NULL. */
static const json_t *list_find(const json_t *v, const char *key)
{
    if (!json_is_array(v))
        return NULL;
    json_t *want = json_loads(key + 2, JSON_DECODE_ANY, NULL);
    const json_t *hit = NULL;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        if (want && (key[0] == 'k' ? element_matches(e, want) : json_equal(e, want))) {
            hit = e;
            break;
        }
    }
    json_decref(want);
    return hit;
}

static bool leaf_node(const json_t *sub)
{
    return json_object_size(sub) == 0 || (json_object_size(sub) == 1 && json_object_get(sub, "."));
}

/* The part of `set` (the field set of `now`) that `before` did not have with the same value:
 * leaves compared by value, list elements found by their keys, a field or element absent from
 * before counted whole (upstream's Compare: Added ∪ Modified). */
static json_t *set_changed(const json_t *set, const json_t *now, const json_t *before)
{
    json_t *out = json_object();
    const char *k;
    json_t *sub;
    json_object_foreach((json_t *)set, k, sub)
    {
        if (strcmp(k, ".") == 0)
            continue; /* the element itself: its parent decided */
        const json_t *nv, *bv;
        if (k[0] == 'f') {
            nv = json_is_object(now) ? json_object_get(now, k + 2) : NULL;
            bv = json_is_object(before) ? json_object_get(before, k + 2) : NULL;
        } else {
            nv = list_find(now, k);
            bv = list_find(before, k);
        }
        json_t *d = NULL;
        if (!bv) {
            d = json_deep_copy(sub);
        } else if (leaf_node(sub)) {
            if (!json_equal(nv, bv))
                d = json_deep_copy(sub);
        } else {
            d = set_changed(sub, nv, bv);
            if (!json_object_size(d)) {
                json_decref(d);
                d = NULL;
            }
        }
        if (d)
            json_object_set_new(out, k, d);
    }
    return out;
}

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

/* One path element as upstream's fieldpath prints it: ".name", "[key=\"v\",port=80]" for a
 * list-map element (keys sorted, values as JSON), "[=\"v\"]" for a set element. */
static char *path_element(const char *k)
{
    if (k[0] == 'f')
        return dd_asprintf(".%s", k + 2);
    json_t *key = json_loads(k + 2, JSON_DECODE_ANY, NULL);
    dd_buf b = DD_BUF_INIT;
    dd_buf_init(&b);
    dd_buf_adds(&b, "[");
    if (k[0] == 'k' && json_is_object(key)) {
        const char *name;
        json_t *v;
        json_object_foreach(key, name, v)
        {
            _cleanup_free_ char *val = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            dd_buf_addf(&b, "%s%s=%s", b.len > 1 ? "," : "", name, val ? val : "");
        }
    } else {
        _cleanup_free_ char *val =
            key ? json_dumps(key, JSON_ENCODE_ANY | JSON_COMPACT) : dd_strdup(k + 2);
        dd_buf_addf(&b, "=%s", val ? val : "");
    }
    dd_buf_adds(&b, "]");
    json_decref(key);
    char *out = dd_strdup(b.data);
    dd_buf_release(&b);
    return out;
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
        _cleanup_free_ char *el = path_element(k);
        _cleanup_free_ char *p = dd_asprintf("%s%s", prefix, el);
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

/* Whether e is the entry of (manager, op, subresource): upstream's manager identifier, which
 * for an updater also holds the apiVersion it wrote through (api_version NULL: any). */
static bool same_entry(const json_t *e, const char *manager, const char *op, const char *sub,
                       const char *api_version)
{
    const char *esub = json_string_value(json_object_get(e, "subresource"));
    if (sub && strcmp(sub, KOBJ_INTERNAL_WRITE) == 0)
        sub = NULL;
    if (api_version && !strcmp(op, "Update") &&
        !dd_streq(json_string_value(json_object_get(e, "apiVersion")), api_version))
        return false;
    return dd_streq(json_string_value(json_object_get(e, "manager")), manager) &&
           dd_streq(json_string_value(json_object_get(e, "operation")), op) &&
           dd_streq(esub ? esub : "", sub ? sub : "");
}

static json_t *changed_fields(const kres_resource *r, const json_t *obj, const json_t *old);
static json_t *removed_fields(const kres_resource *r, const json_t *obj, const json_t *old);

/* A write as the managers it takes fields from see it: the object after and before (NULL on
 * create), in the shape of r, the version the client wrote through. */
typedef struct write_view {
    const kres_resource *r;
    const json_t *obj, *old;
} write_view;

/* The other served version of r's stored kind that entry e was recorded through, or NULL when
 * e is in r's version (or names nothing convertible). */
static const kres_resource *entry_version(const kres_resource *r, const json_t *e)
{
    const char *av = json_string_value(json_object_get(e, "apiVersion"));
    char mine[256], group[256];
    kres_api_version(r, mine, sizeof(mine));
    if (!av || !strcmp(av, mine))
        return NULL;
    const char *slash = strchr(av, '/');
    snprintf(group, sizeof(group), "%.*s", slash ? (int)(slash - av) : 0, av);
    const kres_resource *t = kres_lookup(group, slash ? slash + 1 : av, r->resource);
    if (!t || t == r || kobj_storage_res(t) != kobj_storage_res(r))
        return NULL;
    return t;
}

/* obj (in r's shape) as version t serves it (a new object). */
static json_t *as_version(const kres_resource *r, const kres_resource *t, const json_t *obj)
{
    if (!obj)
        return NULL;
    json_t *stored = kobj_to_storage(r, obj);
    if (stored == obj) {
        json_decref(stored);
        stored = json_deep_copy(obj);
    }
    return kobj_from_storage(t, stored);
}

/* What the write took from entry e — `own` (computed in r's version) or, for an entry recorded
 * through another version, the changed (and removed) fields computed again in that version:
 * upstream compares each manager's set in its own version. */
static json_t *taken_from(const write_view *w, const json_t *e, const json_t *own,
                          bool with_removed)
{
    const kres_resource *t = w ? entry_version(w->r, e) : NULL;
    if (!t)
        return json_incref((json_t *)own);
    json_t *obj = as_version(w->r, t, w->obj), *old = as_version(w->r, t, w->old);
    json_t *taken = changed_fields(t, obj, old);
    if (with_removed) {
        json_t *gone = removed_fields(t, obj, old);
        set_union_into(taken, gone);
        json_decref(gone);
    }
    json_decref(obj);
    json_decref(old);
    return taken;
}

/* Removes what the write took (`taken` in r's version, see taken_from) from every entry but
 * `keep`, dropping entries left empty. */
static json_t *take_from_others(const write_view *w, const json_t *entries, const json_t *taken,
                                const json_t *keep, bool with_removed)
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
        json_t *t = taken_from(w, e, taken, with_removed);
        json_t *rest = set_minus(json_object_get(e, "fieldsV1"), t);
        json_decref(t);
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

/* Fields of obj that are new or hold another value than in old (what a write changed). */
static json_t *changed_fields(const kres_resource *r, const json_t *obj, const json_t *old)
{
    json_t *now = kobj_fieldset(r, obj);
    if (!old)
        return now;
    json_t *changed = set_changed(now, obj, old);
    json_decref(now);
    return changed;
}

/* Fields old had and obj no longer has. */
static json_t *removed_fields(const kres_resource *r, const json_t *obj, const json_t *old)
{
    if (!old)
        return json_object();
    json_t *before = kobj_fieldset(r, old), *now = kobj_fieldset(r, obj);
    json_t *gone = set_minus(before, now);
    json_decref(before);
    json_decref(now);
    return gone;
}

static int entry_field_cmp(const json_t *a, const json_t *b, const char *key)
{
    const char *x = json_string_value(json_object_get(a, key));
    const char *y = json_string_value(json_object_get(b, key));
    return strcmp(x ? x : "", y ? y : "");
}

/* upstream's encoding order: operation ("Apply" before "Update"), time (whole seconds, which
 * our RFC 3339 strings compare as), manager, apiVersion, subresource */
static int entry_order(const void *pa, const void *pb)
{
    const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
    static const char *const keys[] = {"operation", "time", "manager", "apiVersion", "subresource"};
    for (size_t i = 0; i < DD_ARRAY_SIZE(keys); i++) {
        int c = entry_field_cmp(a, b, keys[i]);
        if (c)
            return c;
    }
    return 0;
}

/* `others` (take_from_others' result) with `mine` replaced by `entry` (steals it), or entry
 * added when the manager had none (entry NULL: mine dropped), in upstream's order. */
static json_t *entries_with(const json_t *others, const json_t *mine, json_t *entry)
{
    size_t n = json_array_size(others) + 1, k = 0, i;
    json_t **v = dd_calloc(n, sizeof(*v));
    json_t *e;
    json_array_foreach(others, i, e)
    {
        if (e != mine)
            v[k++] = e;
    }
    if (entry)
        v[k++] = entry;
    qsort(v, k, sizeof(*v), entry_order);
    json_t *fresh = json_array();
    for (i = 0; i < k; i++)
        json_array_append(fresh, v[i]);
    free(v);
    json_decref(entry);
    return fresh;
}

/* Upstream's Update: the manager gains what the write added or changed, and everyone loses
 * what it changed or removed (an update always "forces"). */
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
    json_t *removed = removed_fields(r, obj, old);
    if (!json_object_size(changed) && !json_object_size(removed) && old) {
        json_object_set(meta, "managedFields", entries ? entries : json_array());
        if (!entries)
            json_object_del(meta, "managedFields");
        json_decref(changed);
        json_decref(removed);
        return;
    }
    json_t *mine = NULL;
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e)
    {
        if (same_entry(e, manager, operation, subresource, av))
            mine = e;
    }
    json_t *taken = json_deep_copy(changed);
    set_union_into(taken, removed);
    json_t *none = json_array();
    write_view w = {r, obj, old};
    json_t *out = take_from_others(&w, entries ? entries : none, taken, mine, true);
    json_decref(none);
    json_decref(taken);
    json_t *merged = mine ? json_deep_copy(json_object_get(mine, "fieldsV1")) : json_object();
    set_union_into(merged, changed);
    json_t *kept = set_minus(merged, removed);
    json_decref(merged);
    json_decref(changed);
    json_decref(removed);
    json_t *entry = NULL;
    if (json_object_size(kept))
        entry = entry_new(manager, operation, av, subresource, kept);
    else
        json_decref(kept);
    json_t *fresh = entries_with(out, mine, entry);
    json_decref(out);
    json_object_set_new(meta, "managedFields", fresh);
}

/* ---- server-side apply ---- */

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

/* A manager as upstream's conflict messages name it: "name" for an applier, "name" using
 * group/version for an updater, with its subresource if any. */
static char *manager_label(const json_t *e)
{
    const char *sub = json_string_value(json_object_get(e, "subresource"));
    _cleanup_free_ char *with_sub =
        sub && *sub ? dd_asprintf(" with subresource \"%s\"", sub) : dd_strdup("");
    const char *name = json_string_value(json_object_get(e, "manager"));
    if (dd_streq(json_string_value(json_object_get(e, "operation")), "Update"))
        return dd_asprintf("\"%s\"%s using %s", name ? name : "", with_sub,
                           json_string_value(json_object_get(e, "apiVersion")) ?: "");
    return dd_asprintf("\"%s\"%s", name ? name : "", with_sub);
}

static int by_label(const void *a, const void *b)
{
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "label"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "label"));
    return strcmp(x ? x : "", y ? y : "");
}

/* 409 in upstream's words: one conflict on one line, more grouped by manager (sorted), one
 * "- path" line each. `found` holds {label, paths[]} per conflicting manager. */
static int conflict_error(kobj_status *st, json_t *found, size_t n)
{
    size_t nm = json_array_size(found);
    json_t **groups = dd_calloc(nm ? nm : 1, sizeof(*groups));
    for (size_t i = 0; i < nm; i++)
        groups[i] = json_array_get(found, i);
    qsort(groups, nm, sizeof(*groups), by_label);
    dd_buf b = DD_BUF_INIT;
    dd_buf_init(&b);
    json_t *causes = json_array();
    for (size_t i = 0; i < nm; i++) {
        const char *label = json_string_value(json_object_get(groups[i], "label"));
        if (n > 1)
            dd_buf_addf(&b, "%sconflicts with %s:", i ? "\n" : "", label);
        size_t j;
        json_t *path;
        json_array_foreach(json_object_get(groups[i], "paths"), j, path)
        {
            _cleanup_free_ char *msg = dd_asprintf("conflict with %s", label);
            json_array_append_new(causes,
                                  json_pack("{s:s,s:s,s:O}", "reason", "FieldManagerConflict",
                                            "message", msg, "field", path));
            if (n == 1)
                dd_buf_addf(&b, "conflict with %s: %s", label, json_string_value(path));
            else
                dd_buf_addf(&b, "\n- %s", json_string_value(path));
        }
    }
    free(groups);
    int r = kobj_fail(st, 409, "Conflict", "Apply failed with %zu conflict%s: %s", n,
                      n == 1 ? "" : "s", b.data);
    dd_buf_release(&b);
    st->causes = causes;
    return r;
}

/* Upstream's apply conflicts: the fields another manager (any entry but this applier's own)
 * owns among those the apply changes. */
static int find_conflicts(const write_view *w, const json_t *entries, const json_t *changed,
                          const char *manager, kobj_status *st, bool force)
{
    json_t *found = json_array();
    size_t n = 0, i;
    json_t *e;
    json_array_foreach(entries, i, e)
    {
        if (same_entry(e, manager, "Apply", NULL, NULL))
            continue;
        char **paths = NULL;
        json_t *taken = taken_from(w, e, changed, false);
        set_common(json_object_get(e, "fieldsV1"), taken, "", &paths);
        json_decref(taken);
        if (paths) {
            _cleanup_free_ char *label = manager_label(e);
            json_t *list = json_array();
            for (size_t p = 0; paths[p]; p++, n++)
                json_array_append_new(list, json_string(paths[p]));
            json_array_append_new(found, json_pack("{s:s,s:o}", "label", label, "paths", list));
        }
        dd_strv_free(paths);
    }
    int r = n && !force ? conflict_error(st, found, n) : 0;
    json_decref(found);
    return r;
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
    write_view w = {r, merged, live};
    rr = find_conflicts(&w, entries, conflict_set, manager, st, force);
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
    json_array_foreach(entries, i, e) if (same_entry(e, manager, "Apply", NULL, NULL)) mine = e;
    if (mine) {
        json_t *drop = fields_to_drop(entries, mine, aset);
        remove_fields(merged, drop);
        json_decref(drop);
    }
    json_t *none = json_array(), *nothing = json_object();
    json_t *others = take_from_others(force ? &w : NULL, entries ? entries : none,
                                      force ? conflict_set : nothing, mine, false);
    json_decref(none);
    json_decref(nothing);
    json_decref(conflict_set);
    json_t *entry = entry_new(manager, "Apply", av, NULL, aset);
    if (mine && json_equal(json_object_get(mine, "fieldsV1"), aset) &&
        dd_streq(json_string_value(json_object_get(mine, "apiVersion")), av))
        json_object_set(entry, "time", json_object_get(mine, "time")); /* nothing new applied */
    json_t *fresh = entries_with(others, mine, entry);
    json_decref(others);
    json_object_set_new(kobj_meta(merged), "managedFields", fresh);
    *ret = merged;
    return 0;
}
