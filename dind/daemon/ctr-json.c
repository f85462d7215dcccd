/* ctr-json: a container as the Engine API shows it: the full inspect object
 * (GET /containers/{id}/json), the list entry (GET /containers/json), and the human Status text
 * ("Up 2 minutes", "Exited (2) 3 seconds ago"). Pure functions of the record and a clock, so
 * they are unit-tested without a daemon.
 */
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

#include "container-internal.h"
#include "health.h"
#include "create.h"
#include "ctr-json.h"
#include "ctr-volumes.h"
#include "dind/json.h"

/* Go's units.HumanDuration, as docker ps prints it. */
void ctr_human_duration(int64_t ns, char *out, size_t len)
{
    int64_t s = ns / 1000000000;
    int64_t m = s / 60, h = m / 60;
    if (s < 1)
        snprintf(out, len, "Less than a second");
    else if (s == 1)
        snprintf(out, len, "1 second");
    else if (s < 60)
        snprintf(out, len, "%lld seconds", (long long)s);
    else if (m == 1)
        snprintf(out, len, "About a minute");
    else if (m < 60)
        snprintf(out, len, "%lld minutes", (long long)m);
    else if ((h = (int64_t)((double)s / 3600 + 0.5)) == 1)
        snprintf(out, len, "About an hour");
    else if (h < 48)
        snprintf(out, len, "%lld hours", (long long)h);
    else if (h < 24 * 7 * 2)
        snprintf(out, len, "%lld days", (long long)(h / 24));
    else if (h < 24 * 30 * 2)
        snprintf(out, len, "%lld weeks", (long long)(h / 24 / 7));
    else if (h < 24 * 365 * 2)
        snprintf(out, len, "%lld months", (long long)(h / 24 / 30));
    else
        snprintf(out, len, "%lld years", (long long)(h / 24 / 365));
}

char *ctr_status_text(const struct container *c, int64_t now_ns)
{
    char d[64];
    switch (c->st.status) {
    case CTR_RUNNING:
    case CTR_PAUSED:
        ctr_human_duration(now_ns - c->st.started_ns, d, sizeof(d));
        if (c->st.status == CTR_RUNNING && c->health)
            return dd_asprintf("Up %s (%s)", d, health_ps_text(c->health));
        return dd_asprintf("Up %s%s", d, c->st.status == CTR_PAUSED ? " (Paused)" : "");
    case CTR_RESTARTING:
        ctr_human_duration(now_ns - c->st.finished_ns, d, sizeof(d));
        return dd_asprintf("Restarting (%d) %s ago", c->st.exit_code, d);
    case CTR_REMOVING:
        return dd_strdup("Removal In Progress");
    case CTR_DEAD:
        return dd_strdup("Dead");
    case CTR_EXITED:
        if (!c->st.finished_ns)
            return dd_strdup("Created");
        ctr_human_duration(now_ns - c->st.finished_ns, d, sizeof(d));
        return dd_asprintf("Exited (%d) %s ago", c->st.exit_code, d);
    case CTR_CREATED:
    default:
        return dd_strdup("Created");
    }
}

static int64_t size_acc;

static int size_visit(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    if (flag == FTW_F)
        size_acc += st->st_size;
    return 0;
}

int64_t ctr_size_rw(const struct container *c)
{
    _cleanup_free_ char *upper = dd_path_join(c->dir, "upper");
    size_acc = 0;
    nftw(upper, size_visit, 16, FTW_PHYS | FTW_MOUNT);
    return size_acc;
}

static json_t *time_json(int64_t ns)
{
    char buf[64];
    if (!ns)
        return json_string("0001-01-01T00:00:00Z");
    dd_format_rfc3339nano(ns, buf, sizeof(buf));
    return json_string(buf);
}

static json_t *state_json(const struct container *c)
{
    json_t *o = json_object();
    jx_set_str(o, "Status", ctr_status_name(c->st.status));
    jx_set_bool(o, "Running", ctr_is_running(c));
    jx_set_bool(o, "Paused", c->st.status == CTR_PAUSED);
    jx_set_bool(o, "Restarting", c->st.status == CTR_RESTARTING);
    jx_set_bool(o, "OOMKilled", c->st.oom_killed);
    jx_set_bool(o, "Dead", c->st.status == CTR_DEAD);
    jx_set_int(o, "Pid", c->st.pid);
    jx_set_int(o, "ExitCode", c->st.exit_code);
    jx_set_str(o, "Error", c->st.error);
    jx_set_new(o, "StartedAt", time_json(c->st.started_ns));
    jx_set_new(o, "FinishedAt", time_json(c->st.finished_ns));
    if (c->health)
        jx_set_new(o, "Health", json_deep_copy(c->health));
    return o;
}

