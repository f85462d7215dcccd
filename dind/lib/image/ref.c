/* Image references: Docker's grammar (distribution/reference) and its normalisation rules, written
 * as a small hand parser so no regex engine sees untrusted input. Parsing validates and splits
 * "[domain/]path[:tag][@digest]" into an img_ref; formatting gives the fully qualified and the
 * familiar forms. Resolution against the store (names, IDs, prefixes) lives in store.c. */
#include <ctype.h>
#include <stdio.h>

#include "dind/image.h"
#include "dind/lib/image/image-internal.h"

#define DEFAULT_DOMAIN  "docker.io"
#define LEGACY_DOMAIN   "index.docker.io"
#define OFFICIAL_PREFIX "library/"
#define NAME_MAX_LEN    255

static int bad_ref(dd_err *e)
{
    return dd_err_set(e, EINVAL, "invalid reference format");
}

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool img_is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* domain-component ('.' domain-component)* [':' port]; components are [A-Za-z0-9] with inner '-'.
 */
static bool domain_valid(const char *s, size_t n)
{
    const char *colon = memchr(s, ':', n);
    size_t host_len = colon ? (size_t)(colon - s) : n;
    if (colon) {
        size_t plen = n - host_len - 1;
        if (plen == 0)
            return false;
        for (size_t i = 0; i < plen; i++)
            if (!isdigit((unsigned char)colon[1 + i]))
                return false;
    }
    size_t comp = 0;
    for (size_t i = 0; i <= host_len; i++) {
        if (i == host_len || s[i] == '.') {
            if (comp == 0 || s[i - 1] == '-')
                return false;
            comp = 0;
            continue;
        }
        if (!isalnum((unsigned char)s[i]) && s[i] != '-')
            return false;
        if (comp == 0 && s[i] == '-')
            return false;
        comp++;
    }
    return true;
}

/* path-component: [a-z0-9]+ ((_|.|__|-+)[a-z0-9]+)* */
static bool component_valid(const char *s, size_t n)
{
    size_t i = 0;
    if (n == 0 || !is_lower_alnum(s[0]))
        return false;
    while (i < n) {
        while (i < n && is_lower_alnum(s[i]))
            i++;
        if (i == n)
            return true;
        size_t sep = i;
        if (s[i] == '.') {
            i++;
        } else if (s[i] == '_') {
            i += (i + 1 < n && s[i + 1] == '_') ? 2 : 1;
        } else if (s[i] == '-') {
            while (i < n && s[i] == '-')
                i++;
        } else {
            return false;
        }
        if (i == sep || i == n || !is_lower_alnum(s[i]))
            return false;
    }
    return true;
}

static bool path_valid(const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '/') {
            if (!component_valid(s + start, i - start))
                return false;
            start = i + 1;
        }
    }
    return true;
}

bool img_tag_valid(const char *tag)
{
    size_t n = tag ? strlen(tag) : 0;
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = tag[i];
        bool word = isalnum((unsigned char)c) || c == '_';
        if (!word && (i == 0 || (c != '.' && c != '-')))
            return false;
    }
    return true;
}

bool img_digest_valid(const char *d)
{
    return d && dd_startswith(d, "sha256:") && strlen(d) == 7 + 64 && img_is_hex(d + 7, 64);
}

/* Splits "[path][:tag][@digest]" (domain already removed) and validates each part. */
static int split_remainder(const char *rem, img_ref *r, dd_err *e)
{
    const char *at = strchr(rem, '@');
    size_t name_end = at ? (size_t)(at - rem) : strlen(rem);
    if (at) {
        if (!img_digest_valid(at + 1))
            return bad_ref(e);
        r->digest = dd_strdup(at + 1);
    }
    const char *colon = memrchr(rem, ':', name_end);
    const char *slash = memrchr(rem, '/', name_end);
    if (colon && (!slash || colon > slash)) {
        r->tag = dd_strndup(colon + 1, name_end - (colon - rem) - 1);
        if (!img_tag_valid(r->tag))
            return bad_ref(e);
        name_end = colon - rem;
    }
    if (!path_valid(rem, name_end))
        return bad_ref(e);
    r->path = dd_strndup(rem, name_end);
    if (strlen(r->domain) + 1 + name_end > NAME_MAX_LEN)
        return dd_err_set(e, EINVAL,
                          "invalid reference format: repository name must not be "
                          "more than 255 characters");
    return 0;
}

