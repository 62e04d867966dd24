/* win32_service.h - the Windows service pieces the other win32 files call:
 * service entry, status hooks, install/uninstall, Event Log. */
#ifndef LB_WIN32_SERVICE_H
#define LB_WIN32_SERVICE_H

#include "lb_platform.h"

#define LB__SERVICE_NAME L"PumpkinLB"
#define LB__SERVICE_DISPLAY L"PumpkinLB TCP load balancer"
#define LB__SERVICE_ACCOUNT L"NT AUTHORITY\\LocalService"

extern int lb__win_service_mode;

/* win32_service.c */
int lb__win_service_start(const char *config, lb_run_fn run);
void lb__win_service_running(uint64_t stop_timeout_ms);
void lb__win_service_loop_ready(void);

/* win32_install.c */
int lb__win_install(const char *config);
int lb__win_uninstall(void);
/* Sends SERVICE_CONTROL_PARAMCHANGE to the running service. */
int lb__win_reload_service(const char *name); /* NULL: PumpkinLB */
/* %ProgramData%\PumpkinLB\NAME as a malloc'd wide string, creating the
 * folder; NULL on failure. */
wchar_t *lb__win_data_path(const wchar_t *name);

/* win32_eventlog.c */
void lb__win_eventlog_open(void);
/* The service's log file, malloc'd; NULL on failure. */
wchar_t *lb__win_service_log_path(void);

/* win32_log.c: opens the service's log file, which stands for stdout and
 * stderr (a service has no console); says so in the Event Log if it
 * cannot. */
void lb__win_service_log_open(void);

#endif
