/* libFuzzer harness for the HTTP connection state machine: the input is what a client sends on
 * one connection (then it half-closes); the server runs with routes that reply, stream, wait for
 * a disconnect, spool bodies and hijack, so every path from bytes to handler and back is fuzzed,
 * not just the head parser. */
#include <sys/socket.h>

#include "dind/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void h_reply(http_req *req)
{
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    char **all = http_req_query_all(req, "names");
    http_reply(req, 200, "text/plain", body ? body : "", body ? len : 0);
    dd_strv_free(all);
}

static void h_stream(http_req *req)
{
    http_stream_start(req, 200, "application/json");
    for (int i = 0; i < 3; i++)
        http_stream_write(req, "{}\n", 3);
    http_stream_end(req);
}

static void on_gone(http_req *req, void *data)
{
    http_stream_end(req);
}

static void h_wait(http_req *req)
{
    http_req_on_close(req, on_gone, NULL);
    http_stream_start(req, 200, "application/json");
}

static void raw_data(http_raw *raw, const char *d, size_t n, void *ud)
{
    http_raw_write(raw, d, n);
}

static void raw_end(http_raw *raw, void *ud)
{
    http_raw_close(raw);
}

static const http_raw_ops raw_ops = {raw_data, raw_end, NULL, raw_end};

static void h_hijack(http_req *req)
{
    http_hijack(req, &raw_ops, NULL);
}

static void h_spool(http_req *req)
{
    int fd = http_req_body_to_fd(req, NULL);
    http_reply(req, fd >= 0 ? 200 : 500, NULL, NULL, 0);
}

static const http_route routes[] = {
    {"GET", "/images/{name*}/json", h_reply},       {"POST", "/containers/{id}/wait", h_wait},
    {"POST", "/containers/{id}/attach", h_hijack},  {"GET", "/events", h_stream},
    {"PUT", "/archive", h_spool, HTTP_ROUTE_SPOOL}, {NULL, "/{any*}", h_reply, 0, 4096},
};

static int strip_v(const char *path, dd_err *e)
{
    if (strncmp(path, "/v1.4", 5) == 0 && path[5] >= '0' && path[5] <= '9')
        return path[5] > '1' ? dd_err_set(e, EINVAL, "too new") : 6;
    return 0;
}

static ev_loop *loop;
static http_server *srv;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!loop) {
        loop = ev_loop_new(NULL);
        http_server_opts o = {.prefix = strip_v, .max_header_bytes = 2048, .body_mem_max = 1024};
        srv = http_server_new(loop, &o);
        http_server_add_routes(srv, routes, sizeof(routes) / sizeof(routes[0]));
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        return 0;
    http_server_adopt(srv, sv[0], NULL);
    size_t off = 0;
    char sink[65536];
    for (int i = 0; i < 20000 && http_server_conn_count(srv) > 0; i++) {
        if (off < size) {
            ssize_t n = write(sv[1], data + off, size - off);
            if (n > 0)
                off += (size_t)n;
            if (off == size)
                shutdown(sv[1], SHUT_WR);
        } else if (size == 0 && i == 0) {
            shutdown(sv[1], SHUT_WR);
        }
        while (read(sv[1], sink, sizeof(sink)) > 0)
            ;
        ev_run_once(loop, 0);
    }
    close(sv[1]);
    for (int i = 0; i < 100 && http_server_conn_count(srv) > 0; i++)
        ev_run_once(loop, 0);
    for (int i = 0; i < 4; i++)
        ev_run_once(loop, 0); /* deferred frees */
    return 0;
}
