/* spec: the one place that translates a container's canonical Config/HostConfig into the
 * runtime's neutral struct rt_spec (process, rootfs layers, namespaces, mounts, capabilities,
 * seccomp, cgroup limits, rlimits, sysctls, devices), and writes the container's /etc/hosts,
 * /etc/hostname and /etc/resolv.conf.
 *
 * Every translation step takes the HostConfig and an optional spec: with spec == NULL it only
 * validates, which is how create rejects bad input before anything exists (spec_check_host_config)
 * with the same code that later builds the spec, so the two can never disagree.
 */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "container-internal.h"
#include "create.h"
#include "volume.h"
#include "dind/json.h"
#include "dind/lib/rt/security.h"
#include "dind/rt.h"

/* ---- mounts ---- */

void spec_mounts_free(struct spec_mount *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].type);
        free(m[i].source);
        free(m[i].dest);
        free(m[i].mode);
        free(m[i].propagation);
        dd_strv_free(m[i].opts);
    }
    free(m);
}

static struct spec_mount *mount_push(struct spec_mount **v, size_t *n)
{
    *v = dd_realloc(*v, (*n + 1) * sizeof(**v));
    struct spec_mount *m = &(*v)[(*n)++];
    memset(m, 0, sizeof(*m));
    return m;
}

/* Drops the last entry (a volume mount: not this file's). */
static void mount_pop(struct spec_mount *v, size_t *n)
{
    struct spec_mount *m = &v[--*n];
    free(m->type);
    free(m->source);
    free(m->dest);
    free(m->mode);
    free(m->propagation);
    dd_strv_free(m->opts);
}

static bool is_propagation(const char *o)
{
    static const char *const p[] = {"shared", "rshared", "slave", "rslave", "private", "rprivate"};
    for (size_t i = 0; i < DD_ARRAY_SIZE(p); i++)
        if (dd_streq(o, p[i]))
            return true;
    return false;
}

static int parse_bind(const char *bind, struct spec_mount *m, dd_err *e)
{
    _cleanup_strv_free_ char **parts = NULL;
    _cleanup_free_ char *copy = dd_strdup(bind);
    char *save = NULL;
    for (char *t = strtok_r(copy, ":", &save); t; t = strtok_r(NULL, ":", &save))
        parts = dd_strv_push(parts, t);
    size_t n = dd_strv_len(parts);
    if (n < 2 || n > 3 || parts[1][0] != '/')
        return dd_err_set(e, EINVAL, "invalid volume specification: '%s'", bind);
    if (parts[0][0] != '/') /* a named volume: ctr-volumes.c mounts it */
        return vol_name_validate(parts[0], e) < 0 ? dd_err_wrap(e, "create %s", parts[0]) : 1;
    m->type = dd_strdup("bind");
    m->source = dd_strdup(parts[0]);
    m->dest = dd_strdup(parts[1]);
    m->rw = true;
    m->mode = dd_strdup(n == 3 ? parts[2] : "");
    m->propagation = dd_strdup("rprivate");
    m->in_inspect = true;
    _cleanup_free_ char *modes = dd_strdup(n == 3 ? parts[2] : "");
    for (char *o = strtok_r(modes, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
        if (dd_streq(o, "ro"))
            m->rw = false;
        else if (is_propagation(o)) {
            free(m->propagation);
            m->propagation = dd_strdup(o);
        } else if (!dd_streq(o, "rw") && !dd_streq(o, "z") && !dd_streq(o, "Z") &&
                   !dd_streq(o, "nocopy") && !dd_streq(o, "consistent") && !dd_streq(o, "cached") &&
                   !dd_streq(o, "delegated"))
            return dd_err_set(e, EINVAL, "invalid mode: %s", o);
    }
    m->opts = dd_strv_push(NULL, "rbind");
    m->opts = dd_strv_push(m->opts, m->rw ? "rw" : "ro");
    m->opts = dd_strv_push(m->opts, m->propagation);
    return 0;
}

/* Docker's --tmpfs defaults (noexec,nosuid,nodev) with the user's options applied on top. */
static char **tmpfs_options(const char *user)
{
    bool exec = false, suid = false, dev = false;
    char **extra = NULL, *save = NULL;
    _cleanup_free_ char *copy = dd_strdup(user ? user : "");
    for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
        if (dd_streq(o, "exec"))
            exec = true;
        else if (dd_streq(o, "suid"))
            suid = true;
        else if (dd_streq(o, "dev"))
            dev = true;
        else if (!dd_streq(o, "noexec") && !dd_streq(o, "nosuid") && !dd_streq(o, "nodev"))
            extra = dd_strv_push(extra, o);
    }
    char **v = NULL;
    if (!exec)
        v = dd_strv_push(v, "noexec");
    if (!suid)
        v = dd_strv_push(v, "nosuid");
    if (!dev)
        v = dd_strv_push(v, "nodev");
    for (size_t i = 0; extra && extra[i]; i++)
        v = dd_strv_push(v, extra[i]);
    dd_strv_free(extra);
    return v;
}

