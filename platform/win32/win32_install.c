/* win32_install.c - --install-service and --uninstall-service: the
 * service's registration with the SCM (LocalService, automatic start; the
 * rest is win32_configure.c's) and the Event Log source. */
#include "win32_internal.h"
#include "win32_service.h"

#include <shlobj.h>

#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

#define EVENTLOG_KEY \
    L"SYSTEM\\CurrentControlSet\\Services\\EventLog\\Application\\PumpkinLB"
#define UNINSTALL_WAIT_MS 30000

/* Creates path as a folder unless it is one already (where the caller
 * may not create anything: the service in the installed data folder). */
static int
have_folder(const wchar_t *path)
{
    DWORD attrs;

    if (CreateDirectoryW(path, NULL))
        return 1;
    attrs = GetFileAttributesW(path);
    return attrs != INVALID_FILE_ATTRIBUTES &&
           (attrs & FILE_ATTRIBUTE_DIRECTORY);
}

wchar_t *
lb__win_data_path(const wchar_t *name)
{
    wchar_t base[MAX_PATH], *path, *sep;
    size_t len;

    /* The known folder, not %ProgramData%: a service's environment is not
     * a user's, and Wine's differs. */
    if (SHGetFolderPathW(NULL, CSIDL_COMMON_APPDATA, NULL, 0, base) != S_OK)
        wcscpy(base, L"C:\\ProgramData");
    len = wcslen(base) + wcslen(name) + 16;
    path = malloc(len * sizeof(*path));
    if (path == NULL)
        return NULL;
    swprintf(path, len, L"%ls\\PumpkinLB\\%ls", base, name);
    /* Each folder on the way: PumpkinLB, then logs in "logs\\x.log". */
    for (sep = path + wcslen(base) + 1; (sep = wcschr(sep, L'\\')) != NULL;
         sep++) {
        *sep = L'\0';
        if (!have_folder(path)) {
            free(path);
            return NULL;
        }
        *sep = L'\\';
    }
    return path;
}

void
lb__win_say_error(const char *what, DWORD err)
{
    if (err == ERROR_ACCESS_DENIED)
        fprintf(stderr, "pumpkinlb: %s: access denied; run this from an "
                "elevated (Administrator) command prompt\n", what);
    else
        fprintf(stderr, "pumpkinlb: %s failed (Windows error %lu)\n", what,
                (unsigned long)err);
}

wchar_t *
lb__win_config_path(const char *config)
{
    wchar_t rel[MAX_PATH], *abs;
    DWORD n;

    if (config == NULL)
        return lb__win_data_path(L"pumpkinlb.cfg");
    if (MultiByteToWideChar(CP_ACP, 0, config, -1, rel, MAX_PATH) <= 0)
        return NULL;
    n = GetFullPathNameW(rel, 0, NULL, NULL);
    abs = n ? malloc(n * sizeof(*abs)) : NULL;
    if (abs && GetFullPathNameW(rel, n, abs, NULL) == 0) {
        free(abs);
        return NULL;
    }
    return abs;
}

static void
register_event_source(const wchar_t *exe)
{
    HKEY key;
    DWORD types = EVENTLOG_ERROR_TYPE | EVENTLOG_WARNING_TYPE |
                  EVENTLOG_INFORMATION_TYPE;

    if (RegCreateKeyExW(HKEY_LOCAL_MACHINE, EVENTLOG_KEY, 0, NULL, 0,
                        KEY_SET_VALUE, NULL, &key, NULL) != ERROR_SUCCESS) {
        fprintf(stderr, "pumpkinlb: warning: could not register the Event "
                "Log source\n");
        return;
    }
    RegSetValueExW(key, L"EventMessageFile", 0, REG_EXPAND_SZ,
                   (const BYTE *)exe, (DWORD)((wcslen(exe) + 1) * 2));
    RegSetValueExW(key, L"TypesSupported", 0, REG_DWORD,
                   (const BYTE *)&types, sizeof(types));
    RegCloseKey(key);
}

static int
create(SC_HANDLE scm, const wchar_t *exe, const wchar_t *cfg)
{
    size_t len = wcslen(exe) + wcslen(cfg) + 32;
    wchar_t *cmd = malloc(len * sizeof(*cmd));
    SC_HANDLE svc;

    if (cmd == NULL)
        return LB_EXIT_FAILURE;
    swprintf(cmd, len, L"\"%ls\" --service \"%ls\"", exe, cfg);
    svc = CreateServiceW(scm, LB__SERVICE_NAME, LB__SERVICE_DISPLAY,
                         SERVICE_ALL_ACCESS, SERVICE_WIN32_OWN_PROCESS,
                         SERVICE_AUTO_START, SERVICE_ERROR_NORMAL, cmd, NULL,
                         NULL, NULL, LB__SERVICE_ACCOUNT, L"");
    free(cmd);
    if (svc == NULL) {
        DWORD err = GetLastError();
        if (err == ERROR_SERVICE_EXISTS)
            fprintf(stderr, "pumpkinlb: service PumpkinLB already exists; "
                    "remove it first with --uninstall-service\n");
        else
            lb__win_say_error("creating the service", err);
        return LB_EXIT_FAILURE;
    }
    CloseServiceHandle(svc);
    return LB_EXIT_OK;
}

