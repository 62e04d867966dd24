/* test_session.c - the core's session, retry and drain logic driven step by
 * step over the fake platform: no sockets, a manual clock, and every
 * completion delivered by the test. */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_platform.h"
#include "lb_config.h"
#include "lb_log.h"
#include "lb_server.h"
#include "session_fixture.h"

static const char CONFIG[] =
    "[options]\n"
    "buffer_size = 16\n"
    "connect_timeout = 2\n"
    "graceful_shutdown_timeout = 6\n"
    "[mappings]\n"
    "127.0.0.1:8080 = 10.0.0.1:80, 10.0.0.2:80, 10.0.0.3:80\n";


static const char IDLE_CONFIG[] =
    "[options]\n"
    "buffer_size = 16\n"
    "idle_timeout = 30\n"
    "[listener:web]\n"
    "listen = 127.0.0.1:8080\n"
    "backends = 10.0.0.1:80\n"
    "idle_timeout = 10\n"
    "half_close_timeout = 3\n";

static void
start_server(void)
{
    start_server_with(CONFIG);
}

static void
test_relay_and_half_close(void)
{
    lb_stream_t *b, *c;

    start_server();
    c = established(&b);
    CU_ASSERT(!b->data_first); /* the backend may be the first to speak */
    CU_ASSERT_EQUAL(srv.pool->in_use, 0); /* idle: no buffer */
    fake_deliver(c, "hello", 5, 0);
    CU_ASSERT(b->writing);
    CU_ASSERT(!c->reading); /* not read again before the chunk is out */
    CU_ASSERT_EQUAL(srv.pool->in_use, 1);
    fake_written(b, 0);
    CU_ASSERT(c->reading);
    CU_ASSERT_EQUAL(srv.pool->in_use, 0);
    fake_deliver(c, NULL, 0, 0); /* client FIN */
    CU_ASSERT(b->shut);
    CU_ASSERT(!b->closed);
    fake_deliver(b, "world", 5, 0); /* the other way keeps flowing */
    fake_written(c, 0);
    fake_deliver(b, NULL, 0, 0);
    CU_ASSERT(c->closed && b->closed);
    CU_ASSERT_EQUAL(c->close_how, LB_CLOSE_NORMAL);
    CU_ASSERT_EQUAL(b->nsent, 5);
    CU_ASSERT_NSTRING_EQUAL(b->sent, "hello", 5);
    CU_ASSERT_NSTRING_EQUAL(c->sent, "world", 5);
    fake_run_closes();
    CU_ASSERT_EQUAL(srv.active, 0);
    stop_server();
}

/* When the platform knows the bytes it read were the last (the FIN is in
 * behind them), they are written with lb_stream_write_last, and the FIN
 * is passed on right after they are out, with no other write between. */
static void
test_last_bytes_go_with_the_fin(void)
{
    lb_stream_t *b, *c;

    start_server();
    c = established(&b);
    fake_deliver(c, "GET", 3, 0);
    CU_ASSERT(b->writing && !b->write_last); /* more may follow */
    fake_written(b, 0);
    b->eof_next = 1;
    fake_deliver(b, "reply", 5, 0);
    CU_ASSERT(c->writing && c->write_last);
    CU_ASSERT(!c->shut); /* not before the bytes were handed over */
    fake_written(c, 0);
    CU_ASSERT(b->reading);
    fake_deliver(b, NULL, 0, 0); /* what the platform reports next */
    CU_ASSERT(c->shut);
    CU_ASSERT(!c->writing);
    CU_ASSERT_NSTRING_EQUAL(c->sent, "reply", 5);
    fake_deliver(c, NULL, 0, 0);
    CU_ASSERT(c->closed && b->closed);
    CU_ASSERT_EQUAL(c->close_how, LB_CLOSE_NORMAL);
    fake_run_closes();
    stop_server();
}

/* A relayed stream resets should the worker die (the kernel would close
 * it with a FIN): the client's from the start, the backend's once it is
 * connected, never one that failed to connect. */
static void
test_relayed_streams_reset_if_the_worker_dies(void)
{
    lb_stream_t *b, *c;

    start_server();
    c = fake_accept();
    b = fake.last_connect;
    CU_ASSERT(c->reset_on_exit);
    CU_ASSERT(!b->reset_on_exit);
    fake_connected(b, LB_ECONNREFUSED);
    CU_ASSERT(!b->reset_on_exit);
    b = fake.last_connect;
    fake_connected(b, 0);
    CU_ASSERT(b->reset_on_exit);
    stop_server();
}

static void
test_both_directions_hold_at_most_two_buffers(void)
{
    lb_stream_t *b, *c;

    start_server();
    c = established(&b);
    fake_deliver(c, "0123456789abcdef", 16, 0);
    fake_deliver(b, "fedcba9876543210", 16, 0);
    CU_ASSERT_EQUAL(srv.pool->in_use, 2);
    CU_ASSERT(!c->reading && !b->reading); /* backpressure both ways */
    fake_written(b, 0);
    fake_written(c, 0);
    CU_ASSERT_EQUAL(srv.pool->in_use, 0);
    stop_server();
}

