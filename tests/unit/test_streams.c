/* test_streams.c - streams on a real loop over 127.0.0.1: what arrived
 * while nobody was reading (bytes, a reset, the rest after a full buffer)
 * reaches the next read even though nothing more arrives to wake the
 * loop. The epoll backend is edge-triggered for streams and must remember
 * what is ready; IOCP and poll must deliver it too. And lb_stream_watch:
 * the peer's bytes, FIN or reset told apart with nothing read. */
#include <CUnit/CUnit.h>
#include <string.h>

#include "lb_bufpool.h"
#include "loop_fixture.h"
#include "unit.h"

#define WATCHDOG_MS 5000
#define PAUSE_MS 50 /* long enough for several loop rounds to pass */

enum script {
    SECOND_WRITE, RESET, FULL_BUFFERS, FIN_BEHIND_FULL, WRITE_TOOK_RESET,
    WATCH_BYTES, WATCH_FIN, WATCH_RESET, WATCH_THEN_READ
};

static struct rig {
    enum script script;
    lb_loop_t *loop;
    lb_bufpool_t pool;
    lb_listener_t *listener;
    lb_stream_t *client, *server;
    lb_timer_t watchdog, pause;
    char got[512];
    size_t ngot;
    long end; /* what a read reported instead of bytes, else 0 */
    int write_status; /* the server's write (WRITE_TOOK_RESET) */
    int reads, done, timed_out, open;
    int watched, watch_status; /* watch callbacks, and the last status */
    size_t buffers_watching;   /* buffers out while the watch waited */
} R;

static char first[] = "a", second[] = "b", bulk[200], tail[74];

static void on_read(lb_stream_t *s, long n, char *buf);

static void
on_closed(lb_stream_t *s)
{
    (void)s;
    if (--R.open == 0) {
        lb_timer_stop(&R.watchdog);
        lb_loop_stop(R.loop); /* everything is closed and freed */
    }
}

static void
close_stream(lb_stream_t **sp)
{
    if (*sp == NULL)
        return;
    R.open++;
    lb_stream_close(*sp, LB_CLOSE_NORMAL, on_closed);
    *sp = NULL;
}

/* The script is over: close what is open, and stop once the loop has
 * finished the closes (a loop cannot be run again after a stop). */
static void
finish(void)
{
    R.done = 1;
    lb_timer_stop(&R.pause);
    lb_listener_detach(R.loop, R.listener);
    lb_listener_close(R.listener);
    R.listener = NULL;
    close_stream(&R.client);
    close_stream(&R.server);
    if (R.open == 0)
        lb_loop_stop(R.loop);
}

static void
read_again(lb_timer_t *t)
{
    (void)t;
    CU_ASSERT_EQUAL(lb_stream_read(R.server, on_read), 0);
}

/* The write took the client's reset; the read after it must say so, not
 * report a plain end (common_stream.h, lb__stream_end). */
static void
on_server_write(lb_stream_t *s, int status)
{
    R.write_status = status;
    CU_ASSERT_EQUAL(lb_stream_read(s, on_read), 0);
}

static void
write_then_read(lb_timer_t *t)
{
    (void)t;
    (void)lb_stream_write(R.server, second, 1, on_server_write);
}

/* After a pause in which the loop went round while the bytes (or the
 * reset) sat unread. */
static void
read_later(void)
{
    lb_timer_start(&R.pause, PAUSE_MS);
}

static void on_client_write(lb_stream_t *s, int status);

static void
on_watch(lb_stream_t *s, int status)
{
    R.watched++;
    R.watch_status = status;
    R.buffers_watching = R.pool.in_use;
    if (status == 0) {
        CU_ASSERT_EQUAL(lb_stream_read(s, on_read), 0); /* the bytes */
    } else {
        finish();
    }
}

/* The client's bytes (or its end) come a moment after the server began
 * to wait, so the wait itself is what sees them. */
static void
client_acts(lb_timer_t *t)
{
    (void)t;
    if (R.script == WATCH_FIN || R.script == WATCH_RESET) {
        lb_stream_close(R.client, R.script == WATCH_FIN ? LB_CLOSE_NORMAL
                                                        : LB_CLOSE_RESET,
                        NULL);
        R.client = NULL;
        return;
    }
    (void)lb_stream_write(R.client, first, 1, on_client_write);
}

static void
on_client_write(lb_stream_t *s, int status)
{
    (void)s;
    CU_ASSERT_EQUAL(status, 0);
    if (R.script == SECOND_WRITE && R.reads == 1)
        read_later();
}

