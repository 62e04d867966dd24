/* test_health.c - passive health (max_fails within fail_timeout), active
 * check verdicts (rise/fall), max_conns counted over worker slots, the
 * round robin that skips what is out, and the retry ranking. Two views of
 * one shared block stand for two worker processes. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_log.h"
#include "health_fixture.h"
#include "unit.h"


static void
test_passive_down_and_back(void)
{
    hf_setup("[options]\nmax_fails = 2\nfail_timeout = 10\nprocesses = 2\n"
          "[mappings]\n8080 = 10.0.0.1:80, 10.0.0.2:80\n");
    lb_health_failed(&hf_w0, 0, 1000);
    CU_ASSERT_EQUAL(lb_health_rank(&hf_w1, 0, 1001), 2); /* one is not enough */
    lb_health_failed(&hf_w1, 0, 2000); /* the other worker's failure counts */
    CU_ASSERT_EQUAL(lb_health_rank(&hf_w0, 0, 2001), 1);
    CU_ASSERT_EQUAL(lb_health_rank(&hf_w1, 0, 2001), 1);
    CU_ASSERT_EQUAL(lb_health_rank(&hf_w0, 1, 2001), 2);
    CU_ASSERT_EQUAL(hf_logged("Backend 10.0.0.1:80 of 0.0.0.0:8080 is DOWN: 2 "
                           "failed connect(s) within 10.0 s"), 1);
    /* After fail_timeout it gets another chance; failing it, it is out
     * again without a second log line. */
    CU_ASSERT_EQUAL(lb_health_rank(&hf_w0, 0, 12000), 2);
    lb_health_failed(&hf_w0, 0, 12500);
    CU_ASSERT_EQUAL(lb_health_rank(&hf_w0, 0, 13000), 1);
    CU_ASSERT_EQUAL(lb_health_rank(&hf_w0, 0, 22500), 2);
    CU_ASSERT_EQUAL(hf_logged("is DOWN"), 1);
    lb_health_succeeded(&hf_w1, 0, 1000);
    CU_ASSERT_EQUAL(lb_health_rank(&hf_w0, 0, 22600), 2);
    CU_ASSERT_EQUAL(hf_logged("Backend 10.0.0.1:80 of 0.0.0.0:8080 is UP again: "
                           "a connect succeeded"), 1);
    lb_health_succeeded(&hf_w1, 0, 1000); /* already up: nothing to say */
    CU_ASSERT_EQUAL(hf_logged("is UP again"), 1);
    hf_teardown();
}

static void
test_failures_outside_window(void)
{
    hf_setup("[options]\nmax_fails = 2\nfail_timeout = 1\n"
          "[mappings]\n8080 = 10.0.0.1:80\n");
    lb_health_failed(&hf_w0, 0, 5000);
    lb_health_failed(&hf_w0, 0, 6000); /* the window of the first is over */
    CU_ASSERT_EQUAL(lb_health_rank(&hf_w0, 0, 6001), 2);
    lb_health_failed(&hf_w0, 0, 6500);
    CU_ASSERT_EQUAL(lb_health_rank(&hf_w0, 0, 6501), 1);
    hf_teardown();
}

static void
test_max_fails_zero_never_down(void)
{
    hf_setup("[options]\nmax_fails = 0\n[mappings]\n8080 = 10.0.0.1:80\n");
    for (int i = 0; i < 100; i++)
        lb_health_failed(&hf_w0, 0, 1000 + (uint64_t)i);
    CU_ASSERT_EQUAL(lb_health_rank(&hf_w0, 0, 2000), 2);
    CU_ASSERT_EQUAL(hf_logged("is DOWN"), 0);
    hf_teardown();
}

