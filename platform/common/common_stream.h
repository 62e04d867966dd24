/* common_stream.h - the part of a stream both platforms keep alike: the
 * user's data pointer, the pending operation's callback and result, and
 * the queue that delivers completions from the loop, never from inside the
 * call that started the operation. Each platform's struct lb_stream_s
 * starts with an lb__stream_base_t. */
#ifndef LB_COMMON_STREAM_H
#define LB_COMMON_STREAM_H

#include <stddef.h>

#include "lb_platform.h"

enum {
    LB__DONE_CONNECT = 1,
    LB__DONE_READ = 2,
    LB__DONE_WRITE = 4,
    LB__DONE_CLOSE = 8,
    LB__DONE_SPLICE = 16,
    LB__DONE_WATCH = 32
};

typedef struct lb__stream_base_s {
    void *data;
    int closing;
    unsigned done;   /* LB__DONE_* waiting in the queue */
    int queued;
    struct lb__stream_base_s *next_pending;
    lb_connect_cb connect_cb;
    int connect_status;
    lb_read_cb read_cb;
    long read_result;
    char *read_buf;  /* a finished read's buffer not yet delivered */
    lb_write_cb write_cb;
    char *wbuf;
    size_t wlen, woff;
    int write_status;
    lb_close_cb close_cb;
    lb_splice_cb splice_cb;
    long splice_result;
    int splice_at_sink;
    lb_watch_cb watch_cb;
    int watch_status;
    /* The first error a write or splice into this stream took, else 0.
     * A peer's reset is reported to one system call only: when a write
     * takes it, a read right after finds a plain end, which must not be
     * passed on as the peer's FIN (see lb__stream_end). */
    int write_error;
} lb__stream_base_t;

typedef struct lb__pending_s {
    lb__stream_base_t *head, *tail;
} lb__pending_t;

#define LB__BASE(s) ((lb__stream_base_t *)(void *)(s))

/* Queues `what` for s (a stream whose first member is its base). */
void lb__pending_add(lb__pending_t *q, lb__stream_base_t *b, unsigned what);
/* Runs queued completions: up to `passes` passes, each over what was queued
 * before it began. A closed stream's close callback runs, then it is
 * freed. */
void lb__pending_run(lb__pending_t *q, int passes);
/* A write or splice into b failed with err (< 0). */
static inline void
lb__stream_write_failed(lb__stream_base_t *b, int err)
{
    if (b->write_error == 0)
        b->write_error = err;
}

/* What a read that found the end of b's stream reports: LB_EOF, unless a
 * write into b failed before: then the connection was cut (a reset that
 * the write took), and the end is that error, never a clean one. */
static inline long
lb__stream_end(const lb__stream_base_t *b)
{
    return b->write_error != 0 ? b->write_error : LB_EOF;
}

/* Gives back a finished read's buffer the core never saw. */
void lb__stream_drop_read(lb__stream_base_t *b, const lb_allocator_t *a);

#endif
