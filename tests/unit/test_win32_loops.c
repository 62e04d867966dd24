/* test_win32_loops.c - several loops of one process on one listener, run
 * under Wine by make test-windows: the owner's accepts handed to the
 * loop with the fewest clients (its callbacks on that loop's thread, the
 * socket working on that loop's port), a paused loop skipped, clients
 * held while every loop is paused, the socket closed by the last detach;
 * and buffered reads while bulk flows (one completion per chunk, no
 * recv()). Empty on POSIX, where each worker is a process. */
#include <CUnit/CUnit.h>

#include "unit.h"

#ifdef _WIN32
#include <process.h>
#include <stdio.h>
#include <string.h>

#include "lb_bufpool.h"
#include "loop_fixture.h"
#include "win32_internal.h"

#define NLOOPS 2
#define MAX_CLIENTS 24
#define TICK_MS 10
#define WATCHDOG_MS 10000

/* Loop 0 runs on the test's thread and owns the listener (it attaches
 * first); loop 1 runs on a thread of its own. */
static struct two {
    lb_loop_t *loop[NLOOPS];
    lb_bufpool_t pool[NLOOPS];
    DWORD tid[NLOOPS];
    HANDLE thread;
    lb_listener_t *listener;
    lb_addr_t addr;
    SOCKET clients[MAX_CLIENTS];
    char reply[MAX_CLIENTS]; /* which loop answered, '0' or '1' */
    int nclients;
    volatile LONG served[NLOOPS];
    volatile LONG wrong_thread;
    lb_timer_t tick, watchdog;
    int (*step)(void);
    int timed_out;
} T;

static const int loop_no[NLOOPS] = {0, 1};

static void
on_stop(lb_loop_t *loop, lb_stop_reason_t why, void *data)
{
    (void)why;
    (void)data;
    lb_loop_stop(loop);
}

static unsigned __stdcall
run_loop1(void *arg)
{
    (void)arg;
    T.tid[1] = GetCurrentThreadId();
    lb_loop_run(T.loop[1]);
    return 0;
}

static void
on_replied(lb_stream_t *s, int status)
{
    (void)status;
    lb_stream_close(s, LB_CLOSE_NORMAL, NULL);
}

/* The client's byte: answered with the number of the loop serving it,
 * on that loop's own thread, then closed. */
static void
on_request(lb_stream_t *s, long n, char *buf)
{
    const int *k = lb_stream_data(s);
    static char answer[NLOOPS] = {'0', '1'};

    if (n <= 0) {
        lb_stream_close(s, LB_CLOSE_NORMAL, NULL);
        return;
    }
    lb_bufpool_put(&T.pool[*k], buf); /* that loop's pool */
    lb_stream_write(s, &answer[*k], 1, on_replied);
}

static void
on_accept(lb_listener_t *l, lb_stream_t *s, const lb_addr_t *peer,
          int status, void *data)
{
    const int *k = data;

    (void)l;
    (void)peer;
    CU_ASSERT_EQUAL_FATAL(status, 0);
    if (GetCurrentThreadId() != T.tid[*k])
        InterlockedIncrement(&T.wrong_thread);
    InterlockedIncrement(&T.served[*k]);
    lb_stream_set_data(s, (void *)k);
    lb_stream_read(s, on_request);
}

static void
on_tick(lb_timer_t *t)
{
    if (!T.step())
        lb_timer_start(t, TICK_MS);
}

static void
on_watchdog(lb_timer_t *t)
{
    (void)t;
    T.timed_out = 1;
    PostQueuedCompletionStatus(T.loop[1]->iocp, 0, LB__KEY_STOP, NULL);
    lb_loop_stop(T.loop[0]);
}