static void
test_round_robin_across_clients(void)
{
    int order[6];

    start_server();
    for (int i = 0; i < 6; i++) {
        fake_accept();
        order[i] = fake_backend_no(fake.last_connect);
    }
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(order[i], i % 3 + 1);
    stop_server();
}

static void
test_retry_each_backend_once_then_close(void)
{
    lb_stream_t *c;
    int seen[4] = {0, 0, 0, 0};

    start_server();
    c = fake_accept();
    for (int i = 0; i < 3; i++) {
        lb_stream_t *b = fake.last_connect;
        seen[fake_backend_no(b)]++;
        fake_connected(b, LB_ECONNREFUSED);
        CU_ASSERT(b->closed);
    }
    CU_ASSERT_EQUAL(fake.nconnects, 3);
    CU_ASSERT(seen[1] == 1 && seen[2] == 1 && seen[3] == 1);
    CU_ASSERT(c->closed); /* promptly, not left hanging */
    fake_run_closes();
    CU_ASSERT_EQUAL(srv.active, 0);
    stop_server();
}

static void
test_connect_timeout_retries_elsewhere(void)
{
    lb_stream_t *first;

    start_server();
    fake_accept();
    first = fake.last_connect;
    fake_advance(1999);
    CU_ASSERT_EQUAL(fake.nconnects, 1);
    fake_advance(1);
    CU_ASSERT(first->closed);
    CU_ASSERT_EQUAL(fake.nconnects, 2);
    CU_ASSERT_NOT_EQUAL(fake_backend_no(fake.last_connect),
                        fake_backend_no(first));
    stop_server();
}

static void
test_connect_failing_at_once_is_bounded(void)
{
    lb_stream_t *c;

    start_server();
    fake.connect_fails_at_once = LB_EMFILE;
    c = fake_accept();
    CU_ASSERT(c->closed);
    CU_ASSERT_EQUAL(fake.nconnects, 0);
    stop_server();
}

/* An active check that fails because this host is out of local ports
 * gives no verdict: with fall = 1 the backend stays up; a refused check
 * then takes it out. */
static void
test_check_failing_locally_gives_no_verdict(void)
{
    start_server_with("[options]\ncheck_interval = 1\nfall = 1\n"
                      "[mappings]\n127.0.0.1:8080 = 10.0.0.1:80\n");
    fake_advance(0);
    CU_ASSERT_EQUAL_FATAL(fake.nconnects, 1);
    fake_connected(fake.last_connect, LB_EADDRNOTAVAIL);
    CU_ASSERT_EQUAL(lb_atomic_load(&shared.state[0][0].down), LB_UP);
    fake_advance(1000);
    CU_ASSERT_EQUAL_FATAL(fake.nconnects, 2);
    fake_connected(fake.last_connect, LB_ECONNREFUSED);
    CU_ASSERT_EQUAL(lb_atomic_load(&shared.state[0][0].down),
                    LB_DOWN_CHECKS);
    stop_server();
}

static void
test_backend_reset_resets_client(void)
{
    lb_stream_t *b, *c;

    start_server();
    c = established(&b);
    fake_deliver(b, NULL, 0, LB_ECONNRESET);
    CU_ASSERT(c->closed && b->closed);
    /* the client's reset waits for the bytes already written to it */
    CU_ASSERT_EQUAL(c->close_how, LB_CLOSE_DRAIN_RESET);
    CU_ASSERT_EQUAL(b->close_how, LB_CLOSE_RESET);
    CU_ASSERT_EQUAL(fake.nconnects, 1); /* no retry once connected */
    stop_server();
}

static void
test_sink_gone_lets_other_way_finish(void)
{
    lb_stream_t *b, *c;

    start_server();
    c = established(&b);
    fake_deliver(c, "req", 3, 0);
    fake_written(b, LB_EPIPE); /* backend went away */
    CU_ASSERT(!c->closed);      /* its last words may still be coming */
    fake_deliver(b, "bye", 3, 0);
    fake_written(c, 0);
    fake_deliver(b, NULL, 0, 0);
    CU_ASSERT(c->closed);
    CU_ASSERT_EQUAL(c->close_how, LB_CLOSE_RESET);
    CU_ASSERT_NSTRING_EQUAL(c->sent, "bye", 3);
    stop_server();
}

static void
test_drain_waits_then_cuts_at_deadline(void)
{
    lb_stream_t *b, *c;

    start_server();
    c = established(&b);
    fake_stop_request();
    CU_ASSERT(fake.listener_closed);
    CU_ASSERT(!fake.loop_stopped);
    fake_advance(5999);
    CU_ASSERT(!c->closed);
    fake_advance(1);
    CU_ASSERT(c->closed && b->closed);
    CU_ASSERT_EQUAL(c->close_how, LB_CLOSE_RESET);
    CU_ASSERT(!fake.loop_stopped); /* not before the closes completed */
    fake_run_closes();
    CU_ASSERT(fake.loop_stopped);
    stop_server();
}

static void
test_drain_ends_when_last_connection_ends(void)
{
    lb_stream_t *b, *c;

    start_server();
    c = established(&b);
    fake_stop_request();
    fake_advance(1000);
    fake_deliver(c, NULL, 0, 0);
    fake_deliver(b, NULL, 0, 0);
    CU_ASSERT_EQUAL(c->close_how, LB_CLOSE_NORMAL);
    fake_run_closes();
    CU_ASSERT(fake.loop_stopped);
    stop_server();
}

