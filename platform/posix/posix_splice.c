/* posix_splice.c - lb_stream_splice: bytes move from one socket to another
 * through a pipe with splice(2), never through user memory (Linux only;
 * elsewhere it answers LB_ENOTSUP and the core reads and writes). An idle
 * connection holds no pipe: one is taken from a small pool per transfer
 * and given back empty. */
#ifdef __linux__
#define _GNU_SOURCE /* splice, pipe2 */
#endif
#include "posix_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#ifdef __linux__

#include <fcntl.h>
#include <sys/ioctl.h>

#define MAX_FREE_PIPES 256
#define SPLICE_ROUNDS 16   /* pipe fills per step before reporting */

struct lb__splice_s {
    int pipe[2];
    lb_stream_t *src, *dst;
    size_t max;
    size_t in_pipe;    /* taken from src, not yet written to dst */
    size_t moved;      /* taken in this transfer */
    int deferred;      /* still inside lb_stream_splice: queue the result */
    int corked;        /* the last splice to dst said more was coming */
    struct lb__splice_s *next_free;
};

static struct lb__splice_s *
pipe_get(lb_loop_t *loop)
{
    struct lb__splice_s *sp = loop->free_pipes;

    if (sp) {
        loop->free_pipes = sp->next_free;
        loop->nfree_pipes--;
        return sp;
    }
    sp = calloc(1, sizeof(*sp));
    if (sp == NULL)
        return NULL;
    if (pipe2(sp->pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
        free(sp);
        return NULL; /* out of descriptors: read and write instead */
    }
    lb__loop_note_fd(loop, sp->pipe[0] > sp->pipe[1] ? sp->pipe[0]
                                                       : sp->pipe[1]);
    return sp;
}

/* A pipe that may still hold bytes is closed, never reused. */
static void
pipe_put(lb_loop_t *loop, struct lb__splice_s *sp, int empty)
{
    if (empty && loop->nfree_pipes < MAX_FREE_PIPES) {
        sp->next_free = loop->free_pipes;
        loop->free_pipes = sp;
        loop->nfree_pipes++;
        return;
    }
    close(sp->pipe[0]);
    close(sp->pipe[1]);
    free(sp);
}

static void
finish(struct lb__splice_s *sp, long result, int at_sink)
{
    lb_stream_t *src = sp->src, *dst = sp->dst;
    lb_loop_t *loop = src->loop;
    int deferred = sp->deferred;

    src->splice = NULL;
    dst->splice_out = NULL;
    lb__io_stop(loop, &src->io, POLLIN);
    lb__io_stop(loop, &dst->io, POLLOUT);
    pipe_put(loop, sp, sp->in_pipe == 0);
    if (deferred) {
        src->base.splice_result = result;
        src->base.splice_at_sink = at_sink;
        lb__stream_queue(src, LB__DONE_SPLICE);
    } else {
        src->base.splice_cb(src, result, at_sink);
    }
}

/* Returns 1 once the pipe is empty, 0 if dst is full, -1 on error.
 * more: src had a full pipe for us, so more is likely right behind it;
 * SPLICE_F_MORE lets TCP fill whole segments instead of sending one per
 * pipeful, and the reader behind dst is woken once per segment. */
static int
pump_out(struct lb__splice_s *sp, int more)
{
    unsigned flags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK |
                     (more ? SPLICE_F_MORE : 0);

    lb__stream_nodelay(sp->dst);
    while (sp->in_pipe > 0) {
        ssize_t n = splice(sp->pipe[0], NULL, sp->dst->io.fd, NULL,
                           sp->in_pipe, flags);
        if (n > 0) {
            sp->in_pipe -= (size_t)n;
            sp->corked = more;
        }
        else if (n < 0 && errno == EINTR)
            continue;
        else if (n < 0 && errno == EAGAIN) {
            lb__io_drained(&sp->dst->io, POLLOUT);
            return 0;
        } else
            return -1;
    }
    return 1;
}

/* src ran dry after a splice that promised more: what TCP held back for
 * a full segment goes now (setting TCP_NODELAY pushes pending frames).
 * Not a TCP socket (unix:): nothing was held back, and the call fails
 * harmlessly. */
static void
uncork(struct lb__splice_s *sp)
{
    int one = 1;

    if (!sp->corked)
        return;
    sp->corked = 0;
    (void)setsockopt(sp->dst->io.fd, IPPROTO_TCP, TCP_NODELAY, &one,
                     sizeof(one));
}

/* One splice from src into the pipe, never beyond max bytes in it.
 * Returns bytes taken, 0 at src's end, or -1 with errno. */
static ssize_t
pump_in(struct lb__splice_s *sp)
{
    int pipe_empty = sp->in_pipe == 0;
    ssize_t n;

    do
        n = splice(sp->src->io.fd, NULL, sp->pipe[1], NULL,
                   sp->max - sp->in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    while (n < 0 && errno == EINTR);
    if (n > 0) {
        sp->in_pipe += (size_t)n;
        sp->moved += (size_t)n;
    } else if (n < 0 && errno == EAGAIN && pipe_empty &&
               !(sp->src->io.ready & LB__URGENT)) {
        /* Only an empty pipe makes EAGAIN mean that src is dry: a pipe
         * with bytes in may have run out of slots instead, and splice
         * says EAGAIN at an urgent byte's mark with bytes behind it. */
        lb__io_drained(&sp->src->io, POLLIN);
    }
    return n;
}

/* splice says 0, as at the end, when src's next byte is an urgent one and
 * the FIN is in: the bytes behind the mark are still to be read. */
static int
stuck_at_mark(struct lb__splice_s *sp)
{
    int at_mark = 0; /* set, not only read: glibc's sockatmark leaves it
                        unset, which valgrind reports */

    if (ioctl(sp->src->io.fd, SIOCATMARK, &at_mark) != 0 || at_mark != 1)
        return 0;
    sp->src->io.ready |= LB__URGENT;
    return 1;
}

/* Waits for the one socket that holds the transfer up. */
static void
wait_for(struct lb__splice_s *sp, int dst_full)
{
    lb_loop_t *loop = sp->src->loop;

    if (dst_full) {
        lb__io_stop(loop, &sp->src->io, POLLIN);
        (void)lb__io_start(loop, &sp->dst->io, POLLOUT);
    } else {
        lb__io_stop(loop, &sp->dst->io, POLLOUT);
        (void)lb__io_start(loop, &sp->src->io, POLLIN);
    }
}

/* Advances the transfer as far as the sockets allow: the pipe is topped
 * up (to at most max bytes) and drained in turn, without a trip through
 * the loop per chunk, until src has nothing more for now (the bytes moved
 * are reported) or dst is full (it waits for room). A bounded number of
 * rounds keeps one fast connection from starving the others. */
void
lb__splice_step(struct lb__splice_s *sp)
{
    int src_end = 0, src_dry = 0;

    for (int round = 0; round < SPLICE_ROUNDS; round++) {
        int out, more;

        if (!src_end && !src_dry && sp->in_pipe < sp->max) {
            ssize_t n = pump_in(sp);

            if (n == 0 && stuck_at_mark(sp))
                src_dry = 1;
            else if (n == 0)
                src_end = 1;
            else if (n < 0 && errno == EAGAIN)
                src_dry = 1;
            else if (n < 0) {
                finish(sp, lb__posix_error(errno), 0);
                return;
            }
        }
        more = !src_end && !src_dry && sp->in_pipe == sp->max;
        out = pump_out(sp, more);
        if (out < 0) {
            int err = lb__posix_error(errno == 0 ? EIO : errno);

            lb__stream_write_failed(&sp->dst->base, err);
            finish(sp, err, 1);
            return;
        }
        if (out == 0) {
            wait_for(sp, 1);
            return;
        }
        if (src_end || src_dry) {
            uncork(sp); /* the pipe is empty and src has no more for now */
            break;
        }
    }
    if (sp->moved > 0)
        finish(sp, (long)sp->moved, 0);
    else if (sp->src->io.ready & LB__URGENT)
        finish(sp, LB_ENOTSUP, 0); /* stuck at the mark: read past it */
    else if (src_end)
        finish(sp, lb__stream_at_end(sp->src), 0);
    else
        wait_for(sp, 0);
}

int
lb_stream_splice(lb_stream_t *src, lb_stream_t *dst, size_t max,
                 lb_splice_cb cb)
{
    struct lb__splice_s *sp;

    /* splice never passes an urgent byte's mark (recv skips the byte). */
    if (src->io.ready & LB__URGENT)
        return LB_ENOTSUP;
    sp = pipe_get(src->loop);
    if (sp == NULL)
        return LB_ENOTSUP;
    sp->src = src;
    sp->dst = dst;
    sp->max = max;
    sp->in_pipe = sp->moved = 0;
    sp->corked = 0;
    src->splice = sp;
    dst->splice_out = sp;
    src->base.splice_cb = cb;
    sp->deferred = 1; /* no callback from inside this call */
    lb__splice_step(sp);
    if (src->splice == sp)
        sp->deferred = 0;
    return 0;
}

/* s is closing: the transfer ends without a word to s; the other stream,
 * if s was the sink, learns that its sink failed. */
void
lb__splice_abort(lb_stream_t *s)
{
    struct lb__splice_s *sp = s->splice ? s->splice : s->splice_out;

    if (sp == NULL)
        return;
    sp->deferred = 1;
    if (s == sp->dst && !sp->src->base.closing) {
        finish(sp, LB_ECANCELED, 1);
        return;
    }
    sp->src->splice = NULL;
    sp->dst->splice_out = NULL;
    lb__io_stop(s->loop, &sp->dst->io, POLLOUT);
    lb__io_stop(s->loop, &sp->src->io, POLLIN);
    pipe_put(s->loop, sp, 0);
}

void
lb__splice_free_pool(lb_loop_t *loop)
{
    while (loop->free_pipes) {
        struct lb__splice_s *sp = loop->free_pipes;
        loop->free_pipes = sp->next_free;
        close(sp->pipe[0]);
        close(sp->pipe[1]);
        free(sp);
    }
    loop->nfree_pipes = 0;
}

#else /* !__linux__: the portable path is the core's read and write */

int
lb_stream_splice(lb_stream_t *src, lb_stream_t *dst, size_t max,
                 lb_splice_cb cb)
{
    (void)src;
    (void)dst;
    (void)max;
    (void)cb;
    return LB_ENOTSUP;
}

void
lb__splice_step(struct lb__splice_s *sp)
{
    (void)sp;
}

void
lb__splice_abort(lb_stream_t *s)
{
    (void)s;
}

void
lb__splice_free_pool(lb_loop_t *loop)
{
    (void)loop;
}

#endif
