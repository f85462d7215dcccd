/* libFuzzer harness for the HTTP request parser: request head, query string, route patterns and
 * the chunked body decoder, exactly as the server applies them to bytes from a socket. */
#include "dind/lib/http/http-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const patterns[] = {
    "/containers/{id}/json", "/images/{name*}/json", "/images/{name*}",
    "/exec/{id}/start",      "/v1.41/{rest*}",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    http_head h;
    int status = 0;
    int r = http_parse_head(in, size, 4096, &h, &status);
    if (r <= 0)
        return 0;
    http_query q;
    if (http_query_parse(h.query, &q) == 0)
        http_query_release(&q);
    for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
        http_params p;
        if (http_pattern_match(patterns[i], h.path, &p))
            http_params_release(&p);
    }
    if (h.chunked) {
        http_chunked st = {0};
        dd_buf body = DD_BUF_INIT;
        bool done = false;
        size_t off = (size_t)r;
        /* feed in uneven slices to exercise the state machine's resumption */
        for (size_t step = 1; off < size && !done; step = step * 2 + 1) {
            size_t n = size - off < step ? size - off : step;
            ssize_t k = http_chunked_feed(&st, in + off, n, &body, &done);
            if (k < 0)
                break;
            off += (size_t)k;
            if (k == 0 && !done)
                break;
        }
        dd_buf_release(&body);
    }
    http_head_release(&h);
    return 0;
}