json_t *ctr_mounts_json(const struct container *c)
{
    json_t *a = json_array();
    struct spec_mount *m = NULL;
    size_t n = 0;
    if (spec_mounts(c->host_config, c->dir, &m, &n, NULL) < 0)
        return a;
    for (size_t i = 0; i < n; i++) {
        if (!m[i].in_inspect)
            continue;
        json_t *o = json_object();
        jx_set_str(o, "Type", m[i].type);
        jx_set_str(o, "Source", m[i].source);
        jx_set_str(o, "Destination", m[i].dest);
        jx_set_str(o, "Mode", m[i].mode);
        jx_set_bool(o, "RW", m[i].rw);
        jx_set_str(o, "Propagation", m[i].propagation);
        json_array_append_new(a, o);
    }
    spec_mounts_free(m, n);
    ctr_volumes_json(c, a);
    return a;
}

static const char *net_name(const struct container *c)
{
    const char *m = c->network_mode;
    if (dd_streq(m, "default"))
        return "bridge";
    return m;
}

static json_t *endpoint_json(void)
{
    json_t *o = json_object();
    jx_set_new(o, "IPAMConfig", json_null());
    jx_set_new(o, "Links", json_null());
    jx_set_new(o, "Aliases", json_null());
    jx_set_str(o, "NetworkID", "");
    jx_set_str(o, "EndpointID", "");
    jx_set_str(o, "Gateway", "");
    jx_set_str(o, "IPAddress", "");
    jx_set_int(o, "IPPrefixLen", 0);
    jx_set_str(o, "IPv6Gateway", "");
    jx_set_str(o, "GlobalIPv6Address", "");
    jx_set_int(o, "GlobalIPv6PrefixLen", 0);
    jx_set_str(o, "MacAddress", "");
    jx_set_new(o, "DriverOpts", json_null());
    return o;
}

static json_t *networks_json(const struct container *c)
{
    json_t *o = json_object();
    if (!dd_startswith(c->network_mode, "container:"))
        jx_set_new(o, net_name(c), endpoint_json());
    return o;
}

/* Exposed ports with no host binding (no port publishing until the networking issue). */
static json_t *ports_map_json(const struct container *c)
{
    json_t *o = json_object(), *v;
    const char *k;
    json_t *exp = json_object_get(c->config, "ExposedPorts");
    json_object_foreach(exp, k, v) jx_set_new(o, k, json_null());
    return o;
}

static json_t *network_settings_json(const struct container *c)
{
    json_t *o = json_object();
    jx_set_str(o, "Bridge", "");
    jx_set_str(o, "SandboxID", "");
    jx_set_bool(o, "HairpinMode", false);
    jx_set_str(o, "LinkLocalIPv6Address", "");
    jx_set_int(o, "LinkLocalIPv6PrefixLen", 0);
    jx_set_new(o, "Ports", ports_map_json(c));
    jx_set_str(o, "SandboxKey", "");
    jx_set_new(o, "SecondaryIPAddresses", json_null());
    jx_set_new(o, "SecondaryIPv6Addresses", json_null());
    jx_set_str(o, "EndpointID", "");
    jx_set_str(o, "Gateway", "");
    jx_set_str(o, "GlobalIPv6Address", "");
    jx_set_int(o, "GlobalIPv6PrefixLen", 0);
    jx_set_str(o, "IPAddress", "");
    jx_set_int(o, "IPPrefixLen", 0);
    jx_set_str(o, "IPv6Gateway", "");
    jx_set_str(o, "MacAddress", "");
    jx_set_new(o, "Networks", networks_json(c));
    return o;
}

static json_t *host_config_json(const struct container *c)
{
    json_t *hc = json_deep_copy(c->host_config);
    bool priv = false;
    jx_bool(hc, "Privileged", &priv, NULL);
    if (!json_object_get(hc, "MaskedPaths"))
        jx_set_new(hc, "MaskedPaths",
                   priv ? json_null()
                        : json_pack("[ssssssssss]", "/proc/asound", "/proc/acpi", "/proc/kcore",
                                    "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                                    "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                                    "/sys/firmware"));
    if (!json_object_get(hc, "ReadonlyPaths"))
        jx_set_new(hc, "ReadonlyPaths",
                   priv ? json_null()
                        : json_pack("[sssss]", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                    "/proc/sysrq-trigger"));
    return hc;
}

