/* kubelet-internal: state shared by the kubelet's files (kubelet.c: start/stop and the pod
 * table; node.c: Node, Lease, heartbeats; pod.c: one pod's sync; podspec.c: PodSpec container →
 * rt_spec; sandbox.c: pod namespaces; kapi.c: small object-layer helpers). Prefix: kl_.
 */
#ifndef K3CORE_KUBELET_INTERNAL_H
#define K3CORE_KUBELET_INTERNAL_H

#include "dind/image.h"
#include "dind/net.h"
#include "dind/rt.h"
#include "k3core/kubelet/kubelet.h"
#include "k3core/kubelet/probespec.h"

struct kl_prober;
struct kl_hrun;

/* One instance-independent container slot of a pod (init or regular). */
struct kl_ctr {
    kubelet *k;
    struct kl_pod *pod;
    json_t *spec; /* the container's spec (own reference) */
    char *name;
    bool init;
    bool sidecar;    /* an init container with restartPolicy Always (native sidecar) */
    bool sidecar_up; /* the sidecar has started once: later init containers may run */
    bool ephemeral;  /* spec.ephemeralContainers: runs once, never restarted */
    int restarts;    /* instances started before the current one */
    char *rt_id;     /* current instance, NULL when none exists */
    char *state_dir; /* <agent>/containers/<rt_id> */
    char *log_path;  /* log of the current (or last) instance */
    char *prev_log;  /* log of the previous instance */
    char *image_id;
    json_t *state;            /* containerStatus.state, owned */
    json_t *last_state;       /* lastState, owned */
    bool done;                /* init container finished with 0 */
    int64_t backoff_until_ns; /* do not restart before this (CrashLoopBackOff) */
    int64_t backoff_ns;       /* the next back-off step */
    int64_t backoff_step_ns;  /* the step now being waited out */
    int watch_fd;
    ev_io *watch;
    int exit_code;   /* of the last terminated instance */
    int pull_failed; /* consecutive image lookups that failed */
    bool pull_reported, created, restart_pending;
    char **env;                             /* the instance's environment (exec probes) */
    char *user, *cwd;                       /* its process user and working dir (exec probes) */
    struct kl_prober *probers[KPR_N_KINDS]; /* of the current instance; NULL = none */
    bool started_ok;                        /* startup probe passed (or there is none) */
    struct kpr_handler hook_h;              /* the postStart/preStop handler being run */
    struct kl_hrun *hook;                   /* postStart or preStop in flight */
    bool stopping;                          /* kl_ctr_stop() was called for this instance */
    ev_timer *kill_timer;                   /* SIGKILL at the end of the grace period */
    int64_t stop_deadline_ns;
};

struct kl_pod {
    struct kl_pod *next;
    kubelet *k;
    char *ns, *name, *uid;
    char *dir;             /* <agent>/pods/<ns>_<name>_<uid> */
    char *netns;           /* bind-mounted namespaces, NULL before the sandbox exists */
    int64_t volumes_at_ns; /* when the payload volumes were last brought up to date */
    bool host_net;         /* spec.hostNetwork: the node's network and UTS namespaces */
    bool host_ports;       /* hostPort rules were installed for this pod */
    char *ipcns, *utsns;
    char pod_ip[NET_IP_STRLEN]; /* eth0 on the node bridge; "" before attach */
    json_t *obj;                /* the newest Pod object, owned */
    struct kl_ctr *ctrs;
    size_t n_ctrs;
    struct kl_ctr **eph; /* ephemeral containers, each allocated alone (added while others run) */
    size_t n_eph;
    int64_t start_ns;
    bool killing;
    int64_t kill_deadline_ns;
    bool seen;
    bool failed_final;  /* phase reached Failed/Succeeded: nothing more runs */
    char **events_sent; /* "reason/message" keys emitted once */
};

struct kubelet {
    ev_loop *loop;
    kobj_api *api;                       /* in-process object layer, or NULL with remote */
    const struct kubelet_remote *remote; /* `k3core agent`: the API server over HTTPS */
    char *node_name, *node_ip, *agent_dir, *images_dir;
    char *pod_cidr, *ipam_dir, *cluster_cidr;
    char *cluster_dns, *cluster_domain;
    struct net_bridge_cfg net; /* the node's pod bridge (strings point into k) */
    bool net_up;               /* net_bridge_setup succeeded: stop tears it down */
    char **routes;             /* "<podCIDR> via <InternalIP>" routes this kubelet installed */
    int64_t routes_synced_ns;
    bool pods_tmpfs; /* <agent>/pods is our tmpfs (data dir on overlayfs): stop unmounts it */
    char **labels, **taints;
    bool control_plane;
    int max_pods;
    int port; /* status.daemonEndpoints.kubeletEndpoint.Port */
    char *(*mint_token)(void *, const char *, const char *, const char *, const char *, int64_t,
                        int64_t *);
    void *mint_ud;
    char *ca_pem;
    img_store *images;
    img_store *shared_images; /* --image-store, read-only; NULL = none */
    struct kl_pulls *pulls;   /* pull.c's image manager */
    ev_timer *hb_timer, *sync_timer;
    kobj_watch *pod_watch, *node_watch; /* in-process */
    void *rpod_watch, *rnode_watch;     /* remote (kubelet_remote.watch) */
    struct kl_pod *pods;
    int64_t start_ns;
    bool stopping;
    void *events_seen; /* kapi.c's cache of recent Events (aggregation) */
    void *probe_tls;   /* handler.c's SSL_CTX for HTTPS probes, created on first use */
    size_t events_next;
    int64_t localpath_next_ns; /* localpath.c: the next sweep of its records */
    ksvc_view *svcview;        /* svcview.c: Services and EndpointSlices */
    char *proxy_rules;         /* proxy.c: the rule text installed, NULL = none */
    bool proxy_dirty;          /* the view changed since proxy_rules was rendered */
    bool proxy_failed;         /* the last apply failed (warned once) */
    struct kl_dns *dns;        /* dns.c's server, once the pod bridge is up */
};

