/* json: typed getters with path-aware errors and small builders on jansson. Prefix: jx_.
 *
 * Docker's Go daemon decodes JSON object keys case-insensitively and ignores unknown fields, so
 * jx_get() first tries an exact match and then a case-insensitive one. JSON null and a missing key
 * are the same ("absent") for every getter: getters leave *ret untouched and return 0 when absent,
 * and fail with -EINVAL ("<path>: expected a string") when present with the wrong type.
 */
#ifndef DIND_JSON_H
#define DIND_JSON_H

#include <jansson.h>

#include "dind/base.h"

/* Parses a whole buffer; on failure fills e with "invalid JSON: <jansson text> (line L col C)". */
int jx_parse(const char *data, size_t len, json_t **ret, dd_err *e);
/* Serialises compactly (JSON_COMPACT, keys in insertion order); caller frees. */
char *jx_dump(const json_t *v);

/* Exact key, else case-insensitive; NULL when absent or null. */
json_t *jx_get(const json_t *obj, const char *key);
int jx_str(const json_t *obj, const char *key, const char **ret, dd_err *e);
int jx_bool(const json_t *obj, const char *key, bool *ret, dd_err *e);
int jx_int(const json_t *obj, const char *key, int64_t *ret, dd_err *e);
int jx_obj(const json_t *obj, const char *key, json_t **ret, dd_err *e);
int jx_arr(const json_t *obj, const char *key, json_t **ret, dd_err *e);
/* Array of strings (or a single string, Docker accepts both for Cmd/Entrypoint) → strv; absent
 * leaves *ret untouched. */
int jx_strv(const json_t *obj, const char *key, char ***ret, dd_err *e);

/* Builders that never fail (allocation failure aborts). *_new steal their argument. */
json_t *jx_strv_new(char *const *v); /* NULL → json null */
json_t *jx_string_or_null(const char *s);
void jx_set_str(json_t *obj, const char *key, const char *s); /* NULL → null */
void jx_set_int(json_t *obj, const char *key, int64_t v);
void jx_set_bool(json_t *obj, const char *key, bool v);
void jx_set_new(json_t *obj, const char *key, json_t *v);

#endif
