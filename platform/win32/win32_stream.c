/* win32_stream.c - connected TCP streams on IOCP: ConnectEx, a zero-byte
 * WSARecv that waits for data without holding a buffer (or, while bulk
 * flows, a WSARecv with one), WSASend until all is sent, half-close.
 * Closing is win32_close.c's. */
#include "win32_internal.h"

#include <mstcpip.h> /* SIO_KEEPALIVE_VALS */
#include <stdlib.h>
#include <string.h>

static char zero_buf[1]; /* a zero-length WSABUF still wants a pointer */

SOCKET
lb__win_socket(int family)
{
    /* Never inherited, from the start: a process another thread starts
     * meanwhile gets no copy (Windows 7 SP1 and later). */
    SOCKET s = WSASocketW(family, SOCK_STREAM, IPPROTO_TCP, NULL, 0,
                          WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    u_long nonblock = 1;

    if (s == INVALID_SOCKET && WSAGetLastError() == WSAEINVAL) {
        /* Older: the flag is refused; made non-inheritable right after. */
        s = WSASocketW(family, SOCK_STREAM, IPPROTO_TCP, NULL, 0,
                       WSA_FLAG_OVERLAPPED);
        if (s != INVALID_SOCKET)
            SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0);
    }
    if (s == INVALID_SOCKET)
        return s;
    /* recv() after the zero-byte read must never block the loop. */
    if (ioctlsocket(s, FIONBIO, &nonblock) != 0) {
        closesocket(s);
        return INVALID_SOCKET;
    }
    return s;
}

lb_stream_t *
lb__stream_new(lb_loop_t *loop, SOCKET sock)
{
    lb_stream_t *s = calloc(1, sizeof(*s));
    BOOL one = TRUE;

    if (s == NULL)
        return NULL;
    if (CreateIoCompletionPort((HANDLE)sock, loop->iocp, LB__KEY_IO, 0) ==
        NULL) {
        free(s);
        return NULL;
    }
    s->sock = sock;
    s->loop = loop;
    s->read_op.kind = LB__OP_READ;
    s->write_op.kind = LB__OP_WRITE;
    s->connect_op.kind = LB__OP_CONNECT;
    s->read_op.owner = s->write_op.owner = s->connect_op.owner = s;
    lb_timer_init(loop, &s->close_timer, lb__stream_close_timer, s);
    /* Relayed bytes are latency-bound; a failure costs speed only. */
    (void)setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, (const char *)&one,
                     sizeof(one));
    return s;
}

/* ConnectEx wants a bound socket, and bind(port 0) would reserve a port
 * for this socket alone, across every destination: churn to backends
 * then exhausts the dynamic range. SO_REUSE_UNICASTPORT (Windows 10,
 * Server 2016) picks the port at connect time and shares it between
 * destinations; SO_PORT_SCALABILITY (Server 2008) is the older
 * approximation. Where neither exists the bind is as before. */
static int
bind_any(SOCKET sock, int family)
{
    DWORD one = 1;
    lb_addr_t any;

    if (setsockopt(sock, SOL_SOCKET, SO_REUSE_UNICASTPORT,
                   (const char *)&one, sizeof(one)) != 0)
        (void)setsockopt(sock, SOL_SOCKET, SO_PORT_SCALABILITY,
                         (const char *)&one, sizeof(one));
    lb_addr_any(family == AF_INET6, 0, &any);
    if (bind(sock, (const struct sockaddr *)any.u.bytes, (int)any.len) != 0)
        return lb__win_error(WSAGetLastError());
    return 0;
}

int
lb_stream_connect(lb_loop_t *loop, const lb_addr_t *addr, lb_connect_cb cb,
                  void *data, lb_stream_t **out)
{
    const struct sockaddr *sa = (const struct sockaddr *)addr->u.bytes;
    SOCKET sock = lb__win_socket(sa->sa_family);
    lb_stream_t *s;
    int rc;

    if (sock == INVALID_SOCKET)
        return lb__win_error(WSAGetLastError());
    rc = bind_any(sock, sa->sa_family);
    if (rc != 0 || (s = lb__stream_new(loop, sock)) == NULL) {
        closesocket(sock);
        return rc ? rc : LB_ENOMEM;
    }
    s->base.data = data;
    s->base.connect_cb = cb;
    *out = s;
    memset(&s->connect_op.ov, 0, sizeof(s->connect_op.ov));
    if (lb__ConnectEx(sock, sa, (int)addr->len, NULL, 0, NULL,
                      &s->connect_op.ov) ||
        WSAGetLastError() == ERROR_IO_PENDING) {
        s->pending++;
        return 0;
    }
    s->base.connect_status = lb__win_error(WSAGetLastError());
    lb__stream_queue(s, LB__DONE_CONNECT);
    return 0;
}

