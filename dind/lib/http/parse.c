/* The HTTP/1.1 request parser: request line and headers, the chunked body decoder, query strings
 * and percent-decoding. Pure functions on buffers with no sockets and no allocation beyond their
 * results, so the fuzz harness and the unit tests drive them directly. Strict where laxness is a
 * smuggling risk (conflicting lengths, obs-fold, bad chunk sizes), lenient where clients differ
 * (bare LF line ends, a missing Host). */
#include <ctype.h>
#include <strings.h>

#include "http-internal.h"

#define MAX_HEADERS    1000
#define MAX_CHUNK_LINE 4096

static bool is_tchar(unsigned char c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Finds the end of the head: the offset just after the empty line, or 0. */
static size_t find_head_end(const char *d, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (d[i] != '\n')
            continue;
        if (i + 1 < len && d[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && d[i + 1] == '\r' && d[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* Cuts the next line at s (CRLF or LF), NUL-terminating it; returns the following line. */
static char *next_line(char *s)
{
    char *nl = strchr(s, '\n');
    if (!nl)
        return NULL;
    *nl = '\0';
    if (nl > s && nl[-1] == '\r')
        nl[-1] = '\0';
    return nl + 1;
}

static int parse_request_line(http_head *h, char *line, int *ret_status)
{
    *ret_status = 400;
    char *sp1 = strchr(line, ' ');
    if (!sp1 || sp1 == line)
        return -EINVAL;
    *sp1 = '\0';
    for (char *p = line; *p; p++)
        if (!is_tchar((unsigned char)*p))
            return -EINVAL;
    char *target = sp1 + 1;
    char *sp2 = strchr(target, ' ');
    if (!sp2 || sp2 == target)
        return -EINVAL;
    *sp2 = '\0';
    for (char *p = target; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return -EINVAL;
    const char *ver = sp2 + 1;
    if (strncmp(ver, "HTTP/", 5) != 0 || !isdigit((unsigned char)ver[5]) || ver[6] != '.' ||
        !isdigit((unsigned char)ver[7]) || ver[8] != '\0')
        return -EINVAL;
    if (ver[5] != '1') {
        *ret_status = 505;
        return -EPROTONOSUPPORT;
    }
    h->minor = ver[7] == '0' ? 0 : 1;
    if (target[0] != '/' && strcmp(target, "*") != 0)
        return -EINVAL; /* absolute-form is for proxies; we are an origin server */
    h->method = line;
    h->target = target;
    return 0;
}

static char *trim_ows(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

static int parse_header_line(http_head *h, char *line)
{
    if (*line == ' ' || *line == '\t')
        return -EINVAL; /* obs-fold */
    char *colon = strchr(line, ':');
    if (!colon || colon == line)
        return -EINVAL;
    *colon = '\0';
    for (char *p = line; *p; p++)
        if (!is_tchar((unsigned char)*p))
            return -EINVAL;
    char *value = trim_ows(colon + 1);
    for (char *p = value; *p; p++)
        if (((unsigned char)*p < ' ' && *p != '\t') || *p == 0x7f)
            return -EINVAL;
    h->headers[h->nheaders].name = line;
    h->headers[h->nheaders].value = value;
    h->nheaders++;
    return 0;
}

const char *http_head_get(const http_head *h, const char *name)
{
    for (size_t i = 0; i < h->nheaders; i++)
        if (strcasecmp(h->headers[i].name, name) == 0)
            return h->headers[i].value;
    return NULL;
}

bool http_token_list_has(const char *value, const char *token)
{
    size_t tl = strlen(token);
    const char *p = value;
    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        const char *e = end;
        while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - p) == tl && strncasecmp(p, token, tl) == 0)
            return true;
        p = end;
    }
    return false;
}

static int parse_length(const char *v, uint64_t *ret)
{
    if (!*v)
        return -EINVAL;
    uint64_t n = 0;
    for (const char *p = v; *p; p++) {
        if (!isdigit((unsigned char)*p) || n > (UINT64_MAX - 9) / 10)
            return -EINVAL;
        n = n * 10 + (uint64_t)(*p - '0');
    }
    *ret = n;
    return 0;
}

/* Framing headers: exactly one body length, chunked only as the last coding. */
static int parse_framing(http_head *h, int *ret_status)
{
    *ret_status = 400;
    for (size_t i = 0; i < h->nheaders; i++) {
        const char *n = h->headers[i].name, *v = h->headers[i].value;
        if (strcasecmp(n, "Content-Length") == 0) {
            uint64_t len;
            if (parse_length(v, &len) < 0 || (h->has_length && len != h->content_length))
                return -EINVAL;
            h->has_length = true;
            h->content_length = len;
        } else if (strcasecmp(n, "Transfer-Encoding") == 0) {
            if (strcasecmp(v, "chunked") != 0 || h->chunked) {
                *ret_status = strcasecmp(v, "identity") == 0 ? 400 : 501;
                return -EOPNOTSUPP;
            }
            h->chunked = true;
        }
    }
    if (h->chunked) {
        if (h->minor == 0)
            return -EINVAL;
        h->has_length = false; /* RFC 9112 6.1: Transfer-Encoding overrides Content-Length */
        h->content_length = 0;
    }
    return 0;
}

static void parse_semantics(http_head *h)
{
    const char *conn = http_head_get(h, "Connection");
    if (h->minor >= 1)
        h->keep_alive = !(conn && http_token_list_has(conn, "close"));
    else
        h->keep_alive = conn && http_token_list_has(conn, "keep-alive");
    const char *expect = http_head_get(h, "Expect");
    h->expect_continue = expect && strcasecmp(expect, "100-continue") == 0;
    char *q = strchr(h->target, '?');
    size_t plen = q ? (size_t)(q - h->target) : strlen(h->target);
    /* path and query are carved from the storage tail reserved by http_parse_head */
    h->path = h->target + strlen(h->target) + 1;
    memcpy(h->path, h->target, plen);
    h->path[plen] = '\0';
    h->query = h->path + plen + 1;
    strcpy(h->query, q ? q + 1 : "");
}

int http_parse_head(const char *data, size_t len, size_t max, http_head *ret, int *ret_status)
{
    memset(ret, 0, sizeof(*ret));
    size_t skip = 0; /* RFC 9112 2.2: ignore empty lines before the request line */
    while (skip < len && skip < 64 && (data[skip] == '\r' || data[skip] == '\n'))
        skip++;
    size_t end = find_head_end(data + skip, len - skip);
    if (end == 0 || skip + end > max) {
        *ret_status = 431;
        return (len >= max || skip + end > max) ? -E2BIG : 0;
    }
    end += skip;
    size_t hl = end - skip;
    if (memchr(data + skip, '\0', hl)) {
        *ret_status = 400;
        return -EINVAL;
    }
    /* the head, then copies of target, path and query (parse_semantics) */
    ret->storage = dd_malloc(3 * hl + 8);
    memcpy(ret->storage, data + skip, hl);
    ret->storage[hl] = '\0';
    size_t nlines = 0;
    for (size_t i = 0; i < hl; i++)
        nlines += ret->storage[i] == '\n';
    if (nlines > MAX_HEADERS) {
        *ret_status = 431;
        http_head_release(ret);
        return -E2BIG;
    }
    ret->headers = dd_calloc(nlines + 1, sizeof(*ret->headers));
    char *line = ret->storage;
    char *rest = next_line(line);
    int r = parse_request_line(ret, line, ret_status);
    while (r == 0 && rest && *rest) {
        line = rest;
        rest = next_line(line);
        if (*line == '\0')
            break;
        r = parse_header_line(ret, line);
        *ret_status = 400;
    }
    if (r == 0)
        r = parse_framing(ret, ret_status);
    if (r < 0) {
        http_head_release(ret);
        return r;
    }
    /* the target was NUL-terminated in place; the copies go after the lines */
    char *tail = ret->storage + hl + 1;
    size_t tl = strlen(ret->target);
    memmove(tail, ret->target, tl + 1);
    ret->target = tail;
    parse_semantics(ret);
    return (int)end;
}

void http_head_release(http_head *h)
{
    free(h->storage);
    free(h->headers);
    memset(h, 0, sizeof(*h));
}

/* ---- chunked bodies ---- */

enum { CH_SIZE, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_TRAILER, CH_TRAILER_LF, CH_DONE };

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int chunk_size_byte(http_chunked *st, char c)
{
    if (++st->line > MAX_CHUNK_LINE)
        return -EINVAL;
    if (c == '\r') {
        st->state = CH_SIZE_LF;
        return 0;
    }
    if (c == '\n') {
        st->state = CH_SIZE_LF;
        return 1; /* reprocess as LF */
    }
    if (st->ext)
        return 0;
    if (c == ';' || c == ' ' || c == '\t') {
        st->ext = true;
        return 0;
    }
    int v = hexval(c);
    if (v < 0 || st->remaining > (UINT64_MAX >> 4))
        return -EINVAL;
    st->remaining = st->remaining * 16 + (uint64_t)v;
    st->any_digit = true;
    return 0;
}

static int chunk_size_end(http_chunked *st, char c)
{
    if (c != '\n' || !st->any_digit)
        return -EINVAL;
    st->line = 0;
    st->ext = false;
    st->any_digit = false;
    st->state = st->remaining ? CH_DATA : CH_TRAILER;
    return 0;
}

static int chunk_trailer_byte(http_chunked *st, char c)
{
    if (c == '\r' || c == '\n') {
        bool empty = st->line == 0;
        st->state = CH_TRAILER_LF;
        st->ext = empty; /* reuse: the line was empty, so this ends the body */
        return c == '\n' ? 1 : 0;
    }
    if (++st->line > MAX_CHUNK_LINE)
        return -EINVAL;
    return 0;
}

ssize_t http_chunked_feed(http_chunked *st, const char *in, size_t len, dd_buf *out, bool *ret_done)
{
    size_t i = 0;
    *ret_done = st->state == CH_DONE;
    while (i < len && st->state != CH_DONE) {
        char c = in[i];
        int r = 0;
        switch (st->state) {
        case CH_SIZE:
            r = chunk_size_byte(st, c);
            break;
        case CH_SIZE_LF:
            r = chunk_size_end(st, c);
            break;
        case CH_DATA: {
            size_t n = len - i;
            if (n > st->remaining)
                n = (size_t)st->remaining;
            dd_buf_add(out, in + i, n);
            st->remaining -= n;
            i += n;
            if (st->remaining == 0)
                st->state = CH_DATA_CR;
            continue;
        }
        case CH_DATA_CR:
            if (c == '\r')
                st->state = CH_DATA_LF;
            else if (c == '\n')
                st->state = CH_SIZE;
            else
                r = -EINVAL;
            break;
        case CH_DATA_LF:
            r = c == '\n' ? (st->state = CH_SIZE, 0) : -EINVAL;
            break;
        case CH_TRAILER:
            r = chunk_trailer_byte(st, c);
            break;
        case CH_TRAILER_LF:
            if (c != '\n')
                return -EINVAL;
            st->state = st->ext ? CH_DONE : CH_TRAILER;
            st->line = 0;
            st->ext = false;
            break;
        }
        if (r < 0)
            return -EINVAL;
        if (r == 0)
            i++;
    }
    *ret_done = st->state == CH_DONE;
    return (ssize_t)i;
}

/* ---- query strings ---- */

int http_pct_decode(const char *s, size_t n, bool plus_space, char **ret)
{
    char *out = dd_malloc(n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = i + 1 < n ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(out);
                return -EINVAL;
            }
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        } else {
            *o++ = plus_space && s[i] == '+' ? ' ' : s[i];
        }
    }
    *o = '\0';
    *ret = out;
    return (int)(o - out);
}

int http_query_parse(const char *qs, http_query *ret)
{
    memset(ret, 0, sizeof(*ret));
    const char *p = qs;
    while (p && *p) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (n > 0) {
            const char *eq = memchr(p, '=', n);
            size_t kl = eq ? (size_t)(eq - p) : n;
            char *k = NULL, *v = NULL;
            if (http_pct_decode(p, kl, true, &k) < 0 ||
                http_pct_decode(eq ? eq + 1 : "", eq ? n - kl - 1 : 0, true, &v) < 0) {
                free(k);
                http_query_release(ret);
                return -EINVAL;
            }
            ret->keys = dd_realloc(ret->keys, (ret->n + 1) * sizeof(char *));
            ret->values = dd_realloc(ret->values, (ret->n + 1) * sizeof(char *));
            ret->keys[ret->n] = k;
            ret->values[ret->n] = v;
            ret->n++;
        }
        p = amp ? amp + 1 : NULL;
    }
    return 0;
}

void http_query_release(http_query *q)
{
    for (size_t i = 0; i < q->n; i++) {
        free(q->keys[i]);
        free(q->values[i]);
    }
    free(q->keys);
    free(q->values);
    memset(q, 0, sizeof(*q));
}
