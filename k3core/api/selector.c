/* selector: parser and matcher for label and field selectors, plus the name/label validators
 * that share their character rules. The parser is a small hand-written scanner over the text;
 * it never reads past the terminating NUL and bounds every element (fuzzed by
 * tests/fuzz/fuzz-k8s-selector.c).
 */
#include <ctype.h>
#include <stdio.h>

#include "k3core/api/selector.h"

enum op { OP_EXISTS, OP_NOT_EXISTS, OP_EQ, OP_NE, OP_IN, OP_NOTIN, OP_GT, OP_LT };

typedef struct req {
    char *key;
    enum op op;
    char **values; /* strv */
} req;

struct ksel {
    req *reqs;
    size_t n;
    bool fields;
};

void ksel_free(ksel *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->reqs[i].key);
        dd_strv_free(s->reqs[i].values);
    }
    free(s->reqs);
    free(s);
}

void ksel_freep(ksel **s)
{
    ksel_free(*s);
}

bool ksel_empty(const ksel *s)
{
    return !s || s->n == 0;
}

const char *ksel_key(const ksel *s, size_t i)
{
    return s && i < s->n ? s->reqs[i].key : NULL;
}

/* ---- validators ---- */

static bool alnum(char c)
{
    return isalnum((unsigned char)c);
}

const char *ksel_check_label_value(const char *v)
{
    size_t n = strlen(v);
    if (n > 63)
        return "must be no more than 63 characters";
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        bool edge = i == 0 || i == n - 1;
        if (!(alnum(c) || (!edge && (c == '-' || c == '_' || c == '.'))))
            return "a valid label must be an empty string or consist of alphanumeric characters, "
                   "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
                   "'MyValue',  or 'my_value',  or '12345', regex used for validation is "
                   "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
    }
    return NULL;
}

static const char dns_label_msg[] =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
static const char dns_subdomain_msg[] =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

static bool lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

const char *ksel_check_dns1123_label(const char *s)
{
    size_t n = strlen(s);
    if (n > 63)
        return "must be no more than 63 characters";
    if (n == 0 || !lower_alnum(s[0]) || !lower_alnum(s[n - 1]))
        return dns_label_msg;
    for (size_t i = 0; i < n; i++)
        if (!lower_alnum(s[i]) && s[i] != '-')
            return dns_label_msg;
    return NULL;
}

const char *ksel_check_dns1123_subdomain(const char *s)
{
    size_t n = strlen(s);
    if (n > 253)
        return "must be no more than 253 characters";
    if (n == 0)
        return dns_subdomain_msg;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool edge = i == 0 || i == n - 1 || s[i - 1] == '.' || s[i + 1] == '.';
        if (c == '.' ? (i == 0 || i == n - 1 || s[i - 1] == '.')
                     : !(lower_alnum(c) || (c == '-' && !edge)))
            return dns_subdomain_msg;
    }
    return NULL;
}

