/* libFuzzer harness for k3core request bodies in JSON and YAML (application/json,
 * application/yaml, application/apply-patch+yaml): the first byte picks the decoder, the rest is
 * the body. Decoding must fail cleanly on anything malformed. */
#include <stddef.h>
#include <stdint.h>

#include "dind/json.h"
#include "k3core/server/server-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    json_t *v = NULL;
    dd_err e = {0};
    const char *body = (const char *)data + 1;
    int r = (data[0] & 1) ? ksrv_yaml_to_json(body, size - 1, &v, &e)
                          : jx_parse(body, size - 1, &v, &e);
    if (r == 0) {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        free(s);
        json_decref(v);
    }
    return 0;
}
