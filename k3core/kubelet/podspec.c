/* podspec.c: turns one container of a PodSpec into the runtime's neutral rt_spec — the only
 * place that knows how Kubernetes fields map onto rt: command/args against the image's
 * Entrypoint/Cmd, `$(VAR)` expansion, workingDir, securityContext (runAsUser/runAsGroup at pod
 * and container level, privileged, capabilities add/drop, readOnlyRootFilesystem), resources,
 * the pod's shared network/ipc/uts namespaces, volume mounts and the CRI log file. No I/O here:
 * the caller resolves images, environment and volumes first.
 */
#include "k3core/kubelet/podspec.h"

#include <stdio.h>

#include "dind/lib/rt/security.h"
#include "k3core/api/quantity.h"

static const char *env_lookup(char *const *env, const char *name, size_t n)
{
    const char *found = NULL;
    for (size_t i = 0; env && env[i]; i++)
        if (!strncmp(env[i], name, n) && env[i][n] == '=')
            found = env[i] + n + 1; /* the last definition wins */
    return found;
}

char *kps_expand(const char *s, char *const *env)
{
    dd_buf b;
    dd_buf_init(&b);
    for (const char *p = s; *p;) {
        if (p[0] == '$' && p[1] == '$') {
            dd_buf_addc(&b, '$');
            p += 2;
            continue;
        }
        if (p[0] == '$' && p[1] == '(') {
            const char *end = strchr(p + 2, ')');
            const char *v = end ? env_lookup(env, p + 2, (size_t)(end - p - 2)) : NULL;
            if (v) {
                dd_buf_adds(&b, v);
                p = end + 1;
                continue;
            }
        }
        dd_buf_addc(&b, *p++);
    }
    return dd_buf_detach(&b, NULL);
}

static char **expand_all(char **out, const json_t *arr, char *const *env)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (json_is_string(v))
            out = dd_strv_consume(out, kps_expand(json_string_value(v), env));
    }
    return out;
}

static char **copy_all(char **out, const json_t *arr)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (json_is_string(v))
            out = dd_strv_push(out, json_string_value(v));
    }
    return out;
}

int kps_argv(const json_t *ctr, const json_t *runconfig, char *const *env, char ***ret, dd_err *e)
{
    const json_t *cmd = json_object_get(ctr, "command"), *args = json_object_get(ctr, "args");
    char **out = NULL;
    if (json_array_size(cmd) > 0) {
        out = expand_all(out, cmd, env);
        out = expand_all(out, args, env);
    } else {
        out = copy_all(out, json_object_get(runconfig, "Entrypoint"));
        if (json_array_size(args) > 0)
            out = expand_all(out, args, env);
        else
            out = copy_all(out, json_object_get(runconfig, "Cmd"));
    }
    if (!out || !out[0]) {
        dd_strv_free(out);
        return dd_err_set(e, EINVAL, "no command specified");
    }
    *ret = out;
    return 0;
}

static int quantity(const json_t *obj, const char *key, kqty *q, bool *set, dd_err *e)
{
    const json_t *v = json_object_get(obj, key);
    *set = false;
    if (!v)
        return 0;
    _cleanup_free_ char *s = json_is_string(v)
                                 ? dd_strdup(json_string_value(v))
                                 : dd_asprintf("%lld", (long long)json_integer_value(v));
    if (kqty_parse(s, q, e) < 0)
        return dd_err_wrap(e, "resources %s", key);
    *set = true;
    return 0;
}

int kps_resources(const json_t *res, struct rt_resources *ret, dd_err *e)
{
    const json_t *lim = json_object_get(res, "limits"), *req = json_object_get(res, "requests");
    kqty q;
    bool set;
    memset(ret, 0, sizeof(*ret));
    if (quantity(lim, "memory", &q, &set, e) < 0)
        return -EINVAL;
    if (set) {
        ret->memory = kqty_value(&q);
        ret->memory_swap = ret->memory; /* no swap, like the kubelet's default */
    }
    if (quantity(lim, "cpu", &q, &set, e) < 0)
        return -EINVAL;
    if (set) {
        ret->cpu_period = 100000;
        ret->cpu_quota = kqty_milli(&q) * 100000 / 1000;
        if (ret->cpu_quota < 1000)
            ret->cpu_quota = 1000;
    }
    bool req_set;
    if (quantity(req, "cpu", &q, &req_set, e) < 0)
        return -EINVAL;
    if (!req_set && set && quantity(lim, "cpu", &q, &req_set, e) < 0)
        return -EINVAL;
    int64_t shares = req_set ? kqty_milli(&q) * 1024 / 1000 : 2;
    ret->cpu_shares = (uint64_t)(shares < 2 ? 2 : shares > 262144 ? 262144 : shares);
    return 0;
}