#define SVC_NAME_LABEL "kubernetes.io/service-name"

/* ---- svcview.c ---- */
/* Starts k->svcview (the first state is loaded before it returns, except that a failed remote
 * list is retried in the background). */
int kl_svcview_start(kubelet *k, dd_err *e);
void kl_svcview_stop(ksvc_view *v); /* NULL-safe */

/* ---- proxy.c: the service proxy ---- */
void kl_proxy_start(kubelet *k); /* after kl_svcview_start */
void kl_proxy_sync(kubelet *k);  /* installs the rules when owed and the bridge is up */
void kl_proxy_stop(kubelet *k);  /* removes our chains; before kl_svcview_stop */

/* ---- dns.c: the node's cluster DNS on the cluster DNS address (a /32 on the pod bridge) */
/* Adds the address to the bridge and starts answering on it; 0 if already running. */
int kl_dns_start(kubelet *k, dd_err *e);
void kl_dns_stop(kubelet *k); /* closes the sockets and removes the address */

/* ---- localpath.c: removing local-path directories this node created, once their volume is gone */
void kl_localpath_created(kubelet *k, const json_t *pv, const char *path);
void kl_localpath_sweep(kubelet *k); /* from the sync loop; rate-limited itself */

/* ---- kapi.c: object-layer helpers (errors logged, not fatal) ---- */
/* The kobj_ calls, sent to the remote server when k->remote is set. */
int kl_api_get(kubelet *k, const kobj_req *req, json_t **ret, kobj_status *st);
int kl_api_list(kubelet *k, const kobj_req *req, const kobj_list_opts *o, json_t **ret,
                kobj_status *st);
int kl_api_create(kubelet *k, const kobj_req *req, const json_t *body, kobj_result *ret,
                  kobj_status *st);
int kl_api_update(kubelet *k, const kobj_req *req, const json_t *body, kobj_result *ret,
                  kobj_status *st);
int kl_api_delete(kubelet *k, const kobj_req *req, const json_t *opts, kobj_result *ret,
                  kobj_status *st);
const kres_resource *kl_res(const char *group, const char *resource);
json_t *kl_get(kubelet *k, const char *group, const char *res, const char *ns, const char *name);
int kl_put_status(kubelet *k, const char *ns, const char *name, json_t *status);
void kl_event(kubelet *k, const json_t *obj, const char *type, const char *reason, const char *fmt,
              ...) DD_PRINTF(5, 6);
void kl_events_free(kubelet *k);
char *kl_now_rfc3339(void);
/* Keeps lastTransitionTime of conditions whose status did not change (old: previous array). */
void kl_keep_transitions(json_t *conds, const json_t *old);
char *kl_rfc3339(int64_t ns); /* "2026-01-01T00:00:00Z" */
const char *kl_str(const json_t *obj, const char *k1, const char *k2);

/* ---- node.c ---- */
int kl_node_register(kubelet *k, dd_err *e);
void kl_node_heartbeat(kubelet *k);

/* ---- routes.c: the pod network between nodes ---- */
/* Sets the bridge up once the Node has a podCIDR and syncs the routes to the other Nodes'
 * podCIDRs (at most every 2 s unless force). Returns true when the bridge is up. */
bool kl_net_sync(kubelet *k, bool force);
/* Removes every route this kubelet installed. */
void kl_routes_clear(kubelet *k);

/* ---- sandbox.c ---- */
int kl_sandbox_create(struct kl_pod *p, dd_err *e);
void kl_sandbox_destroy(struct kl_pod *p);

/* ---- pull.c: imagePullPolicy, registry pulls on worker threads, pull secrets ---- */
/* registries: k3s's registries.yaml as JSON (NULL = none). */
int kl_pulls_start(kubelet *k, const json_t *registries, dd_err *e);
void kl_pulls_stop(kubelet *k);
/* The container's image per its pull policy: 0 with *ret, or -ENOENT with c->state set to
 * waiting (ContainerCreating while a pull runs, ErrImagePull, ImagePullBackOff,
 * ErrImageNeverPull) and the events emitted; a finished pull triggers a sync. */