static void
test_second_stop_cuts_at_once(void)
{
    lb_stream_t *b, *c;

    start_server();
    c = established(&b);
    fake_stop_request();
    CU_ASSERT(!c->closed);
    fake_stop_request();
    CU_ASSERT(c->closed);
    fake_run_closes();
    CU_ASSERT(fake.loop_stopped);
    stop_server();
}

static void
test_idle_timeout_closes_silent_connection(void)
{
    lb_stream_t *b, *c;

    start_server_with(IDLE_CONFIG); /* the listener's 10 s, not 30 s */
    c = established(&b);
    fake_advance(9999);
    CU_ASSERT(!c->closed);
    fake_advance(1);
    CU_ASSERT(c->closed && b->closed);
    CU_ASSERT_EQUAL(c->close_how, LB_CLOSE_NORMAL);
    stop_server();
}

static void
test_activity_postpones_idle_timeout(void)
{
    lb_stream_t *b, *c;

    start_server_with(IDLE_CONFIG);
    c = established(&b);
    for (int i = 0; i < 5; i++) {
        fake_advance(6000);
        fake_deliver(c, "ping", 4, 0);
        fake_advance(100);
        fake_written(b, 0);
    }
    CU_ASSERT(!c->closed); /* 30 s old, never 10 s silent */
    fake_advance(10000);
    CU_ASSERT(c->closed);
    stop_server();
}

static void
test_half_close_timeout(void)
{
    lb_stream_t *b, *c;

    start_server_with(IDLE_CONFIG);
    c = established(&b);
    fake_advance(1000);
    fake_deliver(c, NULL, 0, 0); /* client FIN: half-closed from now on */
    fake_advance(2999);
    CU_ASSERT(!c->closed);
    fake_advance(1);
    CU_ASSERT(c->closed && b->closed);
    stop_server();
}

static const char LIMIT_CONFIG[] =
    "[listener:small]\n"
    "listen = 127.0.0.1:8080\n"
    "backends = 10.0.0.1:80\n"
    "max_connections = 2\n";

static void
test_listener_limit_pauses_and_resumes(void)
{
    lb_stream_t *b1, *c1, *b2;

    start_server_with(LIMIT_CONFIG);
    CU_ASSERT_EQUAL(srv.max_active, (1024 - 64) / 2); /* from fd limit */
    c1 = established(&b1);
    CU_ASSERT(!fake.listener_paused);
    established(&b2);
    CU_ASSERT(fake.listener_paused); /* the third waits in the backlog */
    fake_deliver(c1, NULL, 0, 0);
    fake_deliver(b1, NULL, 0, 0);
    CU_ASSERT(fake.listener_paused); /* not before the close completed */
    fake_run_closes();
    CU_ASSERT(!fake.listener_paused);
    stop_server();
}

/* The default cap where memory, not descriptors, bounds connections
 * (Windows): 1/8 of memory at 128 KiB of kernel buffers plus four
 * buffers of buffer_size (16) per connection; at least 1000, memory
 * counted up to 128 GiB. max_connections, when set, is the cap. */
static void
test_connection_cap_from_memory(void)
{
    char what[160];
    const uint64_t gib = (uint64_t)1 << 30, per = 131072 + 4 * 16;

    start_server();
    fake.fd_limit = 0;
    fake.memory_bound = 16 * gib;
    CU_ASSERT_EQUAL(lb_server_conn_limit(&cfg, what, sizeof(what)),
                    16 * gib / 8 / per);
    CU_ASSERT_STRING_EQUAL(what, ", max_connections not set: at most 16376 "
                                 "connections, for 1/8 of 16384 MiB of "
                                 "memory");
    fake.memory_bound = gib / 2;
    CU_ASSERT_EQUAL(lb_server_conn_limit(&cfg, what, sizeof(what)), 1000);
    fake.memory_bound = 1024 * gib;
    CU_ASSERT_EQUAL(lb_server_conn_limit(&cfg, what, sizeof(what)),
                    128 * gib / 8 / per);
    fake.memory_bound = 0; /* unknown: no cap */
    CU_ASSERT_EQUAL(lb_server_conn_limit(&cfg, what, sizeof(what)), 0);
    CU_ASSERT_STRING_EQUAL(what, "");
    cfg.max_connections = 500;
    fake.memory_bound = 16 * gib;
    CU_ASSERT_EQUAL(lb_server_conn_limit(&cfg, what, sizeof(what)), 500);
    CU_ASSERT_STRING_EQUAL(what, "");
    fake.fd_limit = 1024; /* POSIX: the descriptor limit, as it was */
    cfg.max_connections = 0;
    CU_ASSERT_EQUAL(lb_server_conn_limit(&cfg, what, sizeof(what)),
                    (1024 - 64) / 2);
    CU_ASSERT_STRING_EQUAL(what, ", up to 1024 open files");
    stop_server();
}

