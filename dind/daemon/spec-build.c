/* spec-build: assembles the rt_spec of a container (the process, the overlay rootfs from the
 * image layers plus the container's own upper dir, namespaces from NetworkMode/PidMode/IpcMode/
 * UTSMode/CgroupnsMode, cgroup resources, security) and writes its /etc files.
 *
 * Networking is limited to what this issue delivers: "default"/"bridge"/"none" and user-named
 * networks get a private network namespace with loopback only, "host" the daemon's, and
 * "container:<x>" joins another running container's. The validation counterparts live in spec.c.
 */
#include <stdio.h>
#include <sys/stat.h>

#include "container-internal.h"
#include "create.h"
#include "ctr-volumes.h"
#include "dind/image.h"
#include "dind/json.h"
#include "dind/lib/rt/security.h"
#include "dind/rt.h"

static const char *hc_str(const struct container *c, const char *key)
{
    const char *s = json_string_value(json_object_get(c->host_config, key));
    return s ? s : "";
}

static int64_t hc_int(const struct container *c, const char *key)
{
    int64_t v = 0;
    jx_int(c->host_config, key, &v, NULL);
    return v;
}

static bool hc_bool(const struct container *c, const char *key)
{
    bool v = false;
    jx_bool(c->host_config, key, &v, NULL);
    return v;
}

/* ---- namespaces ---- */

static int join_path(struct ctr_store *s, const char *ref, const char *ns, char **ret, dd_err *e)
{
    struct container *o = NULL;
    int r = ctr_lookup(s, ref, &o, e);
    if (r < 0)
        return r;
    if (o->st.status != CTR_RUNNING || o->st.pid <= 0)
        return dd_err_set(e, EBUSY, "cannot join %s namespace of a non running container: %s", ns,
                          o->id);
    *ret = dd_asprintf("/proc/%d/ns/%s", (int)o->st.pid, ns);
    return 0;
}

static int ns_mode(struct ctr_store *s, const char *mode, const char *ns, struct rt_ns *ret,
                   dd_err *e)
{
    if (dd_streq(mode, "host")) {
        ret->mode = RT_NS_HOST;
        return 0;
    }
    if (dd_startswith(mode, "container:")) {
        ret->mode = RT_NS_JOIN;
        return join_path(s, mode + 10, ns, &ret->path, e);
    }
    ret->mode = RT_NS_NEW;
    return 0;
}

static int namespaces(struct ctr_store *s, struct container *c, struct rt_spec *spec, dd_err *e)
{
    const char *net = c->network_mode;
    int r;
    if (!dd_streq(net, "default") && !dd_streq(net, "bridge") && !dd_streq(net, "none") &&
        !dd_streq(net, "host") && !dd_startswith(net, "container:"))
        return dd_err_set(e, ENOENT, "network %s not found", net);
    if ((r = ns_mode(s, net, "net", &spec->namespaces[RT_NS_NET], e)) < 0 ||
        (r = ns_mode(s, hc_str(c, "PidMode"), "pid", &spec->namespaces[RT_NS_PID], e)) < 0 ||
        (r = ns_mode(s, hc_str(c, "IpcMode"), "ipc", &spec->namespaces[RT_NS_IPC], e)) < 0 ||
        (r = ns_mode(s, hc_str(c, "UTSMode"), "uts", &spec->namespaces[RT_NS_UTS], e)) < 0)
        return r;
    spec->namespaces[RT_NS_CGROUP].mode =
        dd_streq(hc_str(c, "CgroupnsMode"), "host") ? RT_NS_HOST : RT_NS_NEW;
    spec->namespaces[RT_NS_MOUNT].mode = RT_NS_NEW;
    return 0;
}

/* ---- /etc files ---- */

