/* posix_listener.c - listening sockets: bound in the parent before fork,
 * accepted from in batches inside each worker's loop. */
#if defined(__linux__) || defined(__CYGWIN__)
#define _GNU_SOURCE /* accept4 */
#endif
#include "posix_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Linux copies TCP_NODELAY and SO_LINGER from the listener to what it
 * accepts, which saves a setsockopt() each per connection; elsewhere they
 * are set on each. */
#ifdef __linux__
#define NODELAY_INHERITED 1
#define LINGER_INHERITED 1
#else
#define NODELAY_INHERITED 0
#define LINGER_INHERITED 0
#endif

#define ACCEPT_BATCH 64
#define EMFILE_PAUSE_MS 100 /* out of descriptors: let connections finish */
#define LOST_ONE (-1)       /* one accepted socket could not be set up */

static int
set_opt(int fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof(value));
}

static int
open_listener(const lb_addr_t *addr, int backlog)
{
    const struct sockaddr *sa = (const struct sockaddr *)addr->u.bytes;
    int fd = lb__posix_socket(sa->sa_family);
    int err;

    if (fd < 0)
        return fd;
    /* Restarting must not wait for TIME_WAIT (the original does the same). */
    if (set_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1) != 0)
        goto fail;
    /* [::]:80 means IPv6 only, as in nginx, so 0.0.0.0:80 can coexist. */
    if (sa->sa_family == AF_INET6 &&
        set_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1) != 0)
        goto fail;
    if (bind(fd, sa, (socklen_t)addr->len) != 0 || listen(fd, backlog) != 0)
        goto fail;
    /* Passed on to accepted sockets where NODELAY_INHERITED; if it failed,
     * they would merely send with Nagle. */
    if (sa->sa_family != AF_UNIX)
        (void)set_opt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    return fd;
fail:
    err = lb__posix_error(errno);
    close(fd);
    return err;
}

int
lb_listener_bind(const lb_addr_t *addr, int backlog, lb_listener_t **out)
{
    lb_listener_t *l = calloc(1, sizeof(*l));
    int fd;

    if (l == NULL)
        return LB_ENOMEM;
    fd = open_listener(addr, backlog);
    if (fd < 0) {
        free(l);
        return fd;
    }
    l->io.fd = fd;
    l->io.index = -1;
    /* Accepted streams are relayed, and must reset should the worker die
     * (lb_stream_reset_on_exit); closing a listening socket is the same
     * with it. */
    if (((const struct sockaddr *)addr->u.bytes)->sa_family == AF_UNIX)
        l->linger = LB__LINGER_NONE;
    else if (LINGER_INHERITED && lb__posix_linger_reset(fd) == 0)
        l->linger = LB__LINGER_RESET;
    *out = l;
    return 0;
}

static void
resume(lb_timer_t *t)
{
    lb_listener_t *l = t->data;

    if (!l->paused)
        (void)lb__io_start(l->loop, &l->io, POLLIN);
}

void
lb_listener_pause(lb_loop_t *loop, lb_listener_t *l, int paused)
{
    (void)loop; /* a process's copy has its one loop */
    l->paused = paused;
    if (l->loop == NULL)
        return; /* detached */
    if (paused)
        lb__io_stop(l->loop, &l->io, POLLIN);
    else if (!lb_timer_active(&l->pause))
        (void)lb__io_start(l->loop, &l->io, POLLIN);
}

static void
pause_accepting(lb_listener_t *l)
{
    lb__io_stop(l->loop, &l->io, POLLIN);
    lb_timer_start(&l->pause, EMFILE_PAUSE_MS);
}

/* An address the system did not give (len 0: a UNIX client, or one gone
 * before the accept) is left for lb_stream_peer to ask about. */
static void
keep_peer(const struct sockaddr_storage *ss, socklen_t len, lb_addr_t *out)
{
    memset(out, 0, sizeof(*out));
    if (len == 0 || len > sizeof(out->u.bytes) || len > sizeof(*ss))
        return;
    memcpy(out->u.bytes, ss, len);
    out->len = len;
}

/* The client's address comes with the accept, which saves the core a
 * getpeername() per connection. */
static int
accept_one(lb_listener_t *l, lb_addr_t *peer)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd;

#if defined(__linux__) || defined(__CYGWIN__)
    /* accept4 saves the fcntl() calls; both systems have it. */
    do {
        len = sizeof(ss);
        fd = accept4(l->io.fd, (struct sockaddr *)&ss, &len,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return lb__posix_error(errno);
    keep_peer(&ss, len, peer);
    return fd;
#else
    do {
        len = sizeof(ss);
        fd = accept(l->io.fd, (struct sockaddr *)&ss, &len);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return lb__posix_error(errno);
    if (lb__posix_nonblock(fd) != 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
        close(fd);
        return LOST_ONE;
    }
    keep_peer(&ss, len, peer);
    return fd;
#endif
}

static void
accept_batch(lb_loop_t *loop, lb_listener_t *l)
{
    for (int i = 0; i < ACCEPT_BATCH && !l->closed && !l->paused; i++) {
        lb_addr_t peer;
        int fd = accept_one(l, &peer);
        lb_stream_t *s;

        if (fd == LB_EAGAIN)
            return;
        if (fd == LB_EMFILE || fd == LB_ENOMEM || fd == LB_ENOBUFS) {
            pause_accepting(l);
            l->cb(l, NULL, NULL, fd, l->data);
            return;
        }
        if (fd < 0)
            continue; /* aborted by the client before we got to it */
        s = lb__stream_new(loop, fd, !NODELAY_INHERITED);
        if (s == NULL) {
            close(fd);
            pause_accepting(l);
            l->cb(l, NULL, NULL, LB_ENOMEM, l->data);
            return;
        }
        s->linger = l->linger;
        l->cb(l, s, peer.len ? &peer : NULL, 0, l->data);
    }
}

/* The core's callback may close its own listener: then it is freed here,
 * once the batch is over, not under the loop's feet. */
static void
on_accept(lb_loop_t *loop, lb__io_t *io, short revents)
{
    lb_listener_t *l = (lb_listener_t *)io;
    (void)revents;

    l->accepting = 1;
    accept_batch(loop, l);
    l->accepting = 0;
    if (l->unbound)
        free(l);
}

int
lb_listener_start(lb_loop_t *loop, lb_listener_t *l, lb_accept_cb cb,
                  void *data)
{
    l->loop = loop;
    l->cb = cb;
    l->data = data;
    l->io.cb = on_accept;
    lb_timer_init(loop, &l->pause, resume, l);
    lb__loop_note_fd(loop, l->io.fd);
    return lb__io_start(loop, &l->io, POLLIN);
}

void
lb_listener_handover(lb_loop_t *loop, lb_listener_t *l, lb_accept_cb cb,
                     void *data)
{
    l->cb = cb;
    l->data = data;
    lb_listener_pause(loop, l, 0);
}

/* Each worker process has its own copy of the socket, and a loop's
 * attachment is that copy: it closes now; the memory goes with the
 * binder's close (a worker that exits never makes it). */
void
lb_listener_detach(lb_loop_t *loop, lb_listener_t *l)
{
    (void)loop;
    if (l->loop) {
        lb_timer_stop(&l->pause);
        lb__io_remove(l->loop, &l->io);
        l->loop = NULL;
    }
    if (l->io.fd >= 0)
        close(l->io.fd);
    l->io.fd = -1;
    l->closed = 1;
}

void
lb_listener_close(lb_listener_t *l)
{
    lb_listener_detach(l->loop, l);
    l->unbound = 1;
    if (!l->accepting)
        free(l);
}
