/* container-internal: what the container modules of dindd (container.c, store.c, create.c,
 * lifecycle.c and the endpoints) share and nobody else needs. */
#ifndef DINDD_CONTAINER_INTERNAL_H
#define DINDD_CONTAINER_INTERNAL_H

#include <sqlite3.h>

#include "container.h"

struct ev_child;
struct ev_timer;

struct ctr_listener {
    struct ctr_listener *next;
    struct container *c;
    ctr_listener_fn fn;
    void *data;
    bool dead;
};

struct ctr_priv {
    struct ctr_store *store;
    struct ctr_listener *listeners;
    int notifying;               /* > 0 while listeners run: unlisten only marks them dead */
    struct ev_child *exit_watch; /* the shim's pidfd while the container runs */
    struct ev_timer *restart_timer;
    struct ev_timer *stop_timer;
    int64_t restart_delay_ms; /* Docker's back-off: doubles from 100 ms, reset after 10 s up */
    bool stopping;            /* a stop/kill by the user is in progress (no policy restart) */
    bool auto_remove_pending;
};

struct ctr_store {
    struct ev_loop *loop;
    struct img_store *images;
    struct vol_store *volumes;
    char *data_root;
    char *exec_root;
    sqlite3 *db;
    struct container **items; /* insertion order (oldest first) */
    size_t n, cap;
};

/* container.c */
struct container *ctr_new(void);
void ctr_derive(struct container *c);
void ctr_set_paths(struct container *c, const char *data_root, const char *exec_root);
void ctr_set_error(struct container *c, const char *msg);
char *ctr_record_dump(const struct container *c);
int ctr_record_load(const char *text, struct container **ret, dd_err *e);
int ctr_status_parse(const char *s);
/* Docker signal names (with or without SIG, any case), RTMIN+n, or numbers 1..64. */
int ctr_signal_parse(const char *s, int *ret);

/* store.c */
/* Adds a new container (persisting it first); fails with EBUSY on a name conflict. */
int ctr_store_add(struct ctr_store *s, struct container *c, dd_err *e);
/* Removes from the database and the store, notifies CTR_CHANGE_REMOVED, drops the store's ref. */
int ctr_store_remove(struct ctr_store *s, struct container *c, dd_err *e);
/* <parent of dir>/.trash-<name of dir>: where a directory goes to be removed in the
 * background (NULL for a path without '/'). */
char *ctr_trash_path(const char *dir);
/* Removes a container's directory in the background (see store.c); never fails. */
void ctr_store_discard_dir(struct ctr_store *s, const char *dir);
/* The prefix of directories awaiting that removal, swept at daemon start. */
#define CTR_TRASH_PREFIX ".trash-"
/* Renames (persisted); EBUSY on conflict. new_name with or without '/'. */
int ctr_store_rename(struct ctr_store *s, struct container *c, const char *new_name, dd_err *e);
/* Checks a user-given name; fills *ret with the "/name" form. */
int ctr_name_validate(const char *name, char **ret, dd_err *e);
int ctr_name_conflict(struct ctr_store *s, const char *slash_name, dd_err *e);
void ctr_notify(struct container *c, enum ctr_change what);

/* lifecycle.c: re-adoption at store open; dropping a container's watchers and timers. */
void ctr_adopt_all(struct ctr_store *s);
void ctr_store_forget(struct container *c);

#endif
