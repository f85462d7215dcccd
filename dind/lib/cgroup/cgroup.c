/* cgroup front: detects the layout (v1/hybrid, v2, none) and the daemon's own cgroup once per
 * process, validates names, and dispatches every public cg_* call to the driver for the mode.
 * The drivers (cgroup-v1.c, cgroup-v2.c) own all file-level knowledge; this file owns only the
 * handle's lifecycle and the rules that are the same for both (argument checks, the bounded
 * wait in cg_destroy, the mode "none"). */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>

#include "cgroup-internal.h"

const char *const cg_ctl_names[CG_NCTL] = {
    [CG_CPU] = "cpu",       [CG_CPUACCT] = "cpuacct", [CG_CPUSET] = "cpuset",
    [CG_MEMORY] = "memory", [CG_DEVICES] = "devices", [CG_FREEZER] = "freezer",
    [CG_BLKIO] = "blkio",   [CG_PIDS] = "pids",
};

struct cg_sys cg_sys;

static void sys_reset(void)
{
    for (int i = 0; i < CG_NCTL; i++)
        free(cg_sys.v1_base[i]);
    free(cg_sys.v2_mount);
    free(cg_sys.v2_base);
    memset(&cg_sys, 0, sizeof(cg_sys));
}

/* The controller list field of a /proc/self/cgroup line contains ctl as a whole word. */
static bool list_has_word(const char *list, const char *word, char sep)
{
    size_t wl = strlen(word);
    for (const char *p = list; p && *p;) {
        size_t n = strcspn(p, (char[]){sep, '\n', '\0'});
        if (n == wl && strncmp(p, word, wl) == 0)
            return true;
        p += n;
        if (*p != sep)
            break;
        p++;
    }
    return false;
}

/* Our own cgroup path for a v1 controller ("memory") or v2 (ctl == NULL). */
static char *own_path(const char *proc_cgroup, const char *ctl)
{
    for (const char *line = proc_cgroup; line && *line;) {
        const char *c1 = strchr(line, ':');
        const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        const char *nl = strchr(line, '\n');
        if (!c2 || (nl && c2 > nl))
            break;
        size_t plen = nl ? (size_t)(nl - c2 - 1) : strlen(c2 + 1);
        _cleanup_free_ char *ctls = dd_strndup(c1 + 1, (size_t)(c2 - c1 - 1));
        bool match = ctl ? list_has_word(ctls, ctl, ',') : (strncmp(line, "0::", 3) == 0);
        if (match)
            return dd_strndup(c2 + 1, plen);
        line = nl ? nl + 1 : NULL;
    }
    return NULL;
}

/* mount point + (own path relative to the mount's root). */
static char *base_dir(const char *mnt, const char *mroot, const char *own)
{
    const char *rel = own ? own : "/";
    size_t rl = strlen(mroot);
    if (strcmp(mroot, "/") != 0) {
        if (strncmp(rel, mroot, rl) == 0 && (rel[rl] == '/' || rel[rl] == '\0'))
            rel += rl;
        else
            rel = "/"; /* we cannot see our own cgroup through this mount: use its root */
    }
    if (strncmp(rel, "/..", 3) == 0)
        rel = "/";
    while (*rel == '/')
        rel++;
    return *rel ? dd_path_join(mnt, rel) : dd_strdup(mnt);
}

struct mnt_line {
    char *root, *point, *fstype, *opts;
};

/* Splits one mountinfo line in place (fields are space-separated, octal escapes left as is). */
static bool mnt_parse(char *line, struct mnt_line *m)
{
    char *f[6] = {0};
    char *save = NULL, *tok = strtok_r(line, " ", &save);
    for (int i = 0; tok && i < 6; i++, tok = strtok_r(NULL, " ", &save))
        f[i] = tok;
    char *sep = NULL;
    while (tok && strcmp(tok, "-") != 0)
        tok = strtok_r(NULL, " ", &save);
    sep = tok;
    if (!sep || !f[4])
        return false;
    m->root = f[3];
    m->point = f[4];
    m->fstype = strtok_r(NULL, " ", &save);
    (void)strtok_r(NULL, " ", &save); /* source */
    m->opts = strtok_r(NULL, " ", &save);
    return m->fstype && m->opts;
}

