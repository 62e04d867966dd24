/* test_win32.c - what only the Windows platform does, run under Wine by
 * make test-windows: the error table, sockets nobody inherits, the listen
 * backlog, the clock, a normal close that cancels the pending read before
 * closesocket (so Windows sends FIN, not RST), AcceptEx calls re-posted
 * before the core's callback and posted in proportion to the load, a
 * listener closed by its own callback when nothing else holds it, and a
 * read after a watch that failed at once. */
#include <CUnit/CUnit.h>

#include "unit.h"

#ifdef _WIN32
#include <string.h>

#include "lb_bufpool.h"
#include "loop_fixture.h"
#include "win32_internal.h"

#define TICK_MS 10
#define WATCHDOG_MS 8000

static void
test_error_table(void)
{
    /* A peer's reset as GetQueuedCompletionStatus reports it. */
    CU_ASSERT_EQUAL(lb__win_error(ERROR_NETNAME_DELETED), LB_ECONNRESET);
    CU_ASSERT_EQUAL(lb__win_error(WSAENETRESET), LB_ECONNRESET);
    CU_ASSERT_EQUAL(lb__win_error(WSAENOTCONN), LB_ENOTCONN);
    CU_ASSERT_EQUAL(lb__win_error(WSAEDISCON), LB_EOF);
    CU_ASSERT_EQUAL(lb__win_error(WSAENETDOWN), LB_ENETDOWN);
    CU_ASSERT_EQUAL(lb__win_error(WSAENOBUFS), LB_ENOBUFS);
    CU_ASSERT_EQUAL(lb__win_error(ERROR_OPERATION_ABORTED), LB_ECANCELED);
    CU_ASSERT_EQUAL(lb__win_error(ERROR_HANDLES_CLOSED), LB_ECANCELED);
}

static void
test_sockets_not_inherited(void)
{
    SOCKET s;
    DWORD flags = 1;

    CU_ASSERT_EQUAL_FATAL(lb__winsock_init(), 0);
    s = lb__win_socket(AF_INET);
    CU_ASSERT_FATAL(s != INVALID_SOCKET);
    CU_ASSERT(GetHandleInformation((HANDLE)s, &flags));
    CU_ASSERT_EQUAL(flags & HANDLE_FLAG_INHERIT, 0);
    closesocket(s);
}

static void
test_backlog_hint(void)
{
    CU_ASSERT_EQUAL(lb__win_backlog(4096), SOMAXCONN_HINT(4096));
    CU_ASSERT_EQUAL(lb__win_backlog(100000), SOMAXCONN_HINT(65535));
    CU_ASSERT_EQUAL(lb__win_backlog(100), 100); /* below the cap anyway */
}

static void
test_clock_ticks(void)
{
    const uint64_t f = 10000000; /* QueryPerformanceFrequency, Windows 10 */

    CU_ASSERT_EQUAL(lb__win_ticks_to_ms(15000, f), 1);
    CU_ASSERT_EQUAL(lb__win_ticks_to_ms(3 * f + f / 2, f), 3500);
    /* A year of uptime would overflow ticks * 1000. */
    CU_ASSERT_EQUAL(lb__win_ticks_to_ms(UINT64_MAX / 100 * 99, f),
                    UINT64_MAX / 100 * 99 / f * 1000 +
                        UINT64_MAX / 100 * 99 % f * 1000 / f);
    CU_ASSERT(lb__win_clock_ms() > 0);
}

/* ---- a loop with a listener and blocking clients of our own ---- */

#define MAX_CLIENTS 48

static struct rig {
    lb_loop_t *loop;
    lb_bufpool_t pool;
    lb_listener_t *listener;
    lb_addr_t addr;
    SOCKET clients[MAX_CLIENTS];
    int nclients;
    lb_stream_t *accepted[MAX_CLIENTS];
    int naccepted, open, timed_out;
    int (*step)(void); /* each tick until it returns 1 */
    lb_accept_cb on_accept;
    unsigned max_target, posted_short; /* what accept callbacks saw */
    lb_timer_t tick, watchdog;
} W;

