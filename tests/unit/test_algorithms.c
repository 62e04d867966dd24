/* test_algorithms.c - balancing modes (src/balance.c, src/config_balance.c):
 * algorithm = and the backend parameters weight=N and backup in the config,
 * weighted's exact smooth order, leastconn's choice and ties, source's
 * stickiness and how few clients move when a backend goes, and backups
 * used only when no primary can be. Two views of one shared block stand
 * for two worker processes. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_log.h"
#include "config_fixture.h"
#include "health_fixture.h"
#include "unit.h"

/* ---- config ---- */

static void
test_params_parsed(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};
    const lb_listener_cfg_t *l;

    CU_ASSERT_EQUAL_FATAL(
        cf_load_ok("[options]\nalgorithm = weighted\n[mappings]\n"
                   "8080 = 10.0.0.1:80 weight=3, 10.0.0.2:80,\n"
                   "       10.0.0.9:80 backup ; spare\n"
                   "127.0.0.1:8081 = [::1]:80 WEIGHT=2  Backup,\n"
                   "    10.0.0.3:80 weight=1000, 10.0.0.4:80 weight=7\n"
                   "[listener:x]\nlisten = 8082\n"
                   "backends = 10.0.0.5:80 backup weight=4\n", &cfg, &w),
        LB_EXIT_OK);
    CU_ASSERT_EQUAL(w.count, 0);
    CU_ASSERT_EQUAL_FATAL(cfg.nlisteners, 3);
    l = &cfg.listeners[0];
    CU_ASSERT_EQUAL_FATAL(l->nbackends, 3);
    CU_ASSERT_STRING_EQUAL(l->backends[0].label, "10.0.0.1:80");
    CU_ASSERT_EQUAL(l->backends[0].weight, 3);
    CU_ASSERT_EQUAL(l->backends[0].backup, 0);
    CU_ASSERT_EQUAL(l->backends[1].weight, 1);
    CU_ASSERT_STRING_EQUAL(l->backends[2].label, "10.0.0.9:80");
    CU_ASSERT_EQUAL(l->backends[2].backup, 1);
    CU_ASSERT_EQUAL(l->backends[2].weight, 1);
    l = &cfg.listeners[1];
    CU_ASSERT_STRING_EQUAL(l->name, "127.0.0.1:8081");
    CU_ASSERT_EQUAL_FATAL(l->nbackends, 3);
    CU_ASSERT_STRING_EQUAL(l->backends[0].label, "[::1]:80");
    CU_ASSERT_EQUAL(l->backends[0].weight, 2);
    CU_ASSERT_EQUAL(l->backends[0].backup, 1);
    CU_ASSERT_EQUAL(l->backends[1].weight, 1000);
    CU_ASSERT_EQUAL(l->backends[2].weight, 7);
    l = &cfg.listeners[2];
    CU_ASSERT_EQUAL(l->backends[0].weight, 4);
    CU_ASSERT_EQUAL(l->backends[0].backup, 1);
    /* Keys come from the address alone: a new weight moves nobody. */
    CU_ASSERT_NOT_EQUAL(cfg.listeners[0].backends[0].key,
                        cfg.listeners[0].backends[1].key);
    lb_config_free(&cfg);
}

static void
test_algorithm_option(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};

    CU_ASSERT_EQUAL_FATAL(cf_load_ok("[mappings]\n8080 = 10.0.0.1:80\n", &cfg,
                                     &w), LB_EXIT_OK);
    CU_ASSERT_EQUAL(cfg.algorithm, LB_ALGO_ROUNDROBIN);
    CU_ASSERT_EQUAL(cfg.listeners[0].algorithm, LB_ALGO_ROUNDROBIN);
    lb_config_free(&cfg);
    CU_ASSERT_EQUAL_FATAL(
        cf_load_ok("[mappings]\n8080 = 10.0.0.1:80\n"
                   "[listener:a]\nlisten = 8081\nbackends = 10.0.0.1:80\n"
                   "Algorithm = SOURCE\n"
                   "[listener:b]\nlisten = 8082\nbackends = 10.0.0.1:80\n"
                   "[options]\nalgorithm = leastconn\n", &cfg, &w),
        LB_EXIT_OK);
    CU_ASSERT_EQUAL(cfg.listeners[0].algorithm, LB_ALGO_LEASTCONN);
    CU_ASSERT_EQUAL(cfg.listeners[1].algorithm, LB_ALGO_SOURCE);
    CU_ASSERT_EQUAL(cfg.listeners[2].algorithm, LB_ALGO_LEASTCONN);
    lb_config_free(&cfg);
    CU_ASSERT_EQUAL_FATAL(
        cf_load_ok("[options]\nalgorithm = Weighted\n"
                   "[mappings]\n8080 = 10.0.0.1:80\n", &cfg, &w), LB_EXIT_OK);
    CU_ASSERT_EQUAL(cfg.listeners[0].algorithm, LB_ALGO_WEIGHTED);
    lb_config_free(&cfg);
}

