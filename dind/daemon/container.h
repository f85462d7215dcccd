/* container: dindd's container model and store. Prefix: ctr_.
 *
 * A `struct container` is one Docker container: its identity (64-hex id, "/name"), the Config and
 * HostConfig as inspect shows them (canonical JSON, merged with the image config at create), a
 * few typed copies of fields the daemon reads often, its runtime state, and its directories.
 * The store keeps every container in memory, persists each one to sqlite
 * (<data-root>/dindd.db, WAL) on every change, and reloads them at daemon start, re-adopting
 * running containers from the runtime (rt_state) so a `kill -9` of the daemon loses nothing.
 *
 * Directories:
 *     c->dir        <data-root>/containers/<id>: hostname, hosts, resolv.conf, upper/, work/ (the
 *                   container's writable layer) and the json-file log (c->log_path). Daemon-owned,
 *                   kept across restarts of the container, removed with the container.
 *     c->state_dir  <exec-root>/containers/<id>: the runtime's state directory; pass it to every
 *                   rt_* call (rt_exec, rt_attach_connect, rt_top, ...).
 *     c->rootfs     <state_dir>/rootfs: the merged root filesystem. It is mounted from create
 *                   until removal (also while the container is created-not-started or exited), so
 *                   archive operations work on any container; check ctr_rootfs_ready() first.
 *
 * Ownership and lifetime: the store owns every container. Pointers returned by lookups stay valid
 * until control returns to the event loop. A caller that keeps a pointer across loop iterations
 * (an exec session, a stream) takes a reference with ctr_ref() and drops it with ctr_unref(); a
 * container removed meanwhile stays allocated with c->removed set. Everything here runs on the
 * daemon's single event-loop thread; nothing is thread-safe.
 *
 * Errors (dd_err codes; the daemon's one error mapper turns them into HTTP statuses):
 *     ENOENT → 404 "No such container: <ref>"
 *     EINVAL → 400 (bad names, ambiguous id prefix, bad parameters)
 *     EBUSY  → 409 (name conflicts, "Container <id> is not running", removal of a running one)
 *     other  → 500
 * Operations that Docker answers with 304 (start of a running container, stop of a stopped one)
 * return 1 instead of 0; they are not errors.
 */
#ifndef DINDD_CONTAINER_H
#define DINDD_CONTAINER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "dind/base.h"

struct ev_loop;
struct img_store;
struct vol_store;

/* Docker's State.Status values, in the order of ctr_status_name(). */
enum ctr_status {
    CTR_CREATED,
    CTR_RUNNING,
    CTR_PAUSED,
    CTR_RESTARTING,
    CTR_REMOVING,
    CTR_EXITED,
    CTR_DEAD,
};

struct ctr_state {
    enum ctr_status status;
    pid_t pid;           /* host pid of the container's PID 1 while running, else 0 */
    int exit_code;       /* last exit code (128+N when killed by signal N) */
    bool oom_killed;     /* the last run ended with an OOM kill */
    char *error;         /* start failure text ("" = none); owned */
    int64_t started_ns;  /* 0 = never started (inspect shows 0001-01-01T00:00:00Z) */
    int64_t finished_ns; /* 0 = never finished */
    int restart_count;   /* restarts done by the restart policy */
    bool manual_stop;    /* stopped by the user: unless-stopped stays down across daemon starts */
};

struct ctr_listener;

struct container {
    char id[65];        /* 64 lower-case hex */
    char *name;         /* with the leading '/': "/web" */
    int64_t created_ns; /* ns since the epoch */
    char *image;        /* Config.Image as the client gave it ("busybox", "busybox:latest") */
    char *image_id;     /* "sha256:<64 hex>" */
    char *path;         /* inspect's Path: the first word of Entrypoint+Cmd */
    char **args;        /* inspect's Args: the rest (never NULL) */

    json_t *config;      /* canonical Config (Hostname, Env, Cmd, Entrypoint, Labels, ...) */
    json_t *host_config; /* canonical HostConfig (Binds, RestartPolicy, NetworkMode, ...) */
    json_t *net_config;  /* NetworkingConfig.EndpointsConfig as given, or NULL */

    /* Typed copies of Config fields (exec uses them as defaults). */
    bool tty;
    bool open_stdin;
    bool stdin_once;
    char **env;        /* merged Env, never NULL */
    char *user;        /* "" = root */
    char *working_dir; /* "" = "/" */
    char *hostname;
    char *network_mode; /* "default", "bridge", "host", "none", "container:<id>", ... */
    int stop_signal;    /* signal number (Config.StopSignal, default SIGTERM) */
    int stop_timeout;   /* seconds (Config.StopTimeout, default 10) */