static void
test_no_idle_limit_by_default(void)
{
    lb_stream_t *b, *c;

    start_server();
    c = established(&b);
    fake_advance(24u * 3600u * 1000u);
    CU_ASSERT(!c->closed);
    stop_server();
}

static const char ACL_CONFIG[] =
    "[listener:web]\n"
    "listen = 127.0.0.1:8080\n"
    "backends = 10.0.0.1:80\n"
    "allow = 192.0.2.0/24\n"
    "deny = 192.0.2.66\n";

/* A refused client is reset at once: no session, no connect, no buffer. */
static void
expect_refused(const char *host)
{
    lb_stream_t *c = fake_accept_from(host);

    CU_ASSERT(c->closed);
    CU_ASSERT_EQUAL(c->close_how, LB_CLOSE_RESET);
    CU_ASSERT(!c->reading);
    CU_ASSERT_EQUAL(fake.nconnects, 0);
    CU_ASSERT_EQUAL(srv.active, 0);
    CU_ASSERT(lb_list_empty(&srv.sessions));
    CU_ASSERT_EQUAL(srv.pool->in_use, 0);
}

static void
test_allow_deny_refuse_before_a_backend(void)
{
    lb_stream_t *c;

    start_server_with(ACL_CONFIG);
    expect_refused("198.51.100.1"); /* not allowed: logged at once */
    CU_ASSERT_EQUAL(srv.served[0].refused_log.held, 0);
    expect_refused("192.0.2.66");   /* allowed, but denied: deny wins */
    expect_refused(NULL);           /* no address: cannot be checked */
    CU_ASSERT_EQUAL(srv.served[0].refused_log.held, 2); /* within the second */
    fake_advance(999);
    CU_ASSERT_EQUAL(srv.served[0].refused_log.held, 2);
    fake_advance(1); /* the timer writes the line with the count */
    CU_ASSERT_EQUAL(srv.served[0].refused_log.held, 0);
    fake_run_closes();
    c = fake_accept_from("::ffff:192.0.2.7"); /* mapped: as 192.0.2.7 */
    CU_ASSERT(!c->closed);
    CU_ASSERT_EQUAL(fake.nconnects, 1);
    CU_ASSERT_EQUAL(srv.active, 1);
    stop_server();
}

static int released;

static void
note_release(void *ctx)
{
    *(int *)ctx = 1;
}

/* An in-loop reload (Windows): the new server takes the listener over on
 * the same loop; new clients reach the new backends, the connection open
 * before goes on under the old configuration, and the old server goes
 * once it is drained; then a stop ends the loop. */
static void
test_in_loop_reload_succession(void)
{
    static const char next_text[] =
        "[mappings]\n127.0.0.1:8080 = 10.0.0.5:80\n";
    lb_config_t next;
    lb_shared_t next_shared;
    lb_server_t *first = calloc(1, sizeof(*first)), *current = first;
    lb_stream_t *b_old, *c_old, *b_new, *c_new;
    size_t idx = 0;
    char *err = NULL;

    fake_reset();
    CU_ASSERT_PTR_NOT_NULL_FATAL(first);
    CU_ASSERT_EQUAL_FATAL(lb_config_load_string("t.cfg", CONFIG,
                                                strlen(CONFIG), &cfg, NULL,
                                                NULL, &err), 0);
    CU_ASSERT_EQUAL_FATAL(lb_config_load_string("n.cfg", next_text,
                                                strlen(next_text), &next,
                                                NULL, NULL, &err), 0);
    CU_ASSERT_EQUAL_FATAL(lb_listener_bind(&cfg.listeners[0].listen, 16,
                                           &listeners[0]), 0);
    CU_ASSERT_EQUAL_FATAL(lb_shared_create(&cfg, &shared), 0);
    CU_ASSERT_EQUAL_FATAL(lb_shared_create(&next, &next_shared), 0);
    CU_ASSERT_EQUAL_FATAL(lb_server_init(first, &cfg, listeners, &shared,
                                         &idx, 1, 0), 0);
    first->current = &current;
    c_old = fake_accept();
    b_old = fake.last_connect;
    fake_connected(b_old, 0);
    released = 0;
    CU_ASSERT_EQUAL_FATAL(lb_server_succeed(first, &next, listeners,
                                            &next_shared, &idx, 1, NULL,
                                            note_release, &released), 0);
    CU_ASSERT_PTR_NOT_EQUAL_FATAL(current, first);
    CU_ASSERT(!fake.listener_closed); /* handed over, never closed */
    c_new = fake_accept();
    b_new = fake.last_connect;
    CU_ASSERT_EQUAL(fake_backend_no(b_new), 5);
    fake_connected(b_new, 0);
    CU_ASSERT_EQUAL(current->active, 1);
    CU_ASSERT_EQUAL(first->active, 1);
    /* A reload cuts nothing: long past graceful_shutdown_timeout, the old
     * connection still relays, with the old server's buffers. */
    fake_advance(600000);
    CU_ASSERT(!c_old->closed);
    fake_deliver(c_old, "old", 3, 0);
    fake_written(b_old, 0);
    CU_ASSERT_NSTRING_EQUAL(b_old->sent, "old", 3);
    fake_deliver(c_old, NULL, 0, 0);
    fake_deliver(b_old, NULL, 0, 0);
    fake_run_closes();
    CU_ASSERT(!released);
    fake_advance(0); /* the reap timer */
    CU_ASSERT(released);
    CU_ASSERT_PTR_NULL(current->retired);
    CU_ASSERT(!fake.loop_stopped);
    fake_stop_request();
    CU_ASSERT(!fake.loop_stopped); /* c_new drains */
    fake_deliver(c_new, NULL, 0, 0);
    fake_deliver(b_new, NULL, 0, 0);
    fake_run_closes();
    CU_ASSERT(fake.loop_stopped);
    CU_ASSERT_EQUAL(current->pool->in_use, 0);
    lb_server_fini(current);
    free(current);
    lb_listener_close(listeners[0]);
    lb_config_free(&cfg);
    lb_config_free(&next);
    lb_shared_release(&shared);
    lb_shared_release(&next_shared);
    fake_reset();
}

