/* The Docker Registry HTTP API v2 transport on libcurl: choosing an endpoint for a repository
 * (mirrors, then the registry; HTTPS, with an HTTP fallback only for insecure registries, as
 * dockerd does), negotiating auth from the /v2/ challenge (Bearer tokens from the realm, with
 * Basic credentials or an identity token, or Basic directly), and doing requests with a retry on
 * 401. It knows nothing of manifests or the store: pull.c and push.c give it URLs and sinks. */
#include <arpa/inet.h>
#include <ctype.h>
/* Type-checking macros would wrap calls to the real functions, which we do not link (below). */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <dlfcn.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>

#include "dind/lib/image/image-internal.h"

struct img_reg {
    CURL *curl;
    char *base;    /* "https://host[:port]" (no trailing slash) */
    char *repo;    /* "library/busybox" */
    bool insecure; /* TLS not verified */
    char *actions;
    img_auth auth;
    img_challenge ch; /* from the ping */
    char *authz;      /* the Authorization header line, or NULL */
    const volatile bool *cancel;
    char *ca_file, *cert_file, *key_file; /* TLS settings of the endpoint's host */
};

/* libcurl is loaded with the first registry opened, not linked: with TLS, HTTP/2, LDAP,
 * Kerberos and their dependencies it maps some twenty libraries, about 4 MiB of RSS in every
 * process of libdind (the idle daemon's largest part) for pulls that most runs never make. */
static struct {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *c, CURLoption opt, ...);
    CURLcode (*easy_perform)(CURL *c);
    CURLcode (*easy_getinfo)(CURL *c, CURLINFO info, ...);
    void (*easy_reset)(CURL *c);
    void (*easy_cleanup)(CURL *c);
    const char *(*easy_strerror)(CURLcode code);
    char *(*easy_escape)(CURL *c, const char *s, int len);
    void (*free)(void *p);
    struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
    void (*slist_free_all)(struct curl_slist *l);
} lc;
static char lc_error[512];

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(lc_error, sizeof(lc_error), "loading libcurl: %s", dlerror());
        return;
    }
    struct {
        void **fn;
        const char *name;
    } syms[] = {
        {(void **)&lc.global_init, "curl_global_init"},
        {(void **)&lc.easy_init, "curl_easy_init"},
        {(void **)&lc.easy_setopt, "curl_easy_setopt"},
        {(void **)&lc.easy_perform, "curl_easy_perform"},
        {(void **)&lc.easy_getinfo, "curl_easy_getinfo"},
        {(void **)&lc.easy_reset, "curl_easy_reset"},
        {(void **)&lc.easy_cleanup, "curl_easy_cleanup"},
        {(void **)&lc.easy_strerror, "curl_easy_strerror"},
        {(void **)&lc.easy_escape, "curl_easy_escape"},
        {(void **)&lc.free, "curl_free"},
        {(void **)&lc.slist_append, "curl_slist_append"},
        {(void **)&lc.slist_free_all, "curl_slist_free_all"},
    };
    for (size_t i = 0; i < DD_ARRAY_SIZE(syms); i++) {
        *syms[i].fn = dlsym(h, syms[i].name);
        if (!*syms[i].fn) {
            snprintf(lc_error, sizeof(lc_error), "libcurl lacks %s", syms[i].name);
            lc.easy_init = NULL;
            return;
        }
    }
    lc.global_init(CURL_GLOBAL_DEFAULT);
}

#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_easy_init      lc.easy_init
#define curl_easy_setopt    lc.easy_setopt
#define curl_easy_perform   lc.easy_perform
#define curl_easy_getinfo   lc.easy_getinfo
#define curl_easy_reset     lc.easy_reset
#define curl_easy_cleanup   lc.easy_cleanup
#define curl_easy_strerror  lc.easy_strerror
#define curl_easy_escape    lc.easy_escape
#define curl_free           lc.free
#define curl_slist_append   lc.slist_append
#define curl_slist_free_all lc.slist_free_all

void img_reg_resp_release(img_reg_resp *r)
{
    free(r->content_type);
    free(r->location);
    free(r->digest);
    free(r->www_auth);
    dd_buf_release(&r->body);
    *r = (img_reg_resp){0};
}

/* ---- insecure registries ---- */

