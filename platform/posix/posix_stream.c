/* posix_stream.c - connected TCP streams: connect, read into a buffer taken
 * only when data is there, write-all, half-close, close or reset. */
#include "posix_internal.h"

#include <errno.h>
#include <stddef.h>
#include <sys/ioctl.h>
#ifdef __linux__
#include <linux/sockios.h> /* SIOCOUTQ */
#endif
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef MSG_NOSIGNAL
#define SEND_FLAGS MSG_NOSIGNAL
#else
#define SEND_FLAGS 0 /* SIGPIPE is ignored anyway */
#endif
#ifndef MSG_MORE
#define MSG_MORE 0 /* not everywhere: the FIN then goes in a packet alone */
#endif

int
lb__posix_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return lb__posix_error(errno);
    return 0;
}

/* A non-blocking, close-on-exec TCP socket. */
int
lb__posix_socket(int family)
{
    int fd;

#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
    /* Linux and Cygwin: one call instead of three. */
    fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0)
        return fd;
    if (errno != EINVAL)
        return lb__posix_error(errno);
#endif
    fd = socket(family, SOCK_STREAM, 0);
    if (fd < 0)
        return lb__posix_error(errno);
    if (lb__posix_nonblock(fd) != 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
        int err = lb__posix_error(errno);
        close(fd);
        return err;
    }
    return fd;
}

static void on_io(lb_loop_t *loop, lb__io_t *io, short revents);

int
lb__posix_linger_reset(int fd)
{
    struct linger lg = {1, 0};

    if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) != 0)
        return lb__posix_error(errno);
    return 0;
}

/* The kernel closes a dying process's sockets as close() would: with a
 * FIN, unless SO_LINGER {1, 0} makes it a reset. A normal close clears
 * the option again (lb_stream_close). An accepted stream may have it
 * from its listener already. */
int
lb_stream_reset_on_exit(lb_stream_t *s)
{
    int rc;

    if (s->linger != LB__LINGER_OFF)
        return 0;
    rc = lb__posix_linger_reset(s->io.fd);
    if (rc == 0)
        s->linger = LB__LINGER_RESET;
    return rc;
}

/* Nagle holds a small segment back only while sent data is unacknowledged,
 * so a stream's first send goes out at once without TCP_NODELAY: a short
 * connection (one request each way) never needs the setsockopt() at all.
 * Any later send could be held, so the option is set before it. */
enum { NODELAY_SET = 0, NODELAY_AFTER_FIRST = 1, NODELAY_BEFORE_NEXT = 2 };

