/* win32_log.c - log outputs that never hold up the loop. Each output has a
 * thread of its own doing the blocking WriteFile from a bounded buffer the
 * loop only copies whole lines into, so neither a console being selected
 * in, a pipe nobody reads (which Wine cannot make non-blocking:
 * SetNamedPipeHandleState fails there) nor a slow disk can stall the
 * relay. A log file is opened shared for deleting, so that it can be
 * renamed while open; its thread rotates it by size and switches to the
 * file a reload (PARAMCHANGE) opened again. */
#include "win32_internal.h"
#include "win32_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#define HELD_MAX (64 * 1024) /* bytes the thread may hold */
#define ATOMIC (16 * 1024)    /* a write is taken whole or not at all */
#define CLOSE_WAIT_MS 2000

struct lb_logout_s {
    HANDLE h;              /* the thread's own from its start */
    HANDLE next;           /* opened again by a reload: the thread switches */
    uint64_t next_size;
    wchar_t *path;         /* NULL: a standard handle, not ours */
    CRITICAL_SECTION lock;
    CONDITION_VARIABLE wake; /* for the thread: lines, a switch, or quit */
    CONDITION_VARIABLE done; /* for waiters: the thread wrote a batch */
    char *held;            /* whole lines the thread is to write */
    size_t len;
    char *batch;           /* what the thread writes, outside the lock */
    int busy, quit;
    unsigned long lost;    /* lines a failed write lost, not yet told */
    uint64_t size, max;    /* the file as written; rotation point (0: none) */
    unsigned keep;
    int told;              /* a failed rotation was reported */
    HANDLE thread;
};

static lb_logout_t *std_outs[3];
static lb_logout_t *service_log;

static void
say_error(DWORD e, char *err, size_t errlen)
{
    char text[200];
    DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM |
                                 FORMAT_MESSAGE_IGNORE_INSERTS,
                             NULL, e, 0, text, sizeof(text), NULL);

    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' ||
                     text[n - 1] == ' ' || text[n - 1] == '.'))
        text[--n] = '\0';
    snprintf(err, errlen, "%s (Windows error %lu)", n ? text : "failed",
             (unsigned long)e);
}

/* A config's path (UTF-8, else the ANSI code page) as Windows wants it. */
static wchar_t *
widen_path(const char *s)
{
    UINT cp = CP_UTF8;
    DWORD flags = MB_ERR_INVALID_CHARS;
    int n = MultiByteToWideChar(cp, flags, s, -1, NULL, 0);
    wchar_t *w;

    if (n <= 0) {
        cp = CP_ACP;
        flags = 0;
        n = MultiByteToWideChar(cp, flags, s, -1, NULL, 0);
    }
    w = n > 0 ? malloc((size_t)n * sizeof(*w)) : NULL;
    if (w != NULL && MultiByteToWideChar(cp, flags, s, -1, w, n) <= 0) {
        free(w);
        w = NULL;
    }
    return w;
}

/* FILE_APPEND_DATA without FILE_WRITE_DATA: every write goes to the end.
 * FILE_SHARE_DELETE: it can be renamed (rotated) while open. Not through
 * a symbolic link or junction, nor to a file with other names. */
static HANDLE
open_file(const wchar_t *path, uint64_t *size, char *err, size_t errlen)
{
    BY_HANDLE_FILE_INFORMATION info;
    HANDLE h = CreateFileW(path, FILE_APPEND_DATA | FILE_READ_ATTRIBUTES |
                                     SYNCHRONIZE,
                           FILE_SHARE_READ | FILE_SHARE_WRITE |
                               FILE_SHARE_DELETE,
                           NULL, OPEN_ALWAYS,
                           FILE_ATTRIBUTE_NORMAL |
                               FILE_FLAG_OPEN_REPARSE_POINT,
                           NULL);

    if (h == INVALID_HANDLE_VALUE) {
        say_error(GetLastError(), err, errlen);
        return h;
    }
    if (!GetFileInformationByHandle(h, &info)) {
        say_error(GetLastError(), err, errlen);
    } else if (info.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) {
        snprintf(err, errlen, "it is a symbolic link or junction, which is "
                 "not followed: name the file itself");
    } else if (info.nNumberOfLinks > 1) {
        snprintf(err, errlen, "it has %lu names (hard links); a log file "
                 "must have one", (unsigned long)info.nNumberOfLinks);
    } else {
        *size = ((uint64_t)info.nFileSizeHigh << 32) | info.nFileSizeLow;
        return h;
    }
    CloseHandle(h);
    return INVALID_HANDLE_VALUE;
}

