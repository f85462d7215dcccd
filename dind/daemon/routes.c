/* The Engine API areas in routing order: each contributes its route table and hooks (daemon.h).
 * Add yours before dindd_area_unsupported, which must stay last. */
#include "dind/daemon/daemon.h"

const dindd_area *const dindd_areas[] = {
    &dindd_area_system,
    &dindd_area_images,
    &dindd_area_containers,
    &dindd_area_events,
    &dindd_area_exec,
    &dindd_area_archive,
    &dindd_area_volumes,
    &dindd_area_df,
    &dindd_area_commit,
    &dindd_area_unsupported,
    NULL,
};
