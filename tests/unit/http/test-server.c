/* End-to-end tests of the HTTP server over socketpairs, driving the loop step by step: keep-alive
 * and pipelining, bodies (chunked, Expect: 100-continue, spooled, too large), streaming with
 * backpressure, disconnect notification, and Docker's hijack with half-close. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "dind/http.h"
#include "tests/unit/unit.h"

struct fixture {
    ev_loop *loop;
    http_server *srv;
    int cfd; /* client end */
    dd_buf in;
};

static void h_echo(http_req *req)
{
    size_t len;
    const char *body = http_req_body(req, &len);
    dd_buf b = DD_BUF_INIT;
    const char *q = http_req_query(req, "q");
    dd_buf_addf(&b, "%s %s q=%s id=%s body=", http_req_method(req), http_req_path(req), q ? q : "-",
                http_req_param(req, "id") ? http_req_param(req, "id") : "-");
    if (body)
        dd_buf_add(&b, body, len);
    else
        dd_buf_addf(&b, "<fd:%llu>", (unsigned long long)http_req_body_len(req));
    http_reply(req, 200, "text/plain", b.data, b.len);
    dd_buf_release(&b);
}

static void h_spool(http_req *req)
{
    int fd = http_req_body_fd(req);
    char buf[65536];
    uint64_t total = 0, sum = 0;
    ssize_t n;
    while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < n; i++)
            sum += (unsigned char)buf[i];
        total += (uint64_t)n;
    }
    char out[96];
    int k = snprintf(out, sizeof(out), "fd=%d total=%llu sum=%llu", fd >= 0,
                     (unsigned long long)total, (unsigned long long)sum);
    http_reply(req, 200, "text/plain", out, (size_t)k);
}

static void h_tofd(http_req *req)
{
    dd_err e = {0};
    int fd = http_req_body_to_fd(req, &e);
    char buf[64] = "";
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    char out[128];
    int k = snprintf(out, sizeof(out), "tofd=%zd:%s mem=%s", n, n > 0 ? buf : "",
                     http_req_body(req, NULL) ? "yes" : "no");
    http_reply(req, 200, "text/plain", out, (size_t)k);
}

/* ---- streaming with backpressure: writes 4 MiB, pausing whenever the buffer is full ---- */

struct streamer {
    http_req *req;
    size_t sent, total;
    int pauses;
    bool closed;
};
static struct streamer g_stream;

static void stream_more(http_req *req, void *data)
{
    struct streamer *s = data;
    static char block[16384];
    memset(block, 'x', sizeof(block));
    while (s->sent < s->total) {
        int r = http_stream_write(req, block, sizeof(block));
        s->sent += sizeof(block);
        if (r < 0)
            return;
        if (r == 1) {
            s->pauses++;
            return; /* on_drain resumes */
        }
    }
    http_stream_end(req);
}

static void h_stream(http_req *req)
{
    g_stream = (struct streamer){.req = req, .total = 4u << 20};
    http_req_on_drain(req, stream_more, &g_stream);
    http_stream_start(req, 200, "application/octet-stream");
    stream_more(req, &g_stream);
}

/* ---- async: replies only when the client goes away ---- */

static int g_closed;
static void on_gone(http_req *req, void *data)
{
    g_closed++;
    CHECK(http_stream_write(req, "x", 1) == -EPIPE);
    http_stream_end(req);
}

static void h_wait(http_req *req)
{
    http_req_on_close(req, on_gone, NULL);
    http_stream_start(req, 200, "application/json"); /* headers go out at once */
}

/* ---- hijack: echo stdin upper-cased; on EOF write "bye" and shut down ---- */

struct hj {
    http_raw *raw;
    dd_buf got;
    bool eof, closed;
};
static struct hj g_hj;

static void hj_data(http_raw *raw, const char *d, size_t n, void *ud)
{
    struct hj *h = ud;
    dd_buf_add(&h->got, d, n);
    http_raw_write(raw, d, n);
}

static void hj_eof(http_raw *raw, void *ud)
{
    struct hj *h = ud;
    h->eof = true;
    http_raw_write(raw, "bye", 3);
    http_raw_close(raw);
}

static void hj_close(http_raw *raw, void *ud)
{
    struct hj *h = ud;
    h->closed = true;
    http_raw_close(raw);
}

static const http_raw_ops hj_ops = {hj_data, hj_eof, NULL, hj_close};

