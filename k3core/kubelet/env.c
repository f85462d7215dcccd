/* env.c: a container's environment as upstream builds it — the image's Env first, then envFrom
 * (configMapRef/secretRef with an optional prefix), then env entries in order with `$(VAR)`
 * expanded against what came before; valueFrom configMapKeyRef, secretKeyRef (base64 decoded),
 * fieldRef (metadata.name/namespace/uid, labels/annotations['k'], spec.nodeName,
 * spec.serviceAccountName, status.hostIP/podIP) and resourceFieldRef (limits/requests
 * cpu/memory, with divisor). A missing non-optional source is an error naming it, as
 * upstream's CreateContainerConfigError. Service links (FOO_SERVICE_HOST...) come first, right
 * after the image's Env, so that everything the pod sets overrides them.
 */
#include <stdio.h>

#include "k3core/api/quantity.h"
#include "k3core/kubelet/kubelet-internal.h"
#include "k3core/kubelet/podfiles.h"
#include "k3core/kubelet/podspec.h"
#include "k3core/pki/b64.h"

static char **env_set(char **env, const char *name, const char *value)
{
    size_t n = strlen(name);
    for (size_t i = 0; env && env[i]; i++)
        if (!strncmp(env[i], name, n) && env[i][n] == '=') {
            free(env[i]);
            env[i] = dd_asprintf("%s=%s", name, value);
            return env;
        }
    return dd_strv_consume(env, dd_asprintf("%s=%s", name, value));
}

static char *b64dec(const char *s)
{
    size_t n = 0;
    char *out = NULL;
    if (!s || b64_decode(s, strlen(s), &out, &n) < 0)
        return NULL;
    return out;
}

/* The value of key in ConfigMap/Secret `name`; NULL when absent. */
static char *source_value(struct kl_pod *p, bool secret, const char *name, const char *key)
{
    json_t *o = kl_get(p->k, "", secret ? "secrets" : "configmaps", p->ns, name);
    const char *v = o ? kl_str(json_object_get(o, "data"), key, NULL) : NULL;
    char *out = v ? (secret ? b64dec(v) : dd_strdup(v)) : NULL;
    if (!out && secret && o && (v = kl_str(json_object_get(o, "stringData"), key, NULL)))
        out = dd_strdup(v);
    json_decref(o);
    return out;
}

static char *field_value(struct kl_pod *p, const char *path)
{
    const json_t *meta = json_object_get(p->obj, "metadata");
    char key[256];
    if (sscanf(path, "metadata.labels['%255[^']']", key) == 1)
        return dd_strdup(kl_str(json_object_get(meta, "labels"), key, NULL) ?: "");
    if (sscanf(path, "metadata.annotations['%255[^']']", key) == 1)
        return dd_strdup(kl_str(json_object_get(meta, "annotations"), key, NULL) ?: "");
    const char *v = NULL;
    if (dd_startswith(path, "metadata."))
        v = kl_str(meta, path + 9, NULL);
    else if (dd_startswith(path, "spec."))
        v = kl_str(json_object_get(p->obj, "spec"), path + 5, NULL);
    else if (!strcmp(path, "status.hostIP") || !strcmp(path, "status.hostIPs"))
        v = p->k->node_ip;
    else if (!strcmp(path, "status.podIP") || !strcmp(path, "status.podIPs"))
        v = p->pod_ip;
    return v ? dd_strdup(v) : NULL;
}

char *kl_resource_value(struct kl_pod *p, const json_t *ref, const json_t *ctr)
{
    const char *res = kl_str(ref, "resource", NULL);
    const char *cname = kl_str(ref, "containerName", NULL);
    if (cname)
        ctr = NULL;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(json_object_get(p->obj, "spec"), "containers"), i, c)
    {
        if (cname && !dd_streq(kl_str(c, "name", NULL), cname))
            continue;
        if (!ctr)
            ctr = c;
    }
    if (!res || !ctr)
        return NULL;
    const char *dot = strchr(res, '.');
    if (!dot)
        return NULL;
    _cleanup_free_ char *sect = dd_strndup(res, (size_t)(dot - res));
    const char *v = kl_str(json_object_get(json_object_get(ctr, "resources"), sect), dot + 1, NULL);
    bool cpu = !strcmp(dot + 1, "cpu");
    kqty q, d;
    if (!v || kqty_parse(v, &q, NULL) < 0) /* unset limits: node allocatable, like upstream */
        return cpu ? dd_strdup("1") : dd_strdup("0");
    const char *div = kl_str(ref, "divisor", NULL);
    if (!div || kqty_parse(div, &d, NULL) < 0 || d.nano <= 0)
        kqty_parse("1", &d, NULL);
    __int128 n = (q.nano + d.nano - 1) / d.nano;
    return dd_asprintf("%lld", (long long)n);
}

