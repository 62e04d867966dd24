/* win32_misc.c - process-wide services on Windows: one process runs
 * every loop, so "shared" memory is plain memory (updated with
 * Interlocked operations); local time, the pid, the log's lock, name
 * resolution on the system thread pool. */
#include "win32_internal.h"
#include "win32_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *
lb_shared_alloc(size_t size)
{
    return calloc(1, size);
}

void
lb_shared_free(void *p, size_t size)
{
    (void)size;
    free(p);
}

unsigned long
lb_counter_next(lb_counter_t *c)
{
    /* unsigned long and LONG are both 32 bits on Windows. */
    return (unsigned long)InterlockedIncrement((volatile LONG *)&c->value) -
           1u;
}

/* Loops on several threads update these at once. */
int64_t
lb_atomic_load(lb_atomic_t *a)
{
    return InterlockedCompareExchange64(&a->value, 0, 0);
}

void
lb_atomic_store(lb_atomic_t *a, int64_t v)
{
    (void)InterlockedExchange64(&a->value, v);
}

int64_t
lb_atomic_add(lb_atomic_t *a, int64_t delta)
{
    return InterlockedExchangeAdd64(&a->value, delta) + delta;
}

int
lb_atomic_cas(lb_atomic_t *a, int64_t expected, int64_t desired)
{
    return InterlockedCompareExchange64(&a->value, desired, expected) ==
           expected;
}

int
lb_localtime(time_t t, struct tm *out)
{
    return localtime_s(out, &t) == 0 ? 0 : LB_EINVAL;
}

long
lb_raise_fd_limit(void)
{
    return 0; /* Windows has no per-process socket limit to raise */
}

uint64_t
lb_memory_bound(void)
{
    MEMORYSTATUSEX ms;

    ms.dwLength = sizeof(ms);
    return GlobalMemoryStatusEx(&ms) ? (uint64_t)ms.ullTotalPhys : 0;
}

long
lb_getpid(void)
{
    return (long)GetCurrentProcessId();
}

/* One writer at a time: lines from the loops never interleave, and a
 * reload switches the log file between two lines. */
static SRWLOCK log_lock = SRWLOCK_INIT;

void
lb_log_lock(void)
{
    AcquireSRWLockExclusive(&log_lock);
}

void
lb_log_unlock(void)
{
    ReleaseSRWLockExclusive(&log_lock);
}

/* ---- resolution on the thread pool; the answer comes back through the
 * completion port, so the callback runs on the loop thread. ---- */

struct lb_resolve_s {
    HANDLE port;
    lb_resolve_cb cb; /* NULL once canceled */
    void *data;
    uint16_t port_no;
    int status;
    lb_addr_t addr;
    char host[256];
};

static DWORD WINAPI
resolve_work(void *arg)
{
    lb_resolve_t *req = arg;

    req->status = lb_addr_resolve(req->host, req->port_no, &req->addr);
    PostQueuedCompletionStatus(req->port, 0, LB__KEY_RESOLVE,
                               (OVERLAPPED *)req);
    return 0;
}

int
lb_resolve_start(lb_loop_t *loop, const char *host, uint16_t port,
                 lb_resolve_cb cb, void *data, lb_resolve_t **out)
{
    size_t len = strlen(host);
    lb_resolve_t *req;

    if (len >= sizeof(req->host))
        return LB_EINVAL;
    req = calloc(1, sizeof(*req));
    if (req == NULL)
        return LB_ENOMEM;
    memcpy(req->host, host, len + 1);
    req->port = loop->iocp;
    req->port_no = port;
    req->cb = cb;
    req->data = data;
    if (!QueueUserWorkItem(resolve_work, req, WT_EXECUTEDEFAULT)) {
        free(req);
        return lb__win_error((int)GetLastError());
    }
    *out = req;
    return 0;
}

void
lb_resolve_cancel(lb_resolve_t *req)
{
    req->cb = NULL;
}

void
lb__resolve_done(void *p)
{
    lb_resolve_t *req = p;

    if (req->cb)
        req->cb(req, req->status, req->status == 0 ? &req->addr : NULL,
                req->data);
    free(req);
}

int
lb_running_as_root(void)
{
    return 0; /* the service account decides; there is no `user` */
}

int
lb_file_owner_foreign(const char *path)
{
    (void)path;
    return 0; /* lb_file_writable_by_others is the ACL's check */
}

int
lb_drop_privileges(const char *user, const char *group, char *err,
                   size_t errlen)
{
    if (user == NULL && group == NULL)
        return 0;
    snprintf(err, errlen, "'user' and 'group' are for POSIX systems; on "
             "Windows the service account decides (LocalService)");
    return -1;
}

int
lb_file_readable_by_others(const char *path)
{
    (void)path;
    return 0; /* ACLs, not mode bits: --configure-service sets them */
}
