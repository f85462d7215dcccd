/* http: an HTTP/1.1 server on the ev loop. Prefix: http_.
 *
 * Transports: UNIX sockets, TCP, and TLS on TCP (OpenSSL, caller-provided SSL_CTX). Requests are
 * routed through tables of {method, pattern, handler} rows; the handler answers with a full
 * response, a chunked stream with backpressure, or takes the connection over (Docker's hijack,
 * or a generic 101 upgrade for WebSocket/SPDY). The server never blocks: long-running responses
 * (wait, logs -f, events, watch) simply stay open while other connections are served.
 *
 * Not here: an HTTP client, HTTP/2.
 *
 * ---- Lifecycle of a request (read this before writing a handler) ----
 *
 * 1. The server reads the head, strips the optional prefix (http_server_opts.prefix), matches a
 *    route, reads the whole body (in memory, or spooled to an unlinked temp file for routes with
 *    HTTP_ROUTE_SPOOL), then calls route->handler(req). A request whose route is missing, whose
 *    method does not match, or whose prefix is rejected goes to http_server_opts.error instead.
 * 2. The handler now owns `req` until it *finishes* it with exactly one of:
 *        http_reply(), http_reply_json(), http_reply_error() (full responses),
 *        http_stream_end() (after http_stream_start()),
 *        http_hijack() / http_upgrade() (the connection becomes an http_raw),
 *        http_req_abort() (drop the connection without a proper response).
 *    Finishing may happen inside the handler (synchronous) or later from any callback on the same
 *    loop (asynchronous, e.g. `wait`). After the finishing call, `req` must not be used again.
 * 3. If the client goes away first, the on_close callback (http_req_on_close()) runs once; writes
 *    then fail with -EPIPE, but the handler must STILL finish the request (usually with
 *    http_stream_end() or http_req_abort()), which frees it. A handler that never finishes a
 * request leaks it.
 *
 * Responses always carry the server's common headers (http_server_opts.headers), except a 101.
 * For HEAD requests the server sends the head only (Content-Length is kept).
 *
 * Example route table (patterns match the path after the prefix is stripped):
 *     static const http_route routes[] = {
 *         {"GET", "/containers/{id}/json", h_inspect},
 *         {"GET", "/images/{name*}/json", h_image_inspect},     // name may contain '/' and ':'
 *         {"POST", "/images/load", h_load, HTTP_ROUTE_SPOOL},   // GB-sized bodies go to a file
 *     };
 *     http_server_add_routes(srv, routes, DD_ARRAY_SIZE(routes));
 */
#ifndef DIND_HTTP_H
#define DIND_HTTP_H

#include <jansson.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "dind/base.h"
#include "dind/ev.h"

typedef struct http_server http_server;
typedef struct http_req http_req;
typedef struct http_raw http_raw;

typedef void (*http_handler_fn)(http_req *req);
/* Generic per-request notification (on_close, on_drain). */
typedef void (*http_req_cb)(http_req *req, void *data);

/* ---- routes ---- */

enum http_route_flags {
    /* Bodies larger than http_server_opts.body_mem_max go to an unlinked temp file
     * (http_req_body_fd()) instead of being refused with 413. For docker load, PUT archive... */
    HTTP_ROUTE_SPOOL = 1u << 0,
    /* The handler runs as soon as the head is read; a body, if any, is never read and the
     * connection closes after the response. For endpoints that refuse large uploads outright. */
    HTTP_ROUTE_NO_BODY = 1u << 1,
};

/* One row of a route table. Tables are data: keep them static, the server stores the pointer.
 * pattern: literal segments and parameters, "/containers/{id}/attach". A parameter matches one
 * non-empty segment; "{name*}" (at most one per pattern) matches one or more segments including
 * '/', and the rest of the pattern must match the tail ("/images/{name*}/json" gives name =
 * "127.0.0.1:5000/busybox:v1"). Parameters are percent-decoded. Rows are tried in the order the
 * tables were added; the first row whose pattern and method match wins. */
