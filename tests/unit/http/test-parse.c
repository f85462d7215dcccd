/* Unit tests for the HTTP request parser, the chunked decoder, query strings and route patterns
 * (pure functions, no sockets). */
#include "dind/lib/http/http-internal.h"
#include "tests/unit/unit.h"

static int parse(const char *s, http_head *h, int *status)
{
    return http_parse_head(s, strlen(s), 65536, h, status);
}

TEST(parse_simple_get)
{
    http_head h;
    int st = 0;
    const char *req = "GET /v1.41/containers/json?all=1&filters=%7B%7D HTTP/1.1\r\n"
                      "Host: api.moby.localhost\r\nUser-Agent: Docker-Client/28.2.2 (linux)\r\n\r\n"
                      "NEXT";
    int r = parse(req, &h, &st);
    CHECK_EQ_INT(r, (int)(strlen(req) - 4));
    CHECK_EQ_STR(h.method, "GET");
    CHECK_EQ_STR(h.path, "/v1.41/containers/json");
    CHECK_EQ_STR(h.query, "all=1&filters=%7B%7D");
    CHECK_EQ_INT(h.minor, 1);
    CHECK(h.keep_alive);
    CHECK_EQ_STR(http_head_get(&h, "user-agent"), "Docker-Client/28.2.2 (linux)");
    CHECK(http_head_get(&h, "Content-Length") == NULL);
    http_head_release(&h);
}

TEST(parse_needs_more_then_completes)
{
    const char *req = "POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\n";
    for (size_t n = 0; n < strlen(req); n++) {
        http_head h;
        int st = 0;
        CHECK_EQ_INT(http_parse_head(req, n, 65536, &h, &st), 0);
    }
    http_head h;
    int st;
    CHECK(parse(req, &h, &st) > 0);
    CHECK(h.has_length);
    CHECK_EQ_INT(h.content_length, 5);
    http_head_release(&h);
}

TEST(parse_bare_lf_and_http10)
{
    http_head h;
    int st;
    CHECK(parse("GET / HTTP/1.0\nConnection: keep-alive\n\n", &h, &st) > 0);
    CHECK_EQ_INT(h.minor, 0);
    CHECK(h.keep_alive);
    http_head_release(&h);
    CHECK(parse("GET / HTTP/1.0\r\n\r\n", &h, &st) > 0);
    CHECK(!h.keep_alive);
    http_head_release(&h);
    CHECK(parse("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n", &h, &st) > 0);
    CHECK(!h.keep_alive);
    http_head_release(&h);
}

TEST(parse_chunked_and_expect)
{
    http_head h;
    int st;
    CHECK(parse("PUT /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n"
                "Expect: 100-continue\r\n\r\n",
                &h, &st) > 0);
    CHECK(h.chunked);
    CHECK(!h.has_length); /* Transfer-Encoding wins */
    CHECK(h.expect_continue);
    http_head_release(&h);
}

static void expect_error(const char *req, int status)
{
    http_head h;
    int st = 0;
    int r = parse(req, &h, &st);
    if (r >= 0)
        unit_fail(__FILE__, __LINE__, "accepted: %s", req);
    CHECK_EQ_INT(st, status);
}

