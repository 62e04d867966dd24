/* win32_loop.c - the I/O completion port loop: completions mapped back to
 * their operations, deferred completions, timers, stop requests from the
 * console (Ctrl+C, Ctrl+Break, closing the window) or the service. */
#include "win32_internal.h"
#include "win32_service.h"

#include <stdlib.h>

#define BATCH 64

HANDLE lb__win_stop_port;
static HANDLE loop_done_event;

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

/* The console's Ctrl+C, Ctrl+Break and close, on a thread of its own that
 * Windows creates: only wake the loop. For a closing console window
 * Windows ends the process when this returns, so wait (bounded) for the
 * drain first. LOGOFF goes to every console process when any user logs
 * off, and reaches only services (libuv and PostgreSQL ignore it too):
 * never a stop. The handler is not installed in service mode at all; a
 * service's stops come from the SCM. */
BOOL WINAPI
lb__win_on_console(DWORD type)
{
    if (type == CTRL_LOGOFF_EVENT)
        return FALSE; /* the default handler: a service goes on */
    if (lb__win_stop_port)
        PostQueuedCompletionStatus(lb__win_stop_port, 0, LB__KEY_STOP, NULL);
    if (type == CTRL_CLOSE_EVENT || type == CTRL_SHUTDOWN_EVENT)
        WaitForSingleObject(loop_done_event, 20000);
    return TRUE;
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
    /* One thread dequeues: the core is single-threaded by design. */
    loop->iocp = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
    if (loop->iocp == NULL) {
        free(loop);
        return lb__win_error((int)GetLastError());
    }
    lb__win_stop_port = loop->iocp;
    if (loop_done_event == NULL)
        loop_done_event = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (!lb__win_service_mode)
        loop->console_handler =
            SetConsoleCtrlHandler(lb__win_on_console, TRUE) != 0;
    *out = loop;
    lb__win_service_loop_ready();
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

static void
dispatch(lb_loop_t *loop, OVERLAPPED_ENTRY *e)
{
    lb__op_t *op = (lb__op_t *)e->lpOverlapped;
    DWORD bytes = e->dwNumberOfBytesTransferred;

    if (e->lpCompletionKey == LB__KEY_STOP) {
        lb__loop_request_stop(loop);
    } else if (e->lpCompletionKey == LB__KEY_RELOAD) {
        lb__loop_request_reload(loop);
    } else if (e->lpCompletionKey == LB__KEY_RESOLVE) {
        lb__resolve_done(e->lpOverlapped);
    } else if (op->kind == LB__OP_ACCEPT) {
        lb__accept_t *a = op->owner;
        lb__listener_op_done(a, op_status(op, a->listener->sock, &bytes));
    } else {
        lb_stream_t *s = op->owner;
        int status = op_status(op, s->sock, &bytes);
        lb__stream_op_done(s, op, status, bytes);
    }
}

int
lb_loop_run(lb_loop_t *loop)
{
    OVERLAPPED_ENTRY entries[BATCH];

    ResetEvent(loop_done_event);
    while (!loop->base.stopped) {
        ULONG n = 0;
        BOOL ok = GetQueuedCompletionStatusEx(loop->iocp, entries, BATCH, &n,
                                              wait_ms(loop), FALSE);
        DWORD err = ok ? 0 : GetLastError();

        loop->base.now = lb__win_clock_ms();
        if (!ok && err != WAIT_TIMEOUT)
            return lb__win_error((int)err);
        loop->turn += ok;
        for (ULONG i = 0; ok && i < n; i++)
            dispatch(loop, &entries[i]);
        lb__loop_run_due(loop, 1);
        lb__win_service_tick();
    }
    SetEvent(loop_done_event);
    return 0;
}

void
lb_loop_free(lb_loop_t *loop)
{
    if (loop == NULL)
        return;
    if (loop->console_handler)
        SetConsoleCtrlHandler(lb__win_on_console, FALSE);
    if (lb__win_stop_port == loop->iocp)
        lb__win_stop_port = NULL;
    CloseHandle(loop->iocp);
    lb_timer_heap_free(&loop->base.timers);
    free(loop);
}
