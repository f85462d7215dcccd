/* body.c: request bodies → jansson, by Content-Type: JSON (also the JSON patch types), YAML
 * (`application/yaml`, `application/apply-patch+yaml`; libyaml, first document only) and
 * Kubernetes protobuf (kpb.c). Malformed input is a 400 BadRequest Status naming the decoder's
 * complaint; an unknown media type is 415. The size limit is the route's (413 before we run).
 *
 * YAML scalars follow the YAML 1.2 core schema as sigs.k8s.io/yaml does in practice: plain
 * null/~/true/false/integers/floats become JSON scalars, quoted scalars stay strings.
 */
#include <ctype.h>
#include <stdio.h>
#include <strings.h>
#include <yaml.h>

#include "k3core/server/kpb.h"
#include "k3core/server/server-internal.h"

#define YAML_MAX_DEPTH 100
#define YAML_MAX_NODES 200000 /* aliases can expand exponentially ("billion laughs") */

static json_t *yaml_plain_scalar(const char *s, size_t n)
{
    if (!n || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL"))
        return json_null();
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
        return json_true();
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
        return json_false();
    char *end;
    errno = 0;
    long long ll = strtoll(s, &end, 10);
    if (*s && !*end && errno == 0 && (isdigit((unsigned char)s[0]) || s[0] == '-' || s[0] == '+'))
        return json_integer(ll);
    if (strpbrk(s, ".eE") && (isdigit((unsigned char)s[0]) || s[0] == '-' || s[0] == '.')) {
        double d = strtod(s, &end);
        if (!*end)
            return json_real(d);
    }
    return json_stringn(s, n);
}

static json_t *yaml_node(yaml_document_t *doc, yaml_node_t *node, int depth, size_t *budget,
                         dd_err *e)
{
    if (!node || depth > YAML_MAX_DEPTH || !*budget) {
        dd_err_set(e, EINVAL, "yaml: document too deep or too large");
        return NULL;
    }
    (*budget)--;
    if (node->type == YAML_SCALAR_NODE) {
        const char *s = (const char *)node->data.scalar.value;
        size_t n = node->data.scalar.length;
        bool plain = node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        json_t *v = plain ? yaml_plain_scalar(s, n) : json_stringn(s, n);
        if (!v)
            dd_err_set(e, EINVAL, "yaml: invalid UTF-8 in scalar");
        return v;
    }
    if (node->type == YAML_SEQUENCE_NODE) {
        json_t *arr = json_array();
        for (yaml_node_item_t *it = node->data.sequence.items.start;
             it < node->data.sequence.items.top; it++) {
            json_t *v = yaml_node(doc, yaml_document_get_node(doc, *it), depth + 1, budget, e);
            if (!v)
                return json_decref(arr), NULL;
            json_array_append_new(arr, v);
        }
        return arr;
    }
    json_t *obj = json_object();
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (!k || k->type != YAML_SCALAR_NODE) {
            dd_err_set(e, EINVAL, "yaml: mapping keys must be scalars");
            return json_decref(obj), NULL;
        }
        json_t *v = yaml_node(doc, yaml_document_get_node(doc, p->value), depth + 1, budget, e);
        if (!v)
            return json_decref(obj), NULL;
        _cleanup_free_ char *key =
            dd_strndup((const char *)k->data.scalar.value, k->data.scalar.length);
        json_object_set_new(obj, key, v);
    }
    return obj;
}

int ksrv_yaml_to_json(const char *data, size_t len, json_t **ret, dd_err *e)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    if (!yaml_parser_load(&parser, &doc)) {
        int r = dd_err_set(e, EINVAL, "yaml: line %zu: %s", parser.problem_mark.line + 1,
                           parser.problem ? parser.problem : "syntax error");
        yaml_parser_delete(&parser);
        return r;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    size_t budget = YAML_MAX_NODES;
    json_t *v = root ? yaml_node(&doc, root, 0, &budget, e) : json_null();
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (!v)
        return -EINVAL;
    *ret = v;
    return 0;
}

static bool media_is(const char *ct, const char *type)
{
    size_t n = strlen(type);
    return !strncasecmp(ct, type, n) && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static int bad_request(kobj_status *st, const char *msg)
{
    return kobj_fail(st, 400, "BadRequest", "%s", msg);
}

int ksrv_decode_body(http_req *req, json_t **ret, kobj_status *st)
{
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    const char *ct = http_req_header(req, "Content-Type");
    dd_err e = {0};
    *ret = NULL;
    if (!body || len == 0)
        return 0;
    if (!ct || media_is(ct, "application/json") || media_is(ct, "application/json-patch+json") ||
        media_is(ct, "application/merge-patch+json") ||
        media_is(ct, "application/strategic-merge-patch+json")) {
        if (jx_parse(body, len, ret, &e) < 0)
            return bad_request(st, e.msg);
        return 0;
    }
    if (media_is(ct, "application/yaml") || media_is(ct, "application/apply-patch+yaml")) {
        if (jx_parse(body, len, ret, &e) == 0)
            return 0;
        if (ksrv_yaml_to_json(body, len, ret, &e) < 0)
            return bad_request(st, e.msg);
        return 0;
    }
    if (media_is(ct, "application/vnd.kubernetes.protobuf")) {
        if (kpb_decode(body, len, ret, &e) < 0)
            return bad_request(st, e.msg);
        return 0;
    }
    return kobj_fail(st, 415, "UnsupportedMediaType",
                     "the body of the request was in an unknown format - accepted media types "
                     "include: application/json, application/yaml, "
                     "application/vnd.kubernetes.protobuf");
}
