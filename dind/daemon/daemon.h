/* dindd's daemon-wide context and the contract between its API areas. Prefix: dindd_.
 *
 * Each area of the Engine API lives in its own file (system.c, later containers.c, exec.c,
 * images.c, archive.c, events.c...) and exports one `const dindd_area`: its route table plus
 * optional init/fini/info hooks. routes.c lists the areas in routing order; to add an area, define
 * `const dindd_area dindd_area_<name>` in your file, declare it below, and add it to the list in
 * routes.c before `dindd_area_unsupported` (which must stay last: it answers the swarm/plugin/build
 * paths the way a dockerd without those features does).
 *
 * Handlers get the context with dindd_from_req(req). Route patterns are matched after the optional
 * "/v1.NN" prefix has been stripped and checked (1.24..1.41; newer gets dockerd's 400 message).
 * Image names use "{name*}" so they may contain '/' and ':'.
 *
 * Errors: handlers build a dd_err (base.h) and answer with dindd_reply_err(), the one place that
 * maps error codes to Docker status codes and {"message": ...} bodies:
 *     ENOENT → 404, EEXIST/EBUSY → 409, EINVAL → 400, EALREADY → 304 (no body),
 *     EPERM/EACCES → 403, EOPNOTSUPP/ENOSYS → 501, anything else → 500.
 */
#ifndef DINDD_DAEMON_H
#define DINDD_DAEMON_H

#include <jansson.h>

#include "dind/base.h"
#include "dind/ev.h"
#include "dind/http.h"

#define DINDD_API_VERSION     "1.41"
#define DINDD_API_MIN_VERSION "1.24"
#define DINDD_VERSION         "20.10.24-dindd"

typedef struct dindd_config {
    char **hosts;               /* -H/--host, in order; default unix:///var/run/docker.sock */
    char *data_root;            /* --data-root, default /var/lib/docker */
    char *exec_root;            /* --exec-root, default /var/run/docker */
    char *pidfile;              /* --pidfile, default /var/run/docker.pid */
    bool debug;                 /* -D/--debug */
    char **insecure_registries; /* --insecure-registry (host[:port] or CIDR), repeatable */
    char **registry_mirrors;    /* --registry-mirror (URL) for docker.io, repeatable */
} dindd_config;

typedef struct dindd_ctx {
    ev_loop *loop;
    http_server *http;
    dindd_config cfg;
    char *engine_id; /* stable ID reported by /info, kept in <data-root>/engine-id */
    /* Areas hang their state here; add a pointer for yours (opaque to the others). */
    void *containers;
    void *images;
    void *exec;
    void *networks;
    void *volumes;
    void *events;
} dindd_ctx;

typedef struct dindd_area {
    const char *name;
    const http_route *routes;
    size_t nroutes;
    /* Called once at start-up, in list order; a failure stops the daemon with e's message. */
    int (*init)(dindd_ctx *d, dd_err *e);
    /* Called once at shutdown, in reverse order. */
    void (*fini)(dindd_ctx *d);
    /* Amends the /info object (e.g. sets "Containers", "ContainersRunning", "Images"). */
    void (*info)(dindd_ctx *d, json_t *info);
} dindd_area;

/* The areas in routing order, NULL-terminated (routes.c). */
extern const dindd_area *const dindd_areas[];
extern const dindd_area dindd_area_system;
extern const dindd_area dindd_area_images; /* before containers: its init opens the image store */
extern const dindd_area dindd_area_containers; /* containers.c; d->containers: struct ctr_store */
extern const dindd_area dindd_area_events;     /* events-api.c */
extern const dindd_area dindd_area_exec;       /* exec.c; after containers */
extern const dindd_area dindd_area_archive;    /* archive.c; after containers */
extern const dindd_area dindd_area_commit;     /* commit.c: POST /commit */
extern const dindd_area dindd_area_df;         /* df.c: GET /system/df */
extern const dindd_area dindd_area_volumes;    /* volumes.c; d->volumes: struct vol_store (opened
                                                  by the containers area) */
extern const dindd_area dindd_area_unsupported;

static inline dindd_ctx *dindd_from_req(http_req *req)
{
    return http_req_server_data(req);
}

/* ---- api.c: the HTTP glue shared by every area ---- */

/* The Docker status for an error code (see the table above). */
int dindd_err_status(int code);
/* Answers {"message": e->msg} with dindd_err_status(e->code); finishes req. */
int dindd_reply_err(http_req *req, const dd_err *e);
/* Shorthand: dindd_reply_err with a fresh error. */
int dindd_reply_errf(http_req *req, int code, const char *fmt, ...) DD_PRINTF(3, 4);
/* Parses the request body as a JSON object (an empty body gives an empty object when
 * allow_empty). On failure answers 400 with jansson's message and returns a negative errno: the
 * handler must then return without touching req. */
int dindd_body_json(http_req *req, bool allow_empty, json_t **ret);
/* Go's strconv.ParseBool-like query boolean (dd_parse_bool); absent = def. */
bool dindd_query_bool(http_req *req, const char *key, bool def);
/* http_server_opts hooks used by main.c. */
int dindd_api_prefix(const char *path, dd_err *e);
void dindd_api_error(http_req *req, int status, const char *message);
void dindd_api_headers(void *data, dd_buf *out);
void dindd_api_trace(http_req *req);

/* ---- system.c ---- */

/* Builds the /info object (areas' info hooks applied: needs initialised areas). Caller decrefs. */
json_t *dindd_info_json(dindd_ctx *d);
/* The same without the areas' hooks: host and engine facts, counts 0. */
json_t *dindd_info_host_json(dindd_ctx *d);
/* Builds the /version object. Caller decrefs. */
json_t *dindd_version_json(void);

#endif
