/* Unit tests for `k3core agent`'s pure parts: k3s token forms, the agent's flag table, the PEM
 * answer of /v1-k3s/client-kubelet.crt, and the server's basic-auth header parser. */
#include "k3core/agent/agent.h"
#include "k3core/server/server-internal.h"
#include "tests/unit/unit.h"

TEST(token_forms)
{
    struct kag_token t;
    dd_err e = {0};
    CHECK_EQ_INT(kag_token_parse("K10abc123::server:s3cret", &t, &e), 0);
    CHECK_EQ_STR(t.ca_hash, "abc123");
    CHECK_EQ_STR(t.user, "server");
    CHECK_EQ_STR(t.password, "s3cret");
    kag_token_release(&t);
    CHECK_EQ_INT(kag_token_parse("K10abc::pw", &t, &e), 0);
    CHECK_EQ_STR(t.user, "node");
    CHECK_EQ_STR(t.password, "pw");
    kag_token_release(&t);
    CHECK_EQ_INT(kag_token_parse("shortpw", &t, &e), 0);
    CHECK(t.ca_hash == NULL);
    CHECK_EQ_STR(t.user, "node");
    CHECK_EQ_STR(t.password, "shortpw");
    kag_token_release(&t);
    CHECK(kag_token_parse("", &t, &e) < 0);
    CHECK(kag_token_parse("K10abc", &t, &e) < 0);
    CHECK(strstr(e.msg, "invalid token format") != NULL);
    CHECK(kag_token_parse("K10::u:p", &t, &e) < 0);
    CHECK(kag_token_parse("K10abc::server:", &t, &e) < 0);
}

TEST(agent_flags)
{
    struct kcfg c;
    bool help;
    dd_err e = {0};
    unsetenv("K3S_TOKEN");
    setenv("K3S_URL", "https://10.0.0.1:6443", 1);
    char *argv[] = {(char *)"--token-file", (char *)"/tmp/t",           (char *)"--node-ip",
                    (char *)"192.168.1.5",  (char *)"--node-label=a=b", NULL};
    CHECK_EQ_INT(kcfg_parse(5, argv, true, &c, &help, &e), 0);
    CHECK_EQ_STR(c.server_url, "https://10.0.0.1:6443");
    CHECK_EQ_STR(c.token_file, "/tmp/t");
    CHECK_EQ_STR(c.node_ip, "192.168.1.5");
    CHECK(c.agent);
    kcfg_release(&c);
    unsetenv("K3S_URL");

    char *noserver[] = {(char *)"--token", (char *)"x", NULL};
    CHECK(kcfg_parse(2, noserver, true, &c, &help, &e) < 0);
    CHECK(strstr(e.msg, "--server") != NULL);
    kcfg_release(&c);
    char *notoken[] = {(char *)"-s", (char *)"https://h:6443", NULL};
    CHECK(kcfg_parse(2, notoken, true, &c, &help, &e) < 0);
    CHECK(strstr(e.msg, "--token") != NULL);
    kcfg_release(&c);
    char *http[] = {(char *)"-s", (char *)"http://h:6443", (char *)"-t", (char *)"x", NULL};
    CHECK(kcfg_parse(4, http, true, &c, &help, &e) < 0);
    kcfg_release(&c);
    /* server-only flags are not agent flags, and --server is not a server flag */
    char *srvflag[] = {(char *)"-s", (char *)"https://h:6443", (char *)"-t",
                       (char *)"x",  (char *)"--cluster-cidr", (char *)"10.0.0.0/16",
                       NULL};
    CHECK(kcfg_parse(6, srvflag, true, &c, &help, &e) < 0);
    CHECK(strstr(e.msg, "cluster-cidr") != NULL);
    kcfg_release(&c);
    char *agflag[] = {(char *)"--server", (char *)"https://h:6443", NULL};
    CHECK(kcfg_parse(2, agflag, false, &c, &help, &e) < 0);
    kcfg_release(&c);
    char *badip[] = {(char *)"-s",        (char *)"https://h:6443", (char *)"-t", (char *)"x",
                     (char *)"--node-ip", (char *)"nope",           NULL};
    CHECK(kcfg_parse(6, badip, true, &c, &help, &e) < 0);
    CHECK(strstr(e.msg, "--node-ip") != NULL);
    kcfg_release(&c);
    char *badname[] = {(char *)"-s",          (char *)"https://h:6443", (char *)"-t", (char *)"x",
                       (char *)"--node-name", (char *)"Bad_Node",       NULL};
    CHECK(kcfg_parse(6, badname, true, &c, &help, &e) < 0);
    CHECK(strstr(e.msg, "invalid node name") != NULL);
    kcfg_release(&c);
}

TEST(pem_split)
{
    const char *pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
                      "-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n"
                      "-----BEGIN EC PRIVATE KEY-----\nKKKK\n-----END EC PRIVATE KEY-----\n";
    char *certs = NULL, *key = NULL;
    dd_err e = {0};
    CHECK_EQ_INT(kag_pem_split(pem, &certs, &key, &e), 0);
    CHECK(strstr(certs, "AAAA") && strstr(certs, "BBBB") && !strstr(certs, "KKKK"));
    CHECK(strstr(key, "KKKK") && strstr(key, "BEGIN EC PRIVATE KEY") && !strstr(key, "AAAA"));
    free(certs), free(key);
    CHECK(kag_pem_split("-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n", &certs, &key,
                        &e) < 0);
    CHECK(kag_pem_split("garbage", &certs, &key, &e) < 0);
    CHECK(kag_pem_split("-----BEGIN EC PRIVATE KEY-----\nK\n-----END EC PRIVATE KEY-----\n", &certs,
                        &key, &e) < 0);
    CHECK(kag_pem_split("-----BEGIN PRIVATE KEY-----\nA\n-----END", &certs, &key, &e) < 0);
    /* a header that is not a whole line starts no block: the key is the one well-formed block
     * after it (fuzz-k3s-join regression) */
    CHECK_EQ_INT(kag_pem_split("-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n"
                               "-----BEGIN EC PRIVATE KEY--------BEGIN EC PRIVATE KEY-----\nK\n"
                               "-----END EC PRIVATE KEY-----\n",
                               &certs, &key, &e),
                 0);
    CHECK_EQ_STR(key, "-----BEGIN EC PRIVATE KEY-----\nK\n-----END EC PRIVATE KEY-----\n");
    free(certs), free(key);
}

TEST(basic_auth_header)
{
    char *u = NULL, *p = NULL;
    /* "node:pa:ss" */
    CHECK_EQ_INT(ksrv_basic_auth_parse("Basic bm9kZTpwYTpzcw==", &u, &p), 0);
    CHECK_EQ_STR(u, "node");
    CHECK_EQ_STR(p, "pa:ss");
    free(u), free(p);
    CHECK(ksrv_basic_auth_parse("Bearer abc", &u, &p) < 0);
    CHECK(ksrv_basic_auth_parse("Basic !!!", &u, &p) < 0);
    CHECK(ksrv_basic_auth_parse("Basic bm9kZQ==", &u, &p) < 0); /* "node", no colon */
    CHECK(ksrv_basic_auth_parse(NULL, &u, &p) < 0);
}
