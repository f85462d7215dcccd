/* create: a Docker create body → the container's canonical Config and HostConfig.
 *
 * The body is decoded the way dockerd's Go decoder does it: keys case-insensitively, unknown
 * fields ignored, null the same as absent (dockerode's query-string copy of the options is never
 * read). Every known field is type-checked and copied under its canonical name with dockerd's
 * default, so inspect shows the same shape dockerd does; the Config is then merged with the
 * image's config (Env, Cmd/Entrypoint, WorkingDir, User, Labels, ExposedPorts, Volumes,
 * StopSignal). Validation that needs no runtime (names, restart policy, signals, limits, mounts)
 * happens here so that a bad request changes nothing. The translation to the runtime's rt_spec
 * is spec.c's job; this file never touches the disk.
 */
#include <signal.h>
#include <stdio.h>

#include "container-internal.h"
#include "health.h"
#include "create.h"
#include "dind/json.h"

enum key_type { KT_STR, KT_BOOL, KT_INT, KT_STRV, KT_OBJ, KT_ARR, KT_ANY };

struct key_spec {
    const char *name;
    enum key_type type;
    const char *dflt; /* JSON text used when absent; NULL = omit the key when absent */
};

static const struct key_spec config_keys[] = {
    {"Hostname", KT_STR, "\"\""},       {"Domainname", KT_STR, "\"\""},
    {"User", KT_STR, "\"\""},           {"AttachStdin", KT_BOOL, "false"},
    {"AttachStdout", KT_BOOL, "false"}, {"AttachStderr", KT_BOOL, "false"},
    {"ExposedPorts", KT_OBJ, NULL},     {"Tty", KT_BOOL, "false"},
    {"OpenStdin", KT_BOOL, "false"},    {"StdinOnce", KT_BOOL, "false"},
    {"Env", KT_STRV, "null"},           {"Cmd", KT_STRV, "null"},
    {"Healthcheck", KT_OBJ, NULL},      {"Image", KT_STR, "\"\""},
    {"Volumes", KT_OBJ, "null"},        {"WorkingDir", KT_STR, "\"\""},
    {"Entrypoint", KT_STRV, "null"},    {"OnBuild", KT_STRV, "null"},
    {"Labels", KT_OBJ, "{}"},           {"StopSignal", KT_STR, NULL},
    {"StopTimeout", KT_INT, NULL},
};

static const struct key_spec host_keys[] = {
    {"Binds", KT_STRV, "null"},
    {"ContainerIDFile", KT_STR, "\"\""},
    {"LogConfig", KT_OBJ, NULL},
    {"NetworkMode", KT_STR, "\"default\""},
    {"PortBindings", KT_OBJ, "{}"},
    {"RestartPolicy", KT_OBJ, NULL},
    {"AutoRemove", KT_BOOL, "false"},
    {"VolumeDriver", KT_STR, "\"\""},
    {"VolumesFrom", KT_STRV, "null"},
    {"ConsoleSize", KT_ARR, "[0,0]"},
    {"CapAdd", KT_STRV, "null"},
    {"CapDrop", KT_STRV, "null"},
    {"CgroupnsMode", KT_STR, "\"private\""},
    {"Dns", KT_STRV, "[]"},
    {"DnsOptions", KT_STRV, "[]"},
    {"DnsSearch", KT_STRV, "[]"},
    {"ExtraHosts", KT_STRV, "null"},
    {"GroupAdd", KT_STRV, "null"},
    {"IpcMode", KT_STR, "\"private\""},
    {"Cgroup", KT_STR, "\"\""},
    {"Links", KT_STRV, "null"},
    {"OomScoreAdj", KT_INT, "0"},
    {"PidMode", KT_STR, "\"\""},
    {"Privileged", KT_BOOL, "false"},
    {"PublishAllPorts", KT_BOOL, "false"},
    {"ReadonlyRootfs", KT_BOOL, "false"},
    {"SecurityOpt", KT_STRV, "null"},
    {"Tmpfs", KT_OBJ, NULL},
    {"UTSMode", KT_STR, "\"\""},
    {"UsernsMode", KT_STR, "\"\""},
    {"ShmSize", KT_INT, "67108864"},
    {"Sysctls", KT_OBJ, NULL},
    {"Runtime", KT_STR, "\"runc\""},
    {"Isolation", KT_STR, "\"\""},
    {"CpuShares", KT_INT, "0"},
    {"Memory", KT_INT, "0"},
    {"NanoCpus", KT_INT, "0"},
    {"CgroupParent", KT_STR, "\"\""},
    {"BlkioWeight", KT_INT, "0"},
    {"BlkioWeightDevice", KT_ARR, "[]"},
    {"BlkioDeviceReadBps", KT_ARR, "[]"},
    {"BlkioDeviceWriteBps", KT_ARR, "[]"},
    {"BlkioDeviceReadIOps", KT_ARR, "[]"},
    {"BlkioDeviceWriteIOps", KT_ARR, "[]"},
    {"CpuPeriod", KT_INT, "0"},
    {"CpuQuota", KT_INT, "0"},
    {"CpuRealtimePeriod", KT_INT, "0"},
    {"CpuRealtimeRuntime", KT_INT, "0"},
    {"CpusetCpus", KT_STR, "\"\""},
    {"CpusetMems", KT_STR, "\"\""},
    {"Devices", KT_ARR, "[]"},
    {"DeviceCgroupRules", KT_STRV, "null"},
    {"DeviceRequests", KT_ARR, "null"},
    {"KernelMemory", KT_INT, "0"},
    {"KernelMemoryTCP", KT_INT, "0"},
    {"MemoryReservation", KT_INT, "0"},
    {"MemorySwap", KT_INT, "0"},
    {"MemorySwappiness", KT_INT, "null"},
    {"OomKillDisable", KT_BOOL, "false"},
    {"PidsLimit", KT_INT, "null"},
    {"Ulimits", KT_ARR, "[]"},
    {"CpuCount", KT_INT, "0"},
    {"CpuPercent", KT_INT, "0"},
    {"IOMaximumIOps", KT_INT, "0"},
    {"IOMaximumBandwidth", KT_INT, "0"},
    {"Mounts", KT_ARR, NULL},
    {"Init", KT_BOOL, NULL},
    {"MaskedPaths", KT_STRV, NULL},
    {"ReadonlyPaths", KT_STRV, NULL},
};

