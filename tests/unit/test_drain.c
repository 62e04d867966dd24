/* test_drain.c - the graceful-shutdown policy against a fake clock. */
#include <CUnit/CUnit.h>

#include "lb_drain.h"
#include "unit.h"

static void
test_drain_waits_then_done(void)
{
    lb_drain_t d = {LB_DRAIN_RUNNING, 0, 0};
    uint64_t now = 1000;

    CU_ASSERT_EQUAL(lb_drain_request(&d, LB_STOP_DRAIN, now, 6000, 3),
                    LB_DRAIN_DRAINING);
    CU_ASSERT_EQUAL(lb_drain_remaining(&d, now), 6000);
    now += 2500;
    CU_ASSERT_EQUAL(lb_drain_update(&d, now, 2), LB_DRAIN_DRAINING);
    CU_ASSERT_EQUAL(lb_drain_remaining(&d, now), 3500);
    now += 1000;
    CU_ASSERT_EQUAL(lb_drain_update(&d, now, 0), LB_DRAIN_DONE);
}

static void
test_drain_deadline_cuts(void)
{
    lb_drain_t d = {LB_DRAIN_RUNNING, 0, 0};

    lb_drain_request(&d, LB_STOP_DRAIN, 0, 6000, 1);
    CU_ASSERT_EQUAL(lb_drain_update(&d, 5999, 1), LB_DRAIN_DRAINING);
    CU_ASSERT_EQUAL(lb_drain_update(&d, 6000, 1), LB_DRAIN_CUTTING);
    CU_ASSERT_EQUAL(lb_drain_remaining(&d, 6000), 0);
    /* Cutting ends when the last connection is gone. */
    CU_ASSERT_EQUAL(lb_drain_update(&d, 6001, 1), LB_DRAIN_CUTTING);
    CU_ASSERT_EQUAL(lb_drain_update(&d, 6002, 0), LB_DRAIN_DONE);
}

static void
test_drain_idle_is_immediate(void)
{
    lb_drain_t d = {LB_DRAIN_RUNNING, 0, 0};

    CU_ASSERT_EQUAL(lb_drain_request(&d, LB_STOP_DRAIN, 50, 6000, 0),
                    LB_DRAIN_DONE);
}

static void
test_drain_second_request_cuts(void)
{
    lb_drain_t d = {LB_DRAIN_RUNNING, 0, 0};

    lb_drain_request(&d, LB_STOP_DRAIN, 0, 6000, 4);
    CU_ASSERT_EQUAL(lb_drain_request(&d, LB_STOP_NOW, 10, 6000, 4),
                    LB_DRAIN_CUTTING);
}

static void
test_drain_running_ignores_updates(void)
{
    lb_drain_t d = {LB_DRAIN_RUNNING, 0, 0};

    CU_ASSERT_EQUAL(lb_drain_update(&d, 99999, 0), LB_DRAIN_RUNNING);
}

static void
test_drain_zero_timeout(void)
{
    lb_drain_t d = {LB_DRAIN_RUNNING, 0, 0};

    /* graceful_shutdown_timeout = 0: cut at once, exit when closed. */
    CU_ASSERT_EQUAL(lb_drain_request(&d, LB_STOP_DRAIN, 70, 0, 2),
                    LB_DRAIN_CUTTING);
}

/* A reload's retirement (LB_STOP_RETIRE) never cuts; a stop after it
 * gives the drain its deadline, and a second stop cuts. */
static void
test_drain_retired_has_no_deadline(void)
{
    lb_drain_t d = {LB_DRAIN_RUNNING, 0, 0};

    CU_ASSERT_EQUAL(lb_drain_request(&d, LB_STOP_RETIRE, 1000, 6000, 2),
                    LB_DRAIN_DRAINING);
    CU_ASSERT_EQUAL(lb_drain_remaining(&d, 1000), 0); /* no timer */
    CU_ASSERT_EQUAL(lb_drain_update(&d, UINT64_C(1) << 40, 2),
                    LB_DRAIN_DRAINING);
    CU_ASSERT_EQUAL(lb_drain_request(&d, LB_STOP_RETIRE, 5000, 6000, 2),
                    LB_DRAIN_DRAINING); /* twice replaced: still no limit */
    CU_ASSERT_EQUAL(lb_drain_request(&d, LB_STOP_DRAIN, 10000, 6000, 2),
                    LB_DRAIN_DRAINING);
    CU_ASSERT_EQUAL(lb_drain_remaining(&d, 10000), 6000);
    CU_ASSERT_EQUAL(lb_drain_update(&d, 16000, 2), LB_DRAIN_CUTTING);
    d.state = LB_DRAIN_RUNNING;
    d.unbounded = 0;
    lb_drain_request(&d, LB_STOP_RETIRE, 0, 6000, 1);
    CU_ASSERT_EQUAL(lb_drain_request(&d, LB_STOP_NOW, 1, 6000, 1),
                    LB_DRAIN_CUTTING);
    CU_ASSERT_EQUAL(lb_drain_update(&d, 2, 0), LB_DRAIN_DONE);
}

void
lb_test_drain_register(void)
{
    CU_pSuite s = CU_add_suite("drain", NULL, NULL);

    CU_add_test(s, "drain waits for connections", test_drain_waits_then_done);
    CU_add_test(s, "deadline cuts the rest", test_drain_deadline_cuts);
    CU_add_test(s, "no connections: done at once",
                test_drain_idle_is_immediate);
    CU_add_test(s, "second stop cuts", test_drain_second_request_cuts);
    CU_add_test(s, "running ignores updates",
                test_drain_running_ignores_updates);
    CU_add_test(s, "zero timeout cuts", test_drain_zero_timeout);
    CU_add_test(s, "a reload's retirement has no deadline",
                test_drain_retired_has_no_deadline);
}
