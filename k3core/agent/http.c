/* http.c: the agent's HTTPS transport, one libcurl easy handle per server (keep-alive reused
 * across requests). Blocking with a 30 s ceiling per request and a 10 s connect timeout: the
 * agent's loop has nothing else to do while the kubelet waits for the API. No retries here; the
 * kubelet's own loop tries again on its next tick.
 */
#include <curl/curl.h>

#include "k3core/agent/agent.h"
#include "k3core/server/server.h"

struct kag_http {
    CURL *curl;
    char *base;
};

int kag_http_new(const char *base_url, const struct kag_http_opts *o, kag_http **ret, dd_err *e)
{
    static bool inited;
    if (!inited && curl_global_init(CURL_GLOBAL_DEFAULT) == 0)
        inited = true;
    CURL *c = curl_easy_init();
    if (!c)
        return dd_err_set(e, ENOMEM, "curl_easy_init failed");
    kag_http *h = dd_calloc(1, sizeof(*h));
    h->curl = c;
    h->base = dd_strdup(base_url);
    size_t n = strlen(h->base);
    while (n > 0 && h->base[n - 1] == '/')
        h->base[--n] = 0;
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "k3core-agent/" K3CORE_VERSION);
    if (o->ca_file) {
        curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    } else {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (o->cert_file) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, o->cert_file);
        curl_easy_setopt(c, CURLOPT_SSLKEY, o->key_file);
    }
    if (o->user) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, o->user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, o->password ? o->password : "");
    }
    *ret = h;
    return 0;
}

void kag_http_free(kag_http *h)
{
    if (!h)
        return;
    curl_easy_cleanup(h->curl);
    free(h->base);
    free(h);
}

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    dd_buf_add(ud, p, size * n);
    return size * n;
}

char *kag_http_escape(kag_http *h, const char *s)
{
    char *x = curl_easy_escape(h->curl, s, 0);
    char *out = dd_strdup(x ? x : "");
    curl_free(x);
    return out;
}

int kag_http_do(kag_http *h, const char *method, const char *path, const char *body,
                char *const *headers, long *ret_code, char **ret_body, size_t *ret_len, dd_err *e)
{
    CURL *c = h->curl;
    _cleanup_free_ char *url = dd_asprintf("%s%s", h->base, path);
    struct curl_slist *hl = NULL;
    for (size_t i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    if (body)
        hl = curl_slist_append(hl, "Content-Type: application/json");
    hl = curl_slist_append(hl, "Accept: application/json, */*");
    dd_buf out = DD_BUF_INIT;
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L); /* also drops a previous request's body */
    }
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, strcmp(method, "GET") ? method : NULL);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hl);
    if (rc != CURLE_OK) {
        dd_buf_release(&out);
        return dd_err_set(e, EHOSTUNREACH, "%s %s: %s", method, url, curl_easy_strerror(rc));
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, ret_code);
    size_t len = 0;
    *ret_body = dd_buf_detach(&out, &len);
    if (!*ret_body)
        *ret_body = dd_strdup("");
    if (ret_len)
        *ret_len = len;
    return 0;
}
