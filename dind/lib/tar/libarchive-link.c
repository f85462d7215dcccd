/* Linking libarchive statically without the formats we never write. libdind and its programs
 * link libarchive.a (Makefile: its shared library needs libxml2, ICU, libstdc++ and nettle, some
 * 2 MiB of RSS in every process). Every format writer calls the helper below, which libarchive
 * keeps in the same object as archive_write_set_format(), the by-name table of *all* writers:
 * pulling that object would pull xar (libxml2) and zip/mtree (nettle) back in. Defining the helper
 * here satisfies the writers we use (pax, through ustar) without that table. It sets the same
 * kind of error as libarchive's own (EINVAL, its file-format errno on Linux). If a libarchive
 * update renamed it, the link would fail loudly on undefined xml/nettle symbols, never silently. */
#include <archive.h>
#include <archive_entry.h>

#include "dind/base.h"

void __archive_write_entry_filetype_unsupported(struct archive *a, struct archive_entry *entry,
                                                const char *format);

void __archive_write_entry_filetype_unsupported(struct archive *a, struct archive_entry *entry,
                                                const char *format)
{
    static const struct {
        unsigned type;
        const char *name;
    } kinds[] = {
        {AE_IFDIR, "directories"},   {AE_IFLNK, "symbolic links"}, {AE_IFCHR, "character devices"},
        {AE_IFBLK, "block devices"}, {AE_IFIFO, "named pipes"},    {AE_IFSOCK, "sockets"},
    };
    const char *path = archive_entry_pathname(entry);
    unsigned type = archive_entry_filetype(entry);
    for (size_t i = 0; i < DD_ARRAY_SIZE(kinds); i++) {
        if (kinds[i].type == type) {
            archive_set_error(a, EINVAL, "%s: %s format cannot archive %s", path ? path : "",
                              format, kinds[i].name);
            return;
        }
    }
    archive_set_error(a, EINVAL, "%s: %s format cannot archive files with mode 0%lo",
                      path ? path : "", format, (unsigned long)archive_entry_mode(entry));
}
