/* test_win32_service.c - the Windows service's own logic where Wine cannot deliver
 * the event: the control handler's PRESHUTDOWN (Wine's ControlService
 * refuses 15), the console handler's LOGOFF (only services get it), the
 * checkpoint a draining loop reports, the Event Log IDs against the
 * message table linked into pumpkinlb.exe, and the DACL check behind
 * lb_file_writable_by_others. Empty on POSIX. */
#include <CUnit/CUnit.h>

#include "unit.h"

#ifdef _WIN32
#include "lb_bufpool.h"
#include "win32_internal.h"
#include "win32_service.h"

#include <aclapi.h>
#include <sddl.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

static SERVICE_STATUS seen[64];
static int nseen;

static BOOL WINAPI
record_status(SERVICE_STATUS_HANDLE h, LPSERVICE_STATUS st)
{
    (void)h;
    if (nseen < 64)
        seen[nseen++] = *st;
    return TRUE;
}

static lb_bufpool_t pool;

static lb_loop_t *
new_loop(int service_mode)
{
    lb_allocator_t a;
    lb_loop_t *loop = NULL;

    lb__win_service_reset();
    lb__win_service_mode = service_mode;
    lb__win_set_status = record_status;
    nseen = 0;
    lb_bufpool_init(&pool, 64, 4);
    a = lb_bufpool_allocator(&pool);
    CU_ASSERT_EQUAL_FATAL(lb_loop_new(&loop, &a), 0);
    return loop;
}

static void
free_loop(lb_loop_t *loop)
{
    lb_loop_free(loop);
    lb_bufpool_free(&pool);
    lb__win_service_reset();
    lb__win_service_mode = 0;
    lb__win_set_status = SetServiceStatus;
}

/* 1 if a completion (a stop or reload key) waits on the loop's port. */
static int
port_has_completion(lb_loop_t *loop)
{
    DWORD n;
    ULONG_PTR key;
    OVERLAPPED *ov;

    return GetQueuedCompletionStatus(loop->iocp, &n, &key, &ov, 0) ||
           ov != NULL;
}

static void
test_logoff_is_not_a_stop(void)
{
    lb_loop_t *loop = new_loop(0);

    CU_ASSERT_FALSE(lb__win_on_console(CTRL_LOGOFF_EVENT));
    CU_ASSERT_FALSE(port_has_completion(loop));
    CU_ASSERT_TRUE(lb__win_on_console(CTRL_BREAK_EVENT));
    CU_ASSERT_TRUE(port_has_completion(loop));
    free_loop(loop);
}

/* Removing a handler that is not installed fails: in service mode the
 * loop installs none; in console mode it does. */
static void
test_no_console_handler_in_service_mode(void)
{
    lb_loop_t *loop = new_loop(1);

    CU_ASSERT_FALSE(SetConsoleCtrlHandler(lb__win_on_console, FALSE));
    free_loop(loop);
    loop = new_loop(0);
    CU_ASSERT_TRUE(SetConsoleCtrlHandler(lb__win_on_console, FALSE));
    CU_ASSERT_TRUE(SetConsoleCtrlHandler(lb__win_on_console, TRUE));
    free_loop(loop);
}

static lb_stop_reason_t stop_why;
static int stops;

static void
on_stop(lb_loop_t *loop, lb_stop_reason_t why, void *data)
{
    (void)data;
    stop_why = why;
    stops++;
    lb_loop_stop(loop);
}

static void
test_preshutdown_drains_as_stop(void)
{
    lb_loop_t *loop = new_loop(1);
    lb_run_spec_t spec = {.stop_timeout_ms = 2000};

    stops = 0;
    lb_loop_on_stop(loop, on_stop, NULL);
    lb__win_service_running(&spec);
    CU_ASSERT_EQUAL_FATAL(nseen, 1);
    CU_ASSERT_EQUAL(seen[0].dwCurrentState, SERVICE_RUNNING);
    CU_ASSERT_TRUE(seen[0].dwControlsAccepted & SERVICE_ACCEPT_PRESHUTDOWN);
    CU_ASSERT_EQUAL(lb__win_service_control(SERVICE_CONTROL_PRESHUTDOWN, 0,
                                            NULL, NULL),
                    NO_ERROR);
    CU_ASSERT_EQUAL_FATAL(nseen, 2);
    CU_ASSERT_EQUAL(seen[1].dwCurrentState, SERVICE_STOP_PENDING);
    CU_ASSERT_EQUAL(seen[1].dwWaitHint, 2000 + LB__STOP_MARGIN_MS);
    CU_ASSERT_EQUAL(lb_loop_run(loop), 0);
    CU_ASSERT_EQUAL(stops, 1);
    CU_ASSERT_EQUAL(stop_why, LB_STOP_DRAIN);
    free_loop(loop);
}

static void
drain_on(lb_loop_t *loop, lb_stop_reason_t why, void *data)
{
    (void)loop;
    (void)why;
    (void)data; /* a drain with connections left: the loop goes on */
}

