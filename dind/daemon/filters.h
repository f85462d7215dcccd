/* filters: Docker's `filters` query parameter, in both encodings clients send:
 * {"label":{"a=b":true}} (Go, CLI, k3d) and {"label":["a=b"]} (docker-py). Prefix: flt_. */
#ifndef DINDD_FILTERS_H
#define DINDD_FILTERS_H

#include <jansson.h>

#include "container.h"

struct flt_entry {
    char *key;
    char **values; /* never NULL */
};

struct flt {
    struct flt_entry *v;
    size_t n;
};

/* Parses text (NULL or "" = no filters). -EINVAL with a message on bad JSON or shapes. Keys not in
 * allowed (NULL-terminated; NULL = any) fail with "invalid filter 'x'". */
int flt_parse(const char *text, const char *const *allowed, struct flt *ret, dd_err *e);
void flt_release(struct flt *f);
/* The values of key, or NULL if the filter does not use it. */
char *const *flt_get(const struct flt *f, const char *key);
/* A label filter value ("key" or "key=value") against a labels object. */
bool flt_label_match(const json_t *labels, const char *want);
/* POSIX ERE match; an invalid pattern never matches. */
bool flt_regex_match(const char *pattern, const char *s);

/* Container list filters. Validates values that can be checked up front (status names,
 * before/since references) and returns -EINVAL for bad ones. */
int flt_containers_check(struct ctr_store *s, const struct flt *f, dd_err *e);
bool flt_container_match(struct ctr_store *s, const struct flt *f, const struct container *c);

#endif
