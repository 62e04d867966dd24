/* unit.h - the suites tests/unit/main.c registers. */
#ifndef LB_UNIT_H
#define LB_UNIT_H

void lb_test_acl_register(void);
void lb_test_config_register(void);
void lb_test_balancer_register(void);
void lb_test_drain_register(void);
void lb_test_timers_register(void);
void lb_test_health_register(void);
void lb_test_algorithms_register(void);
void lb_test_proxy_proto_register(void);
void lb_test_stats_register(void);
void lb_test_streams_register(void);
void lb_test_inspect_register(void);
void lb_test_routes_register(void);
void lb_test_listeners_register(void);
void lb_test_check_register(void);
void lb_test_config_ops_register(void);
void lb_test_admin_register(void);
void lb_test_win32_register(void); /* empty on POSIX */
void lb_test_win32_service_register(void); /* empty on POSIX */
void lb_test_win32_loops_register(void);   /* empty on POSIX */

#endif
