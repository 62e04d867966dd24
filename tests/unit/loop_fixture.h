/* loop_fixture.h - what the suites that run a real loop over 127.0.0.1
 * share (streams, listeners, win32): a listener on a free port. */
#ifndef LB_LOOP_FIXTURE_H
#define LB_LOOP_FIXTURE_H

#include <stdint.h>

#include "lb_platform.h"

/* Binds a listener on 127.0.0.1 at the first port from first on that is
 * free (picked at run time, up to 500 tried); 0, or -1 with none free. */
int lf_bind_free(uint16_t first, int backlog, lb_addr_t *addr,
                 lb_listener_t **out);

#endif
