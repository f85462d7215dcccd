/* Unit tests for the SPDY/3.1 session: a test client compresses header blocks with its own zlib
 * stream and the SPDY/3 dictionary (as Go's spdystream does) and decodes what the session sends.
 * Covered: SYN_STREAM headers, SYN_REPLY, DATA both ways with FIN, byte-by-byte feeding, PING
 * echo, RST for unknown streams, session errors (GOAWAY), the receive window being granted back,
 * and the send window enforced once the peer shows flow control. */
#include <arpa/inet.h>
#include <zlib.h>

#include "dind/spdy.h"
#include "tests/unit/unit.h"

struct tc {
    z_stream def, inf;
    dd_buf out; /* what the session wrote */
    uint32_t stream_id, data_id, fin_id, reset_id;
    char streamtype[32], port[16];
    dd_buf data;
    int streams, fins, goaways, writable;
};

static int t_write(void *ud, const void *d, size_t n)
{
    dd_buf_add(&((struct tc *)ud)->out, d, n);
    return 0;
}

static void t_stream(spdy_session *s, uint32_t id, const spdy_headers *h, bool fin, void *ud)
{
    struct tc *t = ud;
    t->stream_id = id;
    t->streams++;
    const char *v = spdy_headers_get(h, "streamtype");
    snprintf(t->streamtype, sizeof(t->streamtype), "%s", v ? v : "");
    v = spdy_headers_get(h, "port");
    snprintf(t->port, sizeof(t->port), "%s", v ? v : "");
}

static void t_data(spdy_session *s, uint32_t id, const uint8_t *d, size_t n, void *ud)
{
    struct tc *t = ud;
    t->data_id = id;
    dd_buf_add(&t->data, d, n);
}

static void t_fin(spdy_session *s, uint32_t id, void *ud)
{
    ((struct tc *)ud)->fin_id = id;
    ((struct tc *)ud)->fins++;
}

static void t_reset(spdy_session *s, uint32_t id, uint32_t status, void *ud)
{
    ((struct tc *)ud)->reset_id = id;
}

static void t_goaway(spdy_session *s, uint32_t status, void *ud)
{
    ((struct tc *)ud)->goaways++;
}

static void t_writable(spdy_session *s, void *ud)
{
    ((struct tc *)ud)->writable++;
}

static const spdy_callbacks cbs = {t_write, t_stream, t_data, t_fin, t_reset, t_goaway, t_writable};

static spdy_session *setup(struct tc *t)
{
    memset(t, 0, sizeof(*t));
    dd_buf_init(&t->out);
    dd_buf_init(&t->data);
    CHECK(deflateInit(&t->def, Z_DEFAULT_COMPRESSION) == Z_OK);
    CHECK(deflateSetDictionary(&t->def, spdy_dictionary, (uInt)spdy_dictionary_len) == Z_OK);
    CHECK(inflateInit(&t->inf) == Z_OK);
    dd_err e = {0};
    spdy_session *s = spdy_session_new(&cbs, t, &e);
    CHECK(s != NULL);
    return s;
}

static void put32(dd_buf *b, uint32_t v)
{
    v = htonl(v);
    dd_buf_add(b, &v, 4);
}

static void control(dd_buf *b, uint16_t type, uint8_t flags, const dd_buf *payload)
{
    put32(b, 0x80030000u | type);
    put32(b, (uint32_t)flags << 24 | (uint32_t)payload->len);
    dd_buf_add(b, payload->data, payload->len);
}

/* SYN_STREAM with name/value pairs (NULL-terminated), compressed by the client's stream. */
static void syn_stream(struct tc *t, dd_buf *b, uint32_t id, uint8_t flags, const char **nv)
{
    dd_buf raw = DD_BUF_INIT, p = DD_BUF_INIT;
    size_t n = 0;
    while (nv[2 * n])
        n++;
    put32(&raw, (uint32_t)n);
    for (size_t i = 0; i < 2 * n; i++) {
        put32(&raw, (uint32_t)strlen(nv[i]));
        dd_buf_adds(&raw, nv[i]);
    }
    put32(&p, id);
    put32(&p, 0);
    dd_buf_add(&p, "\0\0", 2);
    char z[4096];
    t->def.next_in = (Bytef *)raw.data;
    t->def.avail_in = (uInt)raw.len;
    t->def.next_out = (Bytef *)z;
    t->def.avail_out = sizeof(z);
    CHECK(deflate(&t->def, Z_SYNC_FLUSH) == Z_OK);
    dd_buf_add(&p, z, sizeof(z) - t->def.avail_out);
    control(b, 1, flags, &p);
    dd_buf_release(&raw);
    dd_buf_release(&p);
}