static void
on_tick(lb_timer_t *t)
{
    if (W.step())
        return;
    lb_timer_start(t, TICK_MS);
}

static void
on_watchdog(lb_timer_t *t)
{
    (void)t;
    W.timed_out = 1;
    lb_loop_stop(W.loop);
}

static SOCKET
blocking_client(void)
{
    SOCKET c = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    DWORD ms = 5000;

    CU_ASSERT_FATAL(c != INVALID_SOCKET);
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, (const char *)&ms, sizeof(ms));
    CU_ASSERT_EQUAL_FATAL(connect(c, (const struct sockaddr *)W.addr.u.bytes,
                                  (int)W.addr.len), 0);
    return c;
}

/* A listener on a free port, its backlog given, and n clients connected
 * (blocking: the kernel completes them from the backlog). */
static void
setup(int backlog, int n, lb_accept_cb cb, int (*step)(void))
{
    lb_allocator_t a;

    memset(&W, 0, sizeof(W));
    lb_bufpool_init(&W.pool, 64, 4);
    a = lb_bufpool_allocator(&W.pool);
    CU_ASSERT_EQUAL_FATAL(lb_loop_new(&W.loop, &a), 0);
    CU_ASSERT_EQUAL_FATAL(lf_bind_free(24000, backlog, &W.addr,
                                       &W.listener), 0);
    CU_ASSERT_EQUAL_FATAL(lb_listener_start(W.loop, W.listener, cb, NULL),
                          0);
    for (W.nclients = 0; W.nclients < n; W.nclients++)
        W.clients[W.nclients] = blocking_client();
    W.step = step;
    lb_timer_init(W.loop, &W.tick, on_tick, NULL);
    lb_timer_init(W.loop, &W.watchdog, on_watchdog, NULL);
    lb_timer_start(&W.tick, TICK_MS);
    lb_timer_start(&W.watchdog, WATCHDOG_MS);
}

static void
on_closed(lb_stream_t *s)
{
    (void)s;
    if (--W.open == 0)
        lb_loop_stop(W.loop);
}

/* Closes what is open; the loop stops once the closes are done. */
static int
finish(int how)
{
    lb_timer_stop(&W.watchdog);
    if (W.listener) {
        lb_listener_detach(W.loop, W.listener);
        lb_listener_close(W.listener);
    }
    W.listener = NULL;
    for (int i = 0; i < W.naccepted; i++) {
        W.open++;
        lb_stream_close(W.accepted[i], how, on_closed);
    }
    if (W.open == 0)
        lb_loop_stop(W.loop);
    return 1;
}

static void
teardown(void)
{
    CU_ASSERT(!W.timed_out);
    for (int i = 0; i < W.nclients; i++)
        closesocket(W.clients[i]);
    lb_loop_free(W.loop);
    lb_bufpool_free(&W.pool);
}

static void
on_read_none(lb_stream_t *s, long n, char *buf)
{
    (void)s;
    (void)buf;
    CU_FAIL("nothing was sent");
    CU_ASSERT(n < 0);
}

static void
accept_and_read(lb_listener_t *l, lb_stream_t *s, const lb_addr_t *peer,
                int status, void *data)
{
    (void)l;
    (void)peer;
    (void)data;
    CU_ASSERT_EQUAL_FATAL(status, 0);
    W.accepted[W.naccepted++] = s;
    CU_ASSERT_EQUAL(lb_stream_read(s, on_read_none), 0);
}

static int
close_once_accepted(void)
{
    return W.naccepted == 1 ? finish(LB_CLOSE_NORMAL) : 0;
}

/* What the client reads after the balancer's close: 0 for a FIN, -1
 * with WSAECONNRESET for a reset. */
static int
client_end(SOCKET c, int *err)
{
    char b;
    int n = recv(c, &b, 1, 0);

    *err = n < 0 ? WSAGetLastError() : 0;
    return n;
}

