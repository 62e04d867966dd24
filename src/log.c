/* log.c - log lines in the original's format, one write per line so lines
 * from several worker processes never interleave. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lb_log.h"
#include "lb_platform.h"

static FILE *log_file;

void
lb_log_set_file(FILE *f)
{
    log_file = f;
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

static void
vlog(FILE *out, const char *fmt, va_list ap)
{
    char stamp[64], small[512], *line = small;
    size_t slen;
    va_list ap2;
    int n;

    lb_log_stamp(stamp, sizeof(stamp));
    slen = strlen(stamp);
    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return;
    if (slen + (size_t)n + 2 > sizeof(small)) {
        line = malloc(slen + (size_t)n + 2);
        if (line == NULL)
            return;
    }
    memcpy(line, stamp, slen);
    vsnprintf(line + slen, (size_t)n + 1, fmt, ap);
    line[slen + (size_t)n] = '\n';
    emit(out, line, slen + (size_t)n + 1);
    if (log_file)
        emit(log_file, line, slen + (size_t)n + 1);
    if (line != small)
        free(line);
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