/* ---- the line logged as each connection ends ---- */

static void
test_log_line_of_a_relayed_connection(void)
{
    lb_stream_t *b, *c;

    start_server();
    c = fake_accept();
    b = fake.last_connect;
    fake_advance(250);
    fake_connected(b, 0);
    fake_deliver(c, "hello", 5, 0);
    fake_written(b, 0);
    fake_deliver(b, "hi", 2, 0);
    fake_written(c, 0);
    fake_advance(1000);
    fake_deliver(c, NULL, 0, 0);
    CU_ASSERT_PTR_NULL(strstr(logged(), "Connection ")); /* not yet */
    fake_deliver(b, NULL, 0, 0);
    expect_logged("Connection client=192.0.2.7:40000 listener=127.0.0.1:8080 "
                  "route=- "
                  "backend=10.0.0.1:80 to_backend=5 to_client=2 "
                  "connect_ms=250 duration_ms=1250 retries=0 end=closed\n");
    stop_server();
}

static void
test_log_line_counts_retries(void)
{
    lb_stream_t *b, *c;

    start_server();
    c = fake_accept();
    fake_connected(fake.last_connect, LB_ECONNREFUSED);
    b = fake.last_connect;
    fake_connected(b, 0);
    fake_deliver(c, NULL, 0, 0);
    fake_deliver(b, NULL, 0, 0);
    expect_logged("backend=10.0.0.2:80 to_backend=0 to_client=0 connect_ms=0 "
                  "duration_ms=0 retries=1 end=closed");
    stop_server();
}

static void
test_log_line_when_every_backend_failed(void)
{
    start_server();
    fake_accept();
    for (int i = 0; i < 3; i++) {
        fake_advance(100);
        fake_connected(fake.last_connect, LB_ECONNREFUSED);
    }
    expect_logged("backend=- to_backend=0 to_client=0 connect_ms=- "
                  "duration_ms=300 retries=2 end=connect_failed\n");
    stop_server();
}

static void
test_log_line_of_resets(void)
{
    lb_stream_t *b, *c;

    start_server();
    c = established(&b);
    fake_deliver(b, NULL, 0, LB_ECONNRESET);
    expect_logged("end=backend_reset\n");
    fake_run_closes();
    c = established(&b);
    fake_deliver(c, "abc", 3, 0);
    fake_written(b, 0);
    fake_deliver(c, NULL, 0, LB_ECONNRESET);
    expect_logged("to_backend=3 to_client=0 connect_ms=0 duration_ms=0 "
                  "retries=0 end=client_reset\n");
    stop_server();
}

static void
test_log_line_first_cause_wins(void)
{
    lb_stream_t *b, *c;

    start_server();
    c = established(&b);
    fake_deliver(c, "req", 3, 0);
    fake_written(b, LB_EPIPE); /* the backend is gone ... */
    fake_deliver(b, NULL, 0, 0); /* ... though its side ends with a FIN */
    CU_ASSERT(c->closed);
    expect_logged("end=backend_reset\n");
    stop_server();
}

static void
test_log_line_of_timeouts(void)
{
    lb_stream_t *b, *c;

    start_server_with(IDLE_CONFIG);
    established(&b);
    fake_advance(10000);
    expect_logged("listener=127.0.0.1:8080 route=- backend=10.0.0.1:80 "
                  "to_backend=0 "
                  "to_client=0 connect_ms=0 duration_ms=10000 retries=0 "
                  "end=idle_timeout\n");
    fake_run_closes();
    c = established(&b);
    fake_deliver(c, NULL, 0, 0);
    fake_advance(3000);
    expect_logged("duration_ms=3000 retries=0 end=half_close_timeout\n");
    stop_server();
}

static void
test_log_line_of_a_cut_connection(void)
{
    lb_stream_t *b;

    start_server();
    established(&b);
    fake_stop_request();
    fake_advance(6000);
    expect_logged("duration_ms=6000 retries=0 end=shutdown\n");
    stop_server();
}

static const char FULL_CONFIG[] =
    "[options]\n"
    "max_conns = 1\n"
    "[mappings]\n"
    "127.0.0.1:8080 = 10.0.0.1:80\n";