static void
end_drain(lb_timer_t *t)
{
    lb_loop_stop(t->loop);
}

/* Only a turning loop reports progress: nothing while it does not run,
 * a checkpoint about every second while it drains. */
static void
test_checkpoint_bumped_by_the_loop(void)
{
    lb_loop_t *loop = new_loop(1);
    lb_run_spec_t spec = {.stop_timeout_ms = 10000};
    lb_timer_t t;
    DWORD first;
    int before;

    lb_loop_on_stop(loop, drain_on, NULL);
    lb__win_service_running(&spec);
    lb__win_service_control(SERVICE_CONTROL_STOP, 0, NULL, NULL);
    first = seen[nseen - 1].dwCheckPoint;
    before = nseen;
    Sleep(2200); /* a hung loop */
    CU_ASSERT_EQUAL(nseen, before);
    lb_timer_init(loop, &t, end_drain, NULL);
    lb_timer_start(&t, 3500);
    CU_ASSERT_EQUAL(lb_loop_run(loop), 0);
    CU_ASSERT_TRUE(nseen - before >= 2);
    CU_ASSERT_EQUAL(seen[nseen - 1].dwCurrentState, SERVICE_STOP_PENDING);
    CU_ASSERT_TRUE(seen[nseen - 1].dwCheckPoint >= first + 2);
    free_loop(loop);
}

static int mark, hung_mark;
static lb_loop_t *hung;

static void
hung_loop_leaves(lb_timer_t *t)
{
    (void)t;
    hung_mark = nseen;
    lb__win_loops_running(hung, 0); /* it ended after all */
}

/* Two loops, one of them hung (in its loop, never turning): the one that
 * turns reports no checkpoint until the hung one is gone. */
static void
test_checkpoint_held_by_a_hung_loop(void)
{
    lb_loop_t *loop = new_loop(1);
    lb_allocator_t a = lb_bufpool_allocator(&pool);
    lb_run_spec_t spec = {.stop_timeout_ms = 10000};
    lb_timer_t leaves, end;

    CU_ASSERT_EQUAL_FATAL(lb_loop_new(&hung, &a), 0);
    lb__win_loops_running(hung, 1);
    lb_loop_on_stop(loop, drain_on, NULL);
    lb__win_service_running(&spec);
    lb__win_service_control(SERVICE_CONTROL_STOP, 0, NULL, NULL);
    mark = nseen;
    lb_timer_init(loop, &leaves, hung_loop_leaves, NULL);
    lb_timer_start(&leaves, 2500);
    lb_timer_init(loop, &end, end_drain, NULL);
    lb_timer_start(&end, 5000);
    CU_ASSERT_EQUAL(lb_loop_run(loop), 0);
    CU_ASSERT_EQUAL(hung_mark, mark);   /* none while one loop was hung */
    CU_ASSERT_TRUE(nseen - hung_mark >= 1); /* then the checkpoint moved */
    CU_ASSERT_EQUAL(seen[nseen - 1].dwCurrentState, SERVICE_STOP_PENDING);
    lb_loop_free(hung);
    free_loop(loop);
}

static char logged[512];

static void
record_log(int is_error, const char *msg)
{
    (void)is_error;
    snprintf(logged, sizeof(logged), "%s", msg);
}

/* The preshutdown timeout --configure-service set for a 6 s drain (11 s)
 * is too short once the config asks for 10 s: a warning; 15 s is enough. */
