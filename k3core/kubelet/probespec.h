/* probespec: the pure half of container probes and lifecycle hooks, kept free of I/O for unit
 * tests: a Probe or LifecycleHandler object parsed into a struct (a named port resolved against
 * the container's ports), upstream's threshold state machine (prober/worker.go), the HTTP
 * request a probe sends and its status-line parser. Prefix: kpr_.
 */
#ifndef K3CORE_KUBELET_PROBESPEC_H
#define K3CORE_KUBELET_PROBESPEC_H

#include "dind/json.h"

enum kpr_action {
    KPR_NONE = 0, /* no handler at all: parse fails */
    KPR_EXEC,
    KPR_HTTP,
    KPR_TCP,
    KPR_GRPC,  /* answered with a "not supported" error at probe time */
    KPR_SLEEP, /* lifecycle.sleep */
};

/* One handler: exec, httpGet, tcpSocket, grpc or sleep. */
struct kpr_handler {
    enum kpr_action action;
    char **cmd;     /* exec.command (strv) */
    char *host;     /* httpGet.host / tcpSocket.host; NULL = the pod IP */
    int port;       /* resolved number (1..65535) */
    char *path;     /* httpGet.path, "/" when empty */
    bool https;     /* scheme HTTPS */
    char **headers; /* httpGet.httpHeaders as "Name: value" (strv) */
    int sleep_seconds;
};

struct kpr_probe {
    struct kpr_handler h;
    /* Seconds and counts with upstream's defaults (0, 10, 1, 1, 3) where unset or <= 0. */
    int initial_delay, period, timeout, success_threshold, failure_threshold;
    int64_t termination_grace; /* probe-level terminationGracePeriodSeconds, -1 unset */
};

/* Parses a LifecycleHandler (or a probe's handler part). ctr: the container, for named ports.
 * -EINVAL with a message naming what is wrong (no handler, unknown port name, bad port). */
int kpr_handler_parse(const json_t *h, const json_t *ctr, struct kpr_handler *ret, dd_err *e);
void kpr_handler_release(struct kpr_handler *h);
int kpr_probe_parse(const json_t *probe, const json_t *ctr, struct kpr_probe *ret, dd_err *e);
void kpr_probe_release(struct kpr_probe *p);

enum kpr_result { KPR_UNKNOWN = 0, KPR_SUCCESS, KPR_FAILURE };

/* Upstream's worker state: `result` is what the kubelet acts on; it changes only after
 * successThreshold consecutive successes or failureThreshold consecutive failures. */
struct kpr_state {
    enum kpr_result result;
    enum kpr_result last; /* the latest raw outcome */
    int run;              /* consecutive raw outcomes equal to last */
};
/* Feeds one raw outcome; true when state->result was set (it may be the same value). */
bool kpr_record(struct kpr_state *s, const struct kpr_probe *p, enum kpr_result outcome);

/* The request an httpGet handler sends to host:port (host: the address connected to): GET,
 * Host, User-Agent kube-probe/1.33 and Accept unless httpHeaders set them, Connection: close. */
char *kpr_http_request(const struct kpr_handler *h, const char *host);
/* The status code of a response's first line once it is complete; 0 while incomplete; -1 when
 * it is not an HTTP/1.x status line. */
int kpr_http_status(const char *buf, size_t len);

enum kpr_kind { KPR_STARTUP = 0, KPR_LIVENESS, KPR_READINESS, KPR_N_KINDS };
/* The spec field ("startupProbe") and the word upstream's events use ("Startup"). */
const char *kpr_kind_field(enum kpr_kind kind);
const char *kpr_kind_title(enum kpr_kind kind);

#endif