static void
test_param_errors(void)
{
    expect_error("[options]\nalgorithm = random\n[mappings]\n8080 = a:1\n",
                 2, "algorithm must be roundrobin, weighted, leastconn or "
                 "source, got 'random'");
    expect_error("[mappings]\n8080 = a:1\n[listener:x]\nlisten = 8081\n"
                 "backends = a:1\nalgorithm = rr\n", 6, "got 'rr'");
    expect_error("[mappings]\n8080 = a:1\n[options]\nalgorithm = weighted\n"
                 "algorithm = source\n", 5, "duplicate key 'algorithm'");
    expect_error("[mappings]\n8080 = 10.0.0.1:80 weight=0\n", 2,
                 "backend '10.0.0.1:80 weight=0': weight must be a whole "
                 "number from 1 to 1000, got '0'");
    expect_error("[mappings]\n8080 = 10.0.0.1:80 weight=1001\n", 2,
                 "got '1001'");
    expect_error("[mappings]\n8080 = 10.0.0.1:80 weight=2x\n", 2,
                 "got '2x'");
    expect_error("[mappings]\n8080 = 10.0.0.1:80 weight=\n", 2, "got ''");
    expect_error("[mappings]\n8080 = 10.0.0.1:80 weight=-1\n", 2,
                 "got '-1'");
    expect_error("[mappings]\n8080 = 10.0.0.1:80 down\n", 2,
                 "backend '10.0.0.1:80 down': unknown parameter 'down'; "
                 "after the address write weight=N (1 to 1000) and/or "
                 "backup");
    expect_error("[mappings]\n8080 = 10.0.0.1:80 max_fails=3\n", 2,
                 "unknown parameter 'max_fails=3'");
    expect_error("[mappings]\n8080 = 10.0.0.1:80 weight = 3\n", 2,
                 "unknown parameter 'weight'");
    expect_error("[mappings]\n8080 = 10.0.0.1:80 weight=2 weight=3\n", 2,
                 "backend '10.0.0.1:80 weight=2 weight=3' sets weight "
                 "twice");
    expect_error("[mappings]\n8080 = 10.0.0.1:80 backup backup\n", 2,
                 "sets backup twice");
    /* Two addresses and no ',': the old advice still comes. */
    expect_error("[mappings]\n8080 = 10.0.0.1:80 10.0.0.2:80\n", 2,
                 "backend '10.0.0.1:80 10.0.0.2:80' contains a space; "
                 "separate backends with ','");
    expect_error("[mappings]\n8080 = a:80 weight=2 [::1]:80\n", 2,
                 "contains a space");
    expect_error("[mappings]\n8080 = 10.0.0.1:80,\n"
                 "    10.0.0.2:80 weight=2 app.example.com\n", 3,
                 "contains a space");
    /* A continuation line with a key is still a new entry gone wrong. */
    expect_error("[mappings]\n8080 = 10.0.0.1:80\n  8081 = 10.0.0.2:80\n",
                 3, "continues the backends of '8080'");
    expect_error("[mappings]\n8080 = 10.0.0.1:80\n  weight=2\n", 3,
                 "continues the backends of '8080'");
}

