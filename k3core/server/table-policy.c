/* table-policy.c: Table columns of the cluster-policy kinds as upstream 1.33's printers
 * (pkg/printers/internalversion) define them — horizontal pod autoscalers, pod disruption
 * budgets, priority classes, RBAC bindings (roles and cluster roles have no printer upstream:
 * table.c's NAME / CREATED AT), certificate signing requests and trust bundles, admission
 * webhooks and policies, API priority and fairness, component statuses — and the aggregator's
 * APIService table. Cells are computed from the stored JSON; where upstream prints a field its
 * defaulting always sets, the cell applies that default.
 */
#include <stdio.h>

#include "k3core/server/table-internal.h"

static json_t *int_or(const json_t *v, json_int_t def)
{
    return json_integer(json_is_integer(v) ? json_integer_value(v) : def);
}

static json_t *count_of(const json_t *o, const char *path)
{
    return json_integer((json_int_t)json_array_size(tpath(o, path)));
}

/* "<kind>/<name>" of a reference (HPA scaleTargetRef, RBAC roleRef) */
static json_t *kind_slash_name(const json_t *o, const char *path)
{
    const json_t *ref = tpath(o, path);
    return json_sprintf("%s/%s", tstr(ref, "kind") ?: "", tstr(ref, "name") ?: "");
}

/* A resource.Quantity as printed (the stored string; JSON numbers as integers) or "<nil>" when
 * absent, as Go prints a nil *Quantity. */
static void quantity(dd_buf *b, const json_t *q)
{
    if (json_is_string(q))
        dd_buf_addf(b, "%s", json_string_value(q));
    else if (json_is_integer(q))
        dd_buf_addf(b, "%lld", (long long)json_integer_value(q));
    else if (json_is_real(q))
        dd_buf_addf(b, "%g", json_real_value(q));
    else
        dd_buf_addf(b, "<nil>");
}

/* ---- horizontal pod autoscalers ---- */

static const char *const metric_sources[][2] = {
    {"External", "external"},
    {"Pods", "pods"},
    {"Object", "object"},
    {"Resource", "resource"},
    {"ContainerResource", "containerResource"},
};

/* One entry of formatHPAMetrics: spec (a v2 MetricSpec) against status (its MetricStatus). */
static void hpa_metric(dd_buf *b, const json_t *spec, const json_t *status)
{
    const char *type = tstr(spec, "type"), *field = NULL;
    for (size_t i = 0; i < DD_ARRAY_SIZE(metric_sources); i++)
        if (dd_streq(type, metric_sources[i][0]))
            field = metric_sources[i][1];
    if (!field) {
        dd_buf_addf(b, "<unknown type>");
        return;
    }
    const json_t *target = tpath(json_object_get(spec, field), "target");
    const json_t *st = json_object_get(status, field);
    const json_t *cur = json_object_get(st, "current");
    const json_t *avg = json_object_get(target, "averageValue");
    bool resource = !strcmp(field, "resource") || !strcmp(field, "containerResource");
    if (resource)
        dd_buf_addf(b, "%s: ", tstr(json_object_get(spec, field), "name") ?: "");
    if (!strcmp(field, "pods")) {
        if (st)
            quantity(b, json_object_get(cur, "averageValue"));
        else
            dd_buf_addf(b, "<unknown>");
        dd_buf_addf(b, "/");
        quantity(b, avg);
    } else if (avg) {
        /* external and object need the current average, resources only a status */
        const json_t *cavg = json_object_get(cur, "averageValue");
        if (st && (resource || cavg))
            quantity(b, cavg);
        else
            dd_buf_addf(b, "<unknown>");
        dd_buf_addf(b, "/");
        quantity(b, avg);
        if (!resource)
            dd_buf_addf(b, " (avg)");
    } else if (resource) {
        const json_t *cu = json_object_get(cur, "averageUtilization");
        const json_t *tu = json_object_get(target, "averageUtilization");
        if (st && json_is_integer(cu))
            dd_buf_addf(b, "%lld%%/", (long long)json_integer_value(cu));
        else
            dd_buf_addf(b, "<unknown>/");
        if (json_is_integer(tu))
            dd_buf_addf(b, "%lld%%", (long long)json_integer_value(tu));
        else
            dd_buf_addf(b, "<auto>");
    } else {
        if (st)
            quantity(b, json_object_get(cur, "value"));
        else
            dd_buf_addf(b, "<unknown>");
        dd_buf_addf(b, "/");
        quantity(b, json_object_get(target, "value"));
    }
}

