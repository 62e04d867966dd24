/* test_admin.c - the admin API's parts that need no socket: the PUT's
 * path and JSON body (what is taken, every refusal with its reason),
 * the answer of lb_stats_request to admin requests (tokens, methods,
 * lengths), what the admin state does to balancing (drain and maint take
 * no new client, weights and max_conns from the shared block), slow
 * start's ramp, and what a reload carries over. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health_fixture.h"
#include "lb_admin.h"
#include "lb_balance.h"
#include "unit.h"

static int
body(const char *text, lb_admin_change_t *ch, char *why)
{
    return lb_admin_parse_body(text, strlen(text), ch, why, 160);
}

static void
test_body(void)
{
    static const char *const bad[][2] = {
        {"", "JSON object"},
        {"[]", "JSON object"},
        {"{}", "nothing to change"},
        {"{\"state\":\"off\"}", "\"state\" must be"},
        {"{\"state\":1}", "\"state\" must be"},
        {"{\"weight\":0}", "from 1 to 1000"},
        {"{\"weight\":1001}", "from 1 to 1000"},
        {"{\"weight\":-1}", "whole number"},
        {"{\"weight\":1.5}", "whole number"},
        {"{\"weight\":1e3}", "whole number"},
        {"{\"weight\":01}", "leading zero"},
        {"{\"weight\":\"3\"}", "whole number"},
        {"{\"max_conns\":1000001}", "from 0 to 1000000"},
        {"{\"max_conns\":9999999999}", "too large"},
        {"{\"colour\":\"red\"}", "unknown key"},
        {"{\"state\":\"drain\",\"state\":\"maint\"}", "given twice"},
        {"{\"state\":\"drain\"", "expected ',' or '}'"},
        {"{\"state\":\"drain\",}", "expected a string"},
        {"{\"state\" \"drain\"}", "expected ':'"},
        {"{\"state\":\"drain\"} {}", "after the object"},
        {"{\"sta\nte\":1}", "control character"},
        {"{\"state\":\"dr\\qain\"}", "must be"},
        {"{\"state\":\"drain", "must be"},
    };
    lb_admin_change_t ch;
    char why[160];

    CU_ASSERT_EQUAL(body(" { \"state\" : \"drain\" } ", &ch, why), 0);
    CU_ASSERT(ch.state == 1 && ch.weight == -1 && ch.max_conns == -1);
    CU_ASSERT_EQUAL(body("{\"weight\":3,\"max_conns\":0,\"state\":\"maint\"}",
                         &ch, why), 0);
    CU_ASSERT(ch.state == 2 && ch.weight == 3 && ch.max_conns == 0);
    CU_ASSERT_EQUAL(body("{\"st\\u0061te\":\"re\\u0061dy\"}", &ch, why), 0);
    CU_ASSERT_EQUAL(ch.state, 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        CU_ASSERT_EQUAL(body(bad[i][0], &ch, why), -1);
        CU_ASSERT_PTR_NOT_NULL(strstr(why, bad[i][1]));
        if (strstr(why, bad[i][1]) == NULL)
            fprintf(stderr, "\n'%s': wanted '%s', got '%s'\n", bad[i][0],
                    bad[i][1], why);
    }
}

static void
test_path(void)
{
    char l[LB_ADMIN_MAX_NAME + 1], b[LB_ADMIN_MAX_NAME + 1];
    char big[400];

#define PATH(s) lb_admin_parse_path(s, strlen(s), l, b)
    CU_ASSERT_EQUAL(PATH("/api/v1/listeners/web/backends/10.0.0.1:80"), 0);
    CU_ASSERT_STRING_EQUAL(l, "web");
    CU_ASSERT_STRING_EQUAL(b, "10.0.0.1:80");
    CU_ASSERT_EQUAL(PATH("/api/v1/listeners/127.0.0.1%3A8080/backends/"
                         "%5B::1%5D:80"), 0);
    CU_ASSERT_STRING_EQUAL(l, "127.0.0.1:8080");
    CU_ASSERT_STRING_EQUAL(b, "[::1]:80");
    CU_ASSERT_EQUAL(PATH("/api/v1/listeners/db/backends/unix:%2Frun%2Fpg"
                         "%2F.s.PGSQL.5432"), 0);
    CU_ASSERT_STRING_EQUAL(b, "unix:/run/pg/.s.PGSQL.5432");
    CU_ASSERT_EQUAL(PATH("/api/v1/backends"), 1);
    CU_ASSERT_EQUAL(PATH("/api/v1/listeners/web"), 1);
    CU_ASSERT_EQUAL(PATH("/api/v1/listeners/web/backends/a/b"), 1);
    CU_ASSERT_EQUAL(PATH("/api/v1/listeners/web/backends/"), -1);
    CU_ASSERT_EQUAL(PATH("/api/v1/listeners//backends/a"), -1);
    CU_ASSERT_EQUAL(PATH("/api/v1/listeners/w%zz/backends/a"), -1);
    CU_ASSERT_EQUAL(PATH("/api/v1/listeners/w%00/backends/a"), -1);
    CU_ASSERT_EQUAL(PATH("/api/v1/listeners/w%2/backends/a"), -1);
    CU_ASSERT_EQUAL(PATH("/api/v1/listeners/web/backends/a?x=1"), -1);
    CU_ASSERT_EQUAL(PATH("/api/v1/listeners/we b/backends/a"), -1);
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "/api/v1/listeners/w/backends/", 29);
    CU_ASSERT_EQUAL(PATH(big), -1); /* a name over 256 bytes */
