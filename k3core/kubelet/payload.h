/* payload: the files of a configMap, secret, downwardAPI or projected volume and their atomic
 * update on disk (upstream's AtomicWriter layout: <dir>/..<stamp>/ holds the files, <dir>/..data
 * points at it, <dir>/<name> → ..data/<name>). Prefix: kl_payload_.
 */
#ifndef K3CORE_KUBELET_PAYLOAD_H
#define K3CORE_KUBELET_PAYLOAD_H

#include <sys/types.h>

#include "dind/base.h"

struct kl_file {
    char *path; /* relative, e.g. "key" or "dir/key" */
    char *data; /* len bytes (NUL-terminated for convenience) */
    size_t len;
    mode_t mode;
};

struct kl_payload {
    struct kl_file *f;
    size_t n;
};

/* Adds (or replaces) one file; -EINVAL for an absolute path, a ".." element or a name starting
 * with "..". */
int kl_payload_add(struct kl_payload *pl, const char *path, const void *data, size_t len,
                   mode_t mode, dd_err *e);
void kl_payload_release(struct kl_payload *pl);
/* The file at path, or NULL. */
const struct kl_file *kl_payload_find(const struct kl_payload *pl, const char *path);
/* Makes dir show exactly pl: 1 when written, 0 when it already did, <0 on error (dir then still
 * shows the previous payload). */
int kl_payload_write(const char *dir, const struct kl_payload *pl, dd_err *e);

#endif