static void
setup(int (*step)(void))
{
    lb_allocator_t a;

    memset(&T, 0, sizeof(T));
    for (int k = 0; k < NLOOPS; k++) {
        lb_bufpool_init(&T.pool[k], 64, 4);
        a = lb_bufpool_allocator(&T.pool[k]);
        CU_ASSERT_EQUAL_FATAL(lb_loop_new(&T.loop[k], &a), 0);
        lb_loop_on_stop(T.loop[k], on_stop, NULL);
    }
    T.tid[0] = GetCurrentThreadId();
    CU_ASSERT_EQUAL_FATAL(lf_bind_free(25000, 64, &T.addr, &T.listener), 0);
    for (int k = 0; k < NLOOPS; k++)
        CU_ASSERT_EQUAL_FATAL(lb_listener_start(T.loop[k], T.listener,
                                                on_accept,
                                                (void *)&loop_no[k]), 0);
    CU_ASSERT_PTR_EQUAL(T.listener->owner, T.loop[0]);
    T.step = step;
    lb_timer_init(T.loop[0], &T.tick, on_tick, NULL);
    lb_timer_init(T.loop[0], &T.watchdog, on_watchdog, NULL);
    lb_timer_start(&T.tick, TICK_MS);
    lb_timer_start(&T.watchdog, WATCHDOG_MS);
}

