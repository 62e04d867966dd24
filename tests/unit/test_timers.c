/* test_timers.c - the timer heap: order, stop, re-arm from a callback,
 * driven with explicit times rather than the wall clock. */
#include <CUnit/CUnit.h>
#include <string.h>

#include "lb_bufpool.h"
#include "common_timers.h"
#include "unit.h"

static int fired[16];
static int nfired;

static void
record(lb_timer_t *t)
{
    fired[nfired++] = (int)(long)(intptr_t)t->data;
}

static lb_loop_t *
new_loop(lb_bufpool_t *pool)
{
    lb_allocator_t a;
    lb_loop_t *loop = NULL;

    lb_bufpool_init(pool, 64, 4);
    a = lb_bufpool_allocator(pool);
    CU_ASSERT_EQUAL(lb_loop_new(&loop, &a), 0);
    return loop;
}

static void
test_timers_fire_in_order(void)
{
    lb_bufpool_t pool;
    lb_loop_t *loop = new_loop(&pool);
    lb_timer_t t[6];
    uint64_t base = lb_loop_now(loop);
    static const int delays[6] = {50, 10, 30, 20, 60, 40};

    nfired = 0;
    for (int i = 0; i < 6; i++) {
        lb_timer_init(loop, &t[i], record, (void *)(intptr_t)i);
        lb_timer_start(&t[i], (uint64_t)delays[i]);
    }
    lb_timer_stop(&t[4]);
    CU_ASSERT(!lb_timer_active(&t[4]));
    CU_ASSERT_EQUAL(lb_timer_heap_next(lb__loop_timers(loop), base), 10);
    lb_timer_heap_run(lb__loop_timers(loop), base + 35);
    CU_ASSERT_EQUAL(nfired, 3);
    CU_ASSERT_EQUAL(fired[0], 1);
    CU_ASSERT_EQUAL(fired[1], 3);
    CU_ASSERT_EQUAL(fired[2], 2);
    lb_timer_heap_run(lb__loop_timers(loop), base + 1000);
    CU_ASSERT_EQUAL(nfired, 5);
    CU_ASSERT_EQUAL(fired[3], 5);
    CU_ASSERT_EQUAL(fired[4], 0);
    CU_ASSERT_EQUAL(lb_timer_heap_next(lb__loop_timers(loop), base), -1);
    lb_loop_free(loop);
    lb_bufpool_free(&pool);
}

static void
test_bufpool_reuse_and_cap(void)
{
    lb_bufpool_t p;
    char *a, *b, *c;

    lb_bufpool_init(&p, 1, 1); /* buffer_size=1 must still work */
    a = lb_bufpool_get(&p);
    b = lb_bufpool_get(&p);
    CU_ASSERT_EQUAL(p.in_use, 2);
    lb_bufpool_put(&p, a);
    lb_bufpool_put(&p, b); /* over max_free: freed, not kept */
    CU_ASSERT_EQUAL(p.nfree, 1);
    c = lb_bufpool_get(&p);
    CU_ASSERT_PTR_EQUAL(c, a);
    lb_bufpool_put(&p, c);
    CU_ASSERT_EQUAL(p.in_use, 0);
    lb_bufpool_free(&p);
}

void
lb_test_timers_register(void)
{
    CU_pSuite s = CU_add_suite("timers", NULL, NULL);

    CU_add_test(s, "timers fire in order", test_timers_fire_in_order);
    CU_add_test(s, "buffer pool reuse and cap", test_bufpool_reuse_and_cap);
}
