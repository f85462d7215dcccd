/* spdy.c: a SPDY/3.1 server session without I/O. It cuts the received bytes into frames,
 * inflates header blocks with the session's single zlib stream (primed with the SPDY/3
 * dictionary), validates stream ids and states as the draft requires (a non-increasing or even
 * SYN_STREAM id is a session error; data on an unknown or half-closed stream a stream error),
 * answers PINGs, and turns the rest into callbacks. Outgoing frames (SYN_REPLY, DATA, RST_STREAM,
 * GOAWAY, WINDOW_UPDATE) go through the caller's write callback; header blocks are deflated with
 * the session's output zlib stream and a sync flush per block. Flow control is described in
 * dind/spdy.h. What the streams mean (exec channels, port-forward pairs) is the caller's business.
 */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "dind/spdy.h"

struct spdy_stream {
    uint32_t id;
    bool peer_fin, local_fin, pending_fin;
    int64_t send_window;
    uint32_t recv_consumed; /* bytes delivered since our last WINDOW_UPDATE */
    dd_buf pending;         /* data waiting for send window */
};

struct spdy_session {
    spdy_callbacks cb;
    void *ud;
    z_stream zin, zout;
    bool zin_ok, zout_ok, dead, peer_fc, goaway_sent;
    dd_buf in;
    uint32_t last_peer_id;
    int64_t initial_window;    /* peer's SETTINGS_INITIAL_WINDOW_SIZE */
    int64_t session_window;    /* SPDY/3.1 session-level send window */
    uint32_t session_consumed; /* received bytes not yet granted back at session level */
    struct spdy_stream **st;
    size_t nst;
};

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(dd_buf *b, uint32_t v)
{
    uint32_t n = htonl(v);
    dd_buf_add(b, &n, 4);
}

int spdy_frame_parse(const uint8_t *d, size_t len, struct spdy_frame *ret)
{
    if (len < 8)
        return 0;
    struct spdy_frame f = {.control = d[0] & 0x80, .flags = d[4]};
    if (f.control) {
        f.version = (uint16_t)((d[0] & 0x7f) << 8 | d[1]);
        f.type = (uint16_t)(d[2] << 8 | d[3]);
    } else {
        f.stream_id = be32(d) & 0x7fffffff;
    }
    f.length = (uint32_t)d[5] << 16 | (uint32_t)d[6] << 8 | d[7];
    *ret = f;
    return 1;
}

/* ---- header blocks ---- */

void spdy_headers_release(spdy_headers *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->names[i]);
        free(h->values[i]);
    }
    free(h->names);
    free(h->values);
    *h = (spdy_headers){0};
}

const char *spdy_headers_get(const spdy_headers *h, const char *name)
{
    for (size_t i = 0; h && i < h->n; i++)
        if (!strcasecmp(h->names[i], name))
            return h->values[i];
    return NULL;
}

/* Reads a 32-bit length and that many bytes; NULL when the block is too short. */
static char *take_string(const uint8_t *d, size_t len, size_t *pos)
{
    if (len - *pos < 4)
        return NULL;
    uint32_t n = be32(d + *pos);
    *pos += 4;
    if (len - *pos < n)
        return NULL;
    char *s = dd_malloc((size_t)n + 1); /* not strndup: values may hold NUL separators */
    memcpy(s, d + *pos, n);
    s[n] = 0;
    *pos += n;
    return s;
}

int spdy_headers_parse(const uint8_t *d, size_t len, spdy_headers *ret, dd_err *e)
{
    spdy_headers h = {0};
    if (len < 4)
        return dd_err_set(e, EPROTO, "SPDY header block too short");
    uint32_t count = be32(d);
    size_t pos = 4;
    if (count > (len - 4) / 8)
        return dd_err_set(e, EPROTO, "SPDY header block claims %u pairs in %zu bytes", count, len);
    h.names = dd_calloc(count ? count : 1, sizeof(char *));
    h.values = dd_calloc(count ? count : 1, sizeof(char *));
    for (uint32_t i = 0; i < count; i++) {
        char *name = take_string(d, len, &pos);
        char *value = name ? take_string(d, len, &pos) : NULL;
        if (!value || !name[0]) {
            free(name);
            free(value);
            spdy_headers_release(&h);
            return dd_err_set(e, EPROTO, "malformed SPDY header block");
        }
        h.names[h.n] = name;
        h.values[h.n++] = value;
    }
    if (pos != len) {
        spdy_headers_release(&h);
        return dd_err_set(e, EPROTO, "trailing bytes after a SPDY header block");
    }
    *ret = h;
    return 0;
}

