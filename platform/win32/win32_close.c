/* win32_close.c - closing a stream the way the core asked: a normal close
 * ends with a FIN, a reset with an RST, and a drain-then-reset sends its
 * RST only once the peer has acknowledged what was written.
 *
 * closesocket() with an overlapped read still pending aborts the
 * connection (libuv issue 3034): the peer sees a reset where it should
 * see the end. So a normal close first cancels what is pending
 * (CancelIoEx), waits for those completions, and only then closes. */
#include "win32_internal.h"

#include <string.h>

#define CANCEL_MAX_MS 2000 /* a cancel that never completes: close anyway */
#define DRAIN_CHECK_MS 20
#define DRAIN_MAX_MS 30000 /* a peer that stopped reading gets its reset */

volatile LONG lb__win_unclean_closes;

/* SIO_TCP_INFO's version 0 answer (TCP_INFO_v0, Windows 10 1703 and
 * Server 2016), under a name of our own: mingw-w64 declares it only for
 * NTDDI_VERSION >= NTDDI_WIN10_RS2. */
typedef struct {
    ULONG State;
    ULONG Mss;
    ULONG64 ConnectionTimeMs;
    BOOLEAN TimestampsEnabled;
    ULONG RttUs, MinRttUs, BytesInFlight, Cwnd, SndWnd, RcvWnd, RcvBuf;
    ULONG64 BytesOut, BytesIn;
    ULONG BytesReordered, BytesRetrans, FastRetrans, DupAcksIn;
    ULONG TimeoutEpisodes;
    UCHAR SynRetrans;
} tcp_info_v0_t;

_Static_assert(sizeof(tcp_info_v0_t) == 88, "TCP_INFO_v0 is 88 bytes");

/* Windows before 10 1703 and Wine do not know the ioctl: asked once
 * (by whichever loop asks first). */
static volatile LONG tcp_info_missing;

static void
close_socket(lb_stream_t *s, int reset)
{
    if (reset) {
        /* Linger 0 makes closesocket() send RST: how a reset is passed. */
        if (!s->linger_reset)
            (void)lb__win_set_linger(s->sock, 1);
    } else {
        if (s->pending > 0)
            InterlockedIncrement(&lb__win_unclean_closes);
        /* Set for a process that dies (lb_stream_reset_on_exit): a
         * normal close is a FIN. */
        if (s->linger_reset)
            (void)lb__win_set_linger(s->sock, 0);
    }
    /* What is still pending completes as aborted; the stream is freed
     * only after the last of it. */
    closesocket(s->sock);
    s->sock = INVALID_SOCKET;
    s->close_state = LB__CLOSED;
    lb_timer_stop(&s->close_timer);
    lb__stream_close_progress(s);
}

void
lb__stream_close_progress(lb_stream_t *s)
{
    if (s->pending > 0)
        return;
    if (s->close_state == LB__CANCELING) {
        close_socket(s, 0); /* the last canceled operation came back */
    } else if (s->close_state == LB__CLOSED) {
        if (s->accepted) /* the acceptor counts it no more */
            InterlockedDecrement(&s->loop->load);
        s->accepted = 0;
        lb__stream_queue(s, LB__DONE_CLOSE);
    }
    /* LB__DRAINING: the timer decides */
}

/* 1 while the peer has not acknowledged everything written (or a write
 * is still going), 0 once it has, -1 if Windows cannot tell. All bytes
 * sent once (BytesOut counts retransmissions too) and none in flight:
 * a peer with a closed window holds unsent bytes that are not "in
 * flight" yet. */
static int
unacked(const lb_stream_t *s)
{
    tcp_info_v0_t info;
    DWORD version = 0, bytes = 0;
    int err;

    if (InterlockedCompareExchange(&tcp_info_missing, 0, 0))
        return -1;
    if (WSAIoctl(s->sock, SIO_TCP_INFO, &version, sizeof(version), &info,
                 sizeof(info), &bytes, NULL, NULL) != 0) {
        err = WSAGetLastError();
        if (err == WSAEOPNOTSUPP || err == WSAEINVAL)
            InterlockedExchange(&tcp_info_missing, 1);
        return -1;
    }
    if (s->writing)
        return 1;
    return info.BytesInFlight > 0 ||
           info.BytesOut - info.BytesRetrans < s->written;
}

static void
drain_check(lb_stream_t *s)
{
    if (unacked(s) == 1 && lb_loop_now(s->loop) < s->close_until) {
        lb_timer_start(&s->close_timer, DRAIN_CHECK_MS);
        return;
    }
    close_socket(s, 1);
}

void
lb__stream_close_timer(lb_timer_t *t)
{
    lb_stream_t *s = t->data;

    if (s->close_state == LB__DRAINING)
        drain_check(s);
    else if (s->close_state == LB__CANCELING)
        close_socket(s, 0); /* the cancel never came back: give up */
}

/* Cancels every operation pending on s; the completions (aborted, or
 * done if they raced the cancel) come through the port as usual. */
static void
cancel_then_close(lb_stream_t *s)
{
    s->close_state = LB__CANCELING;
    if (!CancelIoEx((HANDLE)s->sock, NULL) &&
        GetLastError() != ERROR_NOT_FOUND) {
        close_socket(s, 0);
        return;
    }
    lb_timer_start(&s->close_timer, CANCEL_MAX_MS);
}

void
lb_stream_close(lb_stream_t *s, int how, lb_close_cb cb)
{
    if (s->base.closing)
        return;
    s->base.closing = 1;
    s->base.close_cb = cb;
    lb__stream_drop_read(&s->base, &s->loop->base.alloc);
    if (how == LB_CLOSE_DRAIN_RESET && unacked(s) == 1) {
        s->close_state = LB__DRAINING;
        s->close_until = lb_loop_now(s->loop) + DRAIN_MAX_MS;
        lb_timer_start(&s->close_timer, DRAIN_CHECK_MS);
    } else if (how != LB_CLOSE_NORMAL) {
        close_socket(s, 1);
    } else if (s->pending > 0) {
        cancel_then_close(s);
    } else {
        close_socket(s, 0);
    }
}
