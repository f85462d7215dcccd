/* The shim's log writer (logwrite.c); the reader is public in rt.h (logread.c). */
#ifndef DIND_RT_LOG_INTERNAL_H
#define DIND_RT_LOG_INTERNAL_H

#include <fcntl.h>

#include "dind/base.h"
#include "dind/rt.h"

struct rt_log_writer {
    int fd;
    enum rt_log_format format;
    dd_buf pending[2]; /* unterminated stdout, stderr */
};

int rt_log_writer_open(struct rt_log_writer *w, const char *path, enum rt_log_format format,
                       dd_err *e);
void rt_log_writer_write(struct rt_log_writer *w, int stream, const char *data, size_t len);
/* Writes any unterminated tail as a partial entry. */
void rt_log_writer_flush(struct rt_log_writer *w);
void rt_log_writer_close(struct rt_log_writer *w);

/* Parses one log line (without its '\n') into ent, the entry's bytes appended to data; false
 * for a line that is not an entry. ent->data is left for the caller. */
bool rt_log_parse_line(enum rt_log_format format, const char *line, dd_buf *data,
                       struct rt_log_entry *ent);

/* Go encoding/json string escaping (without the quotes). */
void rt_json_escape(dd_buf *b, const char *data, size_t len);

#endif
