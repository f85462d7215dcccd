/* rt: the log writer (json-file and CRI lines, escaping, partial lines) and reader (tail, since,
 * follow), and the spec's serialisation round trip. No containers here. */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

#include "dind/lib/rt/log-internal.h"
#include "dind/lib/rt/rt-internal.h"
#include "tests/unit/unit.h"

static char *tmpfile_path(void)
{
    char tmpl[] = "/tmp/rt-log-XXXXXX";
    int fd = mkstemp(tmpl);
    CHECK(fd >= 0);
    close(fd);
    unlink(tmpl);
    return dd_strdup(tmpl);
}

TEST(rt_log_json_escaping_matches_go)
{
    dd_buf b = DD_BUF_INIT;
    rt_json_escape(&b, "a\"b\\c\n\t<>&\x01\xff\xc3\xa9", 14);
    CHECK_EQ_STR(b.data, "a\\\"b\\\\c\\n\\t\\u003c\\u003e\\u0026\\u0001\\ufffd\xc3\xa9");
    dd_buf_release(&b);
}

TEST(rt_log_write_split_and_read_back)
{
    _cleanup_free_ char *path = tmpfile_path();
    struct rt_log_writer w;
    dd_err e = {0};
    CHECK(rt_log_writer_open(&w, path, RT_LOG_JSON_FILE, &e) == 0);
    rt_log_writer_write(&w, RT_STREAM_STDOUT, "one\ntw", 6);
    rt_log_writer_write(&w, RT_STREAM_STDERR, "err\n", 4);
    rt_log_writer_write(&w, RT_STREAM_STDOUT, "o\nthree \"q\" \xe2\x82\xac\n", 16);
    rt_log_writer_write(&w, RT_STREAM_STDOUT, "tail", 4);
    rt_log_writer_close(&w);

    struct rt_log_reader *r = NULL;
    CHECK(rt_log_open(path, RT_LOG_JSON_FILE, 0, 0, -1, &r, &e) == 0);
    struct rt_log_entry ent;
    const char *want[] = {"one\n", "err\n", "two\n", "three \"q\" \xe2\x82\xac\n", "tail"};
    int streams[] = {1, 2, 1, 1, 1};
    for (int i = 0; i < 5; i++) {
        CHECK_EQ_INT(rt_log_next(r, &ent, &e), 1);
        CHECK_EQ_INT(ent.stream, streams[i]);
        CHECK_EQ_INT(ent.len, strlen(want[i]));
        CHECK(memcmp(ent.data, want[i], ent.len) == 0);
        CHECK(ent.time > 0);
        CHECK_EQ_INT(ent.partial, i == 4);
    }
    CHECK_EQ_INT(rt_log_next(r, &ent, &e), 0);
    rt_log_close(r);

    /* tail 2 = the last two entries; tail 0 = nothing */
    CHECK(rt_log_open(path, RT_LOG_JSON_FILE, 0, 0, 2, &r, &e) == 0);
    CHECK_EQ_INT(rt_log_next(r, &ent, &e), 1);
    CHECK(dd_startswith(ent.data, "three"));
    CHECK_EQ_INT(rt_log_next(r, &ent, &e), 1);
    CHECK_EQ_INT(rt_log_next(r, &ent, &e), 0);
    rt_log_close(r);
    CHECK(rt_log_open(path, RT_LOG_JSON_FILE, 0, 0, 0, &r, &e) == 0);
    CHECK_EQ_INT(rt_log_next(r, &ent, &e), 0);
    rt_log_close(r);
    CHECK(rt_log_open(path, RT_LOG_JSON_FILE, 0, 0, 100, &r, &e) == 0);
    int n = 0;
    while (rt_log_next(r, &ent, &e) == 1)
        n++;
    CHECK_EQ_INT(n, 5);
    rt_log_close(r);
    /* since in the future: nothing */
    CHECK(rt_log_open(path, RT_LOG_JSON_FILE, dd_now_ns() + 1000000000LL, 0, -1, &r, &e) == 0);
    CHECK_EQ_INT(rt_log_next(r, &ent, &e), 0);
    rt_log_close(r);
    unlink(path);
}

TEST(rt_log_reads_dockerd_lines_and_skips_garbage)
{
    _cleanup_free_ char *path = tmpfile_path();
    const char *text =
        "{\"stream\":\"stderr\",\"attrs\":{\"a\":\"}\"},\"log\":\"x\\u00e9\\ud83d\\ude00\\n\","
        "\"time\":\"2024-01-02T03:04:05.123456789Z\"}\n"
        "not json\n"
        "{\"log\":\"y\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-02T03:04:06Z\"}\n";
    CHECK(dd_write_file_atomic(path, text, strlen(text), 0644, NULL) == 0);
    struct rt_log_reader *r = NULL;
    dd_err e = {0};
    CHECK(rt_log_open(path, RT_LOG_JSON_FILE, 0, 0, -1, &r, &e) == 0);
    struct rt_log_entry ent;
    CHECK_EQ_INT(rt_log_next(r, &ent, &e), 1);
    CHECK_EQ_INT(ent.stream, RT_STREAM_STDERR);
    CHECK_EQ_STR(ent.data, "x\xc3\xa9\xf0\x9f\x98\x80\n");
    CHECK_EQ_INT(ent.time % 1000000000LL, 123456789);
    CHECK_EQ_INT(rt_log_next(r, &ent, &e), 1);
    CHECK_EQ_STR(ent.data, "y\n");
    CHECK_EQ_INT(rt_log_next(r, &ent, &e), 0);
    rt_log_close(r);
    unlink(path);
}

