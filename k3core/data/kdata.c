/* kdata.c: lookup and on-demand inflation of the embedded OpenAPI documents (see kdata.h).
 * Inflation goes through libarchive's raw format with the gzip filter, the one decompressor the
 * project already links; nothing is cached here (callers cache what they serve often).
 */
#include "k3core/data/kdata.h"

#include <archive.h>

extern const char kdata_blob[];

const struct kdata_doc *kdata_find(const char *path)
{
    for (size_t i = 0; i < kdata_ndocs; i++)
        if (!strcmp(kdata_docs[i].path, path))
            return &kdata_docs[i];
    return NULL;
}

int kdata_load(const struct kdata_doc *d, char **ret, size_t *ret_len, dd_err *e)
{
    struct archive *a = archive_read_new();
    archive_read_support_filter_gzip(a);
    archive_read_support_format_raw(a);
    struct archive_entry *ent;
    char *out = dd_malloc(d->len + 1);
    size_t got = 0;
    int r = archive_read_open_memory(a, kdata_blob + d->off, d->gzlen);
    if (r == ARCHIVE_OK)
        r = archive_read_next_header(a, &ent);
    while (r == ARCHIVE_OK && got < d->len) {
        la_ssize_t n = archive_read_data(a, out + got, d->len - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    archive_read_free(a);
    if (got != d->len) {
        free(out);
        return dd_err_set(e, EIO, "inflating embedded document %s", d->path);
    }
    out[got] = '\0';
    *ret = out;
    if (ret_len)
        *ret_len = got;
    return 0;
}
