/* test_loops.c - the core where its workers are loops of one process
 * (Windows, lb_workers_share_process): two servers on two loops attached
 * to one listener; the statistics served by slot 0 alone, a process-wide
 * connection limit split between the loops, a listener that stays open
 * until the last loop detaches, and a reload each loop takes over. */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "fake_platform.h"
#include "lb_config.h"
#include "lb_server.h"

void lb_test_loops_register(void);

static const char CONFIG[] =
    "[options]\n"
    "buffer_size = 16\n"
    "processes = 2\n"
    "max_connections = 3\n"
    "stats = 127.0.0.1:9100\n"
    "[mappings]\n"
    "127.0.0.1:8080 = 10.0.0.1:80\n"
    "127.0.0.1:8081 = 10.0.0.2:80\n";

/* The reload's: 8080 moves to another backend, 8081 goes, stats stays. */
static const char NEXT[] =
    "[options]\n"
    "buffer_size = 16\n"
    "processes = 2\n"
    "stats = 127.0.0.1:9100\n"
    "[mappings]\n"
    "127.0.0.1:8080 = 10.0.0.5:80\n";

static lb_config_t cfg, next;
static lb_shared_t shared, next_shared;
static lb_listener_t *listeners[3];  /* 8080, 8081, stats */
static lb_listener_t *nlisteners[2]; /* 8080 (the same), stats (the same) */
static lb_server_t *srv[2];
static lb_server_t *current[2];

static void
load(const char *text, lb_config_t *out)
{
    char *err = NULL;

    CU_ASSERT_EQUAL_FATAL(lb_config_load_string("t.cfg", text, strlen(text),
                                                out, NULL, NULL, &err), 0);
}

/* Two loops (slots 0 and 1), each serving every listener, as
 * lb_run_workers starts them on Windows. */
static void
start_loops(void)
{
    size_t idx[3] = {0, 1, 2};

    fake_reset();
    fake.share_process = 1;
    load(CONFIG, &cfg);
    CU_ASSERT_EQUAL_FATAL(cfg.processes, 2);
    for (size_t i = 0; i < 2; i++)
        CU_ASSERT_EQUAL_FATAL(lb_listener_bind(&cfg.listeners[i].listen, 16,
                                               &listeners[i]), 0);
    CU_ASSERT_EQUAL_FATAL(lb_listener_bind(&cfg.stats.addr, 16,
                                           &listeners[2]), 0);
    CU_ASSERT_EQUAL_FATAL(lb_shared_create(&cfg, &shared), 0);
    for (unsigned k = 0; k < 2; k++) {
        srv[k] = current[k] = calloc(1, sizeof(*srv[k]));
        CU_ASSERT_PTR_NOT_NULL_FATAL(srv[k]);
        CU_ASSERT_EQUAL_FATAL(lb_server_init(srv[k], &cfg, listeners,
                                             &shared, idx, 3, k), 0);
        srv[k]->current = &current[k];
    }
}

static void
end_loops(void)
{
    for (unsigned k = 0; k < 2; k++) {
        lb_session_abort_all(current[k], 1);
        fake_run_closes();
        lb_server_fini(current[k]);
        free(current[k]);
    }
    for (size_t i = 0; i < 3; i++)
        lb_listener_close(listeners[i]);
    lb_config_free(&cfg);
    lb_config_free(&next);
    lb_shared_release(&shared);
    lb_shared_release(&next_shared);
    fake_reset();
}

/* Slot 0 serves the statistics for both loops, as it runs the checks;
 * both loops are attached to the relayed listeners. */
static void
test_stats_on_slot_zero_only(void)
{
    start_loops();
    CU_ASSERT_PTR_NOT_NULL(srv[0]->stats);
    CU_ASSERT_PTR_NULL(srv[1]->stats);
    CU_ASSERT_EQUAL(srv[0]->nserved, 2);
    CU_ASSERT_EQUAL(srv[1]->nserved, 2);
    CU_ASSERT_EQUAL(fake_attached(listeners[0]), 2);
    CU_ASSERT_EQUAL(fake_attached(listeners[2]), 1);
    end_loops();
}

/* max_connections = 3 is the process's: each of the two loops takes
 * ceil(3 / 2) = 2, then stops taking clients while the other goes on. */
