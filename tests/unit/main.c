/* main.c - runs every CUnit suite of the core; exits non-zero on any
 * failure (CU_basic_run_tests alone reports success regardless). */
#include <CUnit/Basic.h>
#include <stdio.h>

#include "unit.h"

int
main(void)
{
    unsigned failures;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    lb_test_acl_register();
    lb_test_config_register();
    lb_test_balancer_register();
    lb_test_drain_register();
    lb_test_timers_register();
    lb_test_health_register();
    lb_test_algorithms_register();
    lb_test_proxy_proto_register();
    lb_test_stats_register();
    lb_test_streams_register();
    lb_test_inspect_register();
    lb_test_routes_register();
    lb_test_listeners_register();
    lb_test_check_register();
    lb_test_config_ops_register();
    lb_test_admin_register();
    lb_test_win32_register();
    lb_test_win32_service_register();
    lb_test_win32_loops_register();
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
