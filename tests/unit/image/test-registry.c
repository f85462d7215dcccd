/* Unit tests for the registry client's parsers: WWW-Authenticate challenges, X-Registry-Auth and
 * dockerconfigjson credentials, manifests and indexes with the platform choice, the registry's
 * error texts in dockerd's words, and the insecure-registry rule. */
#include "dind/lib/image/image-internal.h"
#include "tests/unit/unit.h"

TEST(challenge_bearer_with_params)
{
    img_challenge c;
    CHECK_EQ_INT(img_challenge_parse("Bearer realm=\"https://auth.docker.io/token\",service="
                                     "\"registry.docker.io\",scope=\"repository:library/"
                                     "busybox:pull\",error=\"insufficient_scope\"",
                                     &c, NULL),
                 0);
    CHECK_EQ_STR(c.scheme, "bearer");
    CHECK_EQ_STR(c.realm, "https://auth.docker.io/token");
    CHECK_EQ_STR(c.service, "registry.docker.io");
    CHECK_EQ_STR(c.scope, "repository:library/busybox:pull");
    CHECK_EQ_STR(c.error, "insufficient_scope");
    img_challenge_release(&c);
}

TEST(challenge_basic_tokens_escapes_and_several)
{
    img_challenge c;
    CHECK_EQ_INT(img_challenge_parse("Basic realm=\"a \\\"quoted\\\" realm\"", &c, NULL), 0);
    CHECK_EQ_STR(c.scheme, "basic");
    CHECK_EQ_STR(c.realm, "a \"quoted\" realm");
    img_challenge_release(&c);
    /* an unknown scheme first: the Bearer one that follows is kept */
    CHECK_EQ_INT(img_challenge_parse("Negotiate abc, BEARER realm=x,service=y", &c, NULL), 0);
    CHECK_EQ_STR(c.scheme, "bearer");
    CHECK_EQ_STR(c.realm, "x");
    CHECK_EQ_STR(c.service, "y");
    img_challenge_release(&c);
    CHECK_EQ_INT(img_challenge_parse("", &c, NULL), 0);
    CHECK_EQ_STR(c.scheme, "");
    CHECK_EQ_INT(img_challenge_parse("Bearer realm=\"unterminated", &c, NULL), -EINVAL);
    CHECK(c.realm == NULL);
}

TEST(x_registry_auth_decodes_docker_forms)
{
    img_auth a;
    CHECK_EQ_INT(img_auth_decode("e30=", &a, NULL), 0); /* "{}" as the CLI sends it */
    CHECK(a.username == NULL && a.password == NULL);
    CHECK_EQ_INT(img_auth_decode(NULL, &a, NULL), 0);
    /* {"username":"alice","password":"s3/?>","serveraddress":"r:5000"} in base64url, no pad */
    CHECK_EQ_INT(img_auth_decode("eyJ1c2VybmFtZSI6ImFsaWNlIiwicGFzc3dvcmQiOiJzMy8_PiIsInNlcnZlcm"
                                 "FkZHJlc3MiOiJyOjUwMDAifQ",
                                 &a, NULL),
                 0);
    CHECK_EQ_STR(a.username, "alice");
    CHECK_EQ_STR(a.password, "s3/?>");
    CHECK_EQ_STR(a.server, "r:5000");
    img_auth_release(&a);
    /* {"auth":"Ym9iOnB3"} = bob:pw, and an identity token */
    CHECK_EQ_INT(img_auth_decode("eyJhdXRoIjoiWW05aU9uQjMiLCJpZGVudGl0eXRva2VuIjoidCJ9", &a, NULL),
                 0);
    CHECK_EQ_STR(a.username, "bob");
    CHECK_EQ_STR(a.password, "pw");
    CHECK_EQ_STR(a.identity_token, "t");
    img_auth_release(&a);
    dd_err e = {0};
    CHECK_EQ_INT(img_auth_decode("!!!", &a, &e), -EINVAL);
    CHECK(strstr(e.msg, "invalid X-Registry-Auth header") != NULL);
    CHECK_EQ_INT(img_auth_decode("WzFd", &a, NULL), -EINVAL); /* [1] */
}

