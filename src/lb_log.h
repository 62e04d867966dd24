/* lb_log.h - log lines in the original's format:
 * "[ Tue Nov 24 21:40:59 2026 ] message". */
#ifndef LB_LOG_H
#define LB_LOG_H

#include <stdio.h>

#include "lb_platform.h"

#if defined(__MINGW32__)
/* mingw builds with __USE_MINGW_ANSI_STDIO, a C99 printf (%zu works). */
#define LB_PRINTF(a, b) __attribute__((format(gnu_printf, a, b)))
#elif defined(__GNUC__) || defined(__clang__)
#define LB_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LB_PRINTF(a, b)
#endif

#include "lb_platform.h"

/* Messages go to stdout, errors to stderr, both to the log file if set:
 * through log_output.c, which never lets a slow reader hold up the loop.
 * lb_log_redirect sends what would go to stdout and stderr to f instead
 * (NULL: back to them), every line stamped and written at once: how tests
 * capture it. */
void lb_log_redirect(FILE *f);
void lb_log(const char *fmt, ...) LB_PRINTF(1, 2);
void lb_log_error(const char *fmt, ...) LB_PRINTF(1, 2);
/* A start-up failure: the bare message on stderr (e.g. "FILE:LINE: ..."),
 * in the log file with a stamp, and in the system log as kind. */
void lb_log_fatal(lb_event_t kind, const char *fmt, ...) LB_PRINTF(2, 3);
/* A notable event (start, stop, reload): logged (warnings and errors to
 * stderr), and in the system log too. */
void lb_log_event(lb_event_t kind, const char *fmt, ...) LB_PRINTF(2, 3);
/* Formats the stamp "[ Tue Nov 24 21:40:59 2026 ] " into buf. */
void lb_log_stamp(char *buf, size_t size);

/* ---- at most one line a second of a kind (log_rate.c) ----
 * For lines a flood of clients could multiply (a refused client, a retry,
 * every backend failing): the first of a second is written at once, the
 * next ones are counted and one line at the second's end reports them,
 * describing the last. */
typedef struct lb_lograte_s lb_lograte_t;
typedef void (*lb_lograte_fn)(lb_lograte_t *r);
struct lb_lograte_s {
    uint64_t due;        /* loop time a line may be written again */
    unsigned long held;  /* events since the last line */
    char who[LB_ADDRSTRLEN]; /* the last one, as its caller described it */
    char what[512];
    lb_timer_t timer;
    lb_lograte_fn report; /* writes one line for `held` events */
    void *data;
};
void lb_lograte_init(lb_lograte_t *r, lb_loop_t *loop, lb_lograte_fn report,
                     void *data);
/* One more event, described in r->who and r->what first. */
void lb_lograte_event(lb_lograte_t *r);
/* Reports what is held back now; the timer stops (its owner goes). */
void lb_lograte_stop(lb_lograte_t *r);

/* ---- where the lines go (log_output.c) ----
 * Each output (stdout, stderr, the log file) keeps a bounded buffer of
 * whole lines; a line it has no room for is dropped and counted. */

/* Opens path as the log file from now on (NULL: none), made owner's when
 * running as root (NULL: left as it is) so that owner can reopen it at a
 * reload. 0, or an LB_E* code with the reason in err; the previous log
 * file stays then. */
int lb_log_open_file(const char *path, const char *owner, char *err,
                     size_t errlen);
/* Opens again a standard output that is a named file (a Windows service's
 * log); 0, or an LB_E* code with the reason in err. */
int lb_log_reopen_std(char *err, size_t errlen);
/* Rotates the log files by size where the platform can (max 0: never).
 * 0, or LB_ENOTSUP when no output here can be. */
int lb_log_rotate_at(uint64_t max);
/* Lines are written through loop from now on: a file on a timer, never
 * from the relay's path; a pipe with no room is tried again on a timer.
 * NULL: the loop is going; what is buffered is written first. */
void lb_log_attach(lb_loop_t *loop);
/* Where dropped lines are counted from now on (the shared block's
 * counter, summed over the workers); NULL: only here. */
void lb_log_count_drops(lb_atomic_t *counter);
/* Writes what is buffered, giving a slow reader up to wait_ms (at stop
 * and exit); what is still left is dropped and counted. */
void lb_log_flush(int wait_ms);
#define LB_LOG_EXIT_WAIT_MS 1000
/* The last of the process (the parent, as it returns from main): flushes,
 * then closes every output, giving a terminal its blocking mode back. */
void lb_log_close(void);

/* For log.c: a formatted line (ending in '\n') to stdout (to = 0) or
 * stderr (to = 1) without its first console_skip bytes, or to neither
 * (LB_LOG_NO_CONSOLE), and whole to the log file. */
#define LB_LOG_NO_CONSOLE 2
void lb__log_line(int to, const char *line, size_t len,
                  size_t console_skip);

#endif
