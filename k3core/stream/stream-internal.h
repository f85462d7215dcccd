/* stream-internal.h: what the transports of k3core/stream share. The exec/attach core (exec.c)
 * runs the process or talks to the shim and knows nothing of the wire; the WebSocket channel
 * transport (exec-ws.c) and the SPDY transport (exec-spdy.c) drive it. kspdy (spdy-conn.c) puts
 * a spdy_session on an upgraded connection, raw or tunnelled in WebSocket binary messages.
 */
#ifndef K3CORE_STREAM_INTERNAL_H
#define K3CORE_STREAM_INTERNAL_H

#include <jansson.h>

#include "dind/spdy.h"
#include "dind/ws.h"
#include "k3core/stream/stream.h"

/* ---- exec/attach core ---- */

struct kexec;
typedef struct kexec_sink {
    /* Output of the process: ch 1 stdout, 2 stderr. Returns 1 when the transport is full (the
     * core stops reading until kexec_resume()), else 0 or a negative errno. */
    int (*output)(void *ud, unsigned ch, const void *data, size_t len);
    /* The process exited (attach: the stream ended) and all its output was handed over. code:
     * exit code (128 + signal), -1 unknown. Called once; the transport then ends the session and
     * calls kexec_stop() (it may do so inside this callback). */
    void (*done)(void *ud, int code);
    /* Stop (true) or resume (false) reading the client: the process is not taking its stdin. */
    void (*pause_input)(void *ud, bool paused);
} kexec_sink;

/* Starts the command of o (or attaches when o->argv is NULL) in the container whose rt state
 * directory is dir. NULL with e filled on failure. */
struct kexec *kexec_start(ev_loop *loop, const char *dir, const struct kstream_exec_opts *o,
                          const kexec_sink *sink, void *ud, dd_err *e);
void kexec_input(struct kexec *k, const void *data, size_t len);
/* End of stdin (a pty gets ^D; attach tells the shim). */
void kexec_input_close(struct kexec *k);
/* A terminal size as JSON {"Width":w,"Height":h}; invalid ones are ignored. */
void kexec_resize_json(struct kexec *k, const void *json, size_t len);
/* The transport drained: read output again. */
void kexec_resume(struct kexec *k);
/* Ends everything: kills a process still running, stops watchers, frees later. No callback
 * runs afterwards. Safe with NULL and inside the sink's callbacks. */
void kexec_stop(struct kexec *k);
/* The v4/v5 Status for an exit code (Success, or NonZeroExitCode with an ExitCode cause). */
json_t *kexec_exit_status(int code);

/* exec over WebSocket channels (exec-ws.c) and over SPDY (exec-spdy.c). */
int kstream_exec_ws(ev_loop *loop, http_req *req, const char *dir,
                    const struct kstream_exec_opts *o, kobj_status *st);
int kstream_exec_spdy(ev_loop *loop, http_req *req, const char *dir,
                      const struct kstream_exec_opts *o, kobj_status *st);

/* ---- SPDY on an upgraded connection ---- */

struct kspdy;
typedef struct kspdy_ops {
    void (*on_stream)(struct kspdy *c, uint32_t id, const spdy_headers *h, void *ud);
    void (*on_data)(struct kspdy *c, uint32_t id, const uint8_t *d, size_t n, void *ud);
    void (*on_fin)(struct kspdy *c, uint32_t id, void *ud);
    void (*on_reset)(struct kspdy *c, uint32_t id, void *ud);
    /* The connection's output fell below the low-water mark after a write returned 1, or data
     * held back for SPDY send window has gone out. */
    void (*on_drain)(struct kspdy *c, void *ud);
    /* The client left, sent GOAWAY or broke the protocol: the owner calls kspdy_close(). Once. */
    void (*on_close)(struct kspdy *c, void *ud);
} kspdy_ops;

/* The first protocol the client lists in X-Stream-Protocol-Version (one header per protocol,
 * or comma-separated) that the server supports, in the client's order, as upstream's
 * httpstream.Handshake; NULL when none. */
const char *kspdy_negotiate(const http_req *req, const char *const *supported);
/* Answers 403 Forbidden like upstream when negotiation failed (fills st). */
int kspdy_negotiate_fail(const http_req *req, const char *const *supported, kobj_status *st);
/* Upgrades req: with ws_protocol NULL, "Upgrade: SPDY/3.1" and X-Stream-Protocol-Version:
 * protocol; else a WebSocket with subprotocol ws_protocol whose binary messages carry the SPDY
 * bytes (kubectl 1.31+ port-forward tunnelling). NULL with e filled, req untouched. */
struct kspdy *kspdy_upgrade(ev_loop *loop, http_req *req, const char *protocol,
                            const char *ws_protocol, const kspdy_ops *ops, void *ud, dd_err *e);
spdy_session *kspdy_session(struct kspdy *c);
/* Stops (true) or resumes (false) reading from the client (backpressure for the whole session). */
void kspdy_pause(struct kspdy *c, bool paused);
/* Sends GOAWAY, flushes queued output, closes the connection and frees c later. */
void kspdy_close(struct kspdy *c);

/* ---- port-forward ---- */

/* Connects to 127.0.0.1:port inside the network namespace at netns (a short-lived thread
 * does the setns). The connected socket, or a negative errno. */
int kstream_dial(const char *netns, unsigned port);
/* The error text kubelet (with containerd) writes when that dial fails with errno err. Returns
 * its length. */
size_t kstream_dial_error(char *out, size_t size, unsigned port, const char *pod, int err);
/* Port-forward over SPDY (portforward.k8s.io), raw or tunnelled (ws_protocol non-NULL). */
int kstream_portforward_spdy(ev_loop *loop, http_req *req, const char *netns, const char *pod,
                             const char *ws_protocol, kobj_status *st);

#endif
