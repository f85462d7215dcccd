/* csrsign.c: the signer of approved CertificateSigningRequests (kube-controller-manager's
 * csrsigning controller in k3s) for the built-in signers kubernetes.io/kube-apiserver-client and
 * kube-apiserver-client-kubelet (client CA) and kubelet-serving (server CA). Each second an
 * approved, not failed, not yet issued request of those signers is checked as upstream checks it
 * (usages; a kubelet's identity system:node:<name> in group system:nodes) and gets
 * status.certificate, or a Failed condition (reason SignerValidationFailure) saying why. The
 * duration is spec.expirationSeconds within [10 min, 1 year], else a year. Requests for other
 * signers are left alone, as upstream leaves them to their own signer.
 */
#include <stdio.h>

#include "k3core/pki/b64.h"
#include "k3core/server/server-internal.h"

#define CERT_TTL_S (365LL * 24 * 3600)
#define MIN_TTL_S  600

enum signer { S_NONE, S_CLIENT, S_KUBELET_CLIENT, S_KUBELET_SERVING };

static enum signer signer_of(const char *name)
{
    if (dd_streq(name, "kubernetes.io/kube-apiserver-client"))
        return S_CLIENT;
    if (dd_streq(name, "kubernetes.io/kube-apiserver-client-kubelet"))
        return S_KUBELET_CLIENT;
    if (dd_streq(name, "kubernetes.io/kubelet-serving"))
        return S_KUBELET_SERVING;
    return S_NONE;
}

static bool condition_true(const json_t *csr, const char *type)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(json_object_get(csr, "status"), "conditions"), i, c)
    {
        if (dd_streq(json_string_value(json_object_get(c, "type")), type) &&
            dd_streq(json_string_value(json_object_get(c, "status")), "True"))
            return true;
    }
    return false;
}

/* The usages → OpenSSL extension values; the message of the first usage the signer refuses. */
static char *check_usages(enum signer sg, const json_t *usages, dd_buf *ku, dd_buf *eku)
{
    bool client = false, server = false;
    size_t i;
    json_t *u;
    json_array_foreach(usages, i, u)
    {
        const char *s = json_string_value(u);
        if (dd_streq(s, "digital signature"))
            dd_buf_addf(ku, "%sdigitalSignature", ku->len ? "," : "");
        else if (dd_streq(s, "key encipherment"))
            dd_buf_addf(ku, "%skeyEncipherment", ku->len ? "," : "");
        else if (dd_streq(s, "client auth") && sg != S_KUBELET_SERVING)
            client = true;
        else if (dd_streq(s, "server auth") && sg == S_KUBELET_SERVING)
            server = true;
        else
            return dd_asprintf("invalid usage for %s certificate: %s",
                               sg == S_KUBELET_SERVING ? "serving" : "client", s ? s : "");
    }
    if (sg == S_KUBELET_SERVING && !server)
        return dd_strdup("missing required usage for serving certificate: server auth");
    if (sg != S_KUBELET_SERVING && !client)
        return dd_strdup("missing required usage for client certificate: client auth");
    dd_buf_adds(eku, server ? "serverAuth" : "clientAuth");
    return NULL;
}

static char *check_kubelet(X509_REQ *req)
{
    _cleanup_free_ char *cn = NULL;
    _cleanup_strv_free_ char **orgs = NULL;
    pki_csr_subject(req, &cn, &orgs);
    if (dd_strv_len(orgs) != 1 || strcmp(orgs[0], "system:nodes"))
        return dd_strdup("subject organization is not system:nodes");
    if (!dd_startswith(cn, "system:node:") || !cn[strlen("system:node:")])
        return dd_strdup("subject common name does not begin with system:node:");
    return NULL;
}

static int64_t duration(const json_t *csr)
{
    const json_t *v = json_object_get(json_object_get(csr, "spec"), "expirationSeconds");
    if (!json_is_integer(v))
        return CERT_TTL_S;
    int64_t s = json_integer_value(v);
    return s > CERT_TTL_S ? CERT_TTL_S : s < MIN_TTL_S ? MIN_TTL_S : s;
}

