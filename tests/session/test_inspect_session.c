/* test_inspect_session.c - sessions that read a client's first bytes
 * before choosing its backends (routes, persist = rdp_cookie), and the
 * per-client limits and keepalive, over the fake platform: the bytes are
 * held and relayed first and unchanged, a timeout or the client's FIN
 * sends what came to the listener's own backends, a client that goes
 * meanwhile leaves nothing behind, and listeners without routes never
 * read before connecting. */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "lb_inspect.h"
#include "session_fixture.h"
#include "session_internal.h"

void lb_test_inspect_session_register(void);

#define ROUTES_REST                                                          \
    "[listener:tls]\n"                                                       \
    "listen = 127.0.0.1:8080\n"                                              \
    "backends = 10.0.0.1:80\n"                                               \
    "inspect_timeout = 3\n"                                                  \
    "[route:a]\n"                                                            \
    "listener = tls\n"                                                       \
    "sni = a.example.com, *.b.example.com\n"                                 \
    "backends = 10.0.0.2:80\n"                                               \
    "send_proxy = v1\n"

/* buffer_size 16: a hello comes in many reads, as over a slow link. */
#define ROUTES_WITH(buffer_size)                                             \
    "[options]\n"                                                            \
    "buffer_size = " buffer_size "\n"                                        \
    "connect_timeout = 2\n"                                                  \
    ROUTES_REST
static const char ROUTES[] = ROUTES_WITH("16");

/* Delivers data to s in reads of at most 16 bytes. */
static void
deliver(lb_stream_t *s, const unsigned char *data, size_t len)
{
    for (size_t off = 0; off < len; off += 16) {
        CU_ASSERT_FATAL(s->reading);
        fake_deliver(s, (const char *)data + off,
                     len - off < 16 ? len - off : 16, 0);
    }
}

static lb_session_t *
only_session(void)
{
    CU_ASSERT_FATAL(!lb_list_empty(&srv.sessions));
    return LB_LIST_ENTRY(srv.sessions.next, lb_session_t, link);
}

static void
test_hello_in_pieces_is_held_then_relayed_first(void)
{
    unsigned char h[128];
    size_t n = tls_hello("x.b.example.com", h);
    lb_stream_t *c, *b;
    static const char proxy[] = "PROXY TCP4 192.0.2.7 127.0.0.1 40000 "
                                "8080\r\n";

    start_server_with(ROUTES);
    c = fake_accept();
    CU_ASSERT(c->reading);
    deliver(c, h, n - 1);
    CU_ASSERT_EQUAL(fake.nconnects, 0); /* one byte short: no backend */
    CU_ASSERT(c->reading);
    CU_ASSERT_EQUAL(srv.pool->in_use, 0); /* gathered in its own buffer */
    CU_ASSERT_EQUAL(only_session()->opt->ilen, n - 1);
    fake_deliver(c, (const char *)h + n - 1, 1, 0);
    b = fake.last_connect;
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(backend_no(b), 2); /* route a: *.b.example.com */
    CU_ASSERT(b->data_first);
    CU_ASSERT(!c->reading); /* nothing more is read until it is relayed */
    fake_connected(b, 0);
    fake_written(b, 0); /* the route's PROXY header first */
    CU_ASSERT_EQUAL(b->wlen, n);
    fake_written(b, 0); /* then the hello, whole and unchanged */
    CU_ASSERT_EQUAL_FATAL(b->nsent, strlen(proxy) + n);
    CU_ASSERT_NSTRING_EQUAL(b->sent, proxy, strlen(proxy));
    CU_ASSERT_EQUAL(memcmp(b->sent + strlen(proxy), h, n), 0);
    CU_ASSERT_PTR_NULL(only_session()->opt->ibuf); /* given back once written */
    CU_ASSERT(c->reading); /* the relay goes on */
    fake_deliver(c, "more", 4, 0);
    CU_ASSERT_EQUAL(b->wlen, 4);
    fake_written(b, 0);
    fake_deliver(c, NULL, 0, 0);
    fake_deliver(b, NULL, 0, 0);
    expect_logged("listener=127.0.0.1:8080 route=a backend=10.0.0.2:80 "
                  "to_backend=");
    stop_server();
}

static void
test_hello_in_one_read_is_not_copied(void)
{
    unsigned char h[128];
    size_t n = tls_hello("a.example.com", h);
    lb_stream_t *c, *b;

    start_server_with(ROUTES_WITH("4096"));
    c = fake_accept();
    fake_deliver(c, (const char *)h, n, 0);
    CU_ASSERT_PTR_NULL(only_session()->opt->ibuf);
    CU_ASSERT_EQUAL(srv.pool->in_use, 1); /* held where it was read */
    b = fake.last_connect;
    CU_ASSERT_EQUAL(backend_no(b), 2);
    fake_connected(b, 0);
    fake_written(b, 0);
    fake_written(b, 0);
    CU_ASSERT_EQUAL(srv.pool->in_use, 0);
    CU_ASSERT_EQUAL(memcmp(b->sent + b->nsent - n, h, n), 0);
    stop_server();
}

