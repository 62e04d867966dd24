/* test_stats_http.c - the statistics over the fake platform: the HTTP
 * responder on the stats listener (requests a byte at a time, oversized
 * ones, wrong methods and paths, silent clients, the drain; who may read:
 * Host names, stats_allow, the bearer token, slow clients from one
 * address) and the counters the relay bumps (connections, bytes,
 * failures, and which failures are not a backend's). */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake_platform.h"
#include "lb_config.h"
#include "lb_server.h"

void lb_test_stats_http_register(void);

static const char CONFIG[] =
    "[options]\n"
    "buffer_size = 1\n"
    "stats = 127.0.0.1:9100\n"
    "graceful_shutdown_timeout = 6\n"
    "[mappings]\n"
    "127.0.0.1:8080 = 10.0.0.1:80, 10.0.0.2:80\n";

static lb_config_t cfg;
static lb_server_t srv;
static lb_listener_t *listeners[2]; /* the mapping, then stats */
static size_t served;               /* which of them the worker serves */
static lb_shared_t shared;

/* A worker serving listener idx: 0 relays, 1 (cfg.nlisteners) is stats. */
static void
start_with(const char *text, size_t idx)
{
    char *err = NULL;

    fake_reset();
    CU_ASSERT_EQUAL_FATAL(lb_config_load_string("t.cfg", text, strlen(text),
                                                &cfg, NULL, NULL, &err), 0);
    CU_ASSERT_EQUAL_FATAL(cfg.nlisteners, 1);
    CU_ASSERT_EQUAL_FATAL(lb_listener_bind(&cfg.listeners[0].listen, 16,
                                           &listeners[0]), 0);
    CU_ASSERT_EQUAL_FATAL(lb_listener_bind(&cfg.stats.addr, 16,
                                           &listeners[1]), 0);
    CU_ASSERT_EQUAL_FATAL(lb_shared_create(&cfg, &shared), 0);
    CU_ASSERT_EQUAL_FATAL(lb_server_init(&srv, &cfg, listeners, &shared,
                                         &idx, 1, 0), 0);
    CU_ASSERT_EQUAL(srv.nserved, idx == 0 ? 1 : 0);
    CU_ASSERT_EQUAL(srv.stats != NULL, idx == 1);
    /* The worker detaches from what it serves; the other one is not
     * its at all. */
    lb_listener_close(listeners[1 - idx]);
    served = idx;
}

static void
start(size_t idx)
{
    start_with(CONFIG, idx);
}

static void
stop(void)
{
    fake_run_closes();
    CU_ASSERT_EQUAL(srv.stats_streams, 0);
    CU_ASSERT_EQUAL(srv.pool->in_use, 0);
    lb_server_fini(&srv);
    lb_listener_close(listeners[served]); /* the binder's, as a run's end */
    lb_config_free(&cfg);
    lb_shared_release(&shared);
    fake_reset();
}

/* The client sends text one byte at a time (buffer_size is 1). */
static void
send_bytes(lb_stream_t *c, const char *text)
{
    for (size_t i = 0; text[i]; i++) {
        CU_ASSERT_FATAL(c->reading);
        fake_deliver(c, text + i, 1, 0);
    }
}

/* The response written so far, NUL-terminated (the fake keeps 64 KiB). */
static const char *
response(lb_stream_t *c)
{
    static char text[sizeof(c->sent) + 1];

    memcpy(text, c->wbuf, c->wlen < sizeof(text) - 1 ? c->wlen
                                                      : sizeof(text) - 1);
    text[c->wlen < sizeof(text) - 1 ? c->wlen : sizeof(text) - 1] = '\0';
    return text;
}

/* One request from host: the status line and a piece of the body are
 * checked, the response is written, the client closes, and so does the
 * server. */
