/* common_timers.c - one-shot timers on a binary min-heap (earliest due first).
 * Used by every platform loop; arming and disarming are O(log n). */
#include <stdlib.h>

#include "common_timers.h"

#define NOT_ARMED ((size_t)-1)

static int
earlier(const lb_timer_t *a, const lb_timer_t *b)
{
    return a->due < b->due;
}

static void
place(lb_timer_heap_t *h, size_t i, lb_timer_t *t)
{
    h->items[i] = t;
    t->heap_index = i;
}

static void
sift_up(lb_timer_heap_t *h, size_t i)
{
    lb_timer_t *t = h->items[i];

    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!earlier(t, h->items[parent]))
            break;
        place(h, i, h->items[parent]);
        i = parent;
    }
    place(h, i, t);
}

static void
sift_down(lb_timer_heap_t *h, size_t i)
{
    lb_timer_t *t = h->items[i];

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && earlier(h->items[c + 1], h->items[c]))
            c++;
        if (!earlier(h->items[c], t))
            break;
        place(h, i, h->items[c]);
        i = c;
    }
    place(h, i, t);
}

static void
heap_remove(lb_timer_heap_t *h, lb_timer_t *t)
{
    size_t i = t->heap_index;
    lb_timer_t *last = h->items[--h->n];

    t->heap_index = NOT_ARMED;
    if (last == t)
        return;
    place(h, i, last);
    sift_down(h, i);
    sift_up(h, last->heap_index);
}

void
lb_timer_init(lb_loop_t *loop, lb_timer_t *t, lb_timer_cb cb, void *data)
{
    t->loop = loop;
    t->cb = cb;
    t->data = data;
    t->due = 0;
    t->heap_index = NOT_ARMED;
}

void
lb_timer_start(lb_timer_t *t, uint64_t ms)
{
    lb_timer_heap_t *h = lb__loop_timers(t->loop);

    lb_timer_stop(t);
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        lb_timer_t **items = realloc(h->items, cap * sizeof(*items));
        if (items == NULL)
            abort(); /* a few bytes per connection; nothing sane remains */
        h->items = items;
        h->cap = cap;
    }
    t->due = lb_loop_now(t->loop) + ms;
    place(h, h->n++, t);
    sift_up(h, t->heap_index);
}

void
lb_timer_stop(lb_timer_t *t)
{
    if (t->heap_index != NOT_ARMED)
        heap_remove(lb__loop_timers(t->loop), t);
}

int
lb_timer_active(const lb_timer_t *t)
{
    return t->heap_index != NOT_ARMED;
}

long
lb_timer_heap_next(const lb_timer_heap_t *h, uint64_t now)
{
    if (h->n == 0)
        return -1;
    if (h->items[0]->due <= now)
        return 0;
    return (long)(h->items[0]->due - now);
}

void
lb_timer_heap_run(lb_timer_heap_t *h, uint64_t now)
{
    while (h->n > 0 && h->items[0]->due <= now) {
        lb_timer_t *t = h->items[0];
        heap_remove(h, t);
        t->cb(t);
    }
}

void
lb_timer_heap_free(lb_timer_heap_t *h)
{
    free(h->items);
    h->items = NULL;
    h->n = h->cap = 0;
}
