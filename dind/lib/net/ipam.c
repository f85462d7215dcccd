/* net/ipam: IPv4 address allocation from one CIDR, persisted as one small file per allocation
 * ("<state_dir>/10.42.0.7" holding the owner id and a newline). A new file is written under a
 * temporary name and link(2)ed to its final name, which fails if the address is taken, so the
 * state on disk is always complete and never double-booked, even after a crash. All operations
 * hold flock() on the state directory, which serialises threads and processes alike (and makes
 * "same owner gets the same address" race-free). It does not configure any interface. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "dind/net.h"

#define OWNER_MAX 253

int net_ipam_init(struct net_ipam *ipam, const char *state_dir, const char *cidr, dd_err *e)
{
    struct net_cidr c;
    memset(ipam, 0, sizeof(*ipam));
    int r = net_cidr_parse(cidr, false, &c, e);
    if (r < 0)
        return r;
    if (c.prefix < 8 || c.prefix > 30)
        return dd_err_set(e, EINVAL, "pod CIDR '%s': prefix must be between 8 and 30", cidr);
    r = dd_mkdir_p(state_dir, 0700, e);
    if (r < 0)
        return dd_err_wrap(e, "creating IPAM state directory");
    ipam->state_dir = dd_strdup(state_dir);
    ipam->cidr = c;
    ipam->cidr.addr = net_cidr_network(&c);
    ipam->gateway = ipam->cidr.addr + 1;
    ipam->first = ipam->cidr.addr + 2;
    ipam->last = (ipam->cidr.addr | ~net_cidr_mask(c.prefix)) - 1;
    return 0;
}

void net_ipam_done(struct net_ipam *ipam)
{
    if (!ipam)
        return;
    free(ipam->state_dir);
    ipam->state_dir = NULL;
}

static int owner_check(const char *owner, dd_err *e)
{
    size_t n = owner ? strlen(owner) : 0;
    if (n == 0 || n > OWNER_MAX || strchr(owner, '\n'))
        return dd_err_set(e, EINVAL, "invalid IPAM owner id '%s'", owner ? owner : "(null)");
    return 0;
}

/* Opens and exclusively locks the state directory; returns the fd. */
static int lock_dir(struct net_ipam *ipam, dd_err *e)
{
    int fd = open(ipam->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return dd_err_sys(e, "opening IPAM directory %s", ipam->state_dir);
    while (flock(fd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            int r = dd_err_sys(e, "locking IPAM directory %s", ipam->state_dir);
            close(fd);
            return r;
        }
    }
    return fd;
}

/* Reads the owner stored in the allocation file name (relative to dirfd) into out. */
static int read_owner(int dirfd, const char *name, char *out, size_t outlen)
{
    _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, out, outlen - 1);
    if (n < 0)
        return -errno;
    out[n] = '\0';
    char *nl = strchr(out, '\n');
    if (nl)
        *nl = '\0';
    return 0;
}

/* Calls fn for every allocation file in the CIDR; stops when fn returns non-zero and returns that
 * value. Removes leftover temporary files on the way. */
typedef int (*entry_fn)(int dirfd, const char *name, uint32_t ip, const char *owner, void *data);
static int scan(struct net_ipam *ipam, int dirfd, entry_fn fn, void *data, dd_err *e)
{
    int dfd = dup(dirfd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return dd_err_sys(e, "reading IPAM directory %s", ipam->state_dir);
    }
    rewinddir(d);
    struct dirent *de;
    int r = 0;
    while (r == 0 && (de = readdir(d))) {
        char owner[OWNER_MAX + 2];
        uint32_t ip;
        if (dd_startswith(de->d_name, ".tmp-")) {
            unlinkat(dirfd, de->d_name, 0);
            continue;
        }
        if (net_ip_parse(de->d_name, &ip, NULL) < 0 || !net_cidr_contains(&ipam->cidr, ip))
            continue;
        if (read_owner(dirfd, de->d_name, owner, sizeof(owner)) < 0)
            continue;
        r = fn(dirfd, de->d_name, ip, owner, data);
    }
    closedir(d);
    return r;
}

struct find {
    const char *owner;
    uint32_t ip;
};

static int find_cb(int dirfd, const char *name, uint32_t ip, const char *owner, void *data)
{
    struct find *f = data;
    if (strcmp(owner, f->owner) != 0)
        return 0;
    f->ip = ip;
    return 1;
}

