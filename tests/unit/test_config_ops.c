/* test_config_ops.c - the config keys for operating backends: the health
 * checks' words (check_send ... check_on_down) and how a section takes
 * them from [options], the queue (queue_timeout, max_queue),
 * drain_timeout, slow_start and admin_token_file; every mistake with its
 * FILE:LINE. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config_fixture.h"
#include "lb_config.h"
#include "unit.h"

#define MAPPING "[mappings]\n127.0.0.1:8080 = 127.0.0.1:80\n"

static void
test_check_keys_inherited(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};
    const lb_check_cfg_t *a, *b;

    CU_ASSERT_EQUAL_FATAL(cf_load_ok(
        "[options]\ncheck_interval = 1\ncheck_send = PING\\r\\n\n"
        "check_expect = +PONG\ncheck_on_down = shutdown_sessions\n"
        "[listener:redis]\nlisten = 127.0.0.1:6380\n"
        "backends = 127.0.0.1:6379\n"
        "[listener:pg]\nlisten = 127.0.0.1:5433\n"
        "backends = 127.0.0.1:5432, 127.0.0.2:5432\n"
        "check_http = GET /primary\ncheck_port = 8008\n", &cfg, &w), 0);
    a = &cfg.listeners[0].health.check;
    b = &cfg.listeners[1].health.check;
    CU_ASSERT_EQUAL(a->send_len, 6);
    CU_ASSERT(a->send && memcmp(a->send, "PING\r\n", 6) == 0);
    CU_ASSERT(a->expect && memcmp(a->expect, "+PONG", 5) == 0);
    CU_ASSERT_EQUAL(a->on_down, LB_CHECK_ON_DOWN_SHUTDOWN);
    /* check_http replaces what the reply must say, not the rest. */
    CU_ASSERT_PTR_NULL(b->send);
    CU_ASSERT_PTR_NULL(b->expect);
    CU_ASSERT_STRING_EQUAL(b->http_path, "/primary");
    CU_ASSERT_EQUAL(b->on_down, LB_CHECK_ON_DOWN_SHUTDOWN);
    CU_ASSERT_EQUAL(b->port, 8008);
    CU_ASSERT_EQUAL(lb_addr_port(&cfg.listeners[1].backends[1].check_addr),
                    8008);
    CU_ASSERT(cfg.listeners[1].backends[1].check_resolved);
    CU_ASSERT_EQUAL(lb_addr_port(&cfg.listeners[0].backends[0].check_addr),
                    6379);
    lb_config_free(&cfg);
}

static void
test_check_address(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};
    char label[LB_ADDRSTRLEN];

    CU_ASSERT_EQUAL_FATAL(cf_load_ok(
        "[options]\ncheck_interval = 1\ncheck_address = 127.0.0.9\n"
        "check_expect_re = ^220[ -]\n" MAPPING, &cfg, &w), 0);
    lb_addr_format(&cfg.listeners[0].backends[0].check_addr, label,
                   sizeof(label));
    CU_ASSERT_STRING_EQUAL(label, "127.0.0.9:80");
    CU_ASSERT_PTR_NOT_NULL(cfg.listeners[0].health.check.expect_re);
    lb_config_free(&cfg);
}

static void
test_check_mistakes(void)
{
    expect_error("[options]\ncheck_interval = 1\ncheck_expect = a\n"
                 "check_expect_re = b\n" MAPPING, 4,
                 "check_expect and check_expect_re are alternatives");
    expect_error("[options]\ncheck_interval = 1\ncheck_send = x\n"
                 "check_http = GET /\n" MAPPING, 4,
                 "check_http sends its own request");
    expect_error("[options]\ncheck_interval = 1\ncheck_expect_status = 200\n"
                 MAPPING, 3, "check_expect_status needs check_http");
    expect_error("[options]\ncheck_interval = 1\ncheck_send = PING\\q\n"
                 MAPPING, 3, "check_send 'PING\\q': unknown escape '\\q'");
    expect_error("[options]\ncheck_interval = 1\ncheck_expect_re = (a\n"
                 MAPPING, 3, "check_expect_re '(a' is not a regular "
                 "expression this program reads: a '(' without its ')'");
    expect_error("[options]\ncheck_interval = 1\ncheck_http = POST /x\n"
                 MAPPING, 3, "check_http must be GET /PATH or HEAD /PATH");
    expect_error("[options]\ncheck_port = 0\n" MAPPING, 2,
                 "check_port must be a whole number from 1 to 65535");
    expect_error("[options]\ncheck_on_down = kill\n" MAPPING, 2,
                 "check_on_down must be shutdown_sessions or none");
    expect_error("[options]\ncheck_send = PING\n" MAPPING, 2,
                 "check_send has no effect without check_interval (no "
                 "listener has health checks)");
    expect_error("[options]\ncheck_interval = 0\n[listener:a]\n"
                 "listen = 8080\nbackends = 127.0.0.1:80\n"
                 "check_expect = x\n", 6, "check_expect has no effect "
                 "without check_interval (0 for listener 'a')");
    expect_error("[options]\ncheck_interval = 1\ncheck_expect = a\n"
                 "check_expect = b\n" MAPPING, 4, "duplicate key");
}

/* Per listener: [options]' checks apply only where checks run, so a
 * listener without them is fine. */