static int write_hosts(struct container *c, dd_err *e)
{
    dd_buf b = DD_BUF_INIT;
    if (dd_streq(c->network_mode, "host")) {
        _cleanup_free_ char *host = NULL;
        if (dd_read_file("/etc/hosts", 1 << 20, &host, NULL, NULL) == 0)
            dd_buf_adds(&b, host);
    } else {
        dd_buf_adds(&b, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                        "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
                        "ff02::2\tip6-allrouters\n");
        dd_buf_addf(&b, "127.0.1.1\t%s\n", c->hostname);
    }
    json_t *eh = json_object_get(c->host_config, "ExtraHosts");
    for (size_t i = 0; i < json_array_size(eh); i++) {
        const char *s = json_string_value(json_array_get(eh, i));
        const char *colon = s ? strchr(s, ':') : NULL;
        if (colon)
            dd_buf_addf(&b, "%s\t%.*s\n", colon + 1, (int)(colon - s), s);
    }
    _cleanup_free_ char *path = dd_path_join(c->dir, "hosts");
    int r = dd_write_file_replace(path, b.data ? b.data : "", b.len, 0644, e);
    dd_buf_release(&b);
    return r;
}

/* The host's resolv.conf, minus loopback nameservers when the container has its own network
 * namespace (they would point at the container itself); Docker's public fallback if none is left.
 */
static void host_resolv(dd_buf *b, bool host_net)
{
    _cleanup_free_ char *text = NULL;
    bool ns = false;
    if (dd_read_file("/etc/resolv.conf", 1 << 20, &text, NULL, NULL) == 0) {
        char *save = NULL;
        for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
            if (dd_startswith(l, "nameserver")) {
                const char *ip = l + 10 + strspn(l + 10, " \t");
                if (!host_net && (dd_startswith(ip, "127.") || dd_streq(ip, "::1")))
                    continue;
                ns = true;
            }
            dd_buf_addf(b, "%s\n", l);
        }
    }
    if (!ns)
        dd_buf_adds(b, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
}

static int write_resolv(struct container *c, dd_err *e)
{
    dd_buf b = DD_BUF_INIT;
    _cleanup_strv_free_ char **dns = NULL, **search = NULL, **opts = NULL;
    jx_strv(c->host_config, "Dns", &dns, NULL);
    jx_strv(c->host_config, "DnsSearch", &search, NULL);
    jx_strv(c->host_config, "DnsOptions", &opts, NULL);
    if (!dns || !dns[0]) {
        host_resolv(&b, dd_streq(c->network_mode, "host"));
    } else {
        for (size_t i = 0; dns[i]; i++)
            dd_buf_addf(&b, "nameserver %s\n", dns[i]);
    }
    if (search && search[0]) {
        dd_buf_adds(&b, "search");
        for (size_t i = 0; search[i]; i++)
            dd_buf_addf(&b, " %s", search[i]);
        dd_buf_addc(&b, '\n');
    }
    if (opts && opts[0]) {
        dd_buf_adds(&b, "options");
        for (size_t i = 0; opts[i]; i++)
            dd_buf_addf(&b, " %s", opts[i]);
        dd_buf_addc(&b, '\n');
    }
    _cleanup_free_ char *path = dd_path_join(c->dir, "resolv.conf");
    int r = dd_write_file_replace(path, b.data ? b.data : "", b.len, 0644, e);
    dd_buf_release(&b);
    return r;
}

int spec_write_etc(struct container *c, dd_err *e)
{
    _cleanup_free_ char *hn_path = dd_path_join(c->dir, "hostname");
    _cleanup_free_ char *hn = dd_asprintf("%s\n", c->hostname);
    int r = dd_write_file_replace(hn_path, hn, strlen(hn), 0644, e);
    if (r < 0 || (r = write_hosts(c, e)) < 0 || (r = write_resolv(c, e)) < 0)
        return dd_err_wrap(e, "writing the container's /etc files");
    return 0;
}

/* ---- mounts ---- */

static void add_mount(struct rt_spec *spec, const char *dest, const char *type, const char *src,
                      char **opts)
{
    spec->mounts = dd_realloc(spec->mounts, (spec->n_mounts + 1) * sizeof(*spec->mounts));
    spec->mounts[spec->n_mounts++] = (struct rt_mount){
        .destination = dd_strdup(dest),
        .type = dd_strdup(type),
        .source = dd_strdup(src),
        .options = opts,
    };
}

