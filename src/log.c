/* log.c - log lines in the original's format, one write per line so lines
 * from several worker processes never interleave; loops of one process
 * write (and a reload switches the file) under lb_log_lock. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lb_log.h"
#include "lb_platform.h"

static FILE *log_file;
static FILE *console; /* replaces stdout and stderr when set */

void
lb_log_set_file(FILE *f)
{
    lb_log_lock();
    log_file = f;
    lb_log_unlock();
}

void
lb_log_redirect(FILE *f)
{
    lb_log_lock();
    console = f;
    lb_log_unlock();
}

void
lb_log_stamp(char *buf, size_t size)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu",
                                    "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May",
                                       "Jun", "Jul", "Aug", "Sep", "Oct",
                                       "Nov", "Dec"};
    struct tm tm;

    /* Python's time.ctime(), as the original printed it. */
    if (lb_localtime(time(NULL), &tm) != 0 || tm.tm_wday < 0 ||
        tm.tm_wday > 6 || tm.tm_mon < 0 || tm.tm_mon > 11) {
        snprintf(buf, size, "[ ? ] ");
        return;
    }
    snprintf(buf, size, "[ %s %s %2d %02d:%02d:%02d %d ] ", days[tm.tm_wday],
             months[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min,
             tm.tm_sec, tm.tm_year + 1900);
}

static void
emit(FILE *out, const char *line, size_t len)
{
    fwrite(line, 1, len, out);
    fflush(out);
}

#define NO_EVENT (-1)

/* Formats "STAMP message\n" and writes it to out (without the stamp
 * unless `stamped`, for start-up errors such as "FILE:LINE: ...") and to
 * the log file; hands the bare message to the system log as that kind
 * of event unless `event` is NO_EVENT. */
static void
vlog_to(FILE *out, int stamped, int event, const char *fmt, va_list ap)
{
    FILE *sink;
    char stamp[64], small[512], *line = small;
    size_t slen, len;
    va_list ap2;
    int n;

    lb_log_stamp(stamp, sizeof(stamp));
    slen = strlen(stamp);
    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return;
    len = slen + (size_t)n + 1;
    if (len + 1 > sizeof(small) && (line = malloc(len + 1)) == NULL)
        return;
    memcpy(line, stamp, slen);
    vsnprintf(line + slen, (size_t)n + 1, fmt, ap);
    line[len - 1] = '\n';
    lb_log_lock();
    sink = console ? console : lb_platform_log_stream();
    if (sink)
        emit(sink, line, len);
    else if (stamped)
        emit(out, line, len);
    else
        emit(out, line + slen, len - slen);
    if (log_file)
        emit(log_file, line, len);
    lb_log_unlock();
    line[len - 1] = '\0';
    if (event != NO_EVENT)
        lb_platform_event((lb_event_t)event, line + slen);
    if (line != small)
        free(line);
}

static void
vlog(FILE *out, const char *fmt, va_list ap)
{
    vlog_to(out, 1, NO_EVENT, fmt, ap);
}

void
lb_log(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(stdout, fmt, ap);
    va_end(ap);
}

void
lb_log_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(stderr, fmt, ap);
    va_end(ap);
}

void
lb_log_fatal(lb_event_t kind, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog_to(stderr, 0, kind, fmt, ap);
    va_end(ap);
}

void
lb_log_event(lb_event_t kind, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog_to(kind >= LB_EVENT_FIRST_WARNING ? stderr : stdout, 1, kind, fmt,
            ap);
    va_end(ap);
}
