/* Unit tests for k3core/pki: first start creates the k3s layout, the second reuses it, a new SAN
 * re-issues only the serving certificate, identities come from CN/O, JWTs round-trip. */
#include <openssl/x509v3.h>
#include <stdio.h>
#include <sys/stat.h>

#include "k3core/pki/b64.h"
#include "k3core/pki/pki.h"
#include "tests/unit/unit.h"

static char *tmpdir(void)
{
    char tmpl[] = "/tmp/k3core-pki-XXXXXX";
    CHECK(mkdtemp(tmpl) != NULL);
    return dd_strdup(tmpl);
}

static char *read_text(const char *dir, const char *name)
{
    _cleanup_free_ char *p = dd_path_join(dir, name);
    char *data = NULL;
    CHECK_EQ_INT(dd_read_file(p, 0, &data, NULL, NULL), 0);
    return data;
}

TEST(pki_create_and_reuse)
{
    _cleanup_free_ char *dir = tmpdir();
    char *sans[] = {(char *)"localhost", (char *)"127.0.0.1", (char *)"kubernetes.default.svc",
                    NULL};
    struct pki_params p = {.sans = sans};
    struct pki *a = NULL, *b = NULL;
    dd_err e = {0};
    CHECK_EQ_INT(pki_load_or_create(dir, &p, &a, &e), 0);
    _cleanup_free_ char *ca1 = read_text(dir, "server-ca.crt");
    _cleanup_free_ char *srv1 = read_text(dir, "serving-kube-apiserver.crt");
    struct stat st;
    _cleanup_free_ char *keyp = dd_path_join(dir, "client-ca.key");
    CHECK_EQ_INT(stat(keyp, &st), 0);
    CHECK_EQ_INT(st.st_mode & 0777, 0600);
    CHECK_EQ_INT(X509_check_ip_asc(a->serving, "127.0.0.1", 0), 1);
    CHECK_EQ_INT(X509_check_host(a->serving, "kubernetes.default.svc", 0, 0, NULL), 1);

    char *user = NULL, **groups = NULL;
    CHECK_EQ_INT(pki_cert_identity(a->admin, &user, &groups), 0);
    CHECK_EQ_STR(user, "system:admin");
    CHECK_EQ_STR(groups[0], "system:masters");
    free(user);
    dd_strv_free(groups);

    CHECK_EQ_INT(pki_load_or_create(dir, &p, &b, &e), 0);
    _cleanup_free_ char *srv2 = read_text(dir, "serving-kube-apiserver.crt");
    CHECK_EQ_STR(srv1, srv2);
    pki_free(b);

    char *more[] = {(char *)"localhost", (char *)"my.host.example", NULL};
    p.sans = more;
    CHECK_EQ_INT(pki_load_or_create(dir, &p, &b, &e), 0);
    _cleanup_free_ char *ca2 = read_text(dir, "server-ca.crt");
    _cleanup_free_ char *srv3 = read_text(dir, "serving-kube-apiserver.crt");
    CHECK_EQ_STR(ca1, ca2);
    CHECK(strcmp(srv1, srv3) != 0);
    CHECK_EQ_INT(X509_check_host(b->serving, "my.host.example", 0, 0, NULL), 1);
    pki_free(a);
    pki_free(b);
    dd_rm_rf(dir, NULL);
}

TEST(pki_jwt_roundtrip_and_tamper)
{
    _cleanup_free_ char *dir = tmpdir();
    char *sans[] = {(char *)"localhost", NULL};
    struct pki_params p = {.sans = sans};
    struct pki *a = NULL;
    CHECK_EQ_INT(pki_load_or_create(dir, &p, &a, NULL), 0);
    _cleanup_free_ char *tok = pki_jwt_sign(a, "{\"sub\":\"x\"}");
    CHECK(tok != NULL);
    char *claims = NULL;
    dd_err e = {0};
    CHECK_EQ_INT(pki_jwt_verify(a, tok, &claims, &e), 0);
    CHECK_EQ_STR(claims, "{\"sub\":\"x\"}");
    free(claims);
    char *dot = strchr(tok, '.');
    dot[1] = dot[1] == 'A' ? 'B' : 'A';
    CHECK(pki_jwt_verify(a, tok, &claims, &e) < 0);
    CHECK(pki_jwt_verify(a, "a.b", &claims, &e) < 0);
    pki_free(a);
    dd_rm_rf(dir, NULL);
}

TEST(pki_kubeconfig_and_b64)
{
    _cleanup_free_ char *dir = tmpdir();
    char *sans[] = {(char *)"localhost", NULL};
    struct pki_params p = {.sans = sans};
    struct pki *a = NULL;
    CHECK_EQ_INT(pki_load_or_create(dir, &p, &a, NULL), 0);
    _cleanup_free_ char *kc = dd_path_join(dir, "out/k3s.yaml");
    CHECK_EQ_INT(pki_write_kubeconfig(a, kc, "https://127.0.0.1:6443", 0640, NULL), 0);
    struct stat st;
    CHECK_EQ_INT(stat(kc, &st), 0);
    CHECK_EQ_INT(st.st_mode & 0777, 0640);
    _cleanup_free_ char *text = read_text(dir, "out/k3s.yaml");
    CHECK(strstr(text, "server: https://127.0.0.1:6443") != NULL);
    CHECK(strstr(text, "current-context: default") != NULL);
    CHECK(strstr(text, "client-key-data: ") != NULL);
    char *dec = NULL;
    size_t n = 0;
    CHECK_EQ_INT(b64_decode("aGVsbG8=", 8, &dec, &n), 0);
    CHECK_EQ_STR(dec, "hello");
    free(dec);
    CHECK(b64_decode("a$b", 3, &dec, &n) < 0);
    pki_free(a);
    dd_rm_rf(dir, NULL);
}
