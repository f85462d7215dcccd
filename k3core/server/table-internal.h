/* table-internal.h: the column tables behind Table output (table.c) and the cell functions of
 * table-cells.c. A column is {name, type, format, priority, cell function, description}. */
#ifndef K3CORE_TABLE_INTERNAL_H
#define K3CORE_TABLE_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "k3core/api/objects.h"

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
};

/* Workload kinds (table-cells.c) and the rest (table-core.c). */
extern const struct tkind ktable_apps[];
extern const size_t ktable_napps;
extern const struct tkind ktable_core[];
extern const size_t ktable_ncore;

/* Helpers shared by the cell functions. */
const json_t *tpath(const json_t *obj, const char *dotted);
const char *tstr(const json_t *obj, const char *dotted);
void human_duration(int64_t secs, char *out, size_t n);
json_t *age_of(const char *rfc3339);
json_t *cell_name(const json_t *o);
json_t *cell_age(const json_t *o);
json_t *selector_string(const json_t *sel);
json_t *join_field(const json_t *arr, const char *field, const char *sep, const char *none);
void ksrv_table_set_api(kobj_api *api);

#endif