static void
test_preshutdown_timeout_too_short_is_warned(void)
{
    lb_run_spec_t spec = {.stop_timeout_ms = 10000, .log = record_log};

    logged[0] = '\0';
    lb__win_check_preshutdown(&spec, 15000);
    lb__win_check_preshutdown(&spec, 0);
    CU_ASSERT_STRING_EQUAL(logged, "");
    lb__win_check_preshutdown(&spec, 11000);
    CU_ASSERT_PTR_NOT_NULL(strstr(logged, "preshutdown timeout (11000 ms)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(logged, "--configure-service"));
}

/* pumpkinlb.exe beside this unit-tests.exe, as a data file. */
static HMODULE
open_exe(void)
{
    wchar_t path[MAX_PATH], *sep;

    if (GetModuleFileNameW(NULL, path, MAX_PATH) == 0 ||
        (sep = wcsrchr(path, L'\\')) == NULL)
        return NULL;
    wcscpy(sep + 1, L"pumpkinlb.exe");
    return LoadLibraryExW(path, NULL, LOAD_LIBRARY_AS_DATAFILE);
}

static int
format(HMODULE exe, DWORD id, wchar_t *out, DWORD size)
{
    const wchar_t *args[1] = {L"the line"};

    return FormatMessageW(FORMAT_MESSAGE_FROM_HMODULE |
                              FORMAT_MESSAGE_ARGUMENT_ARRAY,
                          exe, id, 0x409, out, size, (va_list *)args) > 0;
}

static void
test_event_ids_in_message_table(void)
{
    HMODULE exe = open_exe();
    DWORD ids[LB_EVENT_KINDS];
    wchar_t text[256];

    CU_ASSERT_PTR_NOT_NULL_FATAL(exe);
    for (int k = 0; k < LB_EVENT_KINDS; k++) {
        WORD type;
        DWORD sev, want;

        ids[k] = lb__win_event_id((lb_event_t)k, &type);
        for (int j = 0; j < k; j++)
            CU_ASSERT_NOT_EQUAL(ids[j], ids[k]);
        sev = ids[k] >> 30; /* 1 informational, 2 warning, 3 error */
        want = k >= LB_EVENT_FIRST_ERROR     ? EVENTLOG_ERROR_TYPE
               : k >= LB_EVENT_FIRST_WARNING ? EVENTLOG_WARNING_TYPE
                                             : EVENTLOG_INFORMATION_TYPE;
        CU_ASSERT_EQUAL(type, want);
        CU_ASSERT_EQUAL(sev, type == EVENTLOG_ERROR_TYPE     ? 3u
                             : type == EVENTLOG_WARNING_TYPE ? 2u
                                                             : 1u);
        CU_ASSERT_TRUE(format(exe, ids[k], text, 256) &&
                       wcsstr(text, L"the line") != NULL &&
                       wcsncmp(text, L"the line", 8) != 0);
    }
    CU_ASSERT_TRUE(format(exe, LB__MSG_TEXT, text, 256) &&
                   wcsncmp(text, L"the line", 8) == 0);
    CU_ASSERT_TRUE(format(exe, LB__MSG_CONFIGURE_WARNING, text, 256));
    CU_ASSERT_TRUE(format(exe, LB__MSG_SERVICE_ERROR, text, 256));
    FreeLibrary(exe);
}

static int
set_dacl(const wchar_t *path, const wchar_t *sddl)
{
    PSECURITY_DESCRIPTOR sd = NULL;
    PACL dacl = NULL;
    BOOL present, defaulted;
    DWORD rc = 1;

    if (ConvertStringSecurityDescriptorToSecurityDescriptorW(
            sddl, SDDL_REVISION_1, &sd, NULL) &&
        GetSecurityDescriptorDacl(sd, &present, &dacl, &defaulted))
        rc = SetNamedSecurityInfoW((LPWSTR)path, SE_FILE_OBJECT,
                                   DACL_SECURITY_INFORMATION |
                                       PROTECTED_DACL_SECURITY_INFORMATION,
                                   NULL, NULL, dacl, NULL);
    LocalFree(sd);
    return rc == ERROR_SUCCESS;
}

/* Under Wine a DACL becomes Unix mode bits and is read back from them
 * (Everyone write = o+w), so the same walk runs on both. */
static void
test_writable_by_others_reads_the_dacl(void)
{
    wchar_t dir[MAX_PATH], path[MAX_PATH];
    char apath[MAX_PATH], why[512];
    FILE *f;

    GetTempPathW(MAX_PATH, dir);
    swprintf(path, MAX_PATH, L"%lslb-acl-%lu.cfg", dir,
             (unsigned long)GetCurrentProcessId());
    WideCharToMultiByte(CP_ACP, 0, path, -1, apath, MAX_PATH, NULL, NULL);
    f = _wfopen(path, L"w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fclose(f);
    CU_ASSERT_TRUE(set_dacl(path, L"D:P(A;;FA;;;SY)(A;;FA;;;BA)"
                                  L"(A;;FA;;;WD)"));
    CU_ASSERT_TRUE(lb_file_writable_by_others(apath, why, sizeof(why)));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "S-1-1-0")); /* Everyone */
    CU_ASSERT_TRUE(set_dacl(path, L"D:P(A;;FA;;;SY)(A;;FA;;;BA)"
                                  L"(A;;FR;;;WD)"));
    CU_ASSERT_FALSE(lb_file_writable_by_others(apath, why, sizeof(why)));
    CU_ASSERT_STRING_EQUAL(why, "");
    DeleteFileW(path);
}

void
lb_test_win32_service_register(void)
{
    CU_pSuite s = CU_add_suite("win32 service", NULL, NULL);

    CU_add_test(s, "LOGOFF is not a stop", test_logoff_is_not_a_stop);
    CU_add_test(s, "no console handler in service mode",
                test_no_console_handler_in_service_mode);
    CU_add_test(s, "PRESHUTDOWN drains as a stop",
                test_preshutdown_drains_as_stop);
    CU_add_test(s, "the loop bumps the drain checkpoint",
                test_checkpoint_bumped_by_the_loop);
    CU_add_test(s, "a hung loop holds the checkpoint",
                test_checkpoint_held_by_a_hung_loop);
    CU_add_test(s, "a too short preshutdown timeout is warned of",
                test_preshutdown_timeout_too_short_is_warned);
    CU_add_test(s, "event IDs are in pumpkinlb.exe's message table",
                test_event_ids_in_message_table);
    CU_add_test(s, "writable-by-others reads the DACL",
                test_writable_by_others_reads_the_dacl);
}

#else

void
lb_test_win32_service_register(void)
{
}

#endif
