/* Safe reading and extraction of untrusted tar archives: the entry-name sanitiser, the guard
 * against writing through symlinks the archive itself created, a write-nothing validation pass and
 * the extractor (libarchive's disk writer, fed only cleaned relative names). This file does not
 * chroot or enter namespaces: callers that extract into a tree with pre-existing symlinks (a
 * container's root) do that around tar_extract(), see tar.h. Layer-specific rules (whiteouts) are
 * the image store's; they build on tar_path_clean() and tar_guard.
 */
#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <limits.h>
#include <sys/stat.h>

#include "dind/tar.h"

int tar_path_clean(const char *name, char **ret, dd_err *e)
{
    if (strlen(name) >= PATH_MAX)
        return dd_err_set(e, EINVAL, "invalid tar entry: name longer than %d bytes", PATH_MAX);
    dd_buf out = DD_BUF_INIT;
    dd_buf_init(&out);
    const char *p = name;
    while (*p) {
        while (*p == '/')
            p++;
        const char *end = strchrnul(p, '/');
        size_t n = (size_t)(end - p);
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            dd_buf_release(&out);
            return dd_err_set(e, EINVAL, "invalid tar entry \"%s\": path escapes the target", name);
        }
        if (n > 0 && !(n == 1 && p[0] == '.')) {
            if (out.len)
                dd_buf_addc(&out, '/');
            dd_buf_add(&out, p, n);
        }
        p = end;
    }
    if (!out.len)
        dd_buf_addc(&out, '.');
    *ret = dd_buf_detach(&out, NULL);
    return 0;
}

struct tar_guard {
    json_t *symlinks; /* set of cleaned paths the archive made symlinks */
};

tar_guard *tar_guard_new(void)
{
    tar_guard *g = dd_calloc(1, sizeof(*g));
    g->symlinks = json_object();
    return g;
}

void tar_guard_free(tar_guard *g)
{
    if (!g)
        return;
    json_decref(g->symlinks);
    free(g);
}

/* Fails if a proper ancestor of path (or path itself when `self`) is a recorded symlink. */
static int guard_walk(tar_guard *g, const char *entry, const char *path, bool self, dd_err *e)
{
    if (json_object_size(g->symlinks) == 0)
        return 0;
    _cleanup_free_ char *p = dd_strdup(path);
    for (char *s = p; (s = strchr(s, '/')); s++) {
        *s = '\0';
        bool hit = json_object_get(g->symlinks, p) != NULL;
        *s = '/';
        if (hit)
            return dd_err_set(
                e, EINVAL, "invalid tar entry \"%s\": path goes through a symlink in the archive",
                entry);
    }
    if (self && json_object_get(g->symlinks, p))
        return dd_err_set(e, EINVAL,
                          "invalid tar entry \"%s\": hard link to a symlink in the archive", entry);
    return 0;
}

int tar_guard_check(tar_guard *g, const char *path, const char *link_target, bool is_symlink,
                    dd_err *e)
{
    int r = guard_walk(g, path, path, false, e);
    if (r < 0)
        return r;
    if (link_target) {
        r = guard_walk(g, path, link_target, false, e);
        if (r < 0)
            return r;
    }
    if (is_symlink)
        json_object_set_new(g->symlinks, path, json_true());
    else
        json_object_del(g->symlinks, path);
    return 0;
}

static void archive_freep(struct archive **a)
{
    if (*a)
        archive_read_free(*a);
}

static int open_reader(const tar_src *src, struct archive **ret, dd_err *e)
{
    struct archive *a = archive_read_new();
    if (!a)
        return dd_err_set(e, ENOMEM, "libarchive: out of memory");
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    int r = src->fd >= 0 ? archive_read_open_fd(a, src->fd, 64 * 1024)
                         : archive_read_open_memory(a, src->mem, src->len);
    if (r != ARCHIVE_OK) {
        int code = archive_errno(a) > 0 ? archive_errno(a) : EINVAL;
        dd_err_set(e, code, "reading tar: %s", archive_error_string(a));
        archive_read_free(a);
        return -code;
    }
    *ret = a;
    return 0;
}

static int read_error(struct archive *a, dd_err *e)
{
    /* format errors carry libarchive's private errno values: report them as bad input */
    int code = archive_errno(a) == EIO || archive_errno(a) == ENOMEM ? archive_errno(a) : EINVAL;
    return dd_err_set(e, code, "reading tar: %s", archive_error_string(a));
}

/* Cleans and guards one entry; rewrites its names in place to the cleaned relative forms. */
static int check_entry(tar_guard *g, struct archive_entry *ent, char **ret_path, dd_err *e)
{
    const char *name = archive_entry_pathname(ent);
    if (!name)
        return dd_err_set(e, EINVAL, "invalid tar entry: no name");
    _cleanup_free_ char *path = NULL, *target = NULL;
    int r = tar_path_clean(name, &path, e);
    if (r < 0)
        return r;
    const char *hl = archive_entry_hardlink(ent);
    if (hl) {
        r = tar_path_clean(hl, &target, e);
        if (r < 0)
            return r;
        if (strcmp(target, ".") == 0)
            return dd_err_set(e, EINVAL, "invalid tar entry \"%s\": hard link to the root", name);
    }
    r = tar_guard_check(g, path, target, archive_entry_filetype(ent) == AE_IFLNK, e);
    if (r < 0)
        return r;
    archive_entry_copy_pathname(ent, path);
    if (target)
        archive_entry_copy_hardlink(ent, target);
    *ret_path = TAKE_PTR(path);
    return 0;
}