    char *dir;       /* <data-root>/containers/<id> */
    char *state_dir; /* <exec-root>/containers/<id>: the rt state directory */
    char *rootfs;    /* <state_dir>/rootfs */
    char *log_path;  /* <dir>/<id>-json.log (rt json-file format) */

    struct ctr_state st;
    json_t *volumes; /* volume mounts (ctr-volumes.h), or NULL */
    json_t *health;  /* State.Health as inspect shows it (health.h), or NULL: no check ran */
    char **exec_ids; /* exec instances of this container (ExecIDs), never NULL */

    bool removed; /* no longer in the store; only references keep it allocated */
    int refs;

    struct ctr_priv *priv; /* store-internal: watchers, listeners, timers */
};

/* ---- the store ---- */

struct ctr_store_opts {
    struct ev_loop *loop;      /* borrowed; exit watchers and timers run on it */
    struct img_store *images;  /* borrowed; create resolves images here */
    const char *data_root;     /* dindd.db and containers/ live here */
    const char *exec_root;     /* containers/<id> state directories live here */
    struct vol_store *volumes; /* borrowed; volumes of create and removal */
};

struct ctr_store;

/* Opens <data_root>/dindd.db, loads every container, re-adopts the live ones (watching their
 * exits again), records the ones whose shim died as exited with their recorded code, removes
 * leftovers of half-created containers, and applies restart policies (always / unless-stopped
 * containers that were running are started again). */
int ctr_store_open(const struct ctr_store_opts *opts, struct ctr_store **ret, dd_err *e);
/* Frees the in-memory records; running containers keep running (their shims are detached). */
void ctr_store_free(struct ctr_store *s);
struct ev_loop *ctr_store_loop(struct ctr_store *s);
struct img_store *ctr_store_images(struct ctr_store *s);

/* Resolves a full id, a name (with or without the leading '/'), or a unique id prefix, in
 * Docker's order. -ENOENT "No such container: <ref>"; -EINVAL "multiple IDs found with provided
 * prefix: <ref>" when a prefix is ambiguous. */
int ctr_lookup(struct ctr_store *s, const char *ref, struct container **ret, dd_err *e);
/* Exact matches only; NULL when absent. name may omit the '/'. */
struct container *ctr_find_id(struct ctr_store *s, const char *id);
struct container *ctr_find_name(struct ctr_store *s, const char *name);

/* A NULL-terminated snapshot of every container, newest first; free the array with free() (the
 * containers stay owned by the store). */
struct container **ctr_list(struct ctr_store *s, size_t *ret_n);

/* The image module's in-use callback (img_in_use_fn): true if a container uses image_id;
 * prefers a running one. */
bool ctr_image_in_use(struct ctr_store *s, const char *image_id, char ret_cid[65],
                      bool *ret_running);

/* Writes the container's current record to the database (after every state change). */
int ctr_save(struct ctr_store *s, struct container *c, dd_err *e);

/* ---- references ---- */

struct container *ctr_ref(struct container *c);
void ctr_unref(struct container *c); /* NULL-safe */

/* ---- state ---- */

const char *ctr_status_name(enum ctr_status st); /* "created", "running", ... */
/* True while the container has a live process: running, paused or restarting. */
bool ctr_is_running(const struct container *c);
/* 0 if running and not paused; else -EBUSY with Docker's "Container <id> is not running" or
 * "Container <id> is paused, unpause the container before exec". */
int ctr_check_running(const struct container *c, dd_err *e);
/* True when c->rootfs is mounted (archive operations can use it). */
bool ctr_rootfs_ready(const struct container *c);

/* ExecIDs bookkeeping (the exec module owns the exec objects). */
void ctr_exec_add(struct container *c, const char *exec_id);
void ctr_exec_del(struct container *c, const char *exec_id);

/* ---- state-change listeners (wait, logs -f, attach) ---- */

enum ctr_change {
    CTR_CHANGE_STARTED, /* the process started (also after a restart by policy) */
    CTR_CHANGE_EXITED,  /* the process exited; c->st holds the exit code (before any restart) */
    CTR_CHANGE_REMOVED, /* removed from the store (c->removed is set) */
};

typedef void (*ctr_listener_fn)(struct container *c, enum ctr_change what, void *data);

/* fn runs for every later change until ctr_unlisten(); it may call ctr_unlisten() on itself. */
struct ctr_listener *ctr_listen(struct container *c, ctr_listener_fn fn, void *data);
void ctr_unlisten(struct ctr_listener *l); /* NULL-safe */

#endif