/* The zero-byte read is pending when the close comes: it is canceled and
 * its completion awaited before closesocket, so the peer gets a FIN (Wine
 * sends one anyway; Windows would reset: see tests/windows). */
static void
test_normal_close_cancels_the_read_first(void)
{
    LONG before = lb__win_unclean_closes;
    int err;

    setup(16, 1, accept_and_read, close_once_accepted);
    CU_ASSERT_EQUAL(lb_loop_run(W.loop), 0);
    CU_ASSERT_EQUAL(W.naccepted, 1);
    CU_ASSERT_EQUAL(lb__win_unclean_closes, before);
    CU_ASSERT_EQUAL(client_end(W.clients[0], &err), 0);
    teardown();
}

/* ---- AcceptEx calls ---- */

static void
accept_and_count(lb_listener_t *l, lb_stream_t *s, const lb_addr_t *peer,
                 int status, void *data)
{
    (void)peer;
    (void)data;
    CU_ASSERT_EQUAL_FATAL(status, 0);
    W.accepted[W.naccepted++] = s;
    if (l->target > W.max_target)
        W.max_target = l->target;
    /* This client's slot was posted again before this callback. */
    W.posted_short += l->posted < l->target;
}

static int
close_when_all_accepted(void)
{
    return W.naccepted == W.nclients ? finish(LB_CLOSE_NORMAL) : 0;
}

/* 40 clients waiting in the backlog, 8 AcceptEx calls posted at first:
 * the bursts double the number posted, within the listener's bound. */
static void
test_accepts_posted_in_proportion(void)
{
    setup(64, 40, accept_and_count, close_when_all_accepted);
    CU_ASSERT_EQUAL(W.listener->target, 8);
    CU_ASSERT_EQUAL(W.listener->posted, 8);
    CU_ASSERT_EQUAL(lb_loop_run(W.loop), 0);
    CU_ASSERT_EQUAL(W.naccepted, 40);
    CU_ASSERT_EQUAL(W.posted_short, 0);
    CU_ASSERT(W.max_target > 8);
    CU_ASSERT(W.max_target <= 64); /* at most the backlog */
    teardown();
}

/* AcceptEx that fails as if the system were out of sockets. */
static BOOL PASCAL
failing_accept_ex(SOCKET l, SOCKET a, PVOID buf, DWORD len, DWORD llen,
                  DWORD rlen, LPDWORD got, LPOVERLAPPED ov)
{
    (void)l;
    (void)a;
    (void)buf;
    (void)len;
    (void)llen;
    (void)rlen;
    (void)got;
    (void)ov;
    WSASetLastError(WSAENOBUFS);
    return FALSE;
}

static LPFN_ACCEPTEX real_accept_ex;

/* Nothing could be posted again: this completion is all that holds the
 * listener, and the callback closes it. It must be freed after the
 * callback, not inside lb_listener_close. */
static void
accept_and_close_listener(lb_listener_t *l, lb_stream_t *s,
                          const lb_addr_t *peer, int status, void *data)
{
    (void)peer;
    (void)data;
    CU_ASSERT_EQUAL_FATAL(status, 0);
    W.accepted[W.naccepted++] = s;
    if (l->posted > 0)
        return;
    lb__AcceptEx = real_accept_ex;
    lb_listener_detach(W.loop, l);
    lb_listener_close(l);
    CU_ASSERT_EQUAL(l->refs, 1); /* the completion's, until we return */
    W.listener = NULL;
}

static int
close_when_listener_gone(void)
{
    return W.listener == NULL ? finish(LB_CLOSE_NORMAL) : 0;
}