int
lb__win_install(const char *config, const lb_core_entry_t *core)
{
    wchar_t exe[MAX_PATH], *cfg = lb__win_config_path(config);
    SC_HANDLE scm;
    int rc = LB_EXIT_FAILURE;

    if (cfg == NULL || GetModuleFileNameW(NULL, exe, MAX_PATH) == 0) {
        fprintf(stderr, "pumpkinlb: cannot work out the program's or the "
                "config file's full path\n");
        free(cfg);
        return LB_EXIT_FAILURE;
    }
    scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CREATE_SERVICE);
    if (scm == NULL) {
        lb__win_say_error("opening the Service Control Manager", GetLastError());
    } else {
        rc = create(scm, exe, cfg);
        CloseServiceHandle(scm);
    }
    if (rc == LB_EXIT_OK) {
        register_event_source(exe);
        wprintf(L"Service PumpkinLB installed (automatic start, "
                L"NT AUTHORITY\\LocalService, config %ls).\n", cfg);
        rc = lb__win_configure(config, core);
        if (rc == LB_EXIT_OK)
            wprintf(L"Start it now with: sc start PumpkinLB\n");
    }
    free(cfg);
    return rc;
}

static void
stop_and_wait(SC_HANDLE svc)
{
    SERVICE_STATUS st;
    ULONGLONG until = GetTickCount64() + UNINSTALL_WAIT_MS;

    if (!ControlService(svc, SERVICE_CONTROL_STOP, &st))
        return; /* not running */
    printf("Stopping PumpkinLB (active connections may finish)...\n");
    while (QueryServiceStatus(svc, &st) &&
           st.dwCurrentState != SERVICE_STOPPED && GetTickCount64() < until)
        Sleep(250);
}

int
lb__win_uninstall(void)
{
    SC_HANDLE scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT), svc;

    if (scm == NULL) {
        lb__win_say_error("opening the Service Control Manager", GetLastError());
        return LB_EXIT_FAILURE;
    }
    svc = OpenServiceW(scm, LB__SERVICE_NAME,
                       SERVICE_STOP | SERVICE_QUERY_STATUS | DELETE);
    if (svc == NULL) {
        DWORD err = GetLastError();
        CloseServiceHandle(scm);
        if (err == ERROR_SERVICE_DOES_NOT_EXIST) {
            fprintf(stderr, "pumpkinlb: service PumpkinLB is not "
                    "installed\n");
            return LB_EXIT_FAILURE;
        }
        lb__win_say_error("opening service PumpkinLB", err);
        return LB_EXIT_FAILURE;
    }
    stop_and_wait(svc);
    if (!DeleteService(svc)) {
        lb__win_say_error("deleting service PumpkinLB", GetLastError());
        CloseServiceHandle(svc);
        CloseServiceHandle(scm);
        return LB_EXIT_FAILURE;
    }
    CloseServiceHandle(svc);
    CloseServiceHandle(scm);
    RegDeleteKeyW(HKEY_LOCAL_MACHINE, EVENTLOG_KEY);
    printf("Service PumpkinLB removed.\n");
    return LB_EXIT_OK;
}

/* What `sc control NAME paramchange` does; Wine's sc lacks it. */
int
lb__win_reload_service(const char *name)
{
    SC_HANDLE scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT), svc;
    SERVICE_STATUS st;
    int rc = LB_EXIT_OK;

    if (scm == NULL) {
        lb__win_say_error("opening the Service Control Manager", GetLastError());
        return LB_EXIT_FAILURE;
    }
    svc = name ? OpenServiceA(scm, name, SERVICE_PAUSE_CONTINUE)
               : OpenServiceW(scm, LB__SERVICE_NAME, SERVICE_PAUSE_CONTINUE);
    if (svc == NULL) {
        lb__win_say_error("opening the service", GetLastError());
        CloseServiceHandle(scm);
        return LB_EXIT_FAILURE;
    }
    if (!ControlService(svc, SERVICE_CONTROL_PARAMCHANGE, &st)) {
        lb__win_say_error("asking the service to reload", GetLastError());
        rc = LB_EXIT_FAILURE;
    } else {
        printf("Service %s asked to reload its configuration; see its log "
               "for the outcome.\n", name ? name : "PumpkinLB");
    }
    CloseServiceHandle(svc);
    CloseServiceHandle(scm);
    return rc;
}
