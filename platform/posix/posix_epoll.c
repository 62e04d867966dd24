/* posix_epoll.c - the readiness backend on Linux: epoll, so callbacks see
 * what poll() would have told them, at a cost per wait that grows with the
 * descriptors that are ready, not with those watched. Listeners and pipes
 * are level-triggered. Streams (io->edge) are registered once, edge-
 * triggered, for reading and writing, and never changed: their owner says
 * when it has drained one (lb__io_drained), and until then what is ready
 * is kept in io->ready, so a connection costs one epoll_ctl per socket
 * instead of one each time it turns from writing to reading (nginx's
 * model). posix_poll.c stays the portable backend (PUMPKINLB_POLL=1). */
#ifdef __linux__

#include "posix_internal.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define MAX_EVENTS 256 /* per wait; the rest stay ready for the next */

struct lb__epoll_s {
    int fd;
    int nev; /* events of the batch being dispatched, else 0 */
    /* Edge ios that are ready for what their owner now wants, though no
     * new edge will come: dispatched after the next wait, which then does
     * not block. */
    lb_list_t due;
    struct epoll_event ev[MAX_EVENTS];
};

static lb__io_t *
io_of(lb_list_t *l)
{
    return LB_LIST_ENTRY(l, lb__io_t, due);
}

/* EPOLLRDHUP rides along with EPOLLIN: a reader that knows the FIN is in
 * can tell the last data from the rest (lb_stream_eof_next). */
static uint32_t
to_epoll(short events)
{
    return ((events & POLLIN) ? (uint32_t)(EPOLLIN | EPOLLRDHUP) : 0) |
           ((events & POLLOUT) ? (uint32_t)EPOLLOUT : 0);
}

static short
from_epoll(uint32_t ev)
{
    return (short)(((ev & EPOLLIN) ? POLLIN : 0) |
                   ((ev & EPOLLOUT) ? POLLOUT : 0) |
                   ((ev & EPOLLRDHUP) ? LB__PEER_FIN : 0) |
                   ((ev & EPOLLPRI) ? LB__URGENT : 0) |
                   ((ev & EPOLLERR) ? POLLERR : 0) |
                   ((ev & EPOLLHUP) ? POLLHUP : 0));
}

/* Registers exactly `mask` for io (0: not at all). */
static int
set_armed(lb_loop_t *loop, lb__io_t *io, short mask)
{
    struct epoll_event e;
    int op = mask == 0 ? EPOLL_CTL_DEL
                       : io->armed ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;

    if (mask == io->armed)
        return 0;
    memset(&e, 0, sizeof(e));
    e.events = to_epoll(mask);
    e.data.ptr = io;
    if (epoll_ctl(loop->epoll->fd, op, io->fd, &e) != 0)
        return lb__posix_error(errno);
    io->armed = mask;
    return 0;
}

/* What an edge io's callback hears now: the ready bits it waits for, with
 * errors and hang-ups as poll() reports them, or 0. */
static short
edge_wanted(const lb__io_t *io)
{
    short rev;

    if (io->events == 0)
        return 0;
    rev = (short)(io->ready & (io->events | POLLERR | POLLHUP));
    if (rev != 0 && (io->events & POLLIN))
        rev |= (short)(io->ready & LB__PEER_FIN);
    return rev;
}

/* Registered at the first interest, for everything at once; an interest
 * in what is already known to be ready is served after the next wait. */
static int
edge_update(lb_loop_t *loop, lb__io_t *io)
{
    if (io->armed == 0 && io->events != 0) {
        struct epoll_event e;

        memset(&e, 0, sizeof(e));
        e.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET;
        e.data.ptr = io;
        if (epoll_ctl(loop->epoll->fd, EPOLL_CTL_ADD, io->fd, &e) != 0)
            return lb__posix_error(errno);
        io->armed = POLLIN | POLLOUT;
    }
    if (edge_wanted(io) != 0)
        lb_list_push(&loop->epoll->due, &io->due);
    return 0;
}

/* A dropped POLLIN stays registered: a stream asks to read again as soon
 * as its chunk was written, and a wake-up for it meanwhile is corrected
 * then (see wanted), so the common case costs no epoll_ctl. A dropped
 * POLLOUT goes at once, as a writable socket would wake every wait; if
 * it was the last interest, POLLIN takes its place, because a stream that
 * just connected reads next: one MOD instead of a DEL and an ADD. */
static int
ep_update(lb_loop_t *loop, lb__io_t *io)
{
    short want = (short)(io->events | (io->armed & POLLIN));

    if (io->edge)
        return edge_update(loop, io);
    if (want == 0 && io->armed != 0)
        want = POLLIN;
    return set_armed(loop, io, want);
}

/* epoll forgets a descriptor only when every copy of it is closed, and a
 * listening socket is open in other processes: the set must be told,
 * unless the caller knows this close is the last (closes_alone). */
