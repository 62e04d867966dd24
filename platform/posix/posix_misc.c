/* posix_misc.c - small process-wide services: shared memory for the worker
 * processes, local time, the descriptor limit, the pid, the CPUs. */
#include "posix_internal.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#ifndef MAP_ANONYMOUS
#define MAP_ANONYMOUS MAP_ANON
#endif

void *
lb_shared_alloc(size_t size)
{
    /* Made before fork, so every worker sees the same page. */
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    return p == MAP_FAILED ? NULL : p;
}

void
lb_shared_free(void *p, size_t size)
{
    /* Only fails for a range that was never mapped: a bug, not a state. */
    if (p != NULL && munmap(p, size) != 0)
        abort();
}

unsigned long
lb_counter_next(lb_counter_t *c)
{
    /* GCC and clang both have it, on Linux and on Cygwin. */
    return __atomic_fetch_add(&c->value, 1, __ATOMIC_RELAXED);
}

int64_t
lb_atomic_load(lb_atomic_t *a)
{
    return __atomic_load_n(&a->value, __ATOMIC_ACQUIRE);
}

void
lb_atomic_store(lb_atomic_t *a, int64_t v)
{
    __atomic_store_n(&a->value, v, __ATOMIC_RELEASE);
}

int64_t
lb_atomic_add(lb_atomic_t *a, int64_t delta)
{
    return __atomic_add_fetch(&a->value, delta, __ATOMIC_ACQ_REL);
}

int
lb_atomic_cas(lb_atomic_t *a, int64_t expected, int64_t desired)
{
    return __atomic_compare_exchange_n(&a->value, &expected, desired, 0,
                                       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

int
lb_localtime(time_t t, struct tm *out)
{
    return localtime_r(&t, out) ? 0 : LB_EINVAL;
}

long
lb_raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t want = rl.rlim_max;
        /* An "unlimited" hard limit cannot be the soft one everywhere. */
        if (want == RLIM_INFINITY || want > 1048576)
            want = 1048576;
        if (want > rl.rlim_cur) {
            rlim_t old = rl.rlim_cur;
            rl.rlim_cur = want;
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
                rl.rlim_cur = old;
        }
    }
    return rl.rlim_cur == RLIM_INFINITY ? 1048576 : (long)rl.rlim_cur;
}

uint64_t
lb_memory_bound(void)
{
    return 0; /* the descriptor limit is the bound here */
}

/* getpid() is a system call each time (glibc stopped caching it in
 * 2.25), and the log asks once a line; a child of our forks forgets it. */
static long pid_now;

void
lb__posix_forget_pid(void)
{
    pid_now = 0;
}

long
lb_getpid(void)
{
    if (pid_now == 0)
        pid_now = (long)getpid();
    return pid_now;
}

/* Each worker is a process of its own, single-threaded. */
int
lb_workers_share_process(void)
{
    return 0;
}

void
lb_log_lock(void)
{
}

void
lb_log_unlock(void)
{
}

unsigned
lb_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    return n < 1 ? 1 : n > 65535 ? 65535 : (unsigned)n;
}
