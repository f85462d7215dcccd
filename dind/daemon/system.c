/* The system area: /_ping, /version and /info. Every value /info reports is read from this host
 * (CPUs, memory, kernel, OS release, cgroup version and controllers, the data root's filesystem);
 * counts of containers and images come from the areas that own them through their info hooks. */
#include <stdio.h>
#include <sys/statfs.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <dirent.h>
#include <linux/magic.h>

#include "dind/daemon/daemon.h"
#include "dind/json.h"

static void h_ping(http_req *req)
{
    http_add_header(req, "Cache-Control", "no-cache, no-store, must-revalidate");
    http_add_header(req, "Pragma", "no-cache");
    bool head = strcmp(http_req_method(req), "HEAD") == 0;
    http_reply(req, 200, "text/plain; charset=utf-8", head ? "" : "OK", head ? 0 : 2);
}

static const char *go_arch(const char *machine)
{
    static const char *const map[][2] = {
        {"x86_64", "amd64"}, {"aarch64", "arm64"}, {"armv7l", "arm"},
        {"i686", "386"},     {"s390x", "s390x"},   {"ppc64le", "ppc64le"},
    };
    for (size_t i = 0; i < DD_ARRAY_SIZE(map); i++)
        if (strcmp(machine, map[i][0]) == 0)
            return map[i][1];
    return machine;
}

json_t *dindd_version_json(void)
{
    struct utsname u;
    uname(&u);
    json_t *details = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "ApiVersion", DINDD_API_VERSION, "Arch",
        go_arch(u.machine), "BuildTime", "", "Experimental", "false", "GitCommit", "", "GoVersion",
        "", "KernelVersion", u.release, "MinAPIVersion", DINDD_API_MIN_VERSION, "Os", "linux");
    json_t *engine = json_pack("{s:s, s:s, s:o}", "Name", "Engine", "Version", DINDD_VERSION,
                               "Details", details);
    return json_pack("{s:{s:s}, s:[o], s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "Platform",
                     "Name", "k3d-dind", "Components", engine, "Version", DINDD_VERSION,
                     "ApiVersion", DINDD_API_VERSION, "MinAPIVersion", DINDD_API_MIN_VERSION,
                     "GitCommit", "", "GoVersion", "", "Os", "linux", "Arch", go_arch(u.machine),
                     "KernelVersion", u.release, "BuildTime", "");
}

static void h_version(http_req *req)
{
    json_t *v = dindd_version_json();
    http_reply_json(req, 200, v);
    json_decref(v);
}

/* ---- /info facts ---- */

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static bool file_is_1(const char *path)
{
    _cleanup_free_ char *s = NULL;
    return dd_read_file(path, 64, &s, NULL, NULL) == 0 && s[0] == '1';
}

/* Returns the value of KEY= in /etc/os-release, unquoted, or NULL. */
static char *os_release(const char *key)
{
    _cleanup_free_ char *data = NULL;
    if (dd_read_file("/etc/os-release", 65536, &data, NULL, NULL) < 0 &&
        dd_read_file("/usr/lib/os-release", 65536, &data, NULL, NULL) < 0)
        return NULL;
    size_t kl = strlen(key);
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, key, kl) != 0 || line[kl] != '=')
            continue;
        char *v = line + kl + 1;
        size_t n = strlen(v);
        if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0])
            return dd_strndup(v + 1, n - 2);
        return dd_strdup(v);
    }
    return NULL;
}

static const char *backing_fs(const char *path)
{
    struct statfs sf;
    if (statfs(path, &sf) < 0)
        return "<unknown>";
    switch ((unsigned long)sf.f_type) {
    case EXT4_SUPER_MAGIC:
        return "extfs";
    case XFS_SUPER_MAGIC:
        return "xfs";
    case BTRFS_SUPER_MAGIC:
        return "btrfs";
    case TMPFS_MAGIC:
        return "tmpfs";
    case OVERLAYFS_SUPER_MAGIC:
        return "overlayfs";
    case 0x2fc12fc1: /* zfs */
        return "zfs";
    default:
        return "<unknown>";
    }
}

/* overlayfs needs d_type; report what readdir on the data root actually returns. */
static const char *supports_d_type(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return "false";
    bool known = false;
    struct dirent *de;
    while ((de = readdir(d)) && !known)
        known = de->d_type != DT_UNKNOWN;
    closedir(d);
    return known ? "true" : "false";
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n > 3 ? n - 3 : 0; /* ".", ".." and the DIR's own fd */
}

static bool cgroup_v2(void)
{
    return exists("/sys/fs/cgroup/cgroup.controllers");
}

static bool v2_has(const char *controller)
{
    _cleanup_free_ char *s = NULL;
    if (dd_read_file("/sys/fs/cgroup/cgroup.controllers", 4096, &s, NULL, NULL) < 0)
        return false;
    for (char *t = strtok(s, " \n"); t; t = strtok(NULL, " \n"))
        if (strcmp(t, controller) == 0)
            return true;
    return false;
}