static void
test_log_line_of_a_refused_client(void)
{
    lb_stream_t *b, *c;

    start_server_with(FULL_CONFIG);
    established(&b);
    c = fake_accept(); /* the only backend is at max_conns */
    CU_ASSERT(c->closed);
    CU_ASSERT_EQUAL(fake.nconnects, 1);
    expect_logged("backend=- to_backend=0 to_client=0 connect_ms=- "
                  "duration_ms=0 retries=0 end=refused\n");
    stop_server();
}

static const char QUIET_CONFIG[] =
    "[options]\n"
    "log_connections = 1\n"
    "[listener:quiet]\n"
    "listen = 127.0.0.1:8080\n"
    "backends = 10.0.0.1:80\n"
    "log_connections = off\n";

static void
test_log_connections_off(void)
{
    lb_stream_t *b, *c;

    start_server_with(QUIET_CONFIG);
    c = established(&b);
    fake_deliver(c, NULL, 0, 0);
    fake_deliver(b, NULL, 0, 0);
    CU_ASSERT(c->closed);
    CU_ASSERT_PTR_NULL(strstr(logged(), "Connection "));
    stop_server();
}

/* ---- PROXY protocol ---- */

static const char SEND_V1_CONFIG[] =
    "[options]\n"
    "buffer_size = 16\n"
    "[listener:pp]\n"
    "listen = 127.0.0.1:8080\n"
    "backends = 10.0.0.1:80\n"
    "send_proxy = v1\n";

static const char SEND_V2_CONFIG[] =
    "[listener:pp]\n"
    "listen = 127.0.0.1:8080\n"
    "backends = 10.0.0.1:80\n"
    "send_proxy = v2\n";

static const char ACCEPT_CONFIG[] =
    "[options]\n"
    "buffer_size = 16\n"
    "connect_timeout = 2\n"
    "[listener:pp]\n"
    "listen = 127.0.0.1:8080\n"
    "backends = 10.0.0.1:80\n"
    "accept_proxy = 1\n";

static const char CHAIN_CONFIG[] =
    "[options]\n"
    "buffer_size = 16\n"
    "accept_proxy = 1\n"
    "send_proxy = v1\n"
    "[mappings]\n"
    "127.0.0.1:8080 = 10.0.0.1:80\n";

#define V1_IN "PROXY TCP4 203.0.113.9 198.51.100.1 5555 443\r\n"

/* The client sends bytes in reads of at most buffer_size (16) bytes. */
static void
deliver_chunks(lb_stream_t *c, const char *bytes, size_t len)
{
    while (len > 0) {
        size_t n = len < 16 ? len : 16;

        CU_ASSERT_FATAL(c->reading);
        fake_deliver(c, bytes, n, 0);
        bytes += n;
        len -= n;
    }
}

static void
test_send_proxy_v1_before_any_client_byte(void)
{
    static const char hdr[] = "PROXY TCP4 192.0.2.7 127.0.0.1 40000 8080\r\n";
    lb_stream_t *b, *c;

    start_server_with(SEND_V1_CONFIG);
    c = fake_accept();
    b = fake.last_connect;
    CU_ASSERT(b->data_first); /* we speak first: the header */
    fake_connected(b, 0);
    CU_ASSERT(b->writing);   /* the header */
    CU_ASSERT(!c->reading);  /* no client byte before it */
    CU_ASSERT(b->reading);   /* the backend may speak meanwhile */
    fake_written(b, 0);
    CU_ASSERT(c->reading);
    fake_deliver(c, "hello", 5, 0);
    fake_written(b, 0);
    CU_ASSERT_EQUAL(b->nsent, sizeof(hdr) - 1 + 5);
    CU_ASSERT_NSTRING_EQUAL(b->sent, hdr, sizeof(hdr) - 1);
    CU_ASSERT_NSTRING_EQUAL(b->sent + sizeof(hdr) - 1, "hello", 5);
    fake_deliver(c, NULL, 0, 0);
    fake_deliver(b, NULL, 0, 0);
    expect_logged("to_backend=5 to_client=0"); /* the header not counted */
    stop_server();
}

static void
test_send_proxy_v2(void)
{
    static const unsigned char hdr[28] = {
        0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49,
        0x54, 0x0A, 0x21, 0x11, 0x00, 0x0C, 192,  0,    2,    7,
        127,  0,    0,    1,    0x9C, 0x40, 0x1F, 0x90};
    lb_stream_t *b;

    start_server_with(SEND_V2_CONFIG);
    fake_accept();
    b = fake.last_connect;
    fake_connected(b, 0);
    fake_written(b, 0);
    CU_ASSERT_EQUAL(b->nsent, sizeof(hdr));
    CU_ASSERT(memcmp(b->sent, hdr, sizeof(hdr)) == 0);
    stop_server();
}

static void
test_abort_while_header_is_written(void)
{
    lb_stream_t *b, *c;

    start_server_with(SEND_V1_CONFIG);
    c = fake_accept();
    b = fake.last_connect;
    fake_connected(b, 0);
    CU_ASSERT(b->writing);
    fake_stop_request();
    fake_stop_request(); /* cut at once, the header still being written */
    CU_ASSERT(c->closed && b->closed);
    fake_run_closes(); /* the header's buffer is freed with the session */
    CU_ASSERT_EQUAL(srv.active, 0);
    expect_logged("end=shutdown");
    stop_server();
}

