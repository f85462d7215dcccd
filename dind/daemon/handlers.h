/* handlers: the container endpoint handlers that live outside containers.c, gathered into its
 * route table. */
#ifndef DINDD_HANDLERS_H
#define DINDD_HANDLERS_H

#include "dind/http.h"

void containers_h_wait(http_req *req);
void containers_h_logs(http_req *req);
void containers_h_attach(http_req *req);
void containers_h_top(http_req *req);
void containers_h_stats(http_req *req);
void containers_h_changes(http_req *req); /* changes.c */
void events_h_events(http_req *req);

#endif