/* ---- the writer thread ---- */

static void
report(lb_logout_t *o, const char *what, DWORD e)
{
    char msg[512], why[256];

    if (o->told)
        return;
    o->told = 1;
    say_error(e, why, sizeof(why));
    snprintf(msg, sizeof(msg), "log file %ls: %s: %s", o->path, what, why);
    lb__win_report(LB__MSG_SERVICE_ERROR, EVENTLOG_ERROR_TYPE, msg);
}

/* NAME.(keep-1) to NAME.keep, ..., NAME to NAME.1, and a new NAME. If
 * NAME cannot be renamed (a reader opened it without sharing deletes),
 * writing goes on in it and the next try is max bytes later. */
static void
rotate(lb_logout_t *o)
{
    size_t n = wcslen(o->path) + 16;
    wchar_t *from = malloc(n * sizeof(*from)), *to = malloc(n * sizeof(*to));
    char err[256];
    BOOL ok;

    if (from == NULL || to == NULL) {
        free(from);
        free(to);
        o->size = 0;
        return;
    }
    for (unsigned k = o->keep; k > 1; k--) {
        swprintf(from, n, L"%ls.%u", o->path, k - 1);
        swprintf(to, n, L"%ls.%u", o->path, k);
        MoveFileExW(from, to, MOVEFILE_REPLACE_EXISTING);
    }
    CloseHandle(o->h);
    swprintf(to, n, L"%ls.1", o->path);
    ok = MoveFileExW(o->path, to, MOVEFILE_REPLACE_EXISTING);
    if (!ok)
        report(o, "cannot rotate it", GetLastError());
    o->h = open_file(o->path, &o->size, err, sizeof(err));
    if (!ok)
        o->size = 0;
    free(from);
    free(to);
}

/* How much of data (whole lines) still fits below max. */
static size_t
fitting(const lb_logout_t *o, const char *data, size_t n)
{
    size_t room = o->size < o->max ? (size_t)(o->max - o->size) : 0;
    size_t fit = 0;

    for (size_t i = 0; i < n && i < room; i++)
        if (data[i] == '\n')
            fit = i + 1;
    if (fit == 0 && o->size == 0) { /* a line longer than max: alone */
        while (fit < n && data[fit] != '\n')
            fit++;
        fit += fit < n;
    }
    return fit;
}

static int
write_all(HANDLE h, const char *data, size_t n)
{
    while (n > 0) {
        DWORD done = 0;

        if (!WriteFile(h, data, (DWORD)n, &done, NULL) || done == 0)
            return -1;
        data += done;
        n -= done;
    }
    return 0;
}

static unsigned long
lines_in(const char *data, size_t n)
{
    unsigned long lines = 0;

    for (size_t i = 0; i < n; i++)
        lines += data[i] == '\n';
    return lines;
}

/* Outside the lock: only this thread touches h, size and told. */
static unsigned long
write_batch(lb_logout_t *o, const char *data, size_t n)
{
    while (n > 0) {
        size_t take = n;

        if (o->max > 0 && o->path != NULL && o->size + n > o->max) {
            take = fitting(o, data, n);
            if (take == 0) {
                rotate(o);
                continue;
            }
        }
        if (o->h == INVALID_HANDLE_VALUE || write_all(o->h, data, take)) {
            if (o->path != NULL)
                report(o, "cannot write it", GetLastError());
            return lines_in(data, n);
        }
        o->size += take;
        data += take;
        n -= take;
    }
    return 0;
}

static DWORD WINAPI
writer(void *arg)
{
    lb_logout_t *o = arg;

    EnterCriticalSection(&o->lock);
    for (;;) {
        size_t n;
        unsigned long lost;

        while (o->len == 0 && !o->quit && o->next == NULL)
            SleepConditionVariableCS(&o->wake, &o->lock, INFINITE);
        if (o->next != NULL) {
            if (o->h != INVALID_HANDLE_VALUE)
                CloseHandle(o->h);
            o->h = o->next;
            o->size = o->next_size;
            o->next = NULL;
            o->told = 0;
        }
        if (o->len == 0 && o->quit)
            break;
        n = o->len;
        memcpy(o->batch, o->held, n);
        o->len = 0;
        o->busy = 1;
        LeaveCriticalSection(&o->lock);
        lost = write_batch(o, o->batch, n);
        EnterCriticalSection(&o->lock);
        o->lost += lost;
        o->busy = 0;
        WakeAllConditionVariable(&o->done);
    }
    LeaveCriticalSection(&o->lock);
    return 0;
}

