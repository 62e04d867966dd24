/* server_internal.h - what server.c offers server_reload.c: a server set
 * up on a worker's loop, its listeners and its drain. */
#ifndef LB_SERVER_INTERNAL_H
#define LB_SERVER_INTERNAL_H

#include "lb_server.h"

/* A server on srv->loop and srv->pool for cfg; on_drained runs once a
 * stop's drain is over. */
void lb__server_setup(lb_server_t *srv, const lb_config_t *cfg,
                      unsigned slot, void (*on_drained)(lb_server_t *srv));
/* Starts listeners idx[0..n), taking over those previous serves. */
int lb__server_listen(lb_server_t *srv, lb_listener_t **listeners,
                      const lb_shared_t *shared, const size_t *idx, size_t n,
                      lb_server_t *previous);
/* Closes the listeners, stops the checks and drains or cuts. */
void lb__server_stop(lb_server_t *srv, lb_stop_reason_t why);
/* Frees what a server holds apart from the loop and the pool. */
void lb__server_free_parts(lb_server_t *srv);

#endif