static bool in_cidr(const char *ip, const char *cidr)
{
    char net[64];
    int bits = 32;
    if (sscanf(cidr, "%63[^/]/%d", net, &bits) < 1 || bits < 0 || bits > 32)
        return false;
    struct in_addr a, n;
    if (inet_pton(AF_INET, ip, &a) != 1 || inet_pton(AF_INET, net, &n) != 1)
        return false;
    uint32_t mask = bits ? htonl(~0u << (32 - bits)) : 0;
    return (a.s_addr & mask) == (n.s_addr & mask);
}

bool img_reg_insecure(const img_registries *regs, const char *host)
{
    char name[256];
    snprintf(name, sizeof(name), "%s", host);
    char *colon = strrchr(name, ':');
    if (colon && !strchr(name, ']'))
        *colon = '\0';
    if (dd_streq(name, "localhost") || in_cidr(name, "127.0.0.0/8") || dd_streq(name, "[::1]"))
        return true;
    for (size_t i = 0; regs && regs->insecure && regs->insecure[i]; i++) {
        const char *v = regs->insecure[i];
        if (dd_streq(v, host) || dd_streq(v, name) || (strchr(v, '/') && in_cidr(name, v)))
            return true;
    }
    for (size_t i = 0; regs && i < regs->n_hosts; i++)
        if (regs->hosts[i].insecure && dd_streq(regs->hosts[i].host, host))
            return true;
    return false;
}

/* ---- curl plumbing ---- */

struct xfer {
    CURL *curl;
    const img_reg_req *q;
    img_reg_resp *resp;
    int64_t last_progress;
    off_t upload_off;
    int werr; /* errno of a failed write to out_fd */
};

static char *header_value(const char *line, size_t n, const char *name)
{
    size_t k = strlen(name);
    if (n <= k + 1 || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return NULL;
    const char *v = line + k + 1;
    const char *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    return dd_strndup(v, (size_t)(end - v));
}

static void take_header(char **slot, char *v)
{
    if (v) {
        free(*slot);
        *slot = v;
    }
}

static size_t on_header(char *line, size_t size, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t len = size * n;
    img_reg_resp *r = x->resp;
    if (len >= 5 && !strncmp(line, "HTTP/", 5)) { /* a new response (redirects): start over */
        dd_buf_reset(&r->body);
        r->received = 0;
        return len;
    }
    take_header(&r->content_type, header_value(line, len, "Content-Type"));
    take_header(&r->location, header_value(line, len, "Location"));
    take_header(&r->digest, header_value(line, len, "Docker-Content-Digest"));
    take_header(&r->www_auth, header_value(line, len, "WWW-Authenticate"));
    return len;
}

static void report(struct xfer *x, bool final)
{
    const img_reg_req *q = x->q;
    int64_t cur = q->body_fd >= 0 ? (int64_t)x->upload_off : x->resp->received;
    if (!q->progress || (!final && cur - x->last_progress < (512 << 10) && x->last_progress))
        return;
    x->last_progress = cur ? cur : 1;
    q->progress(q->ud, q->id, q->method && strcmp(q->method, "GET") ? "Pushing" : "Downloading",
                true, cur, q->total);
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t len = size * n;
    long code = 0;
    curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &code);
    img_reg_resp *r = x->resp;
    if (code >= 300 && code < 400)
        return len; /* a redirect's body */
    r->received += (int64_t)len;
    if (code >= 200 && code < 300 && x->q->out_fd >= 0) {
        if (dd_write_all(x->q->out_fd, data, len) < 0) {
            x->werr = errno;
            return 0;
        }
        if (x->q->hash)
            img_hash_update(x->q->hash, data, len);
        report(x, false);
        return len;
    }
    size_t max = x->q->max_body ? x->q->max_body : (1u << 20);
    if (r->body.len + len > max)
        return 0; /* CURLE_WRITE_ERROR: reported as too large */
    dd_buf_add(&r->body, data, len);
    return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
    struct xfer *x = ud;
    ssize_t got = pread(x->q->body_fd, buf, size * n, x->upload_off);
    if (got < 0)
        return CURL_READFUNC_ABORT;
    x->upload_off += got;
    report(x, false);
    return (size_t)got;
}

static int on_xferinfo(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    const volatile bool *cancel = ud;
    return cancel && *cancel ? 1 : 0;
}

static char *full_url(const img_reg *r, const char *url)
{
    if (dd_startswith(url, "http://") || dd_startswith(url, "https://"))
        return dd_strdup(url);
    if (url[0] == '/')
        return dd_asprintf("%s%s", r->base, url);
    return dd_asprintf("%s/v2/%s/%s", r->base, r->repo, url);
}

