/* Unit tests for dind/lib/base and dind/lib/json. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "dind/base.h"
#include "dind/json.h"
#include "tests/unit/unit.h"

TEST(err_wrap_prefixes_context)
{
    dd_err e = {0};
    errno = ENOENT;
    int r = dd_err_sys(&e, "opening %s", "/x");
    CHECK_EQ_INT(r, -ENOENT);
    dd_err_wrap(&e, "loading image '%s'", "busybox");
    CHECK_EQ_STR(e.msg, "loading image 'busybox': opening /x: No such file or directory");
    CHECK_EQ_INT(e.code, ENOENT);
    CHECK_EQ_INT(dd_err_set(NULL, EINVAL, "x"), -EINVAL);
}

TEST(buf_grows_and_formats)
{
    dd_buf b = DD_BUF_INIT;
    for (int i = 0; i < 1000; i++)
        dd_buf_addf(&b, "%d,", i);
    CHECK(dd_startswith(b.data, "0,1,2,"));
    CHECK(dd_endswith(b.data, "998,999,"));
    dd_buf_consume(&b, 2);
    CHECK(dd_startswith(b.data, "1,2,"));
    size_t n;
    char *s = dd_buf_detach(&b, &n);
    CHECK_EQ_INT(n, strlen(s));
    CHECK(b.data == NULL);
    free(s);
}

TEST(parse_bool_follows_go_rule)
{
    CHECK(!dd_parse_bool(""));
    CHECK(!dd_parse_bool("0"));
    CHECK(!dd_parse_bool("False"));
    CHECK(!dd_parse_bool("none"));
    CHECK(!dd_parse_bool(NULL));
    CHECK(dd_parse_bool("1"));
    CHECK(dd_parse_bool("True"));
    CHECK(dd_parse_bool("yes"));
}

TEST(rfc3339_round_trip)
{
    char s[64];
    int64_t ns = 1763888400123456789LL, back = 0;
    dd_format_rfc3339nano(ns, s, sizeof(s));
    CHECK_EQ_INT(dd_parse_rfc3339(s, &back), 0);
    CHECK_EQ_INT(back, ns);
    CHECK_EQ_INT(dd_parse_rfc3339("2026-11-23T10:00:00+01:00", &back), 0);
    CHECK_EQ_INT(back, 1795424400LL * 1000000000LL);
    CHECK(dd_parse_rfc3339("yesterday", &back) < 0);
}

TEST(fs_atomic_write_read_and_rm_rf)
{
    char dir[] = "/tmp/unit-base-XXXXXX";
    CHECK(mkdtemp(dir));
    _cleanup_free_ char *sub = dd_path_join(dir, "a/b/c");
    CHECK_EQ_INT(dd_mkdir_p(sub, 0755, NULL), 0);
    _cleanup_free_ char *f = dd_path_join(sub, "file");
    CHECK_EQ_INT(dd_write_file_atomic(f, "hello", 5, 0644, NULL), 0);
    char *data;
    size_t len;
    CHECK_EQ_INT(dd_read_file(f, 0, &data, &len, NULL), 0);
    CHECK_EQ_STR(data, "hello");
    free(data);
    dd_err e = {0};
    CHECK(dd_read_file(f, 2, &data, &len, &e) == -EFBIG);
    CHECK_EQ_INT(dd_rm_rf(dir, NULL), 0);
    struct stat st;
    CHECK(lstat(dir, &st) < 0 && errno == ENOENT);
}

TEST(json_getters_are_case_insensitive_and_typed)
{
    json_t *v;
    dd_err e = {0};
    const char *body = "{\"image\":\"busybox\",\"Tty\":true,\"Cmd\":[\"sh\",\"-c\"],\"Env\":null,"
                       "\"Memory\":\"lots\"}";
    CHECK_EQ_INT(jx_parse(body, strlen(body), &v, &e), 0);
    const char *img = NULL;
    CHECK_EQ_INT(jx_str(v, "Image", &img, &e), 0);
    CHECK_EQ_STR(img, "busybox");
    char **cmd = NULL;
    CHECK_EQ_INT(jx_strv(v, "Cmd", &cmd, &e), 0);
    CHECK_EQ_INT(dd_strv_len(cmd), 2);
    dd_strv_free(cmd);
    char **env = NULL;
    CHECK_EQ_INT(jx_strv(v, "Env", &env, &e), 0);
    CHECK(env == NULL);
    int64_t mem = 0;
    CHECK_EQ_INT(jx_int(v, "Memory", &mem, &e), -EINVAL);
    CHECK_EQ_STR(e.msg, "Memory: expected an integer");
    json_decref(v);
    CHECK(jx_parse("{\"a\":", 5, &v, &e) == -EINVAL);
    CHECK(dd_startswith(e.msg, "invalid JSON: "));
}