/* ConnectEx could carry the first bytes itself; not used yet. */
int
lb_stream_connect_data(lb_loop_t *loop, const lb_addr_t *addr,
                       lb_connect_cb cb, void *data, lb_stream_t **out)
{
    return lb_stream_connect(loop, addr, cb, data, out);
}

/* An idle stream waits with a zero-byte WSARecv, which completes when
 * data (or the end) arrives without holding a buffer; a recv() then
 * takes the data. Once a read filled its whole buffer, bulk is flowing:
 * the next WSARecv gets a buffer, and its one completion carries the
 * data (no recv(), no second WSARecv per chunk). A shorter read goes
 * back to waiting without one, so a stream that falls quiet holds no
 * buffer once its last chunk was short. */
static void
post_read(lb_stream_t *s)
{
    lb_allocator_t *a = &s->loop->base.alloc;
    WSABUF wb = {0, zero_buf};
    DWORD flags = 0;

    if (s->flowing && (s->rbuf = a->get(a->ctx)) != NULL) {
        wb.len = (ULONG)(a->size > 0x7fffffff ? 0x7fffffff : a->size);
        wb.buf = s->rbuf;
    }
    memset(&s->read_op.ov, 0, sizeof(s->read_op.ov));
    if (WSARecv(s->sock, &wb, 1, NULL, &flags, &s->read_op.ov, NULL) == 0 ||
        WSAGetLastError() == WSA_IO_PENDING) {
        s->pending++;
        return;
    }
    if (s->watching) {
        s->watching = 0; /* nothing is pending: the watch is over */
        s->base.watch_status = lb__win_error(WSAGetLastError());
        lb__stream_queue(s, LB__DONE_WATCH);
        return;
    }
    s->base.read_result = lb__win_error(WSAGetLastError());
    if (s->rbuf != NULL) {
        a->put(a->ctx, s->rbuf);
        s->rbuf = NULL;
    }
    lb__stream_queue(s, LB__DONE_READ);
}

int
lb_stream_read(lb_stream_t *s, lb_read_cb cb)
{
    s->base.read_cb = cb;
    if (s->base.done & LB__DONE_WATCH) {
        /* A watch that failed at once, not yet told: its failure is the
         * read's now. */
        s->base.done &= ~(unsigned)LB__DONE_WATCH;
        s->base.read_result = s->base.watch_status;
        lb__stream_queue(s, LB__DONE_READ);
        return 0;
    }
    if (s->watching) {
        /* The watch's zero-byte read, still pending, is the read's now. */
        s->watching = 0;
        return 0;
    }
    post_read(s);
    return 0;
}

/* The same zero-byte read: it completes when bytes, the peer's FIN or a
 * reset arrive, and a one-byte MSG_PEEK tells which, consuming nothing.
 * (WSARecv's MSG_PEEK is for non-overlapped use only, so the peek is a
 * plain non-blocking recv.) */
int
lb_stream_watch(lb_stream_t *s, lb_watch_cb cb)
{
    s->base.watch_cb = cb;
    s->watching = 1;
    s->flowing = 0; /* a watch holds no buffer: the zero-byte read */
    post_read(s);
    return 0;
}

static void
watch_done(lb_stream_t *s, int status)
{
    char c;
    int n;

    if (status == 0) {
        n = recv(s->sock, &c, 1, MSG_PEEK);
        if (n < 0 && WSAGetLastError() == WSAEWOULDBLOCK) {
            post_read(s); /* woken with nothing there: wait again */
            return;
        }
        status = n > 0 ? 0 : n == 0 ? LB_EOF
                                    : lb__win_error(WSAGetLastError());
    }
    s->watching = 0;
    s->base.watch_cb(s, status);
}

/* The zero-byte read said data (or the end) is there: now take a buffer.
 * Returns 0 when there turned out to be nothing, so the caller waits
 * again. */
