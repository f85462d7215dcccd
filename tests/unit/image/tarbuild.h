/* Test helper: writes small tar archives with libarchive so the image tests need no fixtures. */
#ifndef TESTS_UNIT_IMAGE_TARBUILD_H
#define TESTS_UNIT_IMAGE_TARBUILD_H

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include "dind/base.h"

typedef struct tb_entry {
    const char *name;
    char type;        /* 'f' file, 'd' dir, 'l' symlink, 'h' hardlink, 'c' char device */
    const char *data; /* file content, or link target */
    size_t len;       /* 0 = strlen(data) for files */
} tb_entry;

/* Writes entries (terminated by a {NULL}) as a tar into path; filter "gzip"/"zstd"/NULL. */
static inline void tb_write(const char *path, const tb_entry *ents, const char *filter)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (filter && !strcmp(filter, "gzip"))
        archive_write_add_filter_gzip(a);
    if (filter && !strcmp(filter, "zstd"))
        archive_write_add_filter_zstd(a);
    if (archive_write_open_filename(a, path) != ARCHIVE_OK)
        abort();
    for (const tb_entry *t = ents; t->name; t++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, t->name);
        archive_entry_set_mtime(e, 1700000000, 0);
        size_t len = t->len ? t->len : (t->data ? strlen(t->data) : 0);
        switch (t->type) {
        case 'd':
            archive_entry_set_filetype(e, AE_IFDIR);
            archive_entry_set_perm(e, 0755);
            break;
        case 'l':
            archive_entry_set_filetype(e, AE_IFLNK);
            archive_entry_set_symlink(e, t->data);
            archive_entry_set_perm(e, 0777);
            len = 0;
            break;
        case 'h':
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_hardlink(e, t->data);
            archive_entry_set_perm(e, 0644);
            len = 0;
            break;
        case 'c':
            archive_entry_set_filetype(e, AE_IFCHR);
            archive_entry_set_perm(e, 0600);
            len = 0;
            break;
        default:
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_perm(e, 0644);
        }
        archive_entry_set_size(e, len);
        archive_write_header(a, e);
        if (len)
            archive_write_data(a, t->data, len);
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
}

#endif