static void
test_param_warnings(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};

    CU_ASSERT_EQUAL_FATAL(
        cf_load_ok("[mappings]\n8080 = 10.0.0.1:80,\n"
                   "  10.0.0.2:80 weight=3\n", &cfg, &w), LB_EXIT_OK);
    CU_ASSERT_EQUAL(w.count, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(w.first, "t.cfg:3: weight=3 of backend "
                                  "'10.0.0.2:80' has no effect: listener "
                                  "'8080' uses algorithm roundrobin"));
    lb_config_free(&cfg);
    w.count = 0;
    /* Listed twice: one backend, the first entry's parameters. */
    CU_ASSERT_EQUAL_FATAL(
        cf_load_ok("[options]\nalgorithm = leastconn\n"
                   "[mappings]\n8080 = 10.0.0.1:80 weight=3, 10.0.0.2:80,\n"
                   "  10.0.0.1:80 backup\n", &cfg, &w), LB_EXIT_OK);
    CU_ASSERT_EQUAL(w.count, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(w.first, "t.cfg:5: backend '10.0.0.1:80' "
                                  "is listed twice"));
    CU_ASSERT_PTR_NOT_NULL(strstr(w.first, "merged into one with the first "
                                  "entry's weight=3 (not weight=1 "
                                  "backup)"));
    CU_ASSERT_EQUAL_FATAL(cfg.listeners[0].nbackends, 2);
    CU_ASSERT_EQUAL(cfg.listeners[0].backends[0].weight, 3);
    CU_ASSERT_EQUAL(cfg.listeners[0].backends[0].backup, 0);
    lb_config_free(&cfg);
}

/* ---- picking ---- */


static long
pick(lb_health_t *h, const lb_addr_t *client)
{
    return lb_pick_backend(h, &hf_shared.rr[0], client, 1000);
}

/* 10.N/16 for client n: distinct addresses spread over the space. */
static lb_addr_t
client_v4(unsigned n)
{
    char ip[32];
    lb_addr_t a;

    snprintf(ip, sizeof(ip), "10.%u.%u.%u", (n >> 16) & 255, (n >> 8) & 255,
             n & 255);
    CU_ASSERT_EQUAL(lb_addr_from_numeric(ip, 40000, &a), 0);
    return a;
}

static void
test_weighted_smooth(void)
{
    static const long want[7] = {0, 0, 1, 0, 2, 0, 0}; /* a a b a c a a */
    int seen[3] = {0, 0, 0};

    hf_setup("[options]\nalgorithm = weighted\nprocesses = 2\n[mappings]\n"
          "8080 = 10.0.0.1:80 weight=5, 10.0.0.2:80, 10.0.0.3:80\n");
    for (int i = 0; i < 70; i++) {
        /* The workers take turns: the order is shared, not per worker. */
        long b = pick(i % 2 ? &hf_w1 : &hf_w0, NULL);

        CU_ASSERT_FATAL(b >= 0 && b < 3);
        CU_ASSERT_EQUAL(b, want[i % 7]);
        seen[b]++;
    }
    CU_ASSERT_EQUAL(seen[0], 50);
    CU_ASSERT_EQUAL(seen[1], 10);
    CU_ASSERT_EQUAL(seen[2], 10);
    hf_teardown();
}

static void
test_weighted_skips_down(void)
{
    int seen[3] = {0, 0, 0};

    hf_setup("[options]\nalgorithm = weighted\n[mappings]\n"
          "8080 = 10.0.0.1:80 weight=3, 10.0.0.2:80 weight=2,\n"
          "       10.0.0.3:80 weight=1\n");
    lb_health_failed(&hf_w0, 1, 1000);
    for (int i = 0; i < 40; i++) {
        long b = pick(&hf_w0, NULL);

        CU_ASSERT_FATAL(b >= 0 && b < 3);
        seen[b]++;
    }
    CU_ASSERT_EQUAL(seen[1], 0);
    CU_ASSERT_EQUAL(seen[0], 30); /* 3:1 between the two left */
    CU_ASSERT_EQUAL(seen[2], 10);
    hf_teardown();
}