static void detect_v1_mount(const struct mnt_line *m, const char *proc_cgroup)
{
    for (int c = 0; c < CG_NCTL; c++) {
        if (!list_has_word(m->opts, cg_ctl_names[c], ','))
            continue;
        if (cg_sys.v1_base[c] && !dd_startswith(m->point, "/sys/fs/cgroup/"))
            continue;
        _cleanup_free_ char *own = own_path(proc_cgroup, cg_ctl_names[c]);
        free(cg_sys.v1_base[c]);
        cg_sys.v1_base[c] = base_dir(m->point, m->root, own);
    }
}

static void detect_v2_mount(const struct mnt_line *m, const char *proc_cgroup)
{
    if (cg_sys.v2_mount && strcmp(m->point, "/sys/fs/cgroup") != 0)
        return;
    _cleanup_free_ char *own = own_path(proc_cgroup, NULL);
    free(cg_sys.v2_mount);
    free(cg_sys.v2_base);
    cg_sys.v2_mount = dd_strdup(m->point);
    cg_sys.v2_base = base_dir(m->point, m->root, own);
}

/* On v2 an earlier instance of the daemon may have moved us into "<base>/init" (see
 * cgroup-v2.c): the base is then the parent, so a restarted daemon finds its containers again
 * instead of nesting a new tree (and a new init) below init. */
static void v2_skip_init(void)
{
    size_t ml = strlen(cg_sys.v2_mount), bl = strlen(cg_sys.v2_base);
    if (bl > ml && dd_endswith(cg_sys.v2_base, "/init"))
        cg_sys.v2_base[bl - 5] = '\0';
}