typedef struct http_route {
    const char *method; /* "GET", "POST", ...; exact, upper case; NULL = any method */
    const char *pattern;
    http_handler_fn handler;
    unsigned flags;    /* enum http_route_flags */
    uint64_t max_body; /* 413 above this; 0 = body_mem_max (unlimited with HTTP_ROUTE_SPOOL) */
    void *data;        /* free for the caller: http_req_route_data() */
} http_route;

/* ---- server ---- */

typedef struct http_server_opts {
    /* Called with the request path (before routing). Returns the number of leading bytes to strip
     * (0 = none; the remaining path must then start with '/'), or a negative errno with e filled:
     * the request then goes to `error` with status 400 and e->msg. dindd strips "/v1.NN". */
    int (*prefix)(const char *path, dd_err *e);
    /* Answers requests that cannot be routed: status 404 (no pattern matched), 405 (a pattern
     * matched but not the method), 400 (prefix rejected), 413 (body over the route's limit). The
     * callback must finish req like a handler. NULL: a text/plain response with `message`. */
    void (*error)(http_req *req, int status, const char *message);
    /* Appends "Name: value\r\n" lines to every response (incl. server-generated errors, except
     * 101). dindd adds Api-Version, Server, Date... `data` is the field below. */
    void (*headers)(void *data, dd_buf *out);
    /* Called for every request just before its handler (or `error`) runs: access logs. */
    void (*trace)(http_req *req);
    void *data;              /* http_req_server_data() */
    size_t max_header_bytes; /* request line + headers; 431 above; default 1 MiB */
    size_t body_mem_max;     /* in-memory body limit; default 1 MiB */
    const char *spool_dir;   /* HTTP_ROUTE_SPOOL temp files; default $TMPDIR or /tmp */
    unsigned max_conns;      /* stop accepting above this; default 4096 */
    unsigned idle_ms;        /* close idle keep-alive connections; default 120000; headers too */
} http_server_opts;

/* Creates a server on loop; copies opts (spool_dir is duplicated; the other pointers must stay
 * valid). Sets SIGPIPE to SIG_IGN process-wide (OpenSSL writes with write(2)); children that exec
 * other programs must restore SIG_DFL. */
http_server *http_server_new(ev_loop *loop, const http_server_opts *opts);
/* Closes every listener (removing the UNIX sockets it created) and connection. Requests still
 * owned by handlers get on_close and stay valid until finished. Safe with NULL. */
void http_server_free(http_server *srv);
/* Adds a route table (not copied; it must outlive the server). */
void http_server_add_routes(http_server *srv, const http_route *routes, size_t n);
/* Listens on addr:
 *   "unix:///path"    creates missing parent directories (0755), replaces a stale socket, mode 0660
 *   "tcp://host:port" host may be an IPv4/IPv6 literal ("[::1]") or a name; port 0 picks one
 * tls: NULL for plain HTTP; else every connection does a TLS handshake (non-blocking) with this
 * context (not owned; must outlive the server). The server sets an ALPN callback selecting
 * "http/1.1". To authenticate clients by certificate, set SSL_VERIFY_PEER on the context and read
 * http_req_peer_cert(). Returns a listener index >= 0, or -errno with e filled. */
int http_server_listen(http_server *srv, const char *addr, SSL_CTX *tls, dd_err *e);
/* The bound TCP port of listener idx (useful with port 0), or -EINVAL. */
int http_server_port(http_server *srv, int idx);
/* Serves an already-connected socket (tests: one end of a socketpair). Takes ownership of fd. */
int http_server_adopt(http_server *srv, int fd, dd_err *e);
/* Number of open connections (hijacked ones included). */
unsigned http_server_conn_count(const http_server *srv);

/* ---- request accessors (valid until the request is finished) ---- */

const char *http_req_method(const http_req *req);
/* The path after prefix stripping, still percent-encoded, without the query ("/containers/json").
 */