static void
test_leastconn(void)
{
    int seen[3] = {0, 0, 0};

    hf_setup("[options]\nalgorithm = leastconn\nprocesses = 2\n[mappings]\n"
          "8080 = 10.0.0.1:80, 10.0.0.2:80, 10.0.0.3:80\n");
    /* Ties take turns. */
    for (int i = 0; i < 30; i++) {
        long b = pick(&hf_w0, NULL);

        CU_ASSERT_FATAL(b >= 0 && b < 3);
        seen[b]++;
    }
    CU_ASSERT(seen[0] == 10 && seen[1] == 10 && seen[2] == 10);
    /* Counted over both workers: 3, 1 (0 + 1) and 2. */
    lb_health_count(&hf_w0, 0, 2);
    lb_health_count(&hf_w1, 0, 1);
    lb_health_count(&hf_w1, 1, 1);
    lb_health_count(&hf_w0, 2, 1);
    lb_health_count(&hf_w1, 2, 1);
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(pick(i % 2 ? &hf_w1 : &hf_w0, NULL), 1);
    /* Filling up as clients arrive: each goes to the least loaded. */
    lb_health_count(&hf_w0, 0, 2);
    lb_health_count(&hf_w0, 1, 1); /* 5, 2, 2 */
    for (int i = 0; i < 4; i++) {
        long b = pick(&hf_w0, NULL);

        CU_ASSERT(b == 1 || b == 2);
        lb_health_count(&hf_w0, (size_t)b, 1);
    }
    CU_ASSERT_EQUAL(lb_health_open_conns(&hf_w1, 1) +
                        lb_health_open_conns(&hf_w1, 2), 8);
    CU_ASSERT_EQUAL(lb_health_open_conns(&hf_w1, 1), 4);
    /* Down: skipped, however idle. */
    lb_health_count(&hf_w0, 0, -4);
    lb_health_count(&hf_w1, 0, -1);
    lb_health_failed(&hf_w0, 0, 1000);
    CU_ASSERT_NOT_EQUAL(pick(&hf_w0, NULL), 0);
    hf_teardown();
}

static void
test_leastconn_weights(void)
{
    hf_setup("[options]\nalgorithm = leastconn\n[mappings]\n"
          "8080 = 10.0.0.1:80 weight=3, 10.0.0.2:80\n");
    lb_health_count(&hf_w0, 0, 5);
    lb_health_count(&hf_w0, 1, 2);
    CU_ASSERT_EQUAL(pick(&hf_w0, NULL), 0); /* 5/3 < 2/1 */
    lb_health_count(&hf_w0, 0, 2);
    CU_ASSERT_EQUAL(pick(&hf_w0, NULL), 1); /* 7/3 > 2/1 */
    hf_teardown();
}

static void
test_source_sticky_and_spread(void)
{
    int seen[4] = {0, 0, 0, 0};
    lb_addr_t a, mapped;

    hf_setup("[options]\nalgorithm = source\n[mappings]\n"
          "8080 = 10.0.0.1:80, 10.0.0.2:80, 10.0.0.3:80, 10.0.0.4:80\n");
    for (unsigned n = 0; n < 10000; n++) {
        lb_addr_t c = client_v4(n * 7919u);
        long b = pick(&hf_w0, &c);

        CU_ASSERT_FATAL(b >= 0 && b < 4);
        seen[b]++;
    }
    for (int i = 0; i < 4; i++)
        CU_ASSERT(seen[i] > 2200 && seen[i] < 2800);
    /* The same client, again and again, from either worker and another
     * port; IPv4-mapped is the same client. */
    CU_ASSERT_EQUAL(lb_addr_from_numeric("192.0.2.7", 1, &a), 0);
    CU_ASSERT_EQUAL(lb_addr_from_numeric("::ffff:192.0.2.7", 2, &mapped), 0);
    for (int i = 0; i < 20; i++) {
        CU_ASSERT_EQUAL(pick(&hf_w1, &a), pick(&hf_w0, &a));
        CU_ASSERT_EQUAL(pick(&hf_w0, &mapped), pick(&hf_w0, &a));
    }
    hf_teardown();
}

/* Where each of n clients goes with this config, by backend label. */
static void
source_labels(const char *text, unsigned n, char (*out)[32])
{
    hf_setup(text);
    for (unsigned i = 0; i < n; i++) {
        lb_addr_t c = client_v4(i * 104729u);
        long b = pick(&hf_w0, &c);

        CU_ASSERT_FATAL(b >= 0);
        snprintf(out[i], 32, "%s", hf_cfg.listeners[0].backends[b].label);
    }
    hf_teardown();
}

