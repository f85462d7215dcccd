/* Timers: a binary min-heap ordered by due time on the monotonic clock. Deleted timers are
 * disarmed at once and freed after the current iteration, so ev_timer_del() is safe inside the
 * timer's own callback. */
#include <stdint.h>

#include "ev-internal.h"

#define NOT_ARMED SIZE_MAX

static void heap_swap(ev_loop *loop, size_t a, size_t b)
{
    ev_timer *t = loop->heap[a];
    loop->heap[a] = loop->heap[b];
    loop->heap[b] = t;
    loop->heap[a]->heap_idx = a;
    loop->heap[b]->heap_idx = b;
}

static void sift_up(ev_loop *loop, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (loop->heap[p]->due_ms <= loop->heap[i]->due_ms)
            break;
        heap_swap(loop, p, i);
        i = p;
    }
}

static void sift_down(ev_loop *loop, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < loop->nheap && loop->heap[l]->due_ms < loop->heap[m]->due_ms)
            m = l;
        if (r < loop->nheap && loop->heap[r]->due_ms < loop->heap[m]->due_ms)
            m = r;
        if (m == i)
            return;
        heap_swap(loop, i, m);
        i = m;
    }
}

static void heap_push(ev_loop *loop, ev_timer *t)
{
    if (loop->nheap == loop->capheap) {
        loop->capheap = loop->capheap ? loop->capheap * 2 : 16;
        loop->heap = dd_realloc(loop->heap, loop->capheap * sizeof(*loop->heap));
    }
    t->heap_idx = loop->nheap;
    loop->heap[loop->nheap++] = t;
    sift_up(loop, t->heap_idx);
}

static void heap_remove(ev_loop *loop, ev_timer *t)
{
    size_t i = t->heap_idx;
    if (i == NOT_ARMED)
        return;
    t->heap_idx = NOT_ARMED;
    size_t last = --loop->nheap;
    if (i == last)
        return;
    loop->heap[i] = loop->heap[last];
    loop->heap[i]->heap_idx = i;
    sift_down(loop, i);
    sift_up(loop, i);
}

ev_timer *ev_timer_add(ev_loop *loop, uint64_t after_ms, uint64_t repeat_ms, ev_timer_fn fn,
                       void *data)
{
    ev_timer *t = dd_calloc(1, sizeof(*t));
    t->loop = loop;
    t->repeat_ms = repeat_ms;
    t->fn = fn;
    t->data = data;
    t->heap_idx = NOT_ARMED;
    t->due_ms = ev_clock_ms() + after_ms;
    heap_push(loop, t);
    return t;
}

void ev_timer_reset(ev_timer *t, uint64_t after_ms)
{
    if (t->dead)
        return;
    heap_remove(t->loop, t);
    t->due_ms = ev_clock_ms() + after_ms;
    heap_push(t->loop, t);
}

void ev_timer_stop(ev_timer *t)
{
    heap_remove(t->loop, t);
}

void ev_timer_del(ev_timer *t)
{
    if (!t || t->dead)
        return;
    ev_loop *loop = t->loop;
    heap_remove(loop, t);
    t->dead = true;
    if (loop->ndead_timers == loop->capdead_timers) {
        loop->capdead_timers = loop->capdead_timers ? loop->capdead_timers * 2 : 8;
        loop->dead_timers =
            dd_realloc(loop->dead_timers, loop->capdead_timers * sizeof(*loop->dead_timers));
    }
    loop->dead_timers[loop->ndead_timers++] = t;
}

int ev_timers_timeout(ev_loop *loop)
{
    if (loop->nheap == 0)
        return -1;
    uint64_t due = loop->heap[0]->due_ms;
    if (due <= loop->now_ms)
        return 0;
    uint64_t d = due - loop->now_ms;
    return d > INT32_MAX ? INT32_MAX : (int)d;
}

int ev_timers_run(ev_loop *loop)
{
    int n = 0;
    uint64_t now = loop->now_ms;
    /* A timer re-armed by its own callback for "now" must not run twice in one iteration. */
    while (loop->nheap > 0 && loop->heap[0]->due_ms <= now && n < 1024) {
        ev_timer *t = loop->heap[0];
        heap_remove(loop, t);
        if (t->repeat_ms > 0) {
            t->due_ms = now + t->repeat_ms;
            heap_push(loop, t);
        }
        t->fn(t, t->data);
        n++;
    }
    return n;
}

void ev_timers_reap(ev_loop *loop)
{
    for (size_t i = 0; i < loop->ndead_timers; i++)
        free(loop->dead_timers[i]);
    loop->ndead_timers = 0;
}

void ev_timers_free_all(ev_loop *loop)
{
    for (size_t i = 0; i < loop->nheap; i++)
        free(loop->heap[i]);
    loop->nheap = 0;
    ev_timers_reap(loop);
    free(loop->heap);
    free(loop->dead_timers);
}
