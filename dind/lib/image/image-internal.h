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

/* Whether the store has layer diff_id unpacked; *ret_size gets its size. */
bool img_layer_known(img_store *st, const char *diff_id, int64_t *ret_size);

/* ---- manifest.c: manifests and indexes (untrusted input) ---- */

#define IMG_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define IMG_MT_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
#define IMG_MT_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define IMG_MT_OCI_INDEX       "application/vnd.oci.image.index.v1+json"
#define IMG_MT_DOCKER_CONFIG   "application/vnd.docker.container.image.v1+json"
#define IMG_MT_DOCKER_LAYER    "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define IMG_MAX_MANIFEST       (4u << 20)
#define IMG_MAX_CONFIG         (8u << 20)

typedef struct img_descriptor {
    char *media_type;
    char digest[72];
    int64_t size;
    char *os, *arch, *variant; /* index entries only; may be NULL */
} img_descriptor;

typedef struct img_manifest {
    bool is_index;
    char *media_type;
    img_descriptor config; /* image manifests */
    size_t n;
    img_descriptor *items; /* layers (base first) or the index's manifests */
} img_manifest;

/* Parses a manifest or index. content_type (the response's, may be NULL) and the document's own
 * mediaType must agree when both are present; schema 1 is refused. */
int img_manifest_parse(const char *content_type, const char *data, size_t len, img_manifest *ret,
                       dd_err *e);
void img_manifest_release(img_manifest *m);
/* Picks the index entry for platform "os/arch[/variant]" (NULL = linux/<this machine>); -ENOENT
 * "no matching manifest for linux/amd64 in the manifest list entries" when none fits. */
int img_manifest_choose(const img_manifest *idx, const char *platform, size_t *ret_index,
                        dd_err *e);
/* This machine's platform in OCI words ("linux/amd64", "linux/arm64/v8"). */
const char *img_host_platform(void);

/* ---- auth.c: challenges ---- */

typedef struct img_challenge {
    char scheme[16]; /* "bearer", "basic" (lowercased) or "" */
    char *realm, *service, *scope, *error, *error_description;
} img_challenge;

/* Parses a WWW-Authenticate value; keeps the first Bearer or Basic challenge. */
int img_challenge_parse(const char *value, img_challenge *ret, dd_err *e);
void img_challenge_release(img_challenge *c);
/* Decodes base64 or base64url, padding optional; NUL-terminates; NULL on bad input. */
char *img_base64_decode(const char *s, size_t *ret_len);

/* ---- registry.c: one repository on one registry, over libcurl ---- */

typedef struct img_reg img_reg;

/* A request; url is absolute or relative to the repository ("manifests/latest"). A 2xx body
 * goes to out_fd (hashed into hash) when out_fd >= 0, else into the response's body. */
typedef struct img_reg_req {
    const char *method; /* NULL = GET */
    const char *url;
    const char *accept;
    const char *content_type;
    const void *body; /* in-memory upload */
    size_t body_len;
    int body_fd; /* file upload of body_fd_len bytes from offset 0 when >= 0 */
    int64_t body_fd_len;
    int out_fd;
    img_hash *hash;
    size_t max_body;
    img_progress_fn progress; /* "Downloading"/"Pushing" for id */
    void *ud;
    const char *id;
    int64_t total;
} img_reg_req;

typedef struct img_reg_resp {
    long status;
    char *content_type, *location, *digest; /* Content-Type, Location, Docker-Content-Digest */
    char *www_auth;
    dd_buf body;
    int64_t received;
} img_reg_resp;

void img_reg_resp_release(img_reg_resp *r);
/* Finds a working endpoint (mirrors first) and its auth scheme for ref's repository; actions
 * is "pull" or "pull,push". */
int img_reg_open(const img_registries *regs, const img_ref *ref, const img_auth *auth,
                 const char *actions, const volatile bool *cancel, img_reg **ret, dd_err *e);
void img_reg_close(img_reg *r);
/* Performs q (retrying once with fresh credentials on a 401). Transport failures are errors
 * ('Get "url": ...'); any HTTP status is returned in *resp for the caller to judge. */
int img_reg_do(img_reg *r, const img_reg_req *q, img_reg_resp *resp, dd_err *e);
/* The registry's error in the v2 client's words ("manifest unknown: manifest unknown",
 * "denied: requested access to the resource is denied"); *ret_code gets the error code
 * ("MANIFEST_UNKNOWN", "DENIED", "UNAUTHORIZED", "NAME_UNKNOWN", ...) or "". Caller frees. */
char *img_reg_error_text(const img_reg_resp *resp, char ret_code[32]);
/* "https://host" of the chosen endpoint (for messages). */
const char *img_reg_base(const img_reg *r);
/* Whether host ("h[:port]") may use plain HTTP under regs. */
bool img_reg_insecure(const img_registries *regs, const char *host);

/* The tag list for an optional reference given to import/commit (empty for none); a digest
 * reference is refused with digest_refusal, as dockerd words it for that command. */
int img_tags_for_ref(const char *ref, const char *digest_refusal, char ***tags, dd_err *e);

#endif
