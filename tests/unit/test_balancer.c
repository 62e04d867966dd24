/* test_balancer.c - round-robin order and wrap, the tried set, and the
 * retry choice: never the same backend twice for one client, bounded. */
#include <CUnit/CUnit.h>

#include "lb_balance.h"
#include "lb_config.h"
#include "unit.h"

static void
test_rr_order_and_wrap(void)
{
    lb_rr_t rr;
    size_t counts[3] = {0, 0, 0};

    rr.next.value = 0;
    for (size_t i = 0; i < 30; i++) {
        size_t b = lb_rr_pick(&rr, 3);
        CU_ASSERT_EQUAL(b, i % 3);
        counts[b]++;
    }
    CU_ASSERT_EQUAL(counts[0], 10);
    CU_ASSERT_EQUAL(counts[1], 10);
    CU_ASSERT_EQUAL(counts[2], 10);
}

static void
test_rr_counter_wraps(void)
{
    lb_rr_t rr;

    /* At the counter's wrap the order may skip, but never leave range. */
    rr.next.value = (unsigned long)-2;
    CU_ASSERT(lb_rr_pick(&rr, 3) < 3);
    CU_ASSERT(lb_rr_pick(&rr, 3) < 3);
    CU_ASSERT_EQUAL(lb_rr_pick(&rr, 3), 0);
    CU_ASSERT_EQUAL(lb_rr_pick(&rr, 3), 1);
}

static void
test_tried_large(void)
{
    lb_tried_t t;

    CU_ASSERT_EQUAL_FATAL(lb_tried_init(&t, 200), 0);
    CU_ASSERT_PTR_NOT_NULL(t.bits);
    lb_tried_mark(&t, 0);
    lb_tried_mark(&t, 64);
    lb_tried_mark(&t, 199);
    CU_ASSERT(lb_tried_has(&t, 64));
    CU_ASSERT(!lb_tried_has(&t, 63));
    CU_ASSERT_EQUAL(lb_tried_count(&t), 3);
    lb_tried_free(&t);
}

/* Simulates one client whose every connect fails: returns how many
 * attempts were made and checks no backend was tried twice. */
static int
fail_everything(size_t n, int max_retries, uint64_t seed, int *twice)
{
    lb_tried_t t;
    lb_rng_t rng;
    int attempts = 0;
    long next = 0;

    lb_tried_init(&t, n);
    lb_rng_seed(&rng, seed);
    *twice = 0;
    while (next >= 0) {
        if (n > 1 && lb_tried_has(&t, (size_t)next))
            (*twice)++;
        lb_tried_mark(&t, (size_t)next);
        attempts++;
        next = lb_pick_retry(&t, attempts, max_retries, &rng, NULL, NULL);
    }
    lb_tried_free(&t);
    return attempts;
}

static void
test_retry_never_twice(void)
{
    for (uint64_t seed = 1; seed < 200; seed++) {
        int twice;
        int attempts = fail_everything(5, 4, seed, &twice);
        CU_ASSERT_EQUAL(attempts, 5);
        CU_ASSERT_EQUAL(twice, 0);
    }
}

static void
test_retry_bounded_by_max_retries(void)
{
    int twice;

    CU_ASSERT_EQUAL(fail_everything(5, 2, 7, &twice), 3);
    CU_ASSERT_EQUAL(fail_everything(5, 0, 7, &twice), 1);
    /* More retries than backends: still each backend once. */
    CU_ASSERT_EQUAL(fail_everything(3, 10, 7, &twice), 3);
    CU_ASSERT_EQUAL(twice, 0);
}

static void
test_retry_single_backend(void)
{
    int twice;

    /* One backend: retried in place, within the bound. */
    CU_ASSERT_EQUAL(fail_everything(1, 3, 7, &twice), 4);
    CU_ASSERT_EQUAL(fail_everything(1, 0, 7, &twice), 1);
}

static void
test_retry_spreads(void)
{
    lb_rng_t rng;
    int seen[4] = {0, 0, 0, 0};

    lb_rng_seed(&rng, 42);
    for (int i = 0; i < 400; i++) {
        lb_tried_t t;
        long next;
        lb_tried_init(&t, 4);
        lb_tried_mark(&t, 0);
        next = lb_pick_retry(&t, 1, 3, &rng, NULL, NULL);
        CU_ASSERT(next >= 1 && next <= 3);
        if (next >= 0)
            seen[next]++;
        lb_tried_free(&t);
    }
    CU_ASSERT_EQUAL(seen[0], 0);
    for (int i = 1; i < 4; i++)
        CU_ASSERT(seen[i] > 80); /* uniform would be ~133 each */
}

void
lb_test_balancer_register(void)
{
    CU_pSuite s = CU_add_suite("balancer", NULL, NULL);

    CU_add_test(s, "round robin order and wrap", test_rr_order_and_wrap);
    CU_add_test(s, "round robin counter wrap", test_rr_counter_wraps);
    CU_add_test(s, "tried set over 64 backends", test_tried_large);
    CU_add_test(s, "retry never repeats a backend", test_retry_never_twice);
    CU_add_test(s, "retry bounded by max_retries",
                test_retry_bounded_by_max_retries);
    CU_add_test(s, "retry with one backend", test_retry_single_backend);
    CU_add_test(s, "retry choice spreads", test_retry_spreads);
}
