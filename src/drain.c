/* drain.c - graceful shutdown as a small state machine: running, draining
 * until the connections end or the deadline passes, cutting, done. */
#include "lb_drain.h"

lb_drain_state_t
lb_drain_update(lb_drain_t *d, uint64_t now, size_t active)
{
    if (d->state == LB_DRAIN_RUNNING || d->state == LB_DRAIN_DONE)
        return d->state;
    if (active == 0)
        d->state = LB_DRAIN_DONE;
    else if (d->state == LB_DRAIN_DRAINING && !d->unbounded &&
             now >= d->deadline)
        d->state = LB_DRAIN_CUTTING;
    return d->state;
}

lb_drain_state_t
lb_drain_request(lb_drain_t *d, lb_stop_reason_t why, uint64_t now,
                 uint64_t timeout_ms, size_t active)
{
    if (why == LB_STOP_RETIRE && d->state == LB_DRAIN_RUNNING) {
        d->state = LB_DRAIN_DRAINING;
        d->unbounded = 1;
    } else if (why == LB_STOP_DRAIN &&
               (d->state == LB_DRAIN_RUNNING || d->unbounded)) {
        d->state = LB_DRAIN_DRAINING;
        d->unbounded = 0;
        d->deadline = now + timeout_ms;
    } else if (why == LB_STOP_RETIRE) {
        /* already draining, or done: a retirement changes nothing */
    } else if (d->state != LB_DRAIN_DONE) {
        d->state = LB_DRAIN_CUTTING; /* asked again: stop at once */
    }
    return lb_drain_update(d, now, active);
}

uint64_t
lb_drain_remaining(const lb_drain_t *d, uint64_t now)
{
    if (d->state != LB_DRAIN_DRAINING || d->unbounded || now >= d->deadline)
        return 0;
    return d->deadline - now;
}