static void setup(const img_reg *r)
{
    CURL *c = r->curl;
    bool insecure = r->insecure;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 120L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "docker/20.10.24 go/go1.19 (dindd)");
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    if (insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (r->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, r->ca_file);
    if (r->cert_file) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, r->cert_file);
        curl_easy_setopt(c, CURLOPT_SSLKEY, r->key_file);
    }
}

static const char *verb(const img_reg_req *q)
{
    if (!q->method)
        return "Get";
    return dd_streq(q->method, "HEAD")    ? "Head"
           : dd_streq(q->method, "PUT")   ? "Put"
           : dd_streq(q->method, "POST")  ? "Post"
           : dd_streq(q->method, "PATCH") ? "Patch"
                                          : "Get";
}

static void set_method(CURL *c, const img_reg_req *q, struct xfer *x)
{
    const char *m = q->method ? q->method : "GET";
    if (dd_streq(m, "HEAD"))
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (q->body_fd >= 0) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, x);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->body_fd_len);
        if (!dd_streq(m, "PUT"))
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m);
    } else if (dd_streq(m, "POST") || dd_streq(m, "PUT") || dd_streq(m, "PATCH")) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
        curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS, q->body ? (const char *)q->body : "");
        if (!dd_streq(m, "POST"))
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m);
    }
}

/* One exchange with the current credentials. */
static int perform(img_reg *r, const img_reg_req *q, const char *url, img_reg_resp *resp, dd_err *e)
{
    img_reg_resp_release(resp);
    struct xfer x = {.curl = r->curl, .q = q, .resp = resp};
    setup(r);
    curl_easy_setopt(r->curl, CURLOPT_URL, url);
    curl_easy_setopt(r->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(r->curl, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, &x);
    set_method(r->curl, q, &x);
    if (r->cancel) {
        curl_easy_setopt(r->curl, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(r->curl, CURLOPT_XFERINFOFUNCTION, on_xferinfo);
        curl_easy_setopt(r->curl, CURLOPT_XFERINFODATA, (void *)r->cancel);
    }
    struct curl_slist *h = NULL;
    _cleanup_free_ char *accept = q->accept ? dd_asprintf("Accept: %s", q->accept) : NULL;
    _cleanup_free_ char *ctype =
        q->content_type ? dd_asprintf("Content-Type: %s", q->content_type) : NULL;
    if (accept)
        h = curl_slist_append(h, accept);
    if (ctype)
        h = curl_slist_append(h, ctype);
    if (r->authz)
        h = curl_slist_append(h, r->authz);
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, h);
    char ebuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(r->curl, CURLOPT_ERRORBUFFER, ebuf);
    if (q->out_fd >= 0 && ftruncate(q->out_fd, 0) == 0)
        (void)lseek(q->out_fd, 0, SEEK_SET);
    CURLcode cc = curl_easy_perform(r->curl);
    curl_slist_free_all(h);
    curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &resp->status);
    if (cc == CURLE_WRITE_ERROR && x.werr)
        return dd_err_set(e, x.werr, "%s \"%s\": writing: %s", verb(q), url, strerror(x.werr));
    if (cc == CURLE_ABORTED_BY_CALLBACK)
        return dd_err_set(e, ECANCELED, "%s \"%s\": canceled", verb(q), url);
    if (cc == CURLE_WRITE_ERROR)
        return dd_err_set(e, EIO, "%s \"%s\": the response is too large", verb(q), url);
    if (cc != CURLE_OK)
        return dd_err_set(e, EIO, "%s \"%s\": %s", verb(q), url,
                          ebuf[0] ? ebuf : curl_easy_strerror(cc));
    if (resp->status >= 200 && resp->status < 300)
        report(&x, true);
    return 0;
}

/* ---- auth ---- */

static char *b64(const char *s)
{
    size_t n = strlen(s);
    char *out = dd_malloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
    return out;
}

static char *basic_header(const img_auth *a)
{
    _cleanup_free_ char *up = dd_asprintf("%s:%s", a->username, a->password ? a->password : "");
    _cleanup_free_ char *enc = b64(up);
    return dd_asprintf("Authorization: Basic %s", enc);
}

static char *url_escape(CURL *c, const char *s)
{
    char *t = curl_easy_escape(c, s, 0);
    char *out = dd_strdup(t ? t : "");
    curl_free(t);
    return out;
}

