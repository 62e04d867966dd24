/* test_log.c - the log's outputs over the fake platform: a reader with no
 * room never makes a line wait on the loop (it is buffered, then dropped
 * and counted, and a note says so), writes keep whole lines within the
 * size a pipe keeps whole, a file is written from a timer; and the lines
 * a flood could multiply come at most once a second. */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_platform.h"
#include "lb_log.h"

void lb_test_log_register(void);

static lb_loop_t *loop;
static lb_atomic_t dropped;

static void
open_fake_output(int disk, size_t atomic, int full)
{
    char err[64];
    lb_allocator_t alloc = {NULL, NULL, NULL, 16};

    fake_reset();
    CU_ASSERT_EQUAL_FATAL(lb_loop_new(&loop, &alloc), 0);
    memset(&fake_log, 0, sizeof(fake_log));
    fake_log.disk = disk;
    fake_log.atomic = atomic;
    fake_log.full = full;
    CU_ASSERT_EQUAL_FATAL(lb_log_open_file("fake:out", NULL, err,
                                           sizeof(err)), 0);
    lb_log_attach(loop);
    dropped.value = 0;
    lb_log_count_drops(&dropped);
}

static void
close_fake_output(void)
{
    char err[64];

    lb_log_attach(NULL);
    lb_log_count_drops(NULL);
    CU_ASSERT_EQUAL(lb_log_open_file(NULL, NULL, err, sizeof(err)), 0);
    lb_loop_free(loop);
    fake_reset();
}

static size_t
count(const char *needle)
{
    size_t n = 0;
    const char *p = fake_log.written;

    fake_log.written[fake_log.nwritten] = '\0';
    while ((p = strstr(p, needle)) != NULL) {
        n++;
        p += strlen(needle);
    }
    return n;
}

/* A pipe nobody reads: lines wait in a bounded buffer, the rest are
 * dropped and counted; once it is read, everything buffered comes out in
 * whole lines no write larger than the pipe keeps whole, then a note. */
static void
test_stalled_reader_drops_and_counts(void)
{
    open_fake_output(0, 512, 1);
    for (int i = 0; i < 10000; i++)
        lb_log("line %05d of a reader that does not read", i);
    CU_ASSERT_EQUAL(fake_log.nwritten, 0);
    CU_ASSERT(lb_atomic_load(&dropped) > 4000);
    CU_ASSERT(lb_atomic_load(&dropped) < 10000);
    fake_log.full = 0;
    fake_advance(400); /* the retry timer, backed off to its longest */
    CU_ASSERT_EQUAL(count("of a reader that does not read\n"),
                    10000 - (size_t)lb_atomic_load(&dropped));
    CU_ASSERT(fake_log.max_write <= 512);
    CU_ASSERT_EQUAL(fake_log.cut_writes, 0);
    CU_ASSERT_EQUAL(count(" log line(s) dropped: the log output did not "
                          "keep up\n"), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(fake_log.written, "line 00000 "));
    close_fake_output();
}

/* A line longer than a pipe keeps whole goes as several, each whole, the
 * rest marked as continued. */
