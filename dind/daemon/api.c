/* The HTTP glue every area of the Engine API shares: the optional "/v1.NN" prefix, the headers
 * dockerd puts on every response, the one mapping from error codes to Docker status codes, and
 * request-body JSON parsing with dockerd-like messages. */
#include <ctype.h>
#include <stdio.h>

#include "dind/daemon/daemon.h"
#include "dind/json.h"

int dindd_err_status(int code)
{
    switch (code) {
    case ENOENT:
        return 404;
    case EEXIST:
    case EBUSY:
        return 409;
    case EINVAL:
        return 400;
    case EALREADY:
        return 304;
    case EPERM:
    case EACCES:
        return 403;
    case EOPNOTSUPP:
    case ENOSYS:
        return 501;
    default:
        return 500;
    }
}

int dindd_reply_err(http_req *req, const dd_err *e)
{
    int status = dindd_err_status(e->code);
    return http_reply_error(req, status, e->msg[0] ? e->msg : strerror(e->code ? e->code : EIO));
}

int dindd_reply_errf(http_req *req, int code, const char *fmt, ...)
{
    dd_err e = {.code = code};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
    va_end(ap);
    return dindd_reply_err(req, &e);
}

int dindd_body_json(http_req *req, bool allow_empty, json_t **ret)
{
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    if (!body) {
        dindd_reply_errf(req, EINVAL, "request body is too large to be JSON");
        return -EINVAL;
    }
    size_t i = 0;
    while (i < len && isspace((unsigned char)body[i]))
        i++;
    if (i == len) {
        if (allow_empty) {
            *ret = json_object();
            return 0;
        }
        dindd_reply_errf(req, EINVAL, "request body is empty: expected a JSON object");
        return -EINVAL;
    }
    dd_err e = {0};
    json_t *v = NULL;
    if (jx_parse(body, len, &v, &e) < 0) {
        e.code = EINVAL;
        dindd_reply_err(req, &e);
        return -EINVAL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        dindd_reply_errf(req, EINVAL, "invalid JSON: expected an object");
        return -EINVAL;
    }
    *ret = v;
    return 0;
}

bool dindd_query_bool(http_req *req, const char *key, bool def)
{
    const char *v = http_req_query(req, key);
    return v ? dd_parse_bool(v) : def;
}

/* Parses "1.41" into 1*1000+41; -1 if malformed. */
static int parse_version(const char *s, size_t n)
{
    int major = 0, minor = 0, *cur = &major;
    bool dot = false, digit = false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.' && !dot && digit) {
            dot = true;
            digit = false;
            cur = &minor;
        } else if (isdigit((unsigned char)s[i]) && *cur < 100000) {
            *cur = *cur * 10 + (s[i] - '0');
            digit = true;
        } else {
            return -1;
        }
    }
    return dot && digit ? major * 1000 + minor : -1;
}

int dindd_api_prefix(const char *path, dd_err *e)
{
    if (path[0] != '/' || path[1] != 'v')
        return 0;
    const char *end = strchr(path + 2, '/');
    size_t n = end ? (size_t)(end - path - 2) : strlen(path + 2);
    int v = parse_version(path + 2, n);
    if (v < 0)
        return 0; /* not a version prefix: route the path as is (404 if unknown) */
    int max = parse_version(DINDD_API_VERSION, strlen(DINDD_API_VERSION));
    int min = parse_version(DINDD_API_MIN_VERSION, strlen(DINDD_API_MIN_VERSION));
    if (v > max)
        return dd_err_set(e, EINVAL,
                          "client version %.*s is too new. Maximum supported API version is %s",
                          (int)n, path + 2, DINDD_API_VERSION);
    if (v < min)
        return dd_err_set(e, EINVAL,
                          "client version %.*s is too old. Minimum supported API version is %s, "
                          "please upgrade your client to a newer version",
                          (int)n, path + 2, DINDD_API_MIN_VERSION);
    return (int)(n + 2);
}

void dindd_api_error(http_req *req, int status, const char *message)
{
    http_reply_error(req, status, message);
}

void dindd_api_headers(void *data, dd_buf *out)
{
    char date[40];
    http_format_date(date);
    dd_buf_addf(out,
                "Api-Version: %s\r\nDocker-Experimental: false\r\nOstype: linux\r\n"
                "Server: Docker/%s (linux)\r\nDate: %s\r\n",
                DINDD_API_VERSION, DINDD_VERSION, date);
}

void dindd_api_trace(http_req *req)
{
    dd_debug("Calling %s %s", http_req_method(req), http_req_target(req));
}
