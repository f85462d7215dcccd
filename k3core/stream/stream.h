/* stream: the streaming subresources of pods (log, exec, attach, port-forward) as seen from the
 * API server. Prefix: kstream_. The server resolves the pod's container through the kubelet and
 * hands the request to one of these; each finishes the request (a chunked text response, a
 * WebSocket or SPDY session, or a Status error). A pod on another node (a joined `k3core agent`)
 * is reached through that node's kubelet port: the agent serves it with kstream_pod_serve() and
 * the server relays the client's connection there with kstream_proxy().
 */
#ifndef K3CORE_STREAM_H
#define K3CORE_STREAM_H

#include "dind/base.h"
#include "dind/ev.h"
#include "dind/http.h"
#include "k3core/api/objects.h"
#include "k3core/kubelet/kubelet.h"

/* ---- pods/log ---- */
struct kstream_log_opts {
    bool follow, timestamps, previous;
    long tail;           /* -1 = all */
    int64_t since_ns;    /* 0 = unbounded */
    int64_t limit_bytes; /* -1 = unbounded */
    char *container;     /* NULL = default */
};
/* Reads the log query of req (follow, timestamps, previous, tailLines, sinceSeconds | sinceTime,
 * limitBytes, container) like upstream's PodLogOptions validation; 400 Status in st on bad input.
 * now_ns anchors sinceSeconds. */
int kstream_log_opts_parse(http_req *req, int64_t now_ns, struct kstream_log_opts *ret,
                           kobj_status *st);
void kstream_log_opts_release(struct kstream_log_opts *o);
/* Streams the CRI log file at path as 200 text/plain (chunked), honouring tail, since, limit and
 * timestamps, with backpressure. With follow, the response stays open until the container whose
 * rt state directory is state_dir exits (state_dir NULL: until the client leaves). Finishes req. */
int kstream_log_serve(ev_loop *loop, http_req *req, const char *path, const char *state_dir,
                      const struct kstream_log_opts *o, kobj_status *st);

/* ---- exec and attach over WebSocket (v5/v4.channel.k8s.io) or SPDY/3.1 (v4 ... v1) ----
 * exec: argv from the repeated `command` query; attach (argv NULL): the container's shim attach
 * socket. Answers a request that upgrades to neither with 400. Finishes req. */
struct kstream_exec_opts {
    char **argv; /* NULL = attach */
    bool in, out, err, tty;
    char **env;                /* exec: the container's environment (NULL = none) */
    char *user, *cwd;          /* exec: its user and working directory (NULL = defaults) */
    unsigned short rows, cols; /* exec with tty: the initial terminal size (0 = 24x80) */
};
int kstream_exec_serve(ev_loop *loop, http_req *req, const char *state_dir,
                       const struct kstream_exec_opts *o, kobj_status *st);

/* ---- port-forward ----
 * Over SPDY/3.1 (portforward.k8s.io: kubectl <= 1.30), SPDY tunnelled in WebSocket
 * (SPDY/3.1+portforward.k8s.io: kubectl 1.31+) and WebSocket v4.channel.k8s.io
 * (python-kubernetes). netns: the pod's network namespace path; pod: its name, for error
 * messages. Finishes req. */
int kstream_portforward_serve(ev_loop *loop, http_req *req, const char *netns, const char *pod,
                              kobj_status *st);

/* ---- pod.c: a pod run by the kubelet in this process ---- */
enum kstream_kind { KSTREAM_LOG, KSTREAM_EXEC, KSTREAM_ATTACH, KSTREAM_PORTFORWARD };
/* The kind of pods/<sub> ("log", "exec", "attach", "portforward"), or -EINVAL. */
int kstream_kind_of(const char *sub);
/* Serves a stream of pod ns/pod run by kubelet k (NULL: 400, no node here). container: the one
 * named by the path, or NULL to take the query's `container` (then the pod's only container).
 * The query is that of pods/<sub> (log options; command, stdin, stdout, stderr, tty; ports);
 * upstream kubelet's input/output/error are accepted for stdin/stdout/stderr. Finishes req, or
 * returns -1 with st filled (400 for an unknown, ambiguous or waiting container). */
int kstream_pod_serve(ev_loop *loop, kubelet *k, http_req *req, enum kstream_kind kind,
                      const char *ns, const char *pod, const char *container, kobj_status *st);

/* ---- proxy.c: a pod on another node, through its kubelet port ---- */
struct kstream_proxy_target {
    SSL_CTX *tls;       /* verifies the kubelet, presents our client certificate (borrowed) */
    const char *host;   /* the node's InternalIP (an IP literal the certificate must name) */
    int port;           /* its kubelet port */
    const char *target; /* path and query on the kubelet ("/exec/ns/pod/c?command=ls&...") */
};
/* Connects to the kubelet (TLS), sends req's method, req's headers except credentials and
 * hop-by-hop ones, and its body, then relays the kubelet's answer verbatim (head included;
 * a 101 upgrade for exec, attach and port-forward) and bytes both ways, with backpressure and
 * half-close, until either side closes. Until the kubelet's status line arrives, failures
 * answer a Status: 500 "error dialing backend: ..." when it cannot be reached (30 s limit).
 * Returns 0 (req is finished later) or -1 with st filled when nothing was started. */
int kstream_proxy(ev_loop *loop, http_req *req, const struct kstream_proxy_target *t,
                  kobj_status *st);
/* The request head sent to the kubelet (caller frees): method and target, Host, then the
 * client's headers (NULL-terminated name/value pairs) without Host, Authorization,
 * Proxy-Authorization, Cookie, Impersonate-*, framing and hop-by-hop headers; Connection and
 * Upgrade pass only for an upgrade (Connection names "upgrade" and Upgrade is set), else
 * "Connection: close". body_len > 0 adds its Content-Length. */
char *kstream_proxy_head(const char *method, const char *target, const char *host,
                         char *const *headers, size_t body_len);
/* The kubelet's path and query for a stream of pod ns/pod (upstream kubelet's scheme, as
 * upstream's apiserver builds it): /containerLogs/NS/POD/C, /exec/NS/POD/C, /attach/NS/POD/C,
 * /portForward/NS/POD; container NULL or "" leaves the segment out (the kubelet then takes the
 * pod's only container). query: the client's decoded key/value pairs (NULL-terminated), passed
 * on re-encoded without `container`; for exec and attach stdin, stdout and stderr become
 * upstream kubelet's input, output and error. Caller frees. */
char *kstream_kubelet_target(enum kstream_kind kind, const char *ns, const char *pod,
                             const char *container, char *const *query);
/* The status code of a response head's first line ("HTTP/1.1 101 Switching Protocols\r\n"):
 * 100..599, 0 when the line is not complete yet, -EPROTO when it is not an HTTP status line. */
int kstream_proxy_status(const char *data, size_t len);

#endif
