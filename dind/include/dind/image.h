/* image: Docker image references and a content-addressed image store. Prefix: img_.
 *
 * References follow Docker's normalisation: `busybox` = `busybox:latest` =
 * `docker.io/library/busybox:latest`; `localhost:5000/x`, `127.0.0.1:5000/busybox:v1` and digests
 * (`name@sha256:<64 hex>`) are understood. The familiar form (`myrepo/bb:v1`, `busybox:latest`) is
 * what lists and messages show. Parse errors carry dockerd's texts ("invalid reference format",
 * "invalid reference format: repository name must be lowercase") with code EINVAL.
 *
 * Store layout under <root> (the daemon passes <data-root>/image). Everything but images.db is
 * content-addressed and immutable once renamed into place, so another process (a node container)
 * may share the tree read-only (IMG_STORE_READONLY):
 *     blobs/sha256/<hex>      configs and uncompressed layer tars (the tar's digest is its diffID)
 *     layers/sha256/<hex>/    each layer unpacked by diffID: a read-only overlay lower dir, with
 *                             whiteouts in overlay form (char device 0/0, trusted.overlay.opaque=y)
 *     images.db               sqlite (WAL): image records, their layers, the tag/digest index
 *     tmp/                    staging; emptied when a writable store opens
 * An image's ID is the sha256 of its config blob ("sha256:<hex>"). Writes are atomic: a failed
 * load or import leaves nothing behind (staging + rename + one transaction).
 *
 * Errors: missing image → -ENOENT "No such image: <ref as given>"; bad reference → -EINVAL;
 * deleting an image that is in use or referenced several times → -EBUSY (the daemon maps it to
 * 409) with dockerd's "conflict: unable to delete ..." text; hostile archives → -EINVAL.
 *
 * Threads: an img_store handle is used by one thread at a time. Calls block on disk I/O; to keep
 * an event loop responsive, run img_load/img_import on a worker thread with its own
 * IMG_STORE_SECONDARY handle (commits are serialised by sqlite's write lock).
 */
#ifndef DIND_IMAGE_H
#define DIND_IMAGE_H

#include <jansson.h>
#include <sys/types.h>

#include "dind/base.h"

/* ---- references ---- */

/* A parsed, normalised reference. domain is never NULL ("docker.io" by default); path is the
 * repository path ("library/busybox"); at least one of tag/digest is set after img_ref_parse()
 * (tag "latest" when neither was given), unless IMG_REF_NAME_ONLY was asked for. */
typedef struct img_ref {
    char *domain;
    char *path;
    char *tag;    /* NULL if absent */
    char *digest; /* "sha256:<hex>" or NULL */
} img_ref;

enum img_ref_flags {
    IMG_REF_NAME_ONLY = 1u << 0, /* do not add ":latest" when tag and digest are absent */
};

/* Parses and normalises s. Rejects a bare 64-hex string (that is an ID, not a name) like dockerd.
 * On failure *ret is zeroed and e holds dockerd's message. */
int img_ref_parse(const char *s, unsigned flags, img_ref *ret, dd_err *e);
void img_ref_release(img_ref *r);
/* "docker.io/library/busybox" (no tag/digest); caller frees. */
char *img_ref_name(const img_ref *r);
/* Fully qualified with tag and/or digest: "docker.io/library/busybox:latest"; caller frees. */
char *img_ref_string(const img_ref *r);
/* Familiar repository ("busybox", "myrepo/bb", "localhost:5000/x"); caller frees. */
char *img_ref_familiar_name(const img_ref *r);
/* Familiar with tag/digest ("busybox:latest", "myrepo/bb@sha256:..."); caller frees. */
char *img_ref_familiar(const img_ref *r);
/* Familiar form of an already fully qualified string as stored ("docker.io/library/x:1" →
 * "x:1"); caller frees. */
char *img_familiar(const char *full);
/* Docker's tag grammar: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. */
bool img_tag_valid(const char *tag);

/* ---- the store ---- */

typedef struct img_store img_store;

enum img_store_flags {
    IMG_STORE_READONLY = 1u << 0, /* a consumer sharing another process's store */
    /* Another handle on a store that a primary handle (which cleaned tmp/) already has open, for
     * a worker thread: handles share nothing in memory; sqlite serialises their writes. */
    IMG_STORE_SECONDARY = 1u << 1,
};

