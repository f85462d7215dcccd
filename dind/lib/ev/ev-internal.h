/* Internals shared by the ev module's files. Not a public header. */
#ifndef DIND_EV_INTERNAL_H
#define DIND_EV_INTERNAL_H

#include "dind/ev.h"

struct ev_io {
    ev_loop *loop;
    int fd;
    unsigned interest;
    bool dead;
    ev_io_fn fn;
    void *data;
    struct ev_io *next_dead;
    struct ev_io *prev, *next;       /* the loop's list of live watchers */
    void (*owner_free)(void *owner); /* internal owners (ev_child) freed with the loop */
    void *owner;
};

struct ev_timer {
    ev_loop *loop;
    uint64_t due_ms;
    uint64_t repeat_ms;
    size_t heap_idx; /* SIZE_MAX when not armed */
    bool dead;
    ev_timer_fn fn;
    void *data;
};

struct ev_signal {
    ev_loop *loop;
    int signo;
    ev_signal_fn fn;
    void *data;
};

struct ev_defer_item {
    ev_defer_fn fn;
    void *data;
    struct ev_defer_item *next;
};

struct ev_loop {
    int epfd;
    bool stop;
    uint64_t now_ms;
    ev_io *dead_ios; /* freed after the current batch of events */
    /* timers: a binary min-heap on due_ms */
    ev_timer **heap;
    size_t nheap, capheap;
    ev_timer **dead_timers;
    size_t ndead_timers, capdead_timers;
    /* deferred callbacks, FIFO */
    struct ev_defer_item *defer_head, **defer_tail;
    /* signals */
    int sigfd;
    ev_io *sigw;
    sigset_t sigmask;
    ev_signal *signals[65];
    /* every live ev_io, for ev_loop_free */
    ev_io *ios;
    /* ev_set_idle */
    void (*idle_fn)(void *data);
    void *idle_data;
    int idle_ms;
    uint64_t n_io_events; /* epoll events dispatched so far */
};

uint64_t ev_clock_ms(void);
/* Milliseconds until the earliest timer (-1 if none, 0 if due). */
int ev_timers_timeout(ev_loop *loop);
/* Runs due timers; returns how many ran. */
int ev_timers_run(ev_loop *loop);
void ev_timers_free_all(ev_loop *loop);
void ev_timers_reap(ev_loop *loop);
void ev_signals_free_all(ev_loop *loop);

#endif