static void data_frame(dd_buf *b, uint32_t id, uint8_t flags, const void *d, size_t n)
{
    put32(b, id);
    put32(b, (uint32_t)flags << 24 | (uint32_t)n);
    dd_buf_add(b, d, n);
}

static void feed(spdy_session *s, const dd_buf *b)
{
    dd_err e = {0};
    CHECK_EQ_INT(spdy_session_feed(s, b->data, b->len, &e), 0);
}

/* Pops the next frame the session wrote: its header and payload. */
static void next_frame(struct tc *t, struct spdy_frame *f, dd_buf *payload)
{
    CHECK(spdy_frame_parse((const uint8_t *)t->out.data, t->out.len, f) == 1);
    CHECK(t->out.len >= 8 + f->length);
    dd_buf_reset(payload);
    dd_buf_add(payload, t->out.data + 8, f->length);
    dd_buf_consume(&t->out, 8 + f->length);
}

static uint32_t be32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return ntohl(v);
}

static const char *nv_exec[] = {"streamtype", "stdout", "port", "80", NULL};

TEST(spdy_syn_stream_and_reply)
{
    struct tc t;
    spdy_session *s = setup(&t);
    dd_buf b = DD_BUF_INIT, p = DD_BUF_INIT;
    syn_stream(&t, &b, 1, 0, nv_exec);
    feed(s, &b);
    CHECK_EQ_INT(t.streams, 1);
    CHECK_EQ_INT(t.stream_id, 1);
    CHECK_EQ_STR(t.streamtype, "stdout");
    CHECK_EQ_STR(t.port, "80");
    CHECK_EQ_INT(spdy_syn_reply(s, 1, NULL, false), 0);
    struct spdy_frame f;
    next_frame(&t, &f, &p);
    CHECK(f.control);
    CHECK_EQ_INT(f.version, 3);
    CHECK_EQ_INT(f.type, SPDY_SYN_REPLY);
    CHECK_EQ_INT(be32(p.data), 1);
    /* the header block inflates with the dictionary to an empty block */
    uint8_t raw[64];
    t.inf.next_in = (Bytef *)p.data + 4;
    t.inf.avail_in = (uInt)p.len - 4;
    t.inf.next_out = raw;
    t.inf.avail_out = sizeof(raw);
    int r = inflate(&t.inf, Z_SYNC_FLUSH);
    if (r == Z_NEED_DICT) {
        CHECK(inflateSetDictionary(&t.inf, spdy_dictionary, (uInt)spdy_dictionary_len) == Z_OK);
        r = inflate(&t.inf, Z_SYNC_FLUSH);
    }
    CHECK(r == Z_OK);
    CHECK_EQ_INT(sizeof(raw) - t.inf.avail_out, 4);
    CHECK_EQ_INT(be32((const char *)raw), 0);
    /* a second stream reuses the compression context */
    dd_buf_reset(&b);
    syn_stream(&t, &b, 3, SPDY_FLAG_FIN, (const char *[]){"streamtype", "error", NULL});
    feed(s, &b);
    CHECK_EQ_INT(t.stream_id, 3);
    CHECK_EQ_STR(t.streamtype, "error");
    spdy_session_free(s);
}

