/* proxyrules: the service proxy's rule set (kube-proxy's iptables mode) as a pure function of
 * the node's service view, for iptables-restore. Prefix: kpx_.
 */
#ifndef K3CORE_KUBELET_PROXYRULES_H
#define K3CORE_KUBELET_PROXYRULES_H

#include "dind/json.h"

/* The entry chains (without the prefix) the caller jumps to from built-in chains:
 *     nat PREROUTING, nat OUTPUT       -> SERVICES
 *     nat POSTROUTING                  -> POSTROUTING
 *     filter INPUT, FORWARD, OUTPUT    -> FILTER (for new connections only) */
#define KPX_SERVICES    "SERVICES"
#define KPX_POSTROUTING "POSTROUTING"
#define KPX_FILTER      "FILTER"

struct kpx_opts {
    const char *prefix;       /* every chain's name starts with it, e.g. "K3D-k3c0-" */
    const char *cluster_cidr; /* pod network; other sources are masqueraded (NULL: none is) */
    const char *skip_ip;      /* a ClusterIP that gets no rules (the node-local cluster DNS) */
    const char *node_name;    /* this node: endpoints of externalTrafficPolicy Local (NULL: none) */
};

/* services, slices: the view's objects ("ns/name" -> trimmed Service / EndpointSlice). Returns
 * the iptables-restore text of tables nat and filter (caller frees). Deterministic: the same
 * view gives the same text. */
char *kpx_rules(const json_t *services, const json_t *slices, const struct kpx_opts *o);

#endif
