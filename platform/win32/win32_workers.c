/* win32_workers.c - lb_run_workers on Windows: `processes` loop threads in
 * this one process (slots 0 .. processes-1), each running the core's
 * worker for every listener, as a POSIX worker process would for its
 * own; and the calling thread as their supervisor. It reloads on
 * PARAMCHANGE (the config parsed, checked and bound once, off the loops)
 * and hands the result to each loop, one reload at a time; it stops the
 * others when a loop ends without being asked to; and it returns once
 * every loop has drained. */
#include "win32_internal.h"
#include "win32_service.h"

#include <process.h>
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

typedef struct loop_thread_s {
    lb_worker_fn worker;
    void *ctx;
    const size_t *idx;
    size_t n;
    unsigned slot;
    HANDLE port; /* the supervisor's */
    HANDLE handle;
    int status;
} loop_thread_t;

typedef struct super_s {
    lb_run_spec_t *spec;
    HANDLE port;
    unsigned n, live, ready;
    int stopping, status;
    unsigned acks;     /* loops yet to take the last reload */
    int reload_wanted; /* asked for while one was under way */
} super_t;

/* kernel32's name, where this Windows has it (newer than the build's
 * _WIN32_WINNT, or missing from mingw-w64's headers). */
static void (*kernel32_fn(const char *name))(void)
{
    HMODULE k32 = GetModuleHandleW(L"kernel32.dll");

    return k32 ? (void (*)(void))GetProcAddress(k32, name) : NULL;
}

/* "lb-loop-N" in debuggers, Process Explorer and (under Wine) the Linux
 * thread name; advisory (Windows 10 1607 and later). */
static void
name_thread(unsigned slot)
{
    typedef HRESULT(WINAPI * set_fn)(HANDLE, PCWSTR);
    set_fn set = (set_fn)kernel32_fn("SetThreadDescription");
    wchar_t name[32];

    if (set == NULL)
        return;
    swprintf(name, sizeof(name) / sizeof(name[0]), L"lb-loop-%u", slot);
    (void)set(GetCurrentThread(), name);
}

/* A host with more than 64 processors has several processor groups, and
 * a thread runs in one group only; before Windows 11 and Server 2022
 * every thread of a process starts in the same one. Loop k goes to group
 * k modulo their number, so `processes = auto` reaches them all. */
static void
spread(unsigned slot)
{
    typedef WORD(WINAPI * groups_fn)(void);
    typedef DWORD(WINAPI * count_fn)(WORD);
    typedef BOOL(WINAPI * set_fn)(HANDLE, const GROUP_AFFINITY *,
                                  GROUP_AFFINITY *);
    groups_fn groups = (groups_fn)kernel32_fn("GetActiveProcessorGroupCount");
    count_fn count = (count_fn)kernel32_fn("GetActiveProcessorCount");
    set_fn set = (set_fn)kernel32_fn("SetThreadGroupAffinity");
    GROUP_AFFINITY ga = {0};
    WORD n = groups ? groups() : 1;
    DWORD cpus;

    if (n <= 1 || count == NULL || set == NULL)
        return;
    ga.Group = (WORD)(slot % n);
    cpus = count(ga.Group);
    if (cpus == 0)
        return;
    ga.Mask = cpus >= 8 * sizeof(KAFFINITY) ? ~(KAFFINITY)0
                                            : ((KAFFINITY)1 << cpus) - 1;
    (void)set(GetCurrentThread(), &ga, NULL);
}

static unsigned __stdcall
loop_main(void *arg)
{
    loop_thread_t *t = arg;

    name_thread(t->slot);
    spread(t->slot);
    t->status = t->worker(t->idx, t->n, t->slot, t->ctx);
    PostQueuedCompletionStatus(t->port, 0, LB__KEY_EXITED, (OVERLAPPED *)t);
    return 0;
}

static void
say(const super_t *sv, const char *msg)
{
    if (sv->spec->log)
        sv->spec->log(1, msg);
}

/* Parsed, checked and bound once, here (name lookups and all, off the
 * loops); each loop then takes the new run over and tells us so. One
 * reload at a time, and none until every loop runs its server (which
 * read the first run's listeners): each must get every reload. */
static void
reload(super_t *sv)
{
    lb_run_spec_t next;

    if (sv->stopping || sv->spec->reload == NULL)
        return;
    if (sv->acks > 0 || sv->ready < sv->n) {
        sv->reload_wanted = 1;
        return;
    }
    sv->reload_wanted = 0;
    if (sv->spec->reload(sv->spec->ctx, &next) != 0)
        return; /* the core said why; the running config stays */
    *sv->spec = next;
    sv->acks = lb__win_loops_post(LB__KEY_RELOAD, next.ctx);
}