/* The certificate (base64 of its PEM) or, in ret_why, why the signer refuses. */
static char *issue(struct ksrv *s, const json_t *csr, enum signer sg, char **ret_why)
{
    const json_t *spec = json_object_get(csr, "spec");
    const char *b64 = json_string_value(json_object_get(spec, "request"));
    size_t len = 0;
    _cleanup_free_ char *pem = NULL;
    if (b64 && b64_decode(b64, strlen(b64), &pem, &len) < 0)
        pem = NULL;
    dd_err e = {0};
    X509_REQ *req = NULL;
    if (!pem || pki_csr_parse(pem, len, &req, &e) < 0) {
        *ret_why = dd_asprintf("unable to parse csr: %s", pem ? e.msg : "invalid base64");
        return NULL;
    }
    dd_buf ku = DD_BUF_INIT, eku = DD_BUF_INIT;
    char *why = check_usages(sg, json_object_get(spec, "usages"), &ku, &eku);
    if (!why && sg != S_CLIENT)
        why = check_kubelet(req);
    char *out = NULL;
    if (!why) {
        _cleanup_free_ char *cert = pki_csr_sign(s->pki, req, sg != S_KUBELET_SERVING, ku.data,
                                                 eku.data, duration(csr), &e);
        if (cert)
            out = b64_encode(cert, strlen(cert), false);
        else
            why = dd_strdup(e.msg);
    }
    dd_buf_release(&ku);
    dd_buf_release(&eku);
    pki_csr_free(req);
    *ret_why = why;
    return out;
}

static void write_status(struct ksrv *s, const json_t *csr, const char *cert, const char *why)
{
    json_t *upd = json_deep_copy(csr);
    json_t *st = json_object_get(upd, "status");
    if (!json_is_object(st)) {
        st = json_object();
        json_object_set_new(upd, "status", st);
    }
    if (cert) {
        jx_set_str(st, "certificate", cert);
    } else {
        json_t *conds = json_object_get(st, "conditions");
        if (!json_is_array(conds)) {
            conds = json_array();
            json_object_set_new(st, "conditions", conds);
        }
        char now[48];
        dd_format_rfc3339nano(dd_now_ns(), now, sizeof(now));
        now[19] = 'Z', now[20] = 0; /* metav1.Time: seconds */
        json_array_append_new(conds,
                              json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type", "Failed", "status",
                                        "True", "reason", "SignerValidationFailure", "message", why,
                                        "lastUpdateTime", now, "lastTransitionTime", now));
    }
    kobj_req req = {
        .res = kres_lookup("certificates.k8s.io", "v1", "certificatesigningrequests"),
        .name = json_string_value(json_object_get(json_object_get(csr, "metadata"), "name")),
        .subresource = "status",
        .field_manager = "csrsigning-controller"};
    kobj_result res = {0};
    kobj_status kst = {0};
    if (kobj_update(s->api, &req, upd, &res, &kst) < 0)
        dd_debug("csr signer: %s: %s", req.name, kst.message);
    kobj_result_release(&res);
    kobj_status_release(&kst);
    json_decref(upd);
}

void ksrv_csr_pass(struct ksrv *s)
{
    kobj_req req = {.res = kres_lookup("certificates.k8s.io", "v1", "certificatesigningrequests")};
    kobj_list_opts o = {0};
    kobj_status st = {0};
    json_t *list = NULL;
    if (kobj_list(s->api, &req, &o, &list, &st) < 0) {
        kobj_status_release(&st);
        return;
    }
    size_t i;
    json_t *csr;
    json_array_foreach(json_object_get(list, "items"), i, csr)
    {
        const json_t *spec = json_object_get(csr, "spec");
        enum signer sg = signer_of(json_string_value(json_object_get(spec, "signerName")));
        if (sg == S_NONE || !condition_true(csr, "Approved") || condition_true(csr, "Failed") ||
            json_string_length(json_object_get(json_object_get(csr, "status"), "certificate")))
            continue;
        char *why = NULL;
        _cleanup_free_ char *cert = issue(s, csr, sg, &why);
        write_status(s, csr, cert, why);
        free(why);
    }
    json_decref(list);
}
