/* lb_drain.h - the graceful-shutdown policy, apart from any clock or
 * socket so it can be tested with a fake clock. */
#ifndef LB_DRAIN_H
#define LB_DRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "lb_platform.h" /* lb_stop_reason_t */

typedef enum {
    LB_DRAIN_RUNNING = 0, /* serving */
    LB_DRAIN_DRAINING,    /* listeners closed, waiting for connections */
    LB_DRAIN_CUTTING,     /* closing what is left; exit when it is gone */
    LB_DRAIN_DONE         /* nothing left: the worker may exit */
} lb_drain_state_t;

typedef struct lb_drain_s {
    lb_drain_state_t state;
    uint64_t deadline; /* ms, loop time */
    int unbounded;     /* draining with no deadline (replaced by a reload) */
} lb_drain_t;

/* A stop was requested: LB_STOP_DRAIN starts a drain of up to
 * timeout_ms, LB_STOP_NOW cuts at once, LB_STOP_RETIRE (a reload's) is a
 * drain with no deadline, since a reload must never cut a connection; a
 * stop after it sets the deadline. Returns the new state. */
lb_drain_state_t lb_drain_request(lb_drain_t *d, lb_stop_reason_t why,
                                  uint64_t now, uint64_t timeout_ms,
                                  size_t active);
/* Re-evaluates after a connection closed or a timer fired. */
lb_drain_state_t lb_drain_update(lb_drain_t *d, uint64_t now, size_t active);
/* Milliseconds until the deadline (0 if past); only while draining. */
uint64_t lb_drain_remaining(const lb_drain_t *d, uint64_t now);

#endif