static void
test_check_keys_where_checks_run(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};

    CU_ASSERT_EQUAL_FATAL(cf_load_ok(
        "[options]\ncheck_send = PING\\r\\n\n"
        "[listener:a]\nlisten = 8080\nbackends = 127.0.0.1:80\n"
        "check_interval = 2\n"
        "[listener:b]\nlisten = 8081\nbackends = 127.0.0.1:81\n",
        &cfg, &w), 0);
    lb_config_free(&cfg);
}

static void
test_queue_keys(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};

    CU_ASSERT_EQUAL_FATAL(cf_load_ok(
        "[options]\nmax_conns = 1\nqueue_timeout = 5\nmax_queue = 10\n"
        "[listener:a]\nlisten = 8080\nbackends = 127.0.0.1:80\n"
        "queue_timeout = 0.5\n"
        "[listener:b]\nlisten = 8081\nbackends = 127.0.0.1:81\n",
        &cfg, &w), 0);
    CU_ASSERT_EQUAL(cfg.listeners[0].queue_timeout_ms, 500);
    CU_ASSERT_EQUAL(cfg.listeners[0].max_queue, 10);
    CU_ASSERT_EQUAL(cfg.listeners[1].queue_timeout_ms, 5000);
    lb_config_free(&cfg);
    CU_ASSERT_EQUAL_FATAL(cf_load_ok(MAPPING, &cfg, &w), 0);
    CU_ASSERT_EQUAL(cfg.listeners[0].queue_timeout_ms, 0);
    CU_ASSERT_EQUAL(cfg.listeners[0].max_queue, 0);
    lb_config_free(&cfg);
    expect_error("[options]\nmax_conns = 1\nmax_queue = 3\n" MAPPING, 3,
                 "max_queue has no effect without queue_timeout");
    expect_error("[options]\nqueue_timeout = 5\n" MAPPING, 2,
                 "queue_timeout has no effect without max_conns or the "
                 "admin API");
    expect_error("[options]\nqueue_timeout = -1\n" MAPPING, 2,
                 "queue_timeout must be a number of seconds");
}

static void
test_slow_start_and_drain_timeout(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};

    CU_ASSERT_EQUAL_FATAL(cf_load_ok("[options]\nalgorithm = weighted\n"
                                     "slow_start = 30\n" MAPPING, &cfg, &w),
                          0);
    CU_ASSERT_EQUAL(cfg.listeners[0].health.slow_start_ms, 30000);
    CU_ASSERT_EQUAL(w.count, 0);
    lb_config_free(&cfg);
    CU_ASSERT_EQUAL_FATAL(cf_load_ok("[options]\nslow_start = 30\n" MAPPING,
                                     &cfg, &w), 0);
    CU_ASSERT_EQUAL(w.count, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(w.first, "t.cfg:2: slow_start has no "
                                           "effect on listener"));
    lb_config_free(&cfg);
    expect_error("[options]\ndrain_timeout = 10\n" MAPPING, 2,
                 "drain_timeout has no effect without the admin API");
}

static void
write_token(const char *path, int mode)
{
    FILE *f = fopen(path, "wb");

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("adm1n-T0ken\n", f);
    fclose(f);
    CU_ASSERT_EQUAL(chmod(path, (mode_t)mode), 0);
}

static void
test_admin_token_file(void)
{
    char path[64], text[256];
    lb_config_t cfg;
    warnings_t w = {0, ""};

    snprintf(path, sizeof(path), "lb-unit-admin-%ld.tmp", lb_getpid());
    write_token(path, 0600);
    snprintf(text, sizeof(text), "[options]\nstats = 9100\n"
             "admin_token_file = %s\ndrain_timeout = 30\n"
             "queue_timeout = 2\n" MAPPING, path);
    CU_ASSERT_EQUAL_FATAL(cf_load_ok(text, &cfg, &w), 0);
    CU_ASSERT_STRING_EQUAL(cfg.stats.admin_token, "adm1n-T0ken");
    CU_ASSERT_PTR_NULL(cfg.stats.token);
    CU_ASSERT_EQUAL(cfg.listeners[0].health.drain_timeout_ms, 30000);
    lb_config_free(&cfg);
#ifndef _WIN32 /* mode bits say nothing there: ACLs decide */
    write_token(path, 0640);
    expect_error(text, 3, "can be read by its group or others");
#endif
    snprintf(text, sizeof(text), "[options]\nadmin_token_file = %s\n"
             MAPPING, path);
    write_token(path, 0600);
    expect_error(text, 2, "admin_token_file has no effect without stats");
    remove(path);
}

void
lb_test_config_ops_register(void)
{
    CU_pSuite s = CU_add_suite("config: operating backends", NULL, NULL);

    CU_add_test(s, "check keys, and a section's own",
                test_check_keys_inherited);
    CU_add_test(s, "check_address", test_check_address);
    CU_add_test(s, "check key mistakes", test_check_mistakes);
    CU_add_test(s, "check keys where checks run",
                test_check_keys_where_checks_run);
    CU_add_test(s, "queue_timeout and max_queue", test_queue_keys);
    CU_add_test(s, "slow_start and drain_timeout",
                test_slow_start_and_drain_timeout);
    CU_add_test(s, "admin_token_file", test_admin_token_file);
}
