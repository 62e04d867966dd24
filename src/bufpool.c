/* bufpool.c - a free list of relay buffers. Buffers that are returned
 * beyond max_free go back to malloc, so a burst does not pin memory. */
#include <stdlib.h>

#include "lb_bufpool.h"

typedef struct free_buf_s {
    struct free_buf_s *next;
} free_buf_t;

void
lb_bufpool_init(lb_bufpool_t *p, size_t size, size_t max_free)
{
    p->size = size;
    p->free_list = NULL;
    p->nfree = 0;
    p->max_free = max_free;
    p->in_use = 0;
}

char *
lb_bufpool_get(lb_bufpool_t *p)
{
    free_buf_t *b = p->free_list;

    if (b) {
        p->free_list = b->next;
        p->nfree--;
    } else {
        /* A free buffer holds the list link, so never less than that. */
        b = malloc(p->size < sizeof(*b) ? sizeof(*b) : p->size);
        if (b == NULL)
            return NULL;
    }
    p->in_use++;
    return (char *)b;
}

void
lb_bufpool_put(lb_bufpool_t *p, char *buf)
{
    free_buf_t *b = (free_buf_t *)(void *)buf;

    p->in_use--;
    if (p->nfree >= p->max_free) {
        free(b);
        return;
    }
    b->next = p->free_list;
    p->free_list = b;
    p->nfree++;
}

void
lb_bufpool_free(lb_bufpool_t *p)
{
    free_buf_t *b = p->free_list;

    while (b) {
        free_buf_t *next = b->next;
        free(b);
        b = next;
    }
    p->free_list = NULL;
    p->nfree = 0;
}

/* The allocator's calls take the pool as an untyped context. */
static char *
allocator_get(void *pool)
{
    return lb_bufpool_get(pool);
}

static void
allocator_put(void *pool, char *buf)
{
    lb_bufpool_put(pool, buf);
}

lb_allocator_t
lb_bufpool_allocator(lb_bufpool_t *p)
{
    lb_allocator_t a;

    a.get = allocator_get;
    a.put = allocator_put;
    a.ctx = p;
    a.size = p->size;
    return a;
}