static json_t *hpa_targets(const json_t *o)
{
    /* v2's shape: ksrv_table converts an autoscaling/v1 object (and its single CPU target,
     * defaulted to 80%) to the storage version first, as upstream prints the internal type */
    json_t *specs = json_incref((json_t *)tpath(o, "spec.metrics"));
    json_t *statuses = json_incref((json_t *)tpath(o, "status.currentMetrics"));
    size_t n = json_array_size(specs), i;
    dd_buf b = DD_BUF_INIT;
    for (i = 0; i < n && i < 2; i++) {
        if (i)
            dd_buf_addf(&b, ", ");
        hpa_metric(&b, json_array_get(specs, i), json_array_get(statuses, i));
    }
    if (n > 2)
        dd_buf_addf(&b, " + %zu more...", n - 2);
    json_t *j = json_string(n ? b.data : "<none>");
    dd_buf_release(&b);
    json_decref(specs);
    json_decref(statuses);
    return j;
}

static json_t *hpa_ref(const json_t *o)
{
    return kind_slash_name(o, "spec.scaleTargetRef");
}

static json_t *hpa_min(const json_t *o)
{
    const json_t *m = tpath(o, "spec.minReplicas");
    return json_is_integer(m) ? json_sprintf("%lld", (long long)json_integer_value(m))
                              : json_string("<unset>");
}

static json_t *hpa_max(const json_t *o)
{
    return int_or(tpath(o, "spec.maxReplicas"), 0);
}

static json_t *hpa_replicas(const json_t *o)
{
    return int_or(tpath(o, "status.currentReplicas"), 0);
}

static const struct tcol hpa_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Reference", "string", "", 0, hpa_ref, TD_HPA_REF},
    {"Targets", "string", "", 0, hpa_targets, TD_HPA_METRICS},
    {"MinPods", "string", "", 0, hpa_min, TD_HPA_MIN},
    {"MaxPods", "string", "", 0, hpa_max, TD_HPA_MAX},
    {"Replicas", "string", "", 0, hpa_replicas, TD_HPA_CURRENT},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

/* ---- pod disruption budgets, priority classes ---- */

/* an IntOrString as printed, "N/A" when absent */
static json_t *int_or_string(const json_t *v)
{
    if (json_is_integer(v))
        return json_sprintf("%lld", (long long)json_integer_value(v));
    return json_string(json_is_string(v) ? json_string_value(v) : "N/A");
}

static json_t *pdb_min(const json_t *o)
{
    return int_or_string(tpath(o, "spec.minAvailable"));
}

static json_t *pdb_max(const json_t *o)
{
    return int_or_string(tpath(o, "spec.maxUnavailable"));
}

static json_t *pdb_allowed(const json_t *o)
{
    return int_or(tpath(o, "status.disruptionsAllowed"), 0);
}

static const struct tcol pdb_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Min Available", "string", "", 0, pdb_min,
     "The minimum number of pods that must be available."},
    {"Max Unavailable", "string", "", 0, pdb_max,
     "The maximum number of pods that may be unavailable."},
    {"Allowed Disruptions", "integer", "", 0, pdb_allowed,
     "Calculated number of pods that may be disrupted at this time."},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

static json_t *pc_value(const json_t *o)
{
    return int_or(json_object_get(o, "value"), 0);
}

