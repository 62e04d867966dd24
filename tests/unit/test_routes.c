/* test_routes.c - [route:NAME] sections and the options of issue 21
 * (inspect_timeout, persist, per-client limits, tcp_keepalive, table
 * sizes): parsing, inheritance and every mistake with its line; route
 * matching (exact names, wildcards, the longest suffix); the shared
 * client table (counts, the rate, IPv6 prefixes, expiry, eviction when
 * full) and the persistence table. Registered as the CUnit suite
 * "routes and tables". */
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "config_fixture.h"
#include "lb_server.h"
#include "unit.h"

static const char BASE[] =
    "[options]\n"                               /* 1 */
    "algorithm = weighted\n"                    /* 2 */
    "max_conns = 7\n"                           /* 3 */
    "[listener:tls]\n"                          /* 4 */
    "listen = 127.0.0.1:8443\n"                 /* 5 */
    "backends = 10.0.0.1:443\n"                 /* 6 */
    "send_proxy = v2\n"                         /* 7 */
    "connect_timeout = 3\n"                     /* 8 */
    "[route:api]\n"                             /* 9 */
    "listener = tls\n"                          /* 10 */
    "sni = api.example.com, *.API.example.net\n" /* 11 */
    "backends = 10.0.1.1:443, 10.0.1.2:443\n"   /* 12 */
    "algorithm = leastconn\n"                   /* 13 */
    "[mappings]\n"                              /* 14 */
    "9443 = 10.0.9.9:443\n"                     /* 15 */
    "[route:www]\n"                             /* 16 */
    "listener = tls\n"                          /* 17 */
    "sni = www.example.com,\n"                  /* 18 */
    "      *.example.com\n"                     /* 19 */
    "backends = 10.0.2.1:443\n"                 /* 20 */
    "max_conns = 0\n"                           /* 21 */
    "send_proxy = off\n"                        /* 22 */
    "[route:m]\n"                               /* 23 */
    "listener = 9443\n"                         /* 24 */
    "sni = m.example.com\n"                     /* 25 */
    "backends = 10.0.3.1:443\n";                /* 26 */

static void
test_routes_parsed_and_inherited(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};
    const lb_listener_cfg_t *l, *api, *www, *m;

    CU_ASSERT_EQUAL_FATAL(cf_load_ok(BASE, &cfg, &w), 0);
    CU_ASSERT_EQUAL(w.count, 0);
    CU_ASSERT_EQUAL_FATAL(cfg.nlisteners, 2);
    CU_ASSERT_EQUAL_FATAL(cfg.nroutes, 3);
    CU_ASSERT_EQUAL(lb_config_ngroups(&cfg), 5);
    l = &cfg.listeners[0];
    CU_ASSERT_STRING_EQUAL(l->name, "tls");
    CU_ASSERT_EQUAL(l->nroutes, 2);
    CU_ASSERT_EQUAL(l->group, 0);
    CU_ASSERT(lb_config_inspects(l));
    api = &cfg.routes[l->first_route];
    www = &cfg.routes[l->first_route + 1];
    CU_ASSERT_STRING_EQUAL(api->name, "api");
    CU_ASSERT_STRING_EQUAL(www->name, "www");
    CU_ASSERT_EQUAL(api->listener, 0);
    CU_ASSERT_EQUAL(api->group, 2); /* after the two listeners */
    CU_ASSERT_PTR_EQUAL(lb_config_group(&cfg, api->group), api);
    CU_ASSERT_STRING_EQUAL(api->listen_label, "127.0.0.1:8443 route api");
    CU_ASSERT_EQUAL_FATAL(api->nsni, 2);
    CU_ASSERT_STRING_EQUAL(api->sni[0].name, "api.example.com");
    CU_ASSERT(!api->sni[0].wildcard);
    CU_ASSERT_STRING_EQUAL(api->sni[1].name, ".api.example.net");
    CU_ASSERT(api->sni[1].wildcard);
    CU_ASSERT_EQUAL(api->nbackends, 2);
    /* Its own algorithm; max_conns and send_proxy from the listener. */
    CU_ASSERT_EQUAL(api->algorithm, LB_ALGO_LEASTCONN);
    CU_ASSERT_EQUAL(api->health.max_conns, 7);
    CU_ASSERT_EQUAL(api->send_proxy, 2);
    CU_ASSERT_EQUAL(api->connect_timeout_ms, 3000);
    CU_ASSERT_EQUAL(www->nsni, 2); /* continued on an indented line */
    CU_ASSERT_EQUAL(www->algorithm, LB_ALGO_WEIGHTED);
    CU_ASSERT_EQUAL(www->health.max_conns, 0);
    CU_ASSERT_EQUAL(www->send_proxy, 0);
    /* A [mappings] key names a listener too. */
    m = &cfg.routes[cfg.listeners[1].first_route];
    CU_ASSERT_EQUAL(cfg.listeners[1].nroutes, 1);
    CU_ASSERT_STRING_EQUAL(m->name, "m");
    CU_ASSERT_EQUAL(m->listener, 1);
    CU_ASSERT_EQUAL(m->group, 4);
    lb_config_free(&cfg);
}