static void
expect_reply_from(const char *host, const char *request, const char *status,
                  const char *needle)
{
    lb_stream_t *c = fake_accept_from(host);
    const char *r;

    send_bytes(c, request);
    CU_ASSERT_FATAL(c->writing);
    CU_ASSERT(!c->reading); /* nothing more is read while answering */
    r = response(c);
    CU_ASSERT_EQUAL(strncmp(r, status, strlen(status)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r, "\r\nConnection: close\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r, "\r\nContent-Length: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(r, needle));
    if (strncmp(r, status, strlen(status)) != 0 || !strstr(r, needle))
        fprintf(stderr, "\nwanted %s ... %s, got:\n%.300s\n", status, needle,
                r);
    fake_written(c, 0);
    CU_ASSERT(c->shut);     /* FIN after the response ... */
    CU_ASSERT(c->reading);  /* ... and what the client sends is drained */
    CU_ASSERT(!c->closed);
    fake_deliver(c, "x", 1, 0);
    CU_ASSERT(c->reading);
    fake_deliver(c, NULL, 0, 0); /* its FIN */
    CU_ASSERT(c->closed);
    CU_ASSERT_EQUAL(c->close_how, LB_CLOSE_NORMAL);
    fake_run_closes();
}

static void
expect_reply(const char *request, const char *status, const char *needle)
{
    expect_reply_from("192.0.2.7", request, status, needle);
}

static void
test_paths_and_methods(void)
{
    start(1);
    expect_reply("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9100\r\n\r\n",
                 "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4",
                 "\npumpkinlb_connections_total{listener=\"127.0.0.1:8080\"} "
                 "0\n");
    expect_reply("GET /stats.json?x=1 HTTP/1.0\n\n",
                 "HTTP/1.0 200 OK\r\nContent-Type: application/json",
                 "\"connections_total\":0");
    expect_reply("GET / HTTP/1.0\r\n\r\n",
                 "HTTP/1.0 200 OK\r\nContent-Type: text/html",
                 "<table class=\"listener\" "
                 "data-listener=\"127.0.0.1:8080\">");
    expect_reply("POST /metrics HTTP/1.0\r\n\r\n",
                 "HTTP/1.0 405 Method Not Allowed", "\r\nAllow: GET\r\n");
    expect_reply("GET /nope HTTP/1.0\r\n\r\n", "HTTP/1.0 404 Not Found",
                 "404 Not Found");
    expect_reply("GET /metrics\r\n\r\n", "HTTP/1.0 400 Bad Request", "400");
    expect_reply("GET  / HTTP/1.0\r\n\r\n", "HTTP/1.0 400 Bad Request", "400");
    stop();
}

static void
test_oversized_request(void)
{
    char big[5000];
    lb_stream_t *c;

    start(1);
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "GET /", 5);
    c = fake_accept();
    for (size_t i = 0; c->reading && big[i]; i++)
        fake_deliver(c, big + i, 1, 0);
    CU_ASSERT(!c->reading); /* it stopped reading past 4096 bytes */
    CU_ASSERT(c->writing);
    CU_ASSERT_EQUAL(strncmp(response(c), "HTTP/1.0 431 ", 13), 0);
    fake_written(c, 0);
    fake_deliver(c, NULL, 0, 0);
    CU_ASSERT(c->closed);
    stop();
}

static void
test_request_ended_by_fin(void)
{
    lb_stream_t *c;

    start(1);
    c = fake_accept();
    send_bytes(c, "GET /metrics HTTP/1.0\r\n");
    fake_deliver(c, NULL, 0, 0); /* FIN before the empty line */
    CU_ASSERT_EQUAL(strncmp(response(c), "HTTP/1.0 200 ", 13), 0);
    fake_written(c, 0);
    CU_ASSERT(c->closed); /* nothing more to wait for */
    stop();
}

static void
test_silent_and_slow_clients(void)
{
    lb_stream_t *quiet, *slow, *deaf;

    start(1);
    quiet = fake_accept();
    slow = fake_accept();
    send_bytes(slow, "GET / HTTP/1.0\r\n");
    fake_advance(1999);
    CU_ASSERT(!quiet->closed && !slow->closed);
    fake_advance(1); /* the request had 2 s */
    CU_ASSERT(quiet->closed && slow->closed);
    CU_ASSERT_EQUAL(quiet->close_how, LB_CLOSE_NORMAL);
    deaf = fake_accept(); /* never takes its response */
    send_bytes(deaf, "GET / HTTP/1.0\r\n\r\n");
    CU_ASSERT(deaf->writing);
    fake_advance(30000);
    CU_ASSERT(deaf->closed);
    CU_ASSERT_EQUAL(deaf->close_how, LB_CLOSE_RESET);
    stop();
}

