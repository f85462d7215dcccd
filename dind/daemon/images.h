/* The images area's internal contract between images.c (metadata endpoints, the area itself)
 * and images-io.c (archive endpoints), plus what other areas may call: the store lives in
 * dindd_ctx.images (an img_store *, opened by this area's init, which runs before the
 * containers area's). Prefix: dindd_image(s)_. */
#ifndef DINDD_IMAGES_H
#define DINDD_IMAGES_H

#include "dind/daemon/daemon.h"
#include "dind/image.h"

extern const dindd_area dindd_area_images;

/* The request's daemon image store. */
img_store *dindd_images(http_req *req);
/* Emits an image event (load, import, tag, untag, delete, save) if the event bus is linked. */
void dindd_image_event(const char *action, const char *id, const char *name);
/* img_in_use_fn backed by the container store (ud = dindd_ctx *). */
bool dindd_image_in_use(void *ud, const char *image_id, char ret_cid[65], bool *ret_running);
/* Docker's rmi with events; *ret_items is the response list. */
int dindd_image_remove(dindd_ctx *d, const char *name, bool force, json_t **ret_items, dd_err *e);
json_t *dindd_image_summary(const img_image *img);
json_t *dindd_image_inspect(const img_image *img);

/* images-io.c handlers */
void dindd_images_load(http_req *req);
void dindd_images_create(http_req *req);
void dindd_images_save(http_req *req);
void dindd_images_search(http_req *req);

/* images-pull.c: registry traffic */
void dindd_images_registries_init(const dindd_config *cfg);
void dindd_images_registries_fini(void);
void dindd_images_pull(http_req *req, const char *from);
void dindd_images_push(http_req *req);
void dindd_auth(http_req *req);

#endif