/* ---- outputs ---- */

static void
free_out(lb_logout_t *o)
{
    if (o->path != NULL && o->h != INVALID_HANDLE_VALUE)
        CloseHandle(o->h);
    if (o->next != NULL)
        CloseHandle(o->next);
    DeleteCriticalSection(&o->lock);
    free(o->held);
    free(o->batch);
    free(o->path);
    free(o);
}

/* An output writing to h (taken over if path is set), its thread
 * started. */
static lb_logout_t *
new_out(HANDLE h, wchar_t *path, uint64_t size)
{
    lb_logout_t *o = calloc(1, sizeof(*o));

    if (o == NULL)
        return NULL;
    o->h = h;
    o->path = path;
    o->size = size;
    InitializeCriticalSection(&o->lock);
    InitializeConditionVariable(&o->wake);
    InitializeConditionVariable(&o->done);
    o->held = malloc(HELD_MAX);
    o->batch = malloc(HELD_MAX);
    if (o->held != NULL && o->batch != NULL)
        o->thread = CreateThread(NULL, 64 * 1024, writer, o,
                                 STACK_SIZE_PARAM_IS_A_RESERVATION, NULL);
    if (o->thread == NULL) {
        o->path = NULL; /* the caller still owns it */
        free_out(o);
        return NULL;
    }
    return o;
}

static int
open_out(const char *path, lb_logout_t **out, char *err, size_t errlen)
{
    wchar_t *w = widen_path(path);
    uint64_t size = 0;
    HANDLE h;

    *out = NULL;
    if (w == NULL) {
        snprintf(err, errlen, "not a valid file name");
        return LB_EINVAL;
    }
    h = open_file(w, &size, err, errlen);
    if (h == INVALID_HANDLE_VALUE) {
        free(w);
        return LB_EACCES;
    }
    *out = new_out(h, w, size);
    if (*out == NULL) {
        CloseHandle(h);
        free(w);
        snprintf(err, errlen, "cannot start its writer thread");
        return LB_ENOMEM;
    }
    return 0;
}

/* A service has no console: its log file stands for stdout and stderr. */
void
lb__win_service_log_open(void)
{
    wchar_t *path = lb__win_service_log_path();
    uint64_t size = 0;
    char err[256] = "out of memory";
    HANDLE h = path ? open_file(path, &size, err, sizeof(err))
                    : INVALID_HANDLE_VALUE;

    if (h != INVALID_HANDLE_VALUE)
        service_log = new_out(h, path, size);
    if (service_log != NULL)
        return;
    if (h != INVALID_HANDLE_VALUE)
        CloseHandle(h);
    free(path);
    lb__win_eventlog_open();
    lb__win_report(LB__MSG_SERVICE_ERROR, EVENTLOG_ERROR_TYPE,
                   "cannot open the service log file under "
                   "%ProgramData%\\PumpkinLB\\logs");
    lb__win_report(LB__MSG_SERVICE_ERROR, EVENTLOG_ERROR_TYPE, err);
}

int
lb_logout_std(int which, lb_logout_t **out, char *err, size_t errlen)
{
    HANDLE h;

    *out = NULL;
    if (which != 1 && which != 2)
        return LB_EINVAL;
    if (lb__win_service_mode) {
        *out = service_log;
        return 0;
    }
    h = GetStdHandle(which == 1 ? STD_OUTPUT_HANDLE : STD_ERROR_HANDLE);
    if (h == NULL || h == INVALID_HANDLE_VALUE)
        return 0;
    if (std_outs[3 - which] != NULL && std_outs[3 - which]->h == h) {
        *out = std_outs[which] = std_outs[3 - which];
        return 0;
    }
    *out = std_outs[which] = new_out(h, NULL, 0);
    if (*out == NULL) {
        snprintf(err, errlen, "cannot start the log's writer thread");
        return LB_ENOMEM;
    }
    return 0;
}

int
lb_logout_open(const char *path, lb_logout_t **out, char *err,
               size_t errlen)
{
    return open_out(path, out, err, errlen);
}

void
lb_logout_info(const lb_logout_t *o, lb_logout_info_t *info)
{
    info->disk = 0; /* the thread waits for the disk, not the loop */
    info->atomic = ATOMIC;
    info->crlf = 1;
    info->stamped = o == service_log;
}

