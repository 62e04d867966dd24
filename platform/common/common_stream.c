/* common_stream.c - completions delivered from the loop, and the stream
 * accessors, alike on every platform. */
#include <stdlib.h>

#include "common_stream.h"

void
lb__pending_add(lb__pending_t *q, lb__stream_base_t *b, unsigned what)
{
    b->done |= what;
    if (b->queued)
        return;
    b->queued = 1;
    b->next_pending = NULL;
    if (q->tail)
        q->tail->next_pending = b;
    else
        q->head = b;
    q->tail = b;
}

static void
deliver(lb__stream_base_t *b)
{
    lb_stream_t *s = (lb_stream_t *)(void *)b;
    unsigned done = b->done;

    b->done = 0;
    if (done & LB__DONE_CLOSE) {
        if (b->close_cb)
            b->close_cb(s);
        free(b); /* the base is the first member of the stream */
        return;
    }
    if ((done & LB__DONE_CONNECT) && !b->closing)
        b->connect_cb(s, b->connect_status);
    if ((done & LB__DONE_WRITE) && !b->closing) {
        b->wbuf = NULL;
        b->write_cb(s, b->write_status);
    }
    if ((done & LB__DONE_READ) && !b->closing) {
        char *buf = b->read_buf;
        b->read_buf = NULL;
        b->read_cb(s, b->read_result, buf);
    }
    if ((done & LB__DONE_WATCH) && !b->closing)
        b->watch_cb(s, b->watch_status);
    if ((done & LB__DONE_SPLICE) && !b->closing)
        b->splice_cb(s, b->splice_result, b->splice_at_sink);
}

/* One pass: completions queued by these callbacks wait for the next, so a
 * busy stream cannot starve the others. */
static void
run_once(lb__pending_t *q)
{
    lb__stream_base_t *b = q->head, *end = q->tail;

    q->head = q->tail = NULL;
    while (b) {
        lb__stream_base_t *next = b->next_pending;
        int last = b == end;
        b->queued = 0;
        deliver(b);
        if (last)
            break;
        b = next;
    }
}

void
lb__pending_run(lb__pending_t *q, int passes)
{
    for (int i = 0; i < passes && q->head; i++)
        run_once(q);
}

void
lb__stream_drop_read(lb__stream_base_t *b, const lb_allocator_t *a)
{
    if (b->read_buf) {
        a->put(a->ctx, b->read_buf);
        b->read_buf = NULL;
    }
}

void *
lb_stream_data(const lb_stream_t *s)
{
    return ((const lb__stream_base_t *)(const void *)s)->data;
}

void
lb_stream_set_data(lb_stream_t *s, void *data)
{
    LB__BASE(s)->data = data;
}