const char *ksel_check_qualified_name(const char *k)
{
    const char *slash = strchr(k, '/');
    const char *name = slash ? slash + 1 : k;
    if (slash) {
        _cleanup_free_ char *prefix = dd_strndup(k, (size_t)(slash - k));
        if (!*prefix || ksel_check_dns1123_subdomain(prefix))
            return "prefix part a lowercase RFC 1123 subdomain must consist of lower case "
                   "alphanumeric characters, '-' or '.', and must start and end with an "
                   "alphanumeric character (e.g. 'example.com', regex used for validation is "
                   "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    }
    size_t n = strlen(name);
    if (n == 0)
        return "name part must be non-empty";
    if (n > 63)
        return "name part must be no more than 63 characters";
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool edge = i == 0 || i == n - 1;
        if (!(alnum(c) || (!edge && (c == '-' || c == '_' || c == '.'))))
            return "name part must consist of alphanumeric characters, '-', '_' or '.', and must "
                   "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  "
                   "or '123-abc', regex used for validation is "
                   "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    }
    return NULL;
}

/* ---- label selector parsing ---- */

typedef struct scan {
    const char *p;
    dd_err *e;
    const char *text;
} scan;

static void skip_ws(scan *s)
{
    while (*s->p == ' ' || *s->p == '\t')
        s->p++;
}

static bool ident_char(char c)
{
    return c && !strchr(" \t,=!()<>", c);
}

static char *take_ident(scan *s)
{
    skip_ws(s);
    const char *start = s->p;
    while (ident_char(*s->p))
        s->p++;
    return dd_strndup(start, (size_t)(s->p - start));
}

static void add_req(ksel *sel, char *key, enum op op, char **values)
{
    sel->reqs = dd_realloc(sel->reqs, (sel->n + 1) * sizeof(*sel->reqs));
    sel->reqs[sel->n++] = (req){key, op, values};
}

static int parse_set(scan *s, char ***ret, dd_err *e)
{
    skip_ws(s);
    if (*s->p != '(')
        return dd_err_set(e, EINVAL, "unable to parse requirement: found '%s', expected: '('",
                          s->p);
    s->p++;
    char **values = NULL;
    for (;;) {
        char *v = take_ident(s);
        values = dd_strv_consume(values, v);
        skip_ws(s);
        if (*s->p == ',') {
            s->p++;
            continue;
        }
        if (*s->p == ')') {
            s->p++;
            *ret = values;
            return 0;
        }
        dd_strv_free(values);
        return dd_err_set(e, EINVAL,
                          "unable to parse requirement: found '%s', expected: ',' or ')'", s->p);
    }
}

static int check_values(char *const *values, dd_err *e)
{
    for (size_t i = 0; values && values[i]; i++) {
        const char *why = ksel_check_label_value(values[i]);
        if (why)
            return dd_err_set(e, EINVAL,
                              "unable to parse requirement: values[%zu][%s]: Invalid "
                              "value: \"%s\": %s",
                              i, "value", values[i], why);
    }
    return 0;
}

static int parse_op_value(scan *s, ksel *sel, char *key, dd_err *e)
{
    enum op op;
    char **values = NULL;
    skip_ws(s);
    if (dd_startswith(s->p, "==") || dd_startswith(s->p, "!=")) {
        op = s->p[0] == '=' ? OP_EQ : OP_NE;
        s->p += 2;
    } else if (*s->p == '=' || *s->p == '>' || *s->p == '<') {
        op = *s->p == '=' ? OP_EQ : *s->p == '>' ? OP_GT : OP_LT;
        s->p++;
    } else if (dd_startswith(s->p, "notin") && !ident_char(s->p[5])) {
        op = OP_NOTIN;
        s->p += 5;
    } else if (dd_startswith(s->p, "in") && !ident_char(s->p[2])) {
        op = OP_IN;
        s->p += 2;
    } else if (*s->p == ',' || *s->p == '\0') {
        add_req(sel, key, OP_EXISTS, NULL);
        return 0;
    } else {
        free(key);
        return dd_err_set(e, EINVAL,
                          "unable to parse requirement: found '%s', expected: "
                          "in, notin, =, ==, !=, gt, lt",
                          s->p);
    }
    int r = 0;
    if (op == OP_IN || op == OP_NOTIN)
        r = parse_set(s, &values, e);
    else
        values = dd_strv_consume(NULL, take_ident(s));
    if (r >= 0)
        r = check_values(values, e);
    if (r >= 0 && (op == OP_GT || op == OP_LT)) {
        int64_t n;
        if (dd_parse_int64(values[0], &n) < 0)
            r = dd_err_set(e, EINVAL,
                           "unable to parse requirement: for 'Gt', 'Lt' operators, "
                           "the value must be an integer");
    }
    if (r < 0) {
        free(key);
        dd_strv_free(values);
        return r;
    }
    add_req(sel, key, op, values);
    return 0;
}

static int parse_label_req(scan *s, ksel *sel, dd_err *e)
{
    skip_ws(s);
    bool neg = *s->p == '!';
    if (neg)
        s->p++;
    char *key = take_ident(s);
    const char *why = ksel_check_qualified_name(key);
    if (why) {
        int r = dd_err_set(e, EINVAL, "unable to parse requirement: key: Invalid value: \"%s\": %s",
                           key, why);
        free(key);
        return r;
    }
    if (neg) {
        add_req(sel, key, OP_NOT_EXISTS, NULL);
        return 0;
    }
    return parse_op_value(s, sel, key, e);
}

int ksel_parse_labels(const char *text, ksel **ret, dd_err *e)
{
    ksel *sel = dd_calloc(1, sizeof(*sel));
    scan s = {.p = text ? text : "", .e = e, .text = text};
    skip_ws(&s);
    while (*s.p) {
        int r = parse_label_req(&s, sel, e);
        if (r >= 0) {
            skip_ws(&s);
            if (*s.p == ',')
                s.p++;
            else if (*s.p)
                r = dd_err_set(e, EINVAL, "unable to parse requirement: found '%s', expected: ','",
                               s.p);
        }
        if (r < 0) {
            ksel_free(sel);
            return r;
        }
    }
    *ret = sel;
    return 0;
}

/* ---- field selector parsing ---- */

/* Reads up to an unescaped stop character, unescaping '\x'. */
static char *take_escaped(scan *s, const char *stops)
{
    dd_buf b = DD_BUF_INIT;
    dd_buf_init(&b);
    while (*s->p && !strchr(stops, *s->p)) {
        if (*s->p == '\\' && s->p[1])
            s->p++;
        dd_buf_addc(&b, *s->p++);
    }
    return dd_buf_detach(&b, NULL);
}

static int parse_field_req(scan *s, ksel *sel, dd_err *e)
{
    const char *start = s->p;
    _cleanup_free_ char *term = take_escaped(s, ",");
    (void)start;
    char *eq = strstr(term, "!=");
    enum op op = OP_NE;
    size_t oplen = 2;
    if (!eq) {
        eq = strstr(term, "==");
        op = OP_EQ;
        if (!eq) {
            eq = strchr(term, '=');
            oplen = 1;
        }
    }
    if (!eq)
        return dd_err_set(e, EINVAL, "invalid selector: '%s'; can't understand '%s'", s->text,
                          term);
    char *key = dd_strndup(term, (size_t)(eq - term));
    /* trim spaces around the key (kubectl sends none; be lenient like upstream) */
    add_req(sel, key, op, dd_strv_push(NULL, eq + oplen));
    return 0;
}

/* Field values may contain escaped commas: split on unescaped ',' only. */
int ksel_parse_fields(const char *text, ksel **ret, dd_err *e)
{
    ksel *sel = dd_calloc(1, sizeof(*sel));
    sel->fields = true;
    scan s = {.p = text ? text : "", .e = e, .text = text ? text : ""};
    while (*s.p) {
        const char *term_start = s.p;
        /* find the end of this term honoring escapes */
        const char *q = s.p;
        while (*q && *q != ',') {
            if (*q == '\\' && q[1])
                q++;
            q++;
        }
        _cleanup_free_ char *raw = dd_strndup(term_start, (size_t)(q - term_start));
        scan one = {.p = raw, .e = e, .text = s.text};
        int r = *raw ? parse_field_req(&one, sel, e) : 0;
        if (r < 0) {
            ksel_free(sel);
            return r;
        }
        s.p = *q ? q + 1 : q;
    }
    *ret = sel;
    return 0;
}

/* ---- matching ---- */

static bool match_one(const req *r, const char *v)
{
    switch (r->op) {
    case OP_EXISTS:
        return v != NULL;
    case OP_NOT_EXISTS:
        return v == NULL;
    case OP_EQ:
        return dd_streq(v ? v : "", r->values[0]);
    case OP_NE:
        return !dd_streq(v ? v : "", r->values[0]);
    case OP_IN:
        return v && dd_strv_contains(r->values, v);
    case OP_NOTIN:
        return !v || !dd_strv_contains(r->values, v);
    case OP_GT:
    case OP_LT: {
        int64_t a, b;
        if (!v || dd_parse_int64(v, &a) < 0 || dd_parse_int64(r->values[0], &b) < 0)
            return false;
        return r->op == OP_GT ? a > b : a < b;
    }
    }
    return false;
}

bool ksel_match_labels(const ksel *s, const json_t *labels)
{
    for (size_t i = 0; s && i < s->n; i++) {
        const req *r = &s->reqs[i];
        json_t *v = json_object_get(labels, r->key);
        const char *str = json_is_string(v) ? json_string_value(v) : NULL;
        /* label selectors treat != and notin of a missing label as a match */
        if (!match_one(r, str))
            return false;
    }
    return true;
}

bool ksel_match_fields(const ksel *s, ksel_field_fn get, void *userdata)
{
    for (size_t i = 0; s && i < s->n; i++) {
        const req *r = &s->reqs[i];
        const char *v = get(userdata, r->key);
        if (!match_one(r, v ? v : ""))
            return false;
    }
    return true;
}

/* ---- metav1.LabelSelector objects ---- */

static void add_values(dd_buf *b, const json_t *values)
{
    size_t i;
    json_t *v;
    json_array_foreach(values, i, v) dd_buf_addf(b, "%s%s", i ? "," : "", json_string_value(v));
}

ksel *ksel_from_label_selector(const json_t *sel)
{
    if (!json_is_object(sel))
        return NULL;
    dd_buf b = DD_BUF_INIT;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)json_object_get(sel, "matchLabels"), k, v)
        dd_buf_addf(&b, "%s%s=%s", b.len ? "," : "", k, json_string_value(v));
    size_t i;
    json_array_foreach(json_object_get(sel, "matchExpressions"), i, v)
    {
        const char *key = json_string_value(json_object_get(v, "key")),
                   *op = json_string_value(json_object_get(v, "operator"));
        if (!key || !op)
            continue;
        if (b.len)
            dd_buf_adds(&b, ",");
        if (dd_streq(op, "Exists"))
            dd_buf_adds(&b, key);
        else if (dd_streq(op, "DoesNotExist"))
            dd_buf_addf(&b, "!%s", key);
        else {
            dd_buf_addf(&b, "%s %s (", key, dd_streq(op, "In") ? "in" : "notin");
            add_values(&b, json_object_get(v, "values"));
            dd_buf_adds(&b, ")");
        }
    }
    ksel *s = NULL;
    if (ksel_parse_labels(b.data ? b.data : "", &s, NULL) < 0)
        s = NULL;
    dd_buf_release(&b);
    return s;
}