static void
test_timeout_sends_what_came_to_the_default(void)
{
    unsigned char h[128];
    size_t n = tls_hello("a.example.com", h);
    lb_stream_t *c, *b;

    start_server_with(ROUTES);
    c = fake_accept();
    deliver(c, h, 32);
    fake_advance(2999);
    CU_ASSERT_EQUAL(fake.nconnects, 0);
    fake_advance(1);
    b = fake.last_connect;
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(backend_no(b), 1); /* the listener's own */
    CU_ASSERT(c->reading);             /* the read that was out stays */
    /* The rest comes before the backend is up: held after the first. */
    fake_deliver(c, (const char *)h + 32, 16, 0);
    CU_ASSERT(!c->reading);
    fake_connected(b, 0);
    CU_ASSERT_EQUAL(b->wlen, 32);
    fake_written(b, 0);
    CU_ASSERT_EQUAL(b->wlen, 16);
    fake_written(b, 0);
    for (size_t off = 48; off < n; off += 16) {
        CU_ASSERT_FATAL(c->reading);
        fake_deliver(c, (const char *)h + off, n - off < 16 ? n - off : 16,
                     0);
        fake_written(b, 0);
    }
    CU_ASSERT_EQUAL_FATAL(b->nsent, n);
    CU_ASSERT_EQUAL(memcmp(b->sent, h, n), 0);
    fake_deliver(c, NULL, 0, 0);
    fake_deliver(b, NULL, 0, 0);
    expect_logged("route=- backend=10.0.0.1:80");
    stop_server();
}

static void
test_late_read_goes_to_the_relay(void)
{
    unsigned char h[128];
    lb_stream_t *c, *b;

    tls_hello("a.example.com", h);
    start_server_with(ROUTES);
    c = fake_accept();
    deliver(c, h, 16);
    fake_advance(3000);
    b = fake.last_connect;
    fake_connected(b, 0);
    fake_written(b, 0); /* the 16 bytes that came */
    CU_ASSERT(c->reading); /* still the inspection's read: not a second */
    fake_deliver(c, (const char *)h + 16, 16, 0);
    CU_ASSERT_EQUAL(b->wlen, 16); /* relayed at once */
    fake_written(b, 0);
    CU_ASSERT_EQUAL(b->nsent, 32);
    CU_ASSERT(c->reading);
    stop_server();
}

static void
test_client_gone_while_inspecting(void)
{
    unsigned char h[128];
    lb_stream_t *c, *b;

    tls_hello("a.example.com", h);
    start_server_with(ROUTES);
    c = fake_accept();
    deliver(c, h, 32);
    fake_deliver(c, NULL, 0, LB_ECONNRESET);
    CU_ASSERT(c->closed);
    CU_ASSERT_EQUAL(fake.nconnects, 0);
    fake_run_closes();
    CU_ASSERT_EQUAL(srv.active, 0); /* freed, ibuf with it */
    expect_logged("route=- backend=- to_backend=0 to_client=0 "
                  "connect_ms=- duration_ms=0 retries=0 end=client_reset");
    /* A FIN instead: what came goes to the default, then the FIN. */
    c = fake_accept();
    deliver(c, h, 20);
    fake_deliver(c, NULL, 0, 0);
    b = fake.last_connect;
    CU_ASSERT_EQUAL_FATAL(backend_no(b), 1);
    fake_connected(b, 0);
    fake_written(b, 0);
    CU_ASSERT_EQUAL(b->nsent, 20);
    CU_ASSERT(b->shut);
    CU_ASSERT(!c->reading);
    stop_server();
}

static void
test_abort_while_inspecting(void)
{
    unsigned char h[128];
    lb_stream_t *c;

    tls_hello("a.example.com", h);
    start_server_with(ROUTES);
    c = fake_accept();
    deliver(c, h, 48);
    lb_session_abort_all(&srv, 1);
    CU_ASSERT(c->closed);
    stop_server(); /* no session, no buffer left */
}

static void
test_not_tls_goes_to_the_default_at_once(void)
{
    lb_stream_t *c, *b;

    start_server_with(ROUTES);
    c = fake_accept();
    fake_deliver(c, "GET / HTTP/1.0\r\n", 16, 0);
    b = fake.last_connect;
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(backend_no(b), 1);
    CU_ASSERT(b->data_first);
    fake_connected(b, 0);
    fake_written(b, 0);
    CU_ASSERT_NSTRING_EQUAL(b->sent, "GET / HTTP/1.0\r\n", 16);
    stop_server();
}