static void
test_drain_waits_then_cuts(void)
{
    lb_stream_t *c;

    start(1);
    c = fake_accept();
    fake_stop_request();
    CU_ASSERT(fake.listener_closed); /* no new clients */
    CU_ASSERT(!fake.loop_stopped);   /* the open one may finish */
    send_bytes(c, "GET / HTTP/1.0\r\n");
    fake_advance(1500);
    CU_ASSERT(!c->closed);
    fake_stop_request(); /* a second stop cuts at once */
    CU_ASSERT(c->closed);
    CU_ASSERT_EQUAL(c->close_how, LB_CLOSE_RESET);
    fake_run_closes();
    CU_ASSERT(fake.loop_stopped);
    stop();
}

/* ---- who may read ---- */

/* A Host that is no IP literal, localhost or a stats_host name gets 421:
 * a web page whose name now resolves to us (DNS rebinding) reads
 * nothing. A request without Host (HTTP/1.0, no browser) is answered. */
static void
test_foreign_host_misdirected(void)
{
    static const char text[] =
        "[options]\nbuffer_size = 1\nstats = 127.0.0.1:9100\n"
        "stats_host = metrics.example.net, lb1\n"
        "[mappings]\n127.0.0.1:8080 = 10.0.0.1:80\n";
    static const char *const refused[] = {
        "attacker.example", "attacker.example:9100", "127.0.0.1.nip.io",
        "localhost.attacker.example", "[::1", "127.0.0.1:x", "::1", "",
    };
    static const char *const answered[] = {
        "127.0.0.1:9100", "10.1.2.3", "[::1]:9100", "[2001:db8::1]",
        "localhost", "LocalHost:9100", "localhost.", "Metrics.Example.NET",
        "lb1:9100",
    };
    char req[256];

    start_with(text, 1);
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        snprintf(req, sizeof(req), "GET /metrics HTTP/1.1\r\nHost: %s\r\n"
                 "\r\n", refused[i]);
        expect_reply(req, "HTTP/1.0 421 Misdirected Request", "421");
    }
    for (size_t i = 0; i < sizeof(answered) / sizeof(answered[0]); i++) {
        snprintf(req, sizeof(req), "GET /metrics HTTP/1.1\r\nhost:  %s \r\n"
                 "\r\n", answered[i]);
        expect_reply(req, "HTTP/1.0 200 OK", "pumpkinlb_connections_total");
    }
    expect_reply("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil\r\n\r\n",
                 "HTTP/1.0 400 Bad Request", "400");
    stop();
}

/* stats_allow: anyone else is reset as soon as it is accepted. */
static void
test_stats_allow_refuses(void)
{
    static const char text[] =
        "[options]\nbuffer_size = 1\nstats = 127.0.0.1:9100\n"
        "stats_allow = 10.0.0.0/8, ::1\n"
        "[mappings]\n127.0.0.1:8080 = 10.0.0.1:80\n";
    lb_stream_t *c;

    start_with(text, 1);
    c = fake_accept_from("192.0.2.7");
    CU_ASSERT(c->closed);
    CU_ASSERT_EQUAL(c->close_how, LB_CLOSE_RESET);
    CU_ASSERT(!c->reading && !c->writing);
    expect_reply_from("10.9.8.7", "GET /metrics HTTP/1.0\r\n\r\n",
                      "HTTP/1.0 200 OK", "pumpkinlb_connections_total");
    expect_reply_from("::1", "GET /metrics HTTP/1.0\r\n\r\n",
                      "HTTP/1.0 200 OK", "pumpkinlb_connections_total");
    c = fake_accept_from(NULL); /* its address unknown: refused */
    CU_ASSERT(c->closed);
    stop();
}

/* stats_token_file: every request needs "Authorization: Bearer TOKEN",
 * checked before anything else is said (the path included). */
