/* spdy: the server side of a SPDY/3.1 session, as Kubernetes' streaming protocols use it
 * (exec, attach, port-forward over "Upgrade: SPDY/3.1"). Prefix: spdy_.
 *
 * A spdy_session is a pure protocol engine: the caller feeds it the bytes received on the
 * upgraded connection (spdy_session_feed) and gives it a write callback for the bytes it must
 * send; it never touches a socket, so the same session runs on a raw http_raw stream or tunnelled
 * inside WebSocket binary messages. It parses every SPDY/3 frame type, decompresses header blocks
 * with the shared zlib context and the SPDY/3 dictionary, answers PINGs, keeps per-stream state
 * (half-closes, resets, flow-control windows) and reports what the application needs through
 * callbacks: a new stream with its headers, data, the peer's FIN, a reset, a GOAWAY.
 *
 * Flow control: the session grants the peer more receive window (WINDOW_UPDATE) as data is
 * delivered, so a peer that honours windows never stalls. Send windows are tracked from
 * SETTINGS and WINDOW_UPDATE but enforced only once the peer has shown it does flow control (sent
 * a WINDOW_UPDATE): Go's spdystream (kubectl) never grants window and ignores ours. While a
 * stream's window is exhausted its data waits inside the session; spdy_data() then returns 1.
 *
 * Streams are opened by the peer only (odd ids); this side replies, sends data and closes.
 * Not here: server push, the CREDENTIAL frame, header blocks over 1 MiB.
 */
#ifndef DIND_SPDY_H
#define DIND_SPDY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dind/base.h"

enum spdy_frame_type {
    SPDY_SYN_STREAM = 1,
    SPDY_SYN_REPLY = 2,
    SPDY_RST_STREAM = 3,
    SPDY_SETTINGS = 4,
    SPDY_PING = 6,
    SPDY_GOAWAY = 7,
    SPDY_HEADERS = 8,
    SPDY_WINDOW_UPDATE = 9,
};

enum {
    SPDY_FLAG_FIN = 0x01,
    SPDY_FLAG_UNIDIRECTIONAL = 0x02,
};

/* RST_STREAM status codes. */
enum spdy_rst_status {
    SPDY_PROTOCOL_ERROR = 1,
    SPDY_INVALID_STREAM = 2,
    SPDY_REFUSED_STREAM = 3,
    SPDY_CANCEL = 5,
    SPDY_INTERNAL_ERROR = 6,
    SPDY_FLOW_CONTROL_ERROR = 7,
    SPDY_STREAM_IN_USE = 8,
    SPDY_STREAM_ALREADY_CLOSED = 9,
};

#define SPDY_INITIAL_WINDOW  65536
#define SPDY_MAX_FRAME       (1u << 24) /* a frame's length field is 24 bits */
#define SPDY_MAX_HEADER_DATA (1u << 20) /* decompressed header block limit */

extern const uint8_t spdy_dictionary[];
extern const size_t spdy_dictionary_len;

/* The 8-byte common header of a frame. */
struct spdy_frame {
    bool control;
    uint16_t version;   /* control frames */
    uint16_t type;      /* control frames: enum spdy_frame_type (others are ignored) */
    uint32_t stream_id; /* data frames */
    uint8_t flags;
    uint32_t length; /* payload bytes after the 8-byte header */
};
/* Parses the header at the front of data: 1 and *ret filled, 0 when fewer than 8 bytes. */
int spdy_frame_parse(const uint8_t *data, size_t len, struct spdy_frame *ret);

/* Name/value pairs of a header block. Names are lower case on the wire (SPDY/3); values may hold
 * several NUL-separated values, kept as sent. */
typedef struct spdy_headers {
    size_t n;
    char **names;
    char **values;
} spdy_headers;
void spdy_headers_release(spdy_headers *h);
/* First value of a header (case-insensitive name; up to its first NUL), or NULL. */
const char *spdy_headers_get(const spdy_headers *h, const char *name);
/* Parses an uncompressed header block; -EPROTO with e filled when malformed. */
int spdy_headers_parse(const uint8_t *d, size_t len, spdy_headers *ret, dd_err *e);

typedef struct spdy_session spdy_session;

typedef struct spdy_callbacks {
    /* Sends bytes to the peer: returns 0, 1 (above the transport's high-water mark: the caller
     * should stop producing until it drains), or a negative errno (the peer is gone). */
    int (*write)(void *ud, const void *data, size_t len);
    /* The peer opened stream id (SYN_STREAM). Answer with spdy_syn_reply() or spdy_rst(),
     * now or later. fin: the peer will send nothing on it. headers are valid during the call. */
    void (*on_stream)(spdy_session *s, uint32_t id, const spdy_headers *headers, bool fin,
                      void *ud);
    void (*on_data)(spdy_session *s, uint32_t id, const uint8_t *data, size_t len, void *ud);
    /* The peer half-closed the stream (FIN on data, SYN_STREAM or HEADERS). */
    void (*on_fin)(spdy_session *s, uint32_t id, void *ud);
    /* The peer reset the stream: nothing more may be sent on it. */
    void (*on_reset)(spdy_session *s, uint32_t id, uint32_t status, void *ud);
    /* The peer sent GOAWAY: no new streams will come. */
    void (*on_goaway)(spdy_session *s, uint32_t status, void *ud);
    /* Data queued for want of send window has all gone out after a WINDOW_UPDATE: a producer
     * that stopped because spdy_data() returned 1 may continue. */
    void (*on_writable)(spdy_session *s, void *ud);
} spdy_callbacks;

/* A server session. cb is copied; ud is passed to every callback. NULL callbacks (except write)
 * are allowed. Returns NULL with e filled when zlib cannot be initialised. */
spdy_session *spdy_session_new(const spdy_callbacks *cb, void *ud, dd_err *e);
void spdy_session_free(spdy_session *s);
/* Parses received bytes and runs the callbacks for every complete frame. Callbacks may call the
 * send functions below but must not free the session (defer it). Returns 0, or -EPROTO with e
 * filled on a session error (a GOAWAY with PROTOCOL_ERROR has been sent; the caller should
 * close the connection). Stream-level errors are answered with RST_STREAM and are not fatal. */
int spdy_session_feed(spdy_session *s, const void *data, size_t len, dd_err *e);

/* Accepts a stream: SYN_REPLY with headers (may be NULL), FIN if fin. 0 or a negative errno. */
int spdy_syn_reply(spdy_session *s, uint32_t id, const spdy_headers *headers, bool fin);
/* Sends data on a stream (len 0 with fin = a bare FIN). Returns 0, 1 (backpressure: the
 * transport is above its high-water mark or the stream's send window is exhausted and data is
 * queued in the session), -EPIPE (the stream was reset or is already closed by us; nothing is
 * sent) or the transport's error. */
int spdy_data(spdy_session *s, uint32_t id, const void *data, size_t len, bool fin);
/* Resets a stream (RST_STREAM) and forgets it. */
int spdy_rst(spdy_session *s, uint32_t id, uint32_t status);
/* GOAWAY with the last stream id the peer opened. */
int spdy_goaway(spdy_session *s, uint32_t status);
/* Bytes queued in the session waiting for send window, over all streams. */
size_t spdy_session_queued(const spdy_session *s);
/* Whether the stream is known and not reset (it may be half-closed). */
bool spdy_stream_open(const spdy_session *s, uint32_t id);

#endif