static int value_from(struct kl_pod *p, const json_t *ctr, const json_t *vf, char **ret, dd_err *e)
{
    const json_t *ref;
    bool secret = false;
    if ((ref = json_object_get(vf, "configMapKeyRef")) ||
        (secret = true, ref = json_object_get(vf, "secretKeyRef"))) {
        const char *name = kl_str(ref, "name", NULL) ?: "", *key = kl_str(ref, "key", NULL) ?: "";
        *ret = source_value(p, secret, name, key);
        if (!*ret && !json_is_true(json_object_get(ref, "optional")))
            return dd_err_set(e, ENOENT, "couldn't find key %s in %s %s/%s", key,
                              secret ? "Secret" : "ConfigMap", p->ns, name);
        return 0;
    }
    if ((ref = json_object_get(vf, "fieldRef"))) {
        *ret = field_value(p, kl_str(ref, "fieldPath", NULL) ?: "");
        return 0;
    }
    if ((ref = json_object_get(vf, "resourceFieldRef"))) {
        *ret = kl_resource_value(p, ref, ctr);
        return 0;
    }
    return dd_err_set(e, EINVAL, "unsupported valueFrom source");
}

static char **env_from(struct kl_pod *p, const json_t *ctr, char **env, dd_err *e, int *r)
{
    size_t i;
    json_t *ef;
    json_array_foreach(json_object_get(ctr, "envFrom"), i, ef)
    {
        const json_t *ref = json_object_get(ef, "configMapRef");
        bool secret = !ref;
        if (!ref)
            ref = json_object_get(ef, "secretRef");
        const char *name = kl_str(ref, "name", NULL) ?: "", *prefix = kl_str(ef, "prefix", NULL);
        json_t *o = kl_get(p->k, "", secret ? "secrets" : "configmaps", p->ns, name);
        if (!o && !json_is_true(json_object_get(ref, "optional"))) {
            *r =
                dd_err_set(e, ENOENT, "%s \"%s\" not found", secret ? "secret" : "configmap", name);
            return env;
        }
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(o, "data"), key, v)
        {
            _cleanup_free_ char *val =
                secret ? b64dec(json_string_value(v)) : dd_strdup(json_string_value(v) ?: "");
            _cleanup_free_ char *k = dd_asprintf("%s%s", prefix ? prefix : "", key);
            env = env_set(env, k, val ? val : "");
        }
        json_decref(o);
    }
    return env;
}

/* FOO_SERVICE_HOST and friends (podfiles.c) for the Services of the pod's namespace and the
 * default/kubernetes one; the container's own env and envFrom override them. */
static char **service_env(struct kl_pod *p, char **env)
{
    kobj_req req = {.res = kl_res("", "services"), .ns = p->ns};
    kobj_list_opts o = {0};
    kobj_status st = {0};
    json_t *list = NULL;
    if (kl_api_list(p->k, &req, &o, &list, &st) < 0)
        dd_warn("listing services of %s: %s", p->ns, st.message);
    kobj_status_release(&st);
    json_t *master = kl_get(p->k, "", "services", "default", "kubernetes");
    char **vars = kpf_service_env(p->obj, json_object_get(list, "items"), master);
    for (size_t i = 0; vars && vars[i]; i++) {
        char *eq = strchr(vars[i], '=');
        *eq = '\0';
        env = env_set(env, vars[i], eq + 1);
    }
    dd_strv_free(vars);
    json_decref(list);
    json_decref(master);
    return env;
}

int kl_env(struct kl_pod *p, const json_t *ctr, const json_t *runconfig, char ***ret, dd_err *e)
{
    char **env = NULL;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(runconfig, "Env"), i, v)
    {
        if (json_is_string(v))
            env = dd_strv_push(env, json_string_value(v));
    }
    int r = 0;
    env = service_env(p, env);
    env = env_from(p, ctr, env, e, &r);
    json_array_foreach(json_object_get(ctr, "env"), i, v)
    {
        if (r < 0)
            break;
        const char *name = kl_str(v, "name", NULL);
        const json_t *vf = json_object_get(v, "valueFrom");
        _cleanup_free_ char *val = NULL;
        if (vf)
            r = value_from(p, ctr, vf, &val, e);
        else
            val = kps_expand(kl_str(v, "value", NULL) ?: "", env);
        if (r >= 0 && name && val)
            env = env_set(env, name, val);
    }
    if (r < 0) {
        dd_strv_free(env);
        return r;
    }
    *ret = env;
    return 0;
}
