/* Registry credentials and configuration as data: the WWW-Authenticate challenge grammar
 * (RFC 7235 auth-params, quoted strings with escapes), Docker's X-Registry-Auth header (base64url
 * JSON), kubernetes.io/dockerconfigjson documents, and the per-host registry table (mirrors,
 * insecure, default credentials). All of it is untrusted input; nothing here touches the
 * network (registry.c does). */
#include <ctype.h>
#include <stdio.h>

#include "dind/lib/image/image-internal.h"

void img_challenge_release(img_challenge *c)
{
    if (!c)
        return;
    free(c->realm);
    free(c->service);
    free(c->scope);
    free(c->error);
    free(c->error_description);
    *c = (img_challenge){0};
}

static bool is_tchar(char c)
{
    return isalnum((unsigned char)c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void skip_ws(const char **p)
{
    while (**p == ' ' || **p == '\t' || **p == ',')
        (*p)++;
}

/* A token or a quoted-string; NULL on bad syntax. */
static char *parse_value(const char **p)
{
    const char *s = *p;
    dd_buf b = DD_BUF_INIT;
    if (*s == '"') {
        for (s++; *s && *s != '"'; s++) {
            if (*s == '\\' && s[1])
                s++;
            dd_buf_addc(&b, *s);
        }
        if (*s != '"') {
            dd_buf_release(&b);
            return NULL;
        }
        s++;
    } else {
        while (is_tchar(*s) || *s == '/' || *s == ':' || *s == '=')
            dd_buf_addc(&b, *s++);
    }
    *p = s;
    return dd_buf_detach(&b, NULL);
}

static void set_param(img_challenge *c, const char *key, char *val)
{
    char **slot = !strcasecmp(key, "realm")               ? &c->realm
                  : !strcasecmp(key, "service")           ? &c->service
                  : !strcasecmp(key, "scope")             ? &c->scope
                  : !strcasecmp(key, "error")             ? &c->error
                  : !strcasecmp(key, "error_description") ? &c->error_description
                                                          : NULL;
    if (slot && !*slot)
        *slot = val;
    else
        free(val);
}

/* One challenge's parameters, up to the next scheme or the end. */
static int parse_params(const char **p, img_challenge *c)
{
    for (;;) {
        skip_ws(p);
        const char *k = *p;
        while (is_tchar(**p))
            (*p)++;
        size_t klen = (size_t)(*p - k);
        if (!klen)
            return **p ? -EINVAL : 0;
        const char *q = *p;
        while (*q == ' ')
            q++;
        if (*q != '=') { /* the next challenge's scheme */
            *p = k;
            return 0;
        }
        *p = q + 1;
        while (**p == ' ')
            (*p)++;
        char *val = parse_value(p);
        if (!val)
            return -EINVAL;
        char key[32];
        snprintf(key, sizeof(key), "%.*s", (int)(klen < 31 ? klen : 31), k);
        set_param(c, key, val);
    }
}

int img_challenge_parse(const char *value, img_challenge *ret, dd_err *e)
{
    *ret = (img_challenge){0};
    const char *p = value ? value : "";
    while (*p) {
        skip_ws(&p);
        const char *s = p;
        while (is_tchar(*p))
            p++;
        size_t n = (size_t)(p - s);
        if (!n)
            break;
        img_challenge c = {0};
        snprintf(c.scheme, sizeof(c.scheme), "%.*s", (int)(n < 15 ? n : 15), s);
        for (char *q = c.scheme; *q; q++)
            *q = (char)tolower((unsigned char)*q);
        if (parse_params(&p, &c) < 0) {
            img_challenge_release(&c);
            img_challenge_release(ret);
            return dd_err_set(e, EINVAL, "malformed WWW-Authenticate header");
        }
        bool known = dd_streq(c.scheme, "bearer") || dd_streq(c.scheme, "basic");
        if (known && !ret->scheme[0])
            *ret = c;
        else
            img_challenge_release(&c);
    }
    return 0;
}

/* ---- base64 ---- */

static int b64_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

char *img_base64_decode(const char *s, size_t *ret_len)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '=' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    char *out = dd_malloc(n * 3 / 4 + 1);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_val(s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    if (bits >= 6) { /* a single leftover character cannot encode a byte */
        free(out);
        return NULL;
    }
    out[o] = '\0';
    if (ret_len)
        *ret_len = o;
    return out;
}

/* ---- credentials ---- */

void img_auth_release(img_auth *a)
{
    if (!a)
        return;
    free(a->username);
    free(a->password);
    free(a->identity_token);
    free(a->registry_token);
    free(a->server);
    *a = (img_auth){0};
}

static char *nonempty(const json_t *o, const char *key)
{
    const char *s = json_string_value(jx_get(o, key));
    return s && *s ? dd_strdup(s) : NULL;
}

/* "auth": base64("user:password"), as in config.json and dockerconfigjson. */
static int split_auth(const char *b64, img_auth *a, dd_err *e)
{
    _cleanup_free_ char *plain = img_base64_decode(b64, NULL);
    char *colon = plain ? strchr(plain, ':') : NULL;
    if (!colon)
        return dd_err_set(e, EINVAL, "invalid auth field: not base64 of \"user:password\"");
    *colon = '\0';
    free(a->username);
    free(a->password);
    a->username = dd_strdup(plain);
    a->password = dd_strdup(colon + 1);
    return 0;
}

int img_auth_from_json(const json_t *o, img_auth *a, dd_err *e)
{
    *a = (img_auth){0};
    if (!json_is_object(o))
        return dd_err_set(e, EINVAL, "credentials are not a JSON object");
    a->username = nonempty(o, "username");
    a->password = nonempty(o, "password");
    a->identity_token = nonempty(o, "identitytoken");
    if (!a->identity_token)
        a->identity_token = nonempty(o, "identity_token");
    a->registry_token = nonempty(o, "registrytoken");
    a->server = nonempty(o, "serveraddress");
    const char *b64 = json_string_value(jx_get(o, "auth"));
    if (b64 && *b64 && !a->username && split_auth(b64, a, e) < 0) {
        img_auth_release(a);
        return -EINVAL;
    }
    return 0;
}

int img_auth_decode(const char *header, img_auth *ret, dd_err *e)
{
    *ret = (img_auth){0};
    if (!header || !*header)
        return 0;
    size_t len;
    _cleanup_free_ char *json = img_base64_decode(header, &len);
    json_t *o = NULL;
    int r = json ? jx_parse(json, len, &o, e) : dd_err_set(e, EINVAL, "not base64");
    if (r >= 0)
        r = img_auth_from_json(o, ret, e);
    json_decref(o);
    if (r < 0) {
        img_auth_release(ret);
        dd_err_wrap(e, "invalid X-Registry-Auth header");
        return -EINVAL;
    }
    return 0;
}

/* ---- the registry table ---- */

void img_registries_release(img_registries *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_hosts; i++) {
        free(r->hosts[i].host);
        dd_strv_free(r->hosts[i].endpoints);
        free(r->hosts[i].ca_file);
        free(r->hosts[i].cert_file);
        free(r->hosts[i].key_file);
        img_auth_release(&r->hosts[i].auth);
    }
    free(r->hosts);
    dd_strv_free(r->insecure);
    *r = (img_registries){0};
}

img_registry_host *img_registries_host(img_registries *r, const char *host)
{
    for (size_t i = 0; i < r->n_hosts; i++)
        if (dd_streq(r->hosts[i].host, host))
            return &r->hosts[i];
    r->hosts = dd_realloc(r->hosts, (r->n_hosts + 1) * sizeof(*r->hosts));
    img_registry_host *h = &r->hosts[r->n_hosts++];
    *h = (img_registry_host){.host = dd_strdup(host), .endpoints = dd_calloc(1, sizeof(char *))};
    return h;
}

/* dockerconfigjson keys may be URLs ("https://index.docker.io/v1/") or hosts. */
static char *config_host(const char *key)
{
    const char *s = key;
    if (dd_startswith(s, "https://"))
        s += 8;
    else if (dd_startswith(s, "http://"))
        s += 7;
    size_t n = strcspn(s, "/");
    char *h = dd_strndup(s, n);
    if (dd_streq(h, "index.docker.io") || dd_streq(h, "registry-1.docker.io")) {
        free(h);
        h = dd_strdup("docker.io");
    }
    return h;
}

int img_registries_add_dockerconfig(img_registries *r, const char *json, size_t len, dd_err *e)
{
    json_t *doc = NULL;
    int rc = jx_parse(json, len, &doc, e);
    json_t *auths = rc >= 0 ? jx_get(doc, "auths") : NULL;
    if (rc >= 0 && !json_is_object(auths))
        rc = dd_err_set(e, EINVAL, "no \"auths\" object");
    const char *key;
    json_t *v;
    if (rc >= 0)
        json_object_foreach(auths, key, v)
        {
            img_auth a = {0};
            rc = img_auth_from_json(v, &a, e);
            if (rc < 0)
                break;
            _cleanup_free_ char *host = config_host(key);
            img_registry_host *h = img_registries_host(r, host);
            img_auth_release(&h->auth);
            h->auth = a;
        }
    json_decref(doc);
    if (rc < 0)
        dd_err_wrap(e, "invalid docker config");
    return rc < 0 ? rc : 0;
}
