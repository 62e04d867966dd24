/* log_rate.c - at most one line a second of a kind, so that a flood of
 * clients cannot flood the log as well: the first event of a second is
 * written at once, the others are counted and reported together at the
 * second's end. */
#include "lb_log.h"

#define PERIOD_MS 1000

static void
emit(lb_lograte_t *r)
{
    r->due = lb_loop_now(r->timer.loop) + PERIOD_MS;
    r->report(r);
    r->held = 0;
}

static void
on_timer(lb_timer_t *t)
{
    lb_lograte_t *r = t->data;

    if (r->held > 0)
        emit(r);
}

void
lb_lograte_init(lb_lograte_t *r, lb_loop_t *loop, lb_lograte_fn report,
                void *data)
{
    r->due = 0;
    r->held = 0;
    r->who[0] = r->what[0] = '\0';
    r->report = report;
    r->data = data;
    lb_timer_init(loop, &r->timer, on_timer, r);
}

void
lb_lograte_event(lb_lograte_t *r)
{
    uint64_t now = lb_loop_now(r->timer.loop);

    r->held++;
    if (now >= r->due)
        emit(r);
    else if (!lb_timer_active(&r->timer))
        lb_timer_start(&r->timer, r->due - now);
}

void
lb_lograte_stop(lb_lograte_t *r)
{
    lb_timer_stop(&r->timer);
    if (r->held > 0) {
        r->report(r);
        r->held = 0;
    }
}
