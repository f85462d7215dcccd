/* health: Docker HEALTHCHECK for dindd's containers. Prefix: health_.
 *
 * A container's health check is Config.Healthcheck (from create, merged field by field with the
 * image's): Test ["NONE"] | ["CMD", args...] | ["CMD-SHELL", "command line"] (an empty Test
 * inherits the image's), Interval / Timeout / StartPeriod / StartInterval in nanoseconds (0 =
 * dockerd's defaults 30s / 30s / 0 / 5s) and Retries (0 = 3).
 *
 * While the container runs (and is not paused) a monitor probes it: each probe is a process
 * started with rt_exec in the container (as Config.User, in WorkingDir, with the container's Env),
 * its stdout and stderr collected together (the first 4096 bytes, "..." when cut), killed when it
 * outlives Timeout ("Health check exceeded timeout (<Go duration>)"). The result goes into
 * State.Health, which has inspect's shape and is persisted with the container's record (at
 * each status change and with every other save of the record; a probe that changes only the
 * log is not written at once, as in dockerd):
 *     {"Status": "starting"|"healthy"|"unhealthy", "FailingStreak": n,
 *      "Log": [{"Start": t, "End": t, "ExitCode": n, "Output": "..."}]}   (last 5, oldest first)
 * A success makes it healthy and resets the streak; a failure counts (except while starting within
 * StartPeriod) and Retries consecutive ones make it unhealthy. Every status change emits the
 * container event "health_status: <status>"; each probe also emits dockerd's exec_create,
 * exec_start and exec_die events. Monitors stop when the container stops and start over (status
 * "starting", streak 0, log kept) when it starts again. Nothing here blocks the event loop: the
 * probe's pipes and exit are watched by the loop.
 *
 * health-state.c holds the pure part (configuration, the state machine, texts: unit-tested);
 * health.c the monitors.
 */
#ifndef DINDD_HEALTH_H
#define DINDD_HEALTH_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "container.h"

#define HEALTH_DEFAULT_INTERVAL_NS       (30LL * 1000000000LL)
#define HEALTH_DEFAULT_TIMEOUT_NS        (30LL * 1000000000LL)
#define HEALTH_DEFAULT_START_INTERVAL_NS (5LL * 1000000000LL)
#define HEALTH_DEFAULT_RETRIES           3
#define HEALTH_MAX_LOG                   5
#define HEALTH_MAX_OUTPUT                4096

enum health_kind {
    HEALTH_NONE, /* no check configured, Test ["NONE"], or an unknown type */
    HEALTH_CMD,
    HEALTH_SHELL,
};

struct health_config {
    enum health_kind kind;
    char **cmd; /* the probe's argv (the shell prepended for CMD-SHELL); NULL for NONE */
    int64_t interval_ns, timeout_ns, start_period_ns, start_interval_ns; /* defaults applied */
    int retries;                                                         /* default applied */
};

/* One probe's outcome. */
struct health_result {
    int64_t start_ns, end_ns;
    int exit_code; /* -1 for a probe that timed out or could not start */
    const char *output;
};

/* ---- health-state.c (pure) ---- */

/* Reads Config.Healthcheck (and Config.Shell) of cfg. Never fails: anything unusable is NONE. */
void health_config_get(const json_t *cfg, struct health_config *ret);
void health_config_release(struct health_config *h);
/* dockerd's create-time checks of Config.Healthcheck: -EINVAL "Interval in Healthcheck cannot be
 * less than 1ms", "Retries in Healthcheck cannot be negative", ... */
int health_check_config(const json_t *cfg, dd_err *e);
/* Merges the image's Healthcheck into cfg like dockerd: the image's when cfg has none, else each
 * zero field (empty Test, 0 durations, 0 retries) taken from the image. */
void health_merge_image(json_t *cfg, const json_t *img_config);

/* "none" when health is NULL, else its Status. */
const char *health_status(const json_t *health);
/* Docker's ps text for it: "health: starting", "healthy", "unhealthy". */
const char *health_ps_text(const json_t *health);
/* true for the values the ps filter health= accepts (starting, healthy, unhealthy, none). */
bool health_status_valid(const char *s);
/* The State.Health for a (re)start: status starting, streak 0, the previous log kept (prev may
 * be NULL; it is not modified). Returns a new reference. */
json_t *health_reset(const json_t *prev);
/* Records one result in health (log trimmed to HEALTH_MAX_LOG) and moves the state machine;
 * started_ns is the container's StartedAt. Returns true when Status changed. */
bool health_apply(json_t *health, const struct health_config *cfg, const struct health_result *r,
                  int64_t started_ns);
/* Time until the next probe, dockerd's rule: StartInterval while starting within StartPeriod,
 * cut short so a probe runs as soon as StartPeriod ends; Interval otherwise. */
int64_t health_next_delay(const struct health_config *cfg, const json_t *health,
                          int64_t since_start_ns);
/* Go's time.Duration String(): "1s", "500ms", "1m30s", "1.5s". */
void health_go_duration(int64_t ns, char *out, size_t len);

/* ---- health.c (monitors) ---- */

/* Called by the container store on every state change (store.c's ctr_notify). */
void health_on_change(struct container *c, enum ctr_change what);
/* After the store has been opened: starts monitors for the running containers that have a
 * check (keeping their persisted State.Health). */
void health_resume(struct ctr_store *s);
/* Stops every monitor (daemon shutdown); probes still running are killed. */
void health_shutdown(void);

#endif