static void hj_eof_keep(http_raw *raw, void *ud)
{
    ((struct hj *)ud)->eof = true; /* keep the stream open: output may still follow */
}

static const http_raw_ops hj_keep_ops = {hj_data, hj_eof_keep, NULL, hj_close};

static void h_hijack_keep(http_req *req)
{
    g_hj.raw = http_hijack(req, &hj_keep_ops, &g_hj);
}

static void h_hijack(http_req *req)
{
    g_hj.raw = http_hijack(req, &hj_ops, &g_hj);
}

static void h_ws(http_req *req)
{
    static const char *const hdrs[] = {"Connection: Upgrade", "Upgrade: websocket",
                                       "Sec-WebSocket-Accept: abc", NULL};
    memset(&g_hj, 0, sizeof(g_hj));
    CHECK(http_req_wants_upgrade(req, "websocket"));
    CHECK(!http_req_wants_upgrade(req, "tcp"));
    g_hj.raw = http_upgrade(req, hdrs, &hj_ops, &g_hj);
}

/* takeover: the handler writes the whole answer itself, then echoes */
static void h_takeover(http_req *req)
{
    memset(&g_hj, 0, sizeof(g_hj));
    g_hj.raw = http_takeover(req, &hj_ops, &g_hj);
    static const char head[] = "HTTP/1.1 299 Relayed\r\nX-From: elsewhere\r\n\r\n";
    http_raw_write(g_hj.raw, head, strlen(head));
}

static const http_route routes[] = {
    {"GET", "/ws", h_ws},
    {"GET", "/takeover", h_takeover},
    {"GET", "/echo/{id}", h_echo},
    {"POST", "/echo/{id}", h_echo},
    {"PUT", "/spool", h_spool, HTTP_ROUTE_SPOOL},
    {"POST", "/small", h_echo, 0, 10},
    {"GET", "/stream", h_stream},
    {"POST", "/tofd", h_tofd},
    {"POST", "/wait", h_wait},
    {"POST", "/attach", h_hijack},
    {"POST", "/attach-keep", h_hijack_keep},
};

static void headers(void *data, dd_buf *out)
{
    dd_buf_adds(out, "X-Common: 1\r\n");
}

static void setup(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    f->loop = ev_loop_new(NULL);
    http_server_opts o = {.headers = headers, .body_mem_max = 4096, .max_header_bytes = 8192};
    f->srv = http_server_new(f->loop, &o);
    http_server_add_routes(f->srv, routes, DD_ARRAY_SIZE(routes));
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    CHECK(http_server_adopt(f->srv, sv[0], NULL) == 0);
    f->cfd = sv[1];
    dd_set_nonblock(f->cfd, true);
}

static void teardown(struct fixture *f)
{
    if (f->cfd >= 0)
        close(f->cfd);
    http_server_free(f->srv);
    ev_loop_free(f->loop);
    dd_buf_release(&f->in);
}

static void send_all(struct fixture *f, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t k = write(f->cfd, s, n);
        if (k < 0) {
            CHECK(errno == EAGAIN);
            ev_run_once(f->loop, 10);
            continue;
        }
        s += k;
        n -= (size_t)k;
        ev_run_once(f->loop, 0);
    }
}