/* Inflates one compressed header block (the stream's state carries over between blocks). */
static int inflate_block(spdy_session *s, const uint8_t *d, size_t len, dd_buf *out, dd_err *e)
{
    s->zin.next_in = (Bytef *)d;
    s->zin.avail_in = (uInt)len;
    for (;;) {
        char tmp[4096];
        s->zin.next_out = (Bytef *)tmp;
        s->zin.avail_out = sizeof(tmp);
        int r = inflate(&s->zin, Z_SYNC_FLUSH);
        if (r == Z_NEED_DICT) {
            if (inflateSetDictionary(&s->zin, spdy_dictionary, (uInt)spdy_dictionary_len) != Z_OK)
                return dd_err_set(e, EPROTO, "SPDY header block uses an unknown dictionary");
            continue;
        }
        if (r != Z_OK && r != Z_BUF_ERROR)
            return dd_err_set(e, EPROTO, "SPDY header block does not inflate: %s",
                              s->zin.msg ? s->zin.msg : "zlib error");
        dd_buf_add(out, tmp, sizeof(tmp) - s->zin.avail_out);
        if (out->len > SPDY_MAX_HEADER_DATA)
            return dd_err_set(e, EPROTO, "SPDY header block over %u bytes", SPDY_MAX_HEADER_DATA);
        /* a full output buffer may leave more output inside zlib: go round again */
        if (s->zin.avail_out != 0 && (s->zin.avail_in == 0 || r == Z_BUF_ERROR))
            break;
    }
    if (s->zin.avail_in != 0)
        return dd_err_set(e, EPROTO, "SPDY header block does not inflate completely");
    return 0;
}

static int read_headers(spdy_session *s, const uint8_t *d, size_t len, spdy_headers *ret, dd_err *e)
{
    dd_buf raw = DD_BUF_INIT;
    int r = inflate_block(s, d, len, &raw, e);
    if (r >= 0)
        r = spdy_headers_parse((const uint8_t *)raw.data, raw.len, ret, e);
    dd_buf_release(&raw);
    return r;
}

static void deflate_block(spdy_session *s, const spdy_headers *h, dd_buf *out)
{
    dd_buf raw = DD_BUF_INIT;
    put32(&raw, h ? (uint32_t)h->n : 0);
    for (size_t i = 0; h && i < h->n; i++) {
        put32(&raw, (uint32_t)strlen(h->names[i]));
        dd_buf_adds(&raw, h->names[i]);
        put32(&raw, (uint32_t)strlen(h->values[i]));
        dd_buf_adds(&raw, h->values[i]);
    }
    s->zout.next_in = (Bytef *)raw.data;
    s->zout.avail_in = (uInt)raw.len;
    do {
        char tmp[4096];
        s->zout.next_out = (Bytef *)tmp;
        s->zout.avail_out = sizeof(tmp);
        deflate(&s->zout, Z_SYNC_FLUSH);
        dd_buf_add(out, tmp, sizeof(tmp) - s->zout.avail_out);
    } while (s->zout.avail_out == 0);
    dd_buf_release(&raw);
}

/* ---- session ---- */