int kl_image_ensure(struct kl_ctr *c, const char *image, img_image **ret);
/* The image in the kubelet's own store, else in the shared read-only one (--image-store). */
int kl_image_lookup(kubelet *k, const char *image, img_image **ret);

/* ---- ctr.c ---- */
int kl_ctr_start(struct kl_ctr *c);
int kl_ctr_check(struct kl_ctr *c); /* 1 when the instance exited (now terminated) */
void kl_ctr_remove(struct kl_ctr *c);

/* ---- handler.c: one exec/httpGet/tcpSocket handler run, never blocking the loop ---- */
/* res: KPR_SUCCESS, KPR_FAILURE (msg = output or Go-style error text), KPR_UNKNOWN with
 * errored (msg = why it could not run) or KPR_UNKNOWN without (the container is not running).
 * exit_code: an exec handler's exit code (128 + signal), else -1.
 * Called once, from a later loop callback. */
typedef void (*kl_hrun_fn)(void *ud, enum kpr_result res, bool errored, int exit_code,
                           const char *msg);
/* timeout_s <= 0: no time limit. h must outlive the run. */
struct kl_hrun *kl_hrun_start(struct kl_ctr *c, const struct kpr_handler *h, int timeout_s,
                              kl_hrun_fn done, void *ud);
void kl_hrun_cancel(struct kl_hrun *r); /* NULL-safe; done is not called */
void kl_handler_tls_free(kubelet *k);

/* ---- probe.c: probes, postStart/preStop hooks, stopping one container ---- */
/* After rt_start: runs postStart if any, then marks the container running and starts probes. */
void kl_ctr_started(struct kl_ctr *c);
/* preStop (bounded by grace_s), then the stop signal, SIGKILL when grace_s has passed. */
void kl_ctr_stop(struct kl_ctr *c, int64_t grace_s);
/* Cancels probes, hooks and the kill timer of the current instance. */
void kl_ctr_runtime_stop(struct kl_ctr *c);
bool kl_ctr_is_ready(const struct kl_ctr *c);   /* containerStatuses[].ready */
bool kl_ctr_is_started(const struct kl_ctr *c); /* containerStatuses[].started */

/* ---- env.c / volumes.c ---- */
int kl_env(struct kl_pod *p, const json_t *ctr, const json_t *runconfig, char ***ret, dd_err *e);
char *kl_resource_value(struct kl_pod *p, const json_t *ref, const json_t *ctr);
int kl_volumes_setup(struct kl_pod *p, dd_err *e);
void kl_volumes_teardown(struct kl_pod *p);
/* Brings configMap, secret, downwardAPI and projected volumes (and the ServiceAccount token) up
 * to date, atomically per volume; a failing source keeps its last content. */
void kl_volumes_refresh(struct kl_pod *p);
int kl_volume_mounts(struct kl_pod *p, const json_t *ctr, struct rt_mount **ret, size_t *ret_n,
                     dd_err *e);
void kl_mounts_free(struct rt_mount *m, size_t n);

/* ---- pod.c ---- */
struct kl_pod *kl_pod_new(kubelet *k, json_t *obj);
/* A container record for spec (init: an init container) in its first waiting state. */
void kl_ctr_init(struct kl_pod *p, struct kl_ctr *x, const json_t *spec, bool init);
void kl_ctr_release(struct kl_ctr *c);
json_t *kl_ctr_status(struct kl_ctr *c); /* one containerStatuses entry */
/* Every container of the pod, ephemeral ones after the others: i < kl_pod_n_all(p). */
static inline size_t kl_pod_n_all(const struct kl_pod *p)
{
    return p->n_ctrs + p->n_eph;
}
static inline struct kl_ctr *kl_pod_ctr(struct kl_pod *p, size_t i)
{
    return i < p->n_ctrs ? &p->ctrs[i] : p->eph[i - p->n_ctrs];
}
/* ephemeral.c: adds the ephemeral containers new in the spec and starts each once. */
void kl_eph_sync(struct kl_pod *p);
/* status.ephemeralContainerStatuses, or NULL when the pod has none. */
json_t *kl_eph_statuses(struct kl_pod *p);
/* "/proc/<pid>/ns/pid" of the container named by targetContainerName, NULL without one;
 * -ESRCH when that container is not running. */
int kl_eph_target_pidns(struct kl_ctr *c, char **ret, dd_err *e);
/* One step of the pod's state machine; returns true when the pod is gone for good. */
bool kl_pod_sync(struct kl_pod *p);
/* Kills everything now (kubelet shutdown, or the object vanished); frees p. */
void kl_pod_teardown(struct kl_pod *p);
void kl_pod_cleanup(struct kl_pod *p); /* teardown without freeing */
void kl_pod_free(struct kl_pod *p);
void kl_sync_soon(kubelet *k);

#endif
