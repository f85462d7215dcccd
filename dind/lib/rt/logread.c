/* Reading the log files the shim writes (json-file or CRI), so that dindd's `logs` and the
 * kubelet's `pods/log` parse nothing themselves: entries in order, the last N (tail), a time
 * window (since/until), and follow through an inotify fd the caller's event loop watches. Files
 * written by dockerd (other key orders, an "attrs" object) parse too. A line that does not parse
 * is skipped, never fatal: the log is the container's output, not trusted input. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include "dind/lib/rt/log-internal.h"

struct rt_log_reader {
    int fd, ino_fd;
    char *path;
    enum rt_log_format format;
    int64_t since, until;
    dd_buf pending; /* bytes read but not yet a whole line */
    dd_buf entry;   /* the current entry's data */
};

/* Offset of the start of the last n lines of fd (every line ends with '\n'). */
static off_t tail_offset(int fd, long n)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size == 0)
        return 0;
    if (n == 0)
        return st.st_size;
    /* The newline at the very end closes the last line; each one before starts a line. */
    off_t pos = st.st_size - 1;
    long lines = 0;
    char buf[8192];
    while (pos > 0) {
        size_t len = pos > (off_t)sizeof(buf) ? sizeof(buf) : (size_t)pos;
        pos -= (off_t)len;
        if (pread(fd, buf, len, pos) != (ssize_t)len)
            return 0;
        for (size_t i = len; i-- > 0;)
            if (buf[i] == '\n' && ++lines == n)
                return pos + (off_t)i + 1;
    }
    return 0;
}

