/* win32_service.c - running under the Service Control Manager. The control
 * handler only reports and wakes the loops (as PostgreSQL's pg_ctl does);
 * they drain exactly as for Ctrl+C and bump the checkpoint themselves
 * while they drain, so a hung loop stops showing progress; SERVICE_STOPPED
 * comes once every loop has drained, with the program's exit status. */
#include "win32_internal.h"
#include "win32_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Loading the config, resolving names and binding: a checkpoint comes
 * only when RUNNING is reported, so the hint covers slow name servers. */
#define START_WAIT_HINT_MS 30000
#define CHECKPOINT_EVERY_MS 1000

BOOL(WINAPI *lb__win_set_status)(SERVICE_STATUS_HANDLE,
                                 LPSERVICE_STATUS) = SetServiceStatus;
static SERVICE_STATUS_HANDLE status_handle;
static SERVICE_STATUS status;
static SRWLOCK status_lock = SRWLOCK_INIT;
static ULONGLONG last_checkpoint;
static const lb_core_entry_t *service_core;
static const char *service_config;
static wchar_t service_name[257] = LB__SERVICE_NAME;
static volatile LONG stop_requested;
static DWORD stop_wait_ms = 6000 + LB__STOP_MARGIN_MS;
static int service_status = 1;
int lb__win_service_mode;

/* Called with status_lock held. */
static void
push_status(void)
{
    lb__win_set_status(status_handle, &status);
}

static void
report(DWORD state, DWORD exit_code, DWORD specific, DWORD wait_hint)
{
    AcquireSRWLockExclusive(&status_lock);
    status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
    status.dwCurrentState = state;
    /* PRESHUTDOWN: at system shutdown the SCM waits for STOPPED up to
     * the service's preshutdown timeout (set by --configure-service to
     * the drain plus a margin), where SHUTDOWN gives about 20 s whatever
     * the wait hint says. SHUTDOWN stays for a service whose preshutdown
     * control is not delivered. */
    status.dwControlsAccepted =
        state == SERVICE_RUNNING
            ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_PRESHUTDOWN |
                  SERVICE_ACCEPT_SHUTDOWN | SERVICE_ACCEPT_PARAMCHANGE
            : 0;
    status.dwWin32ExitCode = exit_code;
    status.dwServiceSpecificExitCode = specific;
    status.dwWaitHint = wait_hint;
    if (state == SERVICE_RUNNING || state == SERVICE_STOPPED)
        status.dwCheckPoint = 0;
    else
        status.dwCheckPoint++;
    last_checkpoint = GetTickCount64();
    push_status();
    ReleaseSRWLockExclusive(&status_lock);
}

void
lb__win_service_status(SERVICE_STATUS *out)
{
    AcquireSRWLockShared(&status_lock);
    *out = status;
    ReleaseSRWLockShared(&status_lock);
}

void
lb__win_service_reset(void)
{
    AcquireSRWLockExclusive(&status_lock);
    memset(&status, 0, sizeof(status));
    ReleaseSRWLockExclusive(&status_lock);
    InterlockedExchange(&stop_requested, 0);
    stop_wait_ms = 6000 + LB__STOP_MARGIN_MS;
    lb__win_loops_reset();
}

int
lb__win_service_draining(void)
{
    return lb__win_service_mode && stop_requested;
}

/* Each loop calls this each time round: while a stop drains, a new
 * checkpoint at most once a second, and only once every loop still
 * running has turned since the last: one hung loop holds it, whatever
 * the others do. */
void
lb__win_service_tick(lb_loop_t *loop)
{
    ULONGLONG now;

    if (!lb__win_service_draining())
        return;
    now = GetTickCount64();
    InterlockedExchange64(&loop->tick, (LONG64)now);
    AcquireSRWLockExclusive(&status_lock);
    if (status.dwCurrentState == SERVICE_STOP_PENDING &&
        now - last_checkpoint >= CHECKPOINT_EVERY_MS &&
        lb__win_loops_turned_since(last_checkpoint)) {
        status.dwCheckPoint++;
        last_checkpoint = now;
        push_status();
    }
    ReleaseSRWLockExclusive(&status_lock);
}

