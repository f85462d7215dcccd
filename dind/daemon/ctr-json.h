/* ctr-json: the Engine API's JSON views of a container (inspect, list entry, human status). */
#ifndef DINDD_CTR_JSON_H
#define DINDD_CTR_JSON_H

#include <jansson.h>

#include "container.h"

/* GET /containers/{id}/json; size adds SizeRw/SizeRootFs. Caller decrefs. */
json_t *ctr_inspect_json(const struct container *c, bool size);
/* One entry of GET /containers/json. Caller decrefs. */
json_t *ctr_summary_json(const struct container *c, bool size, int64_t now_ns);
/* "Up 2 minutes", "Exited (2) 3 seconds ago", "Created", ...; caller frees. */
char *ctr_status_text(const struct container *c, int64_t now_ns);
/* Go's units.HumanDuration ("Less than a second", "About a minute", "3 hours"). */
void ctr_human_duration(int64_t ns, char *out, size_t len);
/* Inspect's Mounts array. */
json_t *ctr_mounts_json(const struct container *c);
/* Bytes in the container's writable layer. */
int64_t ctr_size_rw(const struct container *c);

#endif