static void
test_listener_with_routes_only(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};

    CU_ASSERT_EQUAL_FATAL(
        cf_load_ok("[listener:t]\nlisten = 8443\n[route:a]\nlistener = t\n"
                   "sni = a.b\nbackends = 10.0.0.1:1\n", &cfg, &w), 0);
    CU_ASSERT_EQUAL(cfg.listeners[0].nbackends, 0);
    CU_ASSERT_EQUAL(cfg.nroutes, 1);
    lb_config_free(&cfg);
}

static void
test_route_mistakes(void)
{
    static const char L[] = "[listener:t]\nlisten = 8443\n"
                            "backends = 10.0.0.1:1\n";
    char text[512];

#define ROUTE(body) (snprintf(text, sizeof(text), "%s%s", L, body), text)
    expect_error(ROUTE("[route:a]\nsni = a.b\nbackends = 1.2.3.4:5\n"), 4,
                 "[route:a] has no 'listener' key");
    expect_error(ROUTE("[route:a]\nlistener = t\nbackends = 1.2.3.4:5\n"), 4,
                 "[route:a] has no 'sni' key");
    expect_error(ROUTE("[route:a]\nlistener = t\nsni = a.b\n"), 4,
                 "[route:a] has no 'backends' key");
    expect_error(ROUTE("[route:a]\nlistener = nope\nsni = a.b\n"
                       "backends = 1.2.3.4:5\n"), 5,
                 "[route:a] names listener 'nope', which is neither");
    expect_error(ROUTE("[route:a]\nlistener = t\nsni = a.b, c.d\n"
                       "backends = 1.2.3.4:5\n[route:b]\nlistener = t\n"
                       "sni = x.y,\n  C.D\nbackends = 1.2.3.4:6\n"), 11,
                 "sni name 'c.d' of [route:b] is also in [route:a] (line 6) "
                 "of the same listener 't'");
    expect_error(ROUTE("[route:a]\nlistener = t\nsni = *.b.c\n"
                       "backends = 1.2.3.4:5\n[route:b]\nlistener = t\n"
                       "sni = *.B.c\nbackends = 1.2.3.4:6\n"), 10,
                 "sni name '*.b.c' of [route:b] is also in [route:a]");
    expect_error(ROUTE("[route:a]\nlistener = t\nsni = a.b, A.B\n"), 6,
                 "sni name 'A.B' is listed twice in [route:a]");
    expect_error(ROUTE("[route:a]\nlistener = t\nsni = a..b\n"), 6,
                 "sni name 'a..b' is not a host name");
    expect_error(ROUTE("[route:a]\nlistener = t\nsni = a.*.b\n"), 6,
                 "is not a host name");
    expect_error(ROUTE("[route:a]\nlistener = t\nsni = *b.c\n"), 6,
                 "a wildcard is '*.' then a domain");
    expect_error(ROUTE("[route:a]\nlistener = t\nsni = ,\n"), 6,
                 "'sni' of [route:a] lists no names");
    expect_error(ROUTE("[route:a]\nlistener = t\nsni = a.b\n"
                       "idle_timeout = 5\n"), 7,
                 "'idle_timeout' cannot be set in [route:a]");
    expect_error(ROUTE("[route:a]\nlistener = t\nlistener = t\n"), 6,
                 "duplicate key 'listener' in [route:a] (first on line 5)");
    expect_error(ROUTE("[route:a]\nlistener = t\nsni = a.b\n"
                       "backends = 1.2.3.4:5\n[route:a]\n"), 8,
                 "duplicate section '[route:a]' (first on line 4)");
    expect_error(ROUTE("[route:a b]\n"), 4, "needs a name of letters");
    expect_error(ROUTE("[route:]\n"), 4, "needs a name of letters");
    expect_error(ROUTE("[route:a]\nlistener = t\nsni = a.b\n"
                       "backends = 1.2.3.4:5\nrise = 0\n"), 8,
                 "rise must be a whole number, 1 or more");
#undef ROUTE
    expect_error("[listener:t]\nlisten = 8443\n", 1,
                 "[listener:t] has no 'backends' key");
    expect_error("[listener:t]\nlisten = 8443\npersist = rdp_cookie\n"
                 "[route:a]\nlistener = t\nsni = a.b\n"
                 "backends = 1.2.3.4:5\n", 1,
                 "has persist = rdp_cookie but no backends of its own");
    expect_error("[mappings]\n8443 = 1.2.3.4:5\n[listener:8443]\n"
                 "listen = 9443\nbackends = 1.2.3.4:6\n[route:a]\n"
                 "listener = 8443\nsni = a.b\nbackends = 1.2.3.4:7\n", 7,
                 "is both a [listener:8443] section and a [mappings] key");
}

