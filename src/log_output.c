/* log_output.c - where log lines go, without ever holding up the relay.
 * Each output (stdout, stderr, the log file) keeps a bounded buffer of
 * whole lines. A pipe or a socket is written at once, never waiting: what
 * it has no room for stays buffered and is tried again on a timer. A file
 * on disk cannot be written without waiting (no descriptor flag prevents
 * it), so while a loop runs it is written from a timer, not on the relay's
 * path, unless a burst fills half its buffer first. A line the buffer has
 * no room for is dropped and counted (pumpkinlb_log_lines_dropped_total),
 * and once the output takes lines again one more says how many went.
 * Every write holds whole lines and, for a pipe, no more than the size it
 * keeps whole, so the lines of several processes never mix nor are cut.
 * Where loops share a process (Windows) every entry point holds
 * lb_log_lock, and no timer is used: the platform's writer threads take
 * each write without waiting, and one loop's timer cannot be armed from
 * another's thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_log.h"

#define BUFFER_MAX (256 * 1024) /* per output: some 1,300 connection lines */
#define BUFFER_MIN 4096
#define DISK_MS 100       /* a file is written this often */
#define RETRY_MIN_MS 20   /* a pipe with no room is tried again after this, */
#define RETRY_MAX_MS 320  /* twice as long each time it still has none */
#define WAIT_SLICE_MS 50  /* the last flush waits for a reader this long */
#define CONTINUED "... " /* starts the rest of a line cut for a pipe */

typedef struct output_s {
    lb_logout_t *out;
    lb_logout_info_t info;
    char *buf;
    size_t len, cap;
    unsigned long dropped; /* lines dropped since the last note */
} output_t;

enum { OUT_STDOUT, OUT_STDERR, OUT_FILE, NOUTPUTS };

static struct {
    output_t outputs[NOUTPUTS];
    output_t *std[2];     /* stdout's and stderr's: maybe the same */
    int std_opened;
    long owner;           /* the process whose lines the buffers hold */
    lb_loop_t *loop;
    lb_timer_t timer;
    unsigned retry_ms;
    lb_atomic_t *drops;   /* the shared counter, if there is one */
} lg;

static void flush_output(output_t *o);

static void
count_drops(output_t *o, unsigned long lines)
{
    o->dropped += lines;
    if (lg.drops != NULL)
        lb_atomic_add(lg.drops, (int64_t)lines);
}

static unsigned long
count_lines(const char *buf, size_t len)
{
    unsigned long n = 0;

    for (size_t i = 0; i < len; i++)
        n += buf[i] == '\n';
    return n;
}

/* A forked process inherits its parent's buffers: those lines are the
 * parent's to write, not a second time by each worker. */
static void
adopt(void)
{
    long pid = lb_getpid();

    if (pid == lg.owner)
        return;
    for (size_t i = 0; i < NOUTPUTS; i++) {
        lg.outputs[i].len = 0;
        lg.outputs[i].dropped = 0;
    }
    lg.owner = pid;
}

static void
set_output(output_t *o, lb_logout_t *out)
{
    o->out = out;
    if (out != NULL)
        lb_logout_info(out, &o->info);
}

static void
open_std(void)
{
    lb_logout_t *out = NULL, *err = NULL;
    char why[256] = "";

    lg.std_opened = 1;
    if (lb_logout_std(1, &out, why, sizeof(why)) != 0 ||
        lb_logout_std(2, &err, why, sizeof(why)) != 0)
        lb_platform_event(LB_EVENT_FATAL, why); /* nowhere else to say it */
    set_output(&lg.outputs[OUT_STDOUT], out);
    lg.std[0] = &lg.outputs[OUT_STDOUT];
    if (err != NULL && err == out) {
        lg.std[1] = lg.std[0];
    } else {
        set_output(&lg.outputs[OUT_STDERR], err);
        lg.std[1] = &lg.outputs[OUT_STDERR];
    }
}

static int
reserve(output_t *o, size_t more)
{
    size_t cap = o->cap ? o->cap : BUFFER_MIN;
    char *buf;

    if (o->len + more > BUFFER_MAX)
        return -1;
    while (cap < o->len + more)
        cap *= 2;
    if (cap == o->cap)
        return 0;
    buf = realloc(o->buf, cap > BUFFER_MAX ? BUFFER_MAX : cap);
    if (buf == NULL)
        return -1;
    o->buf = buf;
    o->cap = cap > BUFFER_MAX ? BUFFER_MAX : cap;
    return 0;
}

