/* lifecycle: running containers (create, start, stop, kill, restart, remove), exit handling,
 * restart policies and AutoRemove, and re-adoption at daemon start. Prefix: ctr_.
 * Errors and 304-style returns follow container.h. */
#ifndef DINDD_LIFECYCLE_H
#define DINDD_LIFECYCLE_H

#include "container.h"

/* Creates a container from a Docker create body. name may be NULL or "" (a name is generated).
 * On failure nothing is left: no record, directory, mount or cgroup. Errors: EINVAL (400, bad
 * body or name), EBUSY (409, name in use), ENOENT (404, "No such image: busybox:latest"). */
int ctr_create(struct ctr_store *s, const char *name, const char *body, size_t len,
               struct container **ret, dd_err *e);

/* Starts c: 0, 1 when already running (304), or an error (the container then records the exit
 * code the runtime reports, 127 for a missing binary, and Error). */
int ctr_start(struct ctr_store *s, struct container *c, dd_err *e);

/* Called once the container has stopped (or at once when it was not running). */
typedef void (*ctr_done_fn)(struct container *c, void *data);

/* Sends the stop signal, then SIGKILL after timeout seconds (< 0: the container's StopTimeout).
 * Returns 1 if it was not running (304; done is not called), else 0 and done runs once the
 * container has exited. A stopped container stays down (no restart policy). */
int ctr_stop(struct ctr_store *s, struct container *c, int timeout, ctr_done_fn done, void *data,
             dd_err *e);
/* Stops c (if running) and starts it again, then emits "restart" and calls done (a failed start
 * is logged; c->st tells the caller how it ended). */
int ctr_restart(struct ctr_store *s, struct container *c, int timeout, ctr_done_fn done, void *data,
                dd_err *e);
/* Sends sig (0 = SIGKILL). EBUSY "Cannot kill container: <ref>: Container <id> is not running". */
int ctr_kill(struct ctr_store *s, struct container *c, const char *ref, int sig, dd_err *e);
/* Removes c. A running container needs force (else EBUSY with Docker's text); force kills it.
 * volumes: also remove its anonymous volumes (`rm -v`). */
int ctr_remove(struct ctr_store *s, struct container *c, bool force, bool volumes, dd_err *e);
/* Pauses (freezes) or unpauses c; EBUSY when it is not running / not paused, EOPNOTSUPP without
 * a freezer controller. */
int ctr_pause(struct ctr_store *s, struct container *c, bool pause, dd_err *e);
/* `docker update`: validates and stores the new limits / restart policy (body: JSON) and applies
 * the limits to the running container's cgroup. *ret_warnings gets a JSON array. */
int ctr_update(struct ctr_store *s, struct container *c, const char *body, size_t len,
               json_t **ret_warnings, dd_err *e);

#endif
