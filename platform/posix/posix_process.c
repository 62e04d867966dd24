/* posix_process.c - the supervisor: forks one worker process per listener
 * and slot, restarts a worker that dies (with back-off), turns SIGTERM and
 * SIGINT into stop requests to every worker, and waits for them. On
 * SIGHUP it has the core reload the config, starts workers for the new
 * one and retires the old workers: they drain what they hold and exit. */
#include "posix_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 10000
#define STABLE_MS 10000   /* a worker that lived this long was healthy */
#define KILL_MARGIN_MS 3000 /* beyond the drain before SIGKILL */

typedef struct slot_s {
    pid_t pid;              /* 0 when not running */
    int ctl;                /* write end of the worker's control pipe */
    size_t listener;
    unsigned index;         /* which of the listener's workers */
    uint64_t started;
    uint64_t restart_at;
    unsigned backoff;
    int retiring;           /* of a config replaced by a reload; it drains
                             * with no deadline until a stop */
    uint64_t stop_timeout_ms; /* graceful_shutdown_timeout of its config */
} slot_t;

typedef struct super_s {
    lb_run_spec_t *spec;
    slot_t *slots;
    size_t nslots;
    int sig_fd;
    int stopping;
    uint64_t kill_at;
    int status;
} super_t;

static void
say(const super_t *sv, int is_error, const char *fmt, long a, long b)
{
    char msg[160];

    snprintf(msg, sizeof(msg), fmt, a, b);
    if (sv->spec->log)
        sv->spec->log(is_error, msg);
}

/* Each worker reads stop requests from its own pipe: one byte per request,
 * EOF when the parent is gone. Signals are not used for this because a
 * terminal or a service manager signals the whole process group, and a
 * worker must not count that as a second request. */