TEST(spdy_data_both_ways_fed_byte_by_byte)
{
    struct tc t;
    spdy_session *s = setup(&t);
    dd_buf b = DD_BUF_INIT, p = DD_BUF_INIT;
    syn_stream(&t, &b, 1, 0, nv_exec);
    data_frame(&b, 1, 0, "hello", 5);
    data_frame(&b, 1, SPDY_FLAG_FIN, " world", 6);
    dd_err e = {0};
    for (size_t i = 0; i < b.len; i++)
        CHECK_EQ_INT(spdy_session_feed(s, b.data + i, 1, &e), 0);
    CHECK_EQ_INT(t.data.len, 11);
    CHECK(!memcmp(t.data.data, "hello world", 11));
    CHECK_EQ_INT(t.fins, 1);
    CHECK_EQ_INT(t.fin_id, 1);
    CHECK_EQ_INT(spdy_syn_reply(s, 1, NULL, false), 0);
    CHECK_EQ_INT(spdy_data(s, 1, "out", 3, true), 0);
    struct spdy_frame f;
    next_frame(&t, &f, &p); /* SYN_REPLY */
    next_frame(&t, &f, &p);
    CHECK(!f.control);
    CHECK_EQ_INT(f.stream_id, 1);
    CHECK_EQ_INT(f.flags, SPDY_FLAG_FIN);
    CHECK_EQ_INT(p.len, 3);
    /* both sides closed: the stream is gone and further data is refused */
    CHECK(!spdy_stream_open(s, 1));
    CHECK_EQ_INT(spdy_data(s, 1, "x", 1, false), -EPIPE);
    spdy_session_free(s);
}

TEST(spdy_ping_echo_and_rst_unknown_stream)
{
    struct tc t;
    spdy_session *s = setup(&t);
    dd_buf b = DD_BUF_INIT, p = DD_BUF_INIT, pl = DD_BUF_INIT;
    put32(&pl, 7);
    control(&b, SPDY_PING, 0, &pl);
    dd_buf_reset(&pl);
    put32(&pl, 8); /* an even id would be ours: not echoed */
    control(&b, SPDY_PING, 0, &pl);
    data_frame(&b, 5, 0, "x", 1);
    feed(s, &b);
    struct spdy_frame f;
    next_frame(&t, &f, &p);
    CHECK_EQ_INT(f.type, SPDY_PING);
    CHECK_EQ_INT(be32(p.data), 7);
    next_frame(&t, &f, &p);
    CHECK_EQ_INT(f.type, SPDY_RST_STREAM);
    CHECK_EQ_INT(be32(p.data), 5);
    CHECK_EQ_INT(be32(p.data + 4), SPDY_INVALID_STREAM);
    CHECK_EQ_INT(t.out.len, 0);
    spdy_session_free(s);
}

TEST(spdy_session_errors_send_goaway)
{
    struct tc t;
    spdy_session *s = setup(&t);
    dd_buf b = DD_BUF_INIT, p = DD_BUF_INIT;
    syn_stream(&t, &b, 3, 0, nv_exec);
    syn_stream(&t, &b, 1, 0, nv_exec); /* ids must increase */
    dd_err e = {0};
    CHECK_EQ_INT(spdy_session_feed(s, b.data, b.len, &e), -EPROTO);
    CHECK(strstr(e.msg, "stream id 1 after 3") != NULL);
    struct spdy_frame f;
    next_frame(&t, &f, &p);
    CHECK_EQ_INT(f.type, SPDY_GOAWAY);
    CHECK_EQ_INT(be32(p.data), 3);
    CHECK_EQ_INT(be32(p.data + 4), SPDY_PROTOCOL_ERROR);
    CHECK(spdy_session_feed(s, "", 0, &e) < 0);
    spdy_session_free(s);

    /* a version 2 frame and a garbage header block are session errors too */
    s = setup(&t);
    dd_buf_reset(&b);
    put32(&b, 0x80020006u);
    put32(&b, 4);
    put32(&b, 1);
    CHECK_EQ_INT(spdy_session_feed(s, b.data, b.len, &e), -EPROTO);
    spdy_session_free(s);
    s = setup(&t);
    dd_buf_reset(&b);
    dd_buf_reset(&p);
    put32(&p, 1);
    put32(&p, 0);
    dd_buf_add(&p, "\0\0garbage-not-zlib", 18);
    control(&b, SPDY_SYN_STREAM, 0, &p);
    CHECK_EQ_INT(spdy_session_feed(s, b.data, b.len, &e), -EPROTO);
    spdy_session_free(s);
}