static void
test_accept_proxy_header_in_pieces(void)
{
    static const char data[] = V1_IN "hi";
    lb_stream_t *b, *c;

    start_server_with(ACCEPT_CONFIG);
    c = fake_accept();
    /* 48 bytes in reads of 16: no backend before the header is whole */
    deliver_chunks(c, data, 32);
    CU_ASSERT_EQUAL(fake.nconnects, 0);
    CU_ASSERT_EQUAL(srv.pool->in_use, 0);
    deliver_chunks(c, data + 32, sizeof(data) - 1 - 32);
    CU_ASSERT_EQUAL(fake.nconnects, 1);
    CU_ASSERT(!c->reading); /* its next bytes wait for the backend */
    CU_ASSERT_EQUAL(srv.pool->in_use, 1); /* "hi", held */
    b = fake.last_connect;
    fake_connected(b, 0);
    CU_ASSERT(b->writing);
    fake_written(b, 0);
    CU_ASSERT_EQUAL(b->nsent, 2);
    CU_ASSERT_NSTRING_EQUAL(b->sent, "hi", 2);
    CU_ASSERT(c->reading);
    CU_ASSERT_EQUAL(srv.pool->in_use, 0);
    fake_deliver(c, NULL, 0, 0);
    fake_deliver(b, NULL, 0, 0);
    expect_logged("Connection client=203.0.113.9:5555 listener=127.0.0.1:8080 "
                  "route=- "
                  "backend=10.0.0.1:80 to_backend=2 to_client=0");
    stop_server();
}

static void
test_accept_proxy_header_alone(void)
{
    lb_stream_t *b, *c;

    start_server_with(ACCEPT_CONFIG);
    c = fake_accept();
    deliver_chunks(c, "PROXY UNKNOWN\r\n", 15);
    b = fake.last_connect;
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    fake_connected(b, 0);
    CU_ASSERT(c->reading); /* nothing held: reading at once */
    CU_ASSERT(!b->writing);
    fake_deliver(c, NULL, 0, 0);
    fake_deliver(b, NULL, 0, 0);
    /* UNKNOWN: the real peer stands */
    expect_logged("Connection client=192.0.2.7:40000 ");
    stop_server();
}

static void
test_accept_proxy_garbage(void)
{
    lb_stream_t *c, *c2;
    const char *text;

    start_server_with(ACCEPT_CONFIG);
    c = fake_accept();
    fake_deliver(c, "GET / HTTP/1.0\r\n", 16, 0);
    CU_ASSERT(c->closed);
    CU_ASSERT_EQUAL(fake.nconnects, 0);
    expect_logged("No valid PROXY header from 192.0.2.7:40000 on "
                  "127.0.0.1:8080 (not a PROXY protocol header)");
    expect_logged("backend=- to_backend=0 to_client=0 connect_ms=- "
                  "duration_ms=0 retries=0 end=proxy_error\n");
    c2 = fake_accept(); /* within the second: not logged again */
    fake_deliver(c2, "PROXY TCP4 1.2.3", 16, 0);
    fake_deliver(c2, ".4 5.6.7.8 1 2\n", 15, 0);
    CU_ASSERT(c2->closed);
    text = logged();
    CU_ASSERT_PTR_NULL(strstr(strstr(text, "No valid") + 1, "No valid"));
    fake_run_closes();
    CU_ASSERT_EQUAL(srv.active, 0);
    stop_server();
}

static void
test_accept_proxy_timeout_and_eof(void)
{
    lb_stream_t *c;

    start_server_with(ACCEPT_CONFIG);
    c = fake_accept();
    fake_deliver(c, "PROXY ", 6, 0);
    fake_advance(1999);
    CU_ASSERT(!c->closed);
    fake_advance(1); /* connect_timeout = 2 */
    CU_ASSERT(c->closed);
    expect_logged("(none complete within 2.0 s)");
    fake_advance(1000);
    c = fake_accept();
    fake_deliver(c, "PROXY TCP4", 10, 0); /* kept: it came in pieces */
    fake_deliver(c, NULL, 0, 0);
    CU_ASSERT(c->closed);
    expect_logged("(closed before a complete header)");
    CU_ASSERT_EQUAL(fake.nconnects, 0);
    stop_server();
}

static void
test_abort_while_header_is_read(void)
{
    lb_stream_t *c;

    start_server_with(ACCEPT_CONFIG);
    c = fake_accept();
    fake_deliver(c, "PROXY TCP4", 10, 0);
    CU_ASSERT(c->reading);
    stop_server(); /* what was kept is freed with the session */
}

static void
test_proxy_chain_v2_in_v1_out(void)
{
    static const unsigned char in[28 + 3] = {
        0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54,
        0x0A, 0x21, 0x11, 0x00, 0x0C, 203,  0,    113,  9,    198,  51,
        100,  1,    0x15, 0xB3, 0x01, 0xBB, 'a',  'b',  'c'};
    lb_stream_t *b, *c;

    start_server_with(CHAIN_CONFIG);
    c = fake_accept();
    deliver_chunks(c, (const char *)in, sizeof(in));
    b = fake.last_connect;
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    fake_connected(b, 0);
    fake_written(b, 0); /* our header */
    fake_written(b, 0); /* then "abc" */
    CU_ASSERT_EQUAL(b->nsent, sizeof(V1_IN) - 1 + 3);
    CU_ASSERT_NSTRING_EQUAL(b->sent, V1_IN "abc", sizeof(V1_IN) - 1 + 3);
    CU_ASSERT(c->reading);
    stop_server();
}

