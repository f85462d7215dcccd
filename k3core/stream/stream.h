/* stream: the streaming subresources of pods (log, exec, attach, port-forward) as seen from the
 * API server. Prefix: kstream_. The server resolves the pod's container through the kubelet and
 * hands the request to one of these; each finishes the request (a chunked text response, a
 * WebSocket or SPDY session, or a Status error).
 */
#ifndef K3CORE_STREAM_H
#define K3CORE_STREAM_H

#include "dind/base.h"
#include "dind/ev.h"
#include "dind/http.h"
#include "k3core/api/objects.h"

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

#endif
