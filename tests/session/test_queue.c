/* test_queue.c - the queue (queue_timeout, max_queue) over the fake
 * platform: clients wait for a slot in arrival order without a read or a
 * buffer, a newcomer goes behind those waiting, one past max_queue is
 * refused, a slot freed goes to the oldest, queue_timeout resets, and a
 * client that goes away (FIN or reset, seen by the watch) is dropped while
 * one that sends bytes keeps its place; the queue's counters. */
#include <CUnit/Basic.h>
#include <string.h>

#include "session_fixture.h"

void lb_test_queue_register(void);

static const char CONFIG[] =
    "[options]\n"
    "buffer_size = 16\n"
    "max_conns = 1\n"
    "queue_timeout = 5\n"
    "max_queue = 2\n"
    "[mappings]\n"
    "127.0.0.1:8080 = 10.0.0.1:80\n";

static void
start(void)
{
    start_server_with(CONFIG);
}

static void
stop(void)
{
    stop_server();
}

static lb_listener_counters_t *
counters(void)
{
    return &shared.counters[0];
}

/* The client holding the only slot, relaying. */
static lb_stream_t *
holder(lb_stream_t **backend)
{
    lb_stream_t *c = fake_accept();

    *backend = fake.last_connect;
    CU_ASSERT_PTR_NOT_NULL_FATAL(*backend);
    fake_connected(*backend, 0);
    return c;
}

/* Lets the queue's timer look for a slot. */
static void
poll_queue(void)
{
    fake_advance(25);
}

static void
test_waits_unread_then_served_in_order(void)
{
    lb_stream_t *b0, *a, *q1, *q2, *q3;
    int connects;

    start();
    a = holder(&b0);
    connects = fake.nconnects;
    q1 = fake_accept();
    q2 = fake_accept();
    CU_ASSERT_EQUAL(fake.nconnects, connects); /* no backend for them */
    CU_ASSERT(q1->watching && !q1->reading && !q1->closed);
    CU_ASSERT(q2->watching && !q2->reading);
    CU_ASSERT_EQUAL(srv.pool->in_use, 0); /* waiting holds no buffer */
    CU_ASSERT_EQUAL(lb_atomic_load(&counters()->queued[0]), 2);
    q3 = fake_accept(); /* past max_queue = 2 */
    CU_ASSERT(q3->closed);
    CU_ASSERT_EQUAL(lb_atomic_load(&counters()->refused[1]), 1);
    expect_logged("127.0.0.1:8080: its queue is full (max_queue); closing "
                  "new client connections");
    fake_watch_fire(q2, 0); /* q2 sends bytes: still waiting, unread */
    CU_ASSERT(!q2->closed);
    poll_queue();
    CU_ASSERT_EQUAL(fake.nconnects, connects); /* still full */
    /* The holder leaves: the oldest waiting client gets the slot. */
    fake_deliver(a, NULL, 0, LB_ECONNRESET);
    fake_run_closes();
    poll_queue();
    CU_ASSERT_EQUAL(fake.nconnects, connects + 1);
    fake_connected(fake.last_connect, 0);
    CU_ASSERT(q1->reading); /* q1 relays: the read took the watch over */
    CU_ASSERT(!q1->watching);
    CU_ASSERT(q2->watching == 0 && !q2->reading && !q2->closed);
    CU_ASSERT_EQUAL(lb_atomic_load(&counters()->queued[0]), 1);
    CU_ASSERT_EQUAL(lb_atomic_load(&counters()->dequeued), 1);
    CU_ASSERT(lb_atomic_load(&counters()->wait_ms) >= 25);
    stop();
}

static void
test_newcomer_goes_behind(void)
{
    lb_stream_t *b0, *a, *q1, *late;
    int connects;

    start();
    a = holder(&b0);
    q1 = fake_accept();
    connects = fake.nconnects;
    /* The slot frees, and a newcomer arrives before the poll: it must not
     * take the slot from the client that waited. */
    fake_deliver(a, NULL, 0, LB_ECONNRESET);
    fake_run_closes();
    late = fake_accept();
    CU_ASSERT_EQUAL(fake.nconnects, connects);
    CU_ASSERT(late->watching);
    poll_queue();
    CU_ASSERT_EQUAL(fake.nconnects, connects + 1);
    fake_connected(fake.last_connect, 0);
    CU_ASSERT(q1->reading);
    CU_ASSERT(late->watching && !late->reading);
    stop();
}