/* Opens (creating when writable) the store rooted at root. */
int img_store_open(const char *root, unsigned flags, img_store **ret, dd_err *e);
void img_store_close(img_store *st); /* NULL-safe */
const char *img_store_root(const img_store *st);

/* One image as callers see it. Every field is owned by the struct (img_image_free). */
typedef struct img_image {
    char id[72];         /* "sha256:<64 hex>" */
    char **repo_tags;    /* familiar form, sorted: "myrepo/bb:v1"; never NULL (may be empty) */
    char **repo_digests; /* familiar form: "127.0.0.1:5000/bb@sha256:..."; never NULL */
    int64_t created_ns;  /* the config's "created", 0 if absent */
    int64_t loaded_ns;   /* when the store got it (Metadata.LastTagTime for a fresh load) */
    int64_t size;        /* sum of the layers' unpacked content sizes (Docker's Size) */
    json_t *config;      /* the whole image config JSON (architecture, os, config{Env, Cmd,
                          * Entrypoint, WorkingDir, User, ExposedPorts, Volumes, Labels,
                          * StopSignal, Healthcheck}, rootfs, history, ...) */
    size_t n_layers;
    char **diff_ids;      /* "sha256:<hex>", base layer first, n_layers entries */
    char **layer_dirs;    /* absolute unpacked dirs, TOP layer first (overlay lowerdir order) */
    int64_t *layer_sizes; /* unpacked content size of each layer, base layer first */
} img_image;

void img_image_free(img_image *img); /* NULL-safe */
/* The config's "config" object (Env, Cmd, ...) or NULL when absent; borrowed from img. */
json_t *img_image_runconfig(const img_image *img);
/* Docker's ChainIDs ("sha256:..."), base layer first; caller frees with dd_strv_free. */
char **img_image_chain_ids(const img_image *img);

/* Resolves a reference, a full ID ("sha256:<hex>" or 64 hex), or a unique ID prefix (with or
 * without "sha256:"), in dockerd's order: the name first, then the ID. -ENOENT with
 * "No such image: <s>" when nothing matches; -EINVAL for an unparsable reference. */
int img_lookup(img_store *st, const char *s, img_image **ret, dd_err *e);
/* Every image, newest first. *ret is a NULL-terminated array; free with img_image_list_free. */
int img_list(img_store *st, img_image ***ret, dd_err *e);
void img_image_list_free(img_image **list);

/* ---- tags ---- */

/* Points repo:tag at the image that src resolves to. repo may be fully qualified
 * ("docker.io/myrepo/bb") and must carry no tag or digest; tag NULL or "" means "latest". A tag
 * already on another image moves (that image may become dangling). On success *ret_full (if not
 * NULL) gets the familiar "repo:tag" and *ret_id (if not NULL) the image ID; caller frees. */
int img_tag(img_store *st, const char *src, const char *repo, const char *tag, char **ret_full,
            char **ret_id, dd_err *e);

/* ---- removal ---- */

/* The daemon's answer to "which container uses image id?": fill *ret_cid (64 hex) and *ret_running
 * and return true if one does; prefer reporting a running container over a stopped one. */
typedef bool (*img_in_use_fn)(void *ud, const char *image_id, char ret_cid[65], bool *ret_running);

/* Docker's `rmi`: untags a name, deletes the image when no reference is left (and its layers that
 * no other image uses). *ret_items is dockerd's response list, e.g.
 *     [{"Untagged":"myrepo/bb:v1"},{"Deleted":"sha256:<id>"},{"Deleted":"sha256:<chain id>"}]
 * Conflicts give -EBUSY with dockerd's text. noprune is accepted (there are no parent images). */
int img_remove(img_store *st, const char *s, bool force, bool noprune, img_in_use_fn in_use,
               void *ud, json_t **ret_items, dd_err *e);

/* A forced delete of an image that a (stopped) container uses keeps the image's layers: they are
 * the container's overlay lower dirs. img_gc() deletes layers no image references any more,
 * except those busy() reports in use (e.g. listed as lowerdir of a live overlay mount). Returns
 * the number of layers deleted; *ret_reclaimed (may be NULL) gets their size. */
typedef bool (*img_layer_busy_fn)(void *ud, const char *layer_dir);
int img_gc(img_store *st, img_layer_busy_fn busy, void *ud, int64_t *ret_reclaimed, dd_err *e);

