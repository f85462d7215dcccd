/* quantity: Kubernetes resource quantities ("100m", "1.5Gi", "2e3", "+.5k") as the API accepts
 * them in resources.requests/limits, emptyDir sizeLimit, PVC sizes... Prefix: kqty_.
 *
 * Grammar (upstream's resource.Quantity): [+-] digits [. digits] then one suffix: a binary SI
 * suffix (Ki Mi Gi Ti Pi Ei), a decimal SI suffix (n u m "" k M G T P E) or a decimal exponent
 * (e|E followed by a signed integer). The value is kept exactly in nano-units (1e-9) in 128
 * bits; anything finer than 1n is rounded up, as upstream rounds to its smallest scale, and
 * anything beyond ±1.7e29 is rejected.
 */
#ifndef K3CORE_API_QUANTITY_H
#define K3CORE_API_QUANTITY_H

#include <stdint.h>

#include "dind/base.h"

enum kqty_format { KQTY_DECIMAL_SI, KQTY_BINARY_SI, KQTY_DECIMAL_EXPONENT };

typedef struct kqty {
    __int128 nano; /* value × 1e9 */
    enum kqty_format format;
} kqty;

/* Parses s; -EINVAL with upstream's message ("quantities must match the regular expression
 * '^([+-]?[0-9.]+)([eEinumkKMGTPE]*[-+]?[0-9]*)$'") on bad input. */
int kqty_parse(const char *s, kqty *ret, dd_err *e);
/* Whole units rounded up (Quantity.Value()) and thousandths rounded up (MilliValue()),
 * saturating at INT64_MIN/MAX. */
int64_t kqty_value(const kqty *q);
int64_t kqty_milli(const kqty *q);
int kqty_cmp(const kqty *a, const kqty *b);
/* Upstream's canonical form (what the API server stores and returns): "1000m" → "1",
 * "0.5" → "500m", "2048Mi" → "2Gi", "1536Mi" stays, "1e3" stays, binary below 1024 or
 * fractional → decimal SI. Caller frees. */
char *kqty_canonical(const kqty *q);

#endif
