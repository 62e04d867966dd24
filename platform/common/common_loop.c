/* common_loop.c - loop services alike on every platform: timers, clock,
 * stop requests, running what is due after a wake-up. */
#include "common_loop.h"

lb_timer_heap_t *
lb__loop_timers(lb_loop_t *loop)
{
    return &LB__LOOP(loop)->timers;
}

uint64_t
lb_loop_now(lb_loop_t *loop)
{
    return LB__LOOP(loop)->now;
}

void
lb_loop_on_stop(lb_loop_t *loop, lb_stop_cb cb, void *data)
{
    LB__LOOP(loop)->stop_cb = cb;
    LB__LOOP(loop)->stop_data = data;
}

void
lb_loop_on_reload(lb_loop_t *loop, lb_reload_cb cb, void *data)
{
    LB__LOOP(loop)->reload_cb = cb;
    LB__LOOP(loop)->reload_data = data;
}

void
lb__loop_request_retire(lb_loop_t *loop)
{
    lb__loop_base_t *b = LB__LOOP(loop);

    if (b->stop_cb)
        b->stop_cb(loop, LB_STOP_RETIRE, b->stop_data);
}

void
lb__loop_request_reload(lb_loop_t *loop, void *next)
{
    lb__loop_base_t *b = LB__LOOP(loop);

    if (b->reload_cb)
        b->reload_cb(loop, next, b->reload_data);
}

void
lb_loop_stop(lb_loop_t *loop)
{
    LB__LOOP(loop)->stopped = 1;
}

void
lb__loop_request_stop(lb_loop_t *loop)
{
    lb__loop_base_t *b = LB__LOOP(loop);

    b->stop_count++;
    if (b->stop_cb)
        b->stop_cb(loop, b->stop_count == 1 ? LB_STOP_DRAIN : LB_STOP_NOW,
                   b->stop_data);
    else
        b->stopped = 1;
}

long
lb__loop_wait_ms(lb_loop_t *loop, long max_ms)
{
    lb__loop_base_t *b = LB__LOOP(loop);
    long t;

    if (b->pending.head)
        return 0;
    t = lb_timer_heap_next(&b->timers, b->now);
    return t > max_ms ? max_ms : t;
}

void
lb__loop_run_due(lb_loop_t *loop, int passes)
{
    lb__loop_base_t *b = LB__LOOP(loop);

    lb_timer_heap_run(&b->timers, b->now);
    lb__pending_run(&b->pending, passes);
}