static void
test_token_required(void)
{
    char path[] = "/tmp/lb-stats-token-XXXXXX", text[512];
    int fd = mkstemp(path);

    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL_FATAL(write(fd, "s3cret-T0ken\r\nignored\n", 22), 22);
    close(fd);
    snprintf(text, sizeof(text),
             "[options]\nbuffer_size = 1\nstats = 127.0.0.1:9100\n"
             "stats_token_file = %s\n"
             "[mappings]\n127.0.0.1:8080 = 10.0.0.1:80\n", path);
    start_with(text, 1);
    unlink(path);
    expect_reply("GET /metrics HTTP/1.0\r\n\r\n",
                 "HTTP/1.0 401 Unauthorized",
                 "\r\nWWW-Authenticate: Bearer "
                 "realm=\"PumpkinLB statistics\"");
    expect_reply("GET /nope HTTP/1.0\r\n\r\n", "HTTP/1.0 401 ", "401");
    expect_reply("GET /metrics HTTP/1.0\r\nAuthorization: Bearer wrong"
                 "\r\n\r\n", "HTTP/1.0 401 ", "401");
    expect_reply("GET /metrics HTTP/1.0\r\nAuthorization: Bearer s3cret-T0ke"
                 "\r\n\r\n", "HTTP/1.0 401 ", "401");
    expect_reply("GET /metrics HTTP/1.0\r\nAuthorization: Bearer s3cret-T0ken"
                 "n\r\n\r\n", "HTTP/1.0 401 ", "401");
    expect_reply("GET /metrics HTTP/1.0\r\nAuthorization: Basic s3cret-T0ken"
                 "\r\n\r\n", "HTTP/1.0 401 ", "401");
    expect_reply("GET /metrics HTTP/1.0\r\nauthorization: bearer s3cret-T0ken"
                 "\r\n\r\n", "HTTP/1.0 200 OK", "pumpkinlb_connections_total");
    expect_reply("GET /nope HTTP/1.0\r\nAuthorization: Bearer s3cret-T0ken"
                 "\r\n\r\n", "HTTP/1.0 404 ", "404");
    stop();
}

/* Slow clients from one address hold at most 8 connections; when every
 * one of the 64 slots is taken (by 8 addresses), the oldest one still
 * waiting for its request gives way: a scrape always gets in. */
static void
test_slow_clients_cannot_starve_a_scrape(void)
{
    lb_stream_t *slow[64], *c;
    char host[32];

    start(1);
    for (int i = 0; i < 64; i++) {
        snprintf(host, sizeof(host), "192.0.2.%d", 1 + i / 8);
        slow[i] = fake_accept_from(host);
        send_bytes(slow[i], "GET / HTTP/1.0\r\n");
    }
    for (int i = 0; i < 64; i++)
        CU_ASSERT(!slow[i]->closed);
    c = fake_accept_from("192.0.2.1"); /* a ninth from one address */
    CU_ASSERT(c->closed);
    CU_ASSERT_EQUAL(c->close_how, LB_CLOSE_RESET);
    expect_reply_from("198.51.100.1", "GET /metrics HTTP/1.0\r\n\r\n",
                      "HTTP/1.0 200 OK", "pumpkinlb_connections_total");
    CU_ASSERT(slow[0]->closed);
    CU_ASSERT_EQUAL(slow[0]->close_how, LB_CLOSE_RESET);
    CU_ASSERT(!slow[1]->closed);
    fake_advance(2000); /* the rest ran out of time */
    for (int i = 1; i < 64; i++)
        CU_ASSERT(slow[i]->closed);
    stop();
}

static void
note_release(void *ctx)
{
    *(int *)ctx = 1;
}

/* Answers the request c sent so far and closes, as a client would. */
static void
finish_scrape(lb_stream_t *c, const char *rest)
{
    send_bytes(c, rest);
    CU_ASSERT_EQUAL(strncmp(response(c), "HTTP/1.0 200 ", 13), 0);
    fake_written(c, 0);
    fake_deliver(c, NULL, 0, 0);
    CU_ASSERT(c->closed);
}

/* An in-loop reload (Windows) with the stats address unchanged: the new
 * server takes the socket over without closing it and answers new
 * scrapes; one already open finishes on the old server, which goes once
 * it is drained. */