static void
test_timeout_resets(void)
{
    lb_stream_t *b0, *q1;

    start();
    holder(&b0);
    q1 = fake_accept();
    fake_advance(4900);
    CU_ASSERT(!q1->closed);
    fake_advance(200);
    CU_ASSERT(q1->closed);
    CU_ASSERT_EQUAL(q1->close_how, LB_CLOSE_RESET);
    expect_logged("backend=- to_backend=0 to_client=0 connect_ms=- "
                  "duration_ms=5100 retries=0 end=queue_timeout");
    CU_ASSERT_EQUAL(lb_atomic_load(&counters()->queue_timeouts), 1);
    CU_ASSERT_EQUAL(lb_atomic_load(&counters()->queued[0]), 0);
    stop();
}

static void
test_client_that_leaves_is_dropped(void)
{
    lb_stream_t *b0, *a, *q1, *q2;
    int connects;

    start();
    a = holder(&b0);
    q1 = fake_accept();
    q2 = fake_accept();
    fake_watch_fire(q1, LB_EOF); /* q1 gave up: closed its end */
    CU_ASSERT(q1->closed);
    fake_watch_fire(q2, LB_ECONNRESET);
    CU_ASSERT(q2->closed);
    CU_ASSERT_EQUAL(lb_atomic_load(&counters()->queue_left), 2);
    expect_logged("end=queue_left");
    CU_ASSERT_EQUAL(lb_atomic_load(&counters()->queued[0]), 0);
    fake_run_closes();
    connects = fake.nconnects;
    fake_deliver(a, NULL, 0, LB_ECONNRESET);
    fake_run_closes();
    poll_queue();
    CU_ASSERT_EQUAL(fake.nconnects, connects); /* nobody left to serve */
    stop();
}

/* A slot that another worker frees (or the admin API makes) is found by
 * the poll: here max_conns is raised through the shared block. */
static void
test_slot_made_elsewhere(void)
{
    lb_stream_t *b0, *q1;
    int connects;

    start();
    holder(&b0);
    q1 = fake_accept();
    connects = fake.nconnects;
    lb_atomic_store(&shared.state[0][0].max_conns, 2 + 1);
    poll_queue();
    CU_ASSERT_EQUAL(fake.nconnects, connects + 1);
    fake_connected(fake.last_connect, 0);
    CU_ASSERT(q1->reading);
    stop();
}

/* A listener that reads first bytes, and queues: a client silent past
 * inspect_timeout goes to the listener's own backends with the
 * inspection's read still out. That read is the client's watch while it
 * waits: no watch may take the read slot from under it (POSIX would
 * lose the read, Windows post a second one on the same OVERLAPPED). */
static const char INSPECTING[] =
    "[options]\n"
    "buffer_size = 256\n" /* a hello in one read */
    "max_conns = 1\n"
    "queue_timeout = 5\n"
    "inspect_timeout = 1\n"
    "[listener:l]\n"
    "listen = 127.0.0.1:8080\n"
    "backends = 10.0.0.1:80\n"
    "[route:r]\n"
    "listener = l\n"
    "sni = r.example.com\n"
    "backends = 10.0.0.2:80\n";

/* The holder, and a client queued after its inspection timed out. */
static lb_stream_t *
queued_after_inspection(lb_stream_t **holder_client, lb_stream_t **b0)
{
    lb_stream_t *q;

    start_server_with(INSPECTING);
    *holder_client = fake_accept();
    fake_deliver(*holder_client, "x\n", 2, 0); /* not TLS: the default */
    *b0 = fake.last_connect;
    CU_ASSERT_PTR_NOT_NULL_FATAL(*b0);
    fake_connected(*b0, 0);
    q = fake_accept();
    CU_ASSERT(q->reading); /* the inspection reads */
    fake_advance(1100);    /* inspect_timeout: to the default, full */
    CU_ASSERT_EQUAL(lb_atomic_load(&counters()->queued[0]), 1);
    CU_ASSERT(q->reading);   /* the read still out is its watch */
    CU_ASSERT(!q->watching); /* which nothing takes over */
    return q;
}

