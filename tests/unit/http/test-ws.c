/* Unit tests for the WebSocket codec: the RFC 6455 accept key example, frame headers of every
 * length form, masking, fragment reassembly with an interleaved ping, and the protocol errors a
 * server must refuse. */
#include "dind/ws.h"
#include "tests/unit/unit.h"

static void client_frame(dd_buf *out, unsigned b0, const void *data, size_t len)
{
    static const uint8_t mask[4] = {0x11, 0x22, 0x33, 0x44};
    uint8_t h[14];
    size_t n = 2;
    h[0] = (uint8_t)b0;
    if (len < 126) {
        h[1] = 0x80 | (uint8_t)len;
    } else {
        h[1] = 0x80 | 126;
        h[2] = (uint8_t)(len >> 8);
        h[3] = (uint8_t)len;
        n = 4;
    }
    memcpy(h + n, mask, 4);
    dd_buf_add(out, h, n + 4);
    for (size_t i = 0; i < len; i++)
        dd_buf_addc(out, (char)(((const uint8_t *)data)[i] ^ mask[i & 3]));
}

TEST(ws_accept_key_rfc_example)
{
    char out[32];
    CHECK_EQ_INT(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
    CHECK_EQ_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    CHECK(ws_accept_key("short", out) < 0);
    CHECK(ws_accept_key(NULL, out) < 0);
}

TEST(ws_server_frames_lengths)
{
    dd_buf b = DD_BUF_INIT;
    ws_frame_add_prefixed(&b, WS_BINARY, 1, "hi", 2);
    CHECK_EQ_INT(b.len, 5);
    CHECK_EQ_INT((uint8_t)b.data[0], 0x82);
    CHECK_EQ_INT((uint8_t)b.data[1], 3);
    CHECK_EQ_INT(b.data[2], 1);
    dd_buf_reset(&b);
    char big[70000] = {0};
    ws_frame_add(&b, WS_BINARY, big, 300);
    CHECK_EQ_INT((uint8_t)b.data[1], 126);
    CHECK_EQ_INT(b.len, 4 + 300);
    dd_buf_reset(&b);
    ws_frame_add(&b, WS_BINARY, big, sizeof(big));
    CHECK_EQ_INT((uint8_t)b.data[1], 127);
    CHECK_EQ_INT(b.len, 10 + sizeof(big));
    struct ws_frame f;
    CHECK_EQ_INT(ws_frame_parse((uint8_t *)b.data, b.len, false, 1 << 20, &f, NULL), 1);
    CHECK_EQ_INT(f.payload_len, sizeof(big));
    CHECK_EQ_INT(f.header_len, 10);
    CHECK_EQ_INT(ws_frame_parse((uint8_t *)b.data, 5, false, 1 << 20, &f, NULL), 0);
    dd_buf_release(&b);
}

TEST(ws_reader_fragments_and_ping)
{
    ws_reader r;
    ws_reader_init(&r, true);
    dd_buf in = DD_BUF_INIT;
    client_frame(&in, 0x02, "\x00he", 3); /* binary, not FIN */
    client_frame(&in, 0x89, "p", 1);      /* ping in the middle */
    client_frame(&in, 0x80, "llo", 3);    /* continuation, FIN */
    client_frame(&in, 0x81, "\x00t", 2);  /* text, as python sends */
    struct ws_msg m;
    dd_err e = {0};
    /* Byte by byte: nothing is returned before a frame is complete. */
    size_t i = 0;
    int got = 0;
    const char *want[] = {"p", "\0hello", "\0t"};
    unsigned ops[] = {WS_PING, WS_BINARY, WS_TEXT};
    size_t lens[] = {1, 6, 2};
    for (; i < in.len; i++) {
        ws_reader_feed(&r, in.data + i, 1);
        int k;
        while ((k = ws_reader_next(&r, &m, &e)) == 1) {
            CHECK(got < 3);
            CHECK_EQ_INT(m.opcode, ops[got]);
            CHECK_EQ_INT(m.len, lens[got]);
            CHECK(!memcmp(m.data, want[got], m.len));
            got++;
        }
        CHECK_EQ_INT(k, 0);
    }
    CHECK_EQ_INT(got, 3);
    ws_reader_release(&r);
    dd_buf_release(&in);
}

static int parse_one(const char *bytes, size_t n)
{
    ws_reader r;
    ws_reader_init(&r, true);
    ws_reader_feed(&r, bytes, n);
    struct ws_msg m;
    dd_err e = {0};
    int k = ws_reader_next(&r, &m, &e);
    ws_reader_release(&r);
    return k;
}

TEST(ws_reader_refuses_bad_frames)
{
    CHECK_EQ_INT(parse_one("\x82\x01x", 3), -EPROTO);                /* unmasked */
    CHECK_EQ_INT(parse_one("\xc2\x80\0\0\0\0", 6), -EPROTO);         /* RSV1 */
    CHECK_EQ_INT(parse_one("\x83\x80\0\0\0\0", 6), -EPROTO);         /* opcode 3 */
    CHECK_EQ_INT(parse_one("\x09\x80\0\0\0\0", 6), -EPROTO);         /* fragmented ping */
    CHECK_EQ_INT(parse_one("\x80\x80\0\0\0\0", 6), -EPROTO);         /* lone continuation */
    CHECK_EQ_INT(parse_one("\x82\xfe\x00\x05\0\0\0\0", 8), -EPROTO); /* non-minimal length */
    dd_buf b = DD_BUF_INIT;
    client_frame(&b, 0x02, "a", 1);
    client_frame(&b, 0x82, "b", 1); /* new message inside a fragmented one */
    CHECK_EQ_INT(parse_one(b.data, b.len), -EPROTO);
    dd_buf_release(&b);
}

TEST(ws_close_frame)
{
    dd_buf b = DD_BUF_INIT;
    ws_close_add(&b, 1000, "bye");
    CHECK_EQ_INT(b.len, 2 + 5);
    CHECK_EQ_INT((uint8_t)b.data[0], 0x88);
    CHECK_EQ_INT((uint8_t)b.data[2], 0x03);
    CHECK_EQ_INT((uint8_t)b.data[3], 0xe8);
    dd_buf_release(&b);
}