static void
test_in_loop_reload_hands_over(void)
{
    lb_server_t *first = calloc(1, sizeof(*first)), *current = first;
    lb_config_t next;
    lb_shared_t next_shared;
    lb_stream_t *c_old, *c_new;
    size_t idx = 1;
    char *err = NULL;
    int released = 0;

    fake_reset();
    CU_ASSERT_PTR_NOT_NULL_FATAL(first);
    CU_ASSERT_EQUAL_FATAL(lb_config_load_string("t.cfg", CONFIG,
                                                strlen(CONFIG), &cfg, NULL,
                                                NULL, &err), 0);
    CU_ASSERT_EQUAL_FATAL(lb_config_load_string("n.cfg", CONFIG,
                                                strlen(CONFIG), &next, NULL,
                                                NULL, &err), 0);
    CU_ASSERT_EQUAL_FATAL(lb_listener_bind(&cfg.stats.addr, 16,
                                           &listeners[1]), 0);
    listeners[0] = NULL; /* not this worker's */
    CU_ASSERT_EQUAL_FATAL(lb_shared_create(&cfg, &shared), 0);
    CU_ASSERT_EQUAL_FATAL(lb_shared_create(&next, &next_shared), 0);
    CU_ASSERT_EQUAL_FATAL(lb_server_init(first, &cfg, listeners, &shared,
                                         &idx, 1, 0), 0);
    first->current = &current;
    c_old = fake_accept();
    send_bytes(c_old, "GET /stats.json HTTP/1.0\r\n");
    CU_ASSERT_EQUAL_FATAL(lb_server_succeed(first, &next, listeners,
                                            &next_shared, &idx, 1, NULL,
                                            note_release, &released), 0);
    CU_ASSERT_PTR_NOT_EQUAL_FATAL(current, first);
    CU_ASSERT(!fake.listener_closed); /* handed over, never closed */
    c_new = fake_accept();
    CU_ASSERT_EQUAL(current->stats_streams, 1);
    CU_ASSERT_EQUAL(first->stats_streams, 1);
    finish_scrape(c_new, "GET / HTTP/1.0\r\n\r\n");
    finish_scrape(c_old, "\r\n");
    fake_run_closes();
    fake_advance(0); /* the reap timer frees the drained old server */
    CU_ASSERT(released);
    fake_stop_request();
    CU_ASSERT(fake.listener_closed);
    CU_ASSERT(fake.loop_stopped);
    lb_server_fini(current);
    free(current);
    lb_listener_close(listeners[1]);
    lb_config_free(&cfg);
    lb_config_free(&next);
    lb_shared_release(&shared);
    lb_shared_release(&next_shared);
    fake_reset();
}

/* ---- the counters the relay bumps ---- */

static int64_t
bytes_of(size_t b, int dir)
{
    return lb_atomic_load(&shared.bcounters[0][b].bytes[dir]);
}

static void
test_relay_counters(void)
{
    lb_listener_counters_t *lc;
    lb_stream_t *c, *b;
    int first;

    start(0);
    lc = &shared.counters[0];
    c = fake_accept();
    first = fake_backend_no(fake.last_connect) - 1;
    fake_connected(fake.last_connect, LB_ECONNREFUSED); /* retried */
    b = fake.last_connect;
    fake_connected(b, 0);
    CU_ASSERT_EQUAL(lb_atomic_load(&lc->accepted), 1);
    CU_ASSERT_EQUAL(lb_atomic_load(&lc->active[0]), 1);
    CU_ASSERT_EQUAL(lb_atomic_load(&shared.bcounters[0][first].failures), 1);
    CU_ASSERT_EQUAL(
        lb_atomic_load(&shared.bcounters[0][1 - first].connections), 1);
    fake_deliver(c, "h", 1, 0);
    fake_written(b, 0);
    fake_deliver(c, "i", 1, 0);
    fake_written(b, 0);
    fake_deliver(b, "!", 1, 0);
    fake_written(c, 0);
    CU_ASSERT_EQUAL(bytes_of(1 - first, LB_STATS_IN), 2);
    CU_ASSERT_EQUAL(bytes_of(1 - first, LB_STATS_OUT), 1);
    CU_ASSERT_EQUAL(bytes_of(first, LB_STATS_IN), 0);
    fake_deliver(c, NULL, 0, 0);
    fake_deliver(b, NULL, 0, 0);
    fake_run_closes();
    CU_ASSERT_EQUAL(lb_atomic_load(&lc->active[0]), 0);
    CU_ASSERT_EQUAL(lb_atomic_load(&lc->failed), 0);
    stop();
}

static void
test_failed_client_counted(void)
{
    lb_stream_t *c;

    start(0);
    c = fake_accept();
    fake_connected(fake.last_connect, LB_ECONNREFUSED);
    fake_connected(fake.last_connect, LB_ECONNREFUSED); /* both failed */
    CU_ASSERT(c->closed);
    fake_run_closes();
    CU_ASSERT_EQUAL(lb_atomic_load(&shared.counters[0].failed), 1);
    CU_ASSERT_EQUAL(lb_atomic_load(&shared.counters[0].active[0]), 0);
    CU_ASSERT_EQUAL(lb_atomic_load(&shared.bcounters[0][0].failures) +
                        lb_atomic_load(&shared.bcounters[0][1].failures),
                    2);
    stop();
}