static json_t *pc_default(const json_t *o)
{
    return json_boolean(json_is_true(json_object_get(o, "globalDefault")));
}

static json_t *pc_preemption(const json_t *o)
{
    return tstr_or(tstr(o, "preemptionPolicy"), "");
}

static const struct tcol pc_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Value", "integer", "", 0, pc_value, TD_PC_VALUE},
    {"Global-Default", "boolean", "", 0, pc_default, TD_PC_DEFAULT},
    {"Age", "string", "", 0, cell_age, TD_AGE},
    {"PreemptionPolicy", "string", "", 0, pc_preemption, TD_PC_PREEMPTION},
};

/* ---- rbac ---- */

/* rbac.SubjectsStrings: the names of the subjects of one kind, ServiceAccounts as ns/name */
static json_t *subjects(const json_t *o, const char *kind)
{
    dd_buf b = DD_BUF_INIT;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(o, "subjects"), i, s)
    {
        if (!dd_streq(tstr(s, "kind"), kind))
            continue;
        if (b.len)
            dd_buf_addf(&b, ", ");
        if (!strcmp(kind, "ServiceAccount"))
            dd_buf_addf(&b, "%s/", tstr(s, "namespace") ?: "");
        dd_buf_addf(&b, "%s", tstr(s, "name") ?: "");
    }
    json_t *j = json_string(b.len ? b.data : "");
    dd_buf_release(&b);
    return j;
}

static json_t *rb_role(const json_t *o)
{
    return kind_slash_name(o, "roleRef");
}

static json_t *rb_users(const json_t *o)
{
    return subjects(o, "User");
}

static json_t *rb_groups(const json_t *o)
{
    return subjects(o, "Group");
}

static json_t *rb_sas(const json_t *o)
{
    return subjects(o, "ServiceAccount");
}

static const struct tcol rb_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Role", "string", "", 0, rb_role, TD_RB_ROLE},
    {"Age", "string", "", 0, cell_age, TD_AGE},
    {"Users", "string", "", 1, rb_users, "Users in the roleBinding"},
    {"Groups", "string", "", 1, rb_groups, "Groups in the roleBinding"},
    {"ServiceAccounts", "string", "", 1, rb_sas, "ServiceAccounts in the roleBinding"},
};

static const struct tcol crb_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Role", "string", "", 0, rb_role, TD_CRB_ROLE},
    {"Age", "string", "", 0, cell_age, TD_AGE},
    {"Users", "string", "", 1, rb_users, "Users in the clusterRoleBinding"},
    {"Groups", "string", "", 1, rb_groups, "Groups in the clusterRoleBinding"},
    {"ServiceAccounts", "string", "", 1, rb_sas, "ServiceAccounts in the clusterRoleBinding"},
};

/* ---- certificates ---- */

static json_t *csr_signer(const json_t *o)
{
    return tstr_or(tstr(o, "spec.signerName"), "<none>");
}

static json_t *csr_requestor(const json_t *o)
{
    return tstr_or(tstr(o, "spec.username"), "");
}

static json_t *csr_duration(const json_t *o)
{
    const json_t *e = tpath(o, "spec.expirationSeconds");
    if (!json_is_integer(e))
        return json_string("<none>");
    char buf[32];
    human_duration((int64_t)json_integer_value(e), buf, sizeof(buf));
    return json_string(buf);
}

static json_t *csr_condition(const json_t *o)
{
    bool approved = false, denied = false, failed = false;
    size_t i;
    json_t *c;
    json_array_foreach(tpath(o, "status.conditions"), i, c)
    {
        const char *t = tstr(c, "type");
        approved |= dd_streq(t, "Approved");
        denied |= dd_streq(t, "Denied");
        failed |= dd_streq(t, "Failed");
    }
    const char *cert = tstr(o, "status.certificate");
    return json_sprintf("%s%s%s",
                        denied     ? "Denied"
                        : approved ? "Approved"
                                   : "Pending",
                        failed ? ",Failed" : "", cert && *cert ? ",Issued" : "");
}

