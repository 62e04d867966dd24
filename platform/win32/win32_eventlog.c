/* win32_eventlog.c - where a service's words go: the Windows Event Log
 * (source "PumpkinLB") for notable events, and a log file under
 * %ProgramData%\PumpkinLB for everything stdout and stderr would show
 * (written by win32_log.c). */
#include "win32_internal.h"
#include "win32_service.h"

#include <stdio.h>
#include <stdlib.h>

#define LB__EVENT_ID 1 /* the one message of messages.mc: "%1" */

static HANDLE event_source;

void
lb__win_eventlog_open(void)
{
    if (event_source == NULL)
        event_source = RegisterEventSourceW(NULL, LB__SERVICE_NAME);
}

/* Where a service's log lines go: it has no console. */
wchar_t *
lb__win_service_log_path(void)
{
    return lb__win_data_path(L"pumpkinlb.log");
}

static wchar_t *
widen(const char *msg)
{
    int n = MultiByteToWideChar(CP_UTF8, 0, msg, -1, NULL, 0);
    wchar_t *w;

    if (n <= 0)
        return NULL;
    w = malloc((size_t)n * sizeof(*w));
    if (w && MultiByteToWideChar(CP_UTF8, 0, msg, -1, w, n) <= 0) {
        free(w);
        return NULL;
    }
    return w;
}

void
lb_platform_event(int is_error, const char *msg)
{
    wchar_t *w;
    LPCWSTR strings[1];

    if (!lb__win_service_mode || event_source == NULL)
        return;
    w = widen(msg);
    if (w == NULL)
        return;
    strings[0] = w;
    ReportEventW(event_source,
                 is_error ? EVENTLOG_ERROR_TYPE : EVENTLOG_INFORMATION_TYPE,
                 0, LB__EVENT_ID, NULL, 1, 0, strings, NULL);
    free(w);
}