#undef PATH
}

static int
answer(const char *req, const char *token, const char *admin)
{
    lb_stats_cfg_t cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.token = (char *)token;
    cfg.admin_token = (char *)admin;
    return lb_stats_request(req, strlen(req), &cfg);
}

#define PUT "PUT /api/v1/listeners/a/backends/b HTTP/1.1\r\n"
#define ADM "Authorization: Bearer adm\r\n"

static void
test_request(void)
{
    CU_ASSERT_EQUAL(answer(PUT "Content-Length: 2\r\n\r\n{}", NULL, NULL),
                    LB_STATS_NOT_ALLOWED); /* the admin API is off */
    CU_ASSERT_EQUAL(answer(PUT "Content-Length: 2\r\n\r\n{}", NULL, "adm"),
                    LB_STATS_UNAUTHORIZED);
    CU_ASSERT_EQUAL(answer(PUT "Authorization: Bearer rd\r\nContent-Length:"
                           " 2\r\n\r\n{}", "rd", "adm"),
                    LB_STATS_UNAUTHORIZED); /* the read token cannot write */
    CU_ASSERT_EQUAL(answer(PUT ADM "Content-Length: 2\r\n\r\n{}", NULL,
                           "adm"), LB_STATS_API_SET);
    CU_ASSERT_EQUAL(answer(PUT ADM "\r\n", NULL, "adm"),
                    LB_STATS_LENGTH_REQUIRED);
    CU_ASSERT_EQUAL(answer(PUT ADM "Content-Length: 1025\r\n\r\n", NULL,
                           "adm"), LB_STATS_TOO_LARGE);
    CU_ASSERT_EQUAL(answer(PUT ADM "Content-Length: x\r\n\r\n", NULL, "adm"),
                    LB_STATS_BAD_REQUEST);
    CU_ASSERT_EQUAL(answer(PUT ADM "Content-Length: 2\r\nContent-Length: 2"
                           "\r\n\r\n", NULL, "adm"), LB_STATS_BAD_REQUEST);
    CU_ASSERT_EQUAL(answer(PUT ADM "Transfer-Encoding: chunked\r\n\r\n", NULL,
                           "adm"), LB_STATS_BAD_REQUEST);
    CU_ASSERT_EQUAL(answer("PUT /metrics HTTP/1.1\r\n" ADM
                           "Content-Length: 0\r\n\r\n", NULL, "adm"),
                    LB_STATS_NOT_FOUND);
    /* The admin token reads, too; the read token is enough to read. */
    CU_ASSERT_EQUAL(answer("GET /api/v1/backends HTTP/1.1\r\n" ADM "\r\n",
                           "rd", "adm"), LB_STATS_API_BACKENDS);
    CU_ASSERT_EQUAL(answer("GET /metrics HTTP/1.1\r\n" ADM "\r\n", "rd",
                           "adm"), LB_STATS_PAGE_METRICS);
    CU_ASSERT_EQUAL(answer("GET /api/v1/backends HTTP/1.1\r\n\r\n", "rd",
                           "adm"), LB_STATS_UNAUTHORIZED);
    CU_ASSERT_EQUAL(answer("GET /api/v1/backends HTTP/1.1\r\n\r\n", NULL,
                           "adm"), LB_STATS_API_BACKENDS);
    CU_ASSERT_EQUAL(answer("POST /api/v1/backends HTTP/1.1\r\n" ADM "\r\n",
                           NULL, "adm"), LB_STATS_NOT_ALLOWED);
    CU_ASSERT_EQUAL(answer(PUT "Host: evil.example\r\n" ADM "\r\n", NULL,
                           "adm"), LB_STATS_MISDIRECTED);
}