json_t *ctr_inspect_json(const struct container *c, bool size)
{
    json_t *o = json_object();
    jx_set_str(o, "Id", c->id);
    jx_set_new(o, "Created", time_json(c->created_ns));
    jx_set_str(o, "Path", c->path);
    jx_set_new(o, "Args", jx_strv_new(c->args));
    jx_set_new(o, "State", state_json(c));
    jx_set_str(o, "Image", c->image_id);
    jx_set_new(o, "ResolvConfPath", json_sprintf("%s/resolv.conf", c->dir));
    jx_set_new(o, "HostnamePath", json_sprintf("%s/hostname", c->dir));
    jx_set_new(o, "HostsPath", json_sprintf("%s/hosts", c->dir));
    jx_set_str(o, "LogPath", c->log_path);
    jx_set_str(o, "Name", c->name);
    jx_set_int(o, "RestartCount", c->st.restart_count);
    jx_set_str(o, "Driver", "overlay2");
    jx_set_str(o, "Platform", "linux");
    jx_set_str(o, "MountLabel", "");
    jx_set_str(o, "ProcessLabel", "");
    jx_set_str(o, "AppArmorProfile", "");
    jx_set_new(o, "ExecIDs", c->exec_ids[0] ? jx_strv_new(c->exec_ids) : json_null());
    jx_set_new(o, "HostConfig", host_config_json(c));
    json_t *gd = json_object(), *data = json_object();
    jx_set_str(data, "MergedDir", c->rootfs);
    jx_set_new(data, "UpperDir", json_sprintf("%s/upper", c->dir));
    jx_set_new(data, "WorkDir", json_sprintf("%s/work", c->dir));
    jx_set_new(gd, "Data", data);
    jx_set_str(gd, "Name", "overlay2");
    jx_set_new(o, "GraphDriver", gd);
    if (size) {
        jx_set_int(o, "SizeRw", ctr_size_rw(c));
        jx_set_int(o, "SizeRootFs", 0);
    }
    jx_set_new(o, "Mounts", ctr_mounts_json(c));
    jx_set_new(o, "Config", json_deep_copy(c->config));
    jx_set_new(o, "NetworkSettings", network_settings_json(c));
    return o;
}

static char *command_text(const struct container *c)
{
    dd_buf b = DD_BUF_INIT;
    dd_buf_adds(&b, c->path);
    for (size_t i = 0; c->args[i]; i++) {
        const char *a = c->args[i];
        bool quote = !*a || strpbrk(a, " \t'\"$;&|<>()*?");
        dd_buf_addc(&b, ' ');
        if (quote)
            dd_buf_addf(&b, "'%s'", a);
        else
            dd_buf_adds(&b, a);
    }
    return dd_buf_detach(&b, NULL);
}

json_t *ctr_summary_json(const struct container *c, bool size, int64_t now_ns)
{
    json_t *o = json_object();
    jx_set_str(o, "Id", c->id);
    jx_set_new(o, "Names", json_pack("[s]", c->name));
    jx_set_str(o, "Image", c->image);
    jx_set_str(o, "ImageID", c->image_id);
    char *cmd = command_text(c);
    jx_set_str(o, "Command", cmd);
    free(cmd);
    jx_set_int(o, "Created", c->created_ns / 1000000000);
    json_t *ports = json_array(), *v;
    const char *k;
    json_object_foreach(json_object_get(c->config, "ExposedPorts"), k, v)
    {
        unsigned port = 0;
        char proto[16] = "tcp";
        sscanf(k, "%u/%15s", &port, proto);
        json_array_append_new(ports, json_pack("{s:i,s:s}", "PrivatePort", port, "Type", proto));
    }
    jx_set_new(o, "Ports", ports);
    jx_set_new(o, "Labels", json_deep_copy(json_object_get(c->config, "Labels")));
    if (!json_is_object(json_object_get(o, "Labels")))
        jx_set_new(o, "Labels", json_object());
    if (size) {
        jx_set_int(o, "SizeRw", ctr_size_rw(c));
        jx_set_int(o, "SizeRootFs", 0);
    }
    jx_set_str(o, "State", ctr_status_name(c->st.status));
    char *st = ctr_status_text(c, now_ns);
    jx_set_str(o, "Status", st);
    free(st);
    jx_set_new(o, "HostConfig", json_pack("{s:s}", "NetworkMode", c->network_mode));
    json_t *ns = json_object();
    jx_set_new(ns, "Networks", networks_json(c));
    jx_set_new(o, "NetworkSettings", ns);
    jx_set_new(o, "Mounts", ctr_mounts_json(c));
    return o;
}