static void
test_inspected_client_waits_with_its_read(void)
{
    lb_stream_t *a, *b0, *q, *b;
    int connects;

    q = queued_after_inspection(&a, &b0);
    fake_deliver(q, "late\n", 5, 0); /* held while it waits */
    CU_ASSERT(!q->closed);
    connects = fake.nconnects;
    fake_deliver(a, NULL, 0, LB_ECONNRESET);
    fake_run_closes();
    poll_queue();
    CU_ASSERT_EQUAL_FATAL(fake.nconnects, connects + 1);
    b = fake.last_connect;
    fake_connected(b, 0);
    fake_written(b, 0);
    CU_ASSERT_EQUAL(b->nsent, 5);
    CU_ASSERT_NSTRING_EQUAL(b->sent, "late\n", 5);
    CU_ASSERT(q->reading); /* and the relay reads on */
    stop();
}

static void
test_inspected_client_that_leaves_is_dropped(void)
{
    lb_stream_t *a, *b0, *q;

    q = queued_after_inspection(&a, &b0);
    fake_deliver(q, NULL, 0, LB_ECONNRESET); /* the read sees it go */
    CU_ASSERT(q->closed);
    expect_logged("end=queue_left");
    CU_ASSERT_EQUAL(lb_atomic_load(&counters()->queue_left), 1);
    CU_ASSERT_EQUAL(lb_atomic_load(&counters()->queued[0]), 0);
    stop();
}

/* A route whose backends are all taken out by the admin (or full) holds
 * up its own clients only: a client of the listener's own backends, free
 * meanwhile, is served at once rather than queued behind it (and reset at
 * queue_timeout); the route's client is served once its backend is
 * ready again. */
static void
test_full_route_holds_up_only_its_own(void)
{
    unsigned char h[128];
    size_t n = tls_hello("r.example.com", h);
    lb_stream_t *r, *d;
    int connects;

    start_server_with(INSPECTING);
    lb_atomic_store(&shared.state[1][0].admin, LB_ADMIN_MAINT); /* route r */
    r = fake_accept();
    fake_deliver(r, (const char *)h, n, 0);
    CU_ASSERT(r->watching); /* waits for route r */
    connects = fake.nconnects;
    d = fake_accept();
    fake_deliver(d, "GET /\n", 6, 0); /* not TLS: the listener's own */
    CU_ASSERT(!d->watching); /* not queued behind route r's client */
    CU_ASSERT_EQUAL_FATAL(fake.nconnects, connects + 1);
    CU_ASSERT_EQUAL(backend_no(fake.last_connect), 1);
    CU_ASSERT(!d->closed);
    CU_ASSERT_EQUAL(lb_atomic_load(&counters()->queued[0]), 1);
    fake_connected(fake.last_connect, 0);
    lb_atomic_store(&shared.state[1][0].admin, LB_ADMIN_READY);
    poll_queue();
    CU_ASSERT_EQUAL(fake.nconnects, connects + 2);
    CU_ASSERT_EQUAL(backend_no(fake.last_connect), 2);
    CU_ASSERT_EQUAL(lb_atomic_load(&counters()->queued[0]), 0);
    stop();
}

void
lb_test_queue_register(void)
{
    CU_pSuite s = CU_add_suite("queue (fake platform)", NULL, NULL);

    CU_add_test(s, "waits unread, then served in order",
                test_waits_unread_then_served_in_order);
    CU_add_test(s, "a newcomer goes behind", test_newcomer_goes_behind);
    CU_add_test(s, "queue_timeout resets", test_timeout_resets);
    CU_add_test(s, "a client that leaves is dropped",
                test_client_that_leaves_is_dropped);
    CU_add_test(s, "a slot made elsewhere is found",
                test_slot_made_elsewhere);
    CU_add_test(s, "an inspected client waits with its read out",
                test_inspected_client_waits_with_its_read);
    CU_add_test(s, "an inspected client that leaves is dropped",
                test_inspected_client_that_leaves_is_dropped);
    CU_add_test(s, "a full route holds up only its own clients",
                test_full_route_holds_up_only_its_own);
}