TEST(dockerconfigjson_fills_hosts)
{
    img_registries r = {0};
    const char *doc = "{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"Ym9iOnB3\"},"
                      "\"reg.example:5000\":{\"username\":\"u\",\"password\":\"p\"}}}";
    CHECK_EQ_INT(img_registries_add_dockerconfig(&r, doc, strlen(doc), NULL), 0);
    CHECK_EQ_INT(r.n_hosts, 2);
    CHECK_EQ_STR(img_registries_host(&r, "docker.io")->auth.username, "bob");
    CHECK_EQ_STR(img_registries_host(&r, "reg.example:5000")->auth.password, "p");
    CHECK_EQ_INT(img_registries_add_dockerconfig(&r, "{}", 2, NULL), -EINVAL);
    img_registries_release(&r);
}

static const char index_doc[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_DOCKER_LIST "\",\"manifests\":["
    "{\"mediaType\":\"" IMG_MT_DOCKER_MANIFEST "\",\"size\":1,\"digest\":\"sha256:"
    "1111111111111111111111111111111111111111111111111111111111111111\",\"platform\":"
    "{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v6\"}},"
    "{\"mediaType\":\"" IMG_MT_DOCKER_MANIFEST "\",\"size\":2,\"digest\":\"sha256:"
    "2222222222222222222222222222222222222222222222222222222222222222\",\"platform\":"
    "{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v7\"}},"
    "{\"mediaType\":\"" IMG_MT_DOCKER_MANIFEST "\",\"size\":3,\"digest\":\"sha256:"
    "3333333333333333333333333333333333333333333333333333333333333333\",\"platform\":"
    "{\"architecture\":\"arm64\",\"os\":\"linux\"}},"
    "{\"mediaType\":\"" IMG_MT_DOCKER_MANIFEST "\",\"size\":4,\"digest\":\"sha256:"
    "4444444444444444444444444444444444444444444444444444444444444444\",\"platform\":"
    "{\"architecture\":\"amd64\",\"os\":\"linux\"}}]}";

TEST(index_platform_choice)
{
    img_manifest m;
    CHECK_EQ_INT(img_manifest_parse(NULL, index_doc, strlen(index_doc), &m, NULL), 0);
    CHECK(m.is_index);
    CHECK_EQ_INT(m.n, 4);
    size_t i = 99;
    CHECK_EQ_INT(img_manifest_choose(&m, "linux/amd64", &i, NULL), 0);
    CHECK_EQ_INT(i, 3);
    CHECK_EQ_INT(img_manifest_choose(&m, "linux/arm64/v8", &i, NULL), 0); /* v8 implied */
    CHECK_EQ_INT(i, 2);
    CHECK_EQ_INT(img_manifest_choose(&m, "linux/arm", &i, NULL), 0); /* v7 by default */
    CHECK_EQ_INT(i, 1);
    CHECK_EQ_INT(img_manifest_choose(&m, "linux/arm/v6", &i, NULL), 0);
    CHECK_EQ_INT(i, 0);
    dd_err e = {0};
    CHECK_EQ_INT(img_manifest_choose(&m, "linux/s390x", &i, &e), -ENOENT);
    CHECK_EQ_STR(e.msg, "no matching manifest for linux/s390x in the manifest list entries");
    CHECK_EQ_INT(img_manifest_choose(&m, "linux", &i, NULL), -EINVAL);
    CHECK_EQ_INT(img_manifest_choose(&m, NULL, &i, NULL), 0); /* this machine */
    img_manifest_release(&m);
}

TEST(image_manifests_docker_and_oci)
{
    const char *d = "{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_DOCKER_MANIFEST "\","
                    "\"config\":{\"mediaType\":\"x\",\"size\":10,\"digest\":\"sha256:"
                    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"},"
                    "\"layers\":[{\"mediaType\":\"" IMG_MT_DOCKER_LAYER "\",\"size\":5,"
                    "\"digest\":\"sha256:"
                    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"}]}";
    img_manifest m;
    CHECK_EQ_INT(img_manifest_parse(NULL, d, strlen(d), &m, NULL), 0);
    CHECK(!m.is_index);
    CHECK_EQ_INT(m.config.size, 10);
    CHECK_EQ_INT(m.n, 1);
    CHECK_EQ_INT(m.items[0].size, 5);
    img_manifest_release(&m);
    /* OCI without mediaType: the Content-Type says what it is */
    const char *o = "{\"schemaVersion\":2,\"config\":{\"size\":1,\"digest\":\"sha256:"
                    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"},"
                    "\"layers\":[]}";
    CHECK_EQ_INT(img_manifest_parse(IMG_MT_OCI_MANIFEST, o, strlen(o), &m, NULL), 0);
    CHECK_EQ_STR(m.media_type, IMG_MT_OCI_MANIFEST);
    CHECK_EQ_INT(m.n, 0);
    img_manifest_release(&m);
}

TEST(manifests_refused)
{
    img_manifest m;
    dd_err e = {0};
    const char *s1 = "{\"schemaVersion\":1,\"name\":\"x\"}";
    CHECK_EQ_INT(img_manifest_parse(NULL, s1, strlen(s1), &m, &e), -EINVAL);
    CHECK(strstr(e.msg, "schema 1") != NULL);
    const char *bad[] = {
        "[]",
        "{\"schemaVersion\":2,\"layers\":[],\"config\":{\"size\":1,\"digest\":\"md5:x\"}}",
        "{\"schemaVersion\":2,\"config\":{\"size\":-1,\"digest\":\"sha256:"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"},\"layers\":[]}",
        "{\"schemaVersion\":2,\"mediaType\":\"text/plain\"}",
        "{\"schemaVersion\":2,\"manifests\":{}}",
        "not json",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_EQ_INT(img_manifest_parse(NULL, bad[i], strlen(bad[i]), &m, NULL), -EINVAL);
}

static char *error_text(long status, const char *www, const char *body, char code[32])
{
    img_reg_resp r = {.status = status, .www_auth = (char *)www};
    dd_buf_init(&r.body);
    if (body)
        dd_buf_adds(&r.body, body);
    char *t = img_reg_error_text(&r, code);
    dd_buf_release(&r.body);
    return t;
}

TEST(registry_errors_in_dockerd_words)
{
    char code[32];
    char *t = error_text(404, NULL,
                         "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest "
                         "unknown\"}]}",
                         code);
    CHECK_EQ_STR(t, "manifest unknown: manifest unknown");
    CHECK_EQ_STR(code, "MANIFEST_UNKNOWN");
    free(t);
    t = error_text(401, "Bearer realm=\"x\",error=\"insufficient_scope\"", "{}", code);
    CHECK_EQ_STR(t, "denied: requested access to the resource is denied");
    CHECK_EQ_STR(code, "DENIED");
    free(t);
    t = error_text(401, "Basic realm=\"r\"", "{\"errors\":[]}", code);
    CHECK_EQ_STR(t, "no basic auth credentials");
    free(t);
    t = error_text(500, NULL, "oops", code);
    CHECK_EQ_STR(t, "received unexpected HTTP status: 500");
    CHECK_EQ_STR(code, "");
    free(t);
}

TEST(insecure_registries)
{
    img_registries r = {0};
    CHECK(img_reg_insecure(NULL, "localhost:5000"));
    CHECK(img_reg_insecure(NULL, "127.0.0.1:5000"));
    CHECK(img_reg_insecure(NULL, "127.9.9.9"));
    CHECK(!img_reg_insecure(NULL, "reg.example:5000"));
    CHECK(!img_reg_insecure(NULL, "docker.io"));
    r.insecure = dd_strv_push(NULL, "reg.example:5000");
    r.insecure = dd_strv_push(r.insecure, "10.0.0.0/8");
    CHECK(img_reg_insecure(&r, "reg.example:5000"));
    CHECK(img_reg_insecure(&r, "10.1.2.3:443"));
    CHECK(!img_reg_insecure(&r, "11.1.2.3"));
    img_registries_release(&r);
}