static void
exited(super_t *sv, loop_thread_t *t)
{
    char msg[160];

    sv->live--;
    if (t->status != 0 && sv->status == 0)
        sv->status = t->status;
    if (sv->stopping)
        return;
    /* A loop only ends after a stop: one that failed takes the others
     * down with it, as a process that cannot serve all it was given. */
    snprintf(msg, sizeof(msg), "loop %u ended without a stop (status %d); "
             "stopping the others", t->slot, t->status);
    say(sv, msg);
    if (sv->status == 0)
        sv->status = LB_EXIT_FAILURE;
    sv->stopping = 1;
    lb__win_request_stop();
}

static void
supervise(super_t *sv)
{
    while (sv->live > 0) {
        DWORD bytes;
        ULONG_PTR key;
        OVERLAPPED *ov = NULL;

        if (!GetQueuedCompletionStatus(sv->port, &bytes, &key, &ov,
                                       INFINITE) && ov == NULL)
            continue;
        if (key == LB__KEY_EXITED) {
            exited(sv, (loop_thread_t *)ov);
        } else if (key == LB__KEY_STOP) {
            sv->stopping = 1;
        } else if (key == LB__KEY_RELOAD) {
            reload(sv);
        } else if (key == LB__KEY_RELOADED || key == LB__KEY_READY) {
            if (key == LB__KEY_RELOADED && sv->acks > 0)
                sv->acks--;
            if (key == LB__KEY_READY)
                sv->ready++;
            if (sv->reload_wanted)
                reload(sv);
        }
    }
}

/* Starts the loop threads; returns how many started. */
static unsigned
start_loops(super_t *sv, loop_thread_t *t, const size_t *idx)
{
    unsigned k;

    for (k = 0; k < sv->n; k++) {
        t[k].worker = sv->spec->worker;
        t[k].ctx = sv->spec->ctx;
        t[k].idx = idx;
        t[k].n = sv->spec->nlisteners;
        t[k].slot = k;
        t[k].port = sv->port;
        /* The C runtime's own start: the loops use stdio and malloc. */
        t[k].handle = (HANDLE)_beginthreadex(NULL, 0, loop_main, &t[k], 0,
                                             NULL);
        if (t[k].handle == NULL)
            break;
    }
    return k;
}

static void
close_listeners(lb_run_spec_t *spec)
{
    for (size_t i = 0; i < spec->nlisteners; i++) {
        if (spec->listeners[i])
            lb_listener_close(spec->listeners[i]); /* the loops detached */
        spec->listeners[i] = NULL;
    }
}

int
lb_run_workers(lb_run_spec_t *spec)
{
    super_t sv = {0};
    size_t *idx = calloc(spec->nlisteners ? spec->nlisteners : 1,
                         sizeof(*idx));
    loop_thread_t *threads;
    unsigned started;

    sv.spec = spec;
    sv.n = spec->processes ? spec->processes : 1;
    threads = calloc(sv.n, sizeof(*threads));
    sv.port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
    if (idx == NULL || threads == NULL || sv.port == NULL) {
        say(&sv, "cannot start the loops: out of memory");
        if (sv.port)
            CloseHandle(sv.port);
        free(idx);
        free(threads);
        close_listeners(spec);
        return LB_EXIT_FAILURE;
    }
    for (size_t i = 0; i < spec->nlisteners; i++)
        idx[i] = i;
    lb__win_loops_supervise(sv.port);
    lb__win_service_running(spec);
    started = start_loops(&sv, threads, idx);
    sv.live = started;
    if (started < sv.n) {
        say(&sv, "cannot start a loop thread; stopping");
        sv.status = LB_EXIT_FAILURE;
        sv.stopping = 1;
        lb__win_request_stop();
    }
    supervise(&sv);
    for (unsigned k = 0; k < started; k++) {
        WaitForSingleObject(threads[k].handle, INFINITE);
        CloseHandle(threads[k].handle);
    }
    lb__win_loops_supervise(NULL);
    CloseHandle(sv.port);
    close_listeners(spec);
    free(threads);
    free(idx);
    return sv.status;
}

/* Loops of this one process: they live through a reload, share its
 * limits, and one of them serves the statistics. */
int
lb_workers_share_process(void)
{
    return 1;
}

unsigned
lb_cpu_count(void)
{
    typedef DWORD(WINAPI * count_fn)(WORD);
    count_fn count = (count_fn)kernel32_fn("GetActiveProcessorCount");
    DWORD n = count ? count(ALL_PROCESSOR_GROUPS) : 0; /* Windows 7 on */
    SYSTEM_INFO si;

    if (n == 0) {
        GetSystemInfo(&si);
        n = si.dwNumberOfProcessors;
    }
    return n > 0 ? (unsigned)n : 1;
}