static char *token_url(img_reg *r, const img_challenge *ch, const char *scope)
{
    dd_buf b = DD_BUF_INIT;
    dd_buf_adds(&b, ch->realm);
    char sep = strchr(ch->realm, '?') ? '&' : '?';
    if (ch->service) {
        _cleanup_free_ char *s = url_escape(r->curl, ch->service);
        dd_buf_addf(&b, "%cservice=%s", sep, s);
        sep = '&';
    }
    if (*scope) {
        _cleanup_free_ char *sc = url_escape(r->curl, scope);
        dd_buf_addf(&b, "%cscope=%s", sep, sc);
    }
    return dd_buf_detach(&b, NULL);
}

/* Token endpoints answer {"token"} or {"access_token"}, and with an identity token (OAuth) a
 * refresh_token. */
static int token_from(img_reg_resp *resp, char **ret_token, char **ret_refresh, dd_err *e)
{
    json_t *o = NULL;
    if (jx_parse(resp->body.data, resp->body.len, &o, NULL) < 0 || !json_is_object(o)) {
        json_decref(o);
        return dd_err_set(e, EIO, "the token service's answer is not JSON");
    }
    const char *t = json_string_value(jx_get(o, "token"));
    if (!t || !*t)
        t = json_string_value(jx_get(o, "access_token"));
    const char *rt = json_string_value(jx_get(o, "refresh_token"));
    int rc = t && *t ? 0 : dd_err_set(e, EIO, "the token service returned no token");
    if (rc >= 0) {
        *ret_token = dd_strdup(t);
        if (ret_refresh && rt)
            *ret_refresh = dd_strdup(rt);
    }
    json_decref(o);
    return rc;
}

static int token_refused(img_reg_resp *resp, const char *url, dd_err *e)
{
    json_t *o = NULL;
    const char *why = NULL;
    if (jx_parse(resp->body.data, resp->body.len, &o, NULL) == 0)
        why = json_string_value(jx_get(o, "details"));
    int rc;
    if (resp->status == 401)
        rc = dd_err_set(e, EACCES, "Get \"%s\": unauthorized: %s", url,
                        why ? why : "incorrect username or password");
    else
        rc = dd_err_set(e, EIO, "Get \"%s\": token service answered %ld", url, resp->status);
    json_decref(o);
    return rc;
}

static int fetch_token(img_reg *r, const img_challenge *ch, const char *scope, char **ret_refresh,
                       dd_err *e)
{
    if (!ch->realm || !*ch->realm)
        return dd_err_set(e, EIO, "the registry's Bearer challenge has no realm");
    _cleanup_free_ char *url = token_url(r, ch, scope);
    _cleanup_free_ char *form = NULL;
    img_reg_req q = {.url = url, .body_fd = -1, .out_fd = -1, .max_body = 1u << 20};
    if (r->auth.identity_token) { /* OAuth refresh-token grant, as dockerd does */
        _cleanup_free_ char *svc = url_escape(r->curl, ch->service ? ch->service : "");
        _cleanup_free_ char *sc = url_escape(r->curl, scope);
        _cleanup_free_ char *tok = url_escape(r->curl, r->auth.identity_token);
        form = dd_asprintf("grant_type=refresh_token&refresh_token=%s&service=%s&scope=%s"
                           "&client_id=docker",
                           tok, svc, sc);
        q.method = "POST";
        q.url = ch->realm;
        q.body = form;
        q.body_len = strlen(form);
        q.content_type = "application/x-www-form-urlencoded";
    }
    _cleanup_free_ char *saved = TAKE_PTR(r->authz);
    if (!r->auth.identity_token && r->auth.username)
        r->authz = basic_header(&r->auth);
    img_reg_resp resp = {0};
    int rc = perform(r, &q, q.url, &resp, e);
    free(r->authz);
    r->authz = NULL;
    char *tok = NULL;
    if (rc >= 0 && resp.status != 200)
        rc = token_refused(&resp, q.url, e);
    if (rc >= 0)
        rc = token_from(&resp, &tok, ret_refresh, e);
    img_reg_resp_release(&resp);
    if (rc >= 0)
        r->authz = dd_asprintf("Authorization: Bearer %s", tok);
    else
        r->authz = TAKE_PTR(saved);
    free(tok);
    return rc;
}