static void
test_client_options(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};
    const lb_listener_cfg_t *l;

    CU_ASSERT_EQUAL_FATAL(cf_load_ok("[mappings]\n8080 = 1.2.3.4:5\n", &cfg,
                                     &w), 0);
    l = &cfg.listeners[0];
    CU_ASSERT_EQUAL(l->inspect_timeout_ms, 5000);
    CU_ASSERT_EQUAL(l->persist, LB_PERSIST_NONE);
    CU_ASSERT_EQUAL(l->persist_timeout_ms, 3600000);
    CU_ASSERT_EQUAL(l->max_conns_per_client, 0);
    CU_ASSERT_EQUAL(l->client_rate.count, 0);
    CU_ASSERT_EQUAL(l->client_ipv6_prefix, 64);
    CU_ASSERT_EQUAL(l->tcp_keepalive, 0);
    CU_ASSERT_EQUAL(cfg.client_table_size, 16384);
    CU_ASSERT_EQUAL(cfg.persist_table_size, 16384);
    CU_ASSERT(!lb_config_inspects(l));
    lb_config_free(&cfg);
    CU_ASSERT_EQUAL_FATAL(
        cf_load_ok("[options]\ninspect_timeout = 0.5\npersist_timeout = 60\n"
                   "max_conns_per_client = 4\n"
                   "max_conn_rate_per_client = 10/1.5\n"
                   "client_ipv6_prefix = 56\ntcp_keepalive = 30\n"
                   "client_table_size = 100\npersist_table_size = 7\n"
                   "[listener:x]\nlisten = 1\nbackends = 1.2.3.4:5\n"
                   "persist = rdp_cookie\nmax_conns_per_client = 0\n"
                   "max_conn_rate_per_client = 0\ntcp_keepalive = 0\n"
                   "[mappings]\n2 = 1.2.3.4:5\n", &cfg, &w), 0);
    l = &cfg.listeners[0];
    CU_ASSERT_EQUAL(l->persist, LB_PERSIST_RDP_COOKIE);
    CU_ASSERT(lb_config_inspects(l));
    CU_ASSERT_EQUAL(l->max_conns_per_client, 0);
    CU_ASSERT_EQUAL(l->client_rate.count, 0);
    CU_ASSERT_EQUAL(l->tcp_keepalive, 0);
    CU_ASSERT_EQUAL(l->client_ipv6_prefix, 56);
    l = &cfg.listeners[1];
    CU_ASSERT_EQUAL(l->inspect_timeout_ms, 500);
    CU_ASSERT_EQUAL(l->persist_timeout_ms, 60000);
    CU_ASSERT_EQUAL(l->persist, LB_PERSIST_NONE);
    CU_ASSERT_EQUAL(l->max_conns_per_client, 4);
    CU_ASSERT_EQUAL(l->client_rate.count, 10);
    CU_ASSERT_EQUAL(l->client_rate.period_ms, 1500);
    CU_ASSERT_EQUAL(l->tcp_keepalive, 30);
    CU_ASSERT_EQUAL(cfg.client_table_size, 100);
    CU_ASSERT_EQUAL(cfg.persist_table_size, 7);
    lb_config_free(&cfg);
}

