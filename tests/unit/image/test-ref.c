/* Unit tests for image references: Docker's normalisation and its error texts. */
#include "dind/image.h"
#include "tests/unit/unit.h"

static void check_norm(const char *in, const char *full, const char *familiar)
{
    img_ref r;
    dd_err e = {0};
    if (img_ref_parse(in, 0, &r, &e) < 0)
        unit_fail(__FILE__, __LINE__, "parse %s: %s", in, e.msg);
    char *f = img_ref_string(&r);
    char *fam = img_ref_familiar(&r);
    CHECK_EQ_STR(f, full);
    CHECK_EQ_STR(fam, familiar);
    free(f);
    free(fam);
    img_ref_release(&r);
}

static void check_bad(const char *in, const char *msg)
{
    img_ref r;
    dd_err e = {0};
    CHECK_EQ_INT(img_ref_parse(in, 0, &r, &e), -EINVAL);
    CHECK_EQ_STR(e.msg, msg);
    CHECK(r.domain == NULL);
}

TEST(ref_normalises_like_docker)
{
    check_norm("busybox", "docker.io/library/busybox:latest", "busybox:latest");
    check_norm("busybox:latest", "docker.io/library/busybox:latest", "busybox:latest");
    check_norm("docker.io/library/busybox:latest", "docker.io/library/busybox:latest",
               "busybox:latest");
    check_norm("index.docker.io/library/busybox", "docker.io/library/busybox:latest",
               "busybox:latest");
    check_norm("myrepo/bb:v1", "docker.io/myrepo/bb:v1", "myrepo/bb:v1");
    check_norm("docker.io/myrepo/bb:v1", "docker.io/myrepo/bb:v1", "myrepo/bb:v1");
    check_norm("localhost:5000/x", "localhost:5000/x:latest", "localhost:5000/x:latest");
    check_norm("localhost/x", "localhost/x:latest", "localhost/x:latest");
    check_norm("127.0.0.1:5000/busybox:v1", "127.0.0.1:5000/busybox:v1",
               "127.0.0.1:5000/busybox:v1");
    check_norm("a/b/c_d.e-f__g", "docker.io/a/b/c_d.e-f__g:latest", "a/b/c_d.e-f__g:latest");
    check_norm("busybox@sha256:"
               "7fae1e477d6f37dd1f390698f75b80d8f7cca4221f0531894e485d6875006df8",
               "docker.io/library/busybox@sha256:"
               "7fae1e477d6f37dd1f390698f75b80d8f7cca4221f0531894e485d6875006df8",
               "busybox@sha256:7fae1e477d6f37dd1f390698f75b80d8f7cca4221f0531894e485d6875006df8");
}

TEST(ref_rejects_bad_input_with_dockerd_text)
{
    check_bad("", "invalid reference format");
    check_bad("Busybox", "invalid reference format: repository name must be lowercase");
    check_bad("myrepo/BB:v1", "invalid reference format: repository name must be lowercase");
    check_bad("busybox:", "invalid reference format");
    check_bad("busybox:-x", "invalid reference format");
    check_bad("a//b", "invalid reference format");
    check_bad("-a", "invalid reference format");
    check_bad("a_", "invalid reference format");
    check_bad("a...b", "invalid reference format");
    check_bad("localhost:/x", "invalid reference format");
    check_bad("busybox@sha256:abc", "invalid reference format");
    check_bad("c450a65d47b27ba3addbf948c64ce0db2f37df82f1db6c57173d7418bfcc1136",
              "invalid repository name "
              "(c450a65d47b27ba3addbf948c64ce0db2f37df82f1db6c57173d7418bfcc1136), cannot "
              "specify 64-byte hexadecimal strings");
}

TEST(ref_name_only_and_familiar_helpers)
{
    img_ref r;
    CHECK_EQ_INT(img_ref_parse("docker.io/myrepo/bb", IMG_REF_NAME_ONLY, &r, NULL), 0);
    CHECK(r.tag == NULL);
    char *n = img_ref_familiar_name(&r);
    CHECK_EQ_STR(n, "myrepo/bb");
    free(n);
    img_ref_release(&r);
    char *f = img_familiar("docker.io/library/busybox:1.36");
    CHECK_EQ_STR(f, "busybox:1.36");
    free(f);
    CHECK(img_tag_valid("v1.2-rc_3"));
    CHECK(!img_tag_valid(".x"));
    CHECK(!img_tag_valid(""));
}