static void
start_loop1(void)
{
    T.thread = (HANDLE)_beginthreadex(NULL, 0, run_loop1, NULL, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(T.thread);
}

static void
teardown(void)
{
    CU_ASSERT(!T.timed_out);
    WaitForSingleObject(T.thread, 15000);
    CloseHandle(T.thread);
    for (int i = 0; i < T.nclients; i++)
        closesocket(T.clients[i]);
    for (int k = 0; k < NLOOPS; k++) {
        lb_loop_free(T.loop[k]);
        lb_bufpool_free(&T.pool[k]);
    }
}

/* A client that sends its byte at once; answered later (non-blocking). */
static void
connect_client(void)
{
    SOCKET c = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    u_long on = 1;

    CU_ASSERT_FATAL(c != INVALID_SOCKET);
    CU_ASSERT_EQUAL_FATAL(connect(c, (const struct sockaddr *)T.addr.u.bytes,
                                  (int)T.addr.len), 0);
    CU_ASSERT_EQUAL(send(c, "x", 1, 0), 1);
    ioctlsocket(c, FIONBIO, &on);
    T.reply[T.nclients] = 0;
    T.clients[T.nclients++] = c;
}

/* Answers read so far; 1 once every client has one. */
static int
all_answered(void)
{
    int done = 1;

    for (int i = 0; i < T.nclients; i++) {
        if (T.reply[i] == 0 && recv(T.clients[i], &T.reply[i], 1, 0) != 1)
            T.reply[i] = 0;
        done &= T.reply[i] != 0;
    }
    return done;
}

static int
count_replies(char which)
{
    int n = 0;

    for (int i = 0; i < T.nclients; i++)
        n += T.reply[i] == which;
    return n;
}

/* Both loops detach (loop 1 on its own thread, through its stop), the
 * binder closes; loop 0, the owner, runs on until its accepts are back. */
static void
finish_both(void)
{
    PostQueuedCompletionStatus(T.loop[1]->iocp, 0, LB__KEY_STOP, NULL);
    WaitForSingleObject(T.thread, 15000);
    lb_listener_detach(T.loop[0], T.listener);
    lb_listener_close(T.listener);
    lb_timer_stop(&T.watchdog);
    lb_loop_stop(T.loop[0]);
}

static int
spread_step(void)
{
    if (T.nclients < 20) {
        connect_client();
        return 0;
    }
    if (!all_answered())
        return 0;
    finish_both();
    return 1;
}

/* 20 clients, one at a time: the owner keeps some and hands others to
 * loop 1 (ties take turns), each served on its own loop's thread, the
 * handed sockets working on loop 1's port. */
static void
test_clients_spread_over_loops(void)
{
    setup(spread_step);
    start_loop1();
    CU_ASSERT_EQUAL(lb_loop_run(T.loop[0]), 0);
    CU_ASSERT_EQUAL(T.served[0] + T.served[1], 20);
    CU_ASSERT(T.served[1] >= 5);
    CU_ASSERT(T.served[0] >= 5);
    CU_ASSERT_EQUAL(count_replies('1'), T.served[1]);
    CU_ASSERT_EQUAL(T.wrong_thread, 0);
    CU_ASSERT_EQUAL(T.loop[0]->owning, 0); /* its accepts came back */
    teardown();
}

static int phase;

/* Loop 0 paused: every client goes to loop 1. Then both paused: clients
 * wait (held, or in the backlog). Loop 1 resumed: they are served. */
static int
pause_step(void)
{
    if (phase == 0 && T.nclients < 6) {
        connect_client();
        return 0;
    }
    if (phase == 0) {
        if (!all_answered())
            return 0;
        CU_ASSERT_EQUAL(count_replies('1'), 6);
        phase = 1;
        lb_listener_pause(T.loop[1], T.listener, 1);
        return 0;
    }
    if (phase == 1 && T.nclients < 10) {
        connect_client();
        return 0;
    }
    if (phase == 1) {
        Sleep(300);
        CU_ASSERT_FALSE(all_answered());
        CU_ASSERT_EQUAL(T.served[1], 6);
        phase = 2;
        lb_listener_pause(T.loop[1], T.listener, 0);
        return 0;
    }
    if (!all_answered())
        return 0;
    finish_both();
    return 1;
}

static void
test_paused_loop_skipped_then_held(void)
{
    setup(pause_step);
    phase = 0;
    lb_listener_pause(T.loop[0], T.listener, 1);
    start_loop1();
    CU_ASSERT_EQUAL(lb_loop_run(T.loop[0]), 0);
    CU_ASSERT_EQUAL(T.served[0], 0);
    CU_ASSERT_EQUAL(T.served[1], 10);
    CU_ASSERT_EQUAL(count_replies('1'), 10);
    CU_ASSERT_EQUAL(T.wrong_thread, 0);
    teardown();
}

/* 1 if a new connection to the listener's address is refused. */
static int
refused(void)
{
    SOCKET c = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    int rc = connect(c, (const struct sockaddr *)T.addr.u.bytes,
                     (int)T.addr.len);

    closesocket(c);
    return rc != 0;
}

/* Loop 0 (the owner) detaches: the socket stays open and loop 1 gets the
 * clients; loop 1 detaches too: the socket closes. */
static int
detach_step(void)
{
    if (phase == 0) {
        lb_listener_detach(T.loop[0], T.listener);
        phase = 1;
        return 0;
    }
    if (phase == 1 && T.nclients < 3) {
        connect_client();
        return 0;
    }
    if (phase == 1) {
        if (!all_answered())
            return 0;
        CU_ASSERT_EQUAL(count_replies('1'), 3);
        CU_ASSERT_FALSE(refused());
        phase = 2;
        return 0;
    }
    if (phase == 2) {
        /* loop 1's detach, on its thread: its stop below. */
        PostQueuedCompletionStatus(T.loop[1]->iocp, 0, LB__KEY_STOP, NULL);
        WaitForSingleObject(T.thread, 15000);
        phase = 3;
        return 0;
    }
    if (T.listener->owner != NULL)
        return 0; /* the owner closes the socket, gets its accepts back */
    CU_ASSERT(refused());
    lb_listener_close(T.listener);
    lb_timer_stop(&T.watchdog);
    lb_loop_stop(T.loop[0]);
    return 1;
}

static void
on_stop_detach(lb_loop_t *loop, lb_stop_reason_t why, void *data)
{
    (void)why;
    (void)data;
    lb_listener_detach(loop, T.listener);
    lb_loop_stop(loop);
}

static void
test_last_detach_closes(void)
{
    setup(detach_step);
    phase = 0;
    lb_loop_on_stop(T.loop[1], on_stop_detach, NULL);
    start_loop1();
    CU_ASSERT_EQUAL(lb_loop_run(T.loop[0]), 0);
    CU_ASSERT_EQUAL(T.served[0], 0);
    CU_ASSERT_EQUAL(T.served[1], 4); /* and refused()'s first probe */
    teardown();
}

/* ---- buffered reads while bulk flows ---- */

#define CHUNK 4096
#define CHUNKS 64

static struct bulk {
    lb_loop_t *loop;
    lb_bufpool_t pool;
    lb_listener_t *listener;
    lb_addr_t addr;
    SOCKET client;
    long got;
    int reads, ended, timed_out;
    unsigned long completions, recvs; /* from the accept to the end */
    lb_timer_t watchdog;
} B;

static void
on_bulk_closed(lb_stream_t *s)
{
    (void)s;
    lb_loop_stop(B.loop); /* it runs on until the accepts are back */
}

static void
on_bulk(lb_stream_t *s, long n, char *buf)
{
    if (n <= 0) {
        B.ended = 1;
        B.completions = B.loop->completions - B.completions;
        B.recvs = B.loop->recvs - B.recvs;
        lb_stream_close(s, LB_CLOSE_NORMAL, on_bulk_closed);
        lb_listener_detach(B.loop, B.listener);
        lb_listener_close(B.listener);
        lb_timer_stop(&B.watchdog);
        return;
    }
    B.got += n;
    B.reads++;
    lb_bufpool_put(&B.pool, buf);
    lb_stream_read(s, on_bulk);
}

static void
on_bulk_accept(lb_listener_t *l, lb_stream_t *s, const lb_addr_t *peer,
               int status, void *data)
{
    (void)l;
    (void)peer;
    (void)data;
    CU_ASSERT_EQUAL_FATAL(status, 0);
    B.completions = B.loop->completions;
    B.recvs = B.loop->recvs;
    lb_stream_read(s, on_bulk);
}

static void
on_bulk_watchdog(lb_timer_t *t)
{
    (void)t;
    B.timed_out = 1;
    lb_loop_stop(B.loop);
}

static unsigned __stdcall
send_bulk(void *arg)
{
    static char data[CHUNK * CHUNKS];

    (void)arg;
    memset(data, 'b', sizeof(data));
    send(B.client, data, sizeof(data), 0);
    shutdown(B.client, SD_SEND);
    return 0;
}

/* 256 KiB sent as fast as the client can: after the first reads most
 * are buffered WSARecv calls, whose completion carries the data; before,
 * every chunk took a zero-byte completion and a recv(). */
static void
test_bulk_reads_are_buffered(void)
{
    lb_allocator_t a;
    HANDLE sender;

    memset(&B, 0, sizeof(B));
    lb_bufpool_init(&B.pool, CHUNK, 4);
    a = lb_bufpool_allocator(&B.pool);
    CU_ASSERT_EQUAL_FATAL(lb_loop_new(&B.loop, &a), 0);
    CU_ASSERT_EQUAL_FATAL(lf_bind_free(26000, 16, &B.addr, &B.listener), 0);
    CU_ASSERT_EQUAL_FATAL(lb_listener_start(B.loop, B.listener,
                                            on_bulk_accept, NULL), 0);
    B.client = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    CU_ASSERT_EQUAL_FATAL(connect(B.client,
                                  (const struct sockaddr *)B.addr.u.bytes,
                                  (int)B.addr.len), 0);
    sender = (HANDLE)_beginthreadex(NULL, 0, send_bulk, NULL, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sender);
    lb_timer_init(B.loop, &B.watchdog, on_bulk_watchdog, NULL);
    lb_timer_start(&B.watchdog, WATCHDOG_MS);
    CU_ASSERT_EQUAL(lb_loop_run(B.loop), 0);
    WaitForSingleObject(sender, 10000);
    CloseHandle(sender);
    CU_ASSERT(!B.timed_out);
    CU_ASSERT(B.ended);
    CU_ASSERT_EQUAL(B.got, CHUNK * CHUNKS);
    /* Each read (and the end) one completion; a zero-byte read first. */
    printf("\n    %d reads of 256 KiB: %lu completions, %lu recv() ", B.reads,
           B.completions, B.recvs);
    CU_ASSERT(4 * B.recvs <= (unsigned long)B.reads);
    CU_ASSERT(B.completions <= (unsigned long)B.reads + 2);
    CU_ASSERT_EQUAL(B.pool.in_use, 0);
    closesocket(B.client);
    lb_loop_free(B.loop);
    lb_bufpool_free(&B.pool);
}

void
lb_test_win32_loops_register(void)
{
    CU_pSuite s = CU_add_suite("win32 loops", NULL, NULL);

    CU_add_test(s, "clients spread over the loops",
                test_clients_spread_over_loops);
    CU_add_test(s, "a paused loop is skipped; all paused: clients wait",
                test_paused_loop_skipped_then_held);
    CU_add_test(s, "the last detach closes the socket",
                test_last_detach_closes);
    CU_add_test(s, "bulk reads are buffered",
                test_bulk_reads_are_buffered);
}

#else

void
lb_test_win32_loops_register(void)
{
}

#endif
