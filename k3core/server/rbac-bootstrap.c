/* rbac-bootstrap.c: the default ClusterRoles and ClusterRoleBindings every cluster starts with
 * (cluster-admin, admin, edit, view, system:discovery, system:basic-user,
 * system:public-info-viewer), written as data. Rules follow upstream's bootstrap policy; the
 * aggregated roles are spelled out over the built-in groups instead of aggregated from labels.
 * Existing objects are left alone, so an administrator's edits survive restarts.
 */
#include "k3core/server/server-internal.h"

#define CORE_READ                                                                                  \
    "\"configmaps\",\"endpoints\",\"persistentvolumeclaims\",\"persistentvolumeclaims/status\","   \
    "\"pods\",\"pods/log\",\"pods/status\",\"replicationcontrollers\","                            \
    "\"replicationcontrollers/scale\",\"replicationcontrollers/status\",\"serviceaccounts\","      \
    "\"services\",\"services/status\",\"bindings\",\"events\",\"limitranges\","                    \
    "\"resourcequotas\",\"resourcequotas/status\",\"namespaces\",\"namespaces/status\""
#define APPS                                                                                       \
    "\"controllerrevisions\",\"daemonsets\",\"daemonsets/status\",\"deployments\","                \
    "\"deployments/scale\",\"deployments/status\",\"replicasets\",\"replicasets/scale\","          \
    "\"replicasets/status\",\"statefulsets\",\"statefulsets/scale\",\"statefulsets/status\""
#define OTHER_GROUPS(verbs)                                                                        \
    "{\"apiGroups\":[\"apps\"],\"resources\":[" APPS "],\"verbs\":[" verbs "]},"                   \
    "{\"apiGroups\":[\"autoscaling\"],\"resources\":[\"horizontalpodautoscalers\","                \
    "\"horizontalpodautoscalers/status\"],\"verbs\":[" verbs "]},"                                 \
    "{\"apiGroups\":[\"batch\"],\"resources\":[\"cronjobs\",\"cronjobs/status\",\"jobs\","         \
    "\"jobs/status\"],\"verbs\":[" verbs "]},"                                                     \
    "{\"apiGroups\":[\"discovery.k8s.io\"],\"resources\":[\"endpointslices\"],\"verbs\":[" verbs   \
    "]},"                                                                                          \
    "{\"apiGroups\":[\"networking.k8s.io\"],\"resources\":[\"ingresses\",\"ingresses/status\","    \
    "\"networkpolicies\"],\"verbs\":[" verbs "]},"                                                 \
    "{\"apiGroups\":[\"policy\"],\"resources\":[\"poddisruptionbudgets\","                         \
    "\"poddisruptionbudgets/status\"],\"verbs\":[" verbs "]},"                                     \
    "{\"apiGroups\":[\"coordination.k8s.io\"],\"resources\":[\"leases\"],\"verbs\":[" verbs "]}"
#define READ  "\"get\",\"list\",\"watch\""
#define WRITE "\"create\",\"delete\",\"deletecollection\",\"patch\",\"update\""
#define EDIT_RULES                                                                                 \
    "{\"apiGroups\":[\"\"],\"resources\":[" CORE_READ ",\"secrets\"],\"verbs\":[" READ "," WRITE   \
    "]},"                                                                                          \
    "{\"apiGroups\":[\"\"],\"resources\":[\"pods/attach\",\"pods/exec\",\"pods/portforward\","     \
    "\"pods/proxy\",\"pods/eviction\",\"services/proxy\",\"serviceaccounts/token\"],"              \
    "\"verbs\":[\"create\",\"get\"]}," OTHER_GROUPS(READ "," WRITE)

/* What kubelets need (upstream's system:node role), granted to the whole system:nodes group as
 * k3s permits; rbac.c keeps each node to its own Node and Lease (NodeRestriction's core). */
