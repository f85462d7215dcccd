/* Tests of the pods/log streamer over a socketpair-adopted HTTP server and a CRI log file:
 * query validation, tailLines, sinceTime, timestamps, limitBytes, and follow picking up lines
 * appended after the response started. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "k3core/stream/stream.h"
#include "tests/unit/unit.h"

static char g_path[64];
static ev_loop *g_loop;

static void h_log(http_req *req)
{
    struct kstream_log_opts o;
    kobj_status st = {0};
    if (kstream_log_opts_parse(req, 1795000000LL * 1000000000LL, &o, &st) < 0 ||
        kstream_log_serve(g_loop, req, g_path, NULL, &o, &st) < 0) {
        char msg[1100];
        int n = snprintf(msg, sizeof(msg), "%d %s", st.code, st.message);
        http_reply(req, st.code, "text/plain", msg, (size_t)n);
    }
    kstream_log_opts_release(&o);
}

static const http_route routes[] = {{"GET", "/log", h_log}};

struct fx {
    http_server *srv;
    int cfd;
    dd_buf in;
};

static void setup(struct fx *f)
{
    memset(f, 0, sizeof(*f));
    strcpy(g_path, "/tmp/test-stream-log-XXXXXX");
    int fd = mkstemp(g_path);
    CHECK(fd >= 0);
    const char *lines = "2026-11-23T10:00:01.000000001Z stdout F one\n"
                        "2026-11-23T10:00:02Z stderr P tw\n"
                        "2026-11-23T10:00:02.5Z stderr F o\n"
                        "2026-11-23T10:00:03Z stdout F three\n";
    CHECK(dd_write_all(fd, lines, strlen(lines)) == 0);
    close(fd);
    g_loop = ev_loop_new(NULL);
    http_server_opts o = {0};
    f->srv = http_server_new(g_loop, &o);
    http_server_add_routes(f->srv, routes, DD_ARRAY_SIZE(routes));
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    CHECK(http_server_adopt(f->srv, sv[0], NULL) == 0);
    f->cfd = sv[1];
    dd_set_nonblock(f->cfd, true);
}

static void teardown(struct fx *f)
{
    close(f->cfd);
    http_server_free(f->srv);
    ev_loop_free(g_loop);
    dd_buf_release(&f->in);
    unlink(g_path);
}

/* A whole response: a chunked one up to its last chunk, or a Content-Length one. */
static bool complete(const dd_buf *in)
{
    const char *end = in->data ? strstr(in->data, "\r\n\r\n") : NULL;
    const char *cl = in->data ? strstr(in->data, "Content-Length: ") : NULL;
    if (!end)
        return false;
    if (!cl || cl > end)
        return strstr(end, "\r\n0\r\n\r\n") != NULL;
    return (size_t)(in->data + in->len - (end + 4)) >= strtoul(cl + 16, NULL, 10);
}

static bool pump_until(struct fx *f, const char *needle)
{
    for (int i = 0; i < 2000; i++) {
        if (f->in.data && (needle ? strstr(f->in.data, needle) != NULL : complete(&f->in)))
            return true;
        char buf[4096];
        ssize_t n = read(f->cfd, buf, sizeof(buf));
        if (n > 0) {
            dd_buf_add(&f->in, buf, (size_t)n);
            continue;
        }
        if (n == 0)
            return false;
        ev_run_once(g_loop, 20);
    }
    return false;
}

static const char *get(struct fx *f, const char *query)
{
    dd_buf_reset(&f->in);
    char req[512];
    int n = snprintf(req, sizeof(req), "GET /log%s HTTP/1.1\r\nHost: x\r\n\r\n", query);
    CHECK(write(f->cfd, req, (size_t)n) == n);
    if (!pump_until(f, NULL))
        fprintf(stderr, "got: [%s]\n", f->in.data ? f->in.data : "");
    CHECK(f->in.data && complete(&f->in));
    const char *body = strstr(f->in.data, "\r\n\r\n");
    CHECK(body);
    body += 4;
    if (strstr(f->in.data, "Content-Length: "))
        return body;
    /* De-chunk in place: the body is rewritten at the end of the buffer. */
    static dd_buf plain;
    dd_buf_reset(&plain);
    for (const char *p = body;;) {
        char *end;
        unsigned long len = strtoul(p, &end, 16);
        if (len == 0 || strncmp(end, "\r\n", 2))
            break;
        dd_buf_add(&plain, end + 2, len);
        p = end + 2 + len + 2;
    }
    dd_buf_addc(&plain, '\0');
    return plain.data;
}

TEST(log_stream_filters)
{
    struct fx f;
    setup(&f);
    const char *b = get(&f, "");
    CHECK(strstr(b, "one\n"));
    CHECK(strstr(b, "two\n"));
    CHECK(strstr(b, "three\n"));
    b = get(&f, "?tailLines=1");
    CHECK(!strstr(b, "one") && strstr(b, "three\n"));
    b = get(&f, "?sinceTime=2026-11-23T10:00:02Z");
    CHECK(!strstr(b, "one") && strstr(b, "two") && strstr(b, "three"));
    b = get(&f, "?timestamps=true&tailLines=1");
    CHECK(strstr(b, "2026-11-23T10:00:03Z three\n"));
    b = get(&f, "?limitBytes=5");
    CHECK_EQ_STR(b, "one\nt");
    CHECK(!strstr(b, "three"));
    teardown(&f);
}

TEST(log_bad_query)
{
    struct fx f;
    setup(&f);
    CHECK(strstr(get(&f, "?tailLines=-1"), "400 "));
    CHECK(strstr(get(&f, "?limitBytes=0"), "400 "));
    CHECK(strstr(get(&f, "?follow=maybe"), "invalid value for follow"));
    CHECK(strstr(get(&f, "?sinceSeconds=5&sinceTime=2026-11-23T10:00:02Z"), "422 "));
    CHECK(strstr(get(&f, "?sinceTime=yesterday"), "400 "));
    teardown(&f);
}

TEST(log_follow_sees_appended_lines)
{
    struct fx f;
    setup(&f);
    const char *req = "GET /log?follow=1 HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK(write(f.cfd, req, strlen(req)) == (ssize_t)strlen(req));
    CHECK(pump_until(&f, "three\n"));
    int fd = open(g_path, O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    const char *more = "2026-11-23T10:00:04Z stdout F four\n";
    CHECK(dd_write_all(fd, more, strlen(more)) == 0);
    close(fd);
    CHECK(pump_until(&f, "four\n"));
    CHECK(!strstr(f.in.data, "\r\n0\r\n\r\n"));
    teardown(&f);
}