static void
test_long_line_cut_for_a_pipe(void)
{
    char text[300];

    open_fake_output(0, 100, 0);
    memset(text, 'x', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    lb_log("%s", text);
    CU_ASSERT(fake_log.max_write <= 100);
    CU_ASSERT_EQUAL(fake_log.cut_writes, 0);
    CU_ASSERT_EQUAL(count("\n"), 4); /* 30 + 299 bytes of text in 4 */
    CU_ASSERT_EQUAL(count("\n... x"), 3);
    CU_ASSERT_EQUAL(count("x"), 299);
    close_fake_output();
}

/* Lines are formatted once into a buffer of 512 bytes; a longer one is
 * formatted again into one of its size, and comes out whole. */
static void
test_line_longer_than_the_format_buffer(void)
{
    char text[1500];

    open_fake_output(0, 0, 0);
    for (size_t i = 0; i < sizeof(text) - 1; i++)
        text[i] = (char)('a' + i % 26);
    text[sizeof(text) - 1] = '\0';
    lb_log("%s|%d", text, 42);
    CU_ASSERT_EQUAL(count("\n"), 1);
    CU_ASSERT_EQUAL(count(text), 1);
    CU_ASSERT_EQUAL(count("|42\n"), 1);
    lb_log("short %d", 7);
    CU_ASSERT_EQUAL(count("] short 7\n"), 1);
    close_fake_output();
}

/* A file on disk is written from a timer, not as lines come; a burst that
 * fills half its buffer is written at once rather than dropped. */
static void
test_disk_written_from_a_timer(void)
{
    open_fake_output(1, 0, 0);
    lb_log("to the disk later");
    CU_ASSERT_EQUAL(fake_log.nwritten, 0);
    fake_advance(99);
    CU_ASSERT_EQUAL(fake_log.nwritten, 0);
    fake_advance(1);
    CU_ASSERT_EQUAL(count("to the disk later\n"), 1);
    for (int i = 0; i < 5000; i++)
        lb_log("burst line %04d with some text to fill the buffer", i);
    CU_ASSERT(fake_log.nwritten > 128 * 1024);
    fake_advance(100);
    CU_ASSERT_EQUAL(count("to fill the buffer\n"), 5000);
    CU_ASSERT_EQUAL(lb_atomic_load(&dropped), 0);
    close_fake_output();
}

/* ---- at most a line a second ---- */

static char reports[8][128];
static int nreports;

static void
report(lb_lograte_t *r)
{
    if (nreports < 8)
        snprintf(reports[nreports++], sizeof(reports[0]), "%lu %s", r->held,
                 r->who);
}

static void
test_lograte_first_at_once_then_one_a_second(void)
{
    lb_allocator_t alloc = {NULL, NULL, NULL, 16};
    lb_lograte_t r;

    fake_reset();
    nreports = 0;
    CU_ASSERT_EQUAL_FATAL(lb_loop_new(&loop, &alloc), 0);
    lb_lograte_init(&r, loop, report, NULL);
    strcpy(r.who, "a");
    lb_lograte_event(&r);
    CU_ASSERT_EQUAL(nreports, 1); /* the first at once */
    for (int i = 0; i < 3; i++) {
        fake_advance(100);
        snprintf(r.who, sizeof(r.who), "b%d", i);
        lb_lograte_event(&r);
    }
    CU_ASSERT_EQUAL(nreports, 1);
    fake_advance(699);
    CU_ASSERT_EQUAL(nreports, 1);
    fake_advance(1); /* a second after the first: the three, the last named */
    CU_ASSERT_EQUAL(nreports, 2);
    CU_ASSERT_STRING_EQUAL(reports[1], "3 b2");
    fake_advance(5000);
    strcpy(r.who, "c");
    lb_lograte_event(&r); /* a quiet second later: at once again */
    CU_ASSERT_EQUAL(nreports, 3);
    CU_ASSERT_STRING_EQUAL(reports[2], "1 c");
    strcpy(r.who, "d");
    lb_lograte_event(&r);
    lb_lograte_stop(&r); /* its owner goes: what is held is told */
    CU_ASSERT_EQUAL(nreports, 4);
    CU_ASSERT_STRING_EQUAL(reports[3], "1 d");
    lb_loop_free(loop);
    fake_reset();
}

/* A reload opens the log file again (lb_run_open_log): the previous one
 * is closed, which on Windows waits for its writer thread, outside the
 * lock that every loop's lines take; and no path takes that lock (a
 * Windows SRW lock, not recursive) twice. */
static void
test_reopened_file_closed_outside_the_lock(void)
{
    char err[64];

    open_fake_output(0, 0, 0);
    lb_log("before the reload");
    CU_ASSERT_EQUAL(lb_log_open_file("fake:out", NULL, err, sizeof(err)), 0);
    lb_log("after the reload");
    CU_ASSERT_EQUAL(count("before the reload"), 1);
    CU_ASSERT_EQUAL(count("after the reload"), 1);
    CU_ASSERT_EQUAL(fake_log.closed_locked, 0);
    CU_ASSERT_EQUAL(fake_log.relocked, 0);
    close_fake_output();
}

void
lb_test_log_register(void)
{
    CU_pSuite s = CU_add_suite("log outputs", NULL, NULL);

    CU_add_test(s, "a stalled reader: buffered, dropped, counted, noted",
                test_stalled_reader_drops_and_counts);
    CU_add_test(s, "a long line is cut for a pipe",
                test_long_line_cut_for_a_pipe);
    CU_add_test(s, "a line longer than the format buffer comes whole",
                test_line_longer_than_the_format_buffer);
    CU_add_test(s, "a file is written from a timer",
                test_disk_written_from_a_timer);
    CU_add_test(s, "a reopened file is closed outside the lock",
                test_reopened_file_closed_outside_the_lock);
    CU_add_test(s, "at most a line a second",
                test_lograte_first_at_once_then_one_a_second);
}
