/* probespec.c: parsing of Probe and LifecycleHandler objects, upstream's probe threshold state
 * machine and the HTTP request/status line of httpGet handlers. Pure: no I/O, no clock; the
 * runtime side (timers, sockets, rt_exec) is probe.c.
 */
#include <stdio.h>

#include "k3core/kubelet/probespec.h"

static int named_port(const json_t *ctr, const char *name, int *ret, dd_err *e)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(ctr, "ports"), i, p)
    {
        const char *n = json_string_value(json_object_get(p, "name"));
        if (n && !strcmp(n, name)) {
            *ret = (int)json_integer_value(json_object_get(p, "containerPort"));
            return 0;
        }
    }
    return dd_err_set(e, EINVAL, "couldn't find port: %s in container %s", name,
                      json_string_value(json_object_get(ctr, "name")) ?: "");
}

static int parse_port(const json_t *v, const json_t *ctr, int *ret, dd_err *e)
{
    int64_t n = -1;
    if (json_is_integer(v))
        n = json_integer_value(v);
    else if (json_is_string(v) && dd_parse_int64(json_string_value(v), &n) < 0) {
        int r = named_port(ctr, json_string_value(v), ret, e);
        if (r < 0)
            return r;
        n = *ret;
    } else if (!json_is_string(v))
        return dd_err_set(e, EINVAL, "port is required");
    if (n < 1 || n > 65535)
        return dd_err_set(e, EINVAL, "invalid port number: %lld", (long long)n);
    *ret = (int)n;
    return 0;
}

static int parse_http(const json_t *g, const json_t *ctr, struct kpr_handler *h, dd_err *e)
{
    h->action = KPR_HTTP;
    const char *path = json_string_value(json_object_get(g, "path"));
    const char *host = json_string_value(json_object_get(g, "host"));
    const char *scheme = json_string_value(json_object_get(g, "scheme"));
    h->path = dd_asprintf("%s%s", path && *path == '/' ? "" : "/", path ? path : "");
    h->host = host && *host ? dd_strdup(host) : NULL;
    if (scheme && strcmp(scheme, "HTTP") && strcmp(scheme, "HTTPS"))
        return dd_err_set(e, EINVAL, "unsupported scheme %s (HTTP or HTTPS)", scheme);
    h->https = scheme && !strcmp(scheme, "HTTPS");
    size_t i;
    json_t *hd;
    json_array_foreach(json_object_get(g, "httpHeaders"), i, hd)
    {
        const char *n = json_string_value(json_object_get(hd, "name"));
        const char *v = json_string_value(json_object_get(hd, "value"));
        if (!n || !*n || strpbrk(n, ": \r\n") || (v && strpbrk(v, "\r\n")))
            return dd_err_set(e, EINVAL, "invalid httpHeaders[%zu]", i);
        h->headers = dd_strv_consume(h->headers, dd_asprintf("%s: %s", n, v ? v : ""));
    }
    return parse_port(json_object_get(g, "port"), ctr, &h->port, e);
}

int kpr_handler_parse(const json_t *o, const json_t *ctr, struct kpr_handler *ret, dd_err *e)
{
    *ret = (struct kpr_handler){0};
    const json_t *x;
    int r = 0;
    if ((x = json_object_get(o, "exec"))) {
        ret->action = KPR_EXEC;
        r = jx_strv(x, "command", &ret->cmd, e);
        if (r >= 0 && !dd_strv_len(ret->cmd))
            r = dd_err_set(e, EINVAL, "exec.command is empty");
    } else if ((x = json_object_get(o, "httpGet"))) {
        r = parse_http(x, ctr, ret, e);
    } else if ((x = json_object_get(o, "tcpSocket"))) {
        ret->action = KPR_TCP;
        const char *host = json_string_value(json_object_get(x, "host"));
        ret->host = host && *host ? dd_strdup(host) : NULL;
        r = parse_port(json_object_get(x, "port"), ctr, &ret->port, e);
    } else if ((x = json_object_get(o, "grpc"))) {
        ret->action = KPR_GRPC;
        ret->port = (int)json_integer_value(json_object_get(x, "port"));
    } else if ((x = json_object_get(o, "sleep"))) {
        ret->action = KPR_SLEEP;
        ret->sleep_seconds = (int)json_integer_value(json_object_get(x, "seconds"));
    } else {
        r = dd_err_set(e, EINVAL, "missing probe handler (exec, httpGet, tcpSocket or grpc)");
    }
    if (r < 0)
        kpr_handler_release(ret);
    return r;
}

