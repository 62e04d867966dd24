/* common_timers.h - the timer heap shared by every platform loop (as
 * libuv keeps its timers in its shared layer): both loops keep one of
 * these and call in here; the lb_timer_* functions of lb_platform.h are
 * implemented on top of it. */
#ifndef LB_COMMON_TIMERS_H
#define LB_COMMON_TIMERS_H

#include "lb_platform.h"

typedef struct lb_timer_heap_s {
    lb_timer_t **items;
    size_t n, cap;
} lb_timer_heap_t;

/* Each platform's loop hands out its heap. */
lb_timer_heap_t *lb__loop_timers(lb_loop_t *loop);

/* Milliseconds until the earliest timer is due (0 if overdue), or -1. */
long lb_timer_heap_next(const lb_timer_heap_t *h, uint64_t now);
/* Runs every timer due at `now`; a callback may re-arm its timer. */
void lb_timer_heap_run(lb_timer_heap_t *h, uint64_t now);
void lb_timer_heap_free(lb_timer_heap_t *h);

#endif
