/* libFuzzer harness for the Kubernetes protobuf body decoder (k3core/server/kpb.c): any byte
 * string must decode or fail cleanly, never crash, leak or read out of bounds. Seeds: bodies shaped
 * like client-go's (tests/fuzz/gen-k8s-protobuf-corpus.py) and the captured transcripts'. */
#include <stddef.h>
#include <stdint.h>

#include "k3core/server/kpb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *obj = NULL;
    dd_err e = {0};
    if (kpb_decode(data, size, &obj, &e) == 0) {
        char *s = json_dumps(obj, JSON_COMPACT);
        free(s);
        json_decref(obj);
    }
    /* also every message type directly on the raw bytes past the envelope */
    if (size > 4) {
        const struct kpb_msg *m = &kpb_msgs[data[0] % kpb_nmsgs];
        if (kpb_decode_msg(m, data + 1, size - 1, &obj, &e) == 0)
            json_decref(obj);
    }
    return 0;
}
