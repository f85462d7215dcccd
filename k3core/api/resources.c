/* resources: the live resource table — the generated built-ins (resources-gen.c) minus the
 * pre-release versions unless enabled, plus the resources CRDs register at run time — and the
 * lookups and group/version orderings the server's discovery and router use. CRD parsing lives
 * in crd.c; schemas in schema.c.
 */
#include <stdio.h>

#include "k3core/api/resources-internal.h"

typedef struct table {
    const kres_resource **entries;
    size_t n;
    const char **groups; /* NULL-terminated */
    size_t n_groups;
    struct {
        char *group;
        const char **versions; /* NULL-terminated, preference order */
    } * gv;
    uint64_t generation;
    bool built;
} table;

static table tbl;
static bool prerelease;
/* CRD resources: owned entries appended after the built-ins. */
static kres_resource **custom;
static size_t n_custom;

void kres_enable_prerelease(bool on)
{
    prerelease = on;
    tbl.built = false;
}

/* GA > beta > alpha, then the higher number (kube's version priority). */
static int version_rank(const char *v, int *major, int *minor)
{
    int stage = 2;
    *major = 0;
    *minor = 0;
    if (v[0] != 'v')
        return -1;
    char *end;
    *major = (int)strtol(v + 1, &end, 10);
    if (dd_startswith(end, "beta")) {
        stage = 1;
        *minor = atoi(end + 4);
    } else if (dd_startswith(end, "alpha")) {
        stage = 0;
        *minor = atoi(end + 5);
    } else if (*end) {
        stage = -1;
    }
    return stage;
}

static bool version_before(const char *a, const char *b)
{
    int ma, na, mb, nb;
    int sa = version_rank(a, &ma, &na), sb = version_rank(b, &mb, &nb);
    if (sa != sb)
        return sa > sb;
    if (ma != mb)
        return ma > mb;
    if (na != nb)
        return na > nb;
    return strcmp(a, b) < 0;
}

static void free_groups(void)
{
    for (size_t i = 0; i < tbl.n_groups; i++) {
        free(tbl.gv[i].group);
        free(tbl.gv[i].versions);
    }
    free(tbl.gv);
    free(tbl.groups);
    tbl.gv = NULL;
    tbl.groups = NULL;
    tbl.n_groups = 0;
}

static size_t group_index(const char *g)
{
    for (size_t i = 0; i < tbl.n_groups; i++)
        if (strcmp(tbl.gv[i].group, g) == 0)
            return i;
    tbl.gv = dd_realloc(tbl.gv, (tbl.n_groups + 1) * sizeof(*tbl.gv));
    tbl.gv[tbl.n_groups].group = dd_strdup(g);
    tbl.gv[tbl.n_groups].versions = dd_calloc(1, sizeof(char *));
    return tbl.n_groups++;
}

static void add_version(size_t gi, const char *v)
{
    const char **vs = tbl.gv[gi].versions;
    size_t n = 0;
    while (vs[n]) {
        if (strcmp(vs[n], v) == 0)
            return;
        n++;
    }
    vs = dd_realloc(vs, (n + 2) * sizeof(*vs));
    size_t at = n;
    while (at > 0 && version_before(v, vs[at - 1])) {
        vs[at] = vs[at - 1];
        at--;
    }
    vs[at] = v;
    vs[n + 1] = NULL;
    tbl.gv[gi].versions = vs;
}

static void add_entry(const kres_resource *r)
{
    tbl.entries = dd_realloc(tbl.entries, (tbl.n + 1) * sizeof(*tbl.entries));
    tbl.entries[tbl.n++] = r;
    add_version(group_index(r->group), r->version);
}

static void build(void)
{
    if (tbl.built)
        return;
    free(tbl.entries);
    tbl.entries = NULL;
    tbl.n = 0;
    free_groups();
    for (const char *const *g = kres_builtin_groups; *g; g++)
        group_index(*g);
    for (size_t i = 0; i < kres_builtin_count; i++)
        if (prerelease || !(kres_builtin[i].flags & KRES_PRERELEASE))
            add_entry(&kres_builtin[i]);
    for (size_t i = 0; i < n_custom; i++)
        add_entry(custom[i]);
    /* drop groups left empty (all their versions pre-release) */
    size_t k = 0;
    for (size_t i = 0; i < tbl.n_groups; i++) {
        if (tbl.gv[i].versions[0])
            tbl.gv[k++] = tbl.gv[i];
        else {
            free(tbl.gv[i].group);
            free(tbl.gv[i].versions);
        }
    }
    tbl.n_groups = k;
    tbl.groups = dd_calloc(k + 1, sizeof(char *));
    for (size_t i = 0; i < k; i++)
        tbl.groups[i] = tbl.gv[i].group;
    tbl.generation++;
    tbl.built = true;
}