TEST(spdy_receive_window_granted_back)
{
    struct tc t;
    spdy_session *s = setup(&t);
    dd_buf b = DD_BUF_INIT, p = DD_BUF_INIT;
    syn_stream(&t, &b, 1, 0, nv_exec);
    static char big[40000];
    data_frame(&b, 1, 0, big, sizeof(big));
    feed(s, &b);
    CHECK_EQ_INT(t.data.len, sizeof(big));
    struct spdy_frame f;
    next_frame(&t, &f, &p);
    CHECK_EQ_INT(f.type, SPDY_WINDOW_UPDATE);
    CHECK_EQ_INT(be32(p.data), 0); /* session level (3.1) */
    CHECK_EQ_INT(be32(p.data + 4), sizeof(big));
    next_frame(&t, &f, &p);
    CHECK_EQ_INT(f.type, SPDY_WINDOW_UPDATE);
    CHECK_EQ_INT(be32(p.data), 1);
    CHECK_EQ_INT(be32(p.data + 4), sizeof(big));
    spdy_session_free(s);
}

TEST(spdy_send_window_enforced_after_peer_flow_control)
{
    struct tc t;
    spdy_session *s = setup(&t);
    dd_buf b = DD_BUF_INIT, p = DD_BUF_INIT, pl = DD_BUF_INIT;
    /* SETTINGS_INITIAL_WINDOW_SIZE = 10, then a WINDOW_UPDATE of 5 on the stream */
    put32(&pl, 1);
    put32(&pl, 7);
    put32(&pl, 10);
    control(&b, SPDY_SETTINGS, 0, &pl);
    syn_stream(&t, &b, 1, 0, nv_exec);
    dd_buf_reset(&pl);
    put32(&pl, 1);
    put32(&pl, 5);
    control(&b, SPDY_WINDOW_UPDATE, 0, &pl);
    feed(s, &b);
    CHECK_EQ_INT(spdy_syn_reply(s, 1, NULL, false), 0);
    struct spdy_frame f;
    next_frame(&t, &f, &p);
    CHECK_EQ_INT(spdy_data(s, 1, "0123456789abcdefghij", 20, true), 1);
    next_frame(&t, &f, &p);
    CHECK_EQ_INT(f.length, 15);
    CHECK_EQ_INT(f.flags, 0);
    CHECK_EQ_INT(t.out.len, 0);
    CHECK_EQ_INT(spdy_session_queued(s), 5);
    CHECK_EQ_INT(t.writable, 0);
    dd_buf_reset(&b);
    control(&b, SPDY_WINDOW_UPDATE, 0, &pl);
    feed(s, &b);
    next_frame(&t, &f, &p);
    CHECK_EQ_INT(f.length, 5);
    CHECK_EQ_INT(f.flags, SPDY_FLAG_FIN);
    CHECK(!memcmp(p.data, "fghij", 5));
    CHECK_EQ_INT(spdy_session_queued(s), 0);
    CHECK_EQ_INT(t.writable, 1); /* the producer may continue */
    spdy_session_free(s);
}

TEST(spdy_header_block_parse)
{
    spdy_headers h;
    dd_err e = {0};
    static const uint8_t ok[] = {0,   0, 0, 1, 0, 0,   0,   4, 'p', 'o', 'r',
                                 't', 0, 0, 0, 5, '8', '0', 0, '8', '1'};
    CHECK_EQ_INT(spdy_headers_parse(ok, sizeof(ok), &h, &e), 0);
    CHECK_EQ_INT(h.n, 1);
    CHECK_EQ_STR(spdy_headers_get(&h, "Port"), "80"); /* first value, NUL-separated */
    spdy_headers_release(&h);
    CHECK(spdy_headers_parse(ok, sizeof(ok) - 1, &h, &e) < 0);
    static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    CHECK(spdy_headers_parse(huge, sizeof(huge), &h, &e) < 0);
    static const uint8_t empty_name[] = {0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    CHECK(spdy_headers_parse(empty_name, sizeof(empty_name), &h, &e) < 0);
}

TEST(spdy_large_header_block)
{
    struct tc t;
    spdy_session *s = setup(&t);
    static char big[12289]; /* decompresses to several inflate buffers */
    memset(big, 'a', sizeof(big) - 1);
    dd_buf b = DD_BUF_INIT;
    syn_stream(&t, &b, 1, 0, (const char *[]){"x-big", big, "streamtype", "data", NULL});
    feed(s, &b);
    CHECK_EQ_INT(t.streams, 1);
    CHECK_EQ_STR(t.streamtype, "data");
    spdy_session_free(s);
}
