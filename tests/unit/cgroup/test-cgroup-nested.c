/* Unit tests for nested use: a daemon inside a container sees only its own subtree. The test body
 * plays the container: it creates a "node" cgroup, moves itself in, takes a new mount namespace
 * (and for two of the cases a cgroup namespace), replaces /sys/fs/cgroup the way a runtime does
 * for a privileged container, and then lets the cgroup module detect everything on its own. The
 * cgroups it then creates must appear below "node" in the host's hierarchy, which the test checks
 * through directory fds opened before the switch. Needs root. */
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "helpers.h"

struct v1_mount {
    char point[256];
    char opts[256]; /* the controllers, as `mount -o` wants them */
};

/* The host's v1 hierarchies below /sys/fs/cgroup and their controller options. */
static size_t host_v1_mounts(struct v1_mount *out, size_t max)
{
    _cleanup_free_ char *mi = NULL;
    CHECK(dd_read_file("/proc/self/mountinfo", 0, &mi, NULL, NULL) >= 0);
    size_t n = 0;
    for (char *save = NULL, *l = strtok_r(mi, "\n", &save); l && n < max;
         l = strtok_r(NULL, "\n", &save)) {
        char root[256], point[256], fstype[32], opts[256];
        char *sep = strstr(l, " - ");
        if (!sep || sscanf(l, "%*s %*s %*s %255s %255s", root, point) != 2 ||
            sscanf(sep + 3, "%31s %*s %255s", fstype, opts) != 2)
            continue;
        if (strcmp(fstype, "cgroup") != 0 || !dd_startswith(point, "/sys/fs/cgroup/"))
            continue;
        struct v1_mount *m = &out[n++];
        snprintf(m->point, sizeof(m->point), "%s", point);
        m->opts[0] = '\0';
        for (char *s2 = NULL, *o = strtok_r(opts, ",", &s2); o; o = strtok_r(NULL, ",", &s2)) {
            if (strcmp(o, "rw") == 0 || strcmp(o, "ro") == 0)
                continue;
            size_t k = strlen(m->opts);
            snprintf(m->opts + k, sizeof(m->opts) - k, "%s%s", k ? "," : "", o);
        }
    }
    return n;
}

/* Replaces /sys/fs/cgroup in our (new, private) mount namespace with a tmpfs. */
static void fresh_cgroup_root(void)
{
    CHECK(umount2("/sys/fs/cgroup", MNT_DETACH) == 0);
    CHECK(mount("tmpfs", "/sys/fs/cgroup", "tmpfs", 0, "mode=755") == 0);
}

