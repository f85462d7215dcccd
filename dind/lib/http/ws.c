/* ws.c: WebSocket (RFC 6455) for the server side of an http upgrade. It computes the handshake's
 * accept key, chooses a subprotocol among those the client offers, answers the 101 through
 * http_upgrade(), and implements the framing: a header parser that enforces the RFC's rules for
 * client frames (masking, reserved bits, control frame limits), a reader that reassembles
 * fragmented messages while letting control frames through, and writers for unmasked server
 * frames. Kubernetes' channel protocols (exec, attach, port-forward) are built on top of it in
 * k3core; nothing here knows about channels.
 */
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <string.h>
#include <strings.h>

#include "dind/ws.h"

#define WS_GUID        "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_DEFAULT_MAX (16u * 1024 * 1024)

int ws_accept_key(const char *key, char out[32])
{
    unsigned char raw[24];
    size_t klen = key ? strlen(key) : 0;
    if (klen != 24 || EVP_DecodeBlock(raw, (const unsigned char *)key, 24) != 18)
        return -EINVAL;
    char cat[24 + sizeof(WS_GUID)];
    memcpy(cat, key, 24);
    memcpy(cat + 24, WS_GUID, sizeof(WS_GUID));
    unsigned char sha[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)cat, strlen(cat), sha);
    EVP_EncodeBlock((unsigned char *)out, sha, SHA_DIGEST_LENGTH);
    return 0;
}

static bool list_has_token(const char *list, const char *tok)
{
    size_t n = strlen(tok);
    const char *p = list;
    while (*p) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, ",");
        size_t end = len;
        while (end > 0 && (p[end - 1] == ' ' || p[end - 1] == '\t'))
            end--;
        if (end == n && !strncmp(p, tok, n))
            return true;
        p += len;
    }
    return false;
}

const char *ws_pick_protocol(const http_req *req, const char *const *supported)
{
    for (size_t k = 0; supported[k]; k++) {
        const char *name, *value;
        for (size_t i = 0; http_req_header_at(req, i, &name, &value); i++)
            if (!strcasecmp(name, "Sec-WebSocket-Protocol") && list_has_token(value, supported[k]))
                return supported[k];
    }
    return NULL;
}

http_raw *ws_upgrade(http_req *req, const char *protocol, const http_raw_ops *ops, void *ud,
                     dd_err *e)
{
    char accept[32];
    const char *ver = http_req_header(req, "Sec-WebSocket-Version");
    if (strcmp(http_req_method(req), "GET") || !http_req_wants_upgrade(req, "websocket")) {
        dd_err_set(e, EINVAL, "not a WebSocket upgrade request");
        return NULL;
    }
    if (!ver || strcmp(ver, "13")) {
        dd_err_set(e, EINVAL, "unsupported WebSocket version %s", ver ? ver : "(none)");
        return NULL;
    }
    if (ws_accept_key(http_req_header(req, "Sec-WebSocket-Key"), accept) < 0) {
        dd_err_set(e, EINVAL, "invalid Sec-WebSocket-Key");
        return NULL;
    }
    _cleanup_free_ char *acc = dd_asprintf("Sec-WebSocket-Accept: %s", accept);
    _cleanup_free_ char *proto =
        protocol ? dd_asprintf("Sec-WebSocket-Protocol: %s", protocol) : NULL;
    const char *headers[] = {"Connection: Upgrade", "Upgrade: websocket", acc, proto, NULL};
    return http_upgrade(req, headers, ops, ud);
}

static void header_add(dd_buf *out, unsigned opcode, uint64_t len)
{
    uint8_t h[10];
    size_t n = 2;
    h[0] = 0x80 | (opcode & 0x0f);
    if (len < 126) {
        h[1] = (uint8_t)len;
    } else if (len <= 0xffff) {
        h[1] = 126;
        h[2] = (uint8_t)(len >> 8);
        h[3] = (uint8_t)len;
        n = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (uint8_t)(len >> (56 - 8 * i));
        n = 10;
    }
    dd_buf_add(out, h, n);
}

void ws_frame_add(dd_buf *out, unsigned opcode, const void *data, size_t len)
{
    header_add(out, opcode, len);
    if (len)
        dd_buf_add(out, data, len);
}

void ws_frame_add_prefixed(dd_buf *out, unsigned opcode, uint8_t prefix, const void *data,
                           size_t len)
{
    header_add(out, opcode, (uint64_t)len + 1);
    dd_buf_addc(out, (char)prefix);
    if (len)
        dd_buf_add(out, data, len);
}

void ws_close_add(dd_buf *out, unsigned code, const char *reason)
{
    size_t rl = reason ? strnlen(reason, 123) : 0;
    uint8_t p[125];
    p[0] = (uint8_t)(code >> 8);
    p[1] = (uint8_t)code;
    if (rl)
        memcpy(p + 2, reason, rl);
    ws_frame_add(out, WS_CLOSE, p, rl + 2);
}