/* ---- what the admin state does to balancing ---- */

static long
pick(uint64_t now)
{
    return lb_pick_backend(&hf_w0, &hf_shared.rr[0], NULL, now);
}

static void
test_drain_and_maint_take_no_client(void)
{
    int seen[3] = {0, 0, 0};

    hf_setup("[mappings]\n8080 = 10.0.0.1:80, 10.0.0.2:80, 10.0.0.3:80\n");
    lb_atomic_store(&hf_shared.state[0][0].admin, LB_ADMIN_DRAIN);
    lb_atomic_store(&hf_shared.state[0][2].admin, LB_ADMIN_MAINT);
    for (int i = 0; i < 20; i++)
        seen[pick(1000)]++;
    CU_ASSERT(seen[0] == 0 && seen[1] == 20 && seen[2] == 0);
    /* Nor are they retried. */
    CU_ASSERT_EQUAL(lb_health_retry_rank(&hf_w1, 0, 1000), LB_RANK_FULL);
    lb_atomic_store(&hf_shared.state[0][1].admin, LB_ADMIN_DRAIN);
    CU_ASSERT_EQUAL(pick(1000), -1); /* nothing takes new clients */
    hf_teardown();
}

static void
test_weights_and_limits_from_the_api(void)
{
    int seen[2] = {0, 0};

    hf_setup("[options]\nalgorithm = weighted\nmax_conns = 5\n[mappings]\n"
             "8080 = 10.0.0.1:80, 10.0.0.2:80\n");
    lb_atomic_store(&hf_shared.state[0][1].weight, 3);
    for (int i = 0; i < 40; i++)
        seen[pick(1000)]++;
    CU_ASSERT(seen[0] == 10 && seen[1] == 30);
    CU_ASSERT_EQUAL(lb_health_max_conns(&hf_w0, 0), 5);
    lb_atomic_store(&hf_shared.state[0][0].max_conns, 1 + 1);
    CU_ASSERT_EQUAL(lb_health_max_conns(&hf_w0, 0), 1);
    lb_health_count(&hf_w0, 0, 1);
    CU_ASSERT_EQUAL(lb_health_rank(&hf_w0, 0, 1000), LB_RANK_FULL);
    lb_atomic_store(&hf_shared.state[0][0].max_conns, 0 + 1); /* no limit */
    CU_ASSERT_EQUAL(lb_health_rank(&hf_w0, 0, 1000), LB_RANK_OK);
    hf_teardown();
}

static void
test_slow_start_ramp(void)
{
    hf_setup("[options]\nalgorithm = weighted\nslow_start = 10\n"
             "[mappings]\n8080 = 10.0.0.1:80 weight=4, 10.0.0.2:80\n");
    /* At start: every backend's full weight. */
    CU_ASSERT_EQUAL(lb_health_weight(&hf_w0, 0, 500), 4000);
    lb_health_failed(&hf_w0, 0, 1000);
    lb_health_succeeded(&hf_w1, 0, 20000); /* back: the ramp begins */
    CU_ASSERT_EQUAL(lb_health_weight(&hf_w0, 0, 20000), 1);
    CU_ASSERT_EQUAL(lb_health_weight(&hf_w0, 0, 22500), 1000);
    CU_ASSERT_EQUAL(lb_health_weight(&hf_w0, 0, 25000), 2000);
    CU_ASSERT_EQUAL(lb_health_weight(&hf_w0, 0, 30000), 4000);
    CU_ASSERT_EQUAL(lb_health_weight(&hf_w0, 0, 90000), 4000);
    CU_ASSERT_EQUAL(lb_health_weight(&hf_w0, 1, 25000), 1000);
    /* Another worker's clock a moment behind: no weight below 1. */
    CU_ASSERT_EQUAL(lb_health_weight(&hf_w0, 0, 19990), 1);
    hf_teardown();
}

