/* posix_loop.c - the poll() loop: the descriptor set with O(1) add and
 * remove, deferred completions, timers, and stop requests. */
#include "posix_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int lb__posix_lifeline_fd = -1;

uint64_t
lb__posix_clock_ms(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0; /* cannot fail with a valid clock id */
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void
lb__loop_note_fd(lb_loop_t *loop, int fd)
{
    if (fd > loop->max_fd)
        loop->max_fd = fd;
}

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

/* Adds interest in `events`; the descriptor joins the set if new. */
int
lb__io_start(lb_loop_t *loop, lb__io_t *io, short events)
{
    io->events |= events;
    if (io->index >= 0) {
        loop->pfds[io->index].events = io->events;
        return 0;
    }
    if (loop->n == loop->cap && grow(loop) != 0)
        return LB_ENOMEM;
    io->index = (long)loop->n;
    loop->pfds[loop->n].fd = io->fd;
    loop->pfds[loop->n].events = io->events;
    loop->pfds[loop->n].revents = 0;
    loop->ios[loop->n++] = io;
    return 0;
}

/* Drops interest in `events`; with none left the descriptor leaves the
 * set, so an idle stream costs poll() nothing. */
void
lb__io_stop(lb_loop_t *loop, lb__io_t *io, short events)
{
    io->events &= (short)~events;
    if (io->index < 0)
        return;
    if (io->events != 0) {
        loop->pfds[io->index].events = io->events;
        return;
    }
    lb__io_remove(loop, io);
}

void
lb__io_remove(lb_loop_t *loop, lb__io_t *io)
{
    size_t i = (size_t)io->index, last;

    io->events = 0;
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

void
lb__stream_queue(lb_stream_t *s, unsigned what)
{
    lb__pending_add(&s->loop->base.pending, &s->base, what);
}

/* A relay chunk completes without touching poll() when its socket had
 * room and more data was waiting; a few passes per round save a poll()
 * per chunk on a busy stream, and the bound keeps timers and new events
 * from waiting long. */
#define PENDING_PASSES 16

static void
on_signal_pipe(lb_loop_t *loop, lb__io_t *io, short revents)
{
    char buf[64];
    ssize_t n;
    (void)revents;

    while ((n = read(io->fd, buf, sizeof(buf))) > 0)
        for (ssize_t i = 0; i < n; i++)
            lb__loop_request_stop(loop);
}

/* The parent's control pipe: a byte is a stop request, EOF means the
 * parent is gone, which is a stop request too unless one is under way. */
static void
on_lifeline(lb_loop_t *loop, lb__io_t *io, short revents)
{
    char buf[16];
    ssize_t n = read(io->fd, buf, sizeof(buf));
    (void)revents;

    if (n > 0) {
        for (ssize_t i = 0; i < n; i++)
            lb__loop_request_stop(loop);
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        lb__io_remove(loop, io);
        if (loop->base.stop_count == 0)
            lb__loop_request_stop(loop);
    }
}

static int
watch(lb_loop_t *loop, lb__io_t *io, int fd, lb__io_cb cb)
{
    io->fd = fd;
    io->cb = cb;
    io->index = -1;
    io->events = 0;
    lb__loop_note_fd(loop, fd);
    return lb__io_start(loop, io, POLLIN);
}

int
lb_loop_new(lb_loop_t **out, const lb_allocator_t *alloc)
{
    lb_loop_t *loop = calloc(1, sizeof(*loop));
    int sig_fd, rc;

    if (loop == NULL)
        return LB_ENOMEM;
    loop->base.alloc = *alloc;
    loop->base.now = lb__posix_clock_ms();
    loop->sig_io.index = loop->life_io.index = -1;
    loop->sig_io.fd = loop->life_io.fd = -1;
    rc = lb__posix_signals_init(&sig_fd);
    if (rc == 0)
        rc = watch(loop, &loop->sig_io, sig_fd, on_signal_pipe);
    if (rc == 0 && lb__posix_lifeline_fd >= 0)
        rc = watch(loop, &loop->life_io, lb__posix_lifeline_fd, on_lifeline);
    if (rc != 0) {
        lb_loop_free(loop);
        return rc;
    }
    *out = loop;
    return 0;
}

static int
poll_timeout(lb_loop_t *loop)
{
    /* Wake at least once a minute: the clock cache must not go stale. */
    return (int)lb__loop_wait_ms(loop, 60000);
}

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
        io->cb(loop, io, rev);
        /* If io left the set, slot i now holds another entry. */
        if (i < loop->n && loop->ios[i] != io && loop->pfds[i].revents)
            i--;
    }
}

int
lb_loop_run(lb_loop_t *loop)
{
    while (!loop->base.stopped) {
        int rc = poll(loop->pfds, (nfds_t)loop->n, poll_timeout(loop));

        loop->base.now = lb__posix_clock_ms();
        if (rc < 0 && errno != EINTR)
            return lb__posix_error(errno);
        if (rc > 0)
            dispatch(loop, loop->n);
        lb__loop_run_due(loop, PENDING_PASSES);
    }
    return 0;
}

void
lb_loop_free(lb_loop_t *loop)
{
    if (loop == NULL)
        return;
    lb__resolver_free(loop);
    lb__splice_free_pool(loop);
    /* The self-pipe belongs to the process, not to this loop. */
    lb_timer_heap_free(&loop->base.timers);
    free(loop->pfds);
    free(loop->ios);
    free(loop);
}
