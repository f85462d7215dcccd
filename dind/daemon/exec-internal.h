/* Shared between exec.c (records and handlers) and exec-io.c (the running process's streams). */
#ifndef DINDD_EXEC_INTERNAL_H
#define DINDD_EXEC_INTERNAL_H

#include <stdbool.h>
#include <sys/types.h>

#include "dind/ev.h"
#include "dind/http.h"
#include "dind/rt.h"
#include "dind/daemon/exec.h"

struct container;
struct ctr_listener;

struct exec_inst {
    struct exec_inst *next;
    char id[65];
    struct container *c; /* referenced (ctr_ref) for the record's lifetime */

    /* configuration, as created */
    char **cmd; /* never empty */
    char **env; /* the exec's own Env (may be NULL) */
    char *user, *working_dir, *detach_keys;
    bool tty, privileged, attach_stdin, attach_stdout, attach_stderr;
    unsigned short rows, cols; /* a resize that came before the process existed */

    /* state */
    bool started, running, exited;
    int exit_code;
    pid_t pid;

    /* streams while running (exec-io.c) */
    ev_loop *loop;
    struct rt_exec_result io;
    ev_io *out_w, *err_w, *in_w;
    ev_child *child;
    http_raw *raw;  /* NULL when detached, or once the client is gone */
    bool raw_full;  /* the connection is above its high-water mark */
    ev_timer *hold; /* holds output back for a moment after the 101 (exec-io.c) */
    bool finish_after_hold;
    int64_t hold_until; /* dd_mono_ns() at which the hold ends regardless */
    dd_buf outq;        /* framed output the connection could not take yet */
    uint64_t dropped;
    dd_buf inq;     /* stdin bytes the process could not take yet */
    bool stdin_eof; /* the client half-closed */
    bool removed;   /* the container is gone: free once the process has been reaped */
};

/* exec-io.c */
/* Starts watching the process of a started exec; raw may be NULL (detached). */
int exec_io_begin(struct exec_inst *x, ev_loop *loop, http_raw *raw, dd_err *e);
/* Writes a message to a stream that could not start a process, then closes it. */
void exec_io_fail(struct exec_inst *x, ev_loop *loop, http_raw *raw, const char *msg);
/* Raw stream callbacks for http_hijack(). */
extern const http_raw_ops exec_raw_ops;

/* exec.c */
/* Called by exec-io.c once the process has exited and its output was drained. */
void exec_exited(struct exec_inst *x, int code);
/* Called by exec-io.c once every watcher and fd is released. */
void exec_io_done(struct exec_inst *x);

#endif
