/* libFuzzer harness for resource quantities (k3core/api/quantity.c): any input parses or fails
 * cleanly; a parsed quantity's value/milli-value conversions and comparison are total. */
#include <stdint.h>

#include "k3core/api/quantity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = dd_strndup((const char *)data, size);
    kqty q;
    if (kqty_parse(in, &q, NULL) == 0) {
        kqty_value(&q);
        kqty_milli(&q);
        if (kqty_cmp(&q, &q) != 0)
            __builtin_trap();
    }
    free(in);
    return 0;
}