const char *http_req_path(const http_req *req);
/* The request target as sent ("/v1.41/containers/json?all=1"). */
const char *http_req_target(const http_req *req);
/* 0 or 1 for HTTP/1.0, HTTP/1.1. */
int http_req_minor(const http_req *req);
/* First header with this name (case-insensitive), or NULL. */
const char *http_req_header(const http_req *req, const char *name);
/* Iterates headers in arrival order: returns false past the end. */
bool http_req_header_at(const http_req *req, size_t i, const char **ret_name,
                        const char **ret_value);
/* A route parameter ("id" for "{id}"), decoded; NULL if the pattern has none by that name. */
const char *http_req_param(const http_req *req, const char *name);
/* First value of a query key, decoded ('+' = space); "" for "?all"; NULL if absent. */
const char *http_req_query(const http_req *req, const char *key);
/* Every value of a repeated key ("names=a&names=b"), as a new strv (caller frees; never NULL). */
char **http_req_query_all(const http_req *req, const char *key);
/* Iterates query pairs in order. */
bool http_req_query_at(const http_req *req, size_t i, const char **ret_key, const char **ret_value);
/* The body when kept in memory: NUL-terminated, "" when there is none; NULL when spooled. */
const char *http_req_body(const http_req *req, size_t *ret_len);
/* The body's length in bytes (memory or file). */
uint64_t http_req_body_len(const http_req *req);
/* The spooled body's fd, positioned at 0 (owned by req; dup it to keep it), or -1. */
int http_req_body_fd(const http_req *req);
/* The body as a file, whatever its size: spools an in-memory body to a temp file first (in the
 * server's spool_dir). Returns the fd positioned at 0 (owned by req), or -errno with e filled.
 * For handlers that stream the body into a library reading fds (libarchive: docker load, PUT
 * archive). After this, http_req_body() returns NULL. */
int http_req_body_to_fd(http_req *req, dd_err *e);
/* The verified client certificate on a TLS connection (not owned), or NULL. */
X509 *http_req_peer_cert(const http_req *req);
/* The peer's credentials on a UNIX socket (SO_PEERCRED); -ENOTSOCK otherwise. */
int http_req_peer_uid(const http_req *req, uid_t *ret_uid);
void *http_req_server_data(const http_req *req);
void *http_req_route_data(const http_req *req);
/* A pointer the handler may attach for its own use (not freed by the server). */
void http_req_set_data(http_req *req, void *data);
void *http_req_data(const http_req *req);
/* Connection: Upgrade and Upgrade: proto (case-insensitive token match). */
bool http_req_wants_upgrade(const http_req *req, const char *proto);
/* True once the client has gone away (writes fail with -EPIPE). */
bool http_req_is_gone(const http_req *req);

/* ---- full responses ---- */

/* Adds a response header ("Name", "value") before the response starts. */
void http_add_header(http_req *req, const char *name, const char *value);
/* Sends status + Content-Length + body, and finishes req. content_type may be NULL (no header);
 * body may be NULL with len 0. Returns 0, or -EPIPE if the client was gone (req still finished). */
int http_reply(http_req *req, int status, const char *content_type, const void *body, size_t len);
/* JSON response like dockerd: compact JSON + "\n", Content-Type: application/json. Does not
 * steal v. */
int http_reply_json(http_req *req, int status, const json_t *v);
/* {"message": msg} + "\n" with status; 304 and 204 get no body (as dockerd). */
int http_reply_error(http_req *req, int status, const char *msg);
/* "Not Found" etc. for a status; "" for unknown codes. */
const char *http_status_reason(int status);
/* The current time as an IMF-fixdate ("Mon, 23 Nov 2026 09:00:00 GMT") for Date headers. */
void http_format_date(char out[40]);

/* ---- streaming responses ---- */

/* Sends the status and headers at once (Transfer-Encoding: chunked; HTTP/1.0 clients get a
 * close-delimited body). content_type may be NULL. Afterwards use http_stream_write(). */
int http_stream_start(http_req *req, int status, const char *content_type);
/* Queues one chunk and tries to send it now. Returns 0 when the producer may continue, 1 when the
 * userspace buffer is above its high-water mark (256 KiB): stop producing until on_drain, -EPIPE
 * when the client is gone, -ENOBUFS if the producer ignored 1 and passed the hard cap (16 MiB). */
