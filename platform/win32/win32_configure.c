/* win32_configure.c - --configure-service [CFG]: what the SCM keeps about
 * the service beyond CreateService's fields (a quoted command line,
 * failure actions, delayed start, dependencies, service SID, privileges,
 * preshutdown timeout), and the permissions of its files.
 * --install-service runs it after creating the service; the MSI runs it
 * as a deferred custom action (as LocalSystem) before starting the
 * service. */
#include "win32_internal.h"
#include "win32_service.h"

#include <stdio.h>
#include <stdlib.h>

#define RESET_FAILURES_AFTER_S 86400

typedef struct {
    SC_HANDLE svc;
    int warnings, errors;
} configure_t;

int
lb__win_is_wine(void)
{
    HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");

    return ntdll != NULL && GetProcAddress(ntdll, "wine_get_version") != NULL;
}

/* A setting that did not take. Wine's services.exe answers
 * ERROR_INVALID_LEVEL for delayed start, the failure-actions flag, the SID
 * type and the privileges, and stores no failure actions: there it is a
 * warning (on stderr and in the Event Log), so that the MSI installs. On
 * Windows every one of these levels exists (Vista and later), and a
 * refusal is an error: the install fails rather than leave a service that
 * is not restarted or not sandboxed as README says. */
static void
refused(configure_t *c, const char *what, DWORD err)
{
    char msg[300];

    if (lb__win_is_wine() && (err == ERROR_INVALID_LEVEL ||
                              err == ERROR_NOT_SUPPORTED ||
                              err == ERROR_CALL_NOT_IMPLEMENTED)) {
        snprintf(msg, sizeof(msg), "%s: not supported by Wine (Windows "
                 "error %lu); set on Windows only", what,
                 (unsigned long)err);
        fprintf(stderr, "pumpkinlb: warning: %s\n", msg);
        lb__win_report(LB__MSG_CONFIGURE_WARNING, EVENTLOG_WARNING_TYPE, msg);
        c->warnings++;
        return;
    }
    lb__win_say_error(what, err);
    c->errors++;
}

static void
set(configure_t *c, DWORD level, void *info, const char *what)
{
    if (ChangeServiceConfig2W(c->svc, level, info))
        printf("  %s\n", what);
    else
        refused(c, what, GetLastError());
}

/* Restarts after 5 s, 5 s, then 30 s, the count reset after a day; also
 * when the service stops by itself with an error status (the flag): a
 * failed PumpkinLB reports SERVICE_STOPPED with
 * ERROR_SERVICE_SPECIFIC_ERROR rather than crashing. */
static void
set_failure_actions(configure_t *c)
{
    SC_ACTION actions[3] = {{SC_ACTION_RESTART, 5000},
                            {SC_ACTION_RESTART, 5000},
                            {SC_ACTION_RESTART, 30000}};
    SERVICE_FAILURE_ACTIONSW fa = {RESET_FAILURES_AFTER_S, NULL, NULL, 3,
                                   actions};
    SERVICE_FAILURE_ACTIONS_FLAG flag = {TRUE};
    union {
        SERVICE_FAILURE_ACTIONSW fa;
        char bytes[8192];
    } back;
    DWORD n;

    set(c, SERVICE_CONFIG_FAILURE_ACTIONS, &fa,
        "restart on failure: after 5 s, 5 s, 30 s; count reset daily");
    /* Read back: Wine accepts the call and stores nothing. */
    if (!QueryServiceConfig2W(c->svc, SERVICE_CONFIG_FAILURE_ACTIONS,
                              (BYTE *)&back, sizeof(back), &n))
        refused(c, "restart on failure (reading it back)", GetLastError());
    else if (back.fa.cActions != 3)
        refused(c, "restart on failure (not stored)", ERROR_INVALID_DATA);
    set(c, SERVICE_CONFIG_FAILURE_ACTIONS_FLAG, &flag,
        "restart also after a stop with an error status");
}

/* Only SeChangeNotifyPrivilege (bypass traverse checking), which Windows
 * never removes anyway: a TCP relay that binds, accepts, connects, reads
 * its config and writes its log needs no privilege (Windows has no
 * privileged ports); the rest of LocalService's (SeImpersonate,
 * SeAuditPrivilege, SeCreateGlobal, ...) go. */
static void
set_sandbox(configure_t *c)
{
    static WCHAR privileges[] = L"SeChangeNotifyPrivilege\0";
    SERVICE_REQUIRED_PRIVILEGES_INFOW privs = {privileges};
    SERVICE_SID_INFO sid = {SERVICE_SID_TYPE_UNRESTRICTED};

    set(c, SERVICE_CONFIG_SERVICE_SID_INFO, &sid,
        "service SID NT SERVICE\\PumpkinLB (unrestricted)");
    set(c, SERVICE_CONFIG_REQUIRED_PRIVILEGES_INFO, &privs,
        "privileges: SeChangeNotifyPrivilege only");
}

/* The command line with the exe's path quoted: unquoted, "C:\Program
 * Files\..." lets a C:\Program.exe run as the service (and Windows
 * Installer's InstallServices does not quote it under Wine: measured). */