TEST(parse_rejects_bad_requests)
{
    expect_error("GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400);
    expect_error("GET / HTTP/2.0\r\n\r\n", 505);
    expect_error("GET / FOO/1.1\r\n\r\n", 400);
    expect_error("GET /a b HTTP/1.1\r\n\r\n", 400);
    expect_error("G(T / HTTP/1.1\r\n\r\n", 400);
    expect_error("GET http://x/ HTTP/1.1\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400);
    expect_error("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501);
    expect_error("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1\r\nX: a\x01\r\n\r\n", 400);
}

TEST(parse_nul_is_rejected)
{
    const char req[] = "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n";
    http_head h;
    int st;
    CHECK(http_parse_head(req, sizeof(req) - 1, 65536, &h, &st) < 0);
    CHECK_EQ_INT(st, 400);
}

TEST(parse_header_limit_is_431)
{
    dd_buf b = DD_BUF_INIT;
    dd_buf_adds(&b, "GET / HTTP/1.1\r\nX-Big: ");
    for (int i = 0; i < 70000; i++)
        dd_buf_addc(&b, 'a');
    http_head h;
    int st = 0;
    CHECK(http_parse_head(b.data, b.len, 65536, &h, &st) < 0);
    CHECK_EQ_INT(st, 431);
    dd_buf_adds(&b, "\r\n\r\n");
    CHECK(http_parse_head(b.data, b.len, 65536, &h, &st) < 0);
    CHECK_EQ_INT(st, 431);
    CHECK(http_parse_head(b.data, b.len, 1 << 20, &h, &st) > 0);
    http_head_release(&h);
    dd_buf_release(&b);
}

static const char chunked_body[] = "4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n"
                                   "0\r\nTrailer: x\r\n\r\nNEXT";

TEST(chunked_decodes_whole_and_bytewise)
{
    http_chunked st = {0};
    dd_buf out = DD_BUF_INIT;
    bool done = false;
    ssize_t n = http_chunked_feed(&st, chunked_body, strlen(chunked_body), &out, &done);
    CHECK(done);
    CHECK_EQ_INT(n, (ssize_t)strlen(chunked_body) - 4);
    CHECK_EQ_STR(out.data, "Wikipedia in\r\n\r\nchunks.");
    dd_buf_release(&out);

    http_chunked st2 = {0};
    done = false;
    size_t i = 0;
    while (!done) {
        n = http_chunked_feed(&st2, chunked_body + i, 1, &out, &done);
        CHECK(n >= 0);
        i += (size_t)n;
    }
    CHECK_EQ_INT(i, strlen(chunked_body) - 4);
    CHECK_EQ_STR(out.data, "Wikipedia in\r\n\r\nchunks.");
    dd_buf_release(&out);
}

static void chunk_bad(const char *s)
{
    http_chunked st = {0};
    dd_buf out = DD_BUF_INIT;
    bool done;
    ssize_t n = http_chunked_feed(&st, s, strlen(s), &out, &done);
    dd_buf_release(&out);
    if (n >= 0)
        unit_fail(__FILE__, __LINE__, "accepted chunked body: %s", s);
}

TEST(chunked_rejects_garbage)
{
    chunk_bad("z\r\n");
    chunk_bad("\r\n");
    chunk_bad("4\r\nWikiX\r\n");
    chunk_bad("ffffffffffffffffff\r\n");
}

TEST(query_parse_decodes_and_repeats)
{
    http_query q;
    CHECK(http_query_parse("names=a&names=b%2Fc&x=1+2&flag&=v&e=", &q) == 0);
    CHECK_EQ_INT(q.n, 6);
    CHECK_EQ_STR(q.keys[0], "names");
    CHECK_EQ_STR(q.values[1], "b/c");
    CHECK_EQ_STR(q.values[2], "1 2");
    CHECK_EQ_STR(q.keys[3], "flag");
    CHECK_EQ_STR(q.values[3], "");
    CHECK_EQ_STR(q.keys[4], "");
    http_query_release(&q);
    CHECK(http_query_parse("a=%zz", &q) < 0);
    CHECK(http_query_parse("a=%4", &q) < 0);
}

static const char *match(const char *pattern, const char *path, const char *param)
{
    static char buf[256];
    http_params p;
    if (!http_pattern_match(pattern, path, &p))
        return NULL;
    buf[0] = '\0';
    for (size_t i = 0; i < p.n; i++)
        if (strlen(param) == p.name_lens[i] && strncmp(p.names[i], param, p.name_lens[i]) == 0)
            snprintf(buf, sizeof(buf), "%s", p.values[i]);
    http_params_release(&p);
    return buf;
}

TEST(route_patterns)
{
    CHECK_EQ_STR(match("/containers/{id}/json", "/containers/abc/json", "id"), "abc");
    CHECK(match("/containers/{id}/json", "/containers//json", "id") == NULL);
    CHECK(match("/containers/{id}/json", "/containers/abc/json/x", "id") == NULL);
    CHECK_EQ_STR(match("/images/{name*}/json", "/images/127.0.0.1:5000/busybox:v1/json", "name"),
                 "127.0.0.1:5000/busybox:v1");
    CHECK_EQ_STR(match("/images/{name*}/json", "/images/a/json/json", "name"), "a/json");
    CHECK_EQ_STR(match("/images/{name*}", "/images/myrepo/bb:v1", "name"), "myrepo/bb:v1");
    CHECK_EQ_STR(match("/images/{name*}", "/images/a%2Fb", "name"), "a/b");
    CHECK(match("/images/{name*}/json", "/images/json", "name") == NULL);
    CHECK_EQ_STR(match("/_ping", "/_ping", "x"), "");
    CHECK(match("/_ping", "/_ping/", "x") == NULL);
}