static void
test_client_option_mistakes(void)
{
    static const struct {
        const char *line, *needle;
    } bad[] = {
        {"inspect_timeout = 0", "inspect_timeout must be more than 0"},
        {"persist = cookie", "persist must be rdp_cookie or none"},
        {"persist_timeout = x", "persist_timeout must be a number"},
        {"max_conns_per_client = -1", "max_conns_per_client must be a"},
        {"max_conn_rate_per_client = 10", "must be N/S"},
        {"max_conn_rate_per_client = 0/1", "must be N/S"},
        {"max_conn_rate_per_client = 5/0", "must be N/S"},
        {"max_conn_rate_per_client = 5/", "must be N/S"},
        {"max_conn_rate_per_client = 1000001/1", "must be N/S"},
        {"client_ipv6_prefix = 0", "from 1 to 128"},
        {"client_ipv6_prefix = 129", "from 1 to 128"},
        {"tcp_keepalive = 32768", "tcp_keepalive must be a whole number from "
                                  "0 to 32767"},
        {"tcp_keepalive = 1.5", "from 0 to 32767"},
        {"client_table_size = 0", "from 1 to 1048576"},
        {"persist_table_size = 1048577", "from 1 to 1048576"},
    };
    char text[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "[options]\n%s\n[mappings]\n1 = a:1\n",
                 bad[i].line);
        expect_error(text, 2, bad[i].needle);
    }
}

/* ---- matching ---- */

static void
test_route_matching(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};
    const lb_listener_cfg_t *l;

    CU_ASSERT_EQUAL_FATAL(
        cf_load_ok("[listener:t]\nlisten = 8443\nbackends = 10.0.0.1:1\n"
                   "[route:exact]\nlistener = t\nsni = a.example.com, "
                   "x.b.example.com\nbackends = 10.0.0.2:1\n"
                   "[route:wide]\nlistener = t\nsni = *.example.com\n"
                   "backends = 10.0.0.3:1\n"
                   "[route:narrow]\nlistener = t\nsni = *.b.example.com\n"
                   "backends = 10.0.0.4:1\n", &cfg, &w), 0);
    l = &cfg.listeners[0];
    CU_ASSERT_EQUAL(lb_route_find(&cfg, l, "a.example.com"), 0);
    CU_ASSERT_EQUAL(lb_route_find(&cfg, l, "x.b.example.com"), 0);
    CU_ASSERT_EQUAL(lb_route_find(&cfg, l, "y.b.example.com"), 2);
    CU_ASSERT_EQUAL(lb_route_find(&cfg, l, "z.y.b.example.com"), 2);
    CU_ASSERT_EQUAL(lb_route_find(&cfg, l, "b.example.com"), 1);
    CU_ASSERT_EQUAL(lb_route_find(&cfg, l, "c.example.com"), 1);
    CU_ASSERT_EQUAL(lb_route_find(&cfg, l, "example.com"), -1);
    CU_ASSERT_EQUAL(lb_route_find(&cfg, l, ".example.com"), -1);
    CU_ASSERT_EQUAL(lb_route_find(&cfg, l, "aexample.com"), -1);
    CU_ASSERT_EQUAL(lb_route_find(&cfg, l, "example.org"), -1);
    CU_ASSERT_EQUAL(lb_route_find(&cfg, l, ""), -1);
    lb_config_free(&cfg);
}

/* ---- the shared tables ---- */

static lb_config_t tcfg;
static lb_shared_t tsh;

static void
tables(const char *options)
{
    char text[512];
    warnings_t w = {0, ""};

    snprintf(text, sizeof(text),
             "[options]\nprocesses = 2\n%s\n[mappings]\n"
             "8080 = 10.0.0.1:1, 10.0.0.2:1, 10.0.0.3:1\n", options);
    CU_ASSERT_EQUAL_FATAL(cf_load_ok(text, &tcfg, &w), 0);
    CU_ASSERT_EQUAL_FATAL(lb_shared_create(&tcfg, &tsh), 0);
}

static void
tables_done(void)
{
    lb_shared_release(&tsh);
    lb_config_free(&tcfg);
}

static lb_addr_t
ip(const char *host)
{
    lb_addr_t a;

    CU_ASSERT_EQUAL(lb_addr_from_numeric(host, 1234, &a), 0);
    return a;
}

