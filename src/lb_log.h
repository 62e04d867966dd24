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

/* Messages go to stdout, errors to stderr, both to the log file if set. */
void lb_log_set_file(FILE *f);
/* Sends what would go to stdout and stderr (or the platform's
 * lb_platform_log_stream) to f instead, every line stamped; NULL: back to
 * them. How tests capture the log. */
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

#endif