/* ---- load / import / save ---- */

/* One loaded or imported image, in the order found. */
typedef struct img_loaded {
    char id[72];
    char **tags;  /* familiar "repo:tag" that now point at it; may be empty, never NULL */
    char **moved; /* lines like "The image x:1 already exists, renaming the old one with ID
                     sha256:... to empty string" for tags taken from another image */
} img_loaded;

typedef struct img_load_result {
    size_t n;
    img_loaded *images;
} img_load_result;

void img_load_result_release(img_load_result *r);

/* Loads a `docker save` archive from fd (read to EOF; any fd, blocking): docker-archive
 * (manifest.json, legacy <id>/layer.tar or Docker 25+ blobs/sha256/...) or an OCI layout
 * (oci-layout, index.json; names from io.containerd.image.name /
 * org.opencontainers.image.ref.name). Layers may be uncompressed, gzip or zstd; every digest is
 * verified. Atomic: on failure nothing is stored. */
int img_load(img_store *st, int fd, img_load_result *ret, dd_err *e);

/* Docker's `import`: a rootfs tar (optionally compressed) from fd becomes a one-layer image.
 * ref may be NULL (an untagged image) or "repo[:tag]". changes are Dockerfile instructions
 * (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL, ONBUILD is refused);
 * message becomes the history comment (default "Imported from -"). */
int img_import(img_store *st, int fd, const char *ref, char *const *changes, const char *message,
               img_load_result *ret, dd_err *e);

/* Docker's `commit`: a new image made of the parent image's layers plus one layer read from
 * layer_fd (an uncompressed tar in the image layer format: deletions as ".wh.<name>" entries,
 * opaque directories with ".wh..wh..opq"). Its config is the parent's with "config" replaced by
 * run_config after the changes (Dockerfile instructions, as for import) are applied, and
 * container, author, comment, created and a history entry set. ref may be NULL (untagged). */
typedef struct img_commit_opts {
    const char *parent_id;    /* "sha256:..." */
    const json_t *run_config; /* the container's Config */
    char *const *changes;
    const char *ref, *author, *comment, *container_id, *created_by;
} img_commit_opts;
int img_commit_container(img_store *st, const img_commit_opts *o, int layer_fd,
                         img_load_result *ret, dd_err *e);

/* `docker save` as a pull-model stream (h2o generator style): img_save_read() fills buf with the
 * next bytes of a docker-archive tar (manifest.json, repositories, blobs/sha256/<config>,
 * blobs/sha256/<diffID> layer tars) and returns the count, 0 at the end, or -errno. names are
 * references or IDs; a repository without a tag saves all its tags. Errors resolving names come
 * from img_save_open, before any byte is produced. */
typedef struct img_save img_save;
int img_save_open(img_store *st, char *const *names, img_save **ret, dd_err *e);
ssize_t img_save_read(img_save *s, void *buf, size_t len, dd_err *e);
void img_save_close(img_save *s); /* NULL-safe */
/* Convenience: the whole archive to a blocking fd. */
int img_save_fd(img_store *st, char *const *names, int fd, dd_err *e);

/* ---- registries (Docker Registry HTTP API v2) ----
 *
 * Docker's rules: docker.io is reached at registry-1.docker.io; registries on localhost and
 * 127.0.0.0/8, and those listed as insecure, may be spoken to over plain HTTP (HTTPS without
 * certificate checks is tried first, like dockerd); every other registry is HTTPS only. Mirrors
 * of a registry are tried in order before the registry itself. Auth follows the registry's
 * WWW-Authenticate challenge: Bearer tokens (anonymous, username/password or an identity token)
 * or Basic. Calls block on the network: run them on a worker thread. */

/* Credentials; every field may be NULL. */
typedef struct img_auth {
    char *username;
    char *password;
    char *identity_token; /* an OAuth refresh token (docker login with a token service) */
    char *registry_token; /* a bearer token used as is */
    char *server;         /* serveraddress, informational */
} img_auth;

void img_auth_release(img_auth *a);
/* Decodes Docker's X-Registry-Auth header: base64url (or standard base64, padding optional) of
 * a JSON object {username, password, auth ("user:pass" in base64), identitytoken,
 * registrytoken, serveraddress}. NULL, "" and "{}" give empty credentials. -EINVAL on garbage. */