static char **opts_of(const char *a, const char *b, const char *c)
{
    char **v = dd_strv_push(NULL, a);
    if (b)
        v = dd_strv_push(v, b);
    if (c)
        v = dd_strv_push(v, c);
    return v;
}

static int mounts(struct container *c, struct rt_spec *spec, dd_err *e)
{
    static const char *const etc[] = {"hostname", "hosts", "resolv.conf"};
    for (size_t i = 0; i < DD_ARRAY_SIZE(etc); i++) {
        _cleanup_free_ char *src = dd_path_join(c->dir, etc[i]);
        _cleanup_free_ char *dst = dd_asprintf("/etc/%s", etc[i]);
        add_mount(spec, dst, "bind", src, opts_of("rbind", "rprivate", NULL));
    }
    if (dd_streq(hc_str(c, "IpcMode"), "host"))
        add_mount(spec, "/dev/shm", "bind", "/dev/shm", opts_of("rbind", "rprivate", NULL));
    else
        add_mount(spec, "/dev/shm", "tmpfs", "shm",
                  dd_strv_consume(opts_of("nosuid", "nodev", "noexec"),
                                  dd_asprintf("size=%lld", (long long)hc_int(c, "ShmSize"))));
    struct spec_mount *m = NULL;
    size_t n = 0;
    int r = spec_mounts(c->host_config, c->dir, &m, &n, e);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n && r == 0; i++) {
        if (!dd_streq(m[i].type, "tmpfs"))
            r = dd_mkdir_p(m[i].source, 0755, e); /* Docker creates missing bind sources */
        if (r == 0)
            add_mount(spec, m[i].dest, dd_streq(m[i].type, "tmpfs") ? "tmpfs" : "bind", m[i].source,
                      TAKE_PTR(m[i].opts));
    }
    spec_mounts_free(m, n);
    const char *dest = NULL, *src = NULL;
    char **opts;
    for (size_t i = 0; r == 0 && (opts = ctr_volumes_mounts(c, i, &dest, &src)); i++) {
        if (access(src, F_OK) < 0) { /* a bind volume's device is never created for it */
            dd_strv_free(opts);
            r = dd_err_set(e, EIO, /* not ENOENT: the CLI reads a 404 as a missing image */
                           "error while mounting volume with options: failed to mount local "
                           "volume: mount %s, flags: 0x1000: no such file or directory",
                           src);
        } else {
            add_mount(spec, dest, "bind", src, opts);
        }
    }
    return r;
}

/* ---- resources and security ---- */

static void resources(struct container *c, struct rt_spec *spec)
{
    struct rt_resources *res = &spec->resources;
    int64_t nano = hc_int(c, "NanoCpus"), pids = hc_int(c, "PidsLimit");
    res->memory = hc_int(c, "Memory");
    res->memory_swap = hc_int(c, "MemorySwap");
    if (res->memory > 0 && res->memory_swap == 0)
        res->memory_swap = 2 * res->memory; /* Docker's default: as much swap as memory */
    res->pids_limit = pids > 0 ? pids : 0;
    res->cpu_period = (uint64_t)hc_int(c, "CpuPeriod");
    res->cpu_quota = hc_int(c, "CpuQuota");
    if (nano > 0) {
        res->cpu_period = 100000;
        res->cpu_quota = nano * 100000 / 1000000000;
    }
    res->cpu_shares = (uint64_t)hc_int(c, "CpuShares");
    const char *cpus = hc_str(c, "CpusetCpus"), *mems = hc_str(c, "CpusetMems");
    res->cpuset_cpus = *cpus ? dd_strdup(cpus) : NULL;
    res->cpuset_mems = *mems ? dd_strdup(mems) : NULL;
    const char *parent = hc_str(c, "CgroupParent");
    spec->cgroup_parent = dd_strdup(*parent ? parent : "dindd");
}