static int parse_mount_obj(const json_t *o, size_t idx, const char *dir, struct spec_mount *m,
                           dd_err *e)
{
    const char *type = NULL, *src = NULL, *dst = NULL, *prop = NULL;
    bool ro = false;
    json_t *bo = NULL, *to = NULL;
    if (jx_str(o, "Type", &type, e) < 0 || jx_str(o, "Source", &src, e) < 0 ||
        jx_str(o, "Target", &dst, e) < 0 || jx_bool(o, "ReadOnly", &ro, e) < 0 ||
        jx_obj(o, "BindOptions", &bo, e) < 0 || jx_obj(o, "TmpfsOptions", &to, e) < 0)
        return dd_err_wrap(e, "HostConfig.Mounts[%zu]", idx);
    if (!dst || dst[0] != '/')
        return dd_err_set(e, EINVAL, "invalid mount config: Target must be an absolute path");
    m->dest = dd_strdup(dst);
    m->rw = !ro;
    m->mode = dd_strdup("");
    m->in_inspect = true;
    if (dd_streq(type, "bind")) {
        if (!src || src[0] != '/')
            return dd_err_set(e, EINVAL,
                              "invalid mount config for type \"bind\": invalid "
                              "mount path: '%s' mount path must be absolute",
                              src ? src : "");
        struct stat st;
        if (stat(src, &st) < 0)
            return dd_err_set(e, EINVAL,
                              "invalid mount config for type \"bind\": bind source "
                              "path does not exist: %s",
                              src);
        jx_str(bo, "Propagation", &prop, NULL);
        m->type = dd_strdup("bind");
        m->source = dd_strdup(src);
        m->propagation = dd_strdup(prop && *prop ? prop : "rprivate");
        m->opts = dd_strv_push(NULL, "rbind");
        m->opts = dd_strv_push(m->opts, ro ? "ro" : "rw");
        m->opts = dd_strv_push(m->opts, m->propagation);
        return 0;
    }
    if (dd_streq(type, "tmpfs")) {
        int64_t size = 0, mode = 0;
        jx_int(to, "SizeBytes", &size, NULL);
        jx_int(to, "Mode", &mode, NULL);
        m->type = dd_strdup("tmpfs");
        m->source = dd_strdup("");
        m->propagation = dd_strdup("");
        m->opts = tmpfs_options(ro ? "ro" : "rw");
        if (size > 0)
            m->opts = dd_strv_consume(m->opts, dd_asprintf("size=%lld", (long long)size));
        if (mode > 0)
            m->opts = dd_strv_consume(m->opts, dd_asprintf("mode=%llo", (long long)mode));
        return 0;
    }
    if (dd_streq(type, "volume")) { /* named or anonymous: ctr-volumes.c mounts it */
        if (src && *src && vol_name_validate(src, e) < 0)
            return dd_err_wrap(e, "create %s", src);
        return 1;
    }
    return dd_err_set(e, EINVAL, "invalid mount config: mount type \"%s\" is not supported",
                      type ? type : "");
}

