/* Route patterns: "/containers/{id}/json" with one-segment parameters and at most one greedy
 * "{name*}" that may span '/' (Docker image names such as "127.0.0.1:5000/busybox:v1"). Matching
 * walks segments; the greedy parameter takes the longest run that lets the rest match, so
 * "/images/{name*}/json" splits "/images/a/b/json/json" as name = "a/b/json". */
#include "http-internal.h"

typedef struct seg {
    const char *s;
    size_t n;
} seg;

/* Splits "/a/b/c" into segments (the leading '/' is required; a trailing '/' gives an empty
 * last segment). Returns the count or -1 if there are too many. */
static int split(const char *p, seg *out, int max)
{
    if (*p != '/')
        return -1;
    int n = 0;
    while (*p == '/') {
        p++;
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (n == max)
            return -1;
        out[n].s = p;
        out[n].n = len;
        n++;
        p += len;
    }
    return n;
}

static bool is_param(const seg *s, bool *greedy)
{
    if (s->n < 3 || s->s[0] != '{' || s->s[s->n - 1] != '}')
        return false;
    *greedy = s->s[s->n - 2] == '*';
    return true;
}

static bool add_param(http_params *ret, const seg *pat, const char *v, size_t vn, bool greedy)
{
    if (ret->n == HTTP_MAX_PARAMS)
        return false;
    char *val;
    if (http_pct_decode(v, vn, false, &val) < 0)
        return false;
    ret->names[ret->n] = pat->s + 1;
    ret->name_lens[ret->n] = pat->n - 2 - (greedy ? 1 : 0);
    ret->values[ret->n] = val;
    ret->n++;
    return true;
}

static bool match_from(const seg *ps, int np, const seg *xs, int nx, http_params *ret)
{
    if (np == 0)
        return nx == 0;
    bool greedy = false;
    if (is_param(&ps[0], &greedy) && greedy) {
        /* longest first: take k path segments, k >= 1, leaving at least np-1 for the rest */
        for (int k = nx - (np - 1); k >= 1; k--) {
            size_t saved = ret->n;
            const char *end = xs[k - 1].s + xs[k - 1].n;
            if (add_param(ret, &ps[0], xs[0].s, (size_t)(end - xs[0].s), true) &&
                match_from(ps + 1, np - 1, xs + k, nx - k, ret))
                return true;
            while (ret->n > saved)
                free(ret->values[--ret->n]);
        }
        return false;
    }
    if (nx == 0)
        return false;
    if (is_param(&ps[0], &greedy)) {
        if (xs[0].n == 0 || !add_param(ret, &ps[0], xs[0].s, xs[0].n, false))
            return false;
    } else if (ps[0].n != xs[0].n || memcmp(ps[0].s, xs[0].s, xs[0].n) != 0) {
        return false;
    }
    return match_from(ps + 1, np - 1, xs + 1, nx - 1, ret);
}

bool http_pattern_match(const char *pattern, const char *path, http_params *ret)
{
    seg ps[32], xs[128];
    memset(ret, 0, sizeof(*ret));
    int np = split(pattern, ps, 32), nx = split(path, xs, 128);
    if (np < 0 || nx < 0)
        return false;
    if (match_from(ps, np, xs, nx, ret))
        return true;
    http_params_release(ret);
    return false;
}

void http_params_release(http_params *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->values[i]);
    memset(p, 0, sizeof(*p));
}

const char *http_req_param(const http_req *req, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < req->params.n; i++)
        if (req->params.name_lens[i] == n && memcmp(req->params.names[i], name, n) == 0)
            return req->params.values[i];
    return NULL;
}

static void route_fail(http_req *req, int status, const char *msg)
{
    req->route_status = status;
    free(req->route_msg);
    req->route_msg = dd_strdup(msg);
}

/* Chooses the route (or the error status) for req; called once the head is parsed. */
void http_req_route(http_req *req)
{
    http_server *srv = req->srv;
    const char *path = req->head.path;
    if (srv->opts.prefix) {
        dd_err e = {0};
        int skip = srv->opts.prefix(path, &e);
        if (skip < 0 || (size_t)skip > strlen(path)) {
            route_fail(req, 400, e.msg[0] ? e.msg : "bad request path");
            return;
        }
        path += skip;
        if (*path == '\0')
            path = "/";
    }
    req->path = path;
    bool method_mismatch = false;
    for (size_t t = 0; t < srv->ntables; t++) {
        for (size_t i = 0; i < srv->tables[t].n; i++) {
            const http_route *r = &srv->tables[t].rows[i];
            http_params params;
            if (!http_pattern_match(r->pattern, path, &params))
                continue;
            if (r->method && strcmp(r->method, req->head.method) != 0) {
                method_mismatch = true;
                http_params_release(&params);
                continue;
            }
            req->route = r;
            req->params = params;
            return;
        }
    }
    if (method_mismatch)
        route_fail(req, 405, "method not allowed");
    else
        route_fail(req, 404, "page not found");
}
