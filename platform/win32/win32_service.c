/* win32_service.c - running under the Service Control Manager. The control
 * handler only reports and wakes the loop (as PostgreSQL's pg_ctl does);
 * the loop drains exactly as for Ctrl+C; a timer bumps the checkpoint
 * while it drains; SERVICE_STOPPED carries the program's exit status. */
#include "win32_internal.h"
#include "win32_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

#define START_WAIT_HINT_MS 10000
#define STOP_MARGIN_MS 5000 /* beyond the drain timeout */

static SERVICE_STATUS_HANDLE status_handle;
static SERVICE_STATUS status;
static CRITICAL_SECTION status_lock;
static HANDLE checkpoint_timer;
static lb_run_fn service_run;
static const char *service_config;
static volatile LONG stop_requested;
static DWORD stop_wait_ms = 6000 + STOP_MARGIN_MS;
static int service_status = 1;
int lb__win_service_mode;

static void
report(DWORD state, DWORD exit_code, DWORD specific, DWORD wait_hint)
{
    EnterCriticalSection(&status_lock);
    status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
    status.dwCurrentState = state;
    status.dwControlsAccepted =
        state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP |
                                       SERVICE_ACCEPT_SHUTDOWN |
                                       SERVICE_ACCEPT_PARAMCHANGE
                                 : 0;
    status.dwWin32ExitCode = exit_code;
    status.dwServiceSpecificExitCode = specific;
    status.dwWaitHint = wait_hint;
    if (state == SERVICE_RUNNING || state == SERVICE_STOPPED)
        status.dwCheckPoint = 0;
    else
        status.dwCheckPoint++;
    SetServiceStatus(status_handle, &status);
    LeaveCriticalSection(&status_lock);
}

/* While starting or draining, tell the SCM we are alive once a second. */
static VOID CALLBACK
bump_checkpoint(PVOID arg, BOOLEAN fired)
{
    (void)arg;
    (void)fired;
    EnterCriticalSection(&status_lock);
    if (status.dwCurrentState == SERVICE_START_PENDING ||
        status.dwCurrentState == SERVICE_STOP_PENDING) {
        status.dwCheckPoint++;
        SetServiceStatus(status_handle, &status);
    }
    LeaveCriticalSection(&status_lock);
}

/* Called by the loop's creator: a stop that came before the loop existed
 * is delivered now. */
void
lb__win_service_loop_ready(void)
{
    if (stop_requested)
        PostQueuedCompletionStatus(lb__win_stop_port, 0, LB__KEY_STOP, NULL);
}

/* lb_run_workers calls this once every listener is bound. */
void
lb__win_service_running(uint64_t stop_timeout_ms)
{
    if (!lb__win_service_mode)
        return;
    stop_wait_ms = (DWORD)stop_timeout_ms + STOP_MARGIN_MS;
    report(SERVICE_RUNNING, NO_ERROR, 0, 0);
}

static DWORD WINAPI
on_control(DWORD control, DWORD type, LPVOID data, LPVOID ctx)
{
    (void)type;
    (void)data;
    (void)ctx;
    switch (control) {
    case SERVICE_CONTROL_STOP:
    case SERVICE_CONTROL_SHUTDOWN:
        report(SERVICE_STOP_PENDING, NO_ERROR, 0, stop_wait_ms);
        InterlockedExchange(&stop_requested, 1);
        if (lb__win_stop_port)
            PostQueuedCompletionStatus(lb__win_stop_port, 0, LB__KEY_STOP,
                                       NULL);
        return NO_ERROR;
    case SERVICE_CONTROL_PARAMCHANGE:
        /* The loop reloads: the handler only wakes it. */
        if (lb__win_stop_port)
            PostQueuedCompletionStatus(lb__win_stop_port, 0, LB__KEY_RELOAD,
                                       NULL);
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

    (void)argc;
    (void)argv;
    status_handle = RegisterServiceCtrlHandlerExW(LB__SERVICE_NAME, on_control,
                                                  NULL);
    if (status_handle == NULL)
        return;
    report(SERVICE_START_PENDING, NO_ERROR, 0, START_WAIT_HINT_MS);
    CreateTimerQueueTimer(&checkpoint_timer, NULL, bump_checkpoint, NULL,
                          1000, 1000, WT_EXECUTEDEFAULT);
    rc = service_run(service_config);
    service_status = rc;
    if (checkpoint_timer)
        DeleteTimerQueueTimer(NULL, checkpoint_timer, INVALID_HANDLE_VALUE);
    if (rc == 0)
        report(SERVICE_STOPPED, NO_ERROR, 0, 0);
    else
        report(SERVICE_STOPPED, ERROR_SERVICE_SPECIFIC_ERROR, (DWORD)rc, 0);
}

/* The MSI ships CFG.default and never owns CFG, so that upgrades and
 * uninstalling leave the admin's edits alone; the first start makes CFG. */
static void
create_config_from_default(const char *config)
{
    wchar_t cfg[MAX_PATH], def[MAX_PATH + 8];

    if (MultiByteToWideChar(CP_ACP, 0, config, -1, cfg, MAX_PATH) <= 0 ||
        GetFileAttributesW(cfg) != INVALID_FILE_ATTRIBUTES)
        return;
    swprintf(def, MAX_PATH + 8, L"%ls.default", cfg);
    if (GetFileAttributesW(def) == INVALID_FILE_ATTRIBUTES)
        return;
    if (CopyFileW(def, cfg, TRUE))
        fprintf(stderr, "created %s from its .default\n", config);
}

int
lb__win_service_start(const char *config, lb_run_fn run)
{
    static WCHAR name[] = LB__SERVICE_NAME;
    SERVICE_TABLE_ENTRYW table[] = {{name, service_main}, {NULL, NULL}};

    InitializeCriticalSection(&status_lock);
    lb__win_service_mode = 1;
    service_run = run;
    service_config = config;
    lb__win_service_log_open();
    lb__win_eventlog_open();
    create_config_from_default(config);
    if (!StartServiceCtrlDispatcherW(table)) {
        DWORD err = GetLastError();
        fprintf(stderr, "--service is for the Service Control Manager "
                "(StartServiceCtrlDispatcher failed: error %lu); run "
                "pumpkinlb.exe CFG for the console\n", (unsigned long)err);
        return LB_EXIT_FAILURE;
    }
    return service_status;
}