int rt_log_open(const char *path, enum rt_log_format format, int64_t since, int64_t until,
                long tail, struct rt_log_reader **ret, dd_err *e)
{
    if (format != RT_LOG_JSON_FILE && format != RT_LOG_CRI)
        return dd_err_set(e, EINVAL, "this log format cannot be read");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dd_err_sys(e, "opening log %s", path);
    struct rt_log_reader *r = dd_calloc(1, sizeof(*r));
    r->fd = fd;
    r->ino_fd = -1;
    r->path = dd_strdup(path);
    r->format = format;
    r->since = since;
    r->until = until;
    if (tail >= 0)
        lseek(fd, tail_offset(fd, tail), SEEK_SET);
    *ret = r;
    return 0;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

static void put_utf8(dd_buf *b, uint32_t cp)
{
    char s[4];
    size_t n;
    if (cp < 0x80) {
        s[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        s[0] = (char)(0xc0 | cp >> 6);
        s[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        s[0] = (char)(0xe0 | cp >> 12);
        s[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        s[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        s[0] = (char)(0xf0 | cp >> 18);
        s[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        s[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        s[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    dd_buf_add(b, s, n);
}

static bool read_u4(const char **p, uint32_t *ret)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval((*p)[i]);
        if (h < 0)
            return false;
        v = v << 4 | (uint32_t)h;
    }
    *p += 4;
    *ret = v;
    return true;
}

/* Parses a JSON string at *p (after the opening quote) into out; *p ends after the close. */
static bool parse_string(const char **p, dd_buf *out)
{
    const char *s = *p;
    while (*s && *s != '"') {
        if (*s != '\\') {
            dd_buf_addc(out, *s++);
            continue;
        }
        s++;
        if (!*s)
            return false;
        char c = *s++;
        uint32_t cp = 0, lo = 0;
        switch (c) {
        case 'n':
            dd_buf_addc(out, '\n');
            break;
        case 't':
            dd_buf_addc(out, '\t');
            break;
        case 'r':
            dd_buf_addc(out, '\r');
            break;
        case 'b':
            dd_buf_addc(out, '\b');
            break;
        case 'f':
            dd_buf_addc(out, '\f');
            break;
        case '"':
        case '\\':
        case '/':
            dd_buf_addc(out, c);
            break;
        case 'u':
            if (!read_u4(&s, &cp))
                return false;
            if (cp >= 0xd800 && cp < 0xdc00 && s[0] == '\\' && s[1] == 'u') {
                const char *q = s + 2;
                if (read_u4(&q, &lo) && lo >= 0xdc00 && lo < 0xe000) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    s = q;
                }
            }
            put_utf8(out, cp);
            break;
        default:
            return false;
        }
    }
    if (*s != '"')
        return false;
    *p = s + 1;
    return true;
}

/* Skips a JSON value that is not a string (number, literal, object, array). */
static bool skip_value(const char **p)
{
    int depth = 0;
    const char *s = *p;
    dd_buf tmp = DD_BUF_INIT;
    for (; *s; s++) {
        if (*s == '"') {
            s++;
            dd_buf_reset(&tmp);
            if (!parse_string(&s, &tmp))
                break;
            s--;
        } else if (*s == '{' || *s == '[') {
            depth++;
        } else if (*s == '}' || *s == ']') {
            if (depth == 0)
                break;
            depth--;
        } else if (*s == ',' && depth == 0) {
            break;
        }
    }
    dd_buf_release(&tmp);
    *p = s;
    return *s != '\0';
}

static bool parse_json_line(const char *line, dd_buf *data, struct rt_log_entry *ent)
{
    const char *p = line;
    bool have_log = false;
    while (*p == ' ' || *p == '{')
        p++;
    while (*p == '"') {
        p++;
        dd_buf key = DD_BUF_INIT;
        bool ok = parse_string(&p, &key) && *p++ == ':';
        if (ok && *p == '"') {
            p++;
            dd_buf val = DD_BUF_INIT;
            dd_buf_adds(&val, ""); /* an empty value is "", not NULL */
            ok = parse_string(&p, dd_streq(key.data, "log") ? data : &val);
            if (ok && dd_streq(key.data, "log"))
                have_log = true;
            else if (ok && dd_streq(key.data, "stream"))
                ent->stream = dd_streq(val.data, "stderr") ? RT_STREAM_STDERR : RT_STREAM_STDOUT;
            else if (ok && dd_streq(key.data, "time"))
                ok = dd_parse_rfc3339(val.data, &ent->time) == 0;
            dd_buf_release(&val);
        } else if (ok) {
            ok = skip_value(&p);
        }
        dd_buf_release(&key);
        if (!ok)
            return false;
        while (*p == ',' || *p == ' ')
            p++;
    }
    ent->partial = !data->len || data->data[data->len - 1] != '\n';
    return have_log && ent->time != 0;
}

/* "<time> <stream> <P|F> <text>" */
static bool parse_cri_line(const char *line, dd_buf *data, struct rt_log_entry *ent)
{
    const char *sp1 = strchr(line, ' ');
    const char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp2 || (sp2[1] != 'P' && sp2[1] != 'F') || (sp2[2] != ' ' && sp2[2] != '\0'))
        return false;
    _cleanup_free_ char *ts = dd_strndup(line, (size_t)(sp1 - line));
    if (dd_parse_rfc3339(ts, &ent->time) < 0)
        return false;
    ent->stream = strncmp(sp1 + 1, "stderr ", 7) == 0 ? RT_STREAM_STDERR : RT_STREAM_STDOUT;
    ent->partial = sp2[1] == 'P';
    const char *text = sp2[2] ? sp2 + 3 : sp2 + 2;
    dd_buf_adds(data, text);
    if (!ent->partial)
        dd_buf_addc(data, '\n');
    return true;
}

bool rt_log_parse_line(enum rt_log_format format, const char *line, dd_buf *data,
                       struct rt_log_entry *ent)
{
    ent->stream = RT_STREAM_STDOUT;
    ent->time = 0;
    ent->partial = false;
    return format == RT_LOG_CRI ? parse_cri_line(line, data, ent)
                                : parse_json_line(line, data, ent);
}

/* Next whole line from the file into *ret (owned by r->pending until consumed); 0 at EOF. */
static int next_line(struct rt_log_reader *r, char **ret, size_t *ret_len, dd_err *e)
{
    for (;;) {
        char *nl = r->pending.len ? memchr(r->pending.data, '\n', r->pending.len) : NULL;
        if (nl) {
            *nl = '\0';
            *ret = r->pending.data;
            *ret_len = (size_t)(nl - r->pending.data) + 1;
            return 1;
        }
        char buf[16384];
        ssize_t n = read(r->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return dd_err_sys(e, "reading log %s", r->path);
        if (n == 0)
            return 0;
        dd_buf_add(&r->pending, buf, (size_t)n);
    }
}

int rt_log_next(struct rt_log_reader *r, struct rt_log_entry *ret, dd_err *e)
{
    if (r->ino_fd >= 0) {
        char buf[4096];
        while (read(r->ino_fd, buf, sizeof(buf)) > 0)
            ;
    }
    for (;;) {
        char *line = NULL;
        size_t used = 0;
        int k = next_line(r, &line, &used, e);
        if (k <= 0)
            return k;
        struct rt_log_entry ent = {0};
        dd_buf_reset(&r->entry);
        bool ok = rt_log_parse_line(r->format, line, &r->entry, &ent);
        dd_buf_consume(&r->pending, used);
        if (!ok || (r->since && ent.time < r->since))
            continue;
        if (r->until && ent.time > r->until)
            return 0;
        ent.data = r->entry.data ? r->entry.data : (char *)"";
        ent.len = r->entry.len;
        *ret = ent;
        return 1;
    }
}

int rt_log_wait_fd(struct rt_log_reader *r, dd_err *e)
{
    if (r->ino_fd >= 0)
        return r->ino_fd;
    r->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (r->ino_fd < 0)
        return dd_err_sys(e, "inotify_init1");
    if (inotify_add_watch(r->ino_fd, r->path, IN_MODIFY | IN_CLOSE_WRITE) < 0) {
        int rc = dd_err_sys(e, "watching %s", r->path);
        close(r->ino_fd);
        r->ino_fd = -1;
        return rc;
    }
    return r->ino_fd;
}

void rt_log_close(struct rt_log_reader *r)
{
    if (!r)
        return;
    close(r->fd);
    if (r->ino_fd >= 0)
        close(r->ino_fd);
    free(r->path);
    dd_buf_release(&r->pending);
    dd_buf_release(&r->entry);
    free(r);
}