static void
test_max_conns_over_workers(void)
{
    hf_setup("[options]\nmax_conns = 2\nprocesses = 2\n"
          "[mappings]\n8080 = 10.0.0.1:80, 10.0.0.2:80\n");
    lb_health_count(&hf_w0, 0, 1);
    CU_ASSERT_EQUAL(lb_health_rank(&hf_w1, 0, 1), 2);
    lb_health_count(&hf_w1, 0, 1);
    CU_ASSERT_EQUAL(lb_health_rank(&hf_w0, 0, 1), 0);
    CU_ASSERT_EQUAL(lb_health_rank(&hf_w1, 0, 1), 0);
    CU_ASSERT_EQUAL(lb_health_rank(&hf_w1, 1, 1), 2);
    lb_health_count(&hf_w0, 0, -1);
    CU_ASSERT_EQUAL(lb_health_rank(&hf_w1, 0, 1), 2);
    /* Worker 1 dies holding one; its successor starts its row at 0. */
    lb_health_count(&hf_w0, 0, 1);
    CU_ASSERT_EQUAL(lb_health_rank(&hf_w0, 0, 1), 0);
    lb_health_init(&hf_w1, &hf_cfg.listeners[0], hf_shared.state[0], hf_shared.conns[0],
                   1, hf_shared.processes);
    CU_ASSERT_EQUAL(lb_health_rank(&hf_w0, 0, 1), 2);
    hf_teardown();
}

static void
test_pick_skips_down_evenly(void)
{
    int seen[3] = {0, 0, 0};

    hf_setup("[mappings]\n8080 = 10.0.0.1:80, 10.0.0.2:80, 10.0.0.3:80\n");
    lb_health_failed(&hf_w0, 1, 1000); /* max_fails 1 by default */
    for (int i = 0; i < 60; i++) {
        long b = lb_pick_backend(&hf_w0, &hf_shared.rr[0], NULL, 1001);

        CU_ASSERT(b >= 0 && b < 3);
        if (b >= 0 && b < 3)
            seen[b]++;
    }
    CU_ASSERT_EQUAL(seen[1], 0);
    CU_ASSERT_EQUAL(seen[0], 30);
    CU_ASSERT_EQUAL(seen[2], 30);
    hf_teardown();
}

static void
test_pick_all_down_or_full(void)
{
    hf_setup("[options]\nmax_conns = 1\n"
          "[mappings]\n8080 = 10.0.0.1:80, 10.0.0.2:80\n");
    lb_health_failed(&hf_w0, 0, 1000);
    lb_health_failed(&hf_w0, 1, 1000);
    /* Everything is out of service: try one anyway, and say so. */
    CU_ASSERT(lb_pick_backend(&hf_w0, &hf_shared.rr[0], NULL, 1001) >= 0);
    CU_ASSERT_EQUAL(hf_logged("Every backend of 0.0.0.0:8080 is out of "
                           "service"), 1);
    lb_health_count(&hf_w0, 0, 1);
    CU_ASSERT_EQUAL(lb_pick_backend(&hf_w0, &hf_shared.rr[0], NULL, 1001), 1);
    lb_health_count(&hf_w0, 1, 1);
    CU_ASSERT_EQUAL(lb_pick_backend(&hf_w0, &hf_shared.rr[0], NULL, 1001), -1);
    hf_teardown();
}

static void
test_active_rise_fall(void)
{
    lb_check_streak_t sk = {0, 0, 0};

    hf_setup("[options]\ncheck_interval = 1\nrise = 2\nfall = 3\n"
          "[mappings]\n8080 = 10.0.0.1:80\n");
    lb_health_checked(&hf_w0, 0, 0, &sk, 1000);
    lb_health_checked(&hf_w0, 0, 0, &sk, 1000);
    CU_ASSERT_EQUAL(lb_health_rank(&hf_w0, 0, 1), 2);
    lb_health_checked(&hf_w0, 0, 0, &sk, 1000);
    /* Out until the checks pass, however long that takes. */
    CU_ASSERT_EQUAL(lb_health_rank(&hf_w1, 0, UINT64_C(1) << 40), 1);
    CU_ASSERT_EQUAL(hf_logged("DOWN: 3 health checks in a row failed; not used "
                           "until 2 health checks in a row pass"), 1);
    lb_health_checked(&hf_w0, 0, 1, &sk, 1000);
    CU_ASSERT_EQUAL(lb_health_rank(&hf_w1, 0, 1), 1);
    lb_health_checked(&hf_w0, 0, 1, &sk, 1000);
    CU_ASSERT_EQUAL(lb_health_rank(&hf_w1, 0, 1), 2);
    CU_ASSERT_EQUAL(hf_logged("UP again: 2 health checks in a row passed"), 1);
    hf_teardown();
}

