/* libFuzzer harness for resource quantities (k3core/api/quantity.c): any input parses or fails
 * cleanly; a parsed quantity's value/milli-value conversions and comparison are total, and its
 * canonical form parses back to the same value and is its own canonical form. */
#include <stdint.h>
#include <string.h>

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
        char *canon = kqty_canonical(&q);
        kqty back;
        if (kqty_parse(canon, &back, NULL) < 0 || kqty_cmp(&q, &back) != 0)
            __builtin_trap();
        char *again = kqty_canonical(&back);
        if (strcmp(canon, again) != 0)
            __builtin_trap();
        free(again);
        free(canon);
    }
    free(in);
    return 0;
}
