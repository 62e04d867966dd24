/* test_listeners.c - listeners on a real loop over 127.0.0.1: the
 * client's address comes with the accept (and ours with the accepted
 * stream), and an accept callback may close its own listener. */
#include <CUnit/CUnit.h>
#include <string.h>

#include "lb_bufpool.h"
#include "loop_fixture.h"
#include "unit.h"

#define NCLIENTS 3
#define TICK_MS 20
#define WATCHDOG_MS 5000

static struct rig {
    lb_loop_t *loop;
    lb_bufpool_t pool;
    lb_listener_t *listener;
    lb_addr_t addr;
    lb_stream_t *clients[NCLIENTS], *accepted[NCLIENTS];
    int nconnected, naccepted, open, done, timed_out;
    int close_at;       /* the accept callback closes the listener at this
                         * accept (1-based), 0: never */
    int peer_given;     /* the first accept came with the client's address */
    lb_addr_t peer, local;
    lb_addr_t client_local[NCLIENTS]; /* each connected client's */
    int nlocal;
    lb_timer_t tick, watchdog;
} L;

static void
on_closed(lb_stream_t *s)
{
    (void)s;
    if (--L.open == 0 && L.done)
        lb_loop_stop(L.loop);
}

static void
close_stream(lb_stream_t **sp)
{
    if (*sp == NULL)
        return;
    L.open++;
    lb_stream_close(*sp, LB_CLOSE_NORMAL, on_closed);
    *sp = NULL;
}

static void
finish(void)
{
    L.done = 1;
    lb_timer_stop(&L.tick);
    lb_timer_stop(&L.watchdog);
    if (L.listener) {
        lb_listener_detach(L.loop, L.listener);
        lb_listener_close(L.listener);
        L.listener = NULL;
    }
    for (int i = 0; i < NCLIENTS; i++) {
        close_stream(&L.clients[i]);
        close_stream(&L.accepted[i]);
    }
    if (L.open == 0)
        lb_loop_stop(L.loop);
}

static void
on_connect(lb_stream_t *s, int status)
{
    /* A client still in the backlog when its listener closed may be
     * reset instead. */
    if (status == 0)
        CU_ASSERT_EQUAL(lb_stream_local(s, &L.client_local[L.nlocal++]), 0);
    L.nconnected++;
}

static void
on_accept(lb_listener_t *l, lb_stream_t *s, const lb_addr_t *peer,
          int status, void *data)
{
    (void)data;
    CU_ASSERT_EQUAL_FATAL(status, 0);
    if (L.naccepted == 0) {
        L.peer_given = peer != NULL;
        if (peer)
            L.peer = *peer;
        CU_ASSERT_EQUAL(lb_stream_local(s, &L.local), 0);
    }
    L.accepted[L.naccepted++] = s;
    if (L.naccepted == L.close_at) {
        lb_listener_detach(L.loop, l);
        lb_listener_close(l); /* l must outlive this callback's caller */
        L.listener = NULL;
    }
}

/* Done once every client's connect came back and, unless the listener
 * was closed early, every client was accepted. */
static void
on_tick(lb_timer_t *t)
{
    int all = L.close_at ? 1 : L.naccepted == NCLIENTS;

    if (L.nconnected == NCLIENTS && all) {
        finish();
        return;
    }
    lb_timer_start(t, TICK_MS);
}

static void
on_watchdog(lb_timer_t *t)
{
    (void)t;
    L.timed_out = 1;
    lb_loop_stop(L.loop);
}

static void
run(int close_at)
{
    lb_allocator_t a;

    memset(&L, 0, sizeof(L));
    L.close_at = close_at;
    lb_bufpool_init(&L.pool, 64, 4);
    a = lb_bufpool_allocator(&L.pool);
    CU_ASSERT_EQUAL_FATAL(lb_loop_new(&L.loop, &a), 0);
    CU_ASSERT_EQUAL_FATAL(lf_bind_free(23500, 16, &L.addr, &L.listener), 0);
    CU_ASSERT_EQUAL_FATAL(lb_listener_start(L.loop, L.listener, on_accept,
                                            NULL), 0);
    for (int i = 0; i < NCLIENTS; i++)
        CU_ASSERT_EQUAL_FATAL(lb_stream_connect(L.loop, &L.addr, on_connect,
                                                NULL, &L.clients[i]), 0);
    lb_timer_init(L.loop, &L.tick, on_tick, NULL);
    lb_timer_init(L.loop, &L.watchdog, on_watchdog, NULL);
    lb_timer_start(&L.tick, TICK_MS);
    lb_timer_start(&L.watchdog, WATCHDOG_MS);
    CU_ASSERT_EQUAL(lb_loop_run(L.loop), 0);
    CU_ASSERT(!L.timed_out);
    CU_ASSERT(L.done);
    CU_ASSERT_EQUAL(L.open, 0);
    lb_loop_free(L.loop);
    lb_bufpool_free(&L.pool);
}

/* Windows: from GetAcceptExSockaddrs, no getpeername per client. */
static void
test_addresses_come_with_the_accept(void)
{
    int found = 0;

    run(0);
    CU_ASSERT_EQUAL(L.naccepted, NCLIENTS);
    CU_ASSERT(L.peer_given);
    CU_ASSERT(lb_addr_equal(&L.local, &L.addr));
    CU_ASSERT_EQUAL(L.nlocal, NCLIENTS);
    for (int i = 0; i < L.nlocal; i++)
        found += lb_addr_equal(&L.peer, &L.client_local[i]);
    CU_ASSERT_EQUAL(found, 1); /* the peer is one of the clients */
}

/* The listener is freed once the platform no longer needs it, not inside
 * lb_listener_close under the accept loop (ASan catches the use after
 * free this was; under Wine it runs the same path). */
static void
test_accept_callback_closes_its_listener(void)
{
    run(1);
    CU_ASSERT_EQUAL(L.naccepted, 1);
}

void
lb_test_listeners_register(void)
{
    CU_pSuite s = CU_add_suite("listeners", NULL, NULL);

    CU_add_test(s, "addresses come with the accept",
                test_addresses_come_with_the_accept);
    CU_add_test(s, "an accept callback closes its listener",
                test_accept_callback_closes_its_listener);
}