static void
child_main(super_t *sv, slot_t *slot, int ctl_read)
{
    lb_run_spec_t *spec = sv->spec;
    int status;

    lb__posix_is_worker = 1;
    lb__posix_signals_reset();
    signal(SIGCHLD, SIG_DFL);
    signal(SIGHUP, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    for (size_t i = 0; i < sv->nslots; i++)
        if (sv->slots[i].ctl >= 0)
            close(sv->slots[i].ctl); /* or siblings would hide our death */
    lb__posix_lifeline_fd = ctl_read;
    for (size_t i = 0; i < spec->nlisteners; i++)
        if (i != slot->listener)
            lb_listener_close(spec->listeners[i]);
    status = spec->worker(&slot->listener, 1, slot->index, spec->ctx);
    fflush(NULL);
    _exit(status);
}

static int
control_pipe(int fds[2])
{
    if (pipe(fds) != 0)
        return -1;
    if (fcntl(fds[0], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(fds[1], F_SETFD, FD_CLOEXEC) != 0 ||
        lb__posix_nonblock(fds[1]) != 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    return 0;
}

static void
spawn(super_t *sv, slot_t *slot)
{
    int ctl[2];
    pid_t pid = -1;

    fflush(NULL); /* or the child would print the parent's buffer again */
    if (control_pipe(ctl) == 0) {
        lb__posix_forks++;
        pid = fork();
        if (pid == 0) {
            lb__posix_forget_pid();
            child_main(sv, slot, ctl[0]);
        }
        close(ctl[0]);
        if (pid < 0)
            close(ctl[1]);
    }
    slot->started = lb__posix_clock_ms();
    if (pid < 0) {
        say(sv, 1, "cannot start a worker process (errno %ld); retrying "
            "in %ld ms", errno, BACKOFF_MAX_MS);
        slot->restart_at = slot->started + BACKOFF_MAX_MS;
        return;
    }
    slot->ctl = ctl[1];
    slot->pid = pid;
    slot->restart_at = 0;
}

static void
schedule_restart(super_t *sv, slot_t *slot, int wstatus)
{
    uint64_t now = lb__posix_clock_ms();

    if (now - slot->started >= STABLE_MS)
        slot->backoff = BACKOFF_MIN_MS;
    else if (slot->backoff < BACKOFF_MAX_MS)
        slot->backoff = slot->backoff ? slot->backoff * 2 : BACKOFF_MIN_MS;
    if (slot->backoff > BACKOFF_MAX_MS)
        slot->backoff = BACKOFF_MAX_MS;
    slot->restart_at = now + slot->backoff;
    if (WIFSIGNALED(wstatus))
        say(sv, 1, "worker process %ld was killed by signal %ld; "
            "restarting it", (long)slot->pid, WTERMSIG(wstatus));
    else
        say(sv, 1, "worker process %ld exited with status %ld; "
            "restarting it", (long)slot->pid, WEXITSTATUS(wstatus));
}

static void
reap(super_t *sv)
{
    int wstatus;
    pid_t pid;

    while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
        for (size_t i = 0; i < sv->nslots; i++) {
            slot_t *slot = &sv->slots[i];
            if (slot->pid != pid)
                continue;
            if (!sv->stopping && !slot->retiring)
                schedule_restart(sv, slot, wstatus);
            else if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0)
                sv->status = LB_EXIT_FAILURE;
            slot->pid = 0;
            close(slot->ctl);
            slot->ctl = -1;
        }
    }
}

/* One stop request to each worker. A retiring one drains with no
 * deadline until this first request gives it one; a second cuts. */
static void
request_stop(super_t *sv)
{
    for (size_t i = 0; i < sv->nslots; i++) {
        slot_t *slot = &sv->slots[i];
        if (slot->pid > 0 && write(slot->ctl, "S", 1) != 1)
            say(sv, 1, "cannot ask worker %ld to stop (errno %ld)",
                (long)slot->pid, errno);
    }
}

static void
signal_workers(super_t *sv, int signo)
{
    for (size_t i = 0; i < sv->nslots; i++)
        if (sv->slots[i].pid > 0 && kill(sv->slots[i].pid, signo) != 0 &&
            errno != ESRCH)
            say(sv, 1, "cannot signal worker %ld (errno %ld)",
                (long)sv->slots[i].pid, errno);
}

/* A worker drains for the graceful_shutdown_timeout of the config it was
 * started with, which a reload may have shortened since: SIGKILL waits for
 * the longest, since a killed worker's clients would see a clean end of a
 * cut transfer instead of the reset its own deadline gives them. */
static uint64_t
longest_drain_ms(const super_t *sv)
{
    uint64_t longest = sv->spec->stop_timeout_ms;

    for (size_t i = 0; i < sv->nslots; i++)
        if (sv->slots[i].pid > 0 && sv->slots[i].stop_timeout_ms > longest)
            longest = sv->slots[i].stop_timeout_ms;
    return longest;
}

static void
begin_stop(super_t *sv)
{
    sv->stopping++;
    if (sv->stopping > 1)
        say(sv, 1, "Caught another signal, stopping at once", 0, 0);
    if (sv->stopping == 1) {
        say(sv, 1, "Caught signal, shutting down listeners...", 0, 0);
        /* Our copies of the listening sockets must go too, or the kernel
         * would keep accepting connections nobody serves. */
        for (size_t i = 0; i < sv->spec->nlisteners; i++) {
            lb_listener_close(sv->spec->listeners[i]);
            sv->spec->listeners[i] = NULL;
        }
        sv->kill_at = lb__posix_clock_ms() + KILL_MARGIN_MS +
                      longest_drain_ms(sv);
    }
    request_stop(sv);
}

static int
running(const super_t *sv)
{
    for (size_t i = 0; i < sv->nslots; i++)
        if (sv->slots[i].pid > 0)
            return 1;
    return 0;
}

static int
next_timeout(const super_t *sv)
{
    uint64_t now = lb__posix_clock_ms(), when = UINT64_MAX;

    if (sv->stopping)
        when = sv->kill_at;
    for (size_t i = 0; i < sv->nslots; i++) {
        const slot_t *slot = &sv->slots[i];

        if (!sv->stopping && !slot->retiring && slot->pid == 0 &&
            slot->restart_at < when)
            when = slot->restart_at;
    }
    if (when == UINT64_MAX)
        return -1;
    return when <= now ? 0 : (int)(when - now > 60000 ? 60000 : when - now);
}

static void
on_timeout(super_t *sv)
{
    uint64_t now = lb__posix_clock_ms();

    if (sv->stopping) {
        if (now >= sv->kill_at && running(sv)) {
            say(sv, 1, "workers did not stop in time; killing them", 0, 0);
            signal_workers(sv, SIGKILL);
            sv->kill_at = now + KILL_MARGIN_MS;
        }
        return;
    }
    for (size_t i = 0; i < sv->nslots; i++)
        if (!sv->slots[i].retiring && sv->slots[i].pid == 0 &&
            sv->slots[i].restart_at <= now)
            spawn(sv, &sv->slots[i]);
}

static void
init_slots(slot_t *slots, const lb_run_spec_t *spec)
{
    size_t n = spec->nlisteners * (spec->processes ? spec->processes : 1);

    for (size_t i = 0; i < n; i++) {
        memset(&slots[i], 0, sizeof(slots[i]));
        slots[i].listener = i % spec->nlisteners;
        slots[i].index = (unsigned)(i / spec->nlisteners);
        slots[i].ctl = -1;
        slots[i].stop_timeout_ms = spec->stop_timeout_ms;
    }
}

/* The running workers become retiring ones, followed by fresh slots for
 * next. */
static slot_t *
retire_and_add(super_t *sv, const lb_run_spec_t *next, size_t *count)
{
    size_t add = next->nlisteners * (next->processes ? next->processes : 1);
    slot_t *slots = calloc(sv->nslots + add, sizeof(*slots));
    size_t n = 0;

    if (slots == NULL)
        return NULL;
    for (size_t i = 0; i < sv->nslots; i++) {
        if (sv->slots[i].pid <= 0)
            continue; /* dead: nothing to retire, its successor is new */
        slots[n] = sv->slots[i];
        if (!slots[n].retiring)
            slots[n].retiring = 2; /* to be told it was replaced */
        n++;
    }
    init_slots(slots + n, next);
    *count = n + add;
    return slots;
}

static void
reload(super_t *sv)
{
    lb_run_spec_t next;
    slot_t *slots;
    size_t n = 0;

    if (sv->stopping || sv->spec->reload == NULL ||
        sv->spec->reload(sv->spec->ctx, &next) != 0)
        return; /* the core said why */
    slots = retire_and_add(sv, &next, &n);
    *sv->spec = next;
    if (slots == NULL) {
        say(sv, 1, "out of memory while reloading; stopping", 0, 0);
        begin_stop(sv);
        return;
    }
    free(sv->slots);
    sv->slots = slots;
    sv->nslots = n;
    /* New workers first, so every listener keeps someone accepting. */
    for (size_t i = 0; i < n; i++)
        if (!slots[i].retiring)
            spawn(sv, &slots[i]);
    for (size_t i = 0; i < n; i++) {
        if (slots[i].retiring != 2)
            continue;
        slots[i].retiring = 1;
        /* 'R': drain with no deadline, as a reload must cut nothing. */
        if (write(slots[i].ctl, "R", 1) != 1)
            say(sv, 1, "cannot tell worker %ld it was replaced (errno %ld)",
                (long)slots[i].pid, errno);
    }
}

static void
on_signals(super_t *sv)
{
    unsigned char buf[64];
    ssize_t n;

    while ((n = read(sv->sig_fd, buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == SIGCHLD)
                reap(sv);
            else if (buf[i] == SIGHUP)
                reload(sv);
            else
                begin_stop(sv);
        }
    }
}

static int
setup(super_t *sv, lb_run_spec_t *spec)
{
    sv->spec = spec;
    sv->nslots = spec->nlisteners * (spec->processes ? spec->processes : 1);
    sv->slots = calloc(sv->nslots, sizeof(*sv->slots));
    if (sv->slots == NULL)
        return LB_ENOMEM;
    init_slots(sv->slots, spec);
    if (lb__posix_signals_init(&sv->sig_fd) != 0 ||
        lb__posix_signals_watch(SIGCHLD) != 0 ||
        lb__posix_signals_watch(SIGHUP) != 0)
        return lb__posix_error(errno);
    return 0;
}

int
lb_run_workers(lb_run_spec_t *spec)
{
    super_t sv = {0};
    int rc = setup(&sv, spec);

    if (rc != 0) {
        say(&sv, 1, "cannot start the supervisor (%ld)", rc, 0);
        free(sv.slots);
        return LB_EXIT_FAILURE;
    }
    for (size_t i = 0; i < sv.nslots; i++)
        spawn(&sv, &sv.slots[i]);
    while (!sv.stopping || running(&sv)) {
        struct pollfd pfd = {sv.sig_fd, POLLIN, 0};
        int n = poll(&pfd, 1, next_timeout(&sv));
        if (n < 0 && errno != EINTR) {
            say(&sv, 1, "poll failed (errno %ld)", errno, 0);
            begin_stop(&sv);
        }
        if (n > 0)
            on_signals(&sv);
        on_timeout(&sv);
    }
    free(sv.slots);
    return sv.status;
}
