/* libFuzzer harness for the WebSocket frame reader (bytes from an untrusted client). The input is
 * fed in two pieces split at a point chosen by the first byte. Invariants: every returned message
 * has a known opcode and fits the limit; control messages are at most 125 bytes; the reader never
 * keeps more than the input it was given. */
#include <stdint.h>
#include <stdlib.h>

#include "dind/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t split = size > 1 ? data[0] % size : 0;
    ws_reader r;
    ws_reader_init(&r, data[0] & 1);
    r.max_message = 4096;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    size_t parts[2] = {split < n ? split : n, n - (split < n ? split : n)};
    for (int k = 0; k < 2; k++) {
        ws_reader_feed(&r, p, parts[k]);
        p += parts[k];
        struct ws_msg m;
        dd_err e = {0};
        int rc;
        while ((rc = ws_reader_next(&r, &m, &e)) == 1) {
            if (m.len > 4096 || ((m.opcode & 8) && m.len > 125))
                abort();
            if (m.opcode != WS_TEXT && m.opcode != WS_BINARY && m.opcode != WS_CLOSE &&
                m.opcode != WS_PING && m.opcode != WS_PONG)
                abort();
        }
        if (r.in.len > n)
            abort();
        if (rc < 0)
            break;
    }
    ws_reader_release(&r);
    return 0;
}
