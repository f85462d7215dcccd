/* scheduler: binds pending pods to nodes, like upstream's default-scheduler with its filter
 * plugins NodeUnschedulable, NodeName, NodeAffinity (nodeSelector and required node affinity
 * matchExpressions/matchFields), TaintToleration (NoSchedule/NoExecute) and NodeResourcesFit
 * (cpu, memory, ephemeral-storage and pod count against allocatable minus the pods already
 * bound). Prefix: ksched_.
 *
 * The predicates are pure functions over JSON objects (unit-tested); ksched_run() is one pass
 * over the store: every pod with no spec.nodeName and schedulerName default-scheduler is bound
 * through the pods/binding subresource (PodScheduled True + a Scheduled event), or gets
 * PodScheduled False/Unschedulable and a FailedScheduling event with upstream's message
 * ("0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. ...").
 */
#ifndef K3CORE_SCHEDULER_H
#define K3CORE_SCHEDULER_H

#include <stdbool.h>

#include "dind/json.h"
#include "k3core/api/objects.h"
#include "k3core/kubelet/kubelet.h"

/* Each returns NULL when the node passes, else upstream's reason text for the summary
 * ("node(s) didn't match Pod's node affinity/selector"); the caller frees it. */
char *ksched_check_unschedulable(const json_t *pod, const json_t *node);
char *ksched_check_affinity(const json_t *pod, const json_t *node);
char *ksched_check_taints(const json_t *pod, const json_t *node);
/* volumes: claim name → its bound PersistentVolume (node affinity checked), null (unbound, no
 * constraint yet) or a string (why no node fits, e.g. the claim does not exist). */
char *ksched_check_volumes(const json_t *volumes, const json_t *node);
/* bound: a JSON array of pods already on the node (finished ones are skipped). */
char *ksched_check_resources(const json_t *pod, const json_t *node, const json_t *bound);
/* NodePorts: a hostPort (protocol, hostIP overlapping) already used by a running pod in bound. */
char *ksched_check_ports(const json_t *pod, const json_t *bound);

/* All predicates in upstream's order; NULL when the node fits. */
char *ksched_filter(const json_t *pod, const json_t *node, const json_t *bound);

/* "0/N nodes are available: 1 node(s) ..., 2 Insufficient cpu. preemption: ..." from one
 * reason per node (reasons[i] NULL = fit; sorted and counted like upstream). */
char *ksched_summary(char *const *reasons, size_t n_nodes);

/* One scheduling pass; events are recorded through the kubelet k (NULL = no events). */
void ksched_run(kobj_api *api, kubelet *k);

#endif