static void
test_client_table_counts_over_workers(void)
{
    lb_client_ref_t r[4];
    lb_addr_t a = ip("192.0.2.1"), b = ip("192.0.2.2");
    lb_clients_t *c;
    const lb_listener_cfg_t *l;

    tables("max_conns_per_client = 2\nclient_table_size = 64");
    c = &tsh.clients[0];
    l = &tcfg.listeners[0];
    CU_ASSERT_EQUAL_FATAL(c->t.size, 64);
    CU_ASSERT_EQUAL(tsh.persist[0].t.size, 0); /* not asked for */
    /* Two workers, one client: two places in all. */
    CU_ASSERT_EQUAL(lb_clients_admit(c, l, &a, 0, 1000, &r[0]), 0);
    CU_ASSERT_EQUAL(lb_clients_admit(c, l, &a, 1, 1000, &r[1]), 0);
    CU_ASSERT_EQUAL(lb_clients_admit(c, l, &a, 0, 1000, &r[2]),
                    LB_CLIENT_CONNS);
    CU_ASSERT_EQUAL(lb_clients_admit(c, l, &a, 1, 1000, &r[2]),
                    LB_CLIENT_CONNS);
    CU_ASSERT_EQUAL(lb_clients_admit(c, l, &b, 1, 1000, &r[3]), 0);
    lb_clients_leave(c, &r[1], 1);
    CU_ASSERT_EQUAL(lb_clients_admit(c, l, &a, 0, 1000, &r[1]), 0);
    /* A worker that died: its successor zeroes its column. */
    lb_clients_init_slot(c, 0);
    CU_ASSERT_EQUAL(lb_clients_admit(c, l, &a, 0, 1000, &r[0]), 0);
    /* ::ffff:192.0.2.2 is 192.0.2.2. */
    b = ip("::ffff:192.0.2.2");
    CU_ASSERT_EQUAL(lb_clients_key(&b, 64),
                    lb_clients_key((lb_addr_t[]){ip("192.0.2.2")}, 64));
    tables_done();
}

static void
test_client_table_ipv6_prefix(void)
{
    lb_addr_t a = ip("2001:db8:1:2:aaaa::1"), b = ip("2001:db8:1:2:bbbb::2");
    lb_addr_t c = ip("2001:db8:1:3::1");

    CU_ASSERT_EQUAL(lb_clients_key(&a, 64), lb_clients_key(&b, 64));
    CU_ASSERT_NOT_EQUAL(lb_clients_key(&a, 64), lb_clients_key(&c, 64));
    CU_ASSERT_EQUAL(lb_clients_key(&a, 48), lb_clients_key(&c, 48));
    CU_ASSERT_NOT_EQUAL(lb_clients_key(&a, 128), lb_clients_key(&b, 128));
    CU_ASSERT_NOT_EQUAL(lb_clients_key(&a, 1), 0);
}

static void
test_client_table_rate(void)
{
    lb_client_ref_t r;
    lb_addr_t a = ip("192.0.2.1");
    lb_clients_t *c;
    const lb_listener_cfg_t *l;

    tables("max_conn_rate_per_client = 3/6");
    c = &tsh.clients[0];
    l = &tcfg.listeners[0];
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(lb_clients_admit(c, l, &a, i % 2, 50000, &r), 0);
    CU_ASSERT_EQUAL(lb_clients_admit(c, l, &a, 0, 50000, &r),
                    LB_CLIENT_RATE);
    CU_ASSERT_EQUAL(lb_clients_admit(c, l, &a, 1, 51999, &r),
                    LB_CLIENT_RATE);
    CU_ASSERT_EQUAL(lb_clients_admit(c, l, &a, 1, 52000, &r), 0);
    CU_ASSERT_EQUAL(lb_clients_admit(c, l, &a, 1, 52000, &r),
                    LB_CLIENT_RATE);
    CU_ASSERT_EQUAL(lb_clients_admit(c, l, &a, 0, 56000, &r), 0);
    CU_ASSERT_EQUAL(lb_clients_admit(c, l, &a, 0, 56000, &r), 0);
    CU_ASSERT_EQUAL(lb_clients_admit(c, l, &a, 0, 56000, &r),
                    LB_CLIENT_RATE);
    tables_done();
}

/* A table of 8 entries (one window): eight clients holding connections
 * fill it; a ninth takes the place of the least recently seen, whose
 * count is forgotten (its next connection starts afresh, and its old
 * connection's end takes nothing from the new owner); an entry with
 * nothing left to remember goes first. */