int spec_mounts(const json_t *hc, const char *dir, struct spec_mount **ret, size_t *ret_n,
                dd_err *e)
{
    struct spec_mount *v = NULL;
    size_t n = 0;
    int r = 0;
    json_t *binds = json_object_get(hc, "Binds"), *mounts = json_object_get(hc, "Mounts");
    json_t *tmpfs = json_object_get(hc, "Tmpfs"), *val;
    const char *key;
    for (size_t i = 0; r >= 0 && i < json_array_size(binds); i++) {
        const char *b = json_string_value(json_array_get(binds, i));
        r = b ? parse_bind(b, mount_push(&v, &n), e)
              : dd_err_set(e, EINVAL, "HostConfig.Binds[%zu]: expected a string", i);
        if (r == 1)
            mount_pop(v, &n);
    }
    for (size_t i = 0; r >= 0 && i < json_array_size(mounts); i++) {
        json_t *o = json_array_get(mounts, i);
        r = json_is_object(o)
                ? parse_mount_obj(o, i, dir, mount_push(&v, &n), e)
                : dd_err_set(e, EINVAL, "HostConfig.Mounts[%zu]: expected an object", i);
        if (r == 1)
            mount_pop(v, &n);
    }
    r = r < 0 ? r : 0;
    if (r == 0 && json_is_object(tmpfs)) {
        json_object_foreach(tmpfs, key, val)
        {
            if (key[0] != '/' || !json_is_string(val)) {
                r = dd_err_set(e, EINVAL, "invalid tmpfs mount %s", key);
                break;
            }
            struct spec_mount *m = mount_push(&v, &n);
            m->type = dd_strdup("tmpfs");
            m->source = dd_strdup("tmpfs");
            m->dest = dd_strdup(key);
            m->mode = dd_strdup("");
            m->propagation = dd_strdup("");
            m->rw = !strstr(json_string_value(val), "ro");
            m->opts = tmpfs_options(json_string_value(val));
        }
    }
    for (size_t i = 0; r == 0 && i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (dd_streq(v[i].dest, v[j].dest))
                r = dd_err_set(e, EINVAL, "Duplicate mount point: %s", v[i].dest);
    if (r < 0) {
        spec_mounts_free(v, n);
        return r;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

/* ---- capabilities, rlimits, sysctls, devices ---- */

int spec_caps(const json_t *hc, uint64_t *ret, dd_err *e)
{
    uint64_t caps = rt_caps_docker_default();
    _cleanup_strv_free_ char **add = NULL, **drop = NULL;
    jx_strv(hc, "CapAdd", &add, NULL);
    jx_strv(hc, "CapDrop", &drop, NULL);
    for (size_t i = 0; drop && drop[i]; i++) {
        int cap;
        if (strcasecmp(drop[i], "ALL") == 0) {
            caps = 0;
            continue;
        }
        if (rt_cap_from_name(drop[i], &cap) < 0)
            return dd_err_set(e, EINVAL, "unknown capability to drop: \"%s\"", drop[i]);
        caps &= ~RT_CAP_BIT(cap);
    }
    for (size_t i = 0; add && add[i]; i++) {
        int cap;
        if (strcasecmp(add[i], "ALL") == 0) {
            caps |= rt_caps_daemon_bounding();
            continue;
        }
        if (rt_cap_from_name(add[i], &cap) < 0)
            return dd_err_set(e, EINVAL, "unknown capability to add: \"%s\"", add[i]);
        caps |= RT_CAP_BIT(cap);
    }
    *ret = caps;
    return 0;
}

static int rlimit_by_name(const char *name)
{
    static const struct {
        const char *name;
        int res;
    } t[] = {
        {"as", RLIMIT_AS},
        {"core", RLIMIT_CORE},
        {"cpu", RLIMIT_CPU},
        {"data", RLIMIT_DATA},
        {"fsize", RLIMIT_FSIZE},
        {"locks", RLIMIT_LOCKS},
        {"memlock", RLIMIT_MEMLOCK},
        {"msgqueue", RLIMIT_MSGQUEUE},
        {"nice", RLIMIT_NICE},
        {"nofile", RLIMIT_NOFILE},
        {"nproc", RLIMIT_NPROC},
        {"rss", RLIMIT_RSS},
        {"rtprio", RLIMIT_RTPRIO},
        {"rttime", RLIMIT_RTTIME},
        {"sigpending", RLIMIT_SIGPENDING},
        {"stack", RLIMIT_STACK},
    };
    for (size_t i = 0; i < DD_ARRAY_SIZE(t); i++)
        if (dd_streq(name, t[i].name))
            return t[i].res;
    return -1;
}

static int ulimits(const json_t *hc, struct rt_spec *spec, dd_err *e)
{
    json_t *ul = json_object_get(hc, "Ulimits");
    for (size_t i = 0; i < json_array_size(ul); i++) {
        json_t *o = json_array_get(ul, i);
        const char *name = NULL;
        int64_t soft = 0, hard = 0;
        if (!json_is_object(o) || jx_str(o, "Name", &name, e) < 0 ||
            jx_int(o, "Soft", &soft, e) < 0 || jx_int(o, "Hard", &hard, e) < 0)
            return dd_err_set(e, EINVAL,
                              "HostConfig.Ulimits[%zu]: expected "
                              "{\"Name\",\"Soft\",\"Hard\"}",
                              i);
        int res = rlimit_by_name(name ? name : "");
        if (res < 0)
            return dd_err_set(e, EINVAL, "invalid ulimit type: %s", name ? name : "");
        if (soft > hard)
            return dd_err_set(e, EINVAL,
                              "ulimit soft limit must be less than or equal to hard "
                              "limit: %lld > %lld",
                              (long long)soft, (long long)hard);
        if (!spec)
            continue;
        spec->rlimits = dd_realloc(spec->rlimits, (spec->n_rlimits + 1) * sizeof(*spec->rlimits));
        spec->rlimits[spec->n_rlimits++] = (struct rt_rlimit){
            .resource = res,
            .soft = soft < 0 ? RLIM_INFINITY : (uint64_t)soft,
            .hard = hard < 0 ? RLIM_INFINITY : (uint64_t)hard,
        };
    }
    return 0;
}

static int sysctls(const json_t *hc, struct rt_spec *spec, dd_err *e)
{
    json_t *sc = json_object_get(hc, "Sysctls"), *v;
    const char *k;
    json_object_foreach(sc, k, v)
    {
        if (!json_is_string(v))
            return dd_err_set(e, EINVAL, "HostConfig.Sysctls.%s: expected a string", k);
        if (spec)
            spec->sysctls =
                dd_strv_consume(spec->sysctls, dd_asprintf("%s=%s", k, json_string_value(v)));
    }
    return 0;
}

static int devices(const json_t *hc, struct rt_spec *spec, dd_err *e)
{
    json_t *dv = json_object_get(hc, "Devices");
    for (size_t i = 0; i < json_array_size(dv); i++) {
        json_t *o = json_array_get(dv, i);
        const char *host = NULL, *ctr = NULL;
        struct stat st;
        if (!json_is_object(o) || jx_str(o, "PathOnHost", &host, e) < 0 ||
            jx_str(o, "PathInContainer", &ctr, e) < 0 || !host)
            return dd_err_set(e, EINVAL, "HostConfig.Devices[%zu]: PathOnHost is required", i);
        if (stat(host, &st) < 0 || !(S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)))
            return dd_err_set(e, EINVAL,
                              "error gathering device information while adding "
                              "custom device \"%s\": not a device node",
                              host);
        if (!spec)
            continue;
        spec->devices = dd_realloc(spec->devices, (spec->n_devices + 1) * sizeof(*spec->devices));
        spec->devices[spec->n_devices++] = (struct rt_device){
            .path = dd_strdup(ctr && *ctr ? ctr : host),
            .type = S_ISCHR(st.st_mode) ? 'c' : 'b',
            .major = major(st.st_rdev),
            .minor = minor(st.st_rdev),
            .mode = st.st_mode & 07777,
        };
    }
    return 0;
}

static int extra_hosts_check(const json_t *hc, dd_err *e)
{
    json_t *eh = json_object_get(hc, "ExtraHosts");
    for (size_t i = 0; i < json_array_size(eh); i++) {
        const char *s = json_string_value(json_array_get(eh, i));
        const char *colon = s ? strchr(s, ':') : NULL;
        if (!colon || colon == s || !colon[1])
            return dd_err_set(e, EINVAL, "invalid IP address in add-host: \"%s\"", s ? s : "");
        if (dd_streq(colon + 1, "host-gateway"))
            return dd_err_set(e, EINVAL,
                              "add-host %s: host-gateway needs the bridge network, "
                              "which this daemon does not provide yet",
                              s);
    }
    return 0;
}

int spec_limits(const json_t *hc, struct rt_spec *spec, dd_err *e)
{
    int r;
    if ((r = ulimits(hc, spec, e)) < 0 || (r = sysctls(hc, spec, e)) < 0 ||
        (r = devices(hc, spec, e)) < 0)
        return r;
    return 0;
}

int spec_check_host_config(const json_t *hc, dd_err *e)
{
    struct spec_mount *m = NULL;
    size_t n = 0;
    uint64_t caps;
    int r = spec_mounts(hc, NULL, &m, &n, e);
    if (r < 0)
        return r;
    spec_mounts_free(m, n);
    if ((r = spec_caps(hc, &caps, e)) < 0 || (r = ulimits(hc, NULL, e)) < 0 ||
        (r = sysctls(hc, NULL, e)) < 0 || (r = devices(hc, NULL, e)) < 0 ||
        (r = extra_hosts_check(hc, e)) < 0)
        return r;
    return 0;
}
