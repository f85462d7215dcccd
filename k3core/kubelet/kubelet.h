/* kubelet: the node agent of `k3core server` (in-process) and of `k3core agent` — registers the
 * Node (capacity, labels, taints, conditions, heartbeat Lease), runs the pods bound to it through
 * libdind's rt, reports their status, and keeps the node's pod network (bridge k3c0 on the
 * Node's podCIDR, routes to the other Nodes' podCIDRs) and the node's cluster DNS (the cluster
 * DNS address as a /32 on k3c0, answered in-process from the service view: dns.c). Prefix:
 * kubelet_.
 *
 * Everything runs on the server's ev loop and talks to the object layer (kobj_) directly: no
 * HTTP round trip. The server creates one kubelet at start unless --disable-agent and keeps it in
 * struct ksrv's `kubelet` field (NULL without an agent).
 *
 * `k3core agent` runs the same kubelet against a remote server (struct kubelet_remote): every
 * call is a blocking HTTPS request on the agent's own loop.
 *
 * On-disk layout under <data-dir>/agent:
 *     images/                 docker-archive tarballs loaded at start (k3s's airgap contract)
 *     images/store/           the libdind image store (img_)
 *     pods/<ns>_<pod>_<uid>/  per pod: netns (bind-mounted network namespace), volumes/,
 *                             <container>/<restart>.log (CRI-format logs)
 *     containers/<rt id>/     rt state directories (one per running container instance)
 *     ipam/                   pod IP allocations on the bridge
 *     (k3core agent only) server-ca.crt, client-kubelet.{crt,key}, serving-kubelet.{crt,key},
 *     node-password           written by the join (k3core/agent/join.c)
 * A container's rt id is "<pod uid>-<container name>-<restart count>".
 */
#ifndef K3CORE_KUBELET_H
#define K3CORE_KUBELET_H

#include <stdbool.h>

#include "dind/base.h"
#include "dind/ev.h"
#include "k3core/api/objects.h"

typedef struct kubelet kubelet;

/* The API calls of a kubelet that runs apart from the server (`k3core agent`): the same contract
 * as the kobj_ functions of the same name, answered by a remote API server over HTTPS
 * (k3core/agent/client.c). Without it the kubelet calls the in-process object layer. */
struct kubelet_remote {
    void *ud;
    int (*get)(void *ud, const kobj_req *req, json_t **ret, kobj_status *st);
    int (*list)(void *ud, const kobj_req *req, const kobj_list_opts *o, json_t **ret,
                kobj_status *st);
    int (*create)(void *ud, const kobj_req *req, const json_t *body, kobj_result *ret,
                  kobj_status *st);
    int (*update)(void *ud, const kobj_req *req, const json_t *body, kobj_result *ret,
                  kobj_status *st);
    int (*del)(void *ud, const kobj_req *req, const json_t *opts, kobj_result *ret,
               kobj_status *st);
    /* Calls changed(cb_ud) on the loop whenever `res` objects (all namespaces) matching
     * field_selector (NULL = all) may have changed; *ret is the handle for unwatch. */
    int (*watch)(void *ud, const kres_resource *res, const char *field_selector,
                 void (*changed)(void *), void *cb_ud, void **ret, dd_err *e);
    void (*unwatch)(void *handle);
};

struct kubelet_config {
    const char *data_dir;      /* --data-dir; the agent uses <data_dir>/agent */
    const char *node_name;     /* --node-name (hostname when NULL) */
    const char *node_ip;       /* InternalIP; NULL = first non-loopback IPv4 */
    char *const *node_labels;  /* --node-label k=v (strv, may be NULL) */
    char *const *node_taints;  /* --node-taint key[=value]:Effect (strv, may be NULL) */
    char *const *kubelet_args; /* --kubelet-arg k=v: only the names kubelet_args_check accepts */
    bool control_plane;        /* adds node-role.kubernetes.io/control-plane=true */
    /* Mints a projected ServiceAccount token (the server's signer); NULL = no token volumes. */
    char *(*mint_token)(void *ud, const char *ns, const char *sa, const char *pod,
                        const char *pod_uid, int64_t expiry_seconds, int64_t *ret_exp);
    void *mint_ud;
    const char *ca_pem;         /* ca.crt of projected token volumes */
    const char *cluster_cidr;   /* --cluster-cidr: pod-to-pod traffic is not masqueraded */
    const char *cluster_dns;    /* pods' nameserver (dnsPolicy ClusterFirst); NULL = 10.43.0.10 */
    const char *cluster_domain; /* NULL = cluster.local */
    /* k3s's registries.yaml (--private-registry) as JSON: mirrors and configs; NULL = none. */
    const json_t *registries;
    /* --image-store: another process's libdind image store (dindd's <data-root>/image) opened
     * read-only; its images count as present, so nothing needs importing. NULL = none. */
    const char *image_store;
    /* Set for `k3core agent`: API calls go to a remote server, pods are found by polling (no
     * in-process watch) and the scheduler is not run here (the server's agent runs it). */
    const struct kubelet_remote *remote;
};