/* Pumps the loop and reads until `needle` has arrived (or EOF); returns whether it did. */
static bool pump_until(struct fixture *f, const char *needle, bool *ret_eof)
{
    for (int i = 0; i < 100000; i++) {
        if (f->in.data && strstr(f->in.data, needle))
            return true;
        char buf[65536];
        ssize_t n = read(f->cfd, buf, sizeof(buf));
        if (n > 0) {
            dd_buf_add(&f->in, buf, (size_t)n);
            continue;
        }
        if (n == 0) {
            if (ret_eof)
                *ret_eof = true;
            return f->in.data && strstr(f->in.data, needle);
        }
        ev_run_once(f->loop, 20);
    }
    return false;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

TEST(keepalive_and_pipelining)
{
    struct fixture f;
    setup(&f);
    const char *two = "GET /echo/1?q=a%20b HTTP/1.1\r\nHost: x\r\n\r\n"
                      "POST /echo/2 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
    send_all(&f, two, strlen(two));
    CHECK(pump_until(&f, "body=abc", NULL));
    CHECK(strstr(f.in.data, "GET /echo/1 q=a b id=1 body=") != NULL);
    CHECK_EQ_INT(count(f.in.data, "HTTP/1.1 200 OK\r\n"), 2);
    CHECK_EQ_INT(count(f.in.data, "X-Common: 1\r\n"), 2);
    CHECK(strstr(f.in.data, "Connection: close") == NULL);
    dd_buf_reset(&f.in);
    send_all(&f, "GET /echo/3 HTTP/1.1\r\n\r\n", 24);
    CHECK(pump_until(&f, "id=3", NULL));
    teardown(&f);
}

TEST(chunked_body_with_expect_continue)
{
    struct fixture f;
    setup(&f);
    const char *head = "POST /echo/c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                       "Expect: 100-continue\r\n\r\n";
    send_all(&f, head, strlen(head));
    CHECK(pump_until(&f, "HTTP/1.1 100 Continue\r\n\r\n", NULL));
    const char *body = "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    send_all(&f, body, strlen(body));
    CHECK(pump_until(&f, "body=abcde", NULL));
    teardown(&f);
}

TEST(errors_400_404_405_413_431)
{
    struct fixture f;
    setup(&f);
    send_all(&f, "GET /nope HTTP/1.1\r\n\r\n", 22);
    CHECK(pump_until(&f, "404 Not Found", NULL));
    dd_buf_reset(&f.in);
    send_all(&f, "DELETE /echo/1 HTTP/1.1\r\n\r\n", 27);
    CHECK(pump_until(&f, "405 Method Not Allowed", NULL));
    dd_buf_reset(&f.in);
    send_all(&f, "POST /small HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 44);
    bool eof = false;
    CHECK(pump_until(&f, "413 Request Entity Too Large", &eof));
    teardown(&f);

    setup(&f);
    send_all(&f, "GET /echo/1 HTTP/1.1\r\nBad Header\r\n\r\n", 36);
    eof = false;
    CHECK(pump_until(&f, "400 Bad Request", &eof));
    CHECK(pump_until(&f, "\r\n\r\n400 Bad Request", &eof));
    teardown(&f);

    setup(&f);
    dd_buf big = DD_BUF_INIT;
    dd_buf_adds(&big, "GET /echo/1 HTTP/1.1\r\nX: ");
    for (int i = 0; i < 9000; i++)
        dd_buf_addc(&big, 'a');
    send_all(&f, big.data, big.len);
    CHECK(pump_until(&f, "431 Request Header Fields Too Large", NULL));
    CHECK(strstr(f.in.data, "X-Common: 1") != NULL);
    dd_buf_release(&big);
    teardown(&f);
}

TEST(large_body_is_spooled_to_a_file)
{
    struct fixture f;
    setup(&f);
    size_t n = 3u << 20;
    char head[128];
    int k = snprintf(head, sizeof(head), "PUT /spool HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", n);
    send_all(&f, head, (size_t)k);
    char *body = dd_malloc(n);
    memset(body, 1, n);
    send_all(&f, body, n);
    free(body);
    char want[96];
    snprintf(want, sizeof(want), "fd=1 total=%zu sum=%zu", n, n);
    CHECK(pump_until(&f, want, NULL));
    teardown(&f);
}

TEST(streaming_respects_backpressure)
{
    struct fixture f;
    setup(&f);
    send_all(&f, "GET /stream HTTP/1.1\r\n\r\n", 24);
    /* read slowly at first so the buffer fills, then drain everything */
    for (int i = 0; i < 50; i++)
        ev_run_once(f.loop, 0);
    CHECK(g_stream.pauses > 0);
    CHECK(http_req_buffered(g_stream.req) <= (256u << 10) + 16384 + 64);
    CHECK(pump_until(&f, "\r\n0\r\n\r\n", NULL));
    CHECK(strstr(f.in.data, "Transfer-Encoding: chunked") != NULL);
    size_t xs = 0;
    for (size_t i = 0; i < f.in.len; i++)
        xs += f.in.data[i] == 'x';
    CHECK_EQ_INT(xs, 4u << 20);
    teardown(&f);
}

TEST(disconnect_notifies_async_handler)
{
    struct fixture f;
    setup(&f);
    g_closed = 0;
    send_all(&f, "POST /wait HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 42);
    CHECK(pump_until(&f, "Transfer-Encoding: chunked\r\n", NULL));
    CHECK_EQ_INT(g_closed, 0);
    close(f.cfd);
    f.cfd = -1;
    for (int i = 0; i < 1000 && !g_closed; i++)
        ev_run_once(f.loop, 10);
    CHECK_EQ_INT(g_closed, 1);
    for (int i = 0; i < 5; i++)
        ev_run_once(f.loop, 0);
    CHECK_EQ_INT(http_server_conn_count(f.srv), 0);
    teardown(&f);
}

TEST(hijack_upgrade_with_half_close)
{
    struct fixture f;
    setup(&f);
    memset(&g_hj, 0, sizeof(g_hj));
    const char *req = "POST /attach HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
                      "Content-Length: 0\r\n\r\nearly";
    send_all(&f, req, strlen(req));
    CHECK(pump_until(&f, "early", NULL));
    CHECK(dd_startswith(f.in.data, "HTTP/1.1 101 UPGRADED\r\nContent-Type: "
                                   "application/vnd.docker.raw-stream\r\nConnection: "
                                   "Upgrade\r\nUpgrade: tcp\r\n\r\nearly"));
    send_all(&f, "more", 4);
    CHECK(pump_until(&f, "earlymore", NULL));
    CHECK(!g_hj.eof);
    shutdown(f.cfd, SHUT_WR); /* half-close: not a disconnect */
    bool eof = false;
    CHECK(pump_until(&f, "earlymorebye", &eof));
    CHECK(g_hj.eof);
    CHECK(!g_hj.closed);
    while (!eof)
        pump_until(&f, "never", &eof);
    teardown(&f);
}

TEST(hijack_without_upgrade_header_is_200_raw_stream)
{
    struct fixture f;
    setup(&f);
    memset(&g_hj, 0, sizeof(g_hj));
    const char *req = "POST /attach HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
    send_all(&f, req, strlen(req));
    CHECK(pump_until(&f, "\r\n\r\n", NULL));
    CHECK(dd_startswith(f.in.data, "HTTP/1.1 200 OK\r\nX-Common: 1\r\nContent-Type: "
                                   "application/vnd.docker.raw-stream\r\n\r\n"));
    CHECK(strstr(f.in.data, "Content-Length") == NULL);
    send_all(&f, "in", 2);
    CHECK(pump_until(&f, "\r\n\r\nin", NULL));
    close(f.cfd);
    f.cfd = -1;
    for (int i = 0; i < 1000 && !g_hj.eof && !g_hj.closed; i++)
        ev_run_once(f.loop, 10);
    CHECK(g_hj.eof || g_hj.closed);
    teardown(&f);
}

TEST(small_body_moves_to_a_file_on_request)
{
    struct fixture f;
    setup(&f);
    const char *req =
        "POST /tofd HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello";
    send_all(&f, req, strlen(req));
    CHECK(pump_until(&f, "tofd=5:hello mem=no", NULL));
    CHECK(strstr(f.in.data, "Connection: keep-alive\r\n") != NULL);
    teardown(&f);
}

TEST(generic_upgrade_sends_caller_headers)
{
    struct fixture f;
    setup(&f);
    const char *req = "GET /ws HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\n"
                      "Upgrade: websocket\r\nSec-WebSocket-Key: x\r\n\r\nping";
    send_all(&f, req, strlen(req));
    CHECK(pump_until(&f, "ping", NULL));
    CHECK_EQ_STR(f.in.data, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                            "Upgrade: websocket\r\nSec-WebSocket-Accept: abc\r\n\r\nping");
    teardown(&f);
}

TEST(takeover_writes_nothing_of_its_own)
{
    struct fixture f;
    setup(&f);
    const char *req = "GET /takeover HTTP/1.1\r\nHost: x\r\n\r\nping";
    send_all(&f, req, strlen(req));
    CHECK(pump_until(&f, "ping", NULL));
    CHECK_EQ_STR(f.in.data, "HTTP/1.1 299 Relayed\r\nX-From: elsewhere\r\n\r\nping");
    shutdown(f.cfd, SHUT_WR);
    bool eof = false;
    CHECK(pump_until(&f, "pingbye", &eof));
    while (!eof)
        pump_until(&f, "never", &eof);
    CHECK(g_hj.eof);
    teardown(&f);
}

TEST(idle_keepalive_connection_is_closed)
{
    ev_loop *loop = ev_loop_new(NULL);
    http_server_opts o = {.idle_ms = 1};
    http_server *srv = http_server_new(loop, &o);
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    CHECK(http_server_adopt(srv, sv[0], NULL) == 0);
    CHECK_EQ_INT(http_server_conn_count(srv), 1);
    while (http_server_conn_count(srv) > 0)
        ev_run_once(loop, -1);
    char c;
    CHECK(read(sv[1], &c, 1) == 0); /* EOF */
    close(sv[1]);
    http_server_free(srv);
    ev_loop_free(loop);
}

TEST(connection_limit_pauses_accepting)
{
    ev_loop *loop = ev_loop_new(NULL);
    http_server_opts o = {.max_conns = 1};
    http_server *srv = http_server_new(loop, &o);
    http_server_add_routes(srv, routes, DD_ARRAY_SIZE(routes));
    char dir[] = "/tmp/http-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char addr[128], path[100];
    snprintf(path, sizeof(path), "%s/s.sock", dir);
    snprintf(addr, sizeof(addr), "unix://%s", path);
    CHECK(http_server_listen(srv, addr, NULL, NULL) == 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    int a = socket(AF_UNIX, SOCK_STREAM, 0), b = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(connect(a, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    CHECK(connect(b, (struct sockaddr *)&sa, sizeof(sa)) == 0); /* sits in the backlog */
    for (int i = 0; i < 20; i++)
        ev_run_once(loop, 1);
    CHECK_EQ_INT(http_server_conn_count(srv), 1);
    CHECK(write(b, "GET /echo/b HTTP/1.1\r\n\r\n", 24) == 24);
    dd_set_nonblock(b, true);
    char tmp[16];
    CHECK(read(b, tmp, sizeof(tmp)) < 0); /* not served while the limit holds */
    close(a);
    dd_buf in = DD_BUF_INIT;
    while (!in.data || !strstr(in.data, "id=b")) {
        char buf[4096];
        ssize_t n = read(b, buf, sizeof(buf));
        if (n > 0)
            dd_buf_add(&in, buf, (size_t)n);
        else
            ev_run_once(loop, 10);
    }
    dd_buf_release(&in);
    close(b);
    http_server_free(srv);
    struct stat st;
    CHECK(stat(path, &st) < 0); /* the socket is removed with the server */
    rmdir(dir);
    ev_loop_free(loop);
}

TEST(hijacked_peer_full_close_is_on_close_without_writes)
{
    struct fixture f;
    setup(&f);
    memset(&g_hj, 0, sizeof(g_hj));
    const char *req = "POST /attach-keep HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n";
    send_all(&f, req, strlen(req));
    CHECK(pump_until(&f, "Upgrade: tcp\r\n\r\n", NULL));
    shutdown(f.cfd, SHUT_WR);
    while (!g_hj.eof)
        ev_run_once(f.loop, 10);
    CHECK(!g_hj.closed); /* half-close only */
    close(f.cfd);
    f.cfd = -1;
    while (!g_hj.closed)
        ev_run_once(f.loop, 10);
    for (int i = 0; i < 3; i++)
        ev_run_once(f.loop, 0);
    CHECK_EQ_INT(http_server_conn_count(f.srv), 0);
    teardown(&f);
}

/* A closing connection half-closes and reads until the peer closes (a TCP close with unread
 * input would reset the connection and drop the reply), bounded by the linger time. */
TEST(closing_connection_lingers_until_the_peer_closes)
{
    struct fixture f;
    setup(&f);
    const char *req = "GET /echo/l HTTP/1.1\r\nConnection: close\r\n\r\nunread pipelined bytes";
    send_all(&f, req, strlen(req));
    bool eof = false;
    CHECK(pump_until(&f, "id=l", &eof));
    while (!eof)
        pump_until(&f, "never", &eof); /* our half-close */
    CHECK_EQ_INT(http_server_conn_count(f.srv), 1);
    send_all(&f, "more", 4); /* still read and dropped */
    ev_run_once(f.loop, 10);
    CHECK_EQ_INT(http_server_conn_count(f.srv), 1);
    shutdown(f.cfd, SHUT_WR);
    for (int i = 0; i < 1000 && http_server_conn_count(f.srv) > 0; i++)
        ev_run_once(f.loop, 10);
    CHECK_EQ_INT(http_server_conn_count(f.srv), 0);
    teardown(&f);
}