static void
test_passive_down_waits_for_checks(void)
{
    lb_check_streak_t sk = {0, 0, 0};

    hf_setup("[options]\ncheck_interval = 1\nrise = 2\nfail_timeout = 1\n"
          "[mappings]\n8080 = 10.0.0.1:80\n");
    for (int i = 0; i < 5; i++)
        lb_health_checked(&hf_w0, 0, 1, &sk, 1000); /* passing all along */
    lb_health_failed(&hf_w1, 0, 1000);
    CU_ASSERT_EQUAL(lb_health_rank(&hf_w0, 0, 50000), 1);
    CU_ASSERT_EQUAL(hf_logged("not used until 2 health checks in a row pass"),
                    1);
    /* Passes from before it went down do not count. */
    lb_health_checked(&hf_w0, 0, 1, &sk, 1000);
    CU_ASSERT_EQUAL(lb_health_rank(&hf_w0, 0, 50000), 1);
    lb_health_checked(&hf_w0, 0, 1, &sk, 1000);
    CU_ASSERT_EQUAL(lb_health_rank(&hf_w0, 0, 50000), 2);
    hf_teardown();
}

static int
rank_table(void *ctx, size_t i)
{
    return ((const int *)ctx)[i];
}

static void
test_retry_prefers_best_rank(void)
{
    int ranks[4] = {2, 0, 1, 2};
    lb_rng_t rng;
    lb_tried_t t;
    int seen[4] = {0, 0, 0, 0};

    lb_rng_seed(&rng, 7);
    lb_tried_init(&t, 4);
    lb_tried_mark(&t, 0);
    for (int i = 0; i < 100; i++) {
        long next = lb_pick_retry(&t, 1, 3, &rng, rank_table, ranks);
        CU_ASSERT_EQUAL(next, 3); /* the only untried with rank 2 */
    }
    lb_tried_mark(&t, 3);
    CU_ASSERT_EQUAL(lb_pick_retry(&t, 2, 3, &rng, rank_table, ranks), 2);
    lb_tried_mark(&t, 2);
    /* Only a backend at max_conns is left: no retry. */
    CU_ASSERT_EQUAL(lb_pick_retry(&t, 3, 3, &rng, rank_table, ranks), -1);
    lb_tried_free(&t);
    ranks[1] = 2;
    lb_tried_init(&t, 4);
    for (int i = 0; i < 400; i++) {
        long next = lb_pick_retry(&t, 1, 3, &rng, rank_table, ranks);
        CU_ASSERT(next == 0 || next == 1 || next == 3);
        if (next >= 0)
            seen[next]++;
    }
    CU_ASSERT(seen[0] > 80 && seen[1] > 80 && seen[3] > 80);
    lb_tried_free(&t);
}

void
lb_test_health_register(void)
{
    CU_pSuite s = CU_add_suite("health", NULL, NULL);

    CU_add_test(s, "passive: down after max_fails, back after success",
                test_passive_down_and_back);
    CU_add_test(s, "passive: failures outside the window",
                test_failures_outside_window);
    CU_add_test(s, "passive: max_fails 0", test_max_fails_zero_never_down);
    CU_add_test(s, "max_conns over worker slots",
                test_max_conns_over_workers);
    CU_add_test(s, "round robin skips a down backend evenly",
                test_pick_skips_down_evenly);
    CU_add_test(s, "all down: fallback; all full: none",
                test_pick_all_down_or_full);
    CU_add_test(s, "active: rise and fall", test_active_rise_fall);
    CU_add_test(s, "passive down with checks waits for rise passes",
                test_passive_down_waits_for_checks);
    CU_add_test(s, "retry prefers the best rank",
                test_retry_prefers_best_rank);
}
