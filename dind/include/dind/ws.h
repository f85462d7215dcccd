/* ws: the server side of WebSocket (RFC 6455) on top of http_upgrade(). Prefix: ws_.
 *
 * Handshake helpers (accept key, subprotocol choice) and a frame codec: ws_reader turns the bytes
 * of an http_raw stream into whole messages (fragments joined, client masking removed, control
 * frames delivered as they come), ws_frame_add() writes unmasked server frames. No I/O here: the
 * caller feeds bytes from on_data and writes the encoded frames with http_raw_write().
 */
#ifndef DIND_WS_H
#define DIND_WS_H

#include "dind/base.h"
#include "dind/http.h"

enum ws_opcode {
    WS_CONT = 0x0,
    WS_TEXT = 0x1,
    WS_BINARY = 0x2,
    WS_CLOSE = 0x8,
    WS_PING = 0x9,
    WS_PONG = 0xa,
};

/* Sec-WebSocket-Accept for a client's Sec-WebSocket-Key: base64(SHA-1(key + RFC GUID)).
 * Returns 0, or -EINVAL when key is not the base64 of 16 bytes. out is NUL-terminated. */
int ws_accept_key(const char *key, char out[32]);

/* The first protocol of `supported` (NULL-terminated, in the server's order of preference) that
 * appears in any Sec-WebSocket-Protocol header of req; NULL when none does. */
const char *ws_pick_protocol(const http_req *req, const char *const *supported);

/* Checks the upgrade request (GET, Upgrade: websocket, version 13, a valid key) and answers 101
 * with the chosen protocol. Returns the raw stream, or NULL with e filled and req untouched (the
 * caller answers it, usually 400). */
http_raw *ws_upgrade(http_req *req, const char *protocol, const http_raw_ops *ops, void *ud,
                     dd_err *e);

/* Appends one unmasked (server) frame with FIN set. */
void ws_frame_add(dd_buf *out, unsigned opcode, const void *data, size_t len);
/* Same with a payload made of a one-byte prefix (a channel number) and data. */
void ws_frame_add_prefixed(dd_buf *out, unsigned opcode, uint8_t prefix, const void *data,
                           size_t len);
/* A close frame with a status code (1000 normal) and a reason. */
void ws_close_add(dd_buf *out, unsigned code, const char *reason);

/* One frame header parsed from the front of a buffer. */
struct ws_frame {
    unsigned opcode;
    bool fin;
    bool masked;
    uint8_t mask[4];
    size_t header_len; /* bytes before the payload */
    uint64_t payload_len;
};
/* Parses a frame header: 1 and *ret filled, 0 when more bytes are needed, -EPROTO (e filled) on
 * a malformed or forbidden header (reserved bits, unknown opcode, control frame over 125 bytes
 * or fragmented, payload over max_payload, an unmasked frame when require_mask). */
int ws_frame_parse(const uint8_t *data, size_t len, bool require_mask, uint64_t max_payload,
                   struct ws_frame *ret, dd_err *e);

typedef struct ws_reader {
    dd_buf in;            /* bytes not yet parsed */
    dd_buf msg;           /* data message being assembled / the last one returned */
    dd_buf ctl;           /* the last control frame returned */
    unsigned msg_opcode;  /* WS_TEXT / WS_BINARY while a fragmented message is open, else 0 */
    uint64_t max_message; /* 0 = 16 MiB */
    bool require_mask;    /* true for a server (clients must mask) */
} ws_reader;

struct ws_msg {
    unsigned opcode; /* WS_TEXT, WS_BINARY, WS_CLOSE, WS_PING, WS_PONG */
    const uint8_t *data;
    size_t len;
};

void ws_reader_init(ws_reader *r, bool require_mask);
void ws_reader_release(ws_reader *r);
/* Appends received bytes. */
void ws_reader_feed(ws_reader *r, const void *data, size_t len);
/* Next complete message: 1 and *ret filled (data valid until the next call), 0 when more bytes are
 * needed, -EPROTO with e filled on a protocol error (the caller should close with 1002). */
int ws_reader_next(ws_reader *r, struct ws_msg *ret, dd_err *e);

#endif