static int detect(dd_err *e)
{
    _cleanup_free_ char *mi = NULL, *pc = NULL;
    int r = dd_read_file("/proc/self/mountinfo", 0, &mi, NULL, e);
    if (r < 0)
        return r;
    r = dd_read_file("/proc/self/cgroup", 0, &pc, NULL, e);
    if (r < 0)
        return r;
    bool any_v1 = false;
    char *save = NULL;
    for (char *line = strtok_r(mi, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        struct mnt_line m;
        if (!mnt_parse(line, &m))
            continue;
        if (strcmp(m.fstype, "cgroup") == 0) {
            detect_v1_mount(&m, pc);
            any_v1 = true;
        } else if (strcmp(m.fstype, "cgroup2") == 0) {
            detect_v2_mount(&m, pc);
        }
    }
    bool have_v1 = false;
    for (int c = 0; c < CG_NCTL; c++)
        have_v1 |= cg_sys.v1_base[c] != NULL;
    (void)any_v1;
    cg_sys.mode = have_v1 ? CG_MODE_V1 : cg_sys.v2_mount ? CG_MODE_V2 : CG_MODE_NONE;
    if (cg_sys.mode == CG_MODE_V2)
        v2_skip_init();
    return 0;
}

int cg_setup(const struct cg_setup_opts *opts, dd_err *e)
{
    CG_ERR_LOCAL(e);
    sys_reset();
    if (opts && opts->v2_root) {
        cg_sys.mode = CG_MODE_V2;
        cg_sys.v2_mount = dd_strdup(opts->v2_root);
        cg_sys.v2_base = base_dir(opts->v2_root, "/", opts->v2_own ? opts->v2_own : "/");
        v2_skip_init();
    } else if (opts && opts->disable) {
        cg_sys.mode = CG_MODE_NONE;
    } else {
        int r = detect(e);
        if (r < 0) {
            sys_reset();
            return dd_err_wrap(e, "detecting cgroups");
        }
        if (opts && opts->mode && opts->mode != cg_sys.mode) {
            int want = opts->mode;
            sys_reset();
            return dd_err_set(e, ENODEV, "cgroup %s requested but this system has cgroup %s",
                              cg_mode_name(want), cg_mode_name(cg_sys.mode));
        }
    }
    cg_sys.ready = true;
    return 0;
}

static int ensure_setup(dd_err *e)
{
    return cg_sys.ready ? 0 : cg_setup(NULL, e);
}

/* The layout as "mode=1\nb<ctl>=<dir>\n..." (v1) or "mode=2\nm=<mount>\nB=<base>\n" (v2):
 * helper processes started by the daemon take it over (cg_import) instead of parsing the
 * host's mountinfo again (hundreds of mounts on a busy host, per container). NULL when there is
 * nothing to pass on (no cgroups, or a path that cannot be written on one line). */
char *cg_export(void)
{
    if (ensure_setup(NULL) < 0 || cg_sys.mode == CG_MODE_NONE)
        return NULL;
    dd_buf b = DD_BUF_INIT;
    dd_buf_addf(&b, "mode=%d\n", cg_sys.mode == CG_MODE_V1 ? 1 : 2);
    bool ok = true;
    for (int c = 0; c < CG_NCTL; c++) {
        if (!cg_sys.v1_base[c])
            continue;
        ok &= !strchr(cg_sys.v1_base[c], '\n');
        dd_buf_addf(&b, "b%d=%s\n", c, cg_sys.v1_base[c]);
    }
    if (cg_sys.v2_mount && cg_sys.v2_base) {
        ok &= !strchr(cg_sys.v2_mount, '\n') && !strchr(cg_sys.v2_base, '\n');
        dd_buf_addf(&b, "m=%s\nB=%s\n", cg_sys.v2_mount, cg_sys.v2_base);
    }
    if (!ok) {
        dd_buf_release(&b);
        return NULL;
    }
    return dd_buf_detach(&b, NULL);
}

int cg_import(const char *text, dd_err *e)
{
    sys_reset();
    _cleanup_free_ char *t = dd_strdup(text);
    int mode = 0;
    char *save = NULL;
    for (char *l = strtok_r(t, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(l, '=');
        if (!eq)
            continue;
        *eq = '\0';
        const char *v = eq + 1;
        if (strcmp(l, "mode") == 0) {
            mode = atoi(v);
        } else if (l[0] == 'b' && l[1] >= '0' && l[1] < '0' + CG_NCTL && !l[2]) {
            free(cg_sys.v1_base[l[1] - '0']);
            cg_sys.v1_base[l[1] - '0'] = dd_strdup(v);
        } else if (strcmp(l, "m") == 0) {
            free(cg_sys.v2_mount);
            cg_sys.v2_mount = dd_strdup(v);
        } else if (strcmp(l, "B") == 0) {
            free(cg_sys.v2_base);
            cg_sys.v2_base = dd_strdup(v);
        }
    }
    if ((mode != 1 && mode != 2) || (mode == 2 && (!cg_sys.v2_mount || !cg_sys.v2_base))) {
        sys_reset();
        return dd_err_set(e, EINVAL, "unusable cgroup layout");
    }
    cg_sys.mode = mode == 1 ? CG_MODE_V1 : CG_MODE_V2;
    cg_sys.ready = true;
    return 0;
}

enum cg_mode cg_mode(void)
{
    return ensure_setup(NULL) < 0 ? CG_MODE_NONE : cg_sys.mode;
}

const char *cg_mode_name(enum cg_mode m)
{
    return m == CG_MODE_V1 ? "v1" : m == CG_MODE_V2 ? "v2" : "none";
}

bool cg_has_controller(const char *name)
{
    enum cg_mode m = cg_mode();
    if (m == CG_MODE_V1) {
        if (strcmp(name, "io") == 0)
            name = "blkio";
        for (int c = 0; c < CG_NCTL; c++)
            if (strcmp(cg_ctl_names[c], name) == 0)
                return cg_sys.v1_base[c] != NULL;
        return false;
    }
    if (m == CG_MODE_V2) {
        if (strcmp(name, "blkio") == 0)
            name = "io";
        if (strcmp(name, "devices") == 0 || strcmp(name, "freezer") == 0)
            return true; /* eBPF devices and cgroup.freeze are core v2 features */
        _cleanup_free_ char *s = NULL;
        if (cg_read(cg_sys.v2_base, "cgroup.controllers", &s, NULL) < 0)
            return false;
        return list_has_word(s, name, ' ');
    }
    return false;
}

char **cg_controllers(void)
{
    char **v = NULL;
    enum cg_mode m = cg_mode();
    if (m == CG_MODE_V1) {
        for (int c = 0; c < CG_NCTL; c++)
            if (cg_sys.v1_base[c])
                v = dd_strv_push(v, cg_ctl_names[c]);
    } else if (m == CG_MODE_V2) {
        _cleanup_free_ char *s = NULL;
        if (cg_read(cg_sys.v2_base, "cgroup.controllers", &s, NULL) >= 0)
            for (char *save = NULL, *t = strtok_r(s, " ", &save); t; t = strtok_r(NULL, " ", &save))
                v = dd_strv_push(v, t);
    }
    return v ? v : dd_calloc(1, sizeof(char *));
}

static const struct cg_ops *ops(void)
{
    return cg_sys.mode == CG_MODE_V1 ? &cg_v1_ops : cg_sys.mode == CG_MODE_V2 ? &cg_v2_ops : NULL;
}

static bool limits_empty(const struct cg_limits *l)
{
    return !l || (!l->memory && !l->memory_swap && !l->memory_reservation && !l->pids_max &&
                  !l->cpu_shares && !l->cpu_weight && !l->cpu_quota_us && !l->cpu_period_us &&
                  !l->cpuset_cpus && !l->cpuset_mems && !l->blkio_weight && !l->n_devices);
}

static struct cg *cg_new(char *rel)
{
    struct cg *cg = dd_calloc(1, sizeof(*cg));
    cg->rel = rel;
    cg->dirfd = cg->oom_fd = cg->oom_ctl_fd = -EBADF;
    return cg;
}

void cg_free(struct cg *cg)
{
    if (!cg)
        return;
    for (int i = 0; i < CG_NCTL; i++)
        free(cg->dir[i]);
    free(cg->v2_dir);
    free(cg->rel);
    dd_closep(&cg->dirfd);
    dd_closep(&cg->oom_fd);
    dd_closep(&cg->oom_ctl_fd);
    free(cg);
}

int cg_create(const char *parent_rel, const char *name, const struct cg_limits *lim,
              struct cg **ret, dd_err *e)
{
    CG_ERR_LOCAL(e);
    char *rel = NULL;
    int r = ensure_setup(e);
    if (r < 0)
        return r;
    r = cg_check_rel(parent_rel, name, &rel, e);
    if (r < 0)
        return r;
    struct cg *cg = cg_new(rel);
    if (!ops()) {
        if (!limits_empty(lim)) {
            cg_free(cg);
            return dd_err_set(e, EOPNOTSUPP,
                              "cannot apply resource limits: no cgroup "
                              "filesystem is mounted");
        }
        *ret = cg;
        return 0;
    }
    bool created = false;
    r = ops()->create(cg, &created, e);
    if (r >= 0 && !created) {
        bool busy = false;
        r = ops()->populated(cg, &busy, e);
        if (r >= 0 && busy)
            r = dd_err_set(e, EBUSY, "cgroup %s exists and has processes", rel);
    }
    if (r >= 0 && lim)
        r = ops()->apply(cg, lim, e);
    if (r < 0) {
        if (created)
            (void)ops()->remove(cg, NULL);
        cg_free(cg);
        return dd_err_wrap(e, "creating cgroup %s/%s", parent_rel ? parent_rel : "", name);
    }
    *ret = cg;
    return 0;
}

int cg_open_existing(const char *parent_rel, const char *name, struct cg **ret, dd_err *e)
{
    CG_ERR_LOCAL(e);
    char *rel = NULL;
    int r = ensure_setup(e);
    if (r < 0)
        return r;
    r = cg_check_rel(parent_rel, name, &rel, e);
    if (r < 0)
        return r;
    struct cg *cg = cg_new(rel);
    if (ops()) {
        r = ops()->exists(cg, e);
        if (r < 0) {
            cg_free(cg);
            return r;
        }
    }
    *ret = cg;
    return 0;
}

int cg_open_base(struct cg **ret, dd_err *e)
{
    int r = ensure_setup(e);
    if (r < 0)
        return r;
    struct cg *cg = cg_new(dd_strdup(""));
    cg->is_base = true;
    if (ops() && (r = ops()->exists(cg, e)) < 0) {
        cg_free(cg);
        return r;
    }
    *ret = cg;
    return 0;
}

static int refuse_base(struct cg *cg, const char *what, dd_err *e)
{
    return cg->is_base ? dd_err_set(e, EPERM, "refusing to %s the daemon's own cgroup", what) : 0;
}

int cg_update(struct cg *cg, const struct cg_limits *lim, dd_err *e)
{
    CG_ERR_LOCAL(e);
    if (refuse_base(cg, "change limits of", e) < 0)
        return -EPERM;
    if (!ops())
        return limits_empty(lim) ? 0
                                 : dd_err_set(e, EOPNOTSUPP,
                                              "cannot apply resource limits: no "
                                              "cgroup filesystem is mounted");
    int r = ops()->apply(cg, lim, e);
    return r < 0 ? dd_err_wrap(e, "updating cgroup %s", cg->rel) : 0;
}

int cg_enter(struct cg *cg, pid_t pid, dd_err *e)
{
    CG_ERR_LOCAL(e);
    if (refuse_base(cg, "move a process into", e) < 0)
        return -EPERM;
    if (!ops())
        return 0;
    int r = ops()->enter(cg, pid, e);
    return r < 0 ? dd_err_wrap(e, "moving pid %d into cgroup %s", (int)pid, cg->rel) : 0;
}

int cg_dirfd(struct cg *cg)
{
    if (cg_sys.mode != CG_MODE_V2)
        return -EOPNOTSUPP;
    if (cg->dirfd < 0) {
        cg->dirfd = open(cg->v2_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cg->dirfd < 0)
            return -errno;
    }
    return cg->dirfd;
}

const char *cg_path(const struct cg *cg)
{
    return cg->rel;
}

const char *cg_dir(const struct cg *cg, const char *controller)
{
    if (cg_sys.mode == CG_MODE_V2)
        return cg->v2_dir;
    for (int c = 0; c < CG_NCTL && controller; c++)
        if (strcmp(cg_ctl_names[c], controller) == 0)
            return cg->dir[c];
    return NULL;
}

int cg_kill_all(struct cg *cg, int sig, dd_err *e)
{
    CG_ERR_LOCAL(e);
    if (refuse_base(cg, "signal", e) < 0)
        return -EPERM;
    if (!ops())
        return 0;
    int r = ops()->kill_all(cg, sig, e);
    return r < 0 ? dd_err_wrap(e, "signalling cgroup %s", cg->rel) : 0;
}

int cg_freeze(struct cg *cg, bool frozen, dd_err *e)
{
    CG_ERR_LOCAL(e);
    if (refuse_base(cg, "freeze", e) < 0)
        return -EPERM;
    if (!ops())
        return dd_err_set(e, EOPNOTSUPP, "no cgroup filesystem: cannot %s",
                          frozen ? "pause" : "unpause");
    int r = ops()->freeze(cg, frozen, e);
    if (r < 0)
        (void)dd_err_wrap(e, "%s cgroup %s", frozen ? "freezing" : "thawing", cg->rel);
    return r;
}

int cg_is_frozen(struct cg *cg, bool *ret, dd_err *e)
{
    *ret = false;
    return ops() ? ops()->is_frozen(cg, ret, e) : 0;
}

int cg_pids(struct cg *cg, pid_t **ret_pids, size_t *ret_n, dd_err *e)
{
    if (!ops()) {
        *ret_pids = NULL;
        *ret_n = 0;
        return 0;
    }
    return ops()->pids(cg, ret_pids, ret_n, e);
}

int cg_is_populated(struct cg *cg, bool *ret, dd_err *e)
{
    if (!ops()) {
        *ret = false;
        return 0;
    }
    return ops()->populated(cg, ret, e);
}

int cg_destroy(struct cg *cg, int timeout_ms, dd_err *e)
{
    CG_ERR_LOCAL(e);
    if (!cg)
        return 0;
    if (refuse_base(cg, "remove", e) < 0)
        return -EPERM;
    if (!ops()) {
        cg_free(cg);
        return 0;
    }
    int64_t deadline = dd_mono_ns() + (int64_t)(timeout_ms > 0 ? timeout_ms : 5000) * 1000000;
    int ms = 1, r;
    for (;;) {
        bool busy = false;
        r = ops()->populated(cg, &busy, e);
        if (r == -ENOENT) {
            cg_free(cg);
            return 0;
        }
        if (r >= 0 && busy)
            r = ops()->kill_all(cg, SIGKILL, e);
        else if (r >= 0)
            r = ops()->remove(cg, e);
        if (r >= 0 && !busy)
            break;
        if (dd_mono_ns() >= deadline) {
            if (r >= 0)
                return dd_err_set(e, EBUSY, "cgroup %s still has processes", cg->rel);
            return dd_err_wrap(e, "removing cgroup %s", cg->rel);
        }
        cg_backoff(&ms);
    }
    cg_free(cg);
    return 0;
}

int cg_prune(const char *parent_rel, dd_err *e)
{
    CG_ERR_LOCAL(e);
    int r = ensure_setup(e);
    if (r < 0 || !ops() || !parent_rel || !*parent_rel)
        return r;
    _cleanup_free_ char *rel = NULL;
    r = cg_check_rel(parent_rel, "x", &rel, e);
    if (r < 0)
        return r;
    return ops()->prune(parent_rel, e);
}

int cg_oom_fd(struct cg *cg, dd_err *e)
{
    CG_ERR_LOCAL(e);
    if (!ops())
        return dd_err_set(e, EOPNOTSUPP, "no cgroup filesystem: OOM events unavailable");
    if (cg->oom_fd >= 0)
        return cg->oom_fd;
    int r = ops()->oom_open(cg, e);
    return r < 0 ? dd_err_wrap(e, "watching cgroup %s for OOM", cg->rel) : cg->oom_fd;
}

void cg_oom_ack(struct cg *cg)
{
    char buf[4096];
    if (cg->oom_fd < 0)
        return;
    while (read(cg->oom_fd, buf, sizeof(buf)) > 0)
        ;
}

int cg_oom_kills(struct cg *cg, uint64_t *ret, dd_err *e)
{
    *ret = 0;
    if (!ops())
        return 0;
    return ops()->oom_kills(cg, ret, e);
}

int cg_stats_read(struct cg *cg, struct cg_stats *st, dd_err *e)
{
    CG_ERR_LOCAL(e);
    memset(st, 0, sizeof(*st));
    if (!ops())
        return 0;
    int r = ops()->stats(cg, st, e);
    if (r < 0) {
        cg_stats_release(st);
        return dd_err_wrap(e, "reading stats of cgroup %s", cg->rel);
    }
    return 0;
}

void cg_stats_release(struct cg_stats *st)
{
    if (!st)
        return;
    free(st->cpu_percpu_ns);
    st->cpu_percpu_ns = NULL;
    st->n_percpu = 0;
}

const struct cg_device_rule *cg_devices_docker_default(size_t *ret_n)
{
    static const struct cg_device_rule rules[] = {
        {false, 'a', -1, -1, "rwm"}, /* deny everything, then: */
        {true, 'c', -1, -1, "m"},    /* mknod of any char device */
        {true, 'b', -1, -1, "m"},    /* mknod of any block device */
        {true, 'c', 1, 3, "rwm"},    /* null */
        {true, 'c', 1, 5, "rwm"},    /* zero */
        {true, 'c', 1, 7, "rwm"},    /* full */
        {true, 'c', 1, 8, "rwm"},    /* random */
        {true, 'c', 1, 9, "rwm"},    /* urandom */
        {true, 'c', 5, 0, "rwm"},    /* tty */
        {true, 'c', 5, 1, "rwm"},    /* console */
        {true, 'c', 5, 2, "rwm"},    /* ptmx */
        {true, 'c', 136, -1, "rwm"}, /* pts */
    };
    *ret_n = DD_ARRAY_SIZE(rules);
    return rules;
}