static void
test_connection_limit_split(void)
{
    lb_stream_t *c, *b;

    start_loops();
    CU_ASSERT_EQUAL(srv[0]->max_active, 2);
    CU_ASSERT_EQUAL(srv[1]->max_active, 2);
    fake.listener = listeners[0];
    fake_accept_on(srv[1]->loop, "192.0.2.7");
    CU_ASSERT(!fake_paused_on(listeners[0], srv[1]->loop));
    c = fake_accept_on(srv[1]->loop, "192.0.2.8");
    b = fake.last_connect;
    fake_connected(b, 0);
    CU_ASSERT(fake_paused_on(listeners[0], srv[1]->loop));
    CU_ASSERT(fake_paused_on(listeners[1], srv[1]->loop));
    CU_ASSERT(!fake_paused_on(listeners[0], srv[0]->loop));
    CU_ASSERT_EQUAL(srv[1]->active, 2);
    fake_deliver(c, NULL, 0, 0); /* one ends: room again */
    fake_deliver(b, NULL, 0, 0);
    fake_run_closes();
    CU_ASSERT_EQUAL(srv[1]->active, 1);
    CU_ASSERT(!fake_paused_on(listeners[0], srv[1]->loop));
    end_loops();
}

/* A stop reaches each loop on its own: the listener stays open while
 * one loop is still attached, and closes with the last detach. */
static void
test_listener_closes_with_the_last_detach(void)
{
    lb_loop_t *loop0;

    start_loops();
    loop0 = srv[0]->loop;
    fake_stop_on(srv[1]->loop);
    CU_ASSERT_EQUAL(fake_attached(listeners[0]), 1);
    CU_ASSERT(!fake_listener_closed(listeners[0]));
    CU_ASSERT(fake_loop_stopped(srv[1]->loop));
    fake_stop_on(loop0);
    CU_ASSERT_EQUAL(fake_attached(listeners[0]), 0);
    CU_ASSERT(fake_listener_closed(listeners[0]));
    CU_ASSERT(fake_listener_closed(listeners[2]));
    CU_ASSERT(fake_loop_stopped(loop0));
    end_loops();
}

static int released[2];

static void
note_release(void *ctx)
{
    *(int *)ctx += 1;
}

/* The supervisor parsed and bound the new configuration once; each loop
 * takes it over. 8080 is handed over on both (never closed), 8081 stays
 * open until the second loop has retired its old server, and each old
 * server goes once drained, under the old configuration. */
static void
test_reload_taken_over_by_each_loop(void)
{
    size_t idx[2] = {0, 1};
    lb_stream_t *c_old, *b_old, *c_new;

    start_loops();
    load(NEXT, &next);
    nlisteners[0] = listeners[0];
    nlisteners[1] = listeners[2];
    CU_ASSERT_EQUAL_FATAL(lb_shared_create(&next, &next_shared), 0);
    fake.listener = listeners[0];
    c_old = fake_accept_on(srv[1]->loop, "192.0.2.7");
    b_old = fake.last_connect;
    fake_connected(b_old, 0);
    released[0] = released[1] = 0;
    CU_ASSERT_EQUAL_FATAL(lb_server_succeed(srv[0], &next, nlisteners,
                                            &next_shared, idx, 2, NULL,
                                            note_release, &released[0]), 0);
    CU_ASSERT_EQUAL(fake_attached(listeners[0]), 2);
    CU_ASSERT_EQUAL(fake_attached(listeners[1]), 1);
    CU_ASSERT(!fake_listener_closed(listeners[1]));
    CU_ASSERT_EQUAL_FATAL(lb_server_succeed(srv[1], &next, nlisteners,
                                            &next_shared, idx, 2, NULL,
                                            note_release, &released[1]), 0);
    CU_ASSERT_EQUAL(fake_attached(listeners[0]), 2);
    CU_ASSERT(!fake_listener_closed(listeners[0]));
    CU_ASSERT(fake_listener_closed(listeners[1]));
    CU_ASSERT(!fake_listener_closed(listeners[2]));
    CU_ASSERT_PTR_NOT_NULL(current[0]->stats);
    CU_ASSERT_PTR_NULL(current[1]->stats);
    fake.listener = listeners[0];
    c_new = fake_accept_on(current[1]->loop, "192.0.2.9");
    CU_ASSERT_EQUAL(fake_backend_no(fake.last_connect), 5);
    fake_advance(0); /* the reap timers: loop 0's old server had nothing */
    CU_ASSERT_EQUAL(released[0], 1);
    CU_ASSERT_EQUAL(released[1], 0); /* c_old still relays */
    fake_deliver(c_old, NULL, 0, 0);
    fake_deliver(b_old, NULL, 0, 0);
    fake_run_closes();
    fake_advance(0);
    CU_ASSERT_EQUAL(released[1], 1);
    (void)c_new;
    end_loops();
}

void
lb_test_loops_register(void)
{
    CU_pSuite s = CU_add_suite("loops of one process (fake platform)", NULL,
                               NULL);

    CU_add_test(s, "statistics on slot 0 only", test_stats_on_slot_zero_only);
    CU_add_test(s, "the connection limit is split",
                test_connection_limit_split);
    CU_add_test(s, "the listener closes with the last detach",
                test_listener_closes_with_the_last_detach);
    CU_add_test(s, "a reload taken over by each loop",
                test_reload_taken_over_by_each_loop);
}