spdy_session *spdy_session_new(const spdy_callbacks *cb, void *ud, dd_err *e)
{
    spdy_session *s = dd_calloc(1, sizeof(*s));
    s->cb = *cb;
    s->ud = ud;
    s->initial_window = SPDY_INITIAL_WINDOW;
    s->session_window = SPDY_INITIAL_WINDOW;
    dd_buf_init(&s->in);
    s->zin_ok = inflateInit(&s->zin) == Z_OK;
    s->zout_ok = deflateInit(&s->zout, Z_DEFAULT_COMPRESSION) == Z_OK &&
                 deflateSetDictionary(&s->zout, spdy_dictionary, (uInt)spdy_dictionary_len) == Z_OK;
    if (!s->zin_ok || !s->zout_ok) {
        dd_err_set(e, ENOMEM, "initialising zlib for SPDY");
        spdy_session_free(s);
        return NULL;
    }
    return s;
}

static void stream_free(struct spdy_stream *st)
{
    dd_buf_release(&st->pending);
    free(st);
}

void spdy_session_free(spdy_session *s)
{
    if (!s)
        return;
    if (s->zin_ok)
        inflateEnd(&s->zin);
    if (s->zout_ok)
        deflateEnd(&s->zout);
    for (size_t i = 0; i < s->nst; i++)
        stream_free(s->st[i]);
    free(s->st);
    dd_buf_release(&s->in);
    free(s);
}

static struct spdy_stream *find(const spdy_session *s, uint32_t id)
{
    for (size_t i = 0; i < s->nst; i++)
        if (s->st[i]->id == id)
            return s->st[i];
    return NULL;
}

static void forget(spdy_session *s, uint32_t id)
{
    for (size_t i = 0; i < s->nst; i++)
        if (s->st[i]->id == id) {
            stream_free(s->st[i]);
            s->st[i] = s->st[--s->nst];
            return;
        }
}

/* Drops a stream once both sides have closed it and nothing waits to be sent. */
static void maybe_forget(spdy_session *s, struct spdy_stream *st)
{
    if (st->peer_fin && st->local_fin && !st->pending.len)
        forget(s, st->id);
}

static int emit(spdy_session *s, const dd_buf *b)
{
    return s->cb.write(s->ud, b->data, b->len);
}

static void control_head(dd_buf *b, uint16_t type, uint8_t flags, uint32_t len)
{
    put32(b, 0x80000000u | 3u << 16 | type);
    put32(b, (uint32_t)flags << 24 | len);
}

static int send_simple(spdy_session *s, uint16_t type, uint32_t a, uint32_t b)
{
    dd_buf f = DD_BUF_INIT;
    control_head(&f, type, 0, 8);
    put32(&f, a);
    put32(&f, b);
    int r = emit(s, &f);
    dd_buf_release(&f);
    return r;
}

int spdy_rst(spdy_session *s, uint32_t id, uint32_t status)
{
    forget(s, id);
    return send_simple(s, SPDY_RST_STREAM, id & 0x7fffffff, status);
}

int spdy_goaway(spdy_session *s, uint32_t status)
{
    if (s->goaway_sent)
        return 0;
    s->goaway_sent = true;
    return send_simple(s, SPDY_GOAWAY, s->last_peer_id, status);
}

int spdy_syn_reply(spdy_session *s, uint32_t id, const spdy_headers *headers, bool fin)
{
    struct spdy_stream *st = find(s, id);
    if (!st || st->local_fin)
        return -EPIPE;
    dd_buf block = DD_BUF_INIT, f = DD_BUF_INIT;
    deflate_block(s, headers, &block);
    control_head(&f, SPDY_SYN_REPLY, fin ? SPDY_FLAG_FIN : 0, (uint32_t)block.len + 4);
    put32(&f, id);
    dd_buf_add(&f, block.data, block.len);
    int r = emit(s, &f);
    dd_buf_release(&block);
    dd_buf_release(&f);
    if (fin) {
        st->local_fin = true;
        maybe_forget(s, st);
    }
    return r;
}

static int send_data_frame(spdy_session *s, uint32_t id, const void *d, size_t len, bool fin)
{
    dd_buf f = DD_BUF_INIT;
    put32(&f, id & 0x7fffffff);
    put32(&f, (fin ? (uint32_t)SPDY_FLAG_FIN << 24 : 0) | (uint32_t)len);
    dd_buf_add(&f, d, len);
    int r = emit(s, &f);
    dd_buf_release(&f);
    return r;
}

