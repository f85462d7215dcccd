/* selector: label and field selectors as the API accepts them in ?labelSelector= and
 * ?fieldSelector=. Prefix: ksel_.
 *
 * Label grammar (upstream's): requirements separated by ',' — `k`, `!k`, `k=v`, `k==v`, `k!=v`,
 * `k in (a,b)`, `k notin (a,b)`, `k>n`, `k<n`; keys are qualified names, values label values.
 * Field grammar: `f=v`, `f==v`, `f!=v` separated by ','; '\' escapes ',', '=', '!' and '\' in
 * values. Which fields a kind supports is the object layer's business (kobj); this module only
 * parses and matches. Parse errors carry upstream-like messages for a 400 BadRequest.
 */
#ifndef K3CORE_API_SELECTOR_H
#define K3CORE_API_SELECTOR_H

#include <stdbool.h>

#include "dind/base.h"
#include "dind/json.h"

typedef struct ksel ksel;

/* An empty or NULL text parses to a selector that matches everything. */
int ksel_parse_labels(const char *text, ksel **ret, dd_err *e);
int ksel_parse_fields(const char *text, ksel **ret, dd_err *e);
void ksel_free(ksel *s);
void ksel_freep(ksel **s);
#define _cleanup_ksel_ _cleanup_(ksel_freep)

/* A metav1.LabelSelector object {matchLabels, matchExpressions} (In, NotIn, Exists,
 * DoesNotExist); {} matches everything. NULL for a missing or invalid one. */
ksel *ksel_from_label_selector(const json_t *label_selector);

bool ksel_empty(const ksel *s);
/* Labels: a JSON object of string values (NULL = no labels). */
bool ksel_match_labels(const ksel *s, const json_t *labels);
/* Fields: get(field) returns the object's value of a field (NULL when absent, which compares
 * as ""). */
typedef const char *(*ksel_field_fn)(void *userdata, const char *field);
bool ksel_match_fields(const ksel *s, ksel_field_fn get, void *userdata);
/* Field names the selector uses, for checking support: i-th key or NULL past the end. */
const char *ksel_key(const ksel *s, size_t i);

/* Validation helpers shared with object validation. Each returns NULL when valid, else a
 * static upstream message ("must be no more than 63 characters", ...). */
const char *ksel_check_label_value(const char *v);
const char *ksel_check_qualified_name(const char *k);
const char *ksel_check_dns1123_label(const char *s);
const char *ksel_check_dns1123_subdomain(const char *s);

#endif
