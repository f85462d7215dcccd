/* libFuzzer harness for rt's user resolution from an image's /etc/passwd and /etc/group (both
 * untrusted: they come from whatever image the user runs). The input is split at NUL bytes into
 * the user spec ("name", "uid:gid", ...), the passwd text, the group text and additional groups.
 * Invariants: success gives a HOME and a group list whose length matches; failure gives a
 * message; nothing leaks or reads out of bounds (ASan). */
#include <stdint.h>
#include <stdlib.h>

#include "dind/lib/rt/rt-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *part[4] = {buf, NULL, NULL, NULL};
    size_t k = 1;
    for (size_t i = 0; i < size && k < 4; i++)
        if (buf[i] == '\0')
            part[k++] = buf + i + 1;
    char **extra = NULL;
    if (part[3] && *part[3])
        extra = dd_strv_push(NULL, part[3]);
    struct rt_user u = {0};
    dd_err e = {0};
    if (rt_user_resolve_text(part[0], extra, part[1], part[2], &u, &e) == 0) {
        if (!u.home || (u.n_groups && !u.groups))
            abort();
    } else if (!e.msg[0]) {
        abort();
    }
    rt_user_release(&u);
    dd_strv_free(extra);
    free(buf);
    return 0;
}