static int check_header(const struct ws_frame *f, unsigned b0, bool require_mask, uint64_t max,
                        dd_err *e)
{
    bool control = f->opcode & 0x8;
    if (b0 & 0x70)
        return dd_err_set(e, EPROTO, "reserved bits set in a WebSocket frame");
    if ((f->opcode > WS_BINARY && f->opcode < WS_CLOSE) || f->opcode > WS_PONG)
        return dd_err_set(e, EPROTO, "unknown WebSocket opcode %u", f->opcode);
    if (control && (!f->fin || f->payload_len > 125))
        return dd_err_set(e, EPROTO, "invalid WebSocket control frame");
    if (require_mask && !f->masked)
        return dd_err_set(e, EPROTO, "client WebSocket frames must be masked");
    if (f->payload_len > max)
        return dd_err_set(e, EPROTO, "WebSocket frame of %llu bytes is too large",
                          (unsigned long long)f->payload_len);
    return 0;
}

int ws_frame_parse(const uint8_t *d, size_t len, bool require_mask, uint64_t max_payload,
                   struct ws_frame *ret, dd_err *e)
{
    if (len < 2)
        return 0;
    struct ws_frame f = {.opcode = d[0] & 0x0f, .fin = d[0] & 0x80, .masked = d[1] & 0x80};
    size_t n = 2;
    uint64_t pl = d[1] & 0x7f;
    if (pl == 126 || pl == 127) {
        size_t ext = pl == 126 ? 2 : 8;
        if (len < n + ext)
            return 0;
        pl = 0;
        for (size_t i = 0; i < ext; i++)
            pl = pl << 8 | d[n + i];
        if ((ext == 8 && pl >> 63) || (ext == 2 && pl < 126) || (ext == 8 && pl <= 0xffff))
            return dd_err_set(e, EPROTO, "non-minimal WebSocket payload length");
        n += ext;
    }
    f.payload_len = pl;
    if (f.masked) {
        if (len < n + 4)
            return 0;
        memcpy(f.mask, d + n, 4);
        n += 4;
    }
    f.header_len = n;
    int r = check_header(&f, d[0], require_mask, max_payload, e);
    if (r < 0)
        return r;
    *ret = f;
    return 1;
}

void ws_reader_init(ws_reader *r, bool require_mask)
{
    *r = (ws_reader){.require_mask = require_mask};
    dd_buf_init(&r->in);
    dd_buf_init(&r->msg);
    dd_buf_init(&r->ctl);
}

void ws_reader_release(ws_reader *r)
{
    dd_buf_release(&r->in);
    dd_buf_release(&r->msg);
    dd_buf_release(&r->ctl);
}

void ws_reader_feed(ws_reader *r, const void *data, size_t len)
{
    dd_buf_add(&r->in, data, len);
}

static void unmask_into(dd_buf *dst, const struct ws_frame *f, const uint8_t *p)
{
    size_t start = dst->len;
    dd_buf_add(dst, p, f->payload_len);
    if (f->masked)
        for (size_t i = 0; i < f->payload_len; i++)
            dst->data[start + i] ^= f->mask[i & 3];
}

/* Takes one complete frame off the input; 1 = a message is ready in *ret. */
static int take_frame(ws_reader *r, const struct ws_frame *f, struct ws_msg *ret, dd_err *e)
{
    const uint8_t *p = (const uint8_t *)r->in.data + f->header_len;
    if (f->opcode & 0x8) {
        dd_buf_reset(&r->ctl);
        unmask_into(&r->ctl, f, p);
        *ret = (struct ws_msg){f->opcode, (const uint8_t *)r->ctl.data, r->ctl.len};
        return 1;
    }
    if (f->opcode == WS_CONT && !r->msg_opcode)
        return dd_err_set(e, EPROTO, "WebSocket continuation frame without a message");
    if (f->opcode != WS_CONT && r->msg_opcode)
        return dd_err_set(e, EPROTO, "WebSocket message started inside a fragmented one");
    if (f->opcode != WS_CONT) {
        dd_buf_reset(&r->msg);
        r->msg_opcode = f->opcode;
    }
    if (r->msg.len + f->payload_len > r->max_message)
        return dd_err_set(e, EPROTO, "WebSocket message too large");
    unmask_into(&r->msg, f, p);
    if (!f->fin)
        return 0;
    *ret = (struct ws_msg){r->msg_opcode, (const uint8_t *)r->msg.data, r->msg.len};
    r->msg_opcode = 0;
    return 1;
}

int ws_reader_next(ws_reader *r, struct ws_msg *ret, dd_err *e)
{
    if (!r->max_message)
        r->max_message = WS_DEFAULT_MAX;
    if (!r->msg_opcode)
        dd_buf_reset(&r->msg);
    for (;;) {
        struct ws_frame f;
        int k = ws_frame_parse((const uint8_t *)r->in.data, r->in.len, r->require_mask,
                               r->max_message, &f, e);
        if (k <= 0)
            return k;
        if (r->in.len - f.header_len < f.payload_len)
            return 0;
        k = take_frame(r, &f, ret, e);
        dd_buf_consume(&r->in, f.header_len + f.payload_len);
        if (k != 0)
            return k;
    }
}
