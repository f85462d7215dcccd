/* libFuzzer harness for what a pod answers an httpGet probe (k3core/kubelet/probespec.c): any
 * response bytes give a status code, "incomplete" or "not HTTP", never a crash; the result only
 * depends on the first line. */
#include <stdint.h>

#include "k3core/kubelet/probespec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size ? size : 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    int code = kpr_http_status(in, size);
    if (code > 999 || (code > 0 && code < 100))
        __builtin_trap();
    free(in);
    return 0;
}