TEST(rt_log_cri_format_and_follow)
{
    _cleanup_free_ char *path = tmpfile_path();
    struct rt_log_writer w;
    dd_err e = {0};
    CHECK(rt_log_writer_open(&w, path, RT_LOG_CRI, &e) == 0);
    rt_log_writer_write(&w, RT_STREAM_STDOUT, "hello\n", 6);
    rt_log_writer_flush(&w);
    _cleanup_free_ char *raw = NULL;
    CHECK(dd_read_file(path, 0, &raw, NULL, NULL) == 0);
    CHECK(strstr(raw, "Z stdout F hello\n"));

    struct rt_log_reader *r = NULL;
    CHECK(rt_log_open(path, RT_LOG_CRI, 0, 0, -1, &r, &e) == 0);
    int wfd = rt_log_wait_fd(r, &e);
    CHECK(wfd >= 0);
    struct rt_log_entry ent;
    CHECK_EQ_INT(rt_log_next(r, &ent, &e), 1);
    CHECK_EQ_STR(ent.data, "hello\n");
    CHECK_EQ_INT(rt_log_next(r, &ent, &e), 0);
    rt_log_writer_write(&w, RT_STREAM_STDERR, "par", 3);
    rt_log_writer_flush(&w);
    struct pollfd p = {.fd = wfd, .events = POLLIN};
    CHECK(poll(&p, 1, -1) == 1);
    CHECK_EQ_INT(rt_log_next(r, &ent, &e), 1);
    CHECK_EQ_STR(ent.data, "par");
    CHECK(ent.partial);
    CHECK_EQ_INT(ent.stream, RT_STREAM_STDERR);
    rt_log_close(r);
    rt_log_writer_close(&w);
    unlink(path);
}

TEST(rt_spec_pack_round_trip_and_rejects_garbage)
{
    struct rt_spec s = {0};
    s.id = dd_strdup("abc");
    s.process.args = dd_strv_push(dd_strv_push(NULL, "sh"), "-c");
    s.process.user = dd_strdup("nobody");
    s.process.terminal = true;
    s.process.rows = 24;
    s.process.cols = 80;
    s.lower_dirs = dd_strv_push(NULL, "/l1");
    s.namespaces[RT_NS_NET] = (struct rt_ns){RT_NS_JOIN, dd_strdup("/proc/1/ns/net")};
    s.n_mounts = 1;
    s.mounts = dd_calloc(1, sizeof(*s.mounts));
    s.mounts[0] = (struct rt_mount){dd_strdup("/d"), dd_strdup("bind"), dd_strdup("/s"),
                                    dd_strv_push(NULL, "ro")};
    s.masked_paths = dd_calloc(1, sizeof(char *)); /* empty, not NULL */
    s.resources.memory = 1 << 30;
    s.resources.memory_swap = -1;
    s.oom_score_adj = -500;
    s.stop_signal = 9;
    s.init = true;
    dd_buf b = DD_BUF_INIT;
    rt_spec_pack(&b, &s);
    struct rt_spec t = {0};
    dd_err e = {0};
    CHECK(rt_spec_unpack(b.data, b.len, &t, &e) == 0);
    CHECK_EQ_STR(t.id, "abc");
    CHECK_EQ_STR(t.process.args[1], "-c");
    CHECK(t.process.args[2] == NULL);
    CHECK_EQ_STR(t.process.user, "nobody");
    CHECK(t.process.terminal && t.process.rows == 24 && t.process.cols == 80);
    CHECK_EQ_INT(t.namespaces[RT_NS_NET].mode, RT_NS_JOIN);
    CHECK_EQ_STR(t.namespaces[RT_NS_NET].path, "/proc/1/ns/net");
    CHECK_EQ_INT(t.n_mounts, 1);
    CHECK_EQ_STR(t.mounts[0].options[0], "ro");
    CHECK(t.masked_paths && !t.masked_paths[0]);
    CHECK(t.readonly_paths == NULL);
    CHECK_EQ_INT(t.resources.memory, 1 << 30);
    CHECK_EQ_INT(t.resources.memory_swap, -1);
    CHECK_EQ_INT(t.oom_score_adj, -500);
    CHECK_EQ_INT(t.stop_signal, 9);
    CHECK(t.init);
    rt_spec_release(&t);
    for (size_t cut = 0; cut < b.len; cut += 7) {
        CHECK(rt_spec_unpack(b.data, cut, &t, &e) == -EINVAL);
    }
    dd_buf_release(&b);
    rt_spec_release(&s);
}