static int
take_data(lb_stream_t *s)
{
    lb_allocator_t *a = &s->loop->base.alloc;
    char *buf = a->get(a->ctx);
    int n;

    if (buf == NULL) {
        s->base.read_result = LB_ENOMEM;
        return 1;
    }
    s->loop->recvs++;
    n = recv(s->sock, buf, (int)(a->size > INT_MAX ? INT_MAX : a->size), 0);
    if (n > 0) {
        s->flowing = (size_t)n == a->size;
        s->base.read_result = n;
        s->base.read_buf = buf;
        return 1;
    }
    a->put(a->ctx, buf);
    if (n < 0 && WSAGetLastError() == WSAEWOULDBLOCK)
        return 0;
    /* After a reset Windows keeps saying WSAECONNRESET, but Wine's recv()
     * says 0 (measured): an end after a failed write is that write's
     * error (common_stream.h). */
    s->base.read_result = n == 0 ? lb__stream_end(&s->base)
                                 : lb__win_error(WSAGetLastError());
    return 1;
}

static int
post_send(lb_stream_t *s)
{
    WSABUF wb;
    size_t left = s->base.wlen - s->base.woff;

    wb.len = (ULONG)(left > 0x7fffffff ? 0x7fffffff : left);
    wb.buf = s->base.wbuf + s->base.woff;
    memset(&s->write_op.ov, 0, sizeof(s->write_op.ov));
    if (WSASend(s->sock, &wb, 1, NULL, 0, &s->write_op.ov, NULL) == 0 ||
        WSAGetLastError() == WSA_IO_PENDING) {
        s->pending++;
        s->writing = 1;
        return 0;
    }
    return lb__win_error(WSAGetLastError());
}

int
lb_stream_write(lb_stream_t *s, char *buf, size_t len, lb_write_cb cb)
{
    int rc;

    s->base.wbuf = buf;
    s->base.wlen = len;
    s->base.woff = 0;
    s->base.write_cb = cb;
    rc = post_send(s);
    if (rc != 0) {
        lb__stream_write_failed(&s->base, rc);
        s->base.write_status = rc;
        lb__stream_queue(s, LB__DONE_WRITE);
    }
    return 0;
}

static void
connect_done(lb_stream_t *s, int status)
{
    if (status == 0 &&
        setsockopt(s->sock, SOL_SOCKET, SO_UPDATE_CONNECT_CONTEXT, NULL,
                   0) != 0)
        status = lb__win_error(WSAGetLastError());
    s->base.connect_cb(s, status);
}

/* A buffered read's completion: its bytes, or (none) the end, which is
 * a write's error if one took the peer's reset (lb__stream_end; Wine
 * completes such a read with 0 bytes, as its recv() says 0). */
static void
buffered_done(lb_stream_t *s, int status, DWORD bytes)
{
    lb_allocator_t *a = &s->loop->base.alloc;
    char *buf = s->rbuf;

    s->rbuf = NULL;
    if (status == 0 && bytes > 0) {
        s->flowing = bytes == a->size;
        s->base.read_cb(s, (long)bytes, buf);
        return;
    }
    a->put(a->ctx, buf);
    s->flowing = 0;
    s->base.read_cb(s, status != 0 ? status : lb__stream_end(&s->base),
                    NULL);
}

static void
read_done(lb_stream_t *s, int status, DWORD bytes)
{
    char *buf;

    if (s->watching) {
        watch_done(s, status);
        return;
    }
    if (s->rbuf != NULL) {
        buffered_done(s, status, bytes);
        return;
    }
    if (status == 0 && !take_data(s)) {
        post_read(s); /* woken without data: wait again */
        return;
    }
    if (status != 0)
        s->base.read_result = status;
    buf = s->base.read_buf;
    s->base.read_buf = NULL;
    s->base.read_cb(s, s->base.read_result, buf);
}

static void
write_done(lb_stream_t *s, int status, DWORD bytes)
{
    if (status == 0) {
        s->base.woff += bytes;
        if (s->base.woff < s->base.wlen && (status = post_send(s)) == 0)
            return;
    }
    if (status != 0)
        lb__stream_write_failed(&s->base, status);
    s->base.wbuf = NULL;
    s->base.write_cb(s, status);
}

