/* win32_eventlog.c - where a service's words go: the Windows Event Log
 * (source "PumpkinLB") for notable events, and a log file under
 * %ProgramData%\PumpkinLB for everything stdout and stderr would show
 * (written by win32_log.c). */
#include "win32_internal.h"
#include "win32_service.h"

#include <stdio.h>
#include <stdlib.h>

/* messages.mc's IDs with their severity bits (30-31), as mc writes them
 * to messages.h; a unit test checks each against the table linked into
 * pumpkinlb.exe. Indexed by lb_event_t. */
static const struct {
    DWORD id;
    WORD type;
} events[LB_EVENT_KINDS] = {
    [LB_EVENT_STARTING] = {0x40000064, EVENTLOG_INFORMATION_TYPE},
    [LB_EVENT_STOPPED] = {0x40000065, EVENTLOG_INFORMATION_TYPE},
    [LB_EVENT_RELOADING] = {0x40000066, EVENTLOG_INFORMATION_TYPE},
    [LB_EVENT_RELOADED] = {0x40000067, EVENTLOG_INFORMATION_TYPE},
    [LB_EVENT_RELOAD_FAILED] = {0x800000C8, EVENTLOG_WARNING_TYPE},
    [LB_EVENT_UNSAFE_CONFIG] = {0x800000C9, EVENTLOG_WARNING_TYPE},
    [LB_EVENT_CONFIG_ERROR] = {0xC000012C, EVENTLOG_ERROR_TYPE},
    [LB_EVENT_FATAL] = {0xC000012D, EVENTLOG_ERROR_TYPE},
    [LB_EVENT_FAILED] = {0xC000012E, EVENTLOG_ERROR_TYPE},
};

static HANDLE event_source;

DWORD
lb__win_event_id(lb_event_t kind, WORD *type)
{
    if ((unsigned)kind >= LB_EVENT_KINDS) {
        *type = EVENTLOG_INFORMATION_TYPE;
        return LB__MSG_TEXT;
    }
    *type = events[kind].type;
    return events[kind].id;
}

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
    /* The one folder the service may write (--configure-service). */
    return lb__win_data_path(L"logs\\pumpkinlb.log");
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

/* Writes one event; 0 when the Event Log took it. */
int
lb__win_report(DWORD id, WORD type, const char *msg)
{
    wchar_t *w;
    LPCWSTR strings[1];
    BOOL ok;

    if (event_source == NULL || (w = widen(msg)) == NULL)
        return -1;
    strings[0] = w;
    ok = ReportEventW(event_source, type, 0, id, NULL, 1, 0, strings, NULL);
    free(w);
    return ok ? 0 : -1;
}

void
lb_platform_event(lb_event_t kind, const char *msg)
{
    WORD type;
    DWORD id = lb__win_event_id(kind, &type);

    if (lb__win_service_mode)
        lb__win_report(id, type, msg);
}
