/* win32_service.h - the Windows service pieces the other win32 files call:
 * service entry, status hooks, install and configure, ACLs, Event Log. */
#ifndef LB_WIN32_SERVICE_H
#define LB_WIN32_SERVICE_H

#include "lb_platform.h"

#define LB__SERVICE_NAME L"PumpkinLB"
#define LB__SERVICE_DISPLAY L"PumpkinLB TCP load balancer"
#define LB__SERVICE_ACCOUNT L"NT AUTHORITY\\LocalService"
/* A stop may take the drain plus this: the stop wait hint, and the
 * preshutdown timeout --configure-service sets. */
#define LB__STOP_MARGIN_MS 5000

/* messages.mc IDs the platform writes itself (see win32_eventlog.c). */
#define LB__MSG_TEXT 0x00000001
#define LB__MSG_CONFIGURE_WARNING 0x800000CA
#define LB__MSG_SERVICE_ERROR 0xC000012F

extern int lb__win_service_mode;

/* win32_service.c */
int lb__win_service_start(const char *config, const lb_core_entry_t *core);
void lb__win_service_running(const lb_run_spec_t *spec);
/* Logs a warning through spec->log when the drain and its margin exceed
 * the service's preshutdown timeout ms (0: unknown). */
void lb__win_check_preshutdown(const lb_run_spec_t *spec, DWORD ms);
/* 1 once a stop was asked for in service mode: the loops then wait at
 * most a second at a time and call lb__win_service_tick each time
 * round, which reports a new checkpoint once a second while every loop
 * turns. */
int lb__win_service_draining(void);
void lb__win_service_tick(lb_loop_t *loop);
/* The HandlerEx the SCM calls; the status it reports goes through
 * lb__win_set_status (SetServiceStatus; the unit tests record it). */
DWORD WINAPI lb__win_service_control(DWORD control, DWORD type, LPVOID data,
                                     LPVOID ctx);
extern BOOL(WINAPI *lb__win_set_status)(SERVICE_STATUS_HANDLE,
                                        LPSERVICE_STATUS);
void lb__win_service_status(SERVICE_STATUS *out);
/* Back to the state at process start: no stop asked, no status (the
 * unit tests, which drive several service lives in one process). */
void lb__win_service_reset(void);

/* win32_install.c */
int lb__win_install(const char *config, const lb_core_entry_t *core);
int lb__win_uninstall(void);
/* Sends SERVICE_CONTROL_PARAMCHANGE to the running service. */
int lb__win_reload_service(const char *name); /* NULL: PumpkinLB */
/* %ProgramData%\PumpkinLB\NAME (NAME may hold one folder, "logs\\x") as
 * a malloc'd wide string, creating the folders; NULL on failure. */
wchar_t *lb__win_data_path(const wchar_t *name);
/* The absolute config path as a wide string; the default when NULL. */
wchar_t *lb__win_config_path(const char *config);
void lb__win_say_error(const char *what, DWORD err);

/* win32_configure.c: --configure-service [CFG], also run by
 * --install-service and the MSI's deferred custom action. */
int lb__win_configure(const char *config, const lb_core_entry_t *core);
/* The configured preshutdown timeout of service name; 0 on failure. */
int lb__win_preshutdown_timeout(const wchar_t *name,
                                SERVICE_PRESHUTDOWN_INFO *out);
/* 1 under Wine, which refuses several ChangeServiceConfig2W levels. */
int lb__win_is_wine(void);

/* win32_acl.c */
/* Protected DACLs on the data folder, its logs folder and the config
 * file, which is created from CFG.default if missing. 0, or -1 with the
 * reason printed. */
int lb__win_secure_files(const wchar_t *cfg);

/* win32_eventlog.c */
void lb__win_eventlog_open(void);
/* The service's log file, malloc'd; NULL on failure. */
wchar_t *lb__win_service_log_path(void);

/* win32_log.c: opens the service's log file, which stands for stdout and
 * stderr (a service has no console); says so in the Event Log if it
 * cannot. */
void lb__win_service_log_open(void);
/* messages.mc's ID and event type for kind. */
DWORD lb__win_event_id(lb_event_t kind, WORD *type);
int lb__win_report(DWORD id, WORD type, const char *msg);

#endif