static int caps(const json_t *sc, uint64_t *ret, dd_err *e)
{
    uint64_t c = rt_caps_docker_default();
    const json_t *cap = json_object_get(sc, "capabilities");
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(cap, "drop"), i, v)
    {
        int n;
        const char *name = json_string_value(v);
        if (name && !strcasecmp(name, "ALL")) {
            c = 0;
            continue;
        }
        if (!name || rt_cap_from_name(name, &n) < 0)
            return dd_err_set(e, EINVAL, "unknown capability to drop: \"%s\"", name ? name : "");
        c &= ~RT_CAP_BIT(n);
    }
    json_array_foreach(json_object_get(cap, "add"), i, v)
    {
        int n;
        const char *name = json_string_value(v);
        if (name && !strcasecmp(name, "ALL")) {
            c |= rt_caps_daemon_bounding();
            continue;
        }
        if (!name || rt_cap_from_name(name, &n) < 0)
            return dd_err_set(e, EINVAL, "unknown capability to add: \"%s\"", name ? name : "");
        c |= RT_CAP_BIT(n);
    }
    *ret = c;
    return 0;
}

/* Container securityContext over the pod's: runAsUser/runAsGroup → "uid[:gid]". */
static char *user_of(const json_t *pod_sc, const json_t *sc)
{
    const json_t *u = json_object_get(sc, "runAsUser") ?: json_object_get(pod_sc, "runAsUser");
    const json_t *g = json_object_get(sc, "runAsGroup") ?: json_object_get(pod_sc, "runAsGroup");
    if (!u && !g)
        return NULL;
    long long uid = u ? json_integer_value(u) : 0;
    return g ? dd_asprintf("%lld:%lld", uid, (long long)json_integer_value(g))
             : dd_asprintf("%lld", uid);
}

static void set_ns(struct rt_spec *s, enum rt_ns_type t, const char *path)
{
    if (!path)
        return;
    s->namespaces[t].mode = RT_NS_JOIN;
    s->namespaces[t].path = dd_strdup(path);
}

static void host_ns(struct rt_spec *s, enum rt_ns_type t)
{
    free(s->namespaces[t].path);
    s->namespaces[t] = (struct rt_ns){.mode = RT_NS_HOST};
}

static void copy_mounts(struct rt_spec *s, const struct rt_mount *m, size_t n)
{
    s->mounts = dd_calloc(n ? n : 1, sizeof(*s->mounts));
    s->n_mounts = n;
    for (size_t i = 0; i < n; i++) {
        s->mounts[i].destination = dd_strdup(m[i].destination);
        s->mounts[i].type = dd_strdup(m[i].type);
        s->mounts[i].source = m[i].source ? dd_strdup(m[i].source) : NULL;
        s->mounts[i].options = dd_strv_copy(m[i].options);
    }
}

static int security(const struct kps_in *in, struct rt_spec *s, dd_err *e)
{
    const json_t *pod_sc = json_object_get(json_object_get(in->pod, "spec"), "securityContext");
    const json_t *sc = json_object_get(in->ctr, "securityContext");
    s->privileged = json_is_true(json_object_get(sc, "privileged"));
    s->root_readonly = json_is_true(json_object_get(sc, "readOnlyRootFilesystem"));
    s->no_new_privileges = json_is_false(json_object_get(sc, "allowPrivilegeEscalation"));
    s->seccomp = !s->privileged;
    s->process.user = user_of(pod_sc, sc);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(pod_sc, "supplementalGroups"), i, v)
    {
        s->process.additional_groups = dd_strv_consume(
            s->process.additional_groups, dd_asprintf("%lld", (long long)json_integer_value(v)));
    }
    return caps(sc, &s->capabilities, e);
}

