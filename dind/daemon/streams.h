/* streams: helpers shared by dindd's streaming endpoints (logs, attach, events). */
#ifndef DINDD_STREAMS_H
#define DINDD_STREAMS_H

#include "dind/base.h"

/* Appends Docker's 8-byte multiplexed header: [stream, 0, 0, 0, len as big-endian u32]. */
void stream_frame_header(dd_buf *b, int stream, size_t len);
/* Docker's time parameters: unix seconds ("1795374997"), seconds with a fraction
 * ("1795374997.2387693"), or RFC 3339. NULL/"" gives 0. */
int stream_parse_time(const char *s, int64_t *ret_ns, dd_err *e);

#endif