static void
test_listener_closed_by_its_last_accept(void)
{
    setup(16, 8, accept_and_close_listener, close_when_listener_gone);
    real_accept_ex = lb__AcceptEx;
    lb__AcceptEx = failing_accept_ex; /* the 8 posted stay posted */
    CU_ASSERT_EQUAL(lb_loop_run(W.loop), 0);
    lb__AcceptEx = real_accept_ex;
    CU_ASSERT_EQUAL(W.naccepted, 8);
    teardown();
}

/* ---- a watch that failed at once ---- */

static struct {
    lb_loop_t *loop;
    lb_timer_t watchdog;
    int watch_status, read_status, watched, read, timed_out;
} F;

static void
on_failed_closed(lb_stream_t *s)
{
    (void)s;
    lb_loop_stop(F.loop);
}

static void
on_failed_read(lb_stream_t *s, long n, char *buf)
{
    CU_ASSERT_PTR_NULL(buf);
    F.read = 1;
    F.read_status = (int)n;
    lb_timer_stop(&F.watchdog);
    lb_stream_close(s, LB_CLOSE_RESET, on_failed_closed);
}

/* The watch is over (as the queue's on_watch, which ignores it once the
 * client's turn came): the relay's read comes next. */
static void
on_failed_watch(lb_stream_t *s, int status)
{
    F.watched = 1;
    F.watch_status = status;
    CU_ASSERT_EQUAL(lb_stream_read(s, on_failed_read), 0);
}

static void
on_failed_watchdog(lb_timer_t *t)
{
    (void)t;
    F.timed_out = 1;
    lb_loop_stop(F.loop);
}

/* WSARecv on a socket that is not connected fails at once: the watch is
 * told so from the loop, and a read after it must post a read of its own
 * (and be told its failure), not wait for a watch that is over. */
static void
test_read_after_a_watch_that_failed_at_once(void)
{
    lb_bufpool_t pool;
    lb_allocator_t a;
    lb_stream_t *s;
    SOCKET sock;

    memset(&F, 0, sizeof(F));
    lb_bufpool_init(&pool, 64, 4);
    a = lb_bufpool_allocator(&pool);
    CU_ASSERT_EQUAL_FATAL(lb_loop_new(&F.loop, &a), 0);
    sock = lb__win_socket(AF_INET);
    CU_ASSERT_FATAL(sock != INVALID_SOCKET);
    s = lb__stream_new(F.loop, sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    lb_timer_init(F.loop, &F.watchdog, on_failed_watchdog, NULL);
    lb_timer_start(&F.watchdog, WATCHDOG_MS);
    CU_ASSERT_EQUAL(lb_stream_watch(s, on_failed_watch), 0);
    CU_ASSERT_EQUAL(lb_loop_run(F.loop), 0);
    CU_ASSERT(F.watched);
    CU_ASSERT(F.watch_status < 0);
    CU_ASSERT(F.read);
    CU_ASSERT(F.read_status < 0);
    CU_ASSERT(!F.timed_out);
    if (F.timed_out) { /* the read never came: close what is left */
        lb_stream_close(s, LB_CLOSE_RESET, on_failed_closed);
        lb_loop_run(F.loop);
    }
    lb_loop_free(F.loop);
    lb_bufpool_free(&pool);
}

void
lb_test_win32_register(void)
{
    CU_pSuite s = CU_add_suite("win32", NULL, NULL);

    CU_add_test(s, "error table", test_error_table);
    CU_add_test(s, "sockets are not inherited", test_sockets_not_inherited);
    CU_add_test(s, "listen backlog hint", test_backlog_hint);
    CU_add_test(s, "clock ticks to ms", test_clock_ticks);
    CU_add_test(s, "normal close cancels the read first",
                test_normal_close_cancels_the_read_first);
    CU_add_test(s, "AcceptEx posted in proportion to load",
                test_accepts_posted_in_proportion);
    CU_add_test(s, "listener closed by its last accept",
                test_listener_closed_by_its_last_accept);
    CU_add_test(s, "a read after a watch that failed at once",
                test_read_after_a_watch_that_failed_at_once);
}

#else

void
lb_test_win32_register(void)
{
}

#endif
