/* Internals of the http module: the socket-free parser (also used by the fuzz harness and the unit
 * tests), the connection and request structures. Not a public header. */
#ifndef DIND_HTTP_INTERNAL_H
#define DIND_HTTP_INTERNAL_H

#include <openssl/err.h>
#include <sys/types.h>

#include "dind/http.h"

/* ---- parser (parse.c): pure functions on buffers ---- */

typedef struct http_header {
    char *name;
    char *value;
} http_header;

typedef struct http_head {
    char *storage; /* owns every string below */
    char *method;
    char *target;
    char *path;  /* target up to '?' */
    char *query; /* after '?', or "" */
    int minor;
    http_header *headers;
    size_t nheaders;
    bool chunked;
    bool has_length;
    uint64_t content_length;
    bool keep_alive;
    bool expect_continue;
} http_head;

/* Parses a request head from data. Returns the head's length in bytes (> 0) when complete, 0 when
 * more bytes are needed (and fewer than max have been seen), or a negative errno with *ret_status
 * set to the HTTP status to answer (400, 431, 501, 505). */
int http_parse_head(const char *data, size_t len, size_t max, http_head *ret, int *ret_status);
void http_head_release(http_head *h);
const char *http_head_get(const http_head *h, const char *name);
/* True if the comma-separated header value contains token (case-insensitive). */
bool http_token_list_has(const char *value, const char *token);

/* Chunked body decoder: a state machine fed arbitrary slices. */
typedef struct http_chunked {
    int state;
    uint64_t remaining; /* bytes left in the current chunk */
    size_t line;        /* bytes of the current size/trailer line seen (bounded) */
    bool ext;           /* inside a chunk extension */
    bool any_digit;
} http_chunked;
/* Consumes bytes from in, appending payload to out. Returns bytes consumed (>= 0) and sets
 * *ret_done once the last chunk and trailers are read (bytes after that are not consumed), or
 * -EINVAL. */
ssize_t http_chunked_feed(http_chunked *st, const char *in, size_t len, dd_buf *out,
                          bool *ret_done);

typedef struct http_query {
    size_t n;
    char **keys;
    char **values;
} http_query;
/* Splits "a=1&b=%20x" into decoded pairs. -EINVAL on a bad %-escape. */
int http_query_parse(const char *qs, http_query *ret);
void http_query_release(http_query *q);
/* Percent-decodes n bytes of s (plus_space: '+' becomes ' '). -EINVAL on a bad escape. */
int http_pct_decode(const char *s, size_t n, bool plus_space, char **ret);

/* ---- routing (route.c) ---- */

#define HTTP_MAX_PARAMS 8
typedef struct http_params {
    size_t n;
    const char *names[HTTP_MAX_PARAMS]; /* pointers into the pattern: not NUL-terminated at '}' */
    size_t name_lens[HTTP_MAX_PARAMS];
    char *values[HTTP_MAX_PARAMS];
} http_params;
/* Matches a raw path against a pattern; fills decoded params on success. */
bool http_pattern_match(const char *pattern, const char *path, http_params *ret);
void http_params_release(http_params *p);

/* ---- server objects ---- */

typedef struct http_conn http_conn;

typedef struct http_transport {
    /* > 0 bytes, 0 EOF, -EAGAIN, or -errno */
    ssize_t (*recv)(http_conn *c, void *buf, size_t len);
    ssize_t (*send)(http_conn *c, const void *buf, size_t len);
    void (*shutdown_wr)(http_conn *c);
} http_transport;

struct route_table {
    const http_route *rows;
    size_t n;
};

struct http_listener {
    http_server *srv;
    int fd;
    ev_io *io;
    SSL_CTX *tls;
    char *unix_path;
    int port;
};

struct http_server {
    ev_loop *loop;
    http_server_opts opts;
    char *spool_dir;
    struct route_table *tables;
    size_t ntables;
    struct http_listener **listeners;
    size_t nlisteners;
    http_conn *conns; /* doubly linked */
    unsigned nconns;
    bool paused_accept;
    ev_timer *sweep;
};

enum conn_state {
    CONN_TLS_HANDSHAKE,
    CONN_HEAD,
    CONN_BODY,
    CONN_HANDLING,
    CONN_RAW,
    CONN_CLOSING, /* response done, flushing, then close */
    CONN_DEAD,
};

struct http_conn {
    http_server *srv;
    ev_loop *loop;
    http_conn *prev, *next;
    int fd;
    ev_io *io;
    const http_transport *tp;
    SSL *ssl;
    enum conn_state state;
    int refs;
    dd_buf in;
    dd_buf out;
    size_t out_off;
    bool read_eof;
    bool close_after_write;
    bool shut_after_write;
    bool shut_done;
    bool lingering; /* closing: half-closed, reading until the peer closes */
    uint64_t linger_since_ms;
    bool kick_pending;
    bool want_drain;
    bool tls_want_write;
    uint64_t last_active_ms;
    http_req *req; /* request being read or handled */
    http_raw *raw;
};

struct http_req {
    http_conn *conn;
    http_server *srv;
    http_head head;
    const char *path;
    http_query query;
    http_params params;
    const http_route *route;
    int route_status; /* 0, or 404/405/400 for the error callback */
    char *route_msg;
    /* body */
    dd_buf body;
    int body_fd;
    uint64_t body_len;
    uint64_t body_limit;
    uint64_t body_left; /* Content-Length bodies */
    http_chunked chunk;
    bool spool;
    bool body_done;
    /* response */
    dd_buf extra;
    bool started;
    bool finished;
    bool chunked_out;
    bool close_out;
    bool gone;
    void *server_data;
    http_req_cb on_close, on_drain;
    void *on_close_data, *on_drain_data;
    void *user;
};

struct http_raw {
    http_conn *conn;
    const http_raw_ops *ops;
    void *ud;
    bool paused;
    bool eof_sent;
    bool gone;
    bool released;
};

#define HTTP_HIGH_WATER (256u * 1024)
/* how long a closing connection waits for the peer to close after our half-close */
#define HTTP_LINGER_MS 2000
#define HTTP_LOW_WATER (64u * 1024)
#define HTTP_HARD_CAP  (16u * 1024 * 1024)

/* conn.c */
void http_conn_ref(http_conn *c);
void http_conn_unref(http_conn *c);
void http_conn_write(http_conn *c, const void *data, size_t len);
/* Sends what it can now; from_event: also run drain callbacks (never from inside user calls). */
void http_conn_flush(http_conn *c, bool from_event);
void http_conn_close(http_conn *c);
void http_conn_kick(http_conn *c);
size_t http_conn_buffered(const http_conn *c);
void http_conn_update_interest(http_conn *c);
int http_conn_new(http_server *srv, int fd, SSL_CTX *tls, dd_err *e);
/* Moves the in-memory body to the spool file (opened on first use); 0 or -errno. */
int http_req_spool_flush(http_req *req);
/* request.c */
http_req *http_req_new(http_conn *c);
void http_req_free(http_req *req);
void http_req_finish(http_req *req, bool close_conn);
void http_req_route(http_req *req);
void http_req_dispatch(http_req *req);
void http_conn_gone(http_conn *c);
void http_write_head(http_req *req, dd_buf *out, int status, const char *content_type);
void http_raw_input(http_conn *c);
/* server.c */
extern const http_transport http_plain_transport;
extern const http_transport http_tls_transport;
void http_server_conn_closed(http_server *srv);
void http_simple_error(http_conn *c, int status);
void http_on_accept(ev_io *w, int fd, unsigned events, void *data);
int http_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                     const unsigned char *in, unsigned int inlen, void *arg);

#endif