static void
test_no_route_and_no_own_backends_is_closed(void)
{
    static const char only_routes[] =
        "[listener:tls]\nlisten = 127.0.0.1:8080\n"
        "[route:a]\nlistener = tls\nsni = a.example.com\n"
        "backends = 10.0.0.2:80\n";
    unsigned char h[128];
    size_t n = tls_hello("nope.example.com", h);
    lb_stream_t *c;

    start_server_with(only_routes);
    c = fake_accept();
    fake_deliver(c, (const char *)h, n, 0);
    CU_ASSERT(c->closed);
    CU_ASSERT_EQUAL(fake.nconnects, 0);
    expect_logged("No route for client 192.0.2.7:40000 on 127.0.0.1:8080");
    expect_logged("end=no_route");
    CU_ASSERT_EQUAL(lb_atomic_load(
        &shared.counters[0].refused[LB_STATS_REFUSED_NO_ROUTE]), 1);
    stop_server();
}

static void
test_listener_without_routes_reads_nothing_first(void)
{
    lb_stream_t *c;

    start_server_with("[options]\nbuffer_size = 16\n[mappings]\n"
                      "127.0.0.1:8080 = 10.0.0.1:80\n");
    c = fake_accept();
    CU_ASSERT(!c->reading); /* no read before the backend is up */
    CU_ASSERT_EQUAL(fake.nconnects, 1);
    CU_ASSERT_EQUAL(c->keepalive_calls, 0);
    stop_server();
}

/* ---- RDP cookie persistence ---- */

static const char RDP[] =
    "[options]\n"
    "buffer_size = 4096\n"
    "[listener:rdp]\n"
    "listen = 127.0.0.1:8080\n"
    "backends = 10.0.0.1:80, 10.0.0.2:80, 10.0.0.3:80\n"
    "persist = rdp_cookie\n"
    "persist_timeout = 60\n";

static size_t
rdp_request(const char *cookie, unsigned char *out)
{
    size_t n = strlen(cookie);

    out[0] = 3;
    out[1] = 0;
    out[2] = (unsigned char)((11 + n) >> 8);
    out[3] = (unsigned char)(11 + n);
    out[4] = (unsigned char)(6 + n);
    out[5] = 0xE0;
    memset(out + 6, 0, 5);
    memcpy(out + 11, cookie, n);
    return 11 + n;
}

/* A client sends cookie; returns the backend it is sent to (connected
 * with status), ending the session. */
static int
rdp_client(const char *cookie, int status)
{
    unsigned char req[300];
    size_t n = rdp_request(cookie, req);
    lb_stream_t *c = fake_accept(), *b;
    int no;

    fake_deliver(c, (const char *)req, n, 0);
    b = fake.last_connect;
    no = backend_no(b);
    fake_connected(b, status);
    if (status == 0) {
        fake_written(b, 0);
        lb__session_end(lb_stream_data(c), END_CLOSED, 0);
    }
    fake_run_closes();
    return no;
}

static void
test_rdp_cookie_sticks_and_moves_off_a_down_backend(void)
{
    int alice, bob;

    start_server_with(RDP);
    alice = rdp_client("Cookie: mstshash=alice\r\n", 0);
    bob = rdp_client("Cookie: mstshash=bob\r\n", 0);
    CU_ASSERT_EQUAL(alice, 1);
    CU_ASSERT_EQUAL(bob, 2);
    for (int i = 0; i < 4; i++) {
        CU_ASSERT_EQUAL(rdp_client("Cookie: mstshash=alice\r\n", 0), alice);
        CU_ASSERT_EQUAL(rdp_client("Cookie: mstshash=bob\r\n", 0), bob);
    }
    /* alice's backend is taken out of service: she is sent elsewhere,
     * and stays there. */
    lb_atomic_store(&shared.state[0][alice - 1].down, LB_DOWN_CHECKS);
    lb_atomic_store(&shared.state[0][alice - 1].down_until,
                    LB_DOWN_UNTIL_CHECKED);
    alice = rdp_client("Cookie: mstshash=alice\r\n", 0);
    CU_ASSERT_NOT_EQUAL(alice, 1);
    lb_atomic_store(&shared.state[0][0].down, LB_UP); /* back: she stays */
    CU_ASSERT_EQUAL(rdp_client("Cookie: mstshash=alice\r\n", 0), alice);
    stop_server();
}

