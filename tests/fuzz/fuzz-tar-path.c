/* libFuzzer harness for the tar entry-path sanitiser and the whole-archive check (dind/lib/tar).
 * The input is tried both as one entry name (tar_path_clean + the symlink guard) and as a tar
 * archive (tar_check). Invariants asserted: a cleaned name is never absolute, never contains a
 * ".." component, and cleaning it again is the identity. */
#include <stdint.h>
#include <stdio.h>

#include "dind/tar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_clean(const char *name)
{
    char *out = NULL;
    if (tar_path_clean(name, &out, NULL) < 0)
        return;
    if (out[0] == '/' || strcmp(out, "..") == 0 || strncmp(out, "../", 3) == 0 ||
        strstr(out, "/../") || dd_endswith(out, "/.."))
        abort();
    char *again = NULL;
    if (tar_path_clean(out, &again, NULL) < 0 || strcmp(out, again) != 0)
        abort();
    tar_guard *g = tar_guard_new();
    (void)tar_guard_check(g, out, NULL, true, NULL);
    (void)tar_guard_check(g, again, out, false, NULL);
    tar_guard_free(g);
    free(again);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *name = dd_strndup((const char *)data, size);
    check_clean(name);
    free(name);
    tar_src src = {-1, data, size};
    (void)tar_check(&src, NULL, NULL);
    return 0;
}
