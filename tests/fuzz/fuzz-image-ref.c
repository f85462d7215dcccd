/* libFuzzer harness for image reference parsing (img_ref_parse) and the familiar/full formatters:
 * any input must parse or fail cleanly, and a parsed reference's full form must re-parse to itself.
 * (The familiar form need not: like Docker's, "a.b/c" under docker.io reads back as a domain.) */
#include <stdint.h>

#include "dind/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = dd_strndup((const char *)data, size);
    img_ref r;
    dd_err e = {0};
    if (img_ref_parse(s, 0, &r, &e) == 0) {
        char *full = img_ref_string(&r);
        char *fam = img_ref_familiar(&r);
        img_ref again;
        if (img_ref_parse(full, 0, &again, NULL) != 0)
            __builtin_trap();
        char *full2 = img_ref_string(&again);
        if (strcmp(full, full2) != 0)
            __builtin_trap();
        free(full2);
        img_ref_release(&again);
        free(full);
        free(fam);
        img_ref_release(&r);
    }
    free(s);
    return 0;
}