static const struct tcol csr_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Age", "string", "", 0, cell_age, TD_AGE},
    {"SignerName", "string", "", 0, csr_signer, TD_CSR_SIGNER},
    {"Requestor", "string", "", 0, csr_requestor, TD_CSR_REQUEST},
    {"RequestedDuration", "string", "", 0, csr_duration, TD_CSR_EXPIRATION},
    {"Condition", "string", "", 0, csr_condition, TD_CSR_CONDITIONS},
};

static const struct tcol ctb_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"SignerName", "string", "", 0, csr_signer, TD_CTB_SIGNER},
};

/* ---- admission ---- */

static json_t *webhooks(const json_t *o)
{
    return count_of(o, "webhooks");
}

#define WEBHOOK_DESC "Webhooks indicates the number of webhooks registered in this configuration"
static const struct tcol webhook_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Webhooks", "integer", "", 0, webhooks, WEBHOOK_DESC},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

static json_t *policy_validations(const json_t *o)
{
    return count_of(o, "spec.validations");
}

static json_t *policy_mutations(const json_t *o)
{
    return count_of(o, "spec.mutations");
}

static json_t *policy_param_kind(const json_t *o)
{
    const json_t *pk = tpath(o, "spec.paramKind");
    if (!pk)
        return json_string("<unset>");
    return json_sprintf("%s/%s", tstr(pk, "apiVersion") ?: "", tstr(pk, "kind") ?: "");
}

static json_t *selector_struct_string(const json_t *sel);

static json_t *binding_policy(const json_t *o)
{
    return tstr_or(tstr(o, "spec.policyName"), "");
}

static json_t *binding_param_ref(const json_t *o)
{
    const json_t *pr = tpath(o, "spec.paramRef");
    const char *name = tstr(pr, "name"), *ns = tstr(pr, "namespace");
    if (name && *name)
        return json_sprintf("%s/%s", ns && *ns ? ns : "*", name);
    if (pr && json_object_get(pr, "selector"))
        return selector_struct_string(json_object_get(pr, "selector"));
    return json_string("<unset>");
}

/* metav1.LabelSelector's generated String(), which upstream prints for a paramRef selector:
 * &LabelSelector{MatchLabels:map[string]string{k: v,},MatchExpressions:[]LabelSelector...,} */
static json_t *selector_struct_string(const json_t *sel)
{
    dd_buf b = DD_BUF_INIT;
    const json_t *ml = json_object_get(sel, "matchLabels");
    json_t *v, *w;
    size_t i, k;
    dd_buf_addf(&b, "&LabelSelector{MatchLabels:map[string]string{");
    size_t n;
    const char **keys = tsorted(json_is_object(ml) ? ml : NULL, &n);
    for (i = 0; i < n; i++)
        dd_buf_addf(&b, "%s: %s,", keys[i], json_string_value(json_object_get(ml, keys[i])) ?: "");
    free(keys);
    dd_buf_addf(&b, "},MatchExpressions:[]LabelSelectorRequirement{");
    json_array_foreach(json_object_get(sel, "matchExpressions"), i, v)
    {
        dd_buf_addf(&b, "LabelSelectorRequirement{Key:%s,Operator:%s,Values:[",
                    tstr(v, "key") ?: "", tstr(v, "operator") ?: "");
        json_array_foreach(json_object_get(v, "values"), k, w)
            dd_buf_addf(&b, "%s%s", k ? " " : "", json_string_value(w) ?: "");
        dd_buf_addf(&b, "],},");
    }
    dd_buf_addf(&b, "},}");
    json_t *j = json_string(b.data);
    dd_buf_release(&b);
    return j;
}