int img_auth_decode(const char *header, img_auth *ret, dd_err *e);
/* The same fields from an already parsed object (the body of POST /auth). */
int img_auth_from_json(const json_t *o, img_auth *ret, dd_err *e);

/* What one registry host gets: mirrors, transport security, default credentials. The settings
 * of an endpoint (a mirror or the registry itself) come from the entry named by the endpoint's
 * own host (as in k3s's registries.yaml `configs`), credentials falling back to the entry of the
 * reference's registry (pull secrets are keyed by it). */
typedef struct img_registry_host {
    char *host;       /* as in references: "docker.io", "localhost:5000"; "*" = every host */
    char **endpoints; /* mirror base URLs ("http://127.0.0.1:5001"), tried in order */
    bool insecure;    /* plain HTTP allowed, TLS certificates not verified */
    img_auth auth;    /* used when the caller passes no credentials */
    char *ca_file;    /* PEM CA bundle for this host's TLS, or NULL (system CAs) */
    char *cert_file;  /* client certificate + key (PEM) for TLS, or NULL */
    char *key_file;
} img_registry_host;

typedef struct img_registries {
    char **insecure; /* --insecure-registry values: "host[:port]" or a CIDR */
    size_t n_hosts;
    img_registry_host *hosts;
} img_registries;

void img_registries_release(img_registries *r);
/* The entry for host, added (empty) when absent; borrowed from r. */
img_registry_host *img_registries_host(img_registries *r, const char *host);
/* Merges a kubernetes.io/dockerconfigjson document ({"auths": {server: {username, password,
 * auth}}}) into r's per-host credentials. */
int img_registries_add_dockerconfig(img_registries *r, const char *json, size_t len, dd_err *e);

/* Progress of a pull or push, in dockerd's words: id is a layer's short digest (12 hex), the tag
 * for "Pulling from ...", or NULL; detail says whether dockerd sends a progressDetail object;
 * total is 0 when unknown; current/total are meaningful for "Downloading"/"Pushing". */
typedef void (*img_progress_fn)(void *ud, const char *id, const char *status, bool detail,
                                int64_t current, int64_t total);

typedef struct img_pull_opts {
    const img_registries *registries; /* may be NULL */
    const img_auth *auth;             /* may be NULL: the registry entry's, else anonymous */
    const char *platform;             /* "os/arch[/variant]"; NULL = linux/<this machine> */
    img_progress_fn progress;         /* may be NULL */
    void *ud;
    const volatile bool *cancel; /* may be NULL; set (from another thread) to abort: -ECANCELED */
    bool all_tags; /* a reference without tag or digest pulls every tag (docker pull -a) */
} img_pull_opts;

typedef struct img_pull_result {
    char id[72];     /* the image ID */
    char digest[72]; /* the manifest (or index) digest */
    bool up_to_date; /* the reference already pointed at this image */
} img_pull_result;

/* Pulls ref (normalised like img_ref_parse) into the store and tags it (and records
 * name@digest). Errors carry dockerd's texts: -ENOENT "manifest for x:y not found: manifest
 * unknown: ...", "repository x not found: ...", "pull access denied for x, repository does not
 * exist or may require 'docker login': ..."; -EIO for transport failures ("Get \"https://h/v2/\":
 * ..."); -EINVAL for a bad reference or malformed content. Nothing is stored on failure. */
int img_pull(img_store *st, const char *ref, const img_pull_opts *o, img_pull_result *ret,
             dd_err *e);

/* Pushes the local image ref (which must name a repository on a registry) with its tag;
 * -ENOENT "An image does not exist locally with the tag: x" when absent. Progress as in
 * dockerd ("The push refers to repository [h/x]", per layer "Preparing", "Pushing", "Pushed" or
 * "Layer already exists", then "<tag>: digest: sha256:... size: N"). */
int img_push(img_store *st, const char *ref, const img_pull_opts *o, dd_err *e);

/* `docker login`: checks the credentials against server's /v2/ (and its token service). A
 * token service that returns a refresh token fills *ret_identity_token (may be NULL). -EACCES
 * with the registry's words when refused. */
int img_registry_login(const img_registries *regs, const char *server, const img_auth *auth,
                       char **ret_identity_token, dd_err *e);

#endif
