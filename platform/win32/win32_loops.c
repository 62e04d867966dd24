/* win32_loops.c - the registry of the process's loops: a stop (Ctrl+C,
 * Ctrl+Break, closing the console, the service's STOP) goes to every
 * loop, each of which drains; PARAMCHANGE goes to the supervisor
 * (lb_run_workers), which hands the reload to each loop; a closing
 * console waits until no loop runs; and the service's checkpoint moves
 * only while every running loop turns. */
#include "win32_internal.h"
#include "win32_service.h"

static SRWLOCK lock = SRWLOCK_INIT;
static lb_loop_t *loops;       /* registered, newest first */
static unsigned nloops, nrunning;
static unsigned stops;         /* stop requests since the start */
static HANDLE idle_event;      /* set while no loop runs */
static HANDLE supervisor;      /* lb_run_workers's port, while it runs */
static INIT_ONCE idle_once = INIT_ONCE_STATIC_INIT;

static BOOL CALLBACK
make_idle_event(PINIT_ONCE once, PVOID param, PVOID *ctx)
{
    (void)once;
    (void)param;
    (void)ctx;
    idle_event = CreateEventW(NULL, TRUE, TRUE, NULL);
    return idle_event != NULL;
}

/* The console's Ctrl+C, Ctrl+Break and close, on a thread of its own that
 * Windows creates: only wake the loops. For a closing console window
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
    lb__win_request_stop();
    if ((type == CTRL_CLOSE_EVENT || type == CTRL_SHUTDOWN_EVENT) &&
        idle_event != NULL)
        WaitForSingleObject(idle_event, 20000);
    return TRUE;
}

/* A loop made after a stop was asked for gets it too (one per request,
 * so a second Ctrl+C still cuts at once); the console handler is
 * installed with the first loop (console mode), once for all of them,
 * since each installation would run on every Ctrl+C. */
void
lb__win_loops_add(lb_loop_t *loop)
{
    int first;

    InitOnceExecuteOnce(&idle_once, make_idle_event, NULL, NULL);
    AcquireSRWLockExclusive(&lock);
    loop->next_loop = loops;
    loops = loop;
    first = nloops++ == 0;
    for (unsigned i = 0; i < stops && i < 2; i++)
        PostQueuedCompletionStatus(loop->iocp, 0, LB__KEY_STOP, NULL);
    ReleaseSRWLockExclusive(&lock);
    /* Outside the lock, which the handler takes on its own thread. */
    if (first && !lb__win_service_mode)
        SetConsoleCtrlHandler(lb__win_on_console, TRUE);
}

void
lb__win_loops_remove(lb_loop_t *loop)
{
    int last = 0;

    AcquireSRWLockExclusive(&lock);
    for (lb_loop_t **p = &loops; *p != NULL; p = &(*p)->next_loop) {
        if (*p == loop) {
            *p = loop->next_loop;
            last = --nloops == 0;
            break;
        }
    }
    ReleaseSRWLockExclusive(&lock);
    if (last && !lb__win_service_mode)
        SetConsoleCtrlHandler(lb__win_on_console, FALSE);
}

/* The first time a loop runs its server is set up (lb_server_init read
 * the run's listeners): from then on the supervisor may reload. */
void
lb__win_loops_running(lb_loop_t *loop, int running)
{
    AcquireSRWLockExclusive(&lock);
    if (running && !loop->ran && supervisor != NULL)
        PostQueuedCompletionStatus(supervisor, 0, LB__KEY_READY, NULL);
    if (running)
        loop->ran = 1;
    if (running && !loop->running && nrunning++ == 0 && idle_event)
        ResetEvent(idle_event);
    if (!running && loop->running && --nrunning == 0 && idle_event)
        SetEvent(idle_event);
    loop->running = running;
    ReleaseSRWLockExclusive(&lock);
}

unsigned
lb__win_loops_post(ULONG_PTR key, void *ov)
{
    unsigned n = 0;

    AcquireSRWLockShared(&lock);
    for (lb_loop_t *l = loops; l != NULL; l = l->next_loop)
        n += PostQueuedCompletionStatus(l->iocp, 0, key,
                                        (OVERLAPPED *)ov) != 0;
    ReleaseSRWLockShared(&lock);
    return n;
}

unsigned
lb__win_loops_count(void)
{
    unsigned n;

    AcquireSRWLockShared(&lock);
    n = nloops;
    ReleaseSRWLockShared(&lock);
    return n;
}

/* The supervisor hears of it first: its port then has the stop ahead of
 * any loop's end that it caused, which is never taken for a failure. */
void
lb__win_request_stop(void)
{
    AcquireSRWLockExclusive(&lock);
    stops++;
    if (supervisor != NULL)
        PostQueuedCompletionStatus(supervisor, 0, LB__KEY_STOP, NULL);
    for (lb_loop_t *l = loops; l != NULL; l = l->next_loop)
        PostQueuedCompletionStatus(l->iocp, 0, LB__KEY_STOP, NULL);
    ReleaseSRWLockExclusive(&lock);
}

void
lb__win_request_reload(void)
{
    lb__win_loops_tell(LB__KEY_RELOAD);
}

void
lb__win_loops_supervise(HANDLE port)
{
    AcquireSRWLockExclusive(&lock);
    supervisor = port;
    ReleaseSRWLockExclusive(&lock);
}

void
lb__win_loops_tell(ULONG_PTR key)
{
    AcquireSRWLockShared(&lock);
    if (supervisor != NULL)
        PostQueuedCompletionStatus(supervisor, 0, key, NULL);
    ReleaseSRWLockShared(&lock);
}

int
lb__win_loops_turned_since(ULONGLONG since)
{
    int all = 1;

    AcquireSRWLockShared(&lock);
    for (lb_loop_t *l = loops; l != NULL && all; l = l->next_loop)
        if (l->running &&
            (ULONGLONG)InterlockedCompareExchange64(&l->tick, 0, 0) < since)
            all = 0;
    ReleaseSRWLockShared(&lock);
    return all;
}

void
lb__win_loops_reset(void)
{
    AcquireSRWLockExclusive(&lock);
    stops = 0;
    ReleaseSRWLockExclusive(&lock);
}
