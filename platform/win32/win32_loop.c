/* win32_loop.c - the I/O completion port loop: completions mapped back to
 * their operations, deferred completions, timers; stops, reloads and
 * accepted clients that other threads post to it. */
#include "win32_internal.h"
#include "win32_service.h"

#include <stdlib.h>

#define BATCH 64

uint64_t
lb__win_ticks_to_ms(uint64_t ticks, uint64_t freq)
{
    return ticks / freq * 1000 + ticks % freq * 1000 / freq;
}

/* The performance counter, not GetTickCount64: that one advances in steps
 * of the timer interrupt (10-16 ms), which is what connect_ms and
 * duration_ms would show. Its frequency is fixed at boot. */
uint64_t
lb__win_clock_ms(void)
{
    static LARGE_INTEGER freq;
    LARGE_INTEGER now;

    if (freq.QuadPart == 0)
        QueryPerformanceFrequency(&freq);
    QueryPerformanceCounter(&now);
    return lb__win_ticks_to_ms((uint64_t)now.QuadPart,
                               (uint64_t)freq.QuadPart);
}

void
lb__stream_queue(lb_stream_t *s, unsigned what)
{
    lb__pending_add(&s->loop->base.pending, &s->base, what);
}

int
lb_loop_new(lb_loop_t **out, const lb_allocator_t *alloc)
{
    lb_loop_t *loop;
    int rc = lb__winsock_init();

    if (rc != 0)
        return rc;
    loop = calloc(1, sizeof(*loop));
    if (loop == NULL)
        return LB_ENOMEM;
    loop->base.alloc = *alloc;
    loop->base.now = lb__win_clock_ms();
    loop->thread = GetCurrentThreadId();
    /* One thread dequeues: the core is single-threaded by design. */
    loop->iocp = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
    if (loop->iocp == NULL) {
        free(loop);
        return lb__win_error((int)GetLastError());
    }
    lb__win_loops_add(loop); /* a stop asked for already comes now */
    *out = loop;
    return 0;
}

/* While a service drains, the loop turns at least once a second to bump
 * the checkpoint (lb__win_service_tick). */
static DWORD
wait_ms(lb_loop_t *loop)
{
    long t = lb__loop_wait_ms(loop, 60000);

    if (lb__win_service_draining() && (t < 0 || t > 1000))
        t = 1000;
    return t < 0 ? INFINITE : (DWORD)t;
}

static int
op_status(const lb__op_t *op, SOCKET sock, DWORD *bytes)
{
    DWORD flags = 0;

    if (op->ov.Internal == 0) /* STATUS_SUCCESS */
        return 0;
    if (sock == INVALID_SOCKET)
        return LB_ECANCELED;
    if (WSAGetOverlappedResult(sock, (LPWSAOVERLAPPED)&op->ov, bytes, FALSE,
                               &flags))
        return 0;
    return lb__win_error(WSAGetLastError());
}

/* What other threads post: accepted clients, a listener's owner asked to
 * look again, a reload (told back to the supervisor once taken). With
 * serve 0 the loop is going (lb_loop_free): clients are closed. Returns
 * 0 for a key that is none of them. */
static int
message(lb_loop_t *loop, OVERLAPPED_ENTRY *e, int serve)
{
    switch (e->lpCompletionKey) {
    case LB__KEY_HANDOFF:
        lb__accept_handed(loop, (lb__handoff_t *)e->lpOverlapped, serve);
        return 1;
    case LB__KEY_LISTENER:
        lb__listener_wake((lb_listener_t *)e->lpOverlapped);
        return 1;
    case LB__KEY_RELOAD:
        if (serve)
            lb__loop_request_reload(loop, e->lpOverlapped);
        lb__win_loops_tell(LB__KEY_RELOADED);
        return 1;
    default:
        return 0;
    }
}

static void
accept_done(lb__op_t *op)
{
    lb__accept_t *a = op->owner;
    DWORD bytes = 0;

    lb__listener_op_done(a, op_status(op, a->listener->sock, &bytes));
}

static void
dispatch(lb_loop_t *loop, OVERLAPPED_ENTRY *e)
{
    lb__op_t *op = (lb__op_t *)e->lpOverlapped;
    DWORD bytes = e->dwNumberOfBytesTransferred;

    loop->completions++;
    if (e->lpCompletionKey == LB__KEY_STOP) {
        lb__loop_request_stop(loop);
    } else if (e->lpCompletionKey == LB__KEY_RESOLVE) {
        lb__resolve_done(e->lpOverlapped);
    } else if (message(loop, e, 1)) {
        /* handled */
    } else if (op->kind == LB__OP_ACCEPT) {
        accept_done(op);
    } else {
        lb_stream_t *s = op->owner;
        int status = op_status(op, s->sock, &bytes);
        lb__stream_op_done(s, op, status, bytes);
    }
}

/* Runs until stopped and, as the owner of listeners other loops are
 * still attached to, until their sockets are closed and their accepts
 * back: they are tied to this loop's port alone. */
int
lb_loop_run(lb_loop_t *loop)
{
    OVERLAPPED_ENTRY entries[BATCH];
    int rc = 0;

    loop->thread = GetCurrentThreadId();
    lb__win_loops_running(loop, 1);
    while (!loop->base.stopped || loop->owning > 0) {
        ULONG n = 0;
        BOOL ok = GetQueuedCompletionStatusEx(loop->iocp, entries, BATCH, &n,
                                              wait_ms(loop), FALSE);
        DWORD err = ok ? 0 : GetLastError();

        loop->base.now = lb__win_clock_ms();
        if (!ok && err != WAIT_TIMEOUT) {
            rc = lb__win_error((int)err);
            break;
        }
        loop->turn += ok;
        for (ULONG i = 0; ok && i < n; i++)
            dispatch(loop, &entries[i]);
        lb__loop_run_due(loop, 1);
        lb__win_service_tick(loop);
    }
    lb__win_loops_running(loop, 0);
    return rc;
}

/* Before the port goes: what other threads posted to it is handled
 * without the core (clients closed, references dropped, a reload told
 * back), and listeners it still owns get their accepts back first. */
static void
drain_port(lb_loop_t *loop)
{
    OVERLAPPED_ENTRY entries[BATCH];
    ULONG n;

    for (;;) {
        n = 0;
        if (!GetQueuedCompletionStatusEx(loop->iocp, entries, BATCH, &n,
                                         loop->owning > 0 ? 1000 : 0,
                                         FALSE)) {
            if (loop->owning > 0 && GetLastError() == WAIT_TIMEOUT)
                continue;
            return;
        }
        for (ULONG i = 0; i < n; i++) {
            lb__op_t *op = (lb__op_t *)entries[i].lpOverlapped;

            if (message(loop, &entries[i], 0))
                continue;
            if (entries[i].lpCompletionKey == LB__KEY_IO && op != NULL &&
                op->kind == LB__OP_ACCEPT)
                accept_done(op); /* clients go to the loops attached */
        }
    }
}

void
lb_loop_free(lb_loop_t *loop)
{
    if (loop == NULL)
        return;
    lb__win_loops_remove(loop); /* no stop or reload is posted any more */
    drain_port(loop);
    CloseHandle(loop->iocp);
    lb_timer_heap_free(&loop->base.timers);
    free(loop);
}