void
lb__stream_nodelay(lb_stream_t *s)
{
    int one = 1;

    if (s->nodelay_due == NODELAY_SET)
        return;
    s->nodelay_due = NODELAY_SET;
    /* Fails on a UNIX socket, which has no Nagle; elsewhere a failure
     * costs speed, not correctness. */
    (void)setsockopt(s->io.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

lb_stream_t *
lb__stream_new(lb_loop_t *loop, int fd, int nodelay)
{
    lb_stream_t *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->loop = loop;
    s->io.fd = fd;
    s->io.index = -1;
    s->io.cb = on_io;
    s->io.edge = 1; /* every read and write below reports EAGAIN */
    s->forks_at_open = lb__posix_forks;
    /* Relayed bytes are latency-bound; Nagle would only delay them. */
    s->nodelay_due = nodelay ? NODELAY_AFTER_FIRST : NODELAY_SET;
    lb__loop_note_fd(loop, fd);
    return s;
}

/* Linux sends the handshake's last ACK at once unless the socket is in
 * "pingpong" mode (TCP_QUICKACK off); then it waits, briefly, for data to
 * ride on. Only for a caller that has that data. */
static void
delay_handshake_ack(int fd, const struct sockaddr *sa)
{
#if defined(__linux__) && defined(TCP_QUICKACK)
    int zero = 0;

    if (sa->sa_family != AF_UNIX)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &zero, sizeof(zero));
#else
    (void)fd;
    (void)sa;
#endif
}

static int
connect_stream(lb_loop_t *loop, const lb_addr_t *addr, lb_connect_cb cb,
               void *data, lb_stream_t **out, int data_first)
{
    const struct sockaddr *sa = (const struct sockaddr *)addr->u.bytes;
    int fd = lb__posix_socket(sa->sa_family);
    lb_stream_t *s;

    if (fd < 0)
        return fd;
    if (data_first)
        delay_handshake_ack(fd, sa);
    s = lb__stream_new(loop, fd, sa->sa_family != AF_UNIX);
    if (s == NULL) {
        close(fd);
        return LB_ENOMEM;
    }
    if (sa->sa_family == AF_UNIX)
        s->linger = LB__LINGER_NONE;
    s->base.data = data;
    s->base.connect_cb = cb;
    *out = s;
    if (connect(fd, sa, (socklen_t)addr->len) == 0) {
        s->base.connect_status = 0;
        lb__stream_queue(s, LB__DONE_CONNECT);
    } else if (errno == EINPROGRESS || errno == EINTR) {
        if (lb__io_start(loop, &s->io, POLLOUT) != 0) {
            s->base.connect_status = LB_ENOMEM;
            lb__stream_queue(s, LB__DONE_CONNECT);
        }
    } else {
        s->base.connect_status = lb__posix_error(errno);
        lb__stream_queue(s, LB__DONE_CONNECT);
    }
    return 0;
}

int
lb_stream_connect(lb_loop_t *loop, const lb_addr_t *addr, lb_connect_cb cb,
                  void *data, lb_stream_t **out)
{
    return connect_stream(loop, addr, cb, data, out, 0);
}

int
lb_stream_connect_data(lb_loop_t *loop, const lb_addr_t *addr,
                       lb_connect_cb cb, void *data, lb_stream_t **out)
{
    return connect_stream(loop, addr, cb, data, out, 1);
}

static void
finish_connect(lb_stream_t *s, short revents)
{
    int err = 0;
    socklen_t len = sizeof(err);
    lb_connect_cb cb = s->base.connect_cb;

    lb__io_stop(s->loop, &s->io, POLLOUT);
    s->base.connect_cb = NULL;
#ifdef __linux__
    /* Linux reports a failed connect as POLLERR or POLLHUP, and a socket
     * is writable only once connected: no error, no need to ask. */
    if (!(revents & (POLLERR | POLLHUP))) {
        cb(s, 0);
        return;
    }
#else
    (void)revents;
#endif
    if (getsockopt(s->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    cb(s, err ? lb__posix_error(err) : 0);
}

/* What the read after this one will return, if already decided: LB_EOF
 * when only the FIN is left, an error when one is pending, else 0. A
 * peek, so no byte is consumed; a pending error (a reset behind the
 * bytes) is, though, since the kernel reports it once: the result is
 * kept for the next read, which would otherwise find a plain end. */
static int
look_ahead(lb_stream_t *s)
{
    char c;
    ssize_t n;

    do
        n = recv(s->io.fd, &c, 1, MSG_PEEK);
    while (n < 0 && errno == EINTR);
    if (n == 0)
        return LB_EOF; /* lb_stream_read checks for a write's error */
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
        return lb__posix_error(errno);
    if (n < 0)
        lb__io_drained(&s->io, POLLIN);
    return 0;
}

/* After a read that stopped short with the peer's FIN already in, whether
 * the next read is certain to say end of stream without asking. A FIN
 * comes after every byte before it, and a read stops short only when the
 * queue ran dry or at an urgent byte's mark, so nothing is left but the
 * FIN, and a reset arriving later cannot change that (the kernel reports
 * the end first). Not when the loop saw an error or a hang-up (a reset
 * may be what ended the stream, and must be read as one) or urgent data:
 * then look_ahead() asks. */
static int
fin_is_next(const lb_stream_t *s)
{
    return !(s->io.ready & (POLLERR | POLLHUP | LB__URGENT));
}

long
lb__stream_at_end(lb_stream_t *s)
{
    s->fins |= LB__FIN_READ;
    return lb__stream_end(&s->base);
}

/* One recv() into a fresh buffer. Returns 1 if the read finished (result
 * in read_result/read_buf), 0 if there was nothing to read. */
static int
try_read(lb_stream_t *s)
{
    lb_allocator_t *a = &s->loop->base.alloc;
    char *buf = a->get(a->ctx);
    ssize_t n;

    if (buf == NULL) {
        s->base.read_result = LB_ENOMEM;
        return 1;
    }
    /* A FIN the loop saw while nobody was reading: this read may be the
     * last before it, and must not be taken for one that merely drained
     * the socket (no new edge would come for the end). */
    if (s->io.ready & LB__PEER_FIN)
        s->peer_fin = 1;
    do
        n = recv(s->io.fd, buf, a->size, 0);
    while (n < 0 && errno == EINTR);
    if (n > 0) {
        s->base.read_result = n;
        s->base.read_buf = buf;
        s->read_hint = (size_t)n == a->size ? 1 : 0;
        /* The peer's FIN is in and this read did not fill the buffer: if
         * nothing but the FIN is left, the core can send these bytes with
         * the FIN that follows them (lb_stream_write_last). */
        if (!s->read_hint && s->peer_fin)
            s->known_next = fin_is_next(s) ? LB_EOF : look_ahead(s);
        else if (!s->read_hint && !(s->io.ready & LB__URGENT))
            /* A read stops short only when the queue ran dry (TCP and UNIX
             * streams alike), or at an urgent byte's mark; what comes later
             * brings a new edge. nginx trusts the same, saving the read
             * that would say EAGAIN. */
            lb__io_drained(&s->io, POLLIN);
        return 1;
    }
    a->put(a->ctx, buf);
    s->read_hint = 0;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        lb__io_drained(&s->io, POLLIN);
        return 0;
    }
    s->base.read_result = n == 0 ? lb__stream_at_end(s)
                                 : lb__posix_error(errno);
    return 1;
}

int
lb_stream_read(lb_stream_t *s, lb_read_cb cb)
{
    s->base.read_cb = cb;
    s->watching = 0; /* a read takes a watch over: POLLIN is its now */
    if (s->known_next) {
        /* Seen by the peek: an end is certain and a recv would only
         * confirm it; an error could not be read again. A write may have
         * taken a reset since. */
        s->base.read_result = s->known_next == LB_EOF
                                  ? lb__stream_at_end(s)
                                  : s->known_next;
        s->known_next = 0;
        lb__stream_queue(s, LB__DONE_READ);
        return 0;
    }
    /* After a full buffer more data is likely waiting: skip a poll round. */
    if (s->read_hint && try_read(s)) {
        lb__stream_queue(s, LB__DONE_READ);
        return 0;
    }
    return lb__io_start(s->loop, &s->io, POLLIN);
}

/* Readiness with nothing consumed: a one-byte peek tells bytes (left
 * where they are, and still ready for the read that comes later) from the
 * peer's FIN with nothing before it, or from a reset. */
int
lb_stream_watch(lb_stream_t *s, lb_watch_cb cb)
{
    s->base.watch_cb = cb;
    s->watching = 1;
    return lb__io_start(s->loop, &s->io, POLLIN);
}

static void
finish_watch(lb_stream_t *s)
{
    char c;
    ssize_t n;
    int status;

    do
        n = recv(s->io.fd, &c, 1, MSG_PEEK);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        lb__io_drained(&s->io, POLLIN);
        return;
    }
    status = n > 0 ? 0 : n == 0 ? LB_EOF : lb__posix_error(errno);
    s->watching = 0;
    lb__io_stop(s->loop, &s->io, POLLIN);
    s->base.watch_cb(s, status);
}

static void
finish_read(lb_stream_t *s)
{
    lb_read_cb cb = s->base.read_cb;
    char *buf;

    if (!try_read(s))
        return;
    lb__io_stop(s->loop, &s->io, POLLIN);
    buf = s->base.read_buf;
    s->base.read_buf = NULL;
    cb(s, s->base.read_result, buf);
}

/* Sends what it can; returns 1 when the write is over (all sent, or an
 * error in write_status), 0 when the socket is full. */
static int
try_write(lb_stream_t *s)
{
    while (s->base.woff < s->base.wlen) {
        ssize_t n;

        if (s->nodelay_due == NODELAY_BEFORE_NEXT)
            lb__stream_nodelay(s);
        n = send(s->io.fd, s->base.wbuf + s->base.woff,
                 s->base.wlen - s->base.woff,
                 SEND_FLAGS | (s->write_last ? MSG_MORE : 0));
        if (n > 0) {
            if (s->nodelay_due == NODELAY_AFTER_FIRST)
                s->nodelay_due = NODELAY_BEFORE_NEXT;
            s->base.woff += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            lb__io_drained(&s->io, POLLOUT);
            return 0;
        } else {
            s->base.write_status = lb__posix_error(n < 0 ? errno : EIO);
            lb__stream_write_failed(&s->base, s->base.write_status);
            return 1;
        }
    }
    s->base.write_status = 0;
    return 1;
}

/* A write waits for the end of the batch of events it came from: then
 * the peers the batch writes to are woken one after the other, while the
 * first is still at work, rather than one per event. Measured: 1.5% less
 * CPU per keep-alive request (tests/bench/README.md). */
static int
defer_write(lb_stream_t *s)
{
    lb_loop_t *loop = s->loop;

    if (loop->ndeferred == loop->cap_deferred) {
        size_t cap = loop->cap_deferred ? loop->cap_deferred * 2 : 64;
        lb_stream_t **n = realloc(loop->deferred, cap * sizeof(*n));

        if (n == NULL)
            return LB_ENOMEM; /* then written at once */
        loop->deferred = n;
        loop->cap_deferred = cap;
    }
    loop->deferred[loop->ndeferred++] = s;
    s->deferred = 1;
    return 0;
}

/* A stream closed (and soon freed) with a write still deferred. */
static void
undefer_write(lb_stream_t *s)
{
    lb_loop_t *loop = s->loop;

    for (size_t i = 0; i < loop->ndeferred; i++)
        if (loop->deferred[i] == s)
            loop->deferred[i] = loop->deferred[--loop->ndeferred];
    s->deferred = 0;
}

/* In the order they were asked for; nothing here defers another. */
void
lb__flush_writes(lb_loop_t *loop)
{
    size_t n = loop->ndeferred;

    for (size_t i = 0; i < n; i++) {
        lb_stream_t *s = loop->deferred[i];

        s->deferred = 0;
        if (try_write(s))
            lb__stream_queue(s, LB__DONE_WRITE);
        else if (lb__io_start(loop, &s->io, POLLOUT) != 0)
            lb__loop_fail(loop, LB_ENOMEM);
    }
    loop->ndeferred = 0;
}

static int
start_write(lb_stream_t *s, char *buf, size_t len, lb_write_cb cb, int last)
{
    s->write_last = (unsigned char)last;
    s->base.wbuf = buf;
    s->base.wlen = len;
    s->base.woff = 0;
    s->base.write_cb = cb;
    if (defer_write(s) == 0)
        return 0;
    if (try_write(s)) {
        lb__stream_queue(s, LB__DONE_WRITE);
        return 0;
    }
    return lb__io_start(s->loop, &s->io, POLLOUT);
}

int
lb_stream_write(lb_stream_t *s, char *buf, size_t len, lb_write_cb cb)
{
    return start_write(s, buf, len, cb, 0);
}

/* MSG_MORE holds a partial segment back until the shutdown that follows:
 * Linux then sends the bytes and the FIN in one packet. */
int
lb_stream_write_last(lb_stream_t *s, char *buf, size_t len, lb_write_cb cb)
{
    return start_write(s, buf, len, cb, 1);
}

int
lb_stream_eof_next(const lb_stream_t *s)
{
    return s->known_next == LB_EOF;
}

static void
finish_write(lb_stream_t *s)
{
    if (!try_write(s))
        return;
    lb__io_stop(s->loop, &s->io, POLLOUT);
    s->base.wbuf = NULL;
    s->base.write_cb(s, s->base.write_status);
}

static void
on_io(lb_loop_t *loop, lb__io_t *io, short revents)
{
    lb_stream_t *s = (lb_stream_t *)(void *)((char *)io -
                                             offsetof(lb_stream_t, io));
    short err = revents & (POLLERR | POLLHUP | POLLNVAL);
    (void)loop;

    if (revents & LB__PEER_FIN)
        s->peer_fin = 1;
    if (s->base.connect_cb && (revents & (POLLOUT | err))) {
        finish_connect(s, revents);
        return;
    }
    if ((io->events & POLLOUT) && (revents & (POLLOUT | err))) {
        if (s->splice_out)
            lb__splice_step(s->splice_out);
        else
            finish_write(s);
    }
    if (s->base.closing || !(io->events & POLLIN) ||
        !(revents & (POLLIN | err)))
        return;
    if (s->splice)
        lb__splice_step(s->splice);
    else if (s->watching)
        finish_watch(s);
    else
        finish_read(s);
}

int
lb_stream_shutdown(lb_stream_t *s)
{
    if (shutdown(s->io.fd, SHUT_WR) != 0)
        return lb__posix_error(errno);
    s->fins |= LB__FIN_SENT;
    return 0;
}

#define DRAIN_CHECK_MS 20
#define DRAIN_MAX_MS 30000 /* a peer that stopped reading gets its reset */

/* Whether a normal close of s must clear SO_LINGER {1, 0} first. Not
 * once both FINs are through (the first side a connection closes): the
 * connection is then over, and close() sends nothing either way, but for
 * a simultaneous close whose FIN of ours is still unacknowledged. */
static int
linger_to_clear(const lb_stream_t *s)
{
    return s->linger == LB__LINGER_RESET &&
           s->fins != (LB__FIN_SENT | LB__FIN_READ);
}

static void
close_now(lb_stream_t *s, int reset)
{
    if (reset && s->linger != LB__LINGER_RESET) {
        /* Linger 0 makes close() send RST: how a reset is passed on. */
        (void)lb__posix_linger_reset(s->io.fd);
    } else if (!reset && linger_to_clear(s)) {
        /* A FIN, as asked; if this fails, the peer gets a reset. */
        struct linger lg = {0, 0};
        (void)setsockopt(s->io.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    close(s->io.fd);
    s->io.fd = -1;
    lb__stream_queue(s, LB__DONE_CLOSE);
}

/* Bytes written but not yet acknowledged by the peer, or -1 if the
 * system cannot say. */
static long
unacked(int fd)
{
#if defined(__linux__) && defined(SIOCOUTQ)
    int n = 0;

    if (ioctl(fd, SIOCOUTQ, &n) == 0)
        return n;
#endif
    (void)fd;
    return -1;
}

static void
drain_check(lb_timer_t *t)
{
    lb_stream_t *s = t->data;

    if (unacked(s->io.fd) > 0 && lb_loop_now(s->loop) < s->drain_until) {
        lb_timer_start(&s->drain, DRAIN_CHECK_MS);
        return;
    }
    close_now(s, 1);
}

void
lb_stream_close(lb_stream_t *s, int how, lb_close_cb cb)
{
    int drain;

    if (s->base.closing)
        return;
    s->base.closing = 1;
    s->base.close_cb = cb;
    if (s->deferred)
        undefer_write(s);
    lb__splice_abort(s);
    drain = how == LB_CLOSE_DRAIN_RESET && unacked(s->io.fd) > 0;
    if (!drain && s->forks_at_open == lb__posix_forks)
        lb__io_remove_closing(s->loop, &s->io); /* close_now follows */
    else
        lb__io_remove(s->loop, &s->io);
    lb__stream_drop_read(&s->base, &s->loop->base.alloc);
    if (drain) {
        s->drain_until = lb_loop_now(s->loop) + DRAIN_MAX_MS;
        lb_timer_init(s->loop, &s->drain, drain_check, s);
        lb_timer_start(&s->drain, DRAIN_CHECK_MS);
        return;
    }
    close_now(s, how != LB_CLOSE_NORMAL);
}

/* The address at the far end (peer) or at ours of fd. */
static int
socket_address(int fd, int peer, lb_addr_t *out)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int rc = peer ? getpeername(fd, (struct sockaddr *)&ss, &len)
                  : getsockname(fd, (struct sockaddr *)&ss, &len);

    if (rc != 0)
        return lb__posix_error(errno);
    if (len > sizeof(out->u.bytes))
        return LB_EINVAL;
    memset(out, 0, sizeof(*out));
    memcpy(out->u.bytes, &ss, len);
    out->len = len;
    return 0;
}

int
lb_stream_peer(const lb_stream_t *s, lb_addr_t *out)
{
    return socket_address(s->io.fd, 1, out);
}

int
lb_stream_local(const lb_stream_t *s, lb_addr_t *out)
{
    return socket_address(s->io.fd, 0, out);
}

/* One TCP-level keepalive setting. TCP_KEEPIDLE and friends are Linux's
 * and Cygwin's (3.1 on); a system without one keeps its own default for
 * it. Cygwin before Windows 10 1703 fixes the probe count itself and may
 * refuse TCP_KEEPCNT: then Windows' count of 10 is what we asked for. */
static int
set_keepalive_opt(int fd, int name, int value, int optional)
{
    if (setsockopt(fd, IPPROTO_TCP, name, &value, sizeof(value)) == 0)
        return 0;
    if (optional && (errno == ENOPROTOOPT || errno == EINVAL))
        return 0;
    return lb__posix_error(errno);
}

int
lb_stream_keepalive(lb_stream_t *s, unsigned idle_s)
{
    int fd = s->io.fd, on = idle_s > 0, rc = 0;

    if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)) != 0)
        return lb__posix_error(errno);
    if (!on)
        return 0;
#ifdef TCP_KEEPIDLE
    rc = set_keepalive_opt(fd, TCP_KEEPIDLE, (int)idle_s, 0);
#endif
#ifdef TCP_KEEPINTVL
    if (rc == 0)
        rc = set_keepalive_opt(fd, TCP_KEEPINTVL,
                               (int)LB_KEEPALIVE_INTERVAL(idle_s), 0);
#endif
#ifdef TCP_KEEPCNT
    if (rc == 0)
        rc = set_keepalive_opt(fd, TCP_KEEPCNT, LB_KEEPALIVE_PROBES, 1);
#endif
    return rc;
}