static void
on_read(lb_stream_t *s, long n, char *buf)
{
    (void)s;
    if (n <= 0) {
        R.end = n == 0 ? -1 : n;
        finish();
        return;
    }
    CU_ASSERT_FATAL(R.ngot + (size_t)n <= sizeof(R.got));
    memcpy(R.got + R.ngot, buf, (size_t)n);
    R.ngot += (size_t)n;
    R.reads++;
    lb_bufpool_put(&R.pool, buf);
    if (R.script == SECOND_WRITE && R.reads == 1)
        (void)lb_stream_write(R.client, second, 1, on_client_write);
    else if (R.script == RESET && R.reads == 1) {
        lb_stream_close(R.client, LB_CLOSE_RESET, NULL);
        R.client = NULL;
        read_later();
    } else if (R.script == FULL_BUFFERS && R.ngot < sizeof(bulk))
        read_later();
    else if (R.script == FIN_BEHIND_FULL && R.reads == 1) {
        /* The rest and the FIN come while nobody reads. */
        lb_stream_close(R.client, LB_CLOSE_NORMAL, NULL);
        R.client = NULL;
        read_later();
    } else if (R.script == FIN_BEHIND_FULL) {
        CU_ASSERT_EQUAL(lb_stream_read(R.server, on_read), 0);
    } else if (R.script == WRITE_TOOK_RESET && R.reads == 1) {
        /* A full buffer: the next read is a buffered one (Windows). */
        lb_stream_close(R.client, LB_CLOSE_RESET, NULL);
        R.client = NULL;
        read_later();
    } else {
        finish();
    }
}

static void
on_connect(lb_stream_t *s, int status)
{
    CU_ASSERT_EQUAL_FATAL(status, 0);
    if (R.script >= WATCH_BYTES)
        lb_timer_start(&R.pause, PAUSE_MS);
    else if (R.script == FULL_BUFFERS)
        (void)lb_stream_write(s, bulk, sizeof(bulk), on_client_write);
    else if (R.script == WRITE_TOOK_RESET)
        (void)lb_stream_write(s, bulk, 64, on_client_write);
    else if (R.script == FIN_BEHIND_FULL)
        (void)lb_stream_write(s, tail, sizeof(tail), on_client_write);
    else
        (void)lb_stream_write(s, first, 1, on_client_write);
}

static void
on_accept(lb_listener_t *l, lb_stream_t *s, const lb_addr_t *peer,
          int status, void *data)
{
    (void)l;
    (void)peer;
    (void)data;
    CU_ASSERT_EQUAL_FATAL(status, 0);
    R.server = s;
    if (R.script >= WATCH_BYTES)
        CU_ASSERT_EQUAL(lb_stream_watch(s, on_watch), 0);
    if (R.script < WATCH_BYTES || R.script == WATCH_THEN_READ)
        CU_ASSERT_EQUAL(lb_stream_read(s, on_read), 0);
}

static void
on_watchdog(lb_timer_t *t)
{
    (void)t;
    R.timed_out = 1;
    lb_loop_stop(R.loop);
}


static void
teardown(void)
{
    if (R.listener) { /* timed out: the rest leaks */
        lb_listener_detach(R.loop, R.listener);
        lb_listener_close(R.listener);
    }
    lb_loop_free(R.loop);
    lb_bufpool_free(&R.pool);
}

static void
run(enum script script, size_t buffer_size)
{
    lb_allocator_t a;
    lb_addr_t addr;

    memset(&R, 0, sizeof(R));
    R.script = script;
    lb_bufpool_init(&R.pool, buffer_size, 4);
    a = lb_bufpool_allocator(&R.pool);
    CU_ASSERT_EQUAL_FATAL(lb_loop_new(&R.loop, &a), 0);
    CU_ASSERT_EQUAL_FATAL(lf_bind_free(23000, 16, &addr, &R.listener), 0);
    CU_ASSERT_EQUAL_FATAL(lb_listener_start(R.loop, R.listener, on_accept,
                                            NULL), 0);
    CU_ASSERT_EQUAL_FATAL(lb_stream_connect(R.loop, &addr, on_connect, NULL,
                                            &R.client), 0);
    lb_timer_init(R.loop, &R.watchdog, on_watchdog, NULL);
    lb_timer_init(R.loop, &R.pause,
                  script >= WATCH_BYTES        ? client_acts
                  : script == WRITE_TOOK_RESET ? write_then_read
                                               : read_again,
                  NULL);
    lb_timer_start(&R.watchdog, WATCHDOG_MS);
    CU_ASSERT_EQUAL(lb_loop_run(R.loop), 0);
    CU_ASSERT(R.done);
    CU_ASSERT(!R.timed_out);
    CU_ASSERT_EQUAL(R.open, 0);
}

