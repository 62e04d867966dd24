/* loop_fixture.c - a listener on a free port for the suites that run a
 * real loop. */
#include <CUnit/CUnit.h>

#include "loop_fixture.h"

int
lf_bind_free(uint16_t first, int backlog, lb_addr_t *addr,
             lb_listener_t **out)
{
    for (uint16_t port = first; port < first + 500; port++) {
        CU_ASSERT_EQUAL_FATAL(lb_addr_from_numeric("127.0.0.1", port, addr),
                              0);
        if (lb_listener_bind(addr, backlog, out) == 0)
            return 0;
    }
    return -1;
}