#define KUBELET_DEFAULT_PORT 10250
/* The kubelet port (--kubelet-arg port=N, default 10250) published in the Node's
 * status.daemonEndpoints.kubeletEndpoint.Port; `k3core agent` serves streams on it. */
int kubelet_port(const struct kubelet_config *cfg);

/* Validates --node-label/--node-taint/--kubelet-arg values; -EINVAL naming the bad one. */
int kubelet_config_check(const struct kubelet_config *cfg, dd_err *e);

/* Registers the Node, loads image tarballs, starts the pod watch, the scheduler and the
 * heartbeat timers on loop. api is NULL when cfg->remote is set. The pod bridge k3c0 is set up
 * once the server has assigned the Node's spec.podCIDR (pods wait until then), and routes to
 * every other Node's podCIDR via its InternalIP are kept in step with the Nodes (routes.c). */
int kubelet_start(ev_loop *loop, kobj_api *api, const struct kubelet_config *cfg, kubelet **ret,
                  dd_err *e);
/* Stops every pod's containers and removes their netns mounts, cgroups and rootfs mounts (the
 * pods' objects stay in the store), then frees k. NULL-safe. */
void kubelet_stop(kubelet *k);

/* For the streaming endpoints (pods/log, exec, attach, port-forward): the current instance of
 * container `container` of pod ns/pod on this node. container NULL = the pod's only container
 * (-EINVAL "a container name must be specified for pod P, choose one of: [a b]" otherwise).
 * Each ret_ may be NULL; the strings are the caller's to free:
 *     ret_rt_id      the rt container id (its state dir is <agent>/containers/<id>)
 *     ret_state_dir  the rt state directory (pass to rt_exec, rt_attach_connect, rt_state)
 *     ret_log_path   the CRI log file of the current instance (RT_LOG_CRI format)
 * Errors: -ENOENT "pod P not found on this node" / "container C is not valid for pod P";
 * -EAGAIN "container C in pod P is waiting to start" when no instance was created yet. */
int kubelet_container_ref(kubelet *k, const char *ns, const char *pod, const char *container,
                          char **ret_rt_id, char **ret_state_dir, char **ret_log_path, dd_err *e);
/* The current instance's process environment, user and working directory (strings and strv
 * the caller's), which `kubectl exec` commands run with, as a container runtime's exec does. */
int kubelet_container_process(kubelet *k, const char *ns, const char *pod, const char *container,
                              char ***ret_env, char **ret_user, char **ret_cwd, dd_err *e);
/* Same for the previous (terminated) instance, for `logs --previous`: its log path; -ENOENT
 * "previous terminated container C in pod P not found" when it never restarted. */
int kubelet_previous_log(kubelet *k, const char *ns, const char *pod, const char *container,
                         char **ret_log_path, dd_err *e);
/* The pod's network namespace path (bind mount), for port-forward; -ENOENT when not running. */
int kubelet_pod_netns(kubelet *k, const char *ns, const char *pod, char **ret_path, dd_err *e);

/* ---- the node's view of Services and EndpointSlices (svcview.c), for node add-ons ----
 * Cluster-wide, kept current by watches (in-process or from the remote server), trimmed to what
 * the add-ons need: a Service keeps metadata {name, namespace} and its whole spec; an
 * EndpointSlice keeps metadata {name, namespace, labels {kubernetes.io/service-name}},
 * addressType, ports, and per endpoint addresses, conditions, hostname, nodeName and targetRef
 * {kind, namespace, name}. Objects are borrowed: valid until the loop runs again, never to be
 * modified. The view lives from kubelet_start to kubelet_stop. */
typedef struct ksvc_view ksvc_view;
typedef void (*ksvc_changed_fn)(void *ud);
/* The kubelet's view; NULL before it started (or for k NULL). */
ksvc_view *kl_service_view(kubelet *k);
/* Object "namespace/name" -> Service (borrowed). */
const json_t *ksvc_services(const ksvc_view *v);
/* Object "namespace/name" -> EndpointSlice (borrowed). */
const json_t *ksvc_slices(const ksvc_view *v);
/* fn(ud) is called on the loop after the view changed: coalesced (one call for a burst of
 * changes, ~20 ms later), never from inside a watch callback. A subscriber reads the current
 * state itself when it subscribes; the call only says "look again". */
void ksvc_subscribe(ksvc_view *v, ksvc_changed_fn fn, void *ud);
/* Removes the subscription (fn, ud); NULL-safe and a no-op when absent. */
void ksvc_unsubscribe(ksvc_view *v, ksvc_changed_fn fn, void *ud);
/* The trimmed copies the view keeps (new references), for tests and other holders. */
json_t *ksvc_trim_service(const json_t *svc);
json_t *ksvc_trim_slice(const json_t *slice);

#endif