void kpr_handler_release(struct kpr_handler *h)
{
    dd_strv_free(h->cmd), dd_strv_free(h->headers);
    free(h->host), free(h->path);
    *h = (struct kpr_handler){0};
}

static int int_or(const json_t *o, const char *k, int def)
{
    json_int_t v = json_integer_value(json_object_get(o, k));
    return v > 0 ? (int)v : def;
}

int kpr_probe_parse(const json_t *probe, const json_t *ctr, struct kpr_probe *ret, dd_err *e)
{
    *ret = (struct kpr_probe){0};
    ret->initial_delay = int_or(probe, "initialDelaySeconds", 0);
    ret->period = int_or(probe, "periodSeconds", 10);
    ret->timeout = int_or(probe, "timeoutSeconds", 1);
    ret->success_threshold = int_or(probe, "successThreshold", 1);
    ret->failure_threshold = int_or(probe, "failureThreshold", 3);
    const json_t *g = json_object_get(probe, "terminationGracePeriodSeconds");
    ret->termination_grace = json_is_integer(g) ? json_integer_value(g) : -1;
    return kpr_handler_parse(probe, ctr, &ret->h, e);
}

void kpr_probe_release(struct kpr_probe *p)
{
    kpr_handler_release(&p->h);
}

bool kpr_record(struct kpr_state *s, const struct kpr_probe *p, enum kpr_result outcome)
{
    if (s->last == outcome) {
        s->run++;
    } else {
        s->last = outcome;
        s->run = 1;
    }
    if ((outcome == KPR_FAILURE && s->run < p->failure_threshold) ||
        (outcome == KPR_SUCCESS && s->run < p->success_threshold))
        return false;
    s->result = outcome;
    return true;
}

static bool has_header(char *const *headers, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; headers && headers[i]; i++)
        if (!strncasecmp(headers[i], name, n) && headers[i][n] == ':')
            return true;
    return false;
}

char *kpr_http_request(const struct kpr_handler *h, const char *host)
{
    dd_buf b;
    dd_buf_init(&b);
    dd_buf_addf(&b, "GET %s HTTP/1.1\r\n", h->path ? h->path : "/");
    if (!has_header(h->headers, "Host"))
        dd_buf_addf(&b, "Host: %s:%d\r\n", host, h->port);
    if (!has_header(h->headers, "User-Agent"))
        dd_buf_addf(&b, "User-Agent: kube-probe/1.33\r\n");
    if (!has_header(h->headers, "Accept"))
        dd_buf_addf(&b, "Accept: */*\r\n");
    for (size_t i = 0; h->headers && h->headers[i]; i++)
        dd_buf_addf(&b, "%s\r\n", h->headers[i]);
    dd_buf_addf(&b, "Connection: close\r\n\r\n");
    return dd_buf_detach(&b, NULL);
}

int kpr_http_status(const char *buf, size_t len)
{
    const char *nl = memchr(buf, '\n', len);
    if (!nl)
        return len > 4096 ? -1 : 0;
    size_t n = (size_t)(nl - buf);
    /* "HTTP/1.x NNN" then a space, CR or the end of the line */
    if (n < 12 || strncmp(buf, "HTTP/1.", 7) || buf[8] != ' ' ||
        (n > 12 && buf[12] != ' ' && buf[12] != '\r'))
        return -1;
    int code = 0;
    for (int i = 9; i < 12; i++) {
        if (buf[i] < '0' || buf[i] > '9')
            return -1;
        code = code * 10 + (buf[i] - '0');
    }
    return code >= 100 ? code : -1;
}

static const char *const kind_fields[] = {"startupProbe", "livenessProbe", "readinessProbe"};
static const char *const kind_titles[] = {"Startup", "Liveness", "Readiness"};

const char *kpr_kind_field(enum kpr_kind kind)
{
    return kind_fields[kind];
}

const char *kpr_kind_title(enum kpr_kind kind)
{
    return kind_titles[kind];
}
