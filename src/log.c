/* log.c - log lines in the original's format; log_output.c writes them
 * (whole lines only, so lines of several worker processes never mix).
 * Loops of one process (Windows) hand their lines over, and a reload
 * switches the file, under lb_log_lock. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lb_log.h"
#include "lb_platform.h"

static FILE *console; /* replaces stdout and stderr when set (tests) */

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

#define NO_EVENT (-1)

/* Formats "STAMP message\n" and writes it to stdout (err 0) or stderr
 * (without the stamp unless `stamped`, for start-up errors such as
 * "FILE:LINE: ...") and to the log file; hands the bare message to the
 * system log as that kind of event unless `event` is NO_EVENT. */
static void
vlog_to(int err, int stamped, int event, const char *fmt, va_list ap)
{
    char stamp[64], small[512], *line = small;
    size_t slen, len;
    va_list ap2;
    int n;

    lb_log_stamp(stamp, sizeof(stamp));
    slen = strlen(stamp);
    memcpy(small, stamp, slen);
    /* Formatted once where it fits (every line but the rare long one),
     * a second time into a buffer of its size where not. */
    va_copy(ap2, ap);
    n = vsnprintf(small + slen, sizeof(small) - slen - 1, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return;
    len = slen + (size_t)n + 1;
    if (len + 1 > sizeof(small)) {
        if ((line = malloc(len + 1)) == NULL)
            return;
        memcpy(line, stamp, slen);
        vsnprintf(line + slen, (size_t)n + 1, fmt, ap);
    }
    line[len - 1] = '\n';
    lb_log_lock();
    if (console) {
        fwrite(line, 1, len, console);
        fflush(console);
    }
    lb__log_line(console ? LB_LOG_NO_CONSOLE : err, line, len,
                 stamped ? 0 : slen);
    lb_log_unlock();
    line[len - 1] = '\0';
    if (event != NO_EVENT)
        lb_platform_event((lb_event_t)event, line + slen);
    if (line != small)
        free(line);
}

static void
vlog(int err, const char *fmt, va_list ap)
{
    vlog_to(err, 1, NO_EVENT, fmt, ap);
}

void
lb_log(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(0, fmt, ap);
    va_end(ap);
}

void
lb_log_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(1, fmt, ap);
    va_end(ap);
}

void
lb_log_fatal(lb_event_t kind, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog_to(1, 0, kind, fmt, ap);
    va_end(ap);
}

void
lb_log_event(lb_event_t kind, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog_to(kind >= LB_EVENT_FIRST_WARNING, 1, kind, fmt, ap);
    va_end(ap);
}