/* Answers a challenge; returns 1 when there are new credentials to retry with. */
static int answer(img_reg *r, const img_challenge *ch, char **ret_refresh, dd_err *e)
{
    if (dd_streq(ch->scheme, "basic")) {
        if (!r->auth.username || (r->authz && dd_startswith(r->authz, "Authorization: Basic")))
            return 0;
        free(r->authz);
        r->authz = basic_header(&r->auth);
        return 1;
    }
    if (!dd_streq(ch->scheme, "bearer"))
        return 0;
    if (r->auth.registry_token) {
        if (r->authz)
            return 0;
        r->authz = dd_asprintf("Authorization: Bearer %s", r->auth.registry_token);
        return 1;
    }
    _cleanup_free_ char *scope = ch->scope && *ch->scope
                                     ? dd_strdup(ch->scope)
                                     : dd_asprintf("repository:%s:%s", r->repo, r->actions);
    int rc = fetch_token(r, ch, scope, ret_refresh, e);
    return rc < 0 ? rc : 1;
}

int img_reg_do(img_reg *r, const img_reg_req *q, img_reg_resp *resp, dd_err *e)
{
    _cleanup_free_ char *url = full_url(r, q->url);
    *resp = (img_reg_resp){0};
    int rc = perform(r, q, url, resp, e);
    if (rc < 0 || resp->status != 401 || !resp->www_auth)
        return rc;
    img_challenge ch;
    if (img_challenge_parse(resp->www_auth, &ch, NULL) < 0)
        return 0;
    /* a scope the current token already had means the credentials are not enough */
    bool retry = !(r->authz && dd_startswith(r->authz, "Authorization: Bearer") && ch.error &&
                   dd_streq(ch.error, "insufficient_scope") && !ch.scope);
    rc = retry ? answer(r, &ch, NULL, e) : 0;
    img_challenge_release(&ch);
    if (rc <= 0)
        return rc;
    return perform(r, q, url, resp, e);
}

/* ---- errors ---- */

static char *code_words(const char *code)
{
    char *s = dd_strdup(code);
    for (char *p = s; *p; p++)
        *p = *p == '_' ? ' ' : (char)tolower((unsigned char)*p);
    return s;
}

static char *challenge_error(const img_reg_resp *resp, char ret_code[32])
{
    img_challenge ch;
    if (resp->status != 401 || !resp->www_auth ||
        img_challenge_parse(resp->www_auth, &ch, NULL) < 0)
        return NULL;
    char *out = NULL;
    if (dd_streq(ch.scheme, "bearer") && dd_streq(ch.error, "insufficient_scope")) {
        snprintf(ret_code, 32, "DENIED");
        out = dd_asprintf("denied: %s", ch.error_description ? ch.error_description
                                                             : "requested access to the "
                                                               "resource is denied");
    } else if (dd_streq(ch.scheme, "bearer") && dd_streq(ch.error, "invalid_token")) {
        snprintf(ret_code, 32, "UNAUTHORIZED");
        out = dd_asprintf("unauthorized: %s",
                          ch.error_description ? ch.error_description : "authentication required");
    } else if (dd_streq(ch.scheme, "basic")) {
        snprintf(ret_code, 32, "UNAUTHORIZED");
        out = dd_strdup("no basic auth credentials");
    }
    img_challenge_release(&ch);
    return out;
}

char *img_reg_error_text(const img_reg_resp *resp, char ret_code[32])
{
    ret_code[0] = '\0';
    char *c = challenge_error(resp, ret_code);
    if (c)
        return c;
    json_t *o = NULL;
    char *out = NULL;
    if (resp->body.len && jx_parse(resp->body.data, resp->body.len, &o, NULL) == 0) {
        json_t *first = json_array_get(jx_get(o, "errors"), 0);
        const char *code = json_string_value(jx_get(first, "code"));
        const char *msg = json_string_value(jx_get(first, "message"));
        if (code) {
            snprintf(ret_code, 32, "%s", code);
            _cleanup_free_ char *w = code_words(code);
            out = msg && *msg ? dd_asprintf("%s: %s", w, msg) : dd_strdup(w);
        }
    }
    json_decref(o);
    if (!out && resp->status == 401) {
        snprintf(ret_code, 32, "UNAUTHORIZED");
        out = dd_strdup("unauthorized: authentication required");
    }
    if (!out)
        out = dd_asprintf("received unexpected HTTP status: %ld", resp->status);
    return out;
}