static const char *const type_names[] = {
    [KT_STR] = "a string",   [KT_BOOL] = "a boolean",
    [KT_INT] = "an integer", [KT_STRV] = "a list of strings",
    [KT_OBJ] = "an object",  [KT_ARR] = "an array",
    [KT_ANY] = "a value",
};

static bool type_ok(const json_t *v, enum key_type t)
{
    switch (t) {
    case KT_STR:
        return json_is_string(v);
    case KT_BOOL:
        return json_is_boolean(v);
    case KT_INT:
        return json_is_integer(v) ||
               (json_is_real(v) && json_real_value(v) == (double)(int64_t)json_real_value(v));
    case KT_STRV:
        if (json_is_string(v))
            return true;
        if (!json_is_array(v))
            return false;
        for (size_t i = 0; i < json_array_size(v); i++)
            if (!json_is_string(json_array_get(v, i)))
                return false;
        return true;
    case KT_OBJ:
        return json_is_object(v);
    case KT_ARR:
        return json_is_array(v);
    case KT_ANY:
        return true;
    }
    return false;
}

static json_t *normalise(json_t *v, enum key_type t)
{
    if (t == KT_STRV && json_is_string(v)) {
        json_t *a = json_array();
        json_array_append(a, v);
        return a;
    }
    if (t == KT_INT && json_is_real(v))
        return json_integer((json_int_t)json_real_value(v));
    return json_deep_copy(v);
}

/* Copies the known keys of src into a new canonical object. */
static int copy_keys(const json_t *src, const struct key_spec *keys, size_t n, const char *where,
                     json_t **ret, dd_err *e)
{
    json_t *out = json_object();
    for (size_t i = 0; i < n; i++) {
        json_t *v = src ? jx_get(src, keys[i].name) : NULL;
        if (v && !type_ok(v, keys[i].type)) {
            json_decref(out);
            return dd_err_set(e, EINVAL, "%s.%s: expected %s", where, keys[i].name,
                              type_names[keys[i].type]);
        }
        if (v)
            jx_set_new(out, keys[i].name, normalise(v, keys[i].type));
        else if (keys[i].dflt)
            jx_set_new(out, keys[i].name, json_loads(keys[i].dflt, JSON_DECODE_ANY, NULL));
    }
    *ret = out;
    return 0;
}

/* ---- merge with the image ---- */

