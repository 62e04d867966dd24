/* posix_loop.c - the loop: watched descriptors (through a backend, poll
 * or epoll), deferred completions, timers, and stop requests. */
#include "posix_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int lb__posix_lifeline_fd = -1;
unsigned lb__posix_forks;

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

/* A backend failure where no caller can be told (a stop, a removal, a
 * wake-up being corrected): lb_loop_run returns it, and the worker exits
 * and is restarted rather than run with a set it cannot trust. */
void
lb__loop_fail(lb_loop_t *loop, int err)
{
    if (loop->error == 0)
        loop->error = err;
}

/* Adds interest in `events`; the descriptor joins the set if new. */
int
lb__io_start(lb_loop_t *loop, lb__io_t *io, short events)
{
    io->events |= events;
    return loop->backend->update(loop, io);
}

/* Drops interest in `events`; with none left the descriptor is not
 * reported any more, so an idle stream costs a wait nothing. */
void
lb__io_stop(lb_loop_t *loop, lb__io_t *io, short events)
{
    int rc;

    io->events &= (short)~events;
    rc = loop->backend->update(loop, io);
    if (rc != 0)
        lb__loop_fail(loop, rc);
}

void
lb__io_drained(lb__io_t *io, short events)
{
    io->ready &= (short)~events;
}

/* Before io->fd is closed or io freed. */
void
lb__io_remove(lb_loop_t *loop, lb__io_t *io)
{
    io->events = 0;
    loop->backend->remove(loop, io, 0);
}

/* Before io->fd is closed, when no other process has a copy of it: epoll
 * drops a descriptor whose last copy closes, so telling it costs a system
 * call for nothing. */
void
lb__io_remove_closing(lb_loop_t *loop, lb__io_t *io)
{
    io->events = 0;
    loop->backend->remove(loop, io, 1);
}

void
lb__stream_queue(lb_stream_t *s, unsigned what)
{
    lb__pending_add(&s->loop->base.pending, &s->base, what);
}

/* A relay chunk completes without a wait for readiness when its socket
 * had room and more data was waiting; a few passes per round save a wait
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
        /* 'R': replaced by a reload; anything else: a stop request. */
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == 'R')
                lb__loop_request_retire(loop);
            else
                lb__loop_request_stop(loop);
        }
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
    io->events = io->armed = 0;
    lb__loop_note_fd(loop, fd);
    return lb__io_start(loop, io, POLLIN);
}

/* epoll on Linux unless PUMPKINLB_POLL is set (to anything but "" or
 * "0"): poll stays the portable backend and is tested on Linux too. */
static const lb__backend_t *
pick_backend(void)
{
#ifdef __linux__
    const char *force = getenv("PUMPKINLB_POLL");

    if (force == NULL || force[0] == '\0' || strcmp(force, "0") == 0)
        return &lb__epoll_backend;
#endif
    return &lb__poll_backend;
}

/* Loops are made in each worker after fork, so an epoll set is never
 * shared between processes. If epoll cannot be had (an emulated kernel
 * without it), poll needs no kernel object and serves as well. */
static int
init_backend(lb_loop_t *loop)
{
    int rc;

    loop->backend = pick_backend();
    rc = loop->backend->init(loop);
    if (rc != 0 && loop->backend != &lb__poll_backend) {
        loop->backend = &lb__poll_backend;
        rc = loop->backend->init(loop);
    }
    return rc;
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
    rc = init_backend(loop);
    if (rc != 0) {
        free(loop);
        return rc;
    }
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
wait_timeout(lb_loop_t *loop)
{
    /* Wake at least once a minute: the clock cache must not go stale. */
    return (int)lb__loop_wait_ms(loop, 60000);
}

/* Writes start as a batch ends: the events' (after the wait), then the
 * completions' and timers' (before the next wait, which does not sleep
 * if one of them completed). */
int
lb_loop_run(lb_loop_t *loop)
{
    while (!loop->base.stopped && loop->error == 0) {
        int rc;

        lb__flush_writes(loop);
        rc = loop->backend->run_once(loop, wait_timeout(loop));
        if (rc != 0)
            return rc;
        lb__flush_writes(loop);
        if (loop->error == 0)
            lb__loop_run_due(loop, PENDING_PASSES);
    }
    return loop->error;
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
    loop->backend->free(loop);
    free(loop->deferred);
    free(loop);
}