static void
test_client_table_eviction_when_full(void)
{
    lb_client_ref_t r[10];
    lb_addr_t a[10];
    char host[32];
    lb_clients_t *c;
    const lb_listener_cfg_t *l;

    tables("max_conns_per_client = 1\nclient_table_size = 8");
    c = &tsh.clients[0];
    l = &tcfg.listeners[0];
    for (int i = 0; i < 10; i++) {
        snprintf(host, sizeof(host), "192.0.2.%d", i + 1);
        a[i] = ip(host);
    }
    for (int i = 0; i < 8; i++)
        CU_ASSERT_EQUAL(lb_clients_admit(c, l, &a[i], 0, 1000 + i, &r[i]), 0);
    CU_ASSERT_EQUAL(lb_clients_admit(c, l, &a[7], 0, 2000, &r[9]),
                    LB_CLIENT_CONNS); /* the table holds every count */
    /* Full: 192.0.2.1, seen longest ago, makes room for a ninth; back,
     * it takes the place of the next oldest. */
    CU_ASSERT_EQUAL(lb_clients_admit(c, l, &a[8], 0, 3000, &r[8]), 0);
    CU_ASSERT_EQUAL(lb_clients_admit(c, l, &a[0], 0, 3001, &r[9]), 0);
    /* One client leaves: its entry is free, and goes before any other. */
    lb_clients_leave(c, &r[4], 0);
    CU_ASSERT_EQUAL(lb_clients_admit(c, l, &a[9], 0, 3002, &r[9]), 0);
    CU_ASSERT_EQUAL(lb_clients_admit(c, l, &a[3], 0, 3003, &r[9]),
                    LB_CLIENT_CONNS); /* still counted: not evicted */
    /* The stale leave of an evicted client takes nothing from another. */
    lb_clients_leave(c, &r[0], 0);
    CU_ASSERT_EQUAL(lb_clients_admit(c, l, &a[0], 0, 3004, &r[9]),
                    LB_CLIENT_CONNS);
    tables_done();
}

static void
test_persist_table(void)
{
    lb_persist_t *p;
    uint64_t alice = lb_table_key("alice", 5), bob = lb_table_key("bob", 3);

    tables("persist = rdp_cookie\npersist_table_size = 8");
    p = &tsh.persist[0];
    CU_ASSERT_EQUAL_FATAL(p->t.size, 8);
    CU_ASSERT_EQUAL(tsh.clients[0].t.size, 0);
    CU_ASSERT_EQUAL(lb_persist_get(p, alice, 60000, 1000), -1);
    lb_persist_set(p, alice, 2, 60000, 1000);
    lb_persist_set(p, bob, 0, 60000, 1000);
    CU_ASSERT_EQUAL(lb_persist_get(p, alice, 60000, 30000), 2);
    CU_ASSERT_EQUAL(lb_persist_get(p, bob, 60000, 30000), 0);
    lb_persist_set(p, alice, 1, 60000, 30000); /* updated: moved */
    CU_ASSERT_EQUAL(lb_persist_get(p, alice, 60000, 60000), 1);
    /* Expiry counts from the last connection. */
    CU_ASSERT_EQUAL(lb_persist_get(p, bob, 60000, 60999), 0);
    CU_ASSERT_EQUAL(lb_persist_get(p, bob, 60000, 61000), -1);
    CU_ASSERT_EQUAL(lb_persist_get(p, alice, 60000, 90000), -1);
    /* Full: the least recently used cookie goes. */
    for (int i = 0; i < 9; i++) {
        char name[8];

        snprintf(name, sizeof(name), "u%d", i);
        lb_persist_set(p, lb_table_key(name, strlen(name)), (size_t)i % 3,
                       3600000, 100000 + i);
    }
    CU_ASSERT_EQUAL(lb_persist_get(p, lb_table_key("u0", 2), 3600000,
                                   200000), -1);
    CU_ASSERT_EQUAL(lb_persist_get(p, lb_table_key("u8", 2), 3600000,
                                   200000), 2);
    CU_ASSERT_EQUAL(lb_persist_get(p, lb_table_key("u1", 2), 3600000,
                                   200000), 1);
    tables_done();
}

void
lb_test_routes_register(void)
{
    static const struct {
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"routes parsed and inherited", test_routes_parsed_and_inherited},
        {"a listener with routes only", test_listener_with_routes_only},
        {"route mistakes", test_route_mistakes},
        {"client options", test_client_options},
        {"client option mistakes", test_client_option_mistakes},
        {"route matching", test_route_matching},
        {"client table: counts over workers",
         test_client_table_counts_over_workers},
        {"client table: IPv6 prefix", test_client_table_ipv6_prefix},
        {"client table: rate", test_client_table_rate},
        {"client table: eviction when full",
         test_client_table_eviction_when_full},
        {"persistence table", test_persist_table},
    };
    CU_pSuite s = CU_add_suite("routes and tables", NULL, NULL);

    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
        CU_add_test(s, tests[i].name, tests[i].fn);
}