static void
put(output_t *o, const char *s, size_t n)
{
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

static void
put_eol(output_t *o)
{
    if (o->info.crlf)
        put(o, "\r\n", 2);
    else
        put(o, "\n", 1);
}

/* The bytes text (without its '\n') takes as lines: a pipe keeps a write
 * whole only up to its atomic size, so a longer line goes as several, the
 * rest starting with CONTINUED. */
static size_t
piece_max(const output_t *o, int first)
{
    size_t eol = o->info.crlf ? 2 : 1;

    if (o->info.atomic == 0)
        return (size_t)-1;
    return o->info.atomic - eol - (first ? 0 : strlen(CONTINUED));
}

static size_t
bytes_for(const output_t *o, size_t n)
{
    size_t total = 0, eol = o->info.crlf ? 2 : 1;
    int first = 1;

    do {
        size_t take = n < piece_max(o, first) ? n : piece_max(o, first);

        total += (first ? 0 : strlen(CONTINUED)) + take + eol;
        n -= take;
        first = 0;
    } while (n > 0);
    return total;
}

/* Appends one line (text without its '\n'), or drops and counts it. */
static int
append(output_t *o, const char *text, size_t n)
{
    int first = 1;

    if (reserve(o, bytes_for(o, n)) != 0) {
        count_drops(o, 1);
        return -1;
    }
    do {
        size_t take = n < piece_max(o, first) ? n : piece_max(o, first);

        if (!first)
            put(o, CONTINUED, strlen(CONTINUED));
        put(o, text, take);
        put_eol(o);
        text += take;
        n -= take;
        first = 0;
    } while (n > 0);
    return 0;
}

/* Whole lines from `at` that fit one write. */
static size_t
chunk(const output_t *o, size_t at)
{
    size_t n = o->len - at;

    if (o->info.atomic == 0 || n <= o->info.atomic)
        return n;
    n = o->info.atomic;
    while (n > 0 && o->buf[at + n - 1] != '\n')
        n--;
    return n; /* lines are never longer (append cut them) */
}

/* One line on o alone: how many lines did not get through. */
static void
note_drops(output_t *o)
{
    char stamp[64], text[160];
    unsigned long n = o->dropped;

    lb_log_stamp(stamp, sizeof(stamp));
    snprintf(text, sizeof(text), "%s%lu log line(s) dropped: the log "
             "output did not keep up", stamp, n);
    if (append(o, text, strlen(text)) == 0)
        o->dropped = 0;
}

/* Writes as much as o takes now. */
static void
flush_output(output_t *o)
{
    size_t done = 0;
    long w = 0;

    if (o->out != NULL)
        count_drops(o, lb_logout_lost(o->out));
    while (o->out != NULL && done < o->len) {
        size_t n = chunk(o, done);

        w = lb_logout_write(o->out, o->buf + done, n);
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    if (w < 0 && w != LB_EAGAIN) {
        /* The reader is gone or the disk is full: these are lost. */
        count_drops(o, count_lines(o->buf + done, o->len - done));
        done = o->len;
    }
    if (done > 0) {
        memmove(o->buf, o->buf + done, o->len - done);
        o->len -= done;
    }
    if (o->len == 0 && o->dropped > 0 && w > 0) {
        note_drops(o);
        flush_output(o); /* once: the note is the only line */
    }
}

static int
pending(int disk)
{
    for (size_t i = 0; i < NOUTPUTS; i++)
        if (lg.outputs[i].len > 0 && lg.outputs[i].info.disk == disk)
            return 1;
    return 0;
}

static void
arm(void)
{
    if (lg.loop == NULL || lb_timer_active(&lg.timer))
        return;
    if (pending(0))
        lb_timer_start(&lg.timer, lg.retry_ms);
    else if (pending(1))
        lb_timer_start(&lg.timer, DISK_MS);
}

static void
on_timer(lb_timer_t *t)
{
    int waiting = pending(0);
    (void)t;

    for (size_t i = 0; i < NOUTPUTS; i++)
        flush_output(&lg.outputs[i]);
    /* A reader that stays stalled is tried less and less often. */
    if (waiting && pending(0))
        lg.retry_ms = lg.retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS
                                                    : lg.retry_ms * 2;
    else
        lg.retry_ms = RETRY_MIN_MS;
    arm();
}

/* A line was added to o: write it now where that cannot wait for a disk
 * or a reader, else soon. A burst that fills half a file's buffer before
 * the timer is written at once rather than dropped: the page cache
 * normally takes it without waiting, and a disk that makes the write wait
 * would make the timer's wait just the same. */
static void
kick(output_t *o)
{
    if (lg.loop == NULL || !o->info.disk || o->len > BUFFER_MAX / 2)
        flush_output(o);
    arm();
}

void
lb__log_line(int to, const char *line, size_t len, size_t console_skip)
{
    output_t *con, *file = &lg.outputs[OUT_FILE];

    adopt();
    if (to != LB_LOG_NO_CONSOLE && !lg.std_opened)
        open_std();
    con = to == LB_LOG_NO_CONSOLE ? NULL : lg.std[to];
    if (con != NULL && con->info.stamped)
        console_skip = 0;
    if (con != NULL && con->out != NULL &&
        append(con, line + console_skip, len - console_skip - 1) == 0)
        kick(con);
    if (file->out != NULL && append(file, line, len - 1) == 0)
        kick(file);
}

/* The log file is out from now on; returns the previous one. */
static lb_logout_t *
switch_file(lb_logout_t *out)
{
    output_t *o = &lg.outputs[OUT_FILE];
    lb_logout_t *old = o->out;

    adopt();
    if (old != NULL) {
        flush_output(o); /* what the previous one was owed (a reload) */
        count_drops(o, count_lines(o->buf, o->len));
        o->len = 0;
    }
    set_output(o, out);
    return old;
}

/* Opening and closing a file wait for the disk, and a close for the
 * output's writer (Windows): both outside the lock, which every loop's
 * lines take. */
int
lb_log_open_file(const char *path, const char *owner, char *err,
                 size_t errlen)
{
    lb_logout_t *out = NULL, *old;
    int rc;

    if (path != NULL) {
        rc = lb_logout_open(path, &out, err, errlen);
        if (rc == 0 && owner != NULL)
            rc = lb_logout_give(out, owner, err, errlen);
        if (rc != 0) {
            if (out != NULL)
                lb_logout_close(out);
            return rc;
        }
    }
    lb_log_lock();
    old = switch_file(out);
    lb_log_unlock();
    if (old != NULL)
        lb_logout_close(old);
    return 0;
}

static int
reopen_std(char *err, size_t errlen)
{
    int rc = 0;

    if (!lg.std_opened)
        open_std();
    for (size_t i = 0; i < 2; i++) {
        output_t *o = lg.std[i];

        if (o->out == NULL || (i == 1 && lg.std[1] == lg.std[0]))
            continue;
        flush_output(o);
        if (rc == 0)
            rc = lb_logout_reopen(o->out, err, errlen);
    }
    return rc;
}

int
lb_log_reopen_std(char *err, size_t errlen)
{
    int rc;

    lb_log_lock();
    rc = reopen_std(err, errlen);
    lb_log_unlock();
    return rc;
}

static int
rotate_at(uint64_t max)
{
    int any = 0;

    if (!lg.std_opened)
        open_std();
    for (size_t i = 0; i < NOUTPUTS; i++)
        if (lg.outputs[i].out != NULL &&
            lb_logout_rotate_at(lg.outputs[i].out, max, 5) == 0)
            any = 1;
    return any || max == 0 ? 0 : LB_ENOTSUP;
}

int
lb_log_rotate_at(uint64_t max)
{
    int rc;

    lb_log_lock();
    rc = rotate_at(max);
    lb_log_unlock();
    return rc;
}

static void flush_all(int wait_ms);

void
lb_log_attach(lb_loop_t *loop)
{
    if (lb_workers_share_process())
        return; /* no timers (above); the process's last flush writes */
    if (lg.loop != NULL)
        lb_timer_stop(&lg.timer);
    lg.loop = loop;
    lg.retry_ms = RETRY_MIN_MS;
    if (loop == NULL) {
        flush_all(LB_LOG_EXIT_WAIT_MS);
        return;
    }
    lb_timer_init(loop, &lg.timer, on_timer, NULL);
    arm();
}

void
lb_log_count_drops(lb_atomic_t *counter)
{
    lb_log_lock();
    lg.drops = counter;
    lb_log_unlock();
}

static void
flush_all(int wait_ms)
{
    adopt();
    for (size_t i = 0; i < NOUTPUTS; i++) {
        output_t *o = &lg.outputs[i];

        flush_output(o);
        for (int left = wait_ms; o->out != NULL && left > 0;
             left -= WAIT_SLICE_MS) {
            int idle = lb_logout_wait(o->out, WAIT_SLICE_MS);

            flush_output(o);
            if (idle && o->len == 0)
                break;
        }
        count_drops(o, count_lines(o->buf, o->len));
        o->len = 0;
    }
}

void
lb_log_flush(int wait_ms)
{
    lb_log_lock();
    flush_all(wait_ms);
    lb_log_unlock();
}

void
lb_log_close(void)
{
    lb_log_lock();
    flush_all(LB_LOG_EXIT_WAIT_MS);
    for (size_t i = 0; i < NOUTPUTS; i++) {
        output_t *o = &lg.outputs[i];

        if (o->out != NULL)
            lb_logout_close(o->out);
        free(o->buf);
        memset(o, 0, sizeof(*o));
    }
    lg.std_opened = 0;
    lb_log_unlock();
}
