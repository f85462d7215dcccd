/* resources internals: the generated built-in table (resources-gen.c) and the schema blob,
 * shared by resources.c, schema.c and crd.c. Not for other modules. */
#ifndef K3CORE_API_RESOURCES_INTERNAL_H
#define K3CORE_API_RESOURCES_INTERNAL_H

#include "k3core/api/resources.h"

extern const kres_resource kres_builtin[];
extern const size_t kres_builtin_count;
extern const char *const kres_builtin_groups[];
extern const char kres_schema_json[]; /* NUL-terminated, embedded by schema-blob.c */
size_t kres_schema_json_size(void);

/* Registers schemas of a CRD version under `name` (the resource's schema_name). */
void kres_schema_put(const char *name, json_t *schema_new);
void kres_schema_drop(const char *name);
/* Custom (CRD) entries, owned by the table; kres_custom_take removes one whose schema_name
 * starts with "<crd name>/" and returns it (NULL when none is left). */
void kres_custom_add(kres_resource *r_new);
kres_resource *kres_custom_take(const char *crd_name);
void kres_table_changed(void);

#endif