static int64_t
down_of(size_t b)
{
    return lb_atomic_load(&shared.state[0][b].down);
}

/* This host out of local ports, sockets or buffers: the client that could
 * not be served counts as failed, no backend does, in its statistics or
 * in its health (max_fails is 1). A refusal, for contrast, does both. */
static void
test_local_errors_not_the_backends(void)
{
    lb_stream_t *c;

    start(0);
    c = fake_accept();
    fake_connected(fake.last_connect, LB_EADDRNOTAVAIL); /* Linux */
    fake_connected(fake.last_connect, LB_ENOBUFS);       /* Windows */
    CU_ASSERT(c->closed);
    fake.connect_fails_at_once = LB_EADDRINUSE; /* Windows, bind port 0 */
    c = fake_accept();
    CU_ASSERT(c->closed);
    fake.connect_fails_at_once = 0;
    fake_run_closes();
    CU_ASSERT_EQUAL(lb_atomic_load(&shared.counters[0].failed), 2);
    for (size_t b = 0; b < 2; b++) {
        CU_ASSERT_EQUAL(lb_atomic_load(&shared.bcounters[0][b].failures), 0);
        CU_ASSERT_EQUAL(down_of(b), LB_UP);
    }
    fake_accept();
    fake_connected(fake.last_connect, LB_ECONNREFUSED);
    CU_ASSERT_EQUAL(down_of(0) + down_of(1), LB_DOWN_FAILS);
    CU_ASSERT_EQUAL(lb_atomic_load(&shared.bcounters[0][0].failures) +
                        lb_atomic_load(&shared.bcounters[0][1].failures),
                    1);
    lb_session_abort_all(&srv, 1);
    stop();
}

/* With accept_proxy, what came with the client's PROXY header is sent
 * once the backend is up: counted then, like every other client byte. */
static void
test_bytes_after_a_proxy_header(void)
{
    static const char text[] =
        "[options]\nbuffer_size = 64\nstats = 127.0.0.1:9100\n"
        "accept_proxy = 1\n[mappings]\n127.0.0.1:8080 = 10.0.0.1:80\n";
    static const char in[] =
        "PROXY TCP4 203.0.113.9 198.51.100.1 5555 443\r\nhi";
    lb_stream_t *b, *c;

    start_with(text, 0);
    c = fake_accept();
    fake_deliver(c, in, sizeof(in) - 1, 0);
    b = fake.last_connect;
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    fake_connected(b, 0);
    CU_ASSERT_EQUAL(bytes_of(0, LB_STATS_IN), 2);
    fake_written(b, 0);
    fake_deliver(c, "!", 1, 0);
    CU_ASSERT_EQUAL(bytes_of(0, LB_STATS_IN), 3);
    fake_written(b, 0);
    fake_deliver(c, NULL, 0, 0);
    fake_deliver(b, NULL, 0, 0);
    stop();
}

void
lb_test_stats_http_register(void)
{
    CU_pSuite s = CU_add_suite("statistics (fake platform)", NULL, NULL);

    CU_add_test(s, "paths, methods, a byte at a time",
                test_paths_and_methods);
    CU_add_test(s, "oversized request: 431", test_oversized_request);
    CU_add_test(s, "request ended by FIN", test_request_ended_by_fin);
    CU_add_test(s, "silent and slow clients", test_silent_and_slow_clients);
    CU_add_test(s, "drain waits, then cuts", test_drain_waits_then_cuts);
    CU_add_test(s, "a foreign Host: 421", test_foreign_host_misdirected);
    CU_add_test(s, "stats_allow refuses", test_stats_allow_refuses);
    CU_add_test(s, "bearer token required", test_token_required);
    CU_add_test(s, "slow clients cannot starve a scrape",
                test_slow_clients_cannot_starve_a_scrape);
    CU_add_test(s, "in-loop reload hands the socket over",
                test_in_loop_reload_hands_over);
    CU_add_test(s, "relay counters", test_relay_counters);
    CU_add_test(s, "a client every backend failed",
                test_failed_client_counted);
    CU_add_test(s, "local connect errors: not the backends' failures",
                test_local_errors_not_the_backends);
    CU_add_test(s, "bytes after a PROXY header",
                test_bytes_after_a_proxy_header);
}