void kres_table_changed(void)
{
    tbl.built = false;
    build();
}

size_t kres_count(void)
{
    build();
    return tbl.n;
}

const kres_resource *kres_at(size_t i)
{
    build();
    return i < tbl.n ? tbl.entries[i] : NULL;
}

uint64_t kres_generation(void)
{
    build();
    return tbl.generation;
}

const kres_resource *kres_lookup(const char *group, const char *version, const char *resource)
{
    build();
    for (size_t i = 0; i < tbl.n; i++) {
        const kres_resource *r = tbl.entries[i];
        if (strcmp(r->resource, resource) == 0 && strcmp(r->group, group ? group : "") == 0 &&
            strcmp(r->version, version) == 0)
            return r;
    }
    return NULL;
}

const kres_resource *kres_lookup_kind(const char *group, const char *version, const char *kind)
{
    build();
    for (size_t i = 0; i < tbl.n; i++) {
        const kres_resource *r = tbl.entries[i];
        if (strcmp(r->kind, kind) == 0 && strcmp(r->group, group ? group : "") == 0 &&
            strcmp(r->version, version) == 0)
            return r;
    }
    return NULL;
}

const kres_resource *kres_lookup_any_version(const char *group, const char *resource)
{
    build();
    const kres_resource *found = NULL;
    for (size_t i = 0; i < tbl.n; i++) {
        const kres_resource *r = tbl.entries[i];
        if (strcmp(r->resource, resource) != 0 || strcmp(r->group, group ? group : "") != 0)
            continue;
        if (r->flags & KRES_STORAGE_VERSION)
            return r;
        if (!found)
            found = r;
    }
    return found;
}

const char *const *kres_groups(void)
{
    build();
    return (const char *const *)tbl.groups;
}

const char *const *kres_group_versions(const char *group)
{
    build();
    for (size_t i = 0; i < tbl.n_groups; i++)
        if (strcmp(tbl.gv[i].group, group ? group : "") == 0)
            return (const char *const *)tbl.gv[i].versions;
    return NULL;
}

const char *kres_preferred_version(const char *group)
{
    const char *const *v = kres_group_versions(group);
    return v ? v[0] : NULL;
}

void kres_api_version(const kres_resource *r, char *out, size_t outlen)
{
    if (r->group[0])
        snprintf(out, outlen, "%s/%s", r->group, r->version);
    else
        snprintf(out, outlen, "%s", r->version);
}

void kres_qualified_name(const kres_resource *r, char *out, size_t outlen)
{
    if (r->group[0])
        snprintf(out, outlen, "%s.%s", r->resource, r->group);
    else
        snprintf(out, outlen, "%s", r->resource);
}

const kres_subresource *kres_find_subresource(const kres_resource *r, const char *name)
{
    for (size_t i = 0; i < r->n_subresources; i++)
        if (strcmp(r->subresources[i].name, name) == 0)
            return &r->subresources[i];
    return NULL;
}

json_t *kres_verbs_json(unsigned mask)
{
    static const struct {
        unsigned bit;
        const char *name;
    } order[] = {{KRES_CREATE, "create"},
                 {KRES_DELETE, "delete"},
                 {KRES_DELETECOLLECTION, "deletecollection"},
                 {KRES_GET, "get"},
                 {KRES_LIST, "list"},
                 {KRES_PATCH, "patch"},
                 {KRES_UPDATE, "update"},
                 {KRES_WATCH, "watch"}};
    json_t *a = json_array();
    for (size_t i = 0; i < DD_ARRAY_SIZE(order); i++)
        if (mask & order[i].bit)
            json_array_append_new(a, json_string(order[i].name));
    return a;
}

/* ---- custom entries (crd.c) ---- */

void kres_custom_add(kres_resource *r_new)
{
    custom = dd_realloc(custom, (n_custom + 1) * sizeof(*custom));
    custom[n_custom++] = r_new;
    kres_table_changed();
}

kres_resource *kres_custom_take(const char *crd_name)
{
    size_t n = strlen(crd_name);
    for (size_t i = 0; i < n_custom; i++) {
        if (strncmp(custom[i]->schema_name, crd_name, n) == 0 && custom[i]->schema_name[n] == '/') {
            kres_resource *r = custom[i];
            memmove(&custom[i], &custom[i + 1], (n_custom - i - 1) * sizeof(*custom));
            n_custom--;
            tbl.built = false;
            return r;
        }
    }
    return NULL;
}
