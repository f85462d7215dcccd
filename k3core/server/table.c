/* table.c: meta.k8s.io Table responses (what `kubectl get` prints). A column table per
 * (group, resource) — data, like upstream's printers — names each column, its type, priority
 * (1 = only with -o wide) and the function computing its cell; custom resources use their CRD's
 * additionalPrinterColumns (JSONPath subset: dotted fields), everything else NAME and AGE.
 * includeObject=None|Metadata|Object decides what each row carries (default Metadata:
 * PartialObjectMetadata, which `--show-labels` and `-L` read).
 *
 * The kind-specific cell functions live in table-cells.c.
 */
#include <stdio.h>

#include "k3core/server/server-internal.h"
#include "k3core/server/table-internal.h"

static kobj_api *g_api; /* for CRD printer columns */

void ksrv_table_set_api(kobj_api *api)
{
    g_api = api;
}

const json_t *tpath(const json_t *obj, const char *path)
{
    const json_t *cur = obj;
    char key[128];
    while (cur && *path) {
        if (*path == '.')
            path++;
        size_t n = strcspn(path, ".");
        if (n >= sizeof(key))
            return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        path += n;
        cur = json_object_get(cur, key);
    }
    return cur;
}

const char *tstr(const json_t *obj, const char *path)
{
    return json_string_value(tpath(obj, path));
}

/* kubectl's duration.HumanDuration. */
void human_duration(int64_t secs, char *out, size_t n)
{
    int64_t m = secs / 60, h = secs / 3600, d = h / 24, y = d / 365;
    if (secs < -1)
        snprintf(out, n, "<invalid>");
    else if (secs < 0)
        snprintf(out, n, "0s");
    else if (secs < 120)
        snprintf(out, n, "%llds", (long long)secs);
    else if (m < 10 && secs % 60)
        snprintf(out, n, "%lldm%llds", (long long)m, (long long)(secs % 60));
    else if (m < 180)
        snprintf(out, n, "%lldm", (long long)m);
    else if (h < 8 && m % 60)
        snprintf(out, n, "%lldh%lldm", (long long)h, (long long)(m % 60));
    else if (h < 48)
        snprintf(out, n, "%lldh", (long long)h);
    else if (h < 192 && h % 24)
        snprintf(out, n, "%lldd%lldh", (long long)d, (long long)(h % 24));
    else if (d < 730)
        snprintf(out, n, "%lldd", (long long)d);
    else if (y < 8 && d % 365)
        snprintf(out, n, "%lldy%lldd", (long long)y, (long long)(d % 365));
    else
        snprintf(out, n, "%lldy", (long long)y);
}

json_t *age_of(const char *ts)
{
    int64_t ns;
    if (!ts || dd_parse_rfc3339(ts, &ns) < 0)
        return json_string("<unknown>");
    char buf[32];
    human_duration((dd_now_ns() - ns) / 1000000000LL, buf, sizeof(buf));
    return json_string(buf);
}

json_t *cell_name(const json_t *o)
{
    return json_string(tstr(o, "metadata.name") ? tstr(o, "metadata.name") : "");
}

json_t *cell_age(const json_t *o)
{
    return age_of(tstr(o, "metadata.creationTimestamp"));
}

json_t *tstr_or(const char *s, const char *def)
{
    return json_string(s && *s ? s : def);
}

json_t *cell_created(const json_t *o)
{
    return tstr_or(tstr(o, "metadata.creationTimestamp"), "");
}

/* custom resources without additionalPrinterColumns: NAME and AGE, as upstream's CRD handler */
static const struct tcol default_cols[] = {
    {"Name", "string", "name", 0, cell_name, NULL},
    {"Age", "string", "", 0, cell_age, NULL},
};

/* built-in kinds upstream has no printer for (roles, clusterroles, limitranges...): the generic
 * apiserver's default table, NAME and CREATED AT */
static const struct tcol created_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Created At", "date", "", 0, cell_created, TD_AGE},
};
static const struct tkind default_kind = KIND("", "", default_cols);
static const struct tkind created_kind = KIND("", "", created_cols);

static const struct tkind *find_kind(const kres_resource *r)
{
    r = kobj_storage_res(r);
    const struct tkind *sets[] = {ktable_apps, ktable_core, ktable_policy, ktable_infra};
    const size_t counts[] = {ktable_napps, ktable_ncore, ktable_npolicy, ktable_ninfra};
    for (size_t s = 0; s < DD_ARRAY_SIZE(sets); s++) {
        for (size_t i = 0; i < counts[s]; i++) {
            const struct tkind *k = &sets[s][i];
            if (!strcmp(k->group, r->group) && !strcmp(k->resource, r->resource))
                return k;
        }
    }
    return (r->flags & KRES_CUSTOM) ? &default_kind : &created_kind;
}

static json_t *coldef(const char *name, const char *type, const char *format, int priority,
                      const char *desc)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:i}", "name", name, "type", type, "format",
                     format ? format : "", "description", desc ? desc : "", "priority", priority);
}

