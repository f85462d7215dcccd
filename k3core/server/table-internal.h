/* table-internal.h: the column tables behind Table output (table.c) and the cell functions of
 * table-cells.c. A column is {name, type, format, priority, cell function, description}. */
#ifndef K3CORE_TABLE_INTERNAL_H
#define K3CORE_TABLE_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "dind/base.h"
#include "k3core/api/objects.h"
#include "k3core/server/table-docs.h"

struct tcol {
    const char *name, *type, *format;
    int priority;
    json_t *(*cell)(const json_t *obj);
    const char *desc;
};

struct tkind {
    const char *group, *resource;
    const struct tcol *cols;
    size_t ncols;
    /* rows in this order (qsort comparator over json_t **), NULL: as listed */
    int (*order)(const void *a, const void *b);
};

#define KIND(g, r, c)                                                                              \
    {                                                                                              \
        g, r, c, DD_ARRAY_SIZE(c), NULL                                                            \
    }

/* upstream's descriptions of the wide CONTAINERS and IMAGES columns */
#define DESC_CONTAINERS "Names of each container in the template."
#define DESC_IMAGES     "Images referenced by each container in the template."

/* Workload kinds (table-cells.c), services/nodes/config/storage basics (table-core.c),
 * autoscaling/policy/rbac/admission/flow control/certificates (table-policy.c), and
 * networking/discovery/storage/node/resource kinds (table-infra.c). */
extern const struct tkind ktable_apps[];
extern const size_t ktable_napps;
extern const struct tkind ktable_core[];
extern const size_t ktable_ncore;
extern const struct tkind ktable_policy[];
extern const size_t ktable_npolicy;
extern const struct tkind ktable_infra[];
extern const size_t ktable_ninfra;

/* Helpers shared by the cell functions. */
const json_t *tpath(const json_t *obj, const char *dotted);
const char *tstr(const json_t *obj, const char *dotted);
void human_duration(int64_t secs, char *out, size_t n);
json_t *age_of(const char *rfc3339);
json_t *cell_name(const json_t *o);
json_t *cell_age(const json_t *o);
json_t *join_field(const json_t *arr, const char *field, const char *sep, const char *none);
/* s, or def when s is NULL or empty */
json_t *tstr_or(const char *s, const char *def);
/* metadata.creationTimestamp as RFC 3339 (the "Created At" column of upstream's default table) */
json_t *cell_created(const json_t *o);
/* the strings of a JSON array, or an object's keys, sorted; free() the array only */
const char **tsorted(const json_t *j, size_t *ret_n);
/* labels.FormatLabels: "a=1,b=2" sorted by key, "<none>" when empty */
json_t *format_labels(const json_t *map);
/* metav1.FormatLabelSelector: matchLabels and matchExpressions ("k in (a,b)", "k notin (a)",
 * "k", "!k") sorted by key, "<none>" when empty or absent */
json_t *format_label_selector(const json_t *sel);
/* upstream's listWithMoreString: the first `max` items joined with ",", then " + N more...";
 * "<unset>" when there are none */
struct tmore {
    dd_buf b;
    size_t count, max;
};
void tmore_add(struct tmore *m, const char *item);
json_t *tmore_done(struct tmore *m);
/* "True"/"False" for a JSON boolean, "<unset>" when absent (upstream's printBoolPtr) */
json_t *bool_ptr(const json_t *v);
void ksrv_table_set_api(kobj_api *api);

#endif