void
lb__stream_op_done(lb_stream_t *s, lb__op_t *op, int status, DWORD bytes)
{
    s->pending--;
    if (op->kind == LB__OP_WRITE) {
        s->writing = 0;
        if (status == 0)
            s->written += bytes;
    }
    if (s->base.closing && op->kind == LB__OP_READ && s->rbuf != NULL) {
        lb_allocator_t *a = &s->loop->base.alloc;

        a->put(a->ctx, s->rbuf); /* the kernel is done with it */
        s->rbuf = NULL;
    }
    if (s->base.closing) {
        /* ERROR_OPERATION_ABORTED after a cancel or close: normal */
        lb__stream_close_progress(s);
        return;
    }
    if (op->kind == LB__OP_CONNECT)
        connect_done(s, status);
    else if (op->kind == LB__OP_READ)
        read_done(s, status, bytes);
    else
        write_done(s, status, bytes);
}

int
lb_stream_splice(lb_stream_t *src, lb_stream_t *dst, size_t max,
                 lb_splice_cb cb)
{
    /* No kernel-side relay on Windows: TransmitFile wants a file. */
    (void)src;
    (void)dst;
    (void)max;
    (void)cb;
    return LB_ENOTSUP;
}

/* IOCP reports the end only as a read of its own; the FIN goes in a
 * packet after the last bytes. */
int
lb_stream_eof_next(const lb_stream_t *s)
{
    (void)s;
    return 0;
}

int
lb_stream_write_last(lb_stream_t *s, char *buf, size_t len, lb_write_cb cb)
{
    return lb_stream_write(s, buf, len, cb);
}

int
lb_stream_shutdown(lb_stream_t *s)
{
    if (shutdown(s->sock, SD_SEND) != 0)
        return lb__win_error(WSAGetLastError());
    return 0;
}

/* SO_LINGER {on, 0}: with it on, closesocket() sends a reset. */
int
lb__win_set_linger(SOCKET sock, int on)
{
    struct linger lg = {(u_short)(on != 0), 0};

    if (setsockopt(sock, SOL_SOCKET, SO_LINGER, (const char *)&lg,
                   sizeof(lg)) != 0)
        return lb__win_error(WSAGetLastError());
    return 0;
}

/* Handles a dying process leaves are closed as closesocket() would, with
 * a FIN unless SO_LINGER {1, 0} makes it a reset; a normal close clears
 * it again (win32_close.c). */
int
lb_stream_reset_on_exit(lb_stream_t *s)
{
    int rc = s->linger_reset ? 0 : lb__win_set_linger(s->sock, 1);

    if (rc == 0)
        s->linger_reset = 1;
    return rc;
}

/* The address at the far end (peer) or at ours of sock. */
static int
socket_address(SOCKET sock, int peer, lb_addr_t *out)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    int rc = peer ? getpeername(sock, (struct sockaddr *)&ss, &len)
                  : getsockname(sock, (struct sockaddr *)&ss, &len);

    if (rc != 0)
        return lb__win_error(WSAGetLastError());
    if (len < 0 || (size_t)len > sizeof(out->u.bytes))
        return LB_EINVAL;
    memset(out, 0, sizeof(*out));
    memcpy(out->u.bytes, &ss, (size_t)len);
    out->len = (uint32_t)len;
    return 0;
}

int
lb_stream_peer(const lb_stream_t *s, lb_addr_t *out)
{
    return socket_address(s->sock, 1, out);
}

/* An accepted stream's comes with the accept (GetAcceptExSockaddrs). */
int
lb_stream_local(const lb_stream_t *s, lb_addr_t *out)
{
    if (s->local_len > 0) {
        memset(out, 0, sizeof(*out));
        memcpy(out->u.bytes, &s->local, (size_t)s->local_len);
        out->len = (uint32_t)s->local_len;
        return 0;
    }
    return socket_address(s->sock, 0, out);
}

/* SIO_KEEPALIVE_VALS sets the idle time and the interval in one call, on
 * every Windows (TCP_KEEPIDLE and TCP_KEEPINTVL only from Windows 10
 * 1709); the probe count is fixed at 10 (LB_KEEPALIVE_PROBES). */
int
lb_stream_keepalive(lb_stream_t *s, unsigned idle_s)
{
    struct tcp_keepalive ka;
    DWORD got = 0;

    ka.onoff = idle_s > 0;
    ka.keepalivetime = (u_long)idle_s * 1000u;
    ka.keepaliveinterval = (u_long)LB_KEEPALIVE_INTERVAL(idle_s) * 1000u;
    if (WSAIoctl(s->sock, SIO_KEEPALIVE_VALS, &ka, sizeof(ka), NULL, 0, &got,
                 NULL, NULL) != 0)
        return lb__win_error(WSAGetLastError());
    return 0;
}