/* Docker's splitDockerDomain: the first component is a domain only if it looks like one. */
static void split_domain(const char *s, img_ref *r, const char **ret_rem, char **ret_owned)
{
    const char *slash = strchr(s, '/');
    bool is_domain = false;
    if (slash) {
        size_t n = slash - s;
        bool has_upper = false;
        for (size_t i = 0; i < n; i++)
            has_upper |= isupper((unsigned char)s[i]) != 0;
        is_domain = memchr(s, '.', n) || memchr(s, ':', n) ||
                    (n == strlen("localhost") && !memcmp(s, "localhost", n)) || has_upper;
    }
    const char *rem = s;
    if (is_domain) {
        r->domain = dd_strndup(s, slash - s);
        rem = slash + 1;
    } else {
        r->domain = dd_strdup(DEFAULT_DOMAIN);
    }
    if (dd_streq(r->domain, LEGACY_DOMAIN)) {
        free(r->domain);
        r->domain = dd_strdup(DEFAULT_DOMAIN);
    }
    *ret_owned = NULL;
    if (dd_streq(r->domain, DEFAULT_DOMAIN)) {
        const char *end = rem + strcspn(rem, ":@");
        if (!memchr(rem, '/', end - rem))
            rem = *ret_owned = dd_asprintf(OFFICIAL_PREFIX "%s", rem);
    }
    *ret_rem = rem;
}

static int check_lowercase(const char *rem, dd_err *e)
{
    size_t n = strcspn(rem, ":");
    for (size_t i = 0; i < n; i++)
        if (isupper((unsigned char)rem[i]))
            return dd_err_set(e, EINVAL,
                              "invalid reference format: repository name must be lowercase");
    return 0;
}

int img_ref_parse(const char *s, unsigned flags, img_ref *ret, dd_err *e)
{
    img_ref r = {0};
    size_t n = strlen(s);
    *ret = (img_ref){0};
    if (n == 64 && img_is_hex(s, 64))
        return dd_err_set(e, EINVAL,
                          "invalid repository name (%s), cannot specify 64-byte hexadecimal "
                          "strings",
                          s);
    if (n == 0)
        return bad_ref(e);
    const char *rem;
    _cleanup_free_ char *owned = NULL;
    split_domain(s, &r, &rem, &owned);
    int rc = check_lowercase(rem, e);
    if (rc >= 0 && !domain_valid(r.domain, strlen(r.domain)))
        rc = bad_ref(e);
    if (rc >= 0)
        rc = split_remainder(rem, &r, e);
    if (rc < 0) {
        img_ref_release(&r);
        *ret = (img_ref){0};
        return rc;
    }
    if (!r.tag && !r.digest && !(flags & IMG_REF_NAME_ONLY))
        r.tag = dd_strdup("latest");
    *ret = r;
    return 0;
}

void img_ref_release(img_ref *r)
{
    if (!r)
        return;
    free(r->domain);
    free(r->path);
    free(r->tag);
    free(r->digest);
    *r = (img_ref){0};
}

char *img_ref_name(const img_ref *r)
{
    return dd_asprintf("%s/%s", r->domain, r->path);
}

static char *with_suffix(char *name, const img_ref *r)
{
    char *s = dd_asprintf("%s%s%s%s%s", name, r->tag ? ":" : "", r->tag ? r->tag : "",
                          r->digest ? "@" : "", r->digest ? r->digest : "");
    free(name);
    return s;
}

char *img_ref_string(const img_ref *r)
{
    return with_suffix(img_ref_name(r), r);
}

char *img_ref_familiar_name(const img_ref *r)
{
    if (!dd_streq(r->domain, DEFAULT_DOMAIN))
        return img_ref_name(r);
    const char *p = r->path;
    if (dd_startswith(p, OFFICIAL_PREFIX) && !strchr(p + strlen(OFFICIAL_PREFIX), '/'))
        p += strlen(OFFICIAL_PREFIX);
    return dd_strdup(p);
}

char *img_ref_familiar(const img_ref *r)
{
    return with_suffix(img_ref_familiar_name(r), r);
}

char *img_familiar(const char *full)
{
    img_ref r;
    if (img_ref_parse(full, IMG_REF_NAME_ONLY, &r, NULL) < 0)
        return dd_strdup(full);
    char *s = img_ref_familiar(&r);
    img_ref_release(&r);
    return s;
}