int http_stream_write(http_req *req, const void *data, size_t len);
/* Called (once per 1 returned by http_stream_write) when the buffer has fallen below 64 KiB. */
void http_req_on_drain(http_req *req, http_req_cb fn, void *data);
/* Called once when the client disconnects before the request is finished. */
void http_req_on_close(http_req *req, http_req_cb fn, void *data);
/* Bytes queued and not yet sent. */
size_t http_req_buffered(const http_req *req);
/* Sends the final chunk and finishes req (keep-alive continues once the output drains). */
int http_stream_end(http_req *req);
/* Finishes req by closing the connection (after queued output is flushed, if possible). */
void http_req_abort(http_req *req);

/* ---- hijack and upgrade: the connection becomes a raw duplex stream ---- */

typedef struct http_raw_ops {
    /* Bytes from the client (stdin). Not called while paused. */
    void (*on_data)(http_raw *raw, const char *data, size_t len, void *ud);
    /* The client half-closed (shutdown(SHUT_WR)): no more input, but output may continue. This is
     * not a disconnect. Called at most once. */
    void (*on_eof)(http_raw *raw, void *ud);
    /* The output buffer has fallen below 64 KiB after http_raw_write() returned 1. */
    void (*on_drain)(http_raw *raw, void *ud);
    /* The connection is gone (reset, error, or fully closed). Writes now fail with -EPIPE; the
     * owner must still call http_raw_close(). Called at most once. */
    void (*on_close)(http_raw *raw, void *ud);
} http_raw_ops;

/* Docker's hijack for attach and exec start. With "Connection: Upgrade" + "Upgrade: tcp" it sends
 * exactly "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n
 * Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"; without them (dockerode) "HTTP/1.1 200 OK" +
 * Content-Type: application/vnd.docker.raw-stream + the common headers and no length. Finishes
 * req; returns the raw stream (never NULL: if the client is already gone, on_close follows).
 * Bytes the client pipelined after the request are delivered through on_data on the next loop
 * iteration, so nothing written before the hijack is lost. */
http_raw *http_hijack(http_req *req, const http_raw_ops *ops, void *ud);
/* Generic upgrade: "HTTP/1.1 101 Switching Protocols\r\n" + headers ("Name: value" strings,
 * NULL-terminated; typically Connection, Upgrade, Sec-WebSocket-Accept) + "\r\n". Finishes req. */
http_raw *http_upgrade(http_req *req, const char *const *headers, const http_raw_ops *ops,
                       void *ud);
/* Takes the connection over without writing anything: the caller sends the whole response
 * itself with http_raw_write() (a proxy relaying another server's answer, head included).
 * Finishes req; the connection closes after http_raw_close(), never serving another request. */
http_raw *http_takeover(http_req *req, const http_raw_ops *ops, void *ud);
/* Queues bytes; 0 / 1 (above high water: wait for on_drain) / -EPIPE / -ENOBUFS, as streams. */
int http_raw_write(http_raw *raw, const void *data, size_t len);
/* Half-closes our direction once queued output is sent (shutdown(SHUT_WR); close_notify on TLS). */
void http_raw_shutdown(http_raw *raw);
/* Stops (true) or resumes (false) reading input: backpressure toward the client. */
void http_raw_pause(http_raw *raw, bool paused);
size_t http_raw_buffered(const http_raw *raw);
/* Bytes written to the stream that the peer has not read yet: our queue plus, on a UNIX socket,
 * what still sits unread in the peer's receive queue (SIOCOUTQ). -1 where the kernel cannot
 * tell (TCP only knows what was acknowledged, not what was read; TLS buffers records). */
ssize_t http_raw_peer_unread(const http_raw *raw);
/* Releases the stream: queued output is flushed (bounded by the idle timeout), then the
 * connection is closed. No callback runs after this call. Exactly once per raw. */
void http_raw_close(http_raw *raw);

#endif