#define NODE_ROLE                                                                                  \
    "{\"name\":\"system:node\",\"rules\":["                                                        \
    "{\"apiGroups\":[\"\"],\"resources\":[\"nodes\"],\"verbs\":[" READ                             \
    ",\"create\",\"update\",\"patch\",\"delete\"]},"                                               \
    "{\"apiGroups\":[\"\"],\"resources\":[\"nodes/status\",\"pods/status\"],"                      \
    "\"verbs\":[\"patch\",\"update\"]},"                                                           \
    "{\"apiGroups\":[\"\"],\"resources\":[\"pods\"],\"verbs\":[" READ ",\"create\",\"delete\"]},"  \
    "{\"apiGroups\":[\"\"],\"resources\":[\"pods/eviction\",\"serviceaccounts/token\"],"           \
    "\"verbs\":[\"create\"]},"                                                                     \
    "{\"apiGroups\":[\"\",\"events.k8s.io\"],\"resources\":[\"events\"],"                          \
    "\"verbs\":[\"create\",\"patch\",\"update\"]},"                                                \
    "{\"apiGroups\":[\"\"],\"resources\":[\"configmaps\",\"secrets\",\"services\",\"endpoints\","  \
    "\"persistentvolumeclaims\",\"persistentvolumes\",\"namespaces\"],\"verbs\":[" READ "]},"      \
    "{\"apiGroups\":[\"discovery.k8s.io\"],\"resources\":[\"endpointslices\"],"                    \
    "\"verbs\":[" READ "]},"                                                                       \
    "{\"apiGroups\":[\"coordination.k8s.io\"],\"resources\":[\"leases\"],\"verbs\":[" READ         \
    ",\"create\",\"update\",\"patch\",\"delete\"]},"                                               \
    "{\"apiGroups\":[\"authentication.k8s.io\"],\"resources\":[\"tokenreviews\"],"                 \
    "\"verbs\":[\"create\"]},"                                                                     \
    "{\"apiGroups\":[\"authorization.k8s.io\"],\"resources\":[\"subjectaccessreviews\"],"          \
    "\"verbs\":[\"create\"]}]}"

static const char bootstrap_roles[] =
    "["
    "{\"name\":\"cluster-admin\",\"rules\":[{\"apiGroups\":[\"*\"],\"resources\":[\"*\"],"
    "\"verbs\":[\"*\"]},{\"nonResourceURLs\":[\"*\"],\"verbs\":[\"*\"]}]},"
    "{\"name\":\"admin\",\"rules\":[" EDIT_RULES ","
    "{\"apiGroups\":[\"rbac.authorization.k8s.io\"],\"resources\":[\"roles\",\"rolebindings\"],"
    "\"verbs\":[" READ "," WRITE "]},"
    "{\"apiGroups\":[\"authorization.k8s.io\"],\"resources\":[\"localsubjectaccessreviews\"],"
    "\"verbs\":[\"create\"]}]},"
    "{\"name\":\"edit\",\"rules\":[" EDIT_RULES "]},"
    "{\"name\":\"view\",\"rules\":[{\"apiGroups\":[\"\"],\"resources\":[" CORE_READ "],"
    "\"verbs\":[" READ "]}," OTHER_GROUPS(
        READ) "]},"
              "{\"name\":\"system:discovery\",\"rules\":[{\"nonResourceURLs\":[\"/api\",\"/api/*\","
              "\"/apis\",\"/apis/*\",\"/healthz\",\"/livez\",\"/openapi\",\"/openapi/*\",\"/"
              "readyz\","
              "\"/version\",\"/version/\"],\"verbs\":[\"get\"]}]},"
              "{\"name\":\"system:basic-user\",\"rules\":[{\"apiGroups\":[\"authorization.k8s.io\"]"
              ","
              "\"resources\":[\"selfsubjectaccessreviews\",\"selfsubjectrulesreviews\"],"
              "\"verbs\":[\"create\"]},{\"apiGroups\":[\"authentication.k8s.io\"],"
              "\"resources\":[\"selfsubjectreviews\"],\"verbs\":[\"create\"]}]},"
              "{\"name\":\"system:public-info-viewer\",\"rules\":[{\"nonResourceURLs\":[\"/"
              "healthz\","
              "\"/livez\",\"/readyz\",\"/version\",\"/version/\"],\"verbs\":[\"get\"]}]}," NODE_ROLE
              "]";

/* binding name → role, subject group(s) */
static const char bootstrap_bindings[] =
    "["
    "{\"name\":\"cluster-admin\",\"groups\":[\"system:masters\"]},"
    "{\"name\":\"system:discovery\",\"groups\":[\"system:authenticated\"]},"
    "{\"name\":\"system:basic-user\",\"groups\":[\"system:authenticated\"]},"
    "{\"name\":\"system:public-info-viewer\",\"groups\":[\"system:authenticated\","
    "\"system:unauthenticated\"]},"
    "{\"name\":\"system:node\",\"groups\":[\"system:nodes\"]}"
    "]";

/* An existing ClusterRole that still carries rbac.authorization.kubernetes.io/autoupdate "true"
 * gains the rules of ours it lacks (upstream's reconciliation adds missing permissions and
 * removes none), so a cluster created by an older k3core gets new node permissions. */