static int security(struct container *c, struct rt_spec *spec, dd_err *e)
{
    _cleanup_strv_free_ char **opts = NULL;
    jx_strv(c->host_config, "SecurityOpt", &opts, NULL);
    spec->privileged = hc_bool(c, "Privileged");
    spec->seccomp = !spec->privileged;
    for (size_t i = 0; opts && opts[i]; i++) {
        if (dd_streq(opts[i], "seccomp=unconfined") || dd_streq(opts[i], "seccomp:unconfined"))
            spec->seccomp = false;
        if (dd_startswith(opts[i], "no-new-privileges") &&
            !dd_streq(opts[i], "no-new-privileges=false") &&
            !dd_streq(opts[i], "no-new-privileges:false"))
            return dd_err_set(e, EINVAL,
                              "security option %s: the runtime cannot set "
                              "no_new_privs yet",
                              opts[i]);
    }
    jx_strv(c->host_config, "MaskedPaths", &spec->masked_paths, NULL);
    jx_strv(c->host_config, "ReadonlyPaths", &spec->readonly_paths, NULL);
    return 0;
}

static int process(struct container *c, struct rt_spec *spec, dd_err *e)
{
    struct rt_process *p = &spec->process;
    json_t *cs = json_object_get(c->host_config, "ConsoleSize");
    p->args = dd_strv_push(NULL, c->path);
    for (size_t i = 0; c->args[i]; i++)
        p->args = dd_strv_push(p->args, c->args[i]);
    p->env = dd_strv_copy(c->env);
    if (!p->env)
        p->env = dd_calloc(1, sizeof(char *));
    p->cwd = *c->working_dir ? dd_strdup(c->working_dir) : NULL;
    if (p->cwd && p->cwd[0] != '/')
        return dd_err_set(e, EINVAL,
                          "the working directory '%s' is invalid, it needs to be an "
                          "absolute path",
                          c->working_dir);
    p->user = dd_strdup(c->user);
    jx_strv(c->host_config, "GroupAdd", &p->additional_groups, NULL);
    p->terminal = c->tty;
    p->open_stdin = c->open_stdin;
    p->rows = (unsigned short)json_integer_value(json_array_get(cs, 0));
    p->cols = (unsigned short)json_integer_value(json_array_get(cs, 1));
    return 0;
}

int spec_build(struct ctr_store *s, struct container *c, const struct img_image *img,
               struct rt_spec *spec, dd_err *e)
{
    int r;
    memset(spec, 0, sizeof(*spec));
    spec->id = dd_strdup(c->id);
    spec->lower_dirs = dd_strv_copy(img->layer_dirs);
    spec->upper_dir = dd_path_join(c->dir, "upper");
    spec->work_dir = dd_path_join(c->dir, "work");
    spec->root_readonly = hc_bool(c, "ReadonlyRootfs");
    /* --rm: the writable layer goes with the container, no need to make it durable */
    spec->root_volatile = hc_bool(c, "AutoRemove");
    spec->hostname = dd_strdup(c->hostname);
    spec->init = hc_bool(c, "Init");
    spec->stop_signal = c->stop_signal;
    spec->log_path = dd_strdup(c->log_path);
    spec->log_format = RT_LOG_JSON_FILE;
    spec->oom_score_adj = (int)hc_int(c, "OomScoreAdj");
    spec->oom_score_adj_set = spec->oom_score_adj != 0;
    if ((r = dd_mkdir_p(spec->upper_dir, 0755, e)) < 0 ||
        (r = dd_mkdir_p(spec->work_dir, 0700, e)) < 0 || (r = process(c, spec, e)) < 0 ||
        (r = namespaces(s, c, spec, e)) < 0 || (r = spec_write_etc(c, e)) < 0 ||
        (r = mounts(c, spec, e)) < 0 || (r = security(c, spec, e)) < 0)
        goto fail;
    if (dd_streq(c->network_mode, "host") || spec->namespaces[RT_NS_UTS].mode == RT_NS_HOST) {
        free(spec->hostname);
        spec->hostname = NULL;
    }
    if (!spec->privileged && (r = spec_caps(c->host_config, &spec->capabilities, e)) < 0)
        goto fail;
    if ((r = spec_limits(c->host_config, spec, e)) < 0)
        goto fail;
    resources(c, spec);
    return 0;
fail:
    rt_spec_release(spec);
    return r;
}