static void
test_bytes_that_came_while_not_reading(void)
{
    run(SECOND_WRITE, 64);
    CU_ASSERT_EQUAL(R.reads, 2);
    CU_ASSERT_EQUAL(R.ngot, 2);
    CU_ASSERT(memcmp(R.got, "ab", 2) == 0);
    teardown();
}

static void
test_reset_that_came_while_not_reading(void)
{
    run(RESET, 64);
    CU_ASSERT_EQUAL(R.ngot, 1);
    CU_ASSERT(R.end < 0); /* a reset (an orderly end under Wine) */
    teardown();
}

static void
test_rest_after_full_buffers(void)
{
    for (size_t i = 0; i < sizeof(bulk); i++)
        bulk[i] = (char)('A' + i % 26);
    run(FULL_BUFFERS, 64);
    CU_ASSERT_EQUAL(R.ngot, sizeof(bulk));
    CU_ASSERT(memcmp(R.got, bulk, sizeof(bulk)) == 0);
    teardown();
}

/* A full buffer first, so the next read goes straight to the socket
 * rather than through the loop; it reads the last bytes short, and the
 * FIN that came meanwhile must still be reported by the read after. */
static void
test_fin_behind_full_buffer(void)
{
    memset(tail, 'z', sizeof(tail));
    run(FIN_BEHIND_FULL, 64);
    CU_ASSERT_EQUAL(R.ngot, sizeof(tail));
    CU_ASSERT_EQUAL(R.end, LB_EOF);
    teardown();
}

/* A full buffer read, the client resets, a write takes the reset: the
 * read after it (a buffered one on Windows, as bulk flows) reports the
 * write's error, never a plain end that would be passed on as a FIN. */
static void
test_end_after_a_write_took_a_reset(void)
{
    run(WRITE_TOOK_RESET, 64);
    CU_ASSERT_EQUAL(R.ngot, 64);
    CU_ASSERT(R.write_status < 0);
    CU_ASSERT_EQUAL(R.end, R.write_status);
    teardown();
}

static void
test_watch_sees_bytes_and_leaves_them(void)
{
    run(WATCH_BYTES, 64);
    CU_ASSERT_EQUAL(R.watched, 1);
    CU_ASSERT_EQUAL(R.watch_status, 0);
    CU_ASSERT_EQUAL(R.buffers_watching, 0); /* nothing was read */
    CU_ASSERT_EQUAL(R.ngot, 1);              /* the read got the byte */
    CU_ASSERT(memcmp(R.got, "a", 1) == 0);
    teardown();
}

static void
test_watch_sees_fin(void)
{
    run(WATCH_FIN, 64);
    CU_ASSERT_EQUAL(R.watched, 1);
    CU_ASSERT_EQUAL(R.watch_status, LB_EOF);
    teardown();
}

static void
test_watch_sees_reset(void)
{
    run(WATCH_RESET, 64);
    CU_ASSERT_EQUAL(R.watched, 1);
    CU_ASSERT(R.watch_status < 0); /* a reset (an orderly end under Wine) */
    teardown();
}

static void
test_read_takes_a_watch_over(void)
{
    run(WATCH_THEN_READ, 64);
    CU_ASSERT_EQUAL(R.watched, 0);
    CU_ASSERT_EQUAL(R.ngot, 1);
    teardown();
}

void
lb_test_streams_register(void)
{
    CU_pSuite s = CU_add_suite("streams", NULL, NULL);

    CU_add_test(s, "bytes that came while not reading",
                test_bytes_that_came_while_not_reading);
    CU_add_test(s, "a reset that came while not reading",
                test_reset_that_came_while_not_reading);
    CU_add_test(s, "the rest after full buffers", test_rest_after_full_buffers);
    CU_add_test(s, "a FIN behind a full buffer", test_fin_behind_full_buffer);
    CU_add_test(s, "the end after a write took a reset",
                test_end_after_a_write_took_a_reset);
    CU_add_test(s, "a watch sees bytes and leaves them",
                test_watch_sees_bytes_and_leaves_them);
    CU_add_test(s, "a watch sees the peer's FIN", test_watch_sees_fin);
    CU_add_test(s, "a watch sees a reset", test_watch_sees_reset);
    CU_add_test(s, "a read takes a watch over", test_read_takes_a_watch_over);
}
