/* tar: safe handling of untrusted tar archives on top of libarchive. Prefix: tar_.
 *
 * Every archive that reaches the daemon from a client (PUT archive, docker load/import layers) is
 * hostile until proven otherwise. This module gives the two pieces every extractor needs:
 *
 *   - tar_path_clean(): the entry-name sanitiser. Absolute names are made relative (k3d sends
 *     "/etc/rancher/k3s/registries.yaml"), "." and empty components and repeated slashes vanish,
 *     and any ".." component is refused. The result never starts with '/' and never contains
 *     "..": joined to a directory it names something inside that directory, lexically.
 *   - tar_guard: remembers the symlinks an archive has created and refuses a later entry (or a
 *     hard-link target) whose path goes *through* one of them (the classic "link -> /etc, then
 *     link/passwd" escape). Symlinks that already exist in the target tree are the caller's
 *     business: extract inside a chroot or the container's mount namespace so they resolve there.
 *
 * On top of these, tar_check() validates a whole archive without writing anything, and
 * tar_extract() writes one into the current working directory; extracting is done after a
 * successful check, so a refused archive writes nothing at all.
 *
 * Errors: a refused entry is -EINVAL with "invalid tar entry \"<name>\": <reason>"; a corrupt
 * archive is -EINVAL with libarchive's text; I/O failures keep their errno.
 */
#ifndef DIND_TAR_H
#define DIND_TAR_H

#include <stdbool.h>
#include <stddef.h>

#include "dind/base.h"

/* Cleans an entry name (see above) into a new string: "/a//./b/" -> "a/b"; "", "/", "./" -> ".".
 * -EINVAL for a ".." component or an embedded NUL-free but over-long name (> PATH_MAX). */
int tar_path_clean(const char *name, char **ret, dd_err *e);

typedef struct tar_guard tar_guard;
tar_guard *tar_guard_new(void);
void tar_guard_free(tar_guard *g); /* NULL-safe */
/* Checks one entry whose name was cleaned with tar_path_clean(). link_target: the cleaned target
 * of a hard link, else NULL. is_symlink: the entry creates a symlink (recorded for later entries).
 * A non-symlink entry at a recorded path replaces the symlink and un-records it. */
int tar_guard_check(tar_guard *g, const char *path, const char *link_target, bool is_symlink,
                    dd_err *e);

/* Where an archive comes from: a memory buffer (fd < 0) or a readable fd (read to EOF). */
typedef struct tar_src {
    int fd;
    const void *mem;
    size_t len;
} tar_src;

/* Reads every header of the archive (uncompressed, gzip, bzip2, xz or zstd) and refuses it if any
 * entry fails tar_path_clean() or the guard. Writes nothing. An fd source is read to EOF; rewind
 * it (lseek) before extracting. *ret_entries (if not NULL) gets the number of entries. */
int tar_check(const tar_src *src, size_t *ret_entries, dd_err *e);

typedef struct tar_extract_opts {
    /* Refuse to replace an existing directory with a non-directory and vice versa (docker cp's
     * noOverwriteDirNonDir): -EISDIR / -ENOTDIR with dockerd's message. */
    bool no_overwrite_dir_non_dir;
    /* Owner for every entry: chown to uid:gid instead of the archive's owners (copyUIDGID).
     * Ignored when chown_set is false (entries keep the archive's owners). */
    bool chown_set;
    uid_t uid;
    gid_t gid;
    /* The name shown in messages for the extraction root ("/etc/"); NULL = ".". */
    const char *display_root;
} tar_extract_opts;

/* Extracts into the current working directory (every entry is cleaned and guarded again, so this
 * is safe even without tar_check(); the check only makes a refusal all-or-nothing). Missing
 * parent directories are created (0755). Modes, owners, mtimes and xattrs are restored. Never
 * writes outside the cwd lexically; run it chrooted (or in the container's mount namespace) so that
 * symlinks already in the tree resolve inside it too. */
int tar_extract(const tar_src *src, const tar_extract_opts *o, dd_err *e);

#endif