static bool strv_json_empty(const json_t *v)
{
    return !json_is_array(v) || json_array_size(v) == 0;
}

static bool env_has_key(const json_t *env, const char *kv)
{
    size_t klen = strcspn(kv, "=");
    for (size_t i = 0; i < json_array_size(env); i++) {
        const char *s = json_string_value(json_array_get(env, i));
        if (s && strncmp(s, kv, klen) == 0 && (s[klen] == '=' || s[klen] == '\0'))
            return true;
    }
    return false;
}

static void merge_env(json_t *cfg, const json_t *img)
{
    json_t *ienv = json_object_get(img, "Env");
    json_t *env = json_object_get(cfg, "Env");
    if (!json_is_array(ienv))
        return;
    if (strv_json_empty(env)) {
        json_object_set(cfg, "Env", ienv);
        return;
    }
    for (size_t i = 0; i < json_array_size(ienv); i++) {
        json_t *v = json_array_get(ienv, i);
        if (json_is_string(v) && !env_has_key(env, json_string_value(v)))
            json_array_append(env, v);
    }
}

/* Object union: the image's keys first, the container's win. */
static void merge_obj(json_t *cfg, const json_t *img, const char *key)
{
    json_t *iv = json_object_get(img, key);
    if (!json_is_object(iv) || json_object_size(iv) == 0)
        return;
    json_t *merged = json_deep_copy(iv);
    json_t *cv = json_object_get(cfg, key);
    if (json_is_object(cv))
        json_object_update(merged, cv);
    jx_set_new(cfg, key, merged);
}

static void merge_str(json_t *cfg, const json_t *img, const char *key)
{
    json_t *cv = json_object_get(cfg, key);
    json_t *iv = json_object_get(img, key);
    if ((!cv || (json_is_string(cv) && !*json_string_value(cv))) && json_is_string(iv) &&
        *json_string_value(iv))
        json_object_set(cfg, key, iv);
}

/* dockerd's rule: only without a user Entrypoint does the image's Cmd apply; an explicit empty
 * Entrypoint ([""] from `--entrypoint ""`) drops the image's. */
static void merge_command(json_t *cfg, const json_t *img)
{
    json_t *ep = json_object_get(cfg, "Entrypoint");
    bool ep_reset = json_is_array(ep) && json_array_size(ep) == 1 &&
                    dd_streq(json_string_value(json_array_get(ep, 0)), "");
    if (ep_reset) {
        jx_set_new(cfg, "Entrypoint", json_null());
        return;
    }
    if (!strv_json_empty(ep))
        return;
    if (strv_json_empty(json_object_get(cfg, "Cmd")) && json_is_array(json_object_get(img, "Cmd")))
        json_object_set(cfg, "Cmd", json_object_get(img, "Cmd"));
    if (json_is_null(ep) || !ep) {
        json_t *iep = json_object_get(img, "Entrypoint");
        if (json_is_array(iep))
            json_object_set(cfg, "Entrypoint", iep);
    }
}

void create_merge_image(json_t *cfg, const json_t *img)
{
    if (!json_is_object(img))
        return;
    merge_env(cfg, img);
    merge_command(cfg, img);
    merge_str(cfg, img, "WorkingDir");
    merge_str(cfg, img, "User");
    merge_str(cfg, img, "StopSignal");
    merge_obj(cfg, img, "Labels");
    merge_obj(cfg, img, "ExposedPorts");
    merge_obj(cfg, img, "Volumes");
    health_merge_image(cfg, img);
}

int create_command(const json_t *cfg, char **ret_path, char ***ret_args, dd_err *e)
{
    _cleanup_strv_free_ char **ep = NULL, **cmd = NULL;
    jx_strv(cfg, "Entrypoint", &ep, NULL);
    jx_strv(cfg, "Cmd", &cmd, NULL);
    char **all = dd_strv_copy(ep);
    for (size_t i = 0; cmd && cmd[i]; i++)
        all = dd_strv_push(all, cmd[i]);
    if (!all || !all[0]) {
        dd_strv_free(all);
        return dd_err_set(e, EINVAL, "No command specified");
    }
    *ret_path = dd_strdup(all[0]);
    *ret_args = dd_strv_copy(all + 1);
    if (!*ret_args)
        *ret_args = dd_calloc(1, sizeof(char *));
    dd_strv_free(all);
    return 0;
}

/* ---- the HostConfig ---- */