static int lookup_locked(struct net_ipam *ipam, int dirfd, const char *owner, uint32_t *ret_ip,
                         dd_err *e)
{
    struct find f = {.owner = owner};
    int r = scan(ipam, dirfd, find_cb, &f, e);
    if (r > 0)
        *ret_ip = f.ip;
    return r;
}

int net_ipam_lookup(struct net_ipam *ipam, const char *owner, uint32_t *ret_ip, dd_err *e)
{
    int r = owner_check(owner, e);
    if (r < 0)
        return r;
    _cleanup_close_ int dirfd = lock_dir(ipam, e);
    if (dirfd < 0)
        return dirfd;
    return lookup_locked(ipam, dirfd, owner, ret_ip, e);
}

/* Claims ip for owner through a complete temporary file linked to its final name. Returns 1 if
 * claimed, 0 if the address is taken. */
static int claim(struct net_ipam *ipam, int dirfd, uint32_t ip, const char *owner, dd_err *e)
{
    char name[NET_IP_STRLEN], tmp[64];
    net_ip_format(ip, name);
    if (faccessat(dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        return 0;
    snprintf(tmp, sizeof(tmp), ".tmp-%d-%s", (int)getpid(), name);
    _cleanup_close_ int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return dd_err_sys(e, "writing IPAM entry %s/%s", ipam->state_dir, tmp);
    dd_buf b = DD_BUF_INIT;
    dd_buf_addf(&b, "%s\n", owner);
    int r = dd_write_all(fd, b.data, b.len);
    dd_buf_release(&b);
    if (r < 0 || fsync(fd) < 0) {
        r = dd_err_sys(e, "writing IPAM entry %s/%s", ipam->state_dir, tmp);
        unlinkat(dirfd, tmp, 0);
        return r;
    }
    r = linkat(dirfd, tmp, dirfd, name, 0) < 0 ? -errno : 1;
    unlinkat(dirfd, tmp, 0);
    if (r == -EEXIST)
        return 0;
    if (r < 0)
        return dd_err_set(e, -r, "recording IPAM entry %s/%s: %s", ipam->state_dir, name,
                          strerror(-r));
    fsync(dirfd);
    return 1;
}

int net_ipam_alloc(struct net_ipam *ipam, const char *owner, uint32_t *ret_ip, dd_err *e)
{
    int r = owner_check(owner, e);
    if (r < 0)
        return r;
    _cleanup_close_ int dirfd = lock_dir(ipam, e);
    if (dirfd < 0)
        return dirfd;
    r = lookup_locked(ipam, dirfd, owner, ret_ip, e);
    if (r != 0)
        return r < 0 ? r : 0;
    for (uint32_t ip = ipam->first; ip <= ipam->last; ip++) {
        r = claim(ipam, dirfd, ip, owner, e);
        if (r < 0)
            return r;
        if (r > 0) {
            *ret_ip = ip;
            return 0;
        }
    }
    char s[NET_IP_STRLEN];
    return dd_err_set(e, ENOSPC, "no free address in %s/%d for '%s'",
                      net_ip_format(ipam->cidr.addr, s), ipam->cidr.prefix, owner);
}

struct drop {
    const char *owner; /* drop entries of this owner, or */
    char *const *live; /* entries whose owner is not in live */
    int count;
    int err;
};

static int drop_cb(int dirfd, const char *name, uint32_t ip, const char *owner, void *data)
{
    struct drop *d = data;
    bool drop = d->owner ? strcmp(owner, d->owner) == 0 : !dd_strv_contains(d->live, owner);
    if (!drop)
        return 0;
    if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT) {
        d->err = errno;
        return 1;
    }
    d->count++;
    return 0;
}

static int drop_entries(struct net_ipam *ipam, struct drop *d, dd_err *e)
{
    _cleanup_close_ int dirfd = lock_dir(ipam, e);
    if (dirfd < 0)
        return dirfd;
    int r = scan(ipam, dirfd, drop_cb, d, e);
    if (r < 0)
        return r;
    if (d->err)
        return dd_err_set(e, d->err, "removing IPAM entry in %s: %s", ipam->state_dir,
                          strerror(d->err));
    fsync(dirfd);
    return d->count;
}

int net_ipam_release(struct net_ipam *ipam, const char *owner, dd_err *e)
{
    int r = owner_check(owner, e);
    if (r < 0)
        return r;
    struct drop d = {.owner = owner};
    return drop_entries(ipam, &d, e);
}

int net_ipam_reconcile(struct net_ipam *ipam, char *const *live, dd_err *e)
{
    struct drop d = {.live = live};
    return drop_entries(ipam, &d, e);
}
