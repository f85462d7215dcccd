/* libFuzzer harness for registry manifests and indexes (img_manifest_parse) and the platform
 * choice in an index: any input must parse or fail cleanly; a parsed index must answer every
 * platform query with an entry inside it or a clean error. The first input byte picks the
 * Content-Type the response claims. */
#include <stdint.h>

#include "dind/lib/image/image-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const types[] = {NULL, IMG_MT_DOCKER_MANIFEST, IMG_MT_DOCKER_LIST,
                                        IMG_MT_OCI_MANIFEST, IMG_MT_OCI_INDEX};
    static const char *const platforms[] = {"linux/amd64", "linux/arm64", "linux/arm/v6",
                                            "linux/arm",   NULL,          "windows/amd64/x"};
    if (size < 1)
        return 0;
    const char *ct = types[data[0] % 5];
    img_manifest m;
    if (img_manifest_parse(ct, (const char *)data + 1, size - 1, &m, NULL) == 0) {
        for (size_t i = 0; m.is_index && i < sizeof(platforms) / sizeof(platforms[0]); i++) {
            size_t at = SIZE_MAX;
            if (img_manifest_choose(&m, platforms[i], &at, NULL) == 0 && at >= m.n)
                __builtin_trap();
        }
        for (size_t i = 0; i < m.n; i++)
            if (!img_digest_valid(m.items[i].digest) || m.items[i].size < 0)
                __builtin_trap();
        img_manifest_release(&m);
    }
    return 0;
}