static void
test_source_removal_moves_only_its_clients(void)
{
    enum { N = 10000 };
    static char five[N][32], four[N][32], six[N][32];
    int moved = 0, stayed = 0, to_new = 0;

    source_labels("[options]\nalgorithm = source\n[mappings]\n8080 = "
                  "10.0.0.1:80, 10.0.0.2:80, 10.0.0.3:80, 10.0.0.4:80, "
                  "10.0.0.5:80\n", N, five);
    source_labels("[options]\nalgorithm = source\n[mappings]\n8080 = "
                  "10.0.0.1:80, 10.0.0.2:80, 10.0.0.4:80, 10.0.0.5:80\n",
                  N, four);
    source_labels("[options]\nalgorithm = source\n[mappings]\n8080 = "
                  "10.0.0.6:80, 10.0.0.1:80, 10.0.0.2:80, 10.0.0.3:80, "
                  "10.0.0.4:80, 10.0.0.5:80\n", N, six);
    for (int i = 0; i < N; i++) {
        if (strcmp(five[i], "10.0.0.3:80") == 0)
            moved++;
        else
            stayed += strcmp(five[i], four[i]) == 0;
        /* Adding one: a client either stays or goes to the new one. */
        if (strcmp(six[i], five[i]) != 0) {
            CU_ASSERT_STRING_EQUAL(six[i], "10.0.0.6:80");
            to_new++;
        }
    }
    CU_ASSERT_EQUAL(stayed, N - moved);
    CU_ASSERT(moved > 1700 && moved < 2300);
    CU_ASSERT(to_new > 1400 && to_new < 1950); /* about 1/6 */
}

static void
test_source_skip_and_weights(void)
{
    enum { N = 4000 };
    static long before[N];
    int moved = 0, seen[2] = {0, 0};

    hf_setup("[options]\nalgorithm = source\n[mappings]\n"
          "8080 = 10.0.0.1:80, 10.0.0.2:80, 10.0.0.3:80\n");
    for (unsigned i = 0; i < N; i++) {
        lb_addr_t c = client_v4(i * 31u);

        before[i] = pick(&hf_w0, &c);
    }
    /* Out of service: only its clients go elsewhere, and come back. */
    lb_health_failed(&hf_w0, 1, 1000);
    for (unsigned i = 0; i < N; i++) {
        lb_addr_t c = client_v4(i * 31u);
        long b = pick(&hf_w0, &c);

        CU_ASSERT_NOT_EQUAL(b, 1);
        if (before[i] == 1)
            moved++;
        else
            CU_ASSERT_EQUAL(b, before[i]);
    }
    CU_ASSERT(moved > 1000);
    lb_health_succeeded(&hf_w0, 1, 1000);
    for (unsigned i = 0; i < N; i += 7) {
        lb_addr_t c = client_v4(i * 31u);

        CU_ASSERT_EQUAL(pick(&hf_w0, &c), before[i]);
    }
    hf_teardown();
    hf_setup("[options]\nalgorithm = source\n[mappings]\n"
          "8080 = 10.0.0.1:80 weight=3, 10.0.0.2:80\n");
    for (unsigned i = 0; i < 10000; i++) {
        lb_addr_t c = client_v4(i * 7919u);
        long b = pick(&hf_w0, &c);

        CU_ASSERT_FATAL(b == 0 || b == 1);
        seen[b]++;
    }
    CU_ASSERT(seen[0] > 7200 && seen[0] < 7800); /* 3:1 */
    hf_teardown();
}

