/* The epoll loop itself: fd watchers, deferred callbacks and the dispatch cycle. Timers, signals
 * and process exits live in their own files and plug in here. Watchers removed during a batch of
 * events are only marked dead and freed after the batch, so a stale event never reaches freed
 * memory. */
#include <sys/epoll.h>
#include <time.h>

#include "ev-internal.h"

#define EV_BATCH 64

uint64_t ev_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

ev_loop *ev_loop_new(dd_err *e)
{
    int fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) {
        dd_err_sys(e, "epoll_create1");
        return NULL;
    }
    ev_loop *loop = dd_calloc(1, sizeof(*loop));
    loop->epfd = fd;
    loop->sigfd = -1;
    loop->defer_tail = &loop->defer_head;
    sigemptyset(&loop->sigmask);
    loop->now_ms = ev_clock_ms();
    return loop;
}

static int run_deferred(ev_loop *loop)
{
    /* Only the items queued before this call run now; new ones wait for the next iteration. */
    struct ev_defer_item *list = loop->defer_head;
    loop->defer_head = NULL;
    loop->defer_tail = &loop->defer_head;
    int n = 0;
    while (list) {
        struct ev_defer_item *it = list;
        list = it->next;
        it->fn(it->data);
        free(it);
        n++;
    }
    return n;
}

void ev_run_deferred(ev_loop *loop)
{
    while (loop && loop->defer_head)
        run_deferred(loop);
}

static void reap_dead(ev_loop *loop)
{
    while (loop->dead_ios) {
        ev_io *w = loop->dead_ios;
        loop->dead_ios = w->next_dead;
        free(w);
    }
    ev_timers_reap(loop);
}

void ev_loop_free(ev_loop *loop)
{
    if (!loop)
        return;
    while (loop->defer_head)
        run_deferred(loop);
    ev_signals_free_all(loop);
    while (loop->ios) {
        ev_io *w = loop->ios;
        if (w->owner_free)
            w->owner_free(w->owner); /* removes w */
        else
            ev_io_del(w);
    }
    while (loop->defer_head)
        run_deferred(loop);
    reap_dead(loop);
    ev_timers_free_all(loop);
    close(loop->epfd);
    free(loop);
}

void ev_stop(ev_loop *loop)
{
    loop->stop = true;
}

uint64_t ev_now_ms(ev_loop *loop)
{
    return loop->now_ms;
}

void ev_defer(ev_loop *loop, ev_defer_fn fn, void *data)
{
    struct ev_defer_item *it = dd_malloc(sizeof(*it));
    it->fn = fn;
    it->data = data;
    it->next = NULL;
    *loop->defer_tail = it;
    loop->defer_tail = &it->next;
}

static uint32_t epoll_bits(unsigned interest)
{
    uint32_t ev = 0;
    if (interest & EV_READ)
        ev |= EPOLLIN | EPOLLRDHUP;
    if (interest & EV_WRITE)
        ev |= EPOLLOUT;
    return ev;
}

ev_io *ev_io_add(ev_loop *loop, int fd, unsigned interest, ev_io_fn fn, void *data, dd_err *e)
{
    ev_io *w = dd_calloc(1, sizeof(*w));
    w->loop = loop;
    w->fd = fd;
    w->interest = interest & (EV_READ | EV_WRITE);
    w->fn = fn;
    w->data = data;
    struct epoll_event ev = {.events = epoll_bits(w->interest), .data.ptr = w};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        dd_err_sys(e, "watching fd %d", fd);
        free(w);
        return NULL;
    }
    w->next = loop->ios;
    if (loop->ios)
        loop->ios->prev = w;
    loop->ios = w;
    return w;
}

int ev_io_set(ev_io *w, unsigned interest)
{
    interest &= EV_READ | EV_WRITE;
    if (w->dead || interest == w->interest)
        return 0;
    struct epoll_event ev = {.events = epoll_bits(interest), .data.ptr = w};
    if (epoll_ctl(w->loop->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0)
        return -errno;
    w->interest = interest;
    return 0;
}

unsigned ev_io_interest(const ev_io *w)
{
    return w->interest;
}

void ev_io_del(ev_io *w)
{
    if (!w || w->dead)
        return;
    ev_loop *loop = w->loop;
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    w->dead = true;
    if (w->prev)
        w->prev->next = w->next;
    else
        loop->ios = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->next_dead = loop->dead_ios;
    loop->dead_ios = w;
}

static void dispatch(struct epoll_event *ev)
{
    ev_io *w = ev->data.ptr;
    if (w->dead)
        return;
    unsigned ready = 0;
    if (ev->events & (EPOLLIN | EPOLLRDHUP))
        ready |= EV_READ;
    if (ev->events & EPOLLOUT)
        ready |= EV_WRITE;
    if (ev->events & (EPOLLHUP | EPOLLERR))
        ready |= EV_HUP;
    w->fn(w, w->fd, ready, w->data);
}

int ev_run_once(ev_loop *loop, int timeout_ms)
{
    loop->now_ms = ev_clock_ms();
    int n = run_deferred(loop);
    int t = ev_timers_timeout(loop);
    if (loop->defer_head || n > 0)
        t = 0;
    if (timeout_ms >= 0 && (t < 0 || t > timeout_ms))
        t = timeout_ms;
    struct epoll_event evs[EV_BATCH];
    int k = epoll_wait(loop->epfd, evs, EV_BATCH, t);
    if (k < 0 && errno != EINTR)
        return -errno;
    loop->now_ms = ev_clock_ms();
    loop->n_io_events += k > 0 ? (uint64_t)k : 0;
    for (int i = 0; i < k; i++)
        dispatch(&evs[i]);
    n += k > 0 ? k : 0;
    n += ev_timers_run(loop);
    reap_dead(loop);
    return n;
}

void ev_set_idle(ev_loop *loop, int idle_ms, void (*fn)(void *data), void *data)
{
    loop->idle_fn = fn;
    loop->idle_data = data;
    loop->idle_ms = idle_ms;
}

int ev_run(ev_loop *loop)
{
    loop->stop = false;
    bool busy = false;    /* I/O happened since the idle callback last ran */
    uint64_t last_io = 0; /* when */
    while (!loop->stop) {
        int timeout = -1;
        if (loop->idle_fn && busy) {
            uint64_t due = last_io + (uint64_t)loop->idle_ms, now = ev_clock_ms();
            timeout = due > now ? (int)(due - now) : 0;
        }
        uint64_t before = loop->n_io_events;
        int r = ev_run_once(loop, timeout);
        if (r < 0)
            return r;
        if (loop->n_io_events != before) {
            busy = true;
            last_io = loop->now_ms;
        } else if (busy && loop->idle_fn && loop->now_ms >= last_io + (uint64_t)loop->idle_ms) {
            /* periodic timers alone do not count as activity */
            busy = false;
            loop->idle_fn(loop->idle_data);
        }
    }
    return 0;
}
