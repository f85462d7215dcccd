/* b64: standard and URL-safe base64 (kubeconfig data fields, JWT segments, Secret data from
 * protobuf bytes). The decoder accepts both alphabets and optional '=' padding. */
#ifndef K3CORE_B64_H
#define K3CORE_B64_H

#include "dind/base.h"

/* url = base64url without padding; caller frees. */
char *b64_encode(const void *data, size_t len, bool url);
/* Returns -EINVAL on a character outside both alphabets; *ret is NUL-terminated, caller frees. */
int b64_decode(const char *s, size_t len, char **ret, size_t *ret_len);

#endif