static void
test_rdp_routing_token_names_the_backend(void)
{
    char token[64];

    /* 10.0.0.3 little-endian is 50331658; port 80 swapped is 20480. */
    snprintf(token, sizeof(token), "Cookie: msts=%u.%u.0000\r\n",
             10u | 3u << 24, 80u << 8);
    start_server_with(RDP);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(rdp_client(token, 0), 3);
    stop_server();
}

static void
test_rdp_without_cookie_uses_the_algorithm(void)
{
    start_server_with(RDP);
    CU_ASSERT_EQUAL(rdp_client("", 0), 1);
    CU_ASSERT_EQUAL(rdp_client("", 0), 2);
    CU_ASSERT_EQUAL(rdp_client("", 0), 3);
    stop_server();
}

/* ---- per-client limits, keepalive ---- */

static void
test_max_conns_per_client(void)
{
    lb_stream_t *c1, *c2, *c3, *other, *b;

    start_server_with("[options]\nmax_conns_per_client = 2\n"
                      "tcp_keepalive = 30\n[mappings]\n"
                      "127.0.0.1:8080 = 10.0.0.1:80\n");
    c1 = established(&b);
    CU_ASSERT_EQUAL(c1->keepalive, 30);
    CU_ASSERT_EQUAL(b->keepalive, 30);
    c2 = established(&b);
    c3 = fake_accept();
    CU_ASSERT(c3->closed);
    CU_ASSERT_EQUAL(c3->close_how, LB_CLOSE_RESET);
    fake_run_closes(); /* freed: what it counted is not taken twice */
    CU_ASSERT(fake_accept()->closed);
    fake_run_closes();
    CU_ASSERT(fake_accept()->closed);
    CU_ASSERT_EQUAL(fake.nconnects, 2);
    other = fake_accept_from("192.0.2.8");
    CU_ASSERT(!other->closed);
    CU_ASSERT_EQUAL(fake.nconnects, 3);
    expect_logged("127.0.0.1:8080: refused 1 client(s) over per-client "
                  "limits (last from 192.0.2.7:40000: max_conns_per_client)");
    CU_ASSERT_PTR_NULL(strstr(logged(), "end=refused")); /* no line each */
    lb__session_end(lb_stream_data(c1), END_CLOSED, 0);
    fake_run_closes();
    c3 = fake_accept();
    CU_ASSERT(!c3->closed); /* a place came free */
    (void)c2;
    stop_server();
}

static void
test_rate_per_client(void)
{
    lb_stream_t *c;

    start_server_with("[options]\nmax_conn_rate_per_client = 2/10\n"
                      "[mappings]\n127.0.0.1:8080 = 10.0.0.1:80\n");
    CU_ASSERT(!fake_accept()->closed);
    CU_ASSERT(!fake_accept()->closed);
    c = fake_accept();
    CU_ASSERT(c->closed);
    fake_advance(4999);
    CU_ASSERT(fake_accept()->closed);
    fake_advance(1); /* one every 10 / 2 s */
    CU_ASSERT(!fake_accept()->closed);
    CU_ASSERT(fake_accept()->closed);
    CU_ASSERT_EQUAL(lb_atomic_load(&shared.counters[0].refused
                                        [LB_STATS_REFUSED_CLIENT_RATE]), 3);
    stop_server();
}

void
lb_test_inspect_session_register(void)
{
    static const struct {
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"hello in pieces: held, then relayed first",
         test_hello_in_pieces_is_held_then_relayed_first},
        {"hello in one read: not copied",
         test_hello_in_one_read_is_not_copied},
        {"inspect_timeout: what came goes to the default",
         test_timeout_sends_what_came_to_the_default},
        {"inspect_timeout: the read left out goes to the relay",
         test_late_read_goes_to_the_relay},
        {"client gone while inspecting", test_client_gone_while_inspecting},
        {"abort while inspecting", test_abort_while_inspecting},
        {"not TLS: the default at once",
         test_not_tls_goes_to_the_default_at_once},
        {"no route, no own backends: closed",
         test_no_route_and_no_own_backends_is_closed},
        {"no routes: nothing read before connecting",
         test_listener_without_routes_reads_nothing_first},
        {"RDP cookie sticks, moves off a down backend",
         test_rdp_cookie_sticks_and_moves_off_a_down_backend},
        {"RDP routing token names the backend",
         test_rdp_routing_token_names_the_backend},
        {"RDP without cookie: the algorithm",
         test_rdp_without_cookie_uses_the_algorithm},
        {"max_conns_per_client and keepalive", test_max_conns_per_client},
        {"max_conn_rate_per_client", test_rate_per_client},
    };
    CU_pSuite s = CU_add_suite("inspecting sessions (fake platform)", NULL,
                               NULL);

    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
        CU_add_test(s, tests[i].name, tests[i].fn);
}