static void check_inner_on_host(int hostfd)
{
    /* the nested daemon's cgroup is node/pods/inner in the host's memory hierarchy */
    int fd = openat(hostfd, "pods/inner/memory.limit_in_bytes", O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    char buf[64] = {0};
    CHECK(read(fd, buf, sizeof(buf) - 1) > 0);
    close(fd);
    CHECK_EQ_STR(buf, "33554432\n");
}

static void nested_v1(const char *parent, bool cgroupns)
{
    if (cg_mode() != CG_MODE_V1) {
        printf("    (host is not cgroup v1: skipped)\n");
        return;
    }
    struct v1_mount mounts[16];
    size_t n = host_v1_mounts(mounts, DD_ARRAY_SIZE(mounts));
    struct cg *node = NULL;
    dd_err e = {0};
    CHECK_EQ_INT(cg_create(parent, "node", NULL, &node, &e), 0);
    CHECK_EQ_INT(cg_enter(node, getpid(), &e), 0);
    int hostfd = open(cg_dir(node, "memory"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(hostfd >= 0);
    /* where each hierarchy's node dir is, for the bind mounts of the no-cgroupns case */
    char stage[] = "/tmp/dind-cgstage-XXXXXX";
    CHECK(mkdtemp(stage) != NULL);
    CHECK(unshare(CLONE_NEWNS | (cgroupns ? CLONE_NEWCGROUP : 0)) == 0);
    CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
    /* without a cgroup namespace: bind each hierarchy's node dir, as Docker's v1 default does */
    bool staged[16] = {false};
    for (size_t i = 0; i < n && !cgroupns; i++) {
        const char *d = cg_dir(node, strrchr(mounts[i].point, '/') + 1);
        if (!d)
            continue;
        _cleanup_free_ char *st = dd_asprintf("%s/%zu", stage, i);
        CHECK(mkdir(st, 0755) == 0);
        CHECK(mount(d, st, NULL, MS_BIND, NULL) == 0);
        staged[i] = true;
    }
    fresh_cgroup_root();
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *st = dd_asprintf("%s/%zu", stage, i);
        if (cgroupns) {
            CHECK(mkdir(mounts[i].point, 0755) == 0);
            CHECK(mount("cgroup", mounts[i].point, "cgroup", 0, mounts[i].opts) == 0);
        } else if (staged[i]) {
            CHECK(mkdir(mounts[i].point, 0755) == 0);
            CHECK(mount(st, mounts[i].point, NULL, MS_MOVE, NULL) == 0);
            rmdir(st);
        }
    }
    rmdir(stage);
    /* The nested daemon: detects on its own. */
    CHECK_EQ_INT(cg_setup(NULL, &e), 0);
    CHECK_EQ_INT(cg_mode(), CG_MODE_V1);
    struct cg *inner = NULL;
    struct cg_limits l = {.memory = 32 << 20};
    CHECK_EQ_INT(cg_create("pods", "inner", &l, &inner, &e), 0);
    CHECK(dd_startswith(cg_dir(inner, "memory"), "/sys/fs/cgroup/memory/pods/inner"));
    check_inner_on_host(hostfd);
    struct kid k = kid_start(kid_sleep);
    CHECK_EQ_INT(cg_enter(inner, k.pid, &e), 0);
    kid_go(&k);
    CHECK_EQ_INT(cg_destroy(inner, 0, &e), 0);
    kid_wait(&k);
    CHECK_EQ_INT(cg_prune("pods", &e), 0);
    CHECK(faccessat(hostfd, "pods", F_OK, 0) < 0);
    struct cg_capacity cap;
    CHECK_EQ_INT(cg_capacity_read(&cap, &e), 0);
    CHECK(cap.memory_bytes > 0);
    close(hostfd);
}

static void body_v1_cgroupns(const char *parent)
{
    nested_v1(parent, true);
}

TEST(nested_v1_with_cgroup_namespace)
{
    run_cleaned(body_v1_cgroupns);
}

static void body_v1_bind(const char *parent)
{
    nested_v1(parent, false);
}

TEST(nested_v1_with_bind_mounted_subtree)
{
    /* Docker's v1 default (cgroupns=host): /proc/self/cgroup shows the host path, the mount's
     * root is that path; the module must strip it. */
    run_cleaned(body_v1_bind);
}

static bool have_cgroup2(void)
{
    _cleanup_free_ char *fs = NULL;
    return dd_read_file("/proc/filesystems", 0, &fs, NULL, NULL) >= 0 &&
           strstr(fs, "\tcgroup2\n") != NULL;
}

/* The container: moves into node, takes cgroup + mount namespaces, mounts cgroup2 on
 * /sys/fs/cgroup and runs a nested daemon's create/enter/destroy. */
static void v2_container(const char *node, int hostfd)
{
    _cleanup_free_ char *me = dd_asprintf("%d", (int)getpid());
    _cleanup_free_ char *procs = dd_path_join(node, "cgroup.procs");
    int fd = open(procs, O_WRONLY | O_CLOEXEC);
    CHECK(fd >= 0 && write(fd, me, strlen(me)) > 0);
    close(fd);
    CHECK(unshare(CLONE_NEWCGROUP) == 0);
    CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
    fresh_cgroup_root();
    CHECK(umount2("/sys/fs/cgroup", MNT_DETACH) == 0);
    CHECK(mount("none", "/sys/fs/cgroup", "cgroup2", 0, NULL) == 0);
    dd_err e = {0};
    CHECK_EQ_INT(cg_setup(NULL, &e), 0);
    CHECK_EQ_INT(cg_mode(), CG_MODE_V2);
    struct cg *c = NULL;
    CHECK_EQ_INT(cg_create(NULL, "inner", NULL, &c, &e), 0);
    CHECK_EQ_STR(cg_dir(c, NULL), "/sys/fs/cgroup/inner");
    CHECK(faccessat(hostfd, "inner", F_OK, 0) == 0);
    struct kid k = kid_start(kid_sleep);
    CHECK_EQ_INT(cg_enter(c, k.pid, &e), 0);
    kid_go(&k);
    CHECK_EQ_INT(cg_destroy(c, 0, &e), 0);
    kid_wait(&k);
    CHECK(faccessat(hostfd, "inner", F_OK, 0) < 0);
}

static void body_v2_in_container(const char *unused)
{
    /* A pure-v2 container on any host: the unified hierarchy mounted privately, a node cgroup,
     * and in it a process whose cgroup namespace starts there. Auto-detection must pick v2. */
    char tmp[] = "/tmp/dind-cg2n-XXXXXX";
    CHECK(mkdtemp(tmp) != NULL);
    CHECK(unshare(CLONE_NEWNS) == 0);
    CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
    int mr = mount("none", tmp, "cgroup2", 0, NULL);
    if (mr < 0)
        rmdir(tmp);
    CHECK(mr == 0);
    _cleanup_free_ char *name = dd_asprintf("dind-unit-v2n-%d", (int)getpid());
    _cleanup_free_ char *node = dd_path_join(tmp, name);
    CHECK(mkdir(node, 0755) == 0);
    int hostfd = open(node, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(hostfd >= 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        v2_container(node, hostfd);
        fflush(NULL);
        _exit(0);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    /* whatever happened in there: remove the node tree through the driver */
    struct cg_setup_opts o = {.mode = CG_MODE_V2, .v2_root = tmp, .v2_own = "/"};
    struct cg *cg = NULL;
    dd_err e = {0};
    int r = cg_setup(&o, &e);
    if (r >= 0 && (r = cg_open_existing(NULL, name, &cg, &e)) >= 0)
        r = cg_destroy(cg, 10000, &e);
    close(hostfd);
    umount2(tmp, MNT_DETACH);
    rmdir(tmp);
    CHECK_EQ_INT(r, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    (void)unused;
}

TEST(nested_v2_container_autodetects)
{
    if (!have_cgroup2()) {
        printf("    (no cgroup2 filesystem: skipped)\n");
        return;
    }
    run_cleaned(body_v2_in_container);
}
