/* podspec: the one translation of a PodSpec container into an rt_spec, with the pieces kept
 * pure (no I/O) for unit tests: command/args merged with the image's Entrypoint/Cmd, `$(VAR)`
 * expansion, capabilities, resources. Prefix: kps_.
 */
#ifndef K3CORE_KUBELET_PODSPEC_H
#define K3CORE_KUBELET_PODSPEC_H

#include "dind/json.h"
#include "dind/rt.h"

/* Upstream's expansion: $(VAR) → value when VAR is in env ("K=V" strv), else left as is;
 * $$ → $; other text unchanged. Caller frees. */
char *kps_expand(const char *s, char *const *env);

/* argv like the kubelet: command replaces Entrypoint (and drops Cmd), args replaces Cmd; both
 * expanded. -EINVAL when nothing is left to run. */
int kps_argv(const json_t *ctr, const json_t *runconfig, char *const *env, char ***ret, dd_err *e);

/* Every input kps_build needs, resolved by the caller. */
struct kps_in {
    const json_t *pod, *ctr;
    const json_t *runconfig; /* image config "config" (may be NULL) */
    char *const *lower_dirs; /* image layers, top first */
    char *const *env;        /* resolved environment ("K=V"), image env first */
    const char *id, *upper_dir, *work_dir, *log_path, *cgroup_parent;
    const char *netns, *ipcns, *utsns;
    const char *pidns; /* join this PID namespace (an ephemeral container's target), or NULL */
    const struct rt_mount *mounts;
    size_t n_mounts;
};
int kps_build(const struct kps_in *in, struct rt_spec *ret, dd_err *e);

/* requests/limits → rt_resources (memory limit, cpu quota from limits.cpu, shares from
 * requests.cpu). -EINVAL on an unparsable quantity. */
int kps_resources(const json_t *resources, struct rt_resources *ret, dd_err *e);

/* status.qosClass as upstream computes it from cpu and memory of every container (init ones
 * included): BestEffort without any, Guaranteed when every container limits both and the
 * requests equal the limits, else Burstable. */
const char *kps_qos_class(const json_t *spec);

#endif
