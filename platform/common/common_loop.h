/* common_loop.h - the part of a loop both platforms keep alike: timers,
 * the cached clock, the buffer allocator, queued completions and stop
 * requests. Each platform's struct lb_loop_s starts with it. */
#ifndef LB_COMMON_LOOP_H
#define LB_COMMON_LOOP_H

#include "common_stream.h"
#include "lb_platform.h"
#include "common_timers.h"

typedef struct lb__loop_base_s {
    lb_timer_heap_t timers;
    uint64_t now;
    int stopped;
    lb_allocator_t alloc;
    lb__pending_t pending;
    lb_stop_cb stop_cb;
    void *stop_data;
    int stop_count;
    lb_reload_cb reload_cb;
    void *reload_data;
} lb__loop_base_t;

#define LB__LOOP(l) ((lb__loop_base_t *)(void *)(l))

/* A stop was asked for (signal, Ctrl+C, service stop, parent gone). */
void lb__loop_request_stop(lb_loop_t *loop);
/* A reload replaced this worker: the stop callback with LB_STOP_RETIRE. */
void lb__loop_request_retire(lb_loop_t *loop);
/* The supervisor hands the loop a reload's next run (Windows). */
void lb__loop_request_reload(lb_loop_t *loop, void *next);
/* Milliseconds the loop may sleep: 0 with completions queued, -1 for
 * ever, else until the next timer (at most max_ms). */
long lb__loop_wait_ms(lb_loop_t *loop, long max_ms);
/* After waking: timers due, then queued completions. */
void lb__loop_run_due(lb_loop_t *loop, int passes);

#endif
