/* libFuzzer harness for the parsers of the node-join contract: the cluster token
 * (kag_token_parse), the PEM answer of /v1-k3s/client-kubelet.crt (kag_pem_split) and the
 * server's basic-auth header (ksrv_basic_auth_parse). Any input must parse or fail cleanly; a
 * parsed token has a non-empty user and password; split PEM gives exactly one key block and
 * certificate blocks only. */
#include <stdint.h>
#include <stdio.h>

#include "k3core/agent/agent.h"
#include "k3core/server/server-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = dd_strndup((const char *)data, size);
    dd_err e = {0};
    struct kag_token t;
    if (kag_token_parse(s, &t, &e) == 0) {
        if (!t.user || !*t.user || !t.password || !*t.password)
            __builtin_trap();
        kag_token_release(&t);
    } else if (!e.msg[0]) {
        __builtin_trap();
    }
    char *certs = NULL, *key = NULL;
    if (kag_pem_split(s, &certs, &key, &e) == 0) {
        if (!key || !certs || !dd_startswith(key, "-----BEGIN ") ||
            strstr(key + 1, "-----BEGIN ") || !dd_startswith(certs, "-----BEGIN CERTIFICATE-----"))
            __builtin_trap();
        free(certs), free(key);
    }
    char *u = NULL, *p = NULL;
    if (ksrv_basic_auth_parse(s, &u, &p) == 0) {
        if (!u || !p)
            __builtin_trap();
        free(u), free(p);
    }
    free(s);
    return 0;
}
