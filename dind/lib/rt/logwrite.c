/* The shim's log writer: turns the container's output into Docker json-file lines or Kubernetes
 * CRI lines. Output is split at newlines; a line longer than 16 KiB, or the unterminated tail at
 * the end, is written as a partial entry (json-file: no trailing "\n" in "log"; CRI: tag "P"),
 * as dockerd and the kubelet do. Escaping follows Go's encoding/json, which dockerd uses:
 * quotes, backslash and control characters escaped, '<' '>' '&' as \u003c \u003e \u0026, and
 * invalid UTF-8 replaced by U+FFFD. This file writes a file format; it knows no JSON library. */
#include <stdio.h>

#include "dind/lib/rt/log-internal.h"

#define LINE_MAX_BYTES (16 * 1024)

static size_t utf8_valid_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t need;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0) {
        need = 2;
        cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        need = 3;
        cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        need = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((need == 2 && cp < 0x80) || (need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return need;
}

void rt_json_escape(dd_buf *b, const char *data, size_t len)
{
    const unsigned char *s = (const unsigned char *)data;
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            dd_buf_addc(b, '\\');
            dd_buf_addc(b, (char)c);
        } else if (c == '\n') {
            dd_buf_adds(b, "\\n");
        } else if (c == '\r') {
            dd_buf_adds(b, "\\r");
        } else if (c == '\t') {
            dd_buf_adds(b, "\\t");
        } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            dd_buf_addf(b, "\\u%04x", c);
        } else if (c >= 0x80) {
            size_t n = utf8_valid_len(s + i, len - i);
            if (n == 0) {
                dd_buf_adds(b, "\\ufffd");
                i++;
                continue;
            }
            dd_buf_add(b, s + i, n);
            i += n;
            continue;
        } else {
            dd_buf_addc(b, (char)c);
        }
        i++;
    }
}

static void emit(struct rt_log_writer *w, int stream, const char *data, size_t len, bool partial)
{
    if (w->fd < 0 || w->format == RT_LOG_NONE)
        return;
    char ts[64];
    dd_format_rfc3339nano(dd_now_ns(), ts, sizeof(ts));
    const char *name = stream == RT_STREAM_STDERR ? "stderr" : "stdout";
    dd_buf b = DD_BUF_INIT;
    if (w->format == RT_LOG_CRI) {
        size_t n = len;
        if (n && data[n - 1] == '\n')
            n--;
        dd_buf_addf(&b, "%s %s %c ", ts, name, partial ? 'P' : 'F');
        dd_buf_add(&b, data, n);
        dd_buf_addc(&b, '\n');
    } else {
        dd_buf_adds(&b, "{\"log\":\"");
        rt_json_escape(&b, data, len);
        dd_buf_addf(&b, "\",\"stream\":\"%s\",\"time\":\"%s\"}\n", name, ts);
    }
    /* One write per entry: O_APPEND keeps entries whole for concurrent readers. */
    (void)dd_write_all(w->fd, b.data, b.len);
    dd_buf_release(&b);
}

void rt_log_writer_write(struct rt_log_writer *w, int stream, const char *data, size_t len)
{
    dd_buf *pend = &w->pending[stream == RT_STREAM_STDERR ? 1 : 0];
    dd_buf_add(pend, data, len);
    for (;;) {
        char *nl = pend->len ? memchr(pend->data, '\n', pend->len) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - pend->data) + 1;
            emit(w, stream, pend->data, n, false);
            dd_buf_consume(pend, n);
        } else if (pend->len >= LINE_MAX_BYTES) {
            emit(w, stream, pend->data, LINE_MAX_BYTES, true);
            dd_buf_consume(pend, LINE_MAX_BYTES);
        } else {
            break;
        }
    }
}

void rt_log_writer_flush(struct rt_log_writer *w)
{
    for (int i = 0; i < 2; i++) {
        dd_buf *pend = &w->pending[i];
        if (pend->len)
            emit(w, i ? RT_STREAM_STDERR : RT_STREAM_STDOUT, pend->data, pend->len, true);
        dd_buf_reset(pend);
    }
}

int rt_log_writer_open(struct rt_log_writer *w, const char *path, enum rt_log_format format,
                       dd_err *e)
{
    memset(w, 0, sizeof(*w));
    w->fd = -1;
    w->format = format;
    if (!path || format == RT_LOG_NONE)
        return 0;
    w->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (w->fd < 0)
        return dd_err_sys(e, "opening log file %s", path);
    return 0;
}

void rt_log_writer_close(struct rt_log_writer *w)
{
    rt_log_writer_flush(w);
    dd_buf_release(&w->pending[0]);
    dd_buf_release(&w->pending[1]);
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
}