static void
set_command(configure_t *c, const wchar_t *cfg)
{
    wchar_t exe[MAX_PATH], *cmd;
    size_t len;

    if (GetModuleFileNameW(NULL, exe, MAX_PATH) == 0) {
        refused(c, "the service's command line", GetLastError());
        return;
    }
    len = wcslen(exe) + wcslen(cfg) + 32;
    cmd = malloc(len * sizeof(*cmd));
    if (cmd == NULL) {
        refused(c, "the service's command line", ERROR_NOT_ENOUGH_MEMORY);
        return;
    }
    swprintf(cmd, len, L"\"%ls\" --service \"%ls\"", exe, cfg);
    if (ChangeServiceConfigW(c->svc, SERVICE_NO_CHANGE, SERVICE_NO_CHANGE,
                             SERVICE_NO_CHANGE, cmd, NULL, NULL,
                             L"Tcpip\0Afd\0", NULL, NULL, NULL))
        wprintf(L"  command line %ls; depends on Tcpip and Afd\n", cmd);
    else
        refused(c, "command line and dependencies on Tcpip and Afd",
                GetLastError());
    free(cmd);
}

static void
set_start(configure_t *c, DWORD preshutdown_ms)
{
    static WCHAR text[] = L"Balances TCP connections over backend servers "
                          L"(config under %ProgramData%\\PumpkinLB).";
    SERVICE_DESCRIPTIONW desc = {text};
    SERVICE_PRESHUTDOWN_INFO pre = {preshutdown_ms};
    SERVICE_DELAYED_AUTO_START_INFO delayed = {TRUE};
    char what[120];

    set(c, SERVICE_CONFIG_DESCRIPTION, &desc, "description");
    snprintf(what, sizeof(what), "preshutdown timeout %lu ms",
             (unsigned long)preshutdown_ms);
    set(c, SERVICE_CONFIG_PRESHUTDOWN_INFO, &pre, what);
    set(c, SERVICE_CONFIG_DELAYED_AUTO_START_INFO, &delayed,
        "delayed automatic start");
}

/* The drain the config asks for plus the margin; the default drain when
 * the config cannot be read (said so). */
static DWORD
preshutdown_ms(const wchar_t *cfg, const char *config,
               const lb_core_entry_t *core)
{
    uint64_t ms = 6000;
    char path[MAX_PATH * 3];

    if (config == NULL)
        WideCharToMultiByte(CP_ACP, 0, cfg, -1, path, sizeof(path), NULL,
                            NULL);
    else
        snprintf(path, sizeof(path), "%s", config);
    if (GetFileAttributesW(cfg) == INVALID_FILE_ATTRIBUTES ||
        core->stop_timeout(path, &ms) != 0) {
        fprintf(stderr, "pumpkinlb: warning: no graceful_shutdown_timeout "
                "read from %s: the preshutdown timeout assumes the default "
                "6 s; run --configure-service again once it is right\n",
                path);
        ms = 6000;
    }
    if (ms > 0xFFFFFFFFu - LB__STOP_MARGIN_MS)
        ms = 0xFFFFFFFFu - LB__STOP_MARGIN_MS;
    return (DWORD)ms + LB__STOP_MARGIN_MS;
}

static int
open_service(configure_t *c, SC_HANDLE *scm)
{
    *scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT);
    if (*scm == NULL) {
        lb__win_say_error("opening the Service Control Manager",
                          GetLastError());
        return -1;
    }
    /* SERVICE_START: restart actions need it on the handle. */
    c->svc = OpenServiceW(*scm, LB__SERVICE_NAME,
                          SERVICE_CHANGE_CONFIG | SERVICE_QUERY_CONFIG |
                              SERVICE_START);
    if (c->svc == NULL) {
        DWORD err = GetLastError();
        if (err == ERROR_SERVICE_DOES_NOT_EXIST)
            fprintf(stderr, "pumpkinlb: service PumpkinLB is not installed "
                    "(--install-service or the MSI)\n");
        else
            lb__win_say_error("opening service PumpkinLB", err);
        CloseServiceHandle(*scm);
        return -1;
    }
    return 0;
}

int
lb__win_configure(const char *config, const lb_core_entry_t *core)
{
    configure_t c = {NULL, 0, 0};
    wchar_t *cfg = lb__win_config_path(config);
    SC_HANDLE scm;

    if (cfg == NULL) {
        fprintf(stderr, "pumpkinlb: cannot work out the config file's full "
                "path\n");
        return LB_EXIT_FAILURE;
    }
    lb__win_eventlog_open();
    printf("Configuring service PumpkinLB:\n");
    if (lb__win_secure_files(cfg) != 0)
        c.errors++;
    if (open_service(&c, &scm) != 0) {
        free(cfg);
        return LB_EXIT_FAILURE;
    }
    set_command(&c, cfg);
    set_start(&c, preshutdown_ms(cfg, config, core));
    set_failure_actions(&c);
    set_sandbox(&c);
    CloseServiceHandle(c.svc);
    CloseServiceHandle(scm);
    free(cfg);
    if (c.errors) {
        fprintf(stderr, "pumpkinlb: service PumpkinLB is not fully "
                "configured (%d error(s))\n", c.errors);
        return LB_EXIT_FAILURE;
    }
    printf("Service PumpkinLB configured%s; settings other than the "
           "permissions take effect at its next start.\n",
           c.warnings ? " (see the warnings)" : "");
    return LB_EXIT_OK;
}

int
lb__win_preshutdown_timeout(const wchar_t *name, SERVICE_PRESHUTDOWN_INFO *out)
{
    SC_HANDLE scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT), svc;
    DWORD n;
    int ok = 0;

    if (scm == NULL)
        return 0;
    svc = OpenServiceW(scm, name, SERVICE_QUERY_CONFIG);
    if (svc != NULL) {
        ok = QueryServiceConfig2W(svc, SERVICE_CONFIG_PRESHUTDOWN_INFO,
                                  (BYTE *)out, sizeof(*out), &n) != 0;
        CloseServiceHandle(svc);
    }
    CloseServiceHandle(scm);
    return ok;
}