/* ---- across a reload ---- */

static void
load(const char *text, lb_config_t *cfg, lb_shared_t *sh)
{
    char *err = NULL;

    CU_ASSERT_EQUAL_FATAL(lb_config_load_string("t.cfg", text, strlen(text),
                                                cfg, NULL, NULL, &err), 0);
    CU_ASSERT_EQUAL_FATAL(lb_shared_create(cfg, sh), 0);
}

static void
test_carry(void)
{
    lb_config_t old_cfg, cfg;
    lb_shared_t old_sh, sh;

    load("[listener:web]\nlisten = 8080\nbackends = 10.0.0.1:80, "
         "10.0.0.2:80 weight=2, 10.0.0.3:80\nmax_conns = 10\n"
         "[listener:db]\nlisten = 5432\nbackends = 10.0.1.1:5432\n",
         &old_cfg, &old_sh);
    lb_atomic_store(&old_sh.state[0][0].admin, LB_ADMIN_DRAIN);
    lb_atomic_store(&old_sh.state[0][0].max_conns, 3 + 1);
    lb_atomic_store(&old_sh.state[0][1].admin, LB_ADMIN_MAINT);
    lb_atomic_store(&old_sh.state[0][1].weight, 7);
    lb_atomic_store(&old_sh.state[0][1].cut_at, 123456);
    lb_atomic_store(&old_sh.state[0][2].weight, 9);
    lb_atomic_store(&old_sh.state[1][0].admin, LB_ADMIN_DRAIN);
    /* The new config: web's backends in another order, 10.0.0.2's weight
     * changed, 10.0.0.3 replaced, max_conns changed; db renamed. */
    load("[listener:web]\nlisten = 8080\nbackends = 10.0.0.2:80 weight=5, "
         "10.0.0.9:80, 10.0.0.1:80\nmax_conns = 10\n"
         "[listener:pg]\nlisten = 5432\nbackends = 10.0.1.1:5432\n",
         &cfg, &sh);
    lb_admin_carry(&old_cfg, &old_sh, &cfg, &sh);
    CU_ASSERT_EQUAL(lb_atomic_load(&sh.state[0][2].admin), LB_ADMIN_DRAIN);
    CU_ASSERT_EQUAL(lb_atomic_load(&sh.state[0][2].max_conns), 4);
    CU_ASSERT_EQUAL(lb_atomic_load(&sh.state[0][0].admin), LB_ADMIN_MAINT);
    CU_ASSERT_EQUAL(lb_atomic_load(&sh.state[0][0].cut_at), 123456);
    CU_ASSERT_EQUAL(lb_atomic_load(&sh.state[0][0].weight), 0); /* config's */
    CU_ASSERT_EQUAL(lb_atomic_load(&sh.state[0][1].admin), LB_ADMIN_READY);
    CU_ASSERT_EQUAL(lb_atomic_load(&sh.state[0][1].weight), 0);
    CU_ASSERT_EQUAL(lb_atomic_load(&sh.state[1][0].admin), LB_ADMIN_READY);
    lb_shared_release(&old_sh);
    lb_shared_release(&sh);
    lb_config_free(&old_cfg);
    lb_config_free(&cfg);
}

void
lb_test_admin_register(void)
{
    CU_pSuite s = CU_add_suite("admin API", NULL, NULL);

    CU_add_test(s, "the JSON body", test_body);
    CU_add_test(s, "the path", test_path);
    CU_add_test(s, "requests: tokens, methods, lengths", test_request);
    CU_add_test(s, "drain and maint take no new client",
                test_drain_and_maint_take_no_client);
    CU_add_test(s, "weights and max_conns from the API",
                test_weights_and_limits_from_the_api);
    CU_add_test(s, "slow start's ramp", test_slow_start_ramp);
    CU_add_test(s, "carried across a reload", test_carry);
}