void lb_test_stats_http_register(void);      /* test_stats_http.c */
void lb_test_log_register(void);             /* test_log.c */
void lb_test_inspect_session_register(void); /* test_inspect_session.c */
void lb_test_loops_register(void);           /* test_loops.c */
void lb_test_queue_register(void);           /* test_queue.c */

int
main(void)
{
    CU_pSuite s;
    unsigned failures;

    /* The core's log lines are not results, but some tests read them. */
    log_out = tmpfile();
    if (log_out == NULL)
        return 2;
    lb_log_redirect(log_out);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    s = CU_add_suite("session (fake platform)", NULL, NULL);
    CU_add_test(s, "relay and half-close", test_relay_and_half_close);
    CU_add_test(s, "last bytes go with the FIN", test_last_bytes_go_with_the_fin);
    CU_add_test(s, "relayed streams reset if the worker dies",
                test_relayed_streams_reset_if_the_worker_dies);
    CU_add_test(s, "at most two buffers",
                test_both_directions_hold_at_most_two_buffers);
    CU_add_test(s, "round robin across clients",
                test_round_robin_across_clients);
    CU_add_test(s, "retry each backend once, then close",
                test_retry_each_backend_once_then_close);
    CU_add_test(s, "connect timeout retries elsewhere",
                test_connect_timeout_retries_elsewhere);
    CU_add_test(s, "connect failing at once is bounded",
                test_connect_failing_at_once_is_bounded);
    CU_add_test(s, "a check failing locally gives no verdict",
                test_check_failing_locally_gives_no_verdict);
    CU_add_test(s, "backend reset resets the client",
                test_backend_reset_resets_client);
    CU_add_test(s, "sink gone: the other way finishes",
                test_sink_gone_lets_other_way_finish);
    CU_add_test(s, "drain waits, then cuts at the deadline",
                test_drain_waits_then_cuts_at_deadline);
    CU_add_test(s, "drain ends with the last connection",
                test_drain_ends_when_last_connection_ends);
    CU_add_test(s, "second stop cuts at once", test_second_stop_cuts_at_once);
    CU_add_test(s, "idle timeout closes a silent connection",
                test_idle_timeout_closes_silent_connection);
    CU_add_test(s, "activity postpones the idle timeout",
                test_activity_postpones_idle_timeout);
    CU_add_test(s, "half-close timeout", test_half_close_timeout);
    CU_add_test(s, "no idle limit by default", test_no_idle_limit_by_default);
    CU_add_test(s, "connection cap from memory",
                test_connection_cap_from_memory);
    CU_add_test(s, "listener limit pauses and resumes",
                test_listener_limit_pauses_and_resumes);
    CU_add_test(s, "in-loop reload: succession of servers",
                test_in_loop_reload_succession);
    CU_add_test(s, "allow/deny refuse before a backend",
                test_allow_deny_refuse_before_a_backend);
    CU_add_test(s, "log line of a relayed connection",
                test_log_line_of_a_relayed_connection);
    CU_add_test(s, "log line counts retries", test_log_line_counts_retries);
    CU_add_test(s, "log line when every backend failed",
                test_log_line_when_every_backend_failed);
    CU_add_test(s, "log line of resets", test_log_line_of_resets);
    CU_add_test(s, "log line: the first cause wins",
                test_log_line_first_cause_wins);
    CU_add_test(s, "log line of timeouts", test_log_line_of_timeouts);
    CU_add_test(s, "log line of a cut connection",
                test_log_line_of_a_cut_connection);
    CU_add_test(s, "log line of a refused client",
                test_log_line_of_a_refused_client);
    CU_add_test(s, "log_connections = off", test_log_connections_off);
    CU_add_test(s, "send_proxy v1 before any client byte",
                test_send_proxy_v1_before_any_client_byte);
    CU_add_test(s, "send_proxy v2", test_send_proxy_v2);
    CU_add_test(s, "abort while the header is written",
                test_abort_while_header_is_written);
    CU_add_test(s, "accept_proxy: header in pieces, data after it",
                test_accept_proxy_header_in_pieces);
    CU_add_test(s, "accept_proxy: header alone (UNKNOWN)",
                test_accept_proxy_header_alone);
    CU_add_test(s, "accept_proxy: garbage", test_accept_proxy_garbage);
    CU_add_test(s, "accept_proxy: timeout and EOF",
                test_accept_proxy_timeout_and_eof);
    CU_add_test(s, "abort while the header is read",
                test_abort_while_header_is_read);
    CU_add_test(s, "PROXY chain: v2 in, v1 out",
                test_proxy_chain_v2_in_v1_out);
    lb_test_stats_http_register();
    lb_test_log_register();
    lb_test_inspect_session_register();
    lb_test_loops_register();
    lb_test_queue_register();
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
