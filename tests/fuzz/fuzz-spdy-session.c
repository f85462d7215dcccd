/* libFuzzer harness for the SPDY/3.1 session (bytes from an untrusted client after an upgrade).
 * The input is fed in two pieces split at a point chosen by the first byte; the callbacks answer
 * like the exec and port-forward handlers do (SYN_REPLY, echoing data, FIN, resets), so the send
 * side and the stream table are exercised too. Invariants: the session either accepts the bytes or
 * fails with -EPROTO/-EPIPE, keeps failing afterwards, and nothing leaks (ASan). The header-block
 * parser is also run on the raw input. */
#include <stdint.h>
#include <stdlib.h>

#include "dind/spdy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t written;

static int f_write(void *ud, const void *d, size_t n)
{
    (void)ud, (void)d;
    written += n;
    return written > (1u << 20) ? 1 : 0;
}

static void f_stream(spdy_session *s, uint32_t id, const spdy_headers *h, bool fin, void *ud)
{
    (void)ud, (void)fin;
    const char *t = spdy_headers_get(h, "streamtype");
    if (t && t[0] == 'x')
        spdy_rst(s, id, SPDY_REFUSED_STREAM);
    else
        spdy_syn_reply(s, id, h, false);
}

static void f_data(spdy_session *s, uint32_t id, const uint8_t *d, size_t n, void *ud)
{
    (void)ud;
    spdy_data(s, id, d, n, n && d[0] == 'F');
    if (n && d[0] == 'R')
        spdy_rst(s, id, SPDY_CANCEL);
}

static void f_fin(spdy_session *s, uint32_t id, void *ud)
{
    (void)ud;
    spdy_data(s, id, NULL, 0, true);
}

static const spdy_callbacks cb = {f_write, f_stream, f_data, f_fin, NULL, NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    spdy_headers h;
    dd_err e = {0};
    if (spdy_headers_parse(data, size, &h, &e) == 0)
        spdy_headers_release(&h);
    written = 0;
    spdy_session *s = spdy_session_new(&cb, NULL, &e);
    if (!s)
        abort();
    size_t n = size - 1, split = data[0] % (n + 1);
    int r1 = spdy_session_feed(s, data + 1, split, &e);
    int r2 = spdy_session_feed(s, data + 1 + split, n - split, &e);
    if ((r1 < 0 || r2 < 0) && r2 != -EPROTO && r2 != -EPIPE)
        abort();
    if (r1 == -EPROTO && r2 >= 0) /* a failed session stays failed */
        abort();
    spdy_goaway(s, 0);
    spdy_session_free(s);
    return 0;
}