static json_t *row_object(const json_t *obj, const char *include)
{
    if (include && !strcmp(include, "None"))
        return NULL;
    if (include && !strcmp(include, "Object"))
        return json_incref((json_t *)obj);
    json_t *meta = json_deep_copy(json_object_get(obj, "metadata"));
    json_object_del(meta, "managedFields");
    return json_pack("{s:s, s:s, s:o}", "kind", "PartialObjectMetadata", "apiVersion",
                     "meta.k8s.io/v1", "metadata", meta ? meta : json_object());
}

/* CRD additionalPrinterColumns for r's version, or NULL. */
static json_t *crd_columns(const kres_resource *r)
{
    if (!(r->flags & KRES_CUSTOM) || !g_api)
        return NULL;
    const kres_resource *crdres =
        kres_lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions");
    /* schema_name of a custom resource is "<crd name>/<version>" */
    _cleanup_free_ char *crd_name = dd_strndup(r->schema_name, strcspn(r->schema_name, "/"));
    kobj_req kr = {.res = crdres, .name = crd_name};
    kobj_status st = {0};
    json_t *crd = NULL, *out = NULL, *v;
    size_t i;
    if (!crdres || kobj_get(g_api, &kr, &crd, &st) < 0) {
        kobj_status_release(&st);
        return NULL;
    }
    json_array_foreach(tpath(crd, "spec.versions"), i, v)
    {
        if (dd_streq(tstr(v, "name"), r->version))
            out = json_incref(json_object_get(v, "additionalPrinterColumns"));
    }
    json_decref(crd);
    return out;
}

static json_t *crd_cell(const json_t *obj, const json_t *col)
{
    const char *jp = tstr(col, "jsonPath");
    const char *type = tstr(col, "type");
    const json_t *v = jp ? tpath(obj, jp) : NULL;
    if (!v)
        return json_null();
    if (dd_streq(type, "date") && json_is_string(v))
        return age_of(json_string_value(v));
    return json_deep_copy(v);
}

static void add_rows(const kres_resource *r, json_t *rows, const json_t *obj,
                     const struct tcol *cols, size_t ncols, const json_t *crdcols,
                     const char *include)
{
    json_t *cells = json_array(), *c;
    size_t i;
    if (kobj_storage_res(r) != r) {
        /* columns of the stored kind (events.k8s.io Events print as core Events, as upstream) */
        json_t *stored = kobj_to_storage(r, obj);
        for (i = 0; i < ncols; i++)
            json_array_append_new(cells, cols[i].cell(stored));
        json_decref(stored);
    } else if (crdcols) {
        json_array_append_new(cells, cell_name(obj));
        json_array_foreach(crdcols, i, c) json_array_append_new(cells, crd_cell(obj, c));
        json_array_append_new(cells, cell_age(obj));
    } else {
        for (i = 0; i < ncols; i++)
            json_array_append_new(cells, cols[i].cell(obj));
    }
    json_t *row = json_pack("{s:o}", "cells", cells);
    json_t *ro = row_object(obj, include);
    if (ro)
        json_object_set_new(row, "object", ro);
    json_array_append_new(rows, row);
}

static json_t *column_defs(const struct tcol *cols, size_t ncols, const json_t *crdcols)
{
    json_t *defs = json_array(), *c;
    size_t i;
    if (!crdcols) {
        for (i = 0; i < ncols; i++)
            json_array_append_new(defs, coldef(cols[i].name, cols[i].type, cols[i].format,
                                               cols[i].priority, cols[i].desc));
        return defs;
    }
    json_array_append_new(defs, coldef("Name", "string", "name", 0, NULL));
    json_array_foreach(crdcols, i, c)
    {
        json_int_t prio = json_integer_value(json_object_get(c, "priority"));
        const char *type = tstr(c, "type") ? tstr(c, "type") : "string";
        json_array_append_new(defs, coldef(tstr(c, "name") ? tstr(c, "name") : "",
                                           !strcmp(type, "date") ? "string" : type,
                                           tstr(c, "format"), (int)prio, tstr(c, "description")));
    }
    json_array_append_new(defs, coldef("Age", "string", "", 0, NULL));
    return defs;
}