#define PARAM_KIND_DESC "ParamKind specifies the kind of resources used to parameterize this policy"
static const struct tcol vap_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Validations", "integer", "", 0, policy_validations,
     "Validations indicates the number of validation rules defined in this configuration"},
    {"ParamKind", "string", "", 0, policy_param_kind, PARAM_KIND_DESC},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

static const struct tcol map_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Mutations", "integer", "", 0, policy_mutations,
     "Mutation indicates the number of mutations rules defined in this configuration"},
    {"ParamKind", "string", "", 0, policy_param_kind, PARAM_KIND_DESC},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

static const struct tcol binding_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"PolicyName", "string", "", 0, binding_policy,
     "PolicyName indicates the policy definition which the policy binding binded to"},
    {"ParamRef", "string", "", 0, binding_param_ref,
     "ParamRef indicates the param resource which sets the configration param"},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

/* ---- API priority and fairness ---- */

static json_t *fs_pl(const json_t *o)
{
    return tstr_or(tstr(o, "spec.priorityLevelConfiguration.name"), "");
}

static json_t *fs_precedence(const json_t *o)
{
    return int_or(tpath(o, "spec.matchingPrecedence"), 0);
}

static json_t *fs_distinguisher(const json_t *o)
{
    const json_t *d = tpath(o, "spec.distinguisherMethod");
    return d ? tstr_or(tstr(d, "type"), "") : json_string("<none>");
}

static json_t *fs_missing(const json_t *o)
{
    size_t i;
    json_t *c;
    json_array_foreach(tpath(o, "status.conditions"), i, c)
    {
        if (dd_streq(tstr(c, "type"), "Dangling"))
            return tstr_or(tstr(c, "status"), "");
    }
    return json_string("?");
}

/* upstream lists flow schemas by matching precedence, then name */
static int fs_order(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_int_t px = json_integer_value(tpath(x, "spec.matchingPrecedence"));
    json_int_t py = json_integer_value(tpath(y, "spec.matchingPrecedence"));
    if (px != py)
        return px < py ? -1 : 1;
    return strcmp(tstr(x, "metadata.name") ?: "", tstr(y, "metadata.name") ?: "");
}

static const struct tcol fs_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"PriorityLevel", "string", "", 0, fs_pl, TD_FS_PL},
    {"MatchingPrecedence", "string", "", 0, fs_precedence, TD_FS_PRECEDENCE},
    {"DistinguisherMethod", "string", "", 0, fs_distinguisher, TD_FS_DISTINGUISHER},
    {"Age", "string", "", 0, cell_age, TD_AGE},
    {"MissingPL", "string", "", 0, fs_missing,
     "references a broken or non-existent PriorityLevelConfiguration"},
};

static json_t *pl_type(const json_t *o)
{
    return tstr_or(tstr(o, "spec.type"), "");
}

static json_t *pl_shares(const json_t *o)
{
    const json_t *l = tpath(o, "spec.limited");
    return l ? int_or(json_object_get(l, "nominalConcurrencyShares"), 0) : json_string("<none>");
}

/* a queuing parameter of a Limited level that queues */
static json_t *pl_queuing(const json_t *o, const char *field)
{
    const json_t *q = tpath(o, "spec.limited.limitResponse.queuing");
    return q ? int_or(json_object_get(q, field), 0) : json_string("<none>");
}

static json_t *pl_queues(const json_t *o)
{
    return pl_queuing(o, "queues");
}

static json_t *pl_handsize(const json_t *o)
{
    return pl_queuing(o, "handSize");
}

static json_t *pl_qlen(const json_t *o)
{
    return pl_queuing(o, "queueLengthLimit");
}

static const struct tcol pl_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Type", "string", "", 0, pl_type, TD_PL_TYPE},
    {"NominalConcurrencyShares", "string", "", 0, pl_shares, TD_PL_SHARES},
    {"Queues", "string", "", 0, pl_queues, TD_PL_QUEUES},
    {"HandSize", "string", "", 0, pl_handsize, TD_PL_HANDSIZE},
    {"QueueLengthLimit", "string", "", 0, pl_qlen, TD_PL_QLEN},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