/* ---- endpoints ---- */

const char *img_reg_base(const img_reg *r)
{
    return r->base;
}

void img_reg_close(img_reg *r)
{
    if (!r)
        return;
    if (r->curl)
        curl_easy_cleanup(r->curl);
    free(r->base);
    free(r->repo);
    free(r->actions);
    free(r->authz);
    free(r->ca_file);
    free(r->cert_file);
    free(r->key_file);
    img_auth_release(&r->auth);
    img_challenge_release(&r->ch);
    free(r);
}

static void copy_auth(img_auth *dst, const img_auth *src)
{
    img_auth_release(dst);
    dst->username = src->username ? dd_strdup(src->username) : NULL;
    dst->password = src->password ? dd_strdup(src->password) : NULL;
    dst->identity_token = src->identity_token ? dd_strdup(src->identity_token) : NULL;
    dst->registry_token = src->registry_token ? dd_strdup(src->registry_token) : NULL;
}

static bool auth_empty(const img_auth *a)
{
    return !a || (!a->username && !a->identity_token && !a->registry_token);
}

static const img_registry_host *host_entry(const img_registries *regs, const char *host)
{
    const img_registry_host *star = NULL;
    for (size_t i = 0; regs && i < regs->n_hosts; i++) {
        if (dd_streq(regs->hosts[i].host, host))
            return &regs->hosts[i];
        if (dd_streq(regs->hosts[i].host, "*"))
            star = &regs->hosts[i];
    }
    return star;
}

/* Candidate base URLs in order; an entry ending in '!' is TLS-unverified. */
static char **candidates(const img_registries *regs, const char *host)
{
    char **v = dd_calloc(1, sizeof(char *));
    const img_registry_host *h = host_entry(regs, host);
    for (size_t i = 0; h && h->endpoints && h->endpoints[i]; i++) {
        char *u = dd_strdup(h->endpoints[i]);
        size_t n = strlen(u);
        while (n && u[n - 1] == '/')
            u[--n] = '\0';
        if (dd_endswith(u, "/v2"))
            u[n - 3] = '\0';
        if (!strstr(u, "://")) {
            char *t = dd_asprintf("https://%s", u);
            free(u);
            u = t;
        }
        v = dd_strv_consume(v, u);
    }
    const char *real = dd_streq(host, "docker.io") ? "registry-1.docker.io" : host;
    bool insecure = img_reg_insecure(regs, host);
    v = dd_strv_consume(v, dd_asprintf("https://%s%s", real, insecure ? "!" : ""));
    if (insecure)
        v = dd_strv_consume(v, dd_asprintf("http://%s", real));
    return v;
}

/* GET /v2/: 200 (no auth) or 401 with a challenge marks a v2 registry. */
static int ping(img_reg *r, dd_err *e)
{
    img_reg_req q = {.url = "/v2/", .body_fd = -1, .out_fd = -1, .max_body = 64u << 10};
    img_reg_resp resp = {0};
    _cleanup_free_ char *url = full_url(r, q.url);
    int rc = perform(r, &q, url, &resp, e);
    if (rc >= 0 && resp.status == 401 && resp.www_auth)
        rc = img_challenge_parse(resp.www_auth, &r->ch, e);
    else if (rc >= 0 && resp.status != 200)
        rc = dd_err_set(e, EIO, "Get \"%s\": not a registry (HTTP status %ld)", url, resp.status);
    img_reg_resp_release(&resp);
    return rc;
}

static img_reg *reg_new(const img_ref *ref, const img_auth *auth, const char *actions)
{
    img_reg *r = dd_calloc(1, sizeof(*r));
    r->curl = curl_easy_init();
    r->repo = dd_strdup(ref->path);
    r->actions = dd_strdup(actions);
    if (auth)
        copy_auth(&r->auth, auth);
    return r;
}

/* Credentials up front: Basic needs no round trip, and a Bearer token for the repository's scope
 * saves the first 401 of every request. */
static int preauth(img_reg *r, dd_err *e)
{
    if (!r->ch.scheme[0] || !*r->repo)
        return 0;
    int rc = answer(r, &r->ch, NULL, e);
    return rc < 0 ? rc : 0;
}

