/* controllers: the workload controllers of k3core's control plane — ReplicaSet, Deployment, Job,
 * CronJob, StatefulSet, DaemonSet and Endpoints/EndpointSlice — as in-process clients of the
 * object API (k3core/api/objects.h). Prefix: kctl_.
 *
 * They keep an in-memory cache of pods and of the kinds they own, fed by watches on the store,
 * queue the objects a change concerns (a pod's controller, the services whose selector it
 * matches...) and sync the queue from a loop timer; a periodic resync catches time-based
 * transitions (minReadySeconds, activeDeadlineSeconds, ttlSecondsAfterFinished). Garbage collection
 * of dependents stays in kobj_run_controllers().
 */
#ifndef K3CORE_CONTROLLERS_H
#define K3CORE_CONTROLLERS_H

#include <stdbool.h>
#include <stdint.h>

#include "dind/base.h"
#include "dind/ev.h"
#include "dind/json.h"
#include "k3core/api/objects.h"

typedef struct kctl kctl;

/* Starts the watches and the sync timer on loop; api stays owned by the caller and must outlive
 * the controllers. */
int kctl_start(ev_loop *loop, kobj_api *api, kctl **ret, dd_err *e);
void kctl_stop(kctl *c); /* NULL-safe */
/* Turns on the local-path provisioner (k3s's local-storage component): volumes of the
 * `local-path` StorageClass, created here as the default class unless it exists, are directories
 * under storage_dir (k3s: <data-dir>/storage). node is the server's own node (NULL with
 * --disable-agent): only its volumes' directories are removed here. */
int kctl_local_storage(kctl *c, const char *storage_dir, const char *node, dd_err *e);

/* ---- pure helpers (calc.c), unit-tested ---- */

/* Upstream's pod-template-hash shape: a 32-bit FNV-1a hash of the template (canonical JSON with
 * sorted keys, ignoring any pod-template-hash label) plus the collision count, rendered with
 * the "bcdfghjklmnpqrstvwxz2456789" alphabet. out needs 16 bytes. */
void kctl_template_hash(const json_t *tmpl, int64_t collisions, char out[16]);

/* Removes null members of objects, recursively ("creationTimestamp": null in a template
 * means the same as no creationTimestamp, as Go's decoding makes it). */
void kctl_strip_nulls(json_t *v);

/* maxSurge/maxUnavailable: an int or "N%" of total (surge rounds up, unavailable down). When
 * both come out 0, unavailable is 1 as upstream. -EINVAL for a malformed value. */
int kctl_resolve_fenceposts(const json_t *surge, const json_t *unavailable, int total,
                            int *ret_surge, int *ret_unavailable);
int kctl_scaled_value(const json_t *v, int total, bool round_up, int *ret);

/* Upstream's ActivePods order for scale-down: the pod to delete first sorts first (unassigned,
 * pending, not ready, ready for a shorter time, more restarts, newer). now_ns for readiness. */
int kctl_pod_cmp(const json_t *a, const json_t *b);

/* CronJob schedules (cron.c): bit sets per field; bit 63 marks a `*` field. */
typedef struct kctl_cron {
    uint64_t minute, hour, dom, month, dow;
} kctl_cron;
/* Parses a 5-field schedule or an @macro; -EINVAL with upstream-like text in e otherwise. */
int kctl_cron_parse(const char *spec, kctl_cron *ret, dd_err *e);
/* The first time (Unix seconds, UTC) strictly after `after` that matches; -1 when none within
 * about five years (e.g. "0 0 30 2 *"). */
int64_t kctl_cron_next(const kctl_cron *c, int64_t after);

/* Indexed Jobs' completedIndexes: "0,2-4" from done[0..n) (caller frees), and back (entries
 * outside [0, n) and anything after a malformed entry are ignored). */
char *kctl_format_indexes(const bool *done, int64_t n);
void kctl_parse_indexes(const char *s, bool *done, int64_t n);

/* Pod state helpers. */
bool kctl_pod_ready(const json_t *pod);
/* Ready for at least min_ready seconds at now_ns. */
bool kctl_pod_available(const json_t *pod, int64_t min_ready, int64_t now_ns);
bool kctl_pod_terminal(const json_t *pod); /* phase Succeeded or Failed */

#endif
