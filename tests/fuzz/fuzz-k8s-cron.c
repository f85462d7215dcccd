/* libFuzzer harness for CronJob schedules (k3core/controllers/cron.c): any input must parse or
 * fail with a message, and the next run time of a parsed schedule must be after the start or
 * -1 (no time in five years). */
#include <stdint.h>
#include <stdlib.h>

#include "k3core/controllers/controllers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = dd_strndup((const char *)data, size);
    kctl_cron c;
    dd_err e = {0};
    if (kctl_cron_parse(in, &c, &e) == 0) {
        int64_t start = 1772323200; /* 2026-03-01T00:00:00Z */
        int64_t next = kctl_cron_next(&c, start);
        if (next != -1 && next <= start)
            abort();
    } else if (!e.msg[0]) {
        abort(); /* every failure says why */
    }
    free(in);
    return 0;
}