/* Sends what the windows allow of a stream's queued data (everything when not enforced), then
 * the FIN once everything has gone. 1: data still waits for window (or the transport is full). */
static int flush_stream(spdy_session *s, struct spdy_stream *st)
{
    int ret = 0;
    while (st->pending.len) {
        int64_t room = (int64_t)st->pending.len;
        if (s->peer_fc) {
            room = st->send_window < s->session_window ? st->send_window : s->session_window;
            if (room > (int64_t)st->pending.len)
                room = (int64_t)st->pending.len;
        }
        if (room <= 0)
            return 1;
        if (room > 65536)
            room = 65536;
        bool fin = (size_t)room == st->pending.len && st->pending_fin;
        int r = send_data_frame(s, st->id, st->pending.data, (size_t)room, fin);
        if (r < 0)
            return r;
        ret |= r;
        st->send_window -= room;
        s->session_window -= room;
        dd_buf_consume(&st->pending, (size_t)room);
        st->local_fin = fin;
    }
    if (st->pending_fin && !st->local_fin) {
        st->local_fin = true;
        int r = send_data_frame(s, st->id, NULL, 0, true);
        if (r < 0)
            return r;
        ret |= r;
    }
    return ret;
}

int spdy_data(spdy_session *s, uint32_t id, const void *data, size_t len, bool fin)
{
    struct spdy_stream *st = find(s, id);
    if (!st || st->local_fin || st->pending_fin)
        return -EPIPE;
    dd_buf_add(&st->pending, data, len);
    st->pending_fin = fin;
    int r = flush_stream(s, st);
    if (r >= 0)
        maybe_forget(s, st);
    return r;
}

size_t spdy_session_queued(const spdy_session *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nst; i++)
        n += s->st[i]->pending.len;
    return n;
}

bool spdy_stream_open(const spdy_session *s, uint32_t id)
{
    return find(s, id) != NULL;
}

/* ---- receiving ---- */

static int session_error(spdy_session *s, dd_err *e)
{
    s->dead = true;
    spdy_goaway(s, SPDY_PROTOCOL_ERROR);
    return -EPROTO;
}

static int on_syn_stream(spdy_session *s, const struct spdy_frame *f, const uint8_t *p, dd_err *e)
{
    if (f->length < 10)
        return dd_err_set(e, EPROTO, "SYN_STREAM frame too short");
    uint32_t id = be32(p) & 0x7fffffff;
    spdy_headers h = {0};
    /* inflate even a refused block: the zlib stream is shared by the whole session */
    if (read_headers(s, p + 10, f->length - 10, &h, e) < 0)
        return -EPROTO;
    if (!(id & 1) || id <= s->last_peer_id) {
        spdy_headers_release(&h);
        return dd_err_set(e, EPROTO, "SYN_STREAM with stream id %u after %u", id, s->last_peer_id);
    }
    s->last_peer_id = id;
    if (s->goaway_sent) {
        spdy_headers_release(&h);
        return send_simple(s, SPDY_RST_STREAM, id, SPDY_REFUSED_STREAM) < 0 ? -EPIPE : 0;
    }
    struct spdy_stream *st = dd_calloc(1, sizeof(*st));
    st->id = id;
    st->send_window = s->initial_window;
    st->peer_fin = f->flags & SPDY_FLAG_FIN;
    dd_buf_init(&st->pending);
    s->st = dd_realloc(s->st, (s->nst + 1) * sizeof(*s->st));
    s->st[s->nst++] = st;
    if (s->cb.on_stream)
        s->cb.on_stream(s, id, &h, st->peer_fin, s->ud);
    spdy_headers_release(&h);
    return 0;
}

static void peer_fin(spdy_session *s, struct spdy_stream *st)
{
    uint32_t id = st->id;
    st->peer_fin = true;
    maybe_forget(s, st);
    if (s->cb.on_fin)
        s->cb.on_fin(s, id, s->ud);
}