static void
test_backup_only_when_needed(void)
{
    static const char *const algos[] = {"roundrobin", "weighted",
                                        "leastconn", "source"};
    char text[256];
    lb_addr_t c = client_v4(12345);

    for (size_t a = 0; a < 4; a++) {
        snprintf(text, sizeof(text), "[options]\nalgorithm = %s\n"
                 "max_conns = 2\nprocesses = 2\n[mappings]\n8080 = "
                 "10.0.0.1:80, 10.0.0.9:80 backup, 10.0.0.2:80\n",
                 algos[a]);
        hf_setup(text);
        for (int i = 0; i < 20; i++)
            CU_ASSERT_NOT_EQUAL(pick(&hf_w0, &c), 1);
        lb_health_failed(&hf_w0, 0, 1000);
        for (int i = 0; i < 6; i++)
            CU_ASSERT_EQUAL(pick(&hf_w0, &c), 2);
        /* Every primary out or full: the backup. */
        lb_health_count(&hf_w1, 2, 2);
        for (int i = 0; i < 6; i++)
            CU_ASSERT_EQUAL(pick(&hf_w0, &c), 1);
        CU_ASSERT_EQUAL(hf_logged("out of service"), 0);
        /* The backup full too: a primary out of service, anyway. */
        lb_health_count(&hf_w1, 1, 2);
        CU_ASSERT_EQUAL(pick(&hf_w0, &c), 0);
        CU_ASSERT_EQUAL(hf_logged("Every backend of 0.0.0.0:8080 is out of "
                               "service; trying 10.0.0.1:80 anyway"), 1);
        lb_health_count(&hf_w1, 2, -1);
        CU_ASSERT_EQUAL(pick(&hf_w0, &c), 2);
        hf_teardown();
    }
}

static void
test_backups_share_and_retry_rank(void)
{
    int seen[4] = {0, 0, 0, 0};

    hf_setup("[mappings]\n8080 = 10.0.0.1:80, 10.0.0.2:80, 10.0.0.8:80 backup,"
          " 10.0.0.9:80 backup\n");
    CU_ASSERT_EQUAL(lb_health_retry_rank(&hf_w0, 0, 1), 3);
    CU_ASSERT_EQUAL(lb_health_retry_rank(&hf_w0, 2, 1), 2);
    lb_health_failed(&hf_w0, 0, 1000);
    lb_health_failed(&hf_w0, 1, 1000);
    CU_ASSERT_EQUAL(lb_health_retry_rank(&hf_w0, 0, 1001), 1);
    CU_ASSERT_EQUAL(lb_health_retry_rank(&hf_w0, 3, 1001), 2);
    /* The backups take turns, as the primaries would. */
    for (int i = 0; i < 20; i++) {
        long b = pick(&hf_w0, NULL);

        CU_ASSERT_FATAL(b >= 0 && b < 4);
        seen[b]++;
    }
    CU_ASSERT_EQUAL(seen[2], 10);
    CU_ASSERT_EQUAL(seen[3], 10);
    hf_teardown();
}

/* Without backups or weights, roundrobin is PumpkinLB 2's exact order. */
static void
test_roundrobin_unchanged(void)
{
    hf_setup("[mappings]\n8080 = 10.0.0.1:80, 10.0.0.2:80, 10.0.0.3:80\n");
    for (int i = 0; i < 30; i++)
        CU_ASSERT_EQUAL(pick(i % 2 ? &hf_w1 : &hf_w0, NULL), i % 3);
    hf_teardown();
}

void
lb_test_algorithms_register(void)
{
    CU_pSuite s = CU_add_suite("algorithms", NULL, NULL);

    CU_add_test(s, "config: weight and backup", test_params_parsed);
    CU_add_test(s, "config: algorithm", test_algorithm_option);
    CU_add_test(s, "config: errors", test_param_errors);
    CU_add_test(s, "config: warnings", test_param_warnings);
    CU_add_test(s, "weighted: smooth and exact", test_weighted_smooth);
    CU_add_test(s, "weighted: skips a down backend",
                test_weighted_skips_down);
    CU_add_test(s, "leastconn: fewest over workers, ties take turns",
                test_leastconn);
    CU_add_test(s, "leastconn: per weight", test_leastconn_weights);
    CU_add_test(s, "source: sticky and spread",
                test_source_sticky_and_spread);
    CU_add_test(s, "source: removing or adding one moves only its share",
                test_source_removal_moves_only_its_clients);
    CU_add_test(s, "source: skips what is out; weights",
                test_source_skip_and_weights);
    CU_add_test(s, "backup only when every primary is out or full",
                test_backup_only_when_needed);
    CU_add_test(s, "backups take turns; retries prefer primaries",
                test_backups_share_and_retry_rank);
    CU_add_test(s, "roundrobin order unchanged", test_roundrobin_unchanged);
}