/* A drain longer than the preshutdown timeout (ms, 0: unknown) is cut at
 * system shutdown: say so, since --configure-service set the timeout for
 * the config of that time. */
void
lb__win_check_preshutdown(const lb_run_spec_t *spec, DWORD ms)
{
    char msg[400];
    uint64_t need = spec->stop_timeout_ms + LB__STOP_MARGIN_MS;

    if (ms == 0 || ms >= need || spec->log == NULL)
        return;
    snprintf(msg, sizeof(msg), "warning: graceful_shutdown_timeout "
             "(%llu ms) and a margin (%d ms) exceed the service's "
             "preshutdown timeout (%lu ms): a system shutdown cuts the drain "
             "short; run pumpkinlb.exe --configure-service as an "
             "administrator", (unsigned long long)spec->stop_timeout_ms,
             LB__STOP_MARGIN_MS, (unsigned long)ms);
    spec->log(1, msg);
}

/* lb_run_workers calls this once every listener is bound. */
void
lb__win_service_running(const lb_run_spec_t *spec)
{
    SERVICE_PRESHUTDOWN_INFO info = {0};

    if (!lb__win_service_mode)
        return;
    stop_wait_ms = (DWORD)spec->stop_timeout_ms + LB__STOP_MARGIN_MS;
    report(SERVICE_RUNNING, NO_ERROR, 0, 0);
    if (lb__win_preshutdown_timeout(service_name, &info))
        lb__win_check_preshutdown(spec, info.dwPreshutdownTimeout);
}

static void
request_stop(void)
{
    report(SERVICE_STOP_PENDING, NO_ERROR, 0, stop_wait_ms);
    InterlockedExchange(&stop_requested, 1);
    lb__win_request_stop(); /* every loop, and those made later */
}

DWORD WINAPI
lb__win_service_control(DWORD control, DWORD type, LPVOID data, LPVOID ctx)
{
    (void)type;
    (void)data;
    (void)ctx;
    switch (control) {
    case SERVICE_CONTROL_STOP:
    case SERVICE_CONTROL_PRESHUTDOWN:
    case SERVICE_CONTROL_SHUTDOWN:
        request_stop();
        return NO_ERROR;
    case SERVICE_CONTROL_PARAMCHANGE:
        /* The supervisor reloads, then each loop takes the new config:
         * the handler only wakes it. */
        lb__win_request_reload();
        return NO_ERROR;
    case SERVICE_CONTROL_INTERROGATE:
        return NO_ERROR;
    default:
        return ERROR_CALL_NOT_IMPLEMENTED;
    }
}

static void WINAPI
service_main(DWORD argc, LPWSTR *argv)
{
    int rc;

    if (argc > 0 && argv[0] && wcslen(argv[0]) < 257)
        wcscpy(service_name, argv[0]);
    status_handle = RegisterServiceCtrlHandlerExW(
        service_name, lb__win_service_control, NULL);
    if (status_handle == NULL)
        return;
    report(SERVICE_START_PENDING, NO_ERROR, 0, START_WAIT_HINT_MS);
    rc = service_core->run(service_config);
    service_status = rc;
    if (rc == 0)
        report(SERVICE_STOPPED, NO_ERROR, 0, 0);
    else
        report(SERVICE_STOPPED, ERROR_SERVICE_SPECIFIC_ERROR, (DWORD)rc, 0);
}

int
lb__win_service_start(const char *config, const lb_core_entry_t *core)
{
    static WCHAR name[] = LB__SERVICE_NAME;
    SERVICE_TABLE_ENTRYW table[] = {{name, service_main}, {NULL, NULL}};

    lb__win_service_mode = 1;
    service_core = core;
    service_config = config;
    lb__win_service_log_open();
    lb__win_eventlog_open();
    if (!StartServiceCtrlDispatcherW(table)) {
        DWORD err = GetLastError();
        fprintf(stderr, "--service is for the Service Control Manager "
                "(StartServiceCtrlDispatcher failed: error %lu); run "
                "pumpkinlb.exe CFG for the console\n", (unsigned long)err);
        return LB_EXIT_FAILURE;
    }
    return service_status;
}