static int on_headers(spdy_session *s, const struct spdy_frame *f, const uint8_t *p, dd_err *e)
{
    if (f->length < 4)
        return dd_err_set(e, EPROTO, "header frame too short");
    spdy_headers h = {0};
    if (read_headers(s, p + 4, f->length - 4, &h, e) < 0)
        return -EPROTO;
    spdy_headers_release(&h);
    uint32_t id = be32(p) & 0x7fffffff;
    struct spdy_stream *st = find(s, id);
    if (f->type == SPDY_SYN_REPLY) /* we never open streams */
        return spdy_rst(s, id, SPDY_PROTOCOL_ERROR) < 0 ? -EPIPE : 0;
    if (st && !st->peer_fin && (f->flags & SPDY_FLAG_FIN))
        peer_fin(s, st);
    return 0;
}

static void apply_settings(spdy_session *s, const uint8_t *p, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint32_t id = be32(p + 4 + 8 * i) & 0xffffff, v = be32(p + 8 + 8 * i);
        if (id != 7 || v > 0x7fffffff) /* SETTINGS_INITIAL_WINDOW_SIZE */
            continue;
        int64_t delta = (int64_t)v - s->initial_window;
        s->initial_window = v;
        for (size_t k = 0; k < s->nst; k++)
            s->st[k]->send_window += delta;
    }
}

static int window_update(spdy_session *s, uint32_t id, uint32_t delta);

static int on_window_update(spdy_session *s, uint32_t id, uint32_t delta)
{
    size_t queued = spdy_session_queued(s);
    int r = window_update(s, id, delta);
    if (r >= 0 && queued && !spdy_session_queued(s) && s->cb.on_writable)
        s->cb.on_writable(s, s->ud);
    return r;
}

static int window_update(spdy_session *s, uint32_t id, uint32_t delta)
{
    s->peer_fc = true;
    if (id == 0) {
        s->session_window += delta;
        for (size_t i = 0; i < s->nst; i++)
            if (s->st[i]->pending.len && flush_stream(s, s->st[i]) < 0)
                return -EPIPE;
    } else {
        struct spdy_stream *st = find(s, id);
        if (!st)
            return 0;
        st->send_window += delta;
        if (flush_stream(s, st) < 0)
            return -EPIPE;
    }
    for (size_t i = s->nst; i-- > 0;)
        maybe_forget(s, s->st[i]);
    return 0;
}

static int need_len(const struct spdy_frame *f, uint32_t min, bool exact, dd_err *e)
{
    if (f->length < min || (exact && f->length != min))
        return dd_err_set(e, EPROTO, "SPDY control frame %u of invalid length %u", f->type,
                          f->length);
    return 0;
}

static int on_control(spdy_session *s, const struct spdy_frame *f, const uint8_t *p, dd_err *e)
{
    if (f->version != 3)
        return dd_err_set(e, EPROTO, "unsupported SPDY version %u", f->version);
    switch (f->type) {
    case SPDY_SYN_STREAM:
        return on_syn_stream(s, f, p, e);
    case SPDY_SYN_REPLY:
    case SPDY_HEADERS:
        return on_headers(s, f, p, e);
    case SPDY_RST_STREAM: {
        if (need_len(f, 8, true, e) < 0)
            return -EPROTO;
        uint32_t id = be32(p) & 0x7fffffff;
        if (!find(s, id))
            return 0;
        forget(s, id);
        if (s->cb.on_reset)
            s->cb.on_reset(s, id, be32(p + 4), s->ud);
        return 0;
    }
    case SPDY_SETTINGS:
        if (need_len(f, 4, false, e) < 0 || be32(p) > (f->length - 4) / 8)
            return dd_err_set(e, EPROTO, "malformed SETTINGS frame");
        apply_settings(s, p, be32(p));
        return 0;
    case SPDY_PING: {
        if (need_len(f, 4, true, e) < 0)
            return -EPROTO;
        if (!(be32(p) & 1)) /* even ids are our own pings: we send none */
            return 0;
        dd_buf b = DD_BUF_INIT;
        control_head(&b, SPDY_PING, 0, 4);
        dd_buf_add(&b, p, 4);
        int r = emit(s, &b);
        dd_buf_release(&b);
        return r < 0 ? -EPIPE : 0;
    }
    case SPDY_GOAWAY:
        if (need_len(f, 8, true, e) < 0)
            return -EPROTO;
        if (s->cb.on_goaway)
            s->cb.on_goaway(s, be32(p + 4), s->ud);
        return 0;
    case SPDY_WINDOW_UPDATE:
        if (need_len(f, 8, true, e) < 0)
            return -EPROTO;
        if ((be32(p + 4) & 0x7fffffff) == 0)
            return dd_err_set(e, EPROTO, "WINDOW_UPDATE with a zero delta");
        return on_window_update(s, be32(p) & 0x7fffffff, be32(p + 4) & 0x7fffffff);
    default: /* NOOP, CREDENTIAL and unknown types are ignored, as the draft says */
        return 0;
    }
}

