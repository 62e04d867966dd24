/* posix_poll.c - the portable readiness backend: one poll() over every
 * watched descriptor, kept in an array with O(1) add and remove. Each
 * round costs time in proportion to the set, so an idle stream leaves it. */
#include "posix_internal.h"

#include <errno.h>
#include <stdlib.h>

static int
grow(lb_loop_t *loop)
{
    size_t cap = loop->cap ? loop->cap * 2 : 256;
    struct pollfd *pfds = realloc(loop->pfds, cap * sizeof(*pfds));
    lb__io_t **ios;

    if (pfds == NULL)
        return LB_ENOMEM;
    loop->pfds = pfds;
    ios = realloc(loop->ios, cap * sizeof(*ios));
    if (ios == NULL)
        return LB_ENOMEM;
    loop->ios = ios;
    loop->cap = cap;
    return 0;
}

static void
drop_entry(lb_loop_t *loop, lb__io_t *io)
{
    size_t i = (size_t)io->index, last;

    if (io->index < 0)
        return;
    last = --loop->n;
    if (i != last) {
        /* The moved entry keeps its revents: if it was not yet looked at
         * in this round it still will be. */
        loop->pfds[i] = loop->pfds[last];
        loop->ios[i] = loop->ios[last];
        loop->ios[i]->index = (long)i;
    }
    io->index = -1;
}

static void
poll_remove(lb_loop_t *loop, lb__io_t *io, int closes_alone)
{
    (void)closes_alone; /* the array is ours: the entry goes either way */
    drop_entry(loop, io);
}

/* A stream that reads also hears of urgent data (POLLPRI), which it must
 * not splice (see LB__URGENT). */
static short
poll_mask(const lb__io_t *io)
{
    return (short)(io->events |
                   (io->edge && (io->events & POLLIN) ? POLLPRI : 0));
}

/* The descriptor joins the set with its first interest and leaves it
 * with its last. */
static int
poll_update(lb_loop_t *loop, lb__io_t *io)
{
    if (io->events == 0) {
        drop_entry(loop, io);
        return 0;
    }
    if (io->index >= 0) {
        loop->pfds[io->index].events = poll_mask(io);
        return 0;
    }
    if (loop->n == loop->cap && grow(loop) != 0)
        return LB_ENOMEM;
    io->index = (long)loop->n;
    loop->pfds[loop->n].fd = io->fd;
    loop->pfds[loop->n].events = poll_mask(io);
    loop->pfds[loop->n].revents = 0;
    loop->ios[loop->n++] = io;
    return 0;
}

/* n is the size of the set poll() looked at: entries added since have no
 * revents yet, and a slot vacated by a callback gets the last entry. */
static void
dispatch(lb_loop_t *loop, size_t n)
{
    for (size_t i = 0; i < n && i < loop->n; i++) {
        short rev = loop->pfds[i].revents;
        lb__io_t *io;

        if (rev == 0)
            continue;
        loop->pfds[i].revents = 0;
        io = loop->ios[i];
        if (rev & POLLPRI) {
            /* Urgent data is data to read: the read steps past it. */
            io->ready |= LB__URGENT;
            rev = (short)((rev & ~POLLPRI) | POLLIN);
        }
        io->cb(loop, io, rev);
        /* If io left the set, slot i now holds another entry. */
        if (i < loop->n && loop->ios[i] != io && loop->pfds[i].revents)
            i--;
    }
}

static int
poll_run_once(lb_loop_t *loop, int timeout_ms)
{
    int rc = poll(loop->pfds, (nfds_t)loop->n, timeout_ms);
    int err = errno;

    loop->base.now = lb__posix_clock_ms();
    if (rc < 0)
        return err == EINTR ? 0 : lb__posix_error(err);
    if (rc > 0)
        dispatch(loop, loop->n);
    return 0;
}

static int
poll_init(lb_loop_t *loop)
{
    (void)loop; /* the set grows on first use */
    return 0;
}

static void
poll_free(lb_loop_t *loop)
{
    free(loop->pfds);
    free(loop->ios);
    loop->pfds = NULL;
    loop->ios = NULL;
    loop->n = loop->cap = 0;
}

const lb__backend_t lb__poll_backend = {
    poll_init, poll_update, poll_remove, poll_run_once, poll_free,
};
