/* Allocation, growable buffers, string vectors and small string helpers. Allocation failure
 * aborts: nothing in a daemon can recover meaningfully from it. */
#include <stdio.h>
#include <strings.h>
#include <sys/random.h>

#include "dind/base.h"

static void oom(void)
{
    static const char msg[] = "fatal: out of memory\n";
    (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
    abort();
}

void *dd_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom();
    return p;
}

void *dd_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom();
    return p;
}

void *dd_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom();
    return q;
}

char *dd_strdup(const char *s)
{
    char *p = strdup(s ? s : "");
    if (!p)
        oom();
    return p;
}

char *dd_strndup(const char *s, size_t n)
{
    char *p = strndup(s, n);
    if (!p)
        oom();
    return p;
}

char *dd_asprintf(const char *fmt, ...)
{
    char *p = NULL;
    va_list ap;
    va_start(ap, fmt);
    int r = vasprintf(&p, fmt, ap);
    va_end(ap);
    if (r < 0)
        oom();
    return p;
}

void dd_freep(void *p)
{
    free(*(void **)p);
}

void dd_closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}

void dd_fclosep(void *f)
{
    FILE **fp = f;
    if (*fp)
        fclose(*fp);
}

void dd_buf_init(dd_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void dd_buf_release(dd_buf *b)
{
    free(b->data);
    dd_buf_init(b);
}

void dd_buf_grow(dd_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->data = dd_realloc(b->data, cap);
    b->cap = cap;
    b->data[b->len] = '\0';
}

void dd_buf_add(dd_buf *b, const void *data, size_t n)
{
    dd_buf_grow(b, n);
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void dd_buf_adds(dd_buf *b, const char *s)
{
    dd_buf_add(b, s, strlen(s));
}

void dd_buf_addc(dd_buf *b, char c)
{
    dd_buf_add(b, &c, 1);
}

void dd_buf_vaddf(dd_buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    dd_buf_grow(b, 64);
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, cp);
    va_end(cp);
    if (n < 0)
        return;
    if ((size_t)n >= b->cap - b->len) {
        dd_buf_grow(b, n);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    }
    b->len += n;
}

void dd_buf_addf(dd_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dd_buf_vaddf(b, fmt, ap);
    va_end(ap);
}

void dd_buf_reset(dd_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void dd_buf_consume(dd_buf *b, size_t n)
{
    if (n >= b->len) {
        dd_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *dd_buf_detach(dd_buf *b, size_t *ret_len)
{
    dd_buf_grow(b, 0);
    char *p = b->data;
    if (ret_len)
        *ret_len = b->len;
    dd_buf_init(b);
    return p;
}

size_t dd_strv_len(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

void dd_strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

void dd_strv_freep(char ***v)
{
    dd_strv_free(*v);
}

char **dd_strv_copy(char *const *v)
{
    size_t n = dd_strv_len(v);
    char **c = dd_calloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        c[i] = dd_strdup(v[i]);
    return c;
}

char **dd_strv_consume(char **v, char *s)
{
    size_t n = dd_strv_len(v);
    v = dd_realloc(v, (n + 2) * sizeof(char *));
    v[n] = s;
    v[n + 1] = NULL;
    return v;
}

char **dd_strv_push(char **v, const char *s)
{
    return dd_strv_consume(v, dd_strdup(s));
}

bool dd_strv_contains(char *const *v, const char *s)
{
    for (size_t i = 0; v && v[i]; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

bool dd_streq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

bool dd_startswith(const char *s, const char *prefix)
{
    return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

bool dd_endswith(const char *s, const char *suffix)
{
    if (!s)
        return false;
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

bool dd_parse_bool(const char *s)
{
    static const char *const falses[] = {"", "0", "no", "false", "none", "f", "n"};
    if (!s)
        return false;
    for (size_t i = 0; i < DD_ARRAY_SIZE(falses); i++)
        if (strcasecmp(s, falses[i]) == 0)
            return false;
    return true;
}

int dd_parse_int64(const char *s, int64_t *ret)
{
    if (!s || !*s)
        return -EINVAL;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return -EINVAL;
    *ret = v;
    return 0;
}

int dd_random_hex(char *out, size_t nbytes)
{
    unsigned char raw[64];
    if (nbytes > sizeof(raw))
        return -EINVAL;
    if (getrandom(raw, nbytes, 0) != (ssize_t)nbytes)
        return -errno;
    for (size_t i = 0; i < nbytes; i++)
        sprintf(out + 2 * i, "%02x", raw[i]);
    out[2 * nbytes] = '\0';
    return 0;
}
