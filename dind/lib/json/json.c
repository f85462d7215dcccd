/* Typed JSON getters with path-aware error messages, and builders, on jansson. This file does not
 * know any API's schema; the front-ends validate their own objects with these helpers. */
#include <strings.h>

#include "dind/json.h"

int jx_parse(const char *data, size_t len, json_t **ret, dd_err *e)
{
    json_error_t je;
    json_t *v = json_loadb(data, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!v)
        return dd_err_set(e, EINVAL, "invalid JSON: %s (line %d column %d)", je.text, je.line,
                          je.column);
    *ret = v;
    return 0;
}

char *jx_dump(const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    return s ? s : dd_strdup("null");
}

json_t *jx_get(const json_t *obj, const char *key)
{
    if (!json_is_object(obj))
        return NULL;
    json_t *v = json_object_get(obj, key);
    if (!v) {
        const char *k;
        json_t *it;
        json_object_foreach((json_t *)obj, k, it) if (strcasecmp(k, key) == 0)
        {
            v = it;
            break;
        }
    }
    return json_is_null(v) ? NULL : v;
}

static int type_err(dd_err *e, const char *key, const char *want)
{
    return dd_err_set(e, EINVAL, "%s: expected %s", key, want);
}

int jx_str(const json_t *obj, const char *key, const char **ret, dd_err *e)
{
    json_t *v = jx_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_string(v))
        return type_err(e, key, "a string");
    *ret = json_string_value(v);
    return 0;
}

int jx_bool(const json_t *obj, const char *key, bool *ret, dd_err *e)
{
    json_t *v = jx_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return type_err(e, key, "a boolean");
    *ret = json_is_true(v);
    return 0;
}

int jx_int(const json_t *obj, const char *key, int64_t *ret, dd_err *e)
{
    json_t *v = jx_get(obj, key);
    if (!v)
        return 0;
    if (json_is_integer(v)) {
        *ret = json_integer_value(v);
        return 0;
    }
    if (json_is_real(v) && json_real_value(v) == (double)(int64_t)json_real_value(v)) {
        *ret = (int64_t)json_real_value(v);
        return 0;
    }
    return type_err(e, key, "an integer");
}

int jx_obj(const json_t *obj, const char *key, json_t **ret, dd_err *e)
{
    json_t *v = jx_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_object(v))
        return type_err(e, key, "an object");
    *ret = v;
    return 0;
}

int jx_arr(const json_t *obj, const char *key, json_t **ret, dd_err *e)
{
    json_t *v = jx_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_array(v))
        return type_err(e, key, "an array");
    *ret = v;
    return 0;
}

int jx_strv(const json_t *obj, const char *key, char ***ret, dd_err *e)
{
    json_t *v = jx_get(obj, key);
    if (!v)
        return 0;
    if (json_is_string(v)) {
        char **sv = dd_strv_push(NULL, json_string_value(v));
        dd_strv_free(*ret);
        *ret = sv;
        return 0;
    }
    if (!json_is_array(v))
        return type_err(e, key, "an array of strings");
    char **sv = dd_calloc(1, sizeof(char *));
    size_t i;
    json_t *it;
    json_array_foreach(v, i, it)
    {
        if (!json_is_string(it)) {
            dd_strv_free(sv);
            return dd_err_set(e, EINVAL, "%s[%zu]: expected a string", key, i);
        }
        sv = dd_strv_push(sv, json_string_value(it));
    }
    dd_strv_free(*ret);
    *ret = sv;
    return 0;
}

json_t *jx_strv_new(char *const *v)
{
    if (!v)
        return json_null();
    json_t *a = json_array();
    for (size_t i = 0; v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

json_t *jx_string_or_null(const char *s)
{
    json_t *v = s ? json_string(s) : NULL;
    return v ? v : json_null();
}

void jx_set_new(json_t *obj, const char *key, json_t *v)
{
    json_object_set_new(obj, key, v ? v : json_null());
}

void jx_set_str(json_t *obj, const char *key, const char *s)
{
    jx_set_new(obj, key, jx_string_or_null(s));
}

void jx_set_int(json_t *obj, const char *key, int64_t v)
{
    jx_set_new(obj, key, json_integer(v));
}

void jx_set_bool(json_t *obj, const char *key, bool v)
{
    jx_set_new(obj, key, json_boolean(v));
}
