/* ctr-volumes: a container's volume mounts (ctr-volumes.c) and the copy-up of image content into
 * new volumes (vol-copy.c). Internal to dindd's container modules.
 *
 * c->volumes is a JSON array persisted with the container's record, one object per volume
 * mount: {"Name", "Source" (<data-root>/volumes/<name>/_data), "Destination", "Driver", "Mode",
 * "RW", "Anonymous" (created for this container: removed with `rm -v`), "NoCopy", "Created"
 * (this container's create made the volume)}.
 */
#ifndef DINDD_CTR_VOLUMES_H
#define DINDD_CTR_VOLUMES_H

#include <jansson.h>

#include "container.h"

/* At create (c->config and c->host_config final): fills c->volumes, creating missing volumes.
 * On failure the volumes it created are removed again and c->volumes is NULL. */
int ctr_volumes_prepare(struct ctr_store *s, struct container *c, dd_err *e);
/* A create failed after prepare: removes the volumes prepare created. */
void ctr_volumes_discard(struct ctr_store *s, struct container *c);
/* The container is being removed with `-v` (or AutoRemove): removes its anonymous volumes that
 * no other container uses. Call after it left the store. */
void ctr_volumes_release(struct ctr_store *s, struct container *c);
/* Ids of the containers (any state) that mount the volume; NULL when none. Caller frees. */
char **ctr_volume_users(struct ctr_store *s, const char *name);
/* Appends inspect's Mounts entries of type volume to mounts. */
void ctr_volumes_json(const struct container *c, json_t *mounts);
/* The i-th volume mount as the runtime wants it: rt_mount options (caller frees), destination
 * and source (borrowed). NULL past the end. */
char **ctr_volumes_mounts(const struct container *c, size_t i, const char **ret_dest,
                          const char **ret_source);
/* The volume events dockerd sends when a container starts (mount: container, destination,
 * driver, propagation, read/write) and stops (unmount: container, driver). */
void ctr_volumes_events(const struct container *c, bool mount);
/* Before a start: copies the image's content at each mount path into the volumes that are still
 * empty (unless NoCopy), with ownership and modes, the volume root taking the path's owner and
 * mode. Reads c->rootfs, which must be mounted. */
int ctr_volumes_populate(struct container *c, dd_err *e);

#endif