static int check_restart_policy(json_t *hc, dd_err *e)
{
    json_t *rp = json_object_get(hc, "RestartPolicy");
    const char *name = "";
    int64_t max = 0;
    bool auto_remove = false;
    if (jx_str(rp, "Name", &name, e) < 0 || jx_int(rp, "MaximumRetryCount", &max, e) < 0)
        return dd_err_wrap(e, "HostConfig.RestartPolicy");
    if (!name || !*name)
        name = "no";
    if (!dd_streq(name, "no") && !dd_streq(name, "always") && !dd_streq(name, "unless-stopped") &&
        !dd_streq(name, "on-failure"))
        return dd_err_set(e, EINVAL, "invalid restart policy '%s'", name);
    if (max < 0)
        return dd_err_set(e, EINVAL,
                          "invalid value for restart policy: maximum retry count cannot "
                          "be negative");
    if (max > 0 && !dd_streq(name, "on-failure"))
        return dd_err_set(e, EINVAL,
                          "invalid restart policy: maximum retry count can only be used with "
                          "'on-failure'");
    jx_bool(hc, "AutoRemove", &auto_remove, NULL);
    if (auto_remove && !dd_streq(name, "no"))
        return dd_err_set(e, EINVAL, "can't create 'AutoRemove' container with restart policy");
    json_t *out = json_object();
    jx_set_str(out, "Name", name);
    jx_set_int(out, "MaximumRetryCount", max);
    jx_set_new(hc, "RestartPolicy", out);
    return 0;
}

static int check_modes(json_t *hc, dd_err *e)
{
    const char *nm = json_string_value(json_object_get(hc, "NetworkMode"));
    if (!nm || !*nm)
        jx_set_str(hc, "NetworkMode", "default");
    else if (dd_startswith(nm, "container:") && !nm[10])
        return dd_err_set(e, EINVAL, "invalid network mode: %s", nm);
    static const char *const ns_keys[] = {"PidMode", "IpcMode", "UTSMode", "UsernsMode"};
    for (size_t i = 0; i < DD_ARRAY_SIZE(ns_keys); i++) {
        const char *m = json_string_value(json_object_get(hc, ns_keys[i]));
        if (m && *m && !dd_streq(m, "host") && !dd_streq(m, "private") &&
            !dd_streq(m, "shareable") && !dd_startswith(m, "container:") &&
            !(dd_streq(ns_keys[i], "IpcMode") && dd_streq(m, "none")))
            return dd_err_set(e, EINVAL, "invalid %s: %s", ns_keys[i], m);
    }
    const char *ipc = json_string_value(json_object_get(hc, "IpcMode"));
    if (!ipc || !*ipc)
        jx_set_str(hc, "IpcMode", "private");
    const char *cg = json_string_value(json_object_get(hc, "CgroupnsMode"));
    if (!cg || !*cg)
        jx_set_str(hc, "CgroupnsMode", "private");
    else if (!dd_streq(cg, "host") && !dd_streq(cg, "private"))
        return dd_err_set(e, EINVAL, "invalid cgroup namespace mode: %s", cg);
    const char *userns = json_string_value(json_object_get(hc, "UsernsMode"));
    if (userns && *userns && !dd_streq(userns, "host"))
        return dd_err_set(e, EINVAL, "user namespaces (UsernsMode %s) are not supported", userns);
    return 0;
}

static int check_limits(json_t *hc, dd_err *e)
{
    int64_t mem = 0, swap = 0, shm = 0, nano = 0, quota = 0;
    jx_int(hc, "Memory", &mem, NULL);
    jx_int(hc, "MemorySwap", &swap, NULL);
    jx_int(hc, "ShmSize", &shm, NULL);
    jx_int(hc, "NanoCpus", &nano, NULL);
    jx_int(hc, "CpuQuota", &quota, NULL);
    if (mem < 0 || (mem > 0 && mem < 6 * 1024 * 1024))
        return dd_err_set(e, EINVAL, "Minimum memory limit allowed is 6MB");
    if (swap > 0 && mem > 0 && swap < mem)
        return dd_err_set(e, EINVAL,
                          "Minimum memoryswap limit should be larger than memory "
                          "limit, see usage");
    if (swap > 0 && mem == 0)
        return dd_err_set(e, EINVAL,
                          "You should always set the Memory limit when using "
                          "Memoryswap limit, see usage");
    if (shm < 0)
        return dd_err_set(e, EINVAL, "SHM size can not be less than 0");
    if (shm == 0)
        jx_set_int(hc, "ShmSize", 67108864);
    if (nano > 0 && quota > 0)
        return dd_err_set(e, EINVAL,
                          "Conflicting options: Nano CPUs and CPU Period cannot both "
                          "be set");
    if (nano < 0)
        return dd_err_set(e, EINVAL, "Range of CPUs is from 0.01 to the number of CPUs");
    return 0;
}

