/* Docker's user rules, resolved against the container's own /etc/passwd and /etc/group (read
 * after pivot_root or setns into the container's mount namespace, so the paths cannot leave
 * it; the files must be regular and at most 4 MiB, so a FIFO or /dev/zero cannot hang us):
 *   "" → root; "name" or "uid"; "name:group", "uid:gid" and mixes. A numeric uid needs no passwd
 *   entry (gid 0, HOME /); a name must exist ("unable to find user x: no matching entries in
 *   passwd file"). Supplementary groups: the groups listing the user by name, plus the
 *   additional groups given (names or gids). */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "dind/lib/rt/rt-internal.h"

static char *read_small_file(const char *path)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (4 << 20))
        return NULL;
    char *data = NULL;
    if (dd_read_file(path, 4 << 20, &data, NULL, NULL) < 0)
        return NULL;
    return data;
}

static bool parse_id(const char *s, unsigned long *ret)
{
    if (!s || !*s)
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v > 0x7fffffffUL || s[0] == '-')
        return false;
    *ret = v;
    return true;
}

/* Splits a passwd/group line into up to n fields (in place); returns the count. */
static size_t split_fields(char *line, char **f, size_t n)
{
    size_t k = 0;
    f[k++] = line;
    for (char *p = line; *p && k < n; p++) {
        if (*p == ':') {
            *p = '\0';
            f[k++] = p + 1;
        }
    }
    return k;
}

struct pw_entry {
    bool found;
    uid_t uid;
    gid_t gid;
    char *name, *home;
};

static void find_user(char *passwd, const char *want, bool numeric, uid_t uid, struct pw_entry *ret)
{
    char *save = NULL;
    for (char *line = strtok_r(passwd, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[7] = {0};
        unsigned long u = 0, g = 0;
        if (split_fields(line, f, 7) < 7 || !parse_id(f[2], &u) || !parse_id(f[3], &g))
            continue;
        if (numeric ? u != uid : strcmp(f[0], want) != 0)
            continue;
        *ret = (struct pw_entry){true, (uid_t)u, (gid_t)g, dd_strdup(f[0]), dd_strdup(f[5])};
        return;
    }
}

/* Looks up a group by name or gid in the text of /etc/group; adds to u->groups every group
 * listing `member`. */
static int scan_groups(const char *group_text, const char *want, gid_t *ret_gid, const char *member,
                       struct rt_user *u)
{
    _cleanup_free_ char *data = group_text ? dd_strdup(group_text) : NULL;
    unsigned long want_id = 0;
    bool numeric = want && parse_id(want, &want_id), found = false;
    char *save = NULL;
    for (char *line = data ? strtok_r(data, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        char *f[4] = {0};
        unsigned long g = 0;
        if (split_fields(line, f, 4) < 4 || !parse_id(f[2], &g))
            continue;
        if (want && !found && (numeric ? g == want_id : strcmp(f[0], want) == 0)) {
            *ret_gid = (gid_t)g;
            found = true;
        }
        char *msave = NULL;
        for (char *m = member ? strtok_r(f[3], ",", &msave) : NULL; m;
             m = strtok_r(NULL, ",", &msave)) {
            if (strcmp(m, member) == 0) {
                u->groups = dd_realloc(u->groups, (u->n_groups + 1) * sizeof(gid_t));
                u->groups[u->n_groups++] = (gid_t)g;
            }
        }
    }
    if (want && !found && numeric) {
        *ret_gid = (gid_t)want_id;
        found = true;
    }
    return want && !found ? -ENOENT : 0;
}

static int resolve_primary(const char *user, const char *passwd_text, const char *group_text,
                           struct rt_user *u, char **ret_name, dd_err *e)
{
    _cleanup_free_ char *spec = dd_strdup(user && *user ? user : "0");
    char *colon = strchr(spec, ':');
    if (colon)
        *colon = '\0';
    const char *name = spec, *group = colon ? colon + 1 : NULL;
    unsigned long id = 0;
    bool numeric = parse_id(name, &id);
    _cleanup_free_ char *passwd = passwd_text ? dd_strdup(passwd_text) : NULL;
    struct pw_entry pw = {0};
    if (passwd)
        find_user(passwd, name, numeric, (uid_t)id, &pw);
    if (!pw.found && !numeric)
        return dd_err_set(e, ENOENT, "unable to find user %s: no matching entries in passwd file",
                          name);
    u->uid = pw.found ? pw.uid : (uid_t)id;
    u->gid = pw.found ? pw.gid : 0;
    u->home = pw.found && pw.home && *pw.home ? dd_strdup(pw.home) : dd_strdup("/");
    *ret_name = pw.found ? dd_strdup(pw.name) : NULL;
    free(pw.name);
    free(pw.home);
    if (group && *group) {
        gid_t gid = 0;
        struct rt_user none = {0};
        if (scan_groups(group_text, group, &gid, NULL, &none) < 0)
            return dd_err_set(e, ENOENT,
                              "unable to find group %s: no matching entries in group file", group);
        u->gid = gid;
    }
    return 0;
}

int rt_user_resolve_text(const char *user, char *const *additional, const char *passwd_text,
                         const char *group_text, struct rt_user *ret, dd_err *e)
{
    struct rt_user u = {0};
    _cleanup_free_ char *name = NULL;
    int r = resolve_primary(user, passwd_text, group_text, &u, &name, e);
    if (r < 0) {
        rt_user_release(&u);
        return r;
    }
    /* Supplementary groups of a user known by name (Docker only does this with a passwd entry). */
    if (name)
        (void)scan_groups(group_text, NULL, NULL, name, &u);
    for (size_t i = 0; additional && additional[i]; i++) {
        gid_t gid = 0;
        struct rt_user none = {0};
        if (scan_groups(group_text, additional[i], &gid, NULL, &none) < 0) {
            rt_user_release(&u);
            return dd_err_set(e, ENOENT, "unable to find group %s", additional[i]);
        }
        u.groups = dd_realloc(u.groups, (u.n_groups + 1) * sizeof(gid_t));
        u.groups[u.n_groups++] = gid;
    }
    *ret = u;
    return 0;
}

int rt_user_resolve(const char *user, char *const *additional, struct rt_user *ret, dd_err *e)
{
    _cleanup_free_ char *passwd = read_small_file("/etc/passwd");
    _cleanup_free_ char *group = read_small_file("/etc/group");
    return rt_user_resolve_text(user, additional, passwd, group, ret, e);
}

void rt_user_release(struct rt_user *u)
{
    if (!u)
        return;
    free(u->groups);
    free(u->home);
    memset(u, 0, sizeof(*u));
}
