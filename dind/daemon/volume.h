/* volume: dindd's named volumes with Docker's "local" driver. Prefix: vol_.
 *
 * A volume is a directory <data-root>/volumes/<name>/_data that containers mount (a bind mount
 * in their mount namespace). Its record (name, driver, labels, options, creation time, whether it
 * was created anonymously for one container) lives in <data-root>/dindd.db (table volumes), so
 * volumes survive daemon restarts. Names follow dockerd's rule ([a-zA-Z0-9][a-zA-Z0-9_.-]+);
 * anonymous volumes get a random 64-hex name. Of the local driver's mount options (type, device,
 * o) only a bind of a host directory is supported (type=none, o=bind, device=/abs/path):
 * containers then mount the device directly; other mounts are refused with a clear error.
 *
 * The store knows nothing of containers: whether a volume is in use is asked of the container
 * store by the API (volumes.c) and container removal (ctr-volumes.c). Everything runs on the
 * event-loop thread.
 *
 * Errors: ENOENT "get <name>: no such volume"; EINVAL bad names/options; EBUSY in use (the
 * callers' message); EIO database and file-system failures.
 */
#ifndef DINDD_VOLUME_H
#define DINDD_VOLUME_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "dind/base.h"

struct vol {
    char *name;
    char *driver;    /* "local" */
    json_t *labels;  /* object, never NULL */
    json_t *options; /* DriverOpts, object, never NULL */
    int64_t created_ns;
    bool anonymous; /* created for one container's unnamed mount: goes with `rm -v` */
};

struct vol_store;

/* Opens (creating) the volumes table of <data_root>/dindd.db and loads every volume. */
int vol_store_open(const char *data_root, struct vol_store **ret, dd_err *e);
void vol_store_free(struct vol_store *s); /* NULL-safe */

/* dockerd's local-driver name check: -EINVAL "volume name is too short, names should be at least
 * two alphanumeric characters" or "\"x y\" includes invalid characters for a local volume name,
 * only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use
 * absolute path". */
int vol_name_validate(const char *name, dd_err *e);

/* NULL when absent. The pointer stays valid until the volume is removed. */
struct vol *vol_find(struct vol_store *s, const char *name);
int vol_lookup(struct vol_store *s, const char *name, struct vol **ret, dd_err *e);
/* A NULL-terminated snapshot, sorted by name; free the array only. */
struct vol **vol_list(struct vol_store *s, size_t *ret_n);

/* Creates a volume (name NULL or "" = a random one). An existing volume of that name is returned
 * as it is (*ret_created false), as dockerd does. driver NULL = "local"; labels and opts may be
 * NULL. Emits the volume "create" event. */
int vol_create(struct vol_store *s, const char *name, const char *driver, const json_t *labels,
               const json_t *opts, bool anonymous, struct vol **ret, bool *ret_created, dd_err *e);
/* Deletes the record and the directory (the caller checked it is unused); emits "destroy". */
int vol_remove(struct vol_store *s, struct vol *v, dd_err *e);

/* <data_root>/volumes/<name>/_data (caller frees). */
char *vol_data_path(const char *data_root, const char *name);
/* Where containers mount it from: the device of a bind volume (o=bind), else its _data. */
char *vol_mount_source(const char *data_root, const struct vol *v);
/* The volume as GET /volumes/{name} shows it. */
json_t *vol_json(struct vol_store *s, const struct vol *v);
/* Bytes used below the volume's _data (for system df). */
int64_t vol_size(struct vol_store *s, const struct vol *v);

#endif