/* ---- component statuses, API services ---- */

static const json_t *condition(const json_t *conds, const char *type)
{
    size_t i;
    json_t *c;
    json_array_foreach(conds, i, c) if (dd_streq(tstr(c, "type"), type)) return c;
    return NULL;
}

static json_t *cs_status(const json_t *o)
{
    const json_t *c = condition(json_object_get(o, "conditions"), "Healthy");
    if (!c)
        return json_string("Unknown");
    return json_string(dd_streq(tstr(c, "status"), "True") ? "Healthy" : "Unhealthy");
}

static json_t *cs_message(const json_t *o)
{
    return tstr_or(tstr(condition(json_object_get(o, "conditions"), "Healthy"), "message"), "");
}

static json_t *cs_error(const json_t *o)
{
    return tstr_or(tstr(condition(json_object_get(o, "conditions"), "Healthy"), "error"), "");
}

static const struct tcol cs_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Status", "string", "", 0, cs_status, "Status of the component conditions"},
    {"Message", "string", "", 0, cs_message, "Message of the component conditions"},
    {"Error", "string", "", 0, cs_error, "Error of the component conditions"},
};

static json_t *apisvc_service(const json_t *o)
{
    const json_t *s = tpath(o, "spec.service");
    if (!s)
        return json_string("Local");
    return json_sprintf("%s/%s", tstr(s, "namespace") ?: "", tstr(s, "name") ?: "");
}

static json_t *apisvc_available(const json_t *o)
{
    const json_t *c = condition(tpath(o, "status.conditions"), "Available");
    const char *st = tstr(c, "status") ?: "", *reason = tstr(c, "reason");
    if (!c)
        return json_string("Unknown");
    if (strcmp(st, "True") && reason && *reason)
        return json_sprintf("%s (%s)", st, reason);
    return json_string(st);
}

static const struct tcol apisvc_cols[] = {
    {"Name", "string", "name", 0, cell_name, TD_NAME},
    {"Service", "string", "", 0, apisvc_service,
     "The reference to the service that hosts this API endpoint."},
    {"Available", "string", "", 0, apisvc_available, "Whether this service is available."},
    {"Age", "string", "", 0, cell_age, TD_AGE},
};

#define AR   "admissionregistration.k8s.io"
#define FC   "flowcontrol.apiserver.k8s.io"
#define RBAC "rbac.authorization.k8s.io"
const struct tkind ktable_policy[] = {
    KIND("autoscaling", "horizontalpodautoscalers", hpa_cols),
    KIND("policy", "poddisruptionbudgets", pdb_cols),
    KIND("scheduling.k8s.io", "priorityclasses", pc_cols),
    KIND(RBAC, "rolebindings", rb_cols),
    KIND(RBAC, "clusterrolebindings", crb_cols),
    KIND("certificates.k8s.io", "certificatesigningrequests", csr_cols),
    KIND("certificates.k8s.io", "clustertrustbundles", ctb_cols),
    KIND(AR, "mutatingwebhookconfigurations", webhook_cols),
    KIND(AR, "validatingwebhookconfigurations", webhook_cols),
    KIND(AR, "validatingadmissionpolicies", vap_cols),
    KIND(AR, "validatingadmissionpolicybindings", binding_cols),
    KIND(AR, "mutatingadmissionpolicies", map_cols),
    KIND(AR, "mutatingadmissionpolicybindings", binding_cols),
    {FC, "flowschemas", fs_cols, DD_ARRAY_SIZE(fs_cols), fs_order},
    KIND(FC, "prioritylevelconfigurations", pl_cols),
    KIND("", "componentstatuses", cs_cols),
    KIND("apiregistration.k8s.io", "apiservices", apisvc_cols),
};
const size_t ktable_npolicy = DD_ARRAY_SIZE(ktable_policy);
