/* kdata: the upstream Kubernetes 1.33 OpenAPI documents embedded in the binary. Prefix: kdata_.
 *
 * Paths are the /openapi/v3 ones without the prefix ("api/v1", "apis/apps/v1"), plus "v2.pb"
 * (gnostic protobuf for /openapi/v2) and "v2.json". Each document is stored gzip-compressed;
 * kdata_load() inflates one on demand so idle memory stays small. Read-only, thread-safe.
 */
#ifndef K3CORE_KDATA_H
#define K3CORE_KDATA_H

#include "dind/base.h"

struct kdata_doc {
    const char *path;
    size_t off, gzlen, len;
    const char *hash; /* upper-case hex SHA-512 of the inflated bytes */
};

extern const struct kdata_doc kdata_docs[];
extern const size_t kdata_ndocs;

const struct kdata_doc *kdata_find(const char *path);
/* Inflates a document; *ret is NUL-terminated (caller frees). */
int kdata_load(const struct kdata_doc *d, char **ret, size_t *ret_len, dd_err *e);

#endif