/* Grants the peer back the window its data used, in steps of half a window. */
static int grant_window(spdy_session *s, struct spdy_stream *st, size_t len)
{
    int r = 0;
    s->session_consumed += (uint32_t)len;
    if (s->session_consumed >= SPDY_INITIAL_WINDOW / 2) {
        r = send_simple(s, SPDY_WINDOW_UPDATE, 0, s->session_consumed);
        s->session_consumed = 0;
    }
    st->recv_consumed += (uint32_t)len;
    if (r >= 0 && !st->peer_fin && st->recv_consumed >= SPDY_INITIAL_WINDOW / 2) {
        r = send_simple(s, SPDY_WINDOW_UPDATE, st->id, st->recv_consumed);
        st->recv_consumed = 0;
    }
    return r < 0 ? -EPIPE : 0;
}

static int on_data_frame(spdy_session *s, const struct spdy_frame *f, const uint8_t *p)
{
    struct spdy_stream *st = find(s, f->stream_id);
    if (!st) {
        /* late data for a stream we reset or finished is dropped; never-opened ids are not */
        if (f->stream_id > s->last_peer_id || !(f->stream_id & 1))
            return spdy_rst(s, f->stream_id, SPDY_INVALID_STREAM) < 0 ? -EPIPE : 0;
        return 0;
    }
    if (st->peer_fin)
        return spdy_rst(s, st->id, SPDY_STREAM_ALREADY_CLOSED) < 0 ? -EPIPE : 0;
    bool fin = f->flags & SPDY_FLAG_FIN;
    uint32_t id = st->id;
    if (f->length && grant_window(s, st, f->length) < 0)
        return -EPIPE;
    if (f->length && s->cb.on_data)
        s->cb.on_data(s, id, p, f->length, s->ud);
    st = find(s, id); /* the callback may have reset it */
    if (fin && st && !st->peer_fin)
        peer_fin(s, st);
    return 0;
}

int spdy_session_feed(spdy_session *s, const void *data, size_t len, dd_err *e)
{
    if (s->dead)
        return dd_err_set(e, EPROTO, "SPDY session already failed");
    dd_buf_add(&s->in, data, len);
    size_t off = 0;
    int r = 0;
    struct spdy_frame f;
    while (!s->dead && spdy_frame_parse((const uint8_t *)s->in.data + off, s->in.len - off, &f)) {
        if (s->in.len - off - 8 < f.length)
            break;
        const uint8_t *p = (const uint8_t *)s->in.data + off + 8;
        off += 8 + (size_t)f.length;
        r = f.control ? on_control(s, &f, p, e) : on_data_frame(s, &f, p);
        if (r == -EPROTO) {
            dd_err_wrap(e, "SPDY session error");
            session_error(s, e);
            break;
        }
        if (r < 0)
            break;
    }
    dd_buf_consume(&s->in, off);
    if (r == -EPIPE)
        return dd_err_set(e, EPIPE, "SPDY peer is gone");
    return r < 0 ? r : 0;
}