int kps_build(const struct kps_in *in, struct rt_spec *ret, dd_err *e)
{
    struct rt_spec s = {0};
    if (json_is_true(json_object_get(json_object_get(in->pod, "spec"), "shareProcessNamespace")))
        return dd_err_set(e, ENOTSUP,
                          "shareProcessNamespace is not supported by this node: its pods have no "
                          "pause container to hold a shared process namespace");
    int r = kps_argv(in->ctr, in->runconfig, in->env, &s.process.args, e);
    if (r >= 0)
        r = security(in, &s, e);
    if (r >= 0)
        r = kps_resources(json_object_get(in->ctr, "resources"), &s.resources, e);
    if (r < 0) {
        rt_spec_release(&s);
        return r;
    }
    const char *wd = json_string_value(json_object_get(in->ctr, "workingDir"));
    if (!wd || !*wd)
        wd = json_string_value(json_object_get(in->runconfig, "WorkingDir"));
    s.process.cwd = wd && *wd ? dd_strdup(wd) : NULL;
    s.process.env = dd_strv_copy(in->env);
    s.process.terminal = json_is_true(json_object_get(in->ctr, "tty"));
    s.process.open_stdin = json_is_true(json_object_get(in->ctr, "stdin"));
    s.id = dd_strdup(in->id);
    s.lower_dirs = dd_strv_copy(in->lower_dirs);
    s.upper_dir = dd_strdup(in->upper_dir);
    s.work_dir = dd_strdup(in->work_dir);
    const json_t *pspec = json_object_get(in->pod, "spec");
    set_ns(&s, RT_NS_NET, in->netns);
    set_ns(&s, RT_NS_IPC, in->ipcns);
    set_ns(&s, RT_NS_UTS, in->utsns);
    set_ns(&s, RT_NS_PID, in->pidns);
    if (json_is_true(json_object_get(pspec, "hostNetwork")))
        host_ns(&s, RT_NS_NET), host_ns(&s, RT_NS_UTS);
    if (json_is_true(json_object_get(pspec, "hostIPC")))
        host_ns(&s, RT_NS_IPC);
    if (json_is_true(json_object_get(pspec, "hostPID")))
        host_ns(&s, RT_NS_PID);
    copy_mounts(&s, in->mounts, in->n_mounts);
    s.cgroup_parent = in->cgroup_parent ? dd_strdup(in->cgroup_parent) : NULL;
    s.init = false;
    s.log_path = dd_strdup(in->log_path);
    s.log_format = RT_LOG_CRI;
    *ret = s;
    return 0;
}

/* Sums the non-zero cpu and memory quantities of one list (requests or limits) into sum[0..1];
 * ret_both: both were present. Unparsable quantities count as absent (the API validated them). */
static void qos_add(const json_t *list, int64_t sum[2], bool has[2], bool *ret_both)
{
    static const char *const names[] = {"cpu", "memory"};
    bool both = true;
    for (int i = 0; i < 2; i++) {
        kqty q;
        bool set = false;
        dd_err e = {0};
        if (quantity(list, names[i], &q, &set, &e) < 0 || !set) {
            both = false;
            continue;
        }
        if (kqty_milli(&q) != 0) {
            sum[i] += kqty_milli(&q);
            has[i] = true;
        }
    }
    if (ret_both)
        *ret_both = both;
}

const char *kps_qos_class(const json_t *spec)
{
    static const char *const lists[] = {"initContainers", "containers"};
    int64_t req[2] = {0}, lim[2] = {0};
    bool has_req[2] = {false}, has_lim[2] = {false}, guaranteed = true;
    for (size_t l = 0; l < DD_ARRAY_SIZE(lists); l++) {
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(spec, lists[l]), i, c)
        {
            const json_t *res = json_object_get(c, "resources");
            bool both;
            qos_add(json_object_get(res, "requests"), req, has_req, NULL);
            qos_add(json_object_get(res, "limits"), lim, has_lim, &both);
            guaranteed = guaranteed && both;
        }
    }
    if (!has_req[0] && !has_req[1] && !has_lim[0] && !has_lim[1])
        return "BestEffort";
    for (int i = 0; i < 2; i++)
        if (has_req[i] && (!has_lim[i] || req[i] != lim[i]))
            guaranteed = false;
    return guaranteed ? "Guaranteed" : "Burstable";
}