int tar_check(const tar_src *src, size_t *ret_entries, dd_err *e)
{
    _cleanup_(archive_freep) struct archive *a = NULL;
    int r = open_reader(src, &a, e);
    if (r < 0)
        return r;
    tar_guard *g = tar_guard_new();
    size_t n = 0;
    struct archive_entry *ent;
    for (;;) {
        r = archive_read_next_header(a, &ent);
        if (r == ARCHIVE_EOF) {
            r = 0;
            break;
        }
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            r = read_error(a, e);
            break;
        }
        _cleanup_free_ char *path = NULL;
        r = check_entry(g, ent, &path, e);
        if (r < 0)
            break;
        n++;
    }
    tar_guard_free(g);
    if (r == 0 && ret_entries)
        *ret_entries = n;
    return r;
}

static int check_overwrite(const tar_extract_opts *o, struct archive_entry *ent, const char *path,
                           dd_err *e)
{
    struct stat st;
    if (!o->no_overwrite_dir_non_dir || lstat(path, &st) < 0)
        return 0;
    bool ent_dir = archive_entry_filetype(ent) == AE_IFDIR;
    const char *root = o->display_root ? o->display_root : ".";
    if (S_ISDIR(st.st_mode) && !ent_dir)
        return dd_err_set(e, EISDIR, "cannot overwrite directory \"%s\" with non-directory \"%s\"",
                          root, path);
    if (!S_ISDIR(st.st_mode) && ent_dir)
        return dd_err_set(e, ENOTDIR, "cannot overwrite non-directory \"%s\" with directory \"%s\"",
                          root, path);
    return 0;
}

static int write_error(struct archive *w, const char *path, dd_err *e)
{
    int code = archive_errno(w) > 0 ? archive_errno(w) : EIO;
    return dd_err_set(e, code, "extracting \"%s\": %s", path, archive_error_string(w));
}

static int extract_one(struct archive *a, struct archive *w, struct archive_entry *ent,
                       const char *path, dd_err *e)
{
    int r = archive_write_header(w, ent);
    if (r < ARCHIVE_WARN)
        return write_error(w, path, e);
    if (archive_entry_size(ent) > 0 && r == ARCHIVE_OK) {
        const void *buf;
        size_t len;
        la_int64_t off;
        while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK) {
            if (archive_write_data_block(w, buf, len, off) < ARCHIVE_OK)
                return write_error(w, path, e);
        }
        if (r != ARCHIVE_EOF)
            return read_error(a, e);
    }
    if (archive_write_finish_entry(w) < ARCHIVE_WARN)
        return write_error(w, path, e);
    return 0;
}

static struct archive *new_disk_writer(void)
{
    struct archive *w = archive_write_disk_new();
    if (!w)
        return NULL;
    archive_write_disk_set_options(w, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
                                          ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_XATTR |
                                          ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                          ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS);
    return w;
}

static int extract_all(struct archive *a, struct archive *w, const tar_extract_opts *o, dd_err *e)
{
    tar_guard *g = tar_guard_new();
    struct archive_entry *ent;
    int r;
    for (;;) {
        r = archive_read_next_header(a, &ent);
        if (r == ARCHIVE_EOF) {
            r = 0;
            break;
        }
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            r = read_error(a, e);
            break;
        }
        _cleanup_free_ char *path = NULL;
        r = check_entry(g, ent, &path, e);
        if (r < 0)
            break;
        if (strcmp(path, ".") == 0)
            continue; /* never re-mode or re-own the extraction root itself */
        r = check_overwrite(o, ent, path, e);
        if (r < 0)
            break;
        if (o->chown_set) {
            archive_entry_set_uid(ent, o->uid);
            archive_entry_set_gid(ent, o->gid);
        }
        r = extract_one(a, w, ent, path, e);
        if (r < 0)
            break;
    }
    tar_guard_free(g);
    return r;
}

int tar_extract(const tar_src *src, const tar_extract_opts *o, dd_err *e)
{
    static const tar_extract_opts defaults;
    _cleanup_(archive_freep) struct archive *a = NULL;
    int r = open_reader(src, &a, e);
    if (r < 0)
        return r;
    struct archive *w = new_disk_writer();
    if (!w)
        return dd_err_set(e, ENOMEM, "libarchive: out of memory");
    r = extract_all(a, w, o ? o : &defaults, e);
    if (archive_write_close(w) != ARCHIVE_OK && r == 0)
        r = write_error(w, ".", e);
    archive_write_free(w);
    return r;
}
