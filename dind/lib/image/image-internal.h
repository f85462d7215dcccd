/* Internals shared by the image module's files: the store struct, sha256 helpers, the safe tar
 * unpacker and the record queries. Nothing
 * outside dind/lib/image includes this (the fuzz harness and unit tests excepted). */
#ifndef DIND_IMAGE_INTERNAL_H
#define DIND_IMAGE_INTERNAL_H

#include <archive.h>
#include <archive_entry.h>
#include <sqlite3.h>
#include <stdio.h>

#include "dind/image.h"
#include "dind/json.h"

struct img_store {
    char *root;
    bool readonly;
    sqlite3 *db;
};

/* ---- ref.c ---- */
bool img_is_hex(const char *s, size_t n);
bool img_digest_valid(const char *d); /* "sha256:<64 lower hex>" */

/* ---- digest.c: streaming sha256 (OpenSSL EVP) ---- */
typedef struct img_hash img_hash;
img_hash *img_hash_new(void);
void img_hash_update(img_hash *h, const void *data, size_t len);
/* Writes "sha256:<hex>" into out (72 bytes) and frees h. */
void img_hash_final(img_hash *h, char out[72]);
void img_hash_freep(img_hash **h);
void img_sha256_str(const void *data, size_t len, char out[72]);
/* Hashes a file's bytes. */
int img_sha256_file(int dirfd, const char *path, char out[72], dd_err *e);

/* ---- unpack.c ---- */

enum img_unpack_flags {
    IMG_UNPACK_PLAIN = 1u << 0, /* an outer archive: files, dirs, symlinks only; no owners, no
                                   whiteout translation */
};
/* Extracts every entry of an opened archive into the directory root_path (which must exist).
 * Refuses names that escape, parents that are symlinks, hardlinks to outside targets. Whiteouts
 * become overlay whiteouts. *ret_size (may be NULL) gets the sum of regular file and symlink sizes
 * (dockerd's Size). */
int img_unpack(struct archive *a, const char *root_path, unsigned flags, int64_t *ret_size,
               dd_err *e);
/* A reader for tar, optionally gzip/bzip2/xz/zstd-compressed, on fd. NULL on OOM. */
struct archive *img_tar_reader(int fd);
/* A reader that yields the decompressed bytes of fd (any supported compression or none). */
struct archive *img_raw_reader(int fd);
void img_archive_freep(struct archive **a);
#define _cleanup_archive_ _cleanup_(img_archive_freep)
/* Opens path beneath dirfd without following any symlink (O_RDONLY). */
int img_open_beneath(int dirfd, const char *path, int flags, dd_err *e);
/* Opens a staging-tree file, following symlinks but never leaving the tree (RESOLVE_IN_ROOT). */
int img_open_in_root(int dirfd, const char *path, dd_err *e);

/* ---- store.c ---- */
char *img_store_path(const img_store *st, const char *fmt, ...) DD_PRINTF(2, 3);
/* "sha256:<hex>" → "<root>/layers/sha256/<hex>", "<root>/blobs/sha256/<hex>" */
char *img_layer_dir(const img_store *st, const char *digest);
char *img_blob_path(const img_store *st, const char *digest);
/* A fresh staging dir under tmp/ (caller removes it). */
int img_stage_dir(img_store *st, const char *what, char **ret, dd_err *e);
int img_db_exec(img_store *st, const char *sql, dd_err *e);
int img_db_begin(img_store *st, dd_err *e);
int img_db_commit(img_store *st, dd_err *e);
void img_db_rollback(img_store *st);
sqlite3_stmt *img_db_prepare(img_store *st, const char *sql, dd_err *e);
void img_stmt_freep(sqlite3_stmt **s);
#define _cleanup_stmt_ _cleanup_(img_stmt_freep)
int img_db_err(img_store *st, dd_err *e, const char *what);
/* Loads the record of a full ID ("sha256:<hex>"); -ENOENT if absent. */
int img_image_load(img_store *st, const char *id, img_image **ret, dd_err *e);
/* Image ID a fully qualified reference points to, or NULL. */
char *img_ref_target(img_store *st, const char *full_ref);
/* Sets (moves) a reference; *ret_prev gets the ID it pointed to before if different. */
int img_ref_set(img_store *st, const char *full_ref, const char *id, char **ret_prev, dd_err *e);
/* Every fully qualified reference pointing at id. */
char **img_refs_of(img_store *st, const char *id);

/* ---- ingest.c: layers and image records ---- */

/* A verified, unpacked layer staged under a load's tmp dir, ready to be renamed into place. */
typedef struct img_layer_stage {
    char diff_id[72];
    int64_t size;
    char *blob_tmp; /* staged uncompressed tar, NULL if the store had it */
    char *dir_tmp;  /* staged unpacked dir, NULL if the store had it */
} img_layer_stage;

/* Decompresses fd into a staged blob while hashing; verifies against want_diff_id when not NULL
 * (and the compressed bytes against want_blob_digest when not NULL); unpacks it. */
int img_layer_ingest(img_store *st, const char *stage, int fd, const char *want_blob_digest,
                     const char *want_diff_id, img_layer_stage *ret, dd_err *e);
void img_layer_stage_release(img_layer_stage *l);

/* An image about to be committed: config bytes, layers, tags (fully qualified). */
typedef struct img_pending {
    char id[72];
    char *config; /* raw config JSON */
    size_t config_len;
    size_t n_layers;
    img_layer_stage *layers;
    char **tags; /* fully qualified "domain/path:tag" */
} img_pending;

void img_pending_release(img_pending *p);
/* import.c: applies one Dockerfile-style change ("ENV A=b", "CMD [\"x\"]", ...) to a run config. */
int img_config_apply_change(json_t *cfg, const char *change, dd_err *e);
/* Validates a config (JSON object, rootfs.diff_ids count = n_layers). */
int img_config_check(const char *data, size_t len, size_t n_layers, dd_err *e);
/* Moves staged blobs/layers into place and records images + tags in one transaction. Fills ret. */
int img_commit(img_store *st, img_pending *imgs, size_t n, img_load_result *ret, dd_err *e);

#endif
