/* server_internal.h - what server.c and succession.c share: a worker's
 * server set up on a loop, its drain, and its place in a succession of
 * servers on one loop (an in-loop reload). */
#ifndef LB_SERVER_INTERNAL_H
#define LB_SERVER_INTERNAL_H

#include "lb_server.h"

/* server.c */
void lb__server_setup(lb_server_t *srv, const lb_config_t *cfg,
                      unsigned slot);
int lb__server_listen(lb_server_t *srv, lb_listener_t **listeners,
                      const lb_shared_t *shared, const size_t *idx, size_t n,
                      lb_server_t *previous);
void lb__server_close_listeners(lb_server_t *srv);
size_t lb__server_open_count(const lb_server_t *srv);
void lb__server_apply(lb_server_t *srv, lb_drain_state_t st);
void lb__server_stop(lb_server_t *srv, int count);
void lb__server_on_stop(lb_loop_t *loop, int count, void *data);
void lb__server_on_accept(lb_listener_t *l, lb_stream_t *s,
                          const lb_addr_t *client, int status, void *data);
size_t lb__server_process_limit(const lb_config_t *cfg);
void lb__server_free_parts(lb_server_t *srv);

/* succession.c */
/* The drain of srv is over: the loop stops, or a retired server is
 * freed soon after. */
void lb__server_done(lb_server_t *srv);
void lb__server_on_reload(lb_loop_t *loop, void *data);
void lb__server_reap(lb_timer_t *t);
/* At the end: frees every retired server still there. */
void lb__server_reap_all(lb_server_t *srv);

#endif