static void add_cgroup_facts(json_t *o)
{
    bool v2 = cgroup_v2();
    jx_set_str(o, "CgroupDriver", "cgroupfs");
    jx_set_str(o, "CgroupVersion", v2 ? "2" : "1");
    jx_set_bool(o, "MemoryLimit", v2 ? v2_has("memory") : exists("/sys/fs/cgroup/memory"));
    jx_set_bool(o, "SwapLimit",
                v2 ? v2_has("memory")
                   : exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"));
    jx_set_bool(o, "KernelMemory", false);
    jx_set_bool(o, "KernelMemoryTCP", false);
    bool cfs = v2 ? v2_has("cpu") : exists("/sys/fs/cgroup/cpu/cpu.cfs_quota_us");
    jx_set_bool(o, "CpuCfsPeriod", cfs);
    jx_set_bool(o, "CpuCfsQuota", cfs);
    jx_set_bool(o, "CPUShares", v2 ? v2_has("cpu") : exists("/sys/fs/cgroup/cpu/cpu.shares"));
    jx_set_bool(o, "CPUSet", v2 ? v2_has("cpuset") : exists("/sys/fs/cgroup/cpuset"));
    jx_set_bool(o, "PidsLimit", v2 ? v2_has("pids") : exists("/sys/fs/cgroup/pids"));
    jx_set_bool(o, "OomKillDisable", !v2);
}

static void add_host_facts(json_t *o, dindd_ctx *d)
{
    struct utsname u;
    uname(&u);
    struct sysinfo si;
    sysinfo(&si);
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    _cleanup_free_ char *pretty = os_release("PRETTY_NAME");
    _cleanup_free_ char *osver = os_release("VERSION_ID");
    jx_set_str(o, "KernelVersion", u.release);
    jx_set_str(o, "OperatingSystem", pretty ? pretty : "Linux");
    jx_set_str(o, "OSVersion", osver ? osver : "");
    jx_set_str(o, "OSType", "linux");
    jx_set_str(o, "Architecture", u.machine);
    jx_set_int(o, "NCPU", sysconf(_SC_NPROCESSORS_ONLN));
    jx_set_int(o, "MemTotal", (int64_t)si.totalram * si.mem_unit);
    jx_set_str(o, "Name", host);
    jx_set_bool(o, "IPv4Forwarding", file_is_1("/proc/sys/net/ipv4/ip_forward"));
    jx_set_bool(o, "BridgeNfIptables", file_is_1("/proc/sys/net/bridge/bridge-nf-call-iptables"));
    jx_set_bool(o, "BridgeNfIp6tables", file_is_1("/proc/sys/net/bridge/bridge-nf-call-ip6tables"));
    jx_set_str(o, "HttpProxy", getenv("HTTP_PROXY") ? getenv("HTTP_PROXY") : "");
    jx_set_str(o, "HttpsProxy", getenv("HTTPS_PROXY") ? getenv("HTTPS_PROXY") : "");
    jx_set_str(o, "NoProxy", getenv("NO_PROXY") ? getenv("NO_PROXY") : "");
    jx_set_int(o, "NFd", count_fds());
}

/* As dockerd reports --insecure-registry (CIDRs, or hosts as insecure index configs) and
 * --registry-mirror. */
static json_t *registry_config(const dindd_config *cfg)
{
    json_t *mirrors = jx_strv_new(cfg->registry_mirrors);
    if (json_is_null(mirrors)) {
        json_decref(mirrors);
        mirrors = json_array();
    }
    json_t *cidrs = json_pack("[s]", "127.0.0.0/8");
    json_t *index = json_pack("{s:{s:s, s:O, s:b, s:b}}", "docker.io", "Name", "docker.io",
                              "Mirrors", mirrors, "Secure", 1, "Official", 1);
    for (size_t i = 0; cfg->insecure_registries && cfg->insecure_registries[i]; i++) {
        const char *v = cfg->insecure_registries[i];
        if (strchr(v, '/'))
            json_array_append_new(cidrs, json_string(v));
        else
            json_object_set_new(index, v,
                                json_pack("{s:s, s:[], s:b, s:b}", "Name", v, "Mirrors", "Secure",
                                          0, "Official", 0));
    }
    return json_pack("{s:[], s:[], s:o, s:o, s:o}", "AllowNondistributableArtifactsCIDRs",
                     "AllowNondistributableArtifactsHostnames", "InsecureRegistryCIDRs", cidrs,
                     "IndexConfigs", index, "Mirrors", mirrors);
}

static json_t *commit(void)
{
    return json_pack("{s:s, s:s}", "ID", "", "Expected", "");
}

static void add_engine_facts(json_t *o, dindd_ctx *d)
{
    char now[48];
    dd_format_rfc3339nano(dd_now_ns(), now, sizeof(now));
    jx_set_str(o, "Driver", "overlay2");
    jx_set_new(o, "DriverStatus",
               json_pack("[[s,s],[s,s],[s,s]]", "Backing Filesystem", backing_fs(d->cfg.data_root),
                         "Supports d_type", supports_d_type(d->cfg.data_root), "userxattr",
                         "false"));
    jx_set_new(o, "Plugins",
               json_pack("{s:[s], s:[s,s,s], s:n, s:[s]}", "Volume", "local", "Network", "bridge",
                         "host", "null", "Authorization", "Log", "json-file"));
    jx_set_bool(o, "Debug", d->cfg.debug);
    jx_set_int(o, "NGoroutines", 1);
    jx_set_str(o, "SystemTime", now);
    jx_set_str(o, "LoggingDriver", "json-file");
    jx_set_int(o, "NEventsListener", 0);
    jx_set_str(o, "IndexServerAddress", "https://index.docker.io/v1/");
    jx_set_new(o, "RegistryConfig", registry_config(&d->cfg));
    jx_set_new(o, "GenericResources", json_null());
    jx_set_str(o, "DockerRootDir", d->cfg.data_root);
    jx_set_new(o, "Labels", json_array());
    jx_set_bool(o, "ExperimentalBuild", false);
    jx_set_str(o, "ServerVersion", DINDD_VERSION);
    jx_set_new(o, "Runtimes", json_pack("{s:{s:s}}", "dindd", "path", "dindd"));
    jx_set_str(o, "DefaultRuntime", "dindd");
    jx_set_new(o, "Swarm",
               json_pack("{s:s, s:s, s:s, s:b, s:s, s:n}", "NodeID", "", "NodeAddr", "",
                         "LocalNodeState", "inactive", "ControlAvailable", 0, "Error", "",
                         "RemoteManagers"));
    jx_set_bool(o, "LiveRestoreEnabled", false);
    jx_set_str(o, "Isolation", "");
    jx_set_str(o, "InitBinary", "");
    jx_set_new(o, "ContainerdCommit", commit());
    jx_set_new(o, "RuncCommit", commit());
    jx_set_new(o, "InitCommit", commit());
    jx_set_new(o, "SecurityOptions", json_array());
    jx_set_new(o, "Warnings", json_null());
}

json_t *dindd_info_host_json(dindd_ctx *d)
{
    json_t *o = json_object();
    jx_set_str(o, "ID", d->engine_id ? d->engine_id : "");
    static const char *const counts[] = {"Containers", "ContainersRunning", "ContainersPaused",
                                         "ContainersStopped", "Images"};
    for (size_t i = 0; i < DD_ARRAY_SIZE(counts); i++)
        jx_set_int(o, counts[i], 0);
    add_cgroup_facts(o);
    add_host_facts(o, d);
    add_engine_facts(o, d);
    return o;
}

json_t *dindd_info_json(dindd_ctx *d)
{
    json_t *o = dindd_info_host_json(d);
    for (size_t i = 0; dindd_areas[i]; i++)
        if (dindd_areas[i]->info)
            dindd_areas[i]->info(d, o);
    return o;
}

static void h_info(http_req *req)
{
    json_t *o = dindd_info_json(dindd_from_req(req));
    http_reply_json(req, 200, o);
    json_decref(o);
}

/* The engine ID dockerd keeps in <data-root>/engine-id: created once, then reused. */
static int system_init(dindd_ctx *d, dd_err *e)
{
    _cleanup_free_ char *path = dd_path_join(d->cfg.data_root, "engine-id");
    char *id = NULL;
    if (dd_read_file(path, 4096, &id, NULL, NULL) == 0 && id[0]) {
        id[strcspn(id, "\n")] = '\0';
        d->engine_id = id;
        return 0;
    }
    free(id);
    char hex[65];
    if (dd_random_hex(hex, 32) < 0)
        return dd_err_set(e, EIO, "generating the engine ID");
    if (dd_write_file_atomic(path, hex, strlen(hex), 0600, e) < 0)
        return dd_err_wrap(e, "writing the engine ID");
    d->engine_id = dd_strdup(hex);
    return 0;
}

static void system_fini(dindd_ctx *d)
{
    free(d->engine_id);
    d->engine_id = NULL;
}

static const http_route system_routes[] = {
    {"GET", "/_ping", h_ping},
    {"HEAD", "/_ping", h_ping},
    {"GET", "/version", h_version},
    {"GET", "/info", h_info},
};

const dindd_area dindd_area_system = {
    .name = "system",
    .routes = system_routes,
    .nroutes = DD_ARRAY_SIZE(system_routes),
    .init = system_init,
    .fini = system_fini,
};
