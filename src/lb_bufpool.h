/* lb_bufpool.h - relay buffers of buffer_size bytes on a free list, so the
 * hot path does not call malloc and an idle connection holds none. */
#ifndef LB_BUFPOOL_H
#define LB_BUFPOOL_H

#include <stddef.h>

#include "lb_platform.h"

typedef struct lb_bufpool_s {
    size_t size;      /* bytes per buffer */
    void *free_list;
    size_t nfree, max_free;
    size_t in_use;    /* handed out and not yet returned */
} lb_bufpool_t;

void lb_bufpool_init(lb_bufpool_t *p, size_t size, size_t max_free);
char *lb_bufpool_get(lb_bufpool_t *p);
void lb_bufpool_put(lb_bufpool_t *p, char *buf);
void lb_bufpool_free(lb_bufpool_t *p);
/* The allocator view of a pool, for lb_loop_new(). */
lb_allocator_t lb_bufpool_allocator(lb_bufpool_t *p);

#endif