json_t *ksrv_table(const kres_resource *r, const json_t *in, const char *version,
                   const char *include, bool list)
{
    size_t i;
    const struct tkind *kind = find_kind(r);
    const struct tcol *cols = kind->cols;
    size_t ncols = kind->ncols;
    json_t *crdcols = crd_columns(r);
    json_t *rows = json_array(), *item;
    json_t *meta = json_object();
    if (list) {
        const json_t *items = json_object_get(in, "items");
        size_t n = json_array_size(items);
        json_t **order = dd_calloc(n ? n : 1, sizeof(*order));
        json_array_foreach(items, i, item) order[i] = item;
        if (kind->order && n > 1)
            qsort(order, n, sizeof(*order), kind->order);
        for (i = 0; i < n; i++)
            add_rows(r, rows, order[i], cols, ncols, crdcols, include);
        free(order);
        json_t *lm = json_object_get(in, "metadata");
        if (lm)
            json_object_update(meta, lm);
    } else {
        add_rows(r, rows, in, cols, ncols, crdcols, include);
        const char *rv = tstr(in, "metadata.resourceVersion");
        if (rv)
            json_object_set_new(meta, "resourceVersion", json_string(rv));
    }
    _cleanup_free_ char *api = dd_asprintf("meta.k8s.io/%s", version);
    json_t *t =
        json_pack("{s:s, s:s, s:o, s:o, s:o}", "kind", "Table", "apiVersion", api, "metadata", meta,
                  "columnDefinitions", column_defs(cols, ncols, crdcols), "rows", rows);
    json_decref(crdcols);
    return t;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char **tsorted(const json_t *j, size_t *ret_n)
{
    size_t n = json_is_object(j) ? json_object_size(j) : json_array_size(j), i = 0, k;
    const char **out = dd_calloc(n ? n : 1, sizeof(*out));
    const char *key;
    json_t *v;
    if (json_is_object(j)) {
        json_object_foreach((json_t *)j, key, v) out[i++] = key;
    } else {
        json_array_foreach(j, k, v) if (json_is_string(v)) out[i++] = json_string_value(v);
    }
    qsort(out, i, sizeof(*out), cmp_str);
    *ret_n = i;
    return out;
}

json_t *format_labels(const json_t *map)
{
    size_t n, i;
    const char **keys = tsorted(json_is_object(map) ? map : NULL, &n);
    dd_buf b = DD_BUF_INIT;
    for (i = 0; i < n; i++)
        dd_buf_addf(&b, "%s%s=%s", i ? "," : "", keys[i],
                    json_string_value(json_object_get(map, keys[i])) ?: "");
    free(keys);
    json_t *j = json_string(b.len ? b.data : "<none>");
    dd_buf_release(&b);
    return j;
}

struct requirement {
    const char *key;
    char *text;
};

static char *expression_text(const json_t *e)
{
    const char *key = tstr(e, "key") ?: "", *op = tstr(e, "operator") ?: "";
    if (!strcmp(op, "Exists"))
        return dd_strdup(key);
    if (!strcmp(op, "DoesNotExist"))
        return dd_asprintf("!%s", key);
    if (strcmp(op, "In") && strcmp(op, "NotIn"))
        return NULL;
    size_t n, i;
    const char **vals = tsorted(json_object_get(e, "values"), &n);
    dd_buf b = DD_BUF_INIT;
    dd_buf_addf(&b, "%s %s (", key, !strcmp(op, "In") ? "in" : "notin");
    for (i = 0; i < n; i++)
        dd_buf_addf(&b, "%s%s", i ? "," : "", vals[i]);
    dd_buf_addf(&b, ")");
    free(vals);
    char *s = dd_strdup(b.data);
    dd_buf_release(&b);
    return s;
}

json_t *format_label_selector(const json_t *sel)
{
    const json_t *ml = json_object_get(sel, "matchLabels"),
                 *me = json_object_get(sel, "matchExpressions");
    size_t n = json_object_size(ml) + json_array_size(me), k = 0, i;
    struct requirement *req = dd_calloc(n ? n : 1, sizeof(*req));
    const char *key;
    json_t *v;
    bool bad = false;
    json_object_foreach((json_t *)ml, key, v)
    {
        req[k].key = key;
        req[k++].text = dd_asprintf("%s=%s", key, json_string_value(v) ?: "");
    }
    json_array_foreach(me, i, v)
    {
        req[k].key = tstr(v, "key") ?: "";
        req[k].text = expression_text(v);
        bad |= !req[k++].text;
    }
    /* stable insertion sort by key, as the selector orders its requirements */
    for (i = 1; i < k; i++)
        for (size_t j = i; j > 0 && strcmp(req[j - 1].key, req[j].key) > 0; j--) {
            struct requirement t = req[j];
            req[j] = req[j - 1];
            req[j - 1] = t;
        }
    dd_buf b = DD_BUF_INIT;
    for (i = 0; i < k; i++) {
        if (req[i].text)
            dd_buf_addf(&b, "%s%s", b.len ? "," : "", req[i].text);
        free(req[i].text);
    }
    free(req);
    json_t *j = json_string(bad ? "<error>" : b.len ? b.data : "<none>");
    dd_buf_release(&b);
    return j;
}

void tmore_add(struct tmore *m, const char *item)
{
    if (m->count++ < m->max)
        dd_buf_addf(&m->b, "%s%s", m->b.len ? "," : "", item);
}

json_t *tmore_done(struct tmore *m)
{
    json_t *j;
    if (m->count > m->max)
        j = json_sprintf("%s + %zu more...", m->b.data, m->count - m->max);
    else
        j = json_string(m->b.len ? m->b.data : "<unset>");
    dd_buf_release(&m->b);
    return j;
}

json_t *bool_ptr(const json_t *v)
{
    return json_string(!json_is_boolean(v) ? "<unset>" : json_is_true(v) ? "True" : "False");
}
