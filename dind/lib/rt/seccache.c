/* Docker's default seccomp profile, compiled once per capability set and loaded many times.
 * Building the profile with libseccomp costs tens of milliseconds of CPU, more than the rest of
 * a container start; so rt_create compiles it in the daemon (cached in memory per capability
 * set), stores the BPF program as <state_dir>/seccomp.bpf, and the container's PID 1 and every
 * rt_exec process load those bytes with one seccomp(2) call. The program is what libseccomp's
 * own seccomp_load() would install (same filter, no no_new_privs), so behaviour is unchanged. */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sys/syscall.h>

#include "dind/lib/rt/rt-internal.h"

struct cached {
    uint64_t caps;
    void *prog;
    size_t len;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct cached cache[8];
static size_t n_cache, next_evict;

int rt_seccomp_bpf_get(uint64_t caps, void **ret, size_t *ret_len, dd_err *e)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n_cache; i++) {
        if (cache[i].caps == caps) {
            *ret = dd_malloc(cache[i].len);
            memcpy(*ret, cache[i].prog, cache[i].len);
            *ret_len = cache[i].len;
            pthread_mutex_unlock(&lock);
            return 0;
        }
    }
    pthread_mutex_unlock(&lock);
    void *prog = NULL;
    size_t len = 0;
    int r = rt_seccomp_export_default(caps, &prog, &len, e);
    if (r < 0)
        return r;
    if (len == 0 || len % sizeof(struct sock_filter) != 0) {
        free(prog);
        return dd_err_set(e, EINVAL, "seccomp: the exported filter has an odd size");
    }
    pthread_mutex_lock(&lock);
    size_t slot = n_cache < DD_ARRAY_SIZE(cache) ? n_cache++ : next_evict++ % DD_ARRAY_SIZE(cache);
    free(cache[slot].prog);
    cache[slot] = (struct cached){caps, dd_malloc(len), len};
    memcpy(cache[slot].prog, prog, len);
    pthread_mutex_unlock(&lock);
    *ret = prog;
    *ret_len = len;
    return 0;
}

int rt_seccomp_bpf_read(const char *state_dir, void **ret, size_t *ret_len, dd_err *e)
{
    _cleanup_free_ char *path = dd_path_join(state_dir, RT_FILE_SECCOMP);
    char *data = NULL;
    size_t len = 0;
    int r = dd_read_file(path, 1 << 20, &data, &len, e);
    if (r == -ENOENT) {
        dd_err_clear(e);
        *ret = NULL;
        *ret_len = 0;
        return 0;
    }
    if (r < 0)
        return r;
    *ret = data;
    *ret_len = len;
    return 0;
}

int rt_seccomp_bpf_load(const void *prog, size_t len, dd_err *e)
{
    if (len == 0 || len % sizeof(struct sock_filter) != 0 ||
        len / sizeof(struct sock_filter) > BPF_MAXINSNS)
        return dd_err_set(e, EINVAL, "seccomp: invalid filter program");
    struct sock_fprog fprog = {.len = (unsigned short)(len / sizeof(struct sock_filter)),
                               .filter = (struct sock_filter *)prog};
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) < 0)
        return dd_err_sys(e, "loading the seccomp filter");
    return 0;
}