static void add_missing_rules(struct ksrv *s, const kres_resource *r, const json_t *want)
{
    const char *name =
        json_string_value(json_object_get(json_object_get(want, "metadata"), "name"));
    kobj_req kr = {.res = r, .name = name, .field_manager = "k3core-bootstrap"};
    kobj_status st = {0};
    json_t *cur = NULL;
    if (kobj_get(s->api, &kr, &cur, &st) < 0) {
        kobj_status_release(&st);
        return;
    }
    const json_t *ann = json_object_get(json_object_get(cur, "metadata"), "annotations");
    json_t *rules = json_object_get(cur, "rules");
    const char *au =
        json_string_value(json_object_get(ann, "rbac.authorization.kubernetes.io/autoupdate"));
    bool added = false;
    size_t i, j;
    json_t *w, *h;
    json_array_foreach(json_object_get(want, "rules"), i, w)
    {
        bool have = false;
        json_array_foreach(rules, j, h) have = have || json_equal(w, h);
        if (!have && dd_streq(au, "true") && json_is_array(rules))
            added = true, json_array_append(rules, w);
    }
    kobj_result res = {0};
    if (added && kobj_update(s->api, &kr, cur, &res, &st) < 0)
        dd_warn("reconciling ClusterRole %s: %s", name, st.message);
    kobj_result_release(&res);
    kobj_status_release(&st);
    json_decref(cur);
}

static int create_if_missing(struct ksrv *s, const char *resource, json_t *obj, dd_err *e)
{
    const kres_resource *r = kres_lookup("rbac.authorization.k8s.io", "v1", resource);
    kobj_req kr = {.res = r, .field_manager = "k3core-bootstrap"};
    kobj_result res = {0};
    kobj_status st = {0};
    int rc = r ? kobj_create(s->api, &kr, obj, &res, &st) : -ENOENT;
    if (rc < 0 && st.code == 409 && !strcmp(resource, "clusterroles"))
        add_missing_rules(s, r, obj);
    if (rc < 0 && st.code != 409)
        rc = dd_err_set(e, EIO, "creating bootstrap %s: %s", resource,
                        r ? st.message : "RBAC resources missing from the table");
    else
        rc = 0;
    kobj_result_release(&res);
    kobj_status_release(&st);
    return rc;
}

static json_t *meta(const char *name)
{
    return json_pack("{s:s, s:{s:s}, s:{s:s}}", "name", name, "labels",
                     "kubernetes.io/bootstrapping", "rbac-defaults", "annotations",
                     "rbac.authorization.kubernetes.io/autoupdate", "true");
}

int ksrv_rbac_bootstrap(struct ksrv *s, dd_err *e)
{
    json_t *roles = json_loads(bootstrap_roles, 0, NULL);
    json_t *bindings = json_loads(bootstrap_bindings, 0, NULL);
    size_t i, k;
    json_t *x, *g;
    int r = roles && bindings ? 0 : dd_err_set(e, EINVAL, "bootstrap RBAC data is not JSON");
    json_array_foreach(roles, i, x)
    {
        if (r < 0)
            break;
        json_t *obj = json_pack("{s:s, s:s, s:o, s:O}", "apiVersion",
                                "rbac.authorization.k8s.io/v1", "kind", "ClusterRole", "metadata",
                                meta(json_string_value(json_object_get(x, "name"))), "rules",
                                json_object_get(x, "rules"));
        r = create_if_missing(s, "clusterroles", obj, e);
        json_decref(obj);
    }
    json_array_foreach(bindings, i, x)
    {
        if (r < 0)
            break;
        const char *name = json_string_value(json_object_get(x, "name"));
        json_t *subjects = json_array();
        json_array_foreach(json_object_get(x, "groups"), k, g) json_array_append_new(
            subjects, json_pack("{s:s, s:s, s:O}", "apiGroup", "rbac.authorization.k8s.io", "kind",
                                "Group", "name", g));
        json_t *obj = json_pack(
            "{s:s, s:s, s:o, s:{s:s, s:s, s:s}, s:o}", "apiVersion", "rbac.authorization.k8s.io/v1",
            "kind", "ClusterRoleBinding", "metadata", meta(name), "roleRef", "apiGroup",
            "rbac.authorization.k8s.io", "kind", "ClusterRole", "name", name, "subjects", subjects);
        r = create_if_missing(s, "clusterrolebindings", obj, e);
        json_decref(obj);
    }
    json_decref(roles);
    json_decref(bindings);
    return r;
}