static void
ep_remove(lb_loop_t *loop, lb__io_t *io, int closes_alone)
{
    struct lb__epoll_s *ep = loop->epoll;
    struct epoll_event e; /* ignored by DEL, but not NULL before 2.6.9 */

    /* The batch being dispatched may still name io, which its owner may
     * free once it is closed: those events are dropped. */
    for (int i = 0; i < ep->nev; i++)
        if (ep->ev[i].data.ptr == io)
            ep->ev[i].data.ptr = NULL;
    lb_list_remove(&io->due);
    io->ready = 0;
    memset(&e, 0, sizeof(e));
    /* ENOENT would mean not registered: what is wanted anyway. */
    if (io->armed != 0 && !closes_alone &&
        epoll_ctl(ep->fd, EPOLL_CTL_DEL, io->fd, &e) != 0 && errno != ENOENT)
        lb__loop_fail(loop, lb__posix_error(errno));
    io->armed = 0;
}

/* The poll() revents io's callback gets for ev, or 0; an interest dropped
 * since it was registered and now reported is unregistered here. */
static short
wanted(lb_loop_t *loop, lb__io_t *io, uint32_t ev)
{
    short rev = from_epoll(ev);
    short stale = (short)(io->armed & ~io->events);

    if (stale && (io->events == 0 || (rev & stale))) {
        int rc = set_armed(loop, io, io->events);
        if (rc != 0)
            lb__loop_fail(loop, rc);
    }
    if (io->events == 0)
        return 0; /* as poll(): no interest, no report, errors included */
    if (!(io->events & POLLIN))
        rev &= (short)~LB__PEER_FIN;
    return (short)(rev & (io->events | LB__PEER_FIN | POLLERR | POLLHUP));
}

static void
dispatch(lb_loop_t *loop, int n)
{
    struct lb__epoll_s *ep = loop->epoll;

    ep->nev = n;
    for (int i = 0; i < n; i++) {
        lb__io_t *io = ep->ev[i].data.ptr;
        short rev;

        if (io == NULL)
            continue; /* removed by an earlier callback of this batch */
        if (io->edge) {
            io->ready |= from_epoll(ep->ev[i].events);
            rev = edge_wanted(io);
            lb_list_remove(&io->due); /* served now */
        } else {
            rev = wanted(loop, io, ep->ev[i].events);
        }
        if (rev != 0)
            io->cb(loop, io, rev);
    }
    ep->nev = 0;
}

/* The ios that were due when this round began; those that become due
 * meanwhile (a callback asking for more of what is ready) wait for the
 * next round, so one busy stream cannot keep the loop from its timers
 * and its other descriptors. A callback may remove any io, which unlinks
 * it from this list too. */
static void
run_due(lb_loop_t *loop)
{
    lb_list_t *due = &loop->epoll->due, now;

    if (lb_list_empty(due))
        return;
    lb_list_move(due, &now);
    while (!lb_list_empty(&now)) {
        lb__io_t *io = io_of(now.next);
        short rev;

        lb_list_remove(&io->due);
        rev = edge_wanted(io);
        if (rev != 0)
            io->cb(loop, io, rev);
    }
}

static int
ep_run_once(lb_loop_t *loop, int timeout_ms)
{
    struct lb__epoll_s *ep = loop->epoll;
    int n = epoll_wait(ep->fd, ep->ev, MAX_EVENTS,
                       lb_list_empty(&ep->due) ? timeout_ms : 0);
    int err = errno;

    loop->base.now = lb__posix_clock_ms();
    if (n < 0)
        return err == EINTR ? 0 : lb__posix_error(err);
    dispatch(loop, n);
    run_due(loop);
    return 0;
}

static int
ep_init(lb_loop_t *loop)
{
    struct lb__epoll_s *ep = calloc(1, sizeof(*ep));

    if (ep == NULL)
        return LB_ENOMEM;
    ep->fd = epoll_create1(EPOLL_CLOEXEC);
    if (ep->fd < 0) {
        int err = lb__posix_error(errno);
        free(ep);
        return err;
    }
    lb__loop_note_fd(loop, ep->fd); /* the resolver's helper closes it */
    lb_list_init(&ep->due);
    loop->epoll = ep;
    return 0;
}

static void
ep_free(lb_loop_t *loop)
{
    if (loop->epoll == NULL)
        return;
    close(loop->epoll->fd);
    free(loop->epoll);
    loop->epoll = NULL;
}

const lb__backend_t lb__epoll_backend = {
    ep_init, ep_update, ep_remove, ep_run_once, ep_free,
};

#else
/* Elsewhere posix_poll.c is the only backend; ISO C wants a declaration. */
typedef int lb__epoll_not_here;
#endif /* __linux__ */