static int check_security_opts(json_t *hc, dd_err *e)
{
    _cleanup_strv_free_ char **opts = NULL;
    jx_strv(hc, "SecurityOpt", &opts, NULL);
    for (size_t i = 0; opts && opts[i]; i++) {
        const char *o = opts[i];
        if (dd_streq(o, "seccomp=unconfined") || dd_streq(o, "seccomp:unconfined") ||
            dd_startswith(o, "no-new-privileges") || dd_streq(o, "apparmor=unconfined") ||
            dd_streq(o, "apparmor:unconfined") || dd_streq(o, "label=disable") ||
            dd_streq(o, "label:disable"))
            continue;
        return dd_err_set(e, EINVAL,
                          "security option %s is not supported (supported: "
                          "seccomp=unconfined, no-new-privileges, "
                          "apparmor=unconfined, label=disable)",
                          o);
    }
    return 0;
}

static int check_host_config(json_t *hc, dd_err *e)
{
    int r;
    json_t *lc = json_object();
    jx_set_str(lc, "Type", "json-file");
    jx_set_new(lc, "Config", json_object());
    jx_set_new(hc, "LogConfig", lc);
    if (!json_object_get(hc, "RestartPolicy"))
        jx_set_new(hc, "RestartPolicy", json_object());
    if ((r = check_restart_policy(hc, e)) < 0 || (r = check_modes(hc, e)) < 0 ||
        (r = check_limits(hc, e)) < 0 || (r = check_security_opts(hc, e)) < 0)
        return r;
    return spec_check_host_config(hc, e);
}

int create_check_update(json_t *hc, dd_err *e)
{
    int r = check_restart_policy(hc, e);
    return r < 0 ? r : check_limits(hc, e);
}

/* ---- entry point ---- */

int create_parse(const char *body, size_t len, json_t **ret_config, json_t **ret_host_config,
                 json_t **ret_net_config, dd_err *e)
{
    json_t *root = NULL, *cfg = NULL, *hc = NULL;
    int r;
    if (len == 0)
        return dd_err_set(e, EINVAL, "config cannot be empty in order to create a container");
    if ((r = jx_parse(body, len, &root, e)) < 0)
        return r;
    if (!json_is_object(root)) {
        json_decref(root);
        return dd_err_set(e, EINVAL, "invalid JSON: the create body must be an object");
    }
    json_t *hsrc = jx_get(root, "HostConfig");
    if (hsrc && !json_is_object(hsrc)) {
        r = dd_err_set(e, EINVAL, "HostConfig: expected an object");
        goto out;
    }
    if ((r = copy_keys(root, config_keys, DD_ARRAY_SIZE(config_keys), "Config", &cfg, e)) < 0 ||
        (r = copy_keys(hsrc, host_keys, DD_ARRAY_SIZE(host_keys), "HostConfig", &hc, e)) < 0)
        goto out;
    const char *image = json_string_value(json_object_get(cfg, "Image"));
    if (!image || !*image) {
        r = dd_err_set(e, EINVAL, "no image specified in the create body (Image)");
        goto out;
    }
    const char *sig = json_string_value(json_object_get(cfg, "StopSignal"));
    int signo;
    if (sig && *sig && ctr_signal_parse(sig, &signo) < 0) {
        r = dd_err_set(e, EINVAL, "Invalid signal: %s", sig);
        goto out;
    }
    if ((r = health_check_config(cfg, e)) < 0 || (r = check_host_config(hc, e)) < 0)
        goto out;
    json_t *net = jx_get(root, "NetworkingConfig");
    json_t *eps = json_is_object(net) ? jx_get(net, "EndpointsConfig") : NULL;
    *ret_net_config = json_is_object(eps) ? json_incref(eps) : NULL;
    *ret_config = TAKE_PTR(cfg);
    *ret_host_config = TAKE_PTR(hc);
out:
    json_decref(cfg);
    json_decref(hc);
    json_decref(root);
    return r;
}
