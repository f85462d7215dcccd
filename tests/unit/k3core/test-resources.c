/* Unit tests of the generated resource table and schemas (k3core/api/resources*.c, schema.c):
 * the well-known kinds with their scope, verbs, short names, categories and subresources,
 * group/version preference, pre-release versions off by default, and a schema for every
 * stored kind. */
#include <stdio.h>

#include "k3core/api/resources.h"
#include "tests/unit/unit.h"

TEST(resources_well_known_kinds)
{
    const kres_resource *p = kres_lookup("", "v1", "pods");
    CHECK(p != NULL);
    CHECK_EQ_STR(p->kind, "Pod");
    CHECK_EQ_STR(p->singular, "pod");
    CHECK(kres_namespaced(p));
    CHECK_EQ_STR(p->short_names[0], "po");
    CHECK_EQ_STR(p->categories[0], "all");
    CHECK_EQ_INT(p->verbs, KRES_GET | KRES_LIST | KRES_WATCH | KRES_CREATE | KRES_UPDATE |
                               KRES_PATCH | KRES_DELETE | KRES_DELETECOLLECTION);
    static const char *const subs[] = {"status",      "log",     "exec",     "attach",
                                       "portforward", "binding", "eviction", "ephemeralcontainers"};
    for (size_t i = 0; i < DD_ARRAY_SIZE(subs); i++)
        if (!kres_find_subresource(p, subs[i]))
            unit_fail(__FILE__, __LINE__, "pods/%s missing", subs[i]);
    const kres_subresource *ev = kres_find_subresource(p, "eviction");
    CHECK_EQ_STR(ev->group, "policy");
    CHECK_EQ_STR(ev->kind, "Eviction");
    const kres_resource *d = kres_lookup("apps", "v1", "deployments");
    CHECK_EQ_STR(d->short_names[0], "deploy");
    const kres_subresource *sc = kres_find_subresource(d, "scale");
    CHECK_EQ_STR(sc->group, "autoscaling");
    CHECK_EQ_STR(sc->kind, "Scale");
    const kres_resource *ns = kres_lookup("", "v1", "namespaces");
    CHECK(!kres_namespaced(ns));
    CHECK(!(ns->verbs & KRES_DELETECOLLECTION));
    CHECK(kres_find_subresource(ns, "finalize") != NULL);
    const kres_resource *sa = kres_lookup("", "v1", "serviceaccounts");
    CHECK_EQ_STR(kres_find_subresource(sa, "token")->kind, "TokenRequest");
    const kres_resource *ssar =
        kres_lookup("authorization.k8s.io", "v1", "selfsubjectaccessreviews");
    CHECK(ssar->flags & KRES_VIRTUAL);
    CHECK_EQ_INT(ssar->verbs, KRES_CREATE);
    CHECK_EQ_STR(kres_lookup_kind("networking.k8s.io", "v1", "Ingress")->short_names[0], "ing");
    CHECK_EQ_STR(
        kres_lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")->short_names[1],
        "crds");
    char buf[256];
    kres_qualified_name(d, buf, sizeof(buf));
    CHECK_EQ_STR(buf, "deployments.apps");
    kres_api_version(p, buf, sizeof(buf));
    CHECK_EQ_STR(buf, "v1");
    json_t *verbs = kres_verbs_json(KRES_GET | KRES_CREATE | KRES_WATCH);
    char *s = json_dumps(verbs, JSON_COMPACT);
    CHECK_EQ_STR(s, "[\"create\",\"get\",\"watch\"]");
    free(s);
    json_decref(verbs);
}

TEST(resources_groups_and_versions)
{
    const char *const *groups = kres_groups();
    CHECK_EQ_STR(groups[0], "");
    CHECK_EQ_STR(groups[1], "apiregistration.k8s.io");
    CHECK_EQ_STR(groups[2], "apps");
    CHECK_EQ_STR(kres_preferred_version("autoscaling"), "v2");
    CHECK_EQ_STR(kres_group_versions("autoscaling")[1], "v1");
    CHECK(kres_lookup_any_version("autoscaling", "horizontalpodautoscalers")->flags &
          KRES_STORAGE_VERSION);
    /* alpha/beta versions are off by default, like a default 1.33 apiserver */
    CHECK(kres_lookup("certificates.k8s.io", "v1beta1", "clustertrustbundles") == NULL);
    CHECK(kres_group_versions("storagemigration.k8s.io") == NULL);
    uint64_t gen = kres_generation();
    kres_enable_prerelease(true);
    CHECK(kres_lookup("certificates.k8s.io", "v1beta1", "clustertrustbundles") != NULL);
    CHECK(kres_generation() != gen);
    CHECK_EQ_STR(kres_preferred_version("certificates.k8s.io"), "v1");
}

TEST(resources_every_stored_kind_has_a_schema)
{
    kres_enable_prerelease(true);
    size_t n = kres_count();
    if (n < 85)
        unit_fail(__FILE__, __LINE__, "only %zu resources", n);
    for (size_t i = 0; i < n; i++) {
        const kres_resource *r = kres_at(i);
        const json_t *s = kres_schema(r);
        if (!s)
            unit_fail(__FILE__, __LINE__, "%s/%s %s: no schema %s", r->group, r->version,
                      r->resource, r->schema_name);
        bool known = false;
        kres_schema_child(s, "metadata", &known);
        CHECK(known);
    }
    const json_t *pod = kres_schema(kres_lookup("", "v1", "pods"));
    const json_t *spec = kres_schema_child(pod, "spec", NULL);
    const json_t *containers = kres_schema_child(spec, "containers", NULL);
    CHECK_EQ_STR(json_string_value(json_object_get(containers, "mk")), "name");
    CHECK_EQ_STR(json_string_value(json_object_get(containers, "ms")), "merge");
    bool known = true;
    CHECK(kres_schema_child(spec, "nonsense", &known) == NULL);
    CHECK(!known);
}
