/* lb_pick.h - the balancing algorithms (algorithm = in the config): which
 * backend a new client goes to among the candidates lb_health_pick()
 * offers in one pass. */
#ifndef LB_PICK_H
#define LB_PICK_H

#include <stdint.h>

#include "lb_balancer.h"
#include "lb_health.h"
#include "lb_platform.h"

/* One pass: the candidates are the backends of one tier (backup or not)
 * whose lb_health_rank() is rank; the listener's algorithm chooses among
 * them. Returns -1 when there is none. client is used by source only. */
long lb_pick_pass(lb_health_t *h, lb_rr_t *rr, const lb_addr_t *client,
                  uint64_t now, int backup, int rank);

/* A backend's place in source hashing, from its label: the same backend
 * keeps its clients whatever else is added or removed. */
uint64_t lb_pick_key(const char *label);

#endif