/* The entry configuring an endpoint's own host (k3s keys `configs` by endpoint host), exact. */
static const img_registry_host *endpoint_entry(const img_registries *regs, const char *base)
{
    const char *s = strstr(base, "://");
    s = s ? s + 3 : base;
    _cleanup_free_ char *host = dd_strndup(s, strcspn(s, "/"));
    for (size_t i = 0; regs && i < regs->n_hosts; i++)
        if (dd_streq(regs->hosts[i].host, host))
            return &regs->hosts[i];
    return NULL;
}

/* Credentials for one endpoint: the caller's, else the endpoint host's, else the registry's. */
static const img_auth *endpoint_auth(const img_auth *given, const img_registry_host *eh,
                                     const img_registry_host *h)
{
    if (!auth_empty(given))
        return given;
    if (eh && !auth_empty(&eh->auth))
        return &eh->auth;
    return h && !auth_empty(&h->auth) ? &h->auth : given;
}

int img_reg_open(const img_registries *regs, const img_ref *ref, const img_auth *auth,
                 const char *actions, const volatile bool *cancel, img_reg **ret, dd_err *e)
{
    pthread_once(&curl_once, curl_init_once);
    if (!lc.easy_init)
        return dd_err_set(e, ENOSYS, "registry access needs libcurl: %s", lc_error);
    const img_registry_host *h = host_entry(regs, ref->domain);
    _cleanup_strv_free_ char **cands = candidates(regs, ref->domain);
    int rc = -EIO;
    for (size_t i = 0; cands[i]; i++) {
        size_t n = strlen(cands[i]);
        _cleanup_free_ char *base = dd_strndup(cands[i], cands[i][n - 1] == '!' ? n - 1 : n);
        const img_registry_host *eh = endpoint_entry(regs, base);
        img_reg *r = reg_new(ref, endpoint_auth(auth, eh, h), actions);
        r->cancel = cancel;
        r->insecure = cands[i][n - 1] == '!' || (eh ? eh->insecure : h && h->insecure);
        if (eh && eh->ca_file)
            r->ca_file = dd_strdup(eh->ca_file);
        if (eh && eh->cert_file && eh->key_file) {
            r->cert_file = dd_strdup(eh->cert_file);
            r->key_file = dd_strdup(eh->key_file);
        }
        r->base = TAKE_PTR(base);
        /* the last candidate's error is the one reported */
        rc = ping(r, e);
        if (rc >= 0)
            rc = preauth(r, e);
        if (rc >= 0) {
            *ret = r;
            return 0;
        }
        img_reg_close(r);
        if (rc == -ECANCELED)
            return rc;
    }
    return rc;
}

int img_registry_login(const img_registries *regs, const char *server, const img_auth *auth,
                       char **ret_identity_token, dd_err *e)
{
    img_ref ref = {0};
    const char *s = server && *server ? server : "docker.io";
    if (dd_startswith(s, "https://"))
        s += 8;
    else if (dd_startswith(s, "http://"))
        s += 7;
    _cleanup_free_ char *host = dd_strndup(s, strcspn(s, "/"));
    if (dd_streq(host, "index.docker.io") || dd_streq(host, "registry-1.docker.io")) {
        free(host);
        host = dd_strdup("docker.io");
    }
    ref.domain = host;
    ref.path = (char *)"";
    img_reg *r = NULL;
    int rc = img_reg_open(regs, &ref, auth, "pull", NULL, &r, e);
    if (rc < 0)
        return rc;
    char *refresh = NULL;
    if (dd_streq(r->ch.scheme, "bearer") && !r->auth.registry_token) {
        /* dockerd asks for an offline token with no scope */
        free(r->authz);
        r->authz = NULL;
        rc = fetch_token(r, &r->ch, "", &refresh, e);
    } else if (r->ch.scheme[0]) {
        img_reg_req q = {.url = "/v2/", .body_fd = -1, .out_fd = -1, .max_body = 64u << 10};
        img_reg_resp resp = {0};
        rc = img_reg_do(r, &q, &resp, e);
        if (rc >= 0 && resp.status == 401)
            rc = dd_err_set(e, EACCES,
                            "login attempt to %s/v2/ failed with status: 401 "
                            "Unauthorized",
                            r->base);
        else if (rc >= 0 && resp.status != 200)
            rc = dd_err_set(e, EIO, "login attempt to %s/v2/ failed with status: %ld", r->base,
                            resp.status);
        img_reg_resp_release(&resp);
    }
    if (rc >= 0 && ret_identity_token)
        *ret_identity_token = refresh;
    else
        free(refresh);
    img_reg_close(r);
    return rc;
}
