/* rt's use of the cgroup module (cgroup.c in rt): one cgroup <cgroup_parent>/<id> per container
 * with the spec's limits and device rules, created by rt_create, entered by the container's PID 1
 * (from the shim) and by rt_exec's processes, removed by rt_delete. All are no-ops (success,
 * "not OOM-killed", no pids) for a spec without cgroup_parent. */
#ifndef DIND_RT_CGROUP_H
#define DIND_RT_CGROUP_H

#include "dind/lib/rt/rt-internal.h"

int rt_cgroup_create(const struct rt_spec *s, dd_err *e);
int rt_cgroup_enter(const char *state_dir, const struct rt_spec *s, pid_t pid, dd_err *e);
bool rt_cgroup_oom_killed(const char *state_dir, const struct rt_spec *s);
int rt_cgroup_destroy(const struct rt_spec *s, dd_err *e);
/* -ENOENT when the spec has no cgroup. */
int rt_cgroup_pids(const struct rt_spec *s, pid_t **ret_pids, size_t *ret_n, dd_err *e);

#endif
