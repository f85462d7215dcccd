/* libFuzzer harness for rt's log line parser (json-file lines as dockerd or our shim write them,
 * CRI lines) and the escaper it must invert. The first byte picks the format; the rest is one
 * line. Invariants: a parsed entry has a time; escaping arbitrary bytes and parsing the result
 * back as a json-file line yields the same bytes whenever they were valid UTF-8. */
#include <stdint.h>
#include <stdlib.h>

#include "dind/lib/rt/log-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool valid_utf8_without_nul(const uint8_t *s, size_t n)
{
    dd_buf b = DD_BUF_INIT;
    rt_json_escape(&b, (const char *)s, n);
    bool same = memchr(s, 0, n) == NULL && !strstr(b.data ? b.data : "", "\\ufffd");
    dd_buf_release(&b);
    return same;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum rt_log_format f = data[0] & 1 ? RT_LOG_CRI : RT_LOG_JSON_FILE;
    char *line = dd_strndup((const char *)data + 1, size - 1);
    dd_buf out = DD_BUF_INIT;
    struct rt_log_entry ent;
    if (rt_log_parse_line(f, line, &out, &ent) && ent.time == 0)
        abort();
    dd_buf_release(&out);
    free(line);

    /* Round trip: escape → json-file line → parse. */
    dd_buf j = DD_BUF_INIT;
    dd_buf_adds(&j, "{\"log\":\"");
    rt_json_escape(&j, (const char *)data + 1, size - 1);
    dd_buf_adds(&j, "\",\"stream\":\"stderr\",\"time\":\"2026-01-01T00:00:00.5Z\"}");
    dd_buf back = DD_BUF_INIT;
    if (!rt_log_parse_line(RT_LOG_JSON_FILE, j.data, &back, &ent) || ent.stream != RT_STREAM_STDERR)
        abort();
    if (valid_utf8_without_nul(data + 1, size - 1) &&
        (back.len != size - 1 || memcmp(back.data ? back.data : "", data + 1, size - 1) != 0))
        abort();
    dd_buf_release(&back);
    dd_buf_release(&j);
    return 0;
}