long
lb_logout_write(lb_logout_t *o, const char *buf, size_t len)
{
    long rc = (long)len;

    if (len > ATOMIC)
        len = ATOMIC; /* never: the core cuts its writes to this */
    EnterCriticalSection(&o->lock);
    if (o->len + len > HELD_MAX) {
        rc = LB_EAGAIN;
    } else {
        memcpy(o->held + o->len, buf, len);
        o->len += len;
        rc = (long)len;
        WakeConditionVariable(&o->wake);
    }
    LeaveCriticalSection(&o->lock);
    return rc;
}

int
lb_logout_wait(lb_logout_t *o, int ms)
{
    int idle;

    EnterCriticalSection(&o->lock);
    if (o->len > 0 || o->busy)
        SleepConditionVariableCS(&o->done, &o->lock, (DWORD)ms);
    idle = o->len == 0 && !o->busy;
    LeaveCriticalSection(&o->lock);
    return idle;
}

unsigned long
lb_logout_lost(lb_logout_t *o)
{
    unsigned long lost;

    EnterCriticalSection(&o->lock);
    lost = o->lost;
    o->lost = 0;
    LeaveCriticalSection(&o->lock);
    return lost;
}

int
lb_logout_reopen(lb_logout_t *o, char *err, size_t errlen)
{
    uint64_t size = 0;
    HANDLE h;

    if (o->path == NULL)
        return 0;
    h = open_file(o->path, &size, err, errlen);
    if (h == INVALID_HANDLE_VALUE)
        return LB_EACCES;
    EnterCriticalSection(&o->lock);
    if (o->next != NULL)
        CloseHandle(o->next);
    o->next = h;
    o->next_size = size;
    WakeConditionVariable(&o->wake);
    LeaveCriticalSection(&o->lock);
    return 0;
}

int
lb_logout_rotate_at(lb_logout_t *o, uint64_t max, unsigned keep)
{
    if (o->path == NULL)
        return max == 0 ? 0 : LB_ENOTSUP;
    EnterCriticalSection(&o->lock);
    o->max = max;
    o->keep = keep;
    LeaveCriticalSection(&o->lock);
    return 0;
}

int
lb_logout_give(lb_logout_t *o, const char *user, char *err, size_t errlen)
{
    (void)o;
    (void)user;
    (void)err;
    (void)errlen;
    return 0; /* the service account owns what it creates */
}

/* Writes what is held first. A thread stuck on a pipe nobody reads is
 * left to the process's exit. */
void
lb_logout_close(lb_logout_t *o)
{
    if (o == NULL)
        return;
    EnterCriticalSection(&o->lock);
    o->quit = 1;
    WakeConditionVariable(&o->wake);
    LeaveCriticalSection(&o->lock);
    if (WaitForSingleObject(o->thread, CLOSE_WAIT_MS) != WAIT_OBJECT_0) {
        CancelSynchronousIo(o->thread);
        if (WaitForSingleObject(o->thread, CLOSE_WAIT_MS) != WAIT_OBJECT_0)
            return;
    }
    CloseHandle(o->thread);
    for (int i = 1; i <= 2; i++)
        if (std_outs[i] == o)
            std_outs[i] = NULL;
    if (service_log == o)
        service_log = NULL;
    free_out(o);
}

static int
absolute(const char *p)
{
    return p[0] == '\\' || p[0] == '/' ||
           (((p[0] | 0x20) >= 'a' && (p[0] | 0x20) <= 'z') && p[1] == ':');
}

/* A wide path as UTF-8, malloc'd. */
static char *
narrow(const wchar_t *w)
{
    int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
    char *s = n > 0 ? malloc((size_t)n) : NULL;

    if (s != NULL && WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL,
                                         NULL) <= 0) {
        free(s);
        s = NULL;
    }
    return s;
}

char *
lb_path_beside(const char *base, const char *path)
{
    const char *cut = base;
    size_t dir, len;
    char *joined, *out = NULL;
    wchar_t *w, *full = NULL;
    DWORD n;

    for (const char *p = base; *p; p++)
        if (*p == '\\' || *p == '/')
            cut = p + 1;
    dir = absolute(path) ? 0 : (size_t)(cut - base);
    len = dir + strlen(path) + 1;
    joined = malloc(len);
    if (joined == NULL)
        return NULL;
    snprintf(joined, len, "%.*s%s", (int)dir, base, path);
    w = widen_path(joined);
    n = w ? GetFullPathNameW(w, 0, NULL, NULL) : 0;
    full = n ? malloc(n * sizeof(*full)) : NULL;
    if (full != NULL && GetFullPathNameW(w, n, full, NULL) > 0)
        out = narrow(full);
    free(full);
    free(w);
    if (out == NULL)
        return joined; /* as written: the open says what is wrong */
    free(joined);
    return out;
}
