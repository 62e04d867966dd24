/* test_config.c - unit tests of the INI config loader (src/config.c):
 * both mapping forms, listener sections, options, and every error with
 * its file:line. Registered as the CUnit suite "config". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "config_fixture.h"
#include "lb_config.h"

void lb_test_config_register(void);

static char *
write_temp(const char *data, size_t len)
{
    char tmpl[] = "/tmp/lbcfgXXXXXX";
    int fd = mkstemp(tmpl);
    char *path;

    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(write(fd, data, len) == (ssize_t)len);
    close(fd);
    path = malloc(sizeof(tmpl));
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    memcpy(path, tmpl, sizeof(tmpl));
    return path;
}

/* ---- mappings ---- */

static void
test_mapping_port_only(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};

    CU_ASSERT_EQUAL_FATAL(
        cf_load_ok("[mappings]\n8080=127.0.0.1:80\n", &cfg, &w), 0);
    CU_ASSERT_EQUAL_FATAL(cfg.nlisteners, 1);
    CU_ASSERT_STRING_EQUAL(cfg.listeners[0].name, "8080");
    CU_ASSERT_STRING_EQUAL(cfg.listeners[0].listen_label, "0.0.0.0:8080");
    CU_ASSERT_EQUAL(cfg.listeners[0].line, 2);
    CU_ASSERT_EQUAL_FATAL(cfg.listeners[0].nbackends, 1);
    CU_ASSERT_STRING_EQUAL(cfg.listeners[0].backends[0].host, "127.0.0.1");
    CU_ASSERT_EQUAL(cfg.listeners[0].backends[0].port, 80);
    CU_ASSERT_EQUAL(cfg.listeners[0].backends[0].resolved, 1);
    CU_ASSERT_STRING_EQUAL(cfg.listeners[0].backends[0].label,
                           "127.0.0.1:80");
    CU_ASSERT_STRING_EQUAL(cfg.path, "t.cfg");
    CU_ASSERT_EQUAL(w.count, 0);
    lb_config_free(&cfg);
    CU_ASSERT_PTR_NULL(cfg.listeners);
}

/* inih hands "192.168.1.100:80=..." over as name "192.168.1.100". */
static void
test_mapping_localaddr(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};
    lb_addr_t want;

    CU_ASSERT_EQUAL_FATAL(
        cf_load_ok("[mappings]\n192.168.1.100:80=10.10.0.1:5900,10.10.0.2:5900"
                   "\n", &cfg, &w), 0);
    CU_ASSERT_EQUAL_FATAL(cfg.nlisteners, 1);
    CU_ASSERT_STRING_EQUAL(cfg.listeners[0].name, "192.168.1.100:80");
    CU_ASSERT_STRING_EQUAL(cfg.listeners[0].listen_label,
                           "192.168.1.100:80");
    CU_ASSERT_EQUAL_FATAL(cfg.listeners[0].nbackends, 2);
    CU_ASSERT_STRING_EQUAL(cfg.listeners[0].backends[0].label,
                           "10.10.0.1:5900");
    CU_ASSERT_STRING_EQUAL(cfg.listeners[0].backends[1].host, "10.10.0.2");
    CU_ASSERT_EQUAL(cfg.listeners[0].backends[1].port, 5900);
    lb_addr_from_numeric("10.10.0.2", 5900, &want);
    CU_ASSERT(lb_addr_equal(&cfg.listeners[0].backends[1].addr, &want));
    lb_config_free(&cfg);
}

static void
test_mapping_localaddr_names(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};
    lb_backend_cfg_t *b;

    CU_ASSERT_EQUAL_FATAL(
        cf_load_ok("[options]\npre_resolve_workers=0\n[mappings]\n"
                   "127.0.0.1:8080 = a:1, b:2\n", &cfg, &w), 0);
    CU_ASSERT_EQUAL_FATAL(cfg.nlisteners, 1);
    CU_ASSERT_STRING_EQUAL(cfg.listeners[0].name, "127.0.0.1:8080");
    CU_ASSERT_STRING_EQUAL(cfg.listeners[0].listen_label, "127.0.0.1:8080");
    CU_ASSERT_EQUAL_FATAL(cfg.listeners[0].nbackends, 2);
    b = cfg.listeners[0].backends;
    CU_ASSERT_STRING_EQUAL(b[0].host, "a");
    CU_ASSERT_EQUAL(b[0].port, 1);
    CU_ASSERT_EQUAL(b[0].resolved, 0);
    CU_ASSERT_STRING_EQUAL(b[0].label, "a:1");
    CU_ASSERT_STRING_EQUAL(b[1].label, "b:2");
    CU_ASSERT_EQUAL(cfg.pre_resolve, 0);
    lb_config_free(&cfg);
}

/* The original's example.cfg, with pre_resolve_workers after it. */
static void
test_original_example(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};
    lb_listener_cfg_t *l;

    CU_ASSERT_EQUAL_FATAL(
        cf_load_ok("[mappings]\n"
                   "24003=192.168.1.100:80,192.168.1.101:80,192.168.1.102:80,"
                   "192.168.1.103:80\n"
                   "24004=google.com:80\n"
                   "[options]\npre_resolve_workers=0\n", &cfg, &w), 0);
    CU_ASSERT_EQUAL_FATAL(cfg.nlisteners, 2);
    l = cfg.listeners;
    CU_ASSERT_STRING_EQUAL(l[0].listen_label, "0.0.0.0:24003");
    CU_ASSERT_EQUAL_FATAL(l[0].nbackends, 4);
    CU_ASSERT_STRING_EQUAL(l[0].backends[3].label, "192.168.1.103:80");
    CU_ASSERT_EQUAL(l[0].backends[3].resolved, 1);
    CU_ASSERT_STRING_EQUAL(l[1].listen_label, "0.0.0.0:24004");
    CU_ASSERT_EQUAL(l[1].line, 3);
    CU_ASSERT_EQUAL_FATAL(l[1].nbackends, 1);
    CU_ASSERT_STRING_EQUAL(l[1].backends[0].host, "google.com");
    CU_ASSERT_EQUAL(l[1].backends[0].resolved, 0);
    CU_ASSERT_EQUAL(cfg.pre_resolve, 0);
    lb_config_free(&cfg);
}

static void
test_spaces_and_commas(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};

    CU_ASSERT_EQUAL_FATAL(
        cf_load_ok("[mappings]\n 8080 :  10.0.0.1:80 ,  10.0.0.2:81 ,, \n",
                   &cfg, &w), 0);
    CU_ASSERT_EQUAL_FATAL(cfg.nlisteners, 1);
    CU_ASSERT_STRING_EQUAL(cfg.listeners[0].name, "8080");
    CU_ASSERT_EQUAL_FATAL(cfg.listeners[0].nbackends, 2);
    CU_ASSERT_STRING_EQUAL(cfg.listeners[0].backends[0].label,
                           "10.0.0.1:80");
    CU_ASSERT_EQUAL(cfg.listeners[0].backends[1].port, 81);
    lb_config_free(&cfg);
}

static void
test_comments(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};

    CU_ASSERT_EQUAL_FATAL(
        cf_load_ok("; a comment\n# another\n[mappings] ; trailing\n"
                   "8080 = 10.0.0.1:80, 10.0.0.2:80 ; 10.0.0.3:80\n"
                   "#8081 = 10.0.0.4:80\n;8082 = 10.0.0.4:80\n", &cfg, &w), 0);
    CU_ASSERT_EQUAL_FATAL(cfg.nlisteners, 1);
    CU_ASSERT_EQUAL(cfg.listeners[0].nbackends, 2);
    CU_ASSERT_EQUAL(w.count, 0);
    lb_config_free(&cfg);
}

static void
test_continuation(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};
    lb_listener_cfg_t *l;

    CU_ASSERT_EQUAL_FATAL(
        cf_load_ok("[mappings]\n"
                   "8080 = 10.0.0.1:80,\n"
                   "    10.0.0.2:80,\n"
                   "\n"
                   "\t10.0.0.3:80 ; comment\n"
                   "8081 =\n"
                   "  10.0.0.4:80\n"
                   "[listener:web]\n"
                   "backends = 10.0.0.5:80,\n"
                   "   10.0.0.6:80\n"
                   "listen = 9000\n", &cfg, &w), 0);
    CU_ASSERT_EQUAL_FATAL(cfg.nlisteners, 3);
    l = cfg.listeners;
    CU_ASSERT_EQUAL_FATAL(l[0].nbackends, 3);
    CU_ASSERT_STRING_EQUAL(l[0].backends[2].label, "10.0.0.3:80");
    CU_ASSERT_EQUAL_FATAL(l[1].nbackends, 1);
    CU_ASSERT_STRING_EQUAL(l[1].backends[0].label, "10.0.0.4:80");
    CU_ASSERT_EQUAL_FATAL(l[2].nbackends, 2);
    CU_ASSERT_STRING_EQUAL(l[2].listen_label, "0.0.0.0:9000");
    lb_config_free(&cfg);
}

/* ---- listener sections ---- */

static void
test_listener_sections(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};
    lb_listener_cfg_t *l;
    lb_addr_t want;

    CU_ASSERT_EQUAL_FATAL(
        cf_load_ok("[listener:web]\n"
                   "LISTEN = [::]:8080\n"
                   "backends = [::1]:80, 127.0.0.1:81\n"
                   "[listener:local]\n"
                   "listen: 127.0.0.1:9000\n"
                   "backends: 10.0.0.1:1\n"
                   "[listener:star]\n"
                   "listen = *:9001\n"
                   "backends = 10.0.0.1:2\n", &cfg, &w), 0);
    CU_ASSERT_EQUAL_FATAL(cfg.nlisteners, 3);
    l = cfg.listeners;
    CU_ASSERT_STRING_EQUAL(l[0].name, "web");
    CU_ASSERT_EQUAL(l[0].line, 1);
    CU_ASSERT_STRING_EQUAL(l[0].listen_label, "[::]:8080");
    CU_ASSERT_EQUAL_FATAL(l[0].nbackends, 2);
    CU_ASSERT_STRING_EQUAL(l[0].backends[0].host, "::1");
    CU_ASSERT_STRING_EQUAL(l[0].backends[0].label, "[::1]:80");
    CU_ASSERT_EQUAL(l[0].backends[0].port, 80);
    CU_ASSERT_EQUAL(l[0].backends[0].resolved, 1);
    lb_addr_from_numeric("::1", 80, &want);
    CU_ASSERT(lb_addr_equal(&l[0].backends[0].addr, &want));
    CU_ASSERT_STRING_EQUAL(l[1].name, "local");
    CU_ASSERT_STRING_EQUAL(l[1].listen_label, "127.0.0.1:9000");
    CU_ASSERT_STRING_EQUAL(l[2].listen_label, "0.0.0.0:9001");
    CU_ASSERT_EQUAL(w.count, 0);
    lb_config_free(&cfg);
}

static void
test_listener_errors(void)
{
    expect_error("[listener:web]\nbackends = 10.0.0.1:80\n[mappings]\n"
                 "8080=10.0.0.1:80\n", 1, "[listener:web] has no 'listen'");
    expect_error("[mappings]\n8080=10.0.0.1:80\n[listener:web]\n"
                 "listen = 8081\n", 3, "[listener:web] has no 'backends'");
    expect_error("[listener:]\nlisten=1\nbackends=1.2.3.4:5\n", 1,
                 "'[listener:]'");
    expect_error("[listener:a]\nlisten=1\nbackends=1.2.3.4:5\n"
                 "[listener:a]\n", 4, "duplicate section '[listener:a]'");
    expect_error("[listener:a]\nlisten=1\nlisten=2\n", 3,
                 "duplicate key 'listen'");
    expect_error("[listener:a]\nlisten=1\nbackends=\n", 3,
                 "lists no backends");
    expect_error("[listener:a]\nlisten=[::1:80\nbackends=1.2.3.4:5\n", 2,
                 "'[::1:80'");
    expect_error("[listener:a]\nlisten=[1.2.3.4]:80\nbackends=1.2.3.4:5\n",
                 2, "'1.2.3.4' is not an IPv6 address");
    expect_error("[listener:a]\nlisten=::1:80\nbackends=1.2.3.4:5\n", 2,
                 "'::1:80' has more than one ':'");
    expect_error("[listener:a]\nlisten=1\nbackends=[nosuch]:80\n", 3,
                 "'nosuch' is not an IPv6 address");
    expect_error("[listener:a]\nlisten=1\nbackends=::1:80\n", 3,
                 "backend '::1:80' has more than one ':'");
}

/* ---- files ---- */

static void
test_file_crlf(void)
{
    static const char text[] = "[options]\r\nbuffer_size = 8192\r\n"
                               "[mappings]\r\n8080 = 10.0.0.1:80,\r\n"
                               "  10.0.0.2:80\r\n";
    static const char bad[] = "[mappings]\r\n8080 = 10.0.0.1:80\r\n"
                              "8081 = 10.0.0.1:0\r\n";
    lb_config_t cfg;
    warnings_t w = {0, ""};
    char *path = write_temp(text, sizeof(text) - 1);
    char *err = NULL;
    char want[128];

    CU_ASSERT_EQUAL(lb_config_load(path, &cfg, cf_collect_warning, &w, &err),
                    LB_EXIT_OK);
    CU_ASSERT_PTR_NULL(err);
    CU_ASSERT_EQUAL(cfg.buffer_size, 8192);
    CU_ASSERT_STRING_EQUAL(cfg.path, path);
    CU_ASSERT_EQUAL_FATAL(cfg.nlisteners, 1);
    CU_ASSERT_EQUAL_FATAL(cfg.listeners[0].nbackends, 2);
    CU_ASSERT_STRING_EQUAL(cfg.listeners[0].backends[1].label,
                           "10.0.0.2:80");
    lb_config_free(&cfg);
    unlink(path);
    free(path);

    path = write_temp(bad, sizeof(bad) - 1);
    CU_ASSERT_EQUAL(lb_config_load(path, &cfg, cf_collect_warning, &w, &err),
                    LB_EXIT_CONFIG);
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    snprintf(want, sizeof(want), "%s:3: ", path);
    CU_ASSERT_EQUAL(strncmp(err, want, strlen(want)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "got '0'"));
    free(err);
    unlink(path);
    free(path);
}

static void
test_file_bom(void)
{
    static const char text[] = "\xEF\xBB\xBF[mappings]\n8080=10.0.0.1:80\n";
    lb_config_t cfg;
    warnings_t w = {0, ""};
    char *path = write_temp(text, sizeof(text) - 1);
    char *err = NULL;

    CU_ASSERT_EQUAL(lb_config_load(path, &cfg, cf_collect_warning, &w, &err),
                    LB_EXIT_OK);
    CU_ASSERT_PTR_NULL(err);
    CU_ASSERT_EQUAL(w.count, 0);
    CU_ASSERT_EQUAL_FATAL(cfg.nlisteners, 1);
    CU_ASSERT_STRING_EQUAL(cfg.listeners[0].listen_label, "0.0.0.0:8080");
    lb_config_free(&cfg);
    unlink(path);
    free(path);
}

static void
test_file_missing(void)
{
    lb_config_t cfg;
    char *err = NULL;

    CU_ASSERT_EQUAL(lb_config_load("/nonexistent/pumpkinlb.cfg", &cfg, NULL,
                                   NULL, &err), LB_EXIT_CONFIG);
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_STRING_EQUAL(err, "/nonexistent/pumpkinlb.cfg: cannot open: "
                                "No such file or directory");
    CU_ASSERT_EQUAL(cfg.nlisteners, 0);
    free(err);
    lb_config_free(&cfg); /* safe on what a failed load left */
}

/* ---- options ---- */

static void
test_option_defaults(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};

    CU_ASSERT_EQUAL_FATAL(cf_load_ok("[mappings]\n80=1.2.3.4:80\n", &cfg, &w),
                          0);
    CU_ASSERT_EQUAL(cfg.pre_resolve, 1);
    CU_ASSERT_EQUAL(cfg.buffer_size, LB_DEFAULT_BUFFER_SIZE);
    CU_ASSERT_EQUAL(cfg.connect_timeout_ms, 5000);
    CU_ASSERT_EQUAL(cfg.graceful_timeout_ms, 6000);
    CU_ASSERT_EQUAL(cfg.max_retries, -1);
    CU_ASSERT_EQUAL(cfg.processes, 1);
    CU_ASSERT_PTR_NULL(cfg.log_file);
    lb_config_free(&cfg);
}

static void
test_option_values(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};

    CU_ASSERT_EQUAL_FATAL(
        cf_load_ok("[options]\n"
                   "Pre_Resolve_Workers = OFF\n"
                   "buffer_size: 8192\n"
                   "connect_timeout = 0.25\n"
                   "graceful_shutdown_timeout = 0\n"
                   "MAX_RETRIES = 3\n"
                   "processes = 64\n"
                   "log_file = /var/log/pumpkin lb.log\n"
                   "[mappings]\n80=1.2.3.4:80\n", &cfg, &w), 0);
    CU_ASSERT_EQUAL(cfg.pre_resolve, 0);
    CU_ASSERT_EQUAL(cfg.buffer_size, 8192);
    CU_ASSERT_EQUAL(cfg.connect_timeout_ms, 250);
    CU_ASSERT_EQUAL(cfg.graceful_timeout_ms, 0);
    CU_ASSERT_EQUAL(cfg.max_retries, 3);
    CU_ASSERT_EQUAL(cfg.processes, 64);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg.log_file);
    CU_ASSERT_STRING_EQUAL(cfg.log_file, "/var/log/pumpkin lb.log");
    CU_ASSERT_EQUAL(w.count, 0);
    lb_config_free(&cfg);
}

static int
load_bool(const char *word)
{
    char text[128];
    lb_config_t cfg;
    warnings_t w = {0, ""};
    int v;

    snprintf(text, sizeof(text),
             "[options]\npre_resolve_workers=%s\n[mappings]\n80=1.2.3.4:5\n",
             word);
    if (cf_load_ok(text, &cfg, &w) != 0)
        return -1;
    v = cfg.pre_resolve;
    lb_config_free(&cfg);
    return v;
}

static void
test_option_bool(void)
{
    CU_ASSERT_EQUAL(load_bool("0"), 0);
    CU_ASSERT_EQUAL(load_bool("1"), 1);
    CU_ASSERT_EQUAL(load_bool("True"), 1);
    CU_ASSERT_EQUAL(load_bool("false"), 0);
    CU_ASSERT_EQUAL(load_bool("YES"), 1);
    CU_ASSERT_EQUAL(load_bool("no"), 0);
    CU_ASSERT_EQUAL(load_bool("on"), 1);
    CU_ASSERT_EQUAL(load_bool("Off"), 0);
    expect_error("[options]\npre_resolve_workers = maybe\n", 2,
                 "pre_resolve_workers must be 0, 1, true, false, yes, no, "
                 "on or off, got 'maybe'");
}

static void
test_option_errors(void)
{
    expect_error("[mappings]\n80=1.2.3.4:80\n[options]\nbuffer_size = abc\n",
                 4, "buffer_size must be a whole number of bytes greater "
                    "than 0, got 'abc'");
    expect_error("[options]\nbuffer_size = 0\n", 2, "got '0'");
    expect_error("[options]\nbuffer_size = -1\n", 2, "got '-1'");
    expect_error("[options]\nbuffer_size = 12x\n", 2, "got '12x'");
    expect_error("[options]\nbuffer_size = 99999999999999999999999\n", 2,
                 "buffer_size must be at most 67108864 bytes, got "
                 "'99999999999999999999999'");
    expect_error("[options]\nbuffer_size = 67108865\n", 2,
                 "got '67108865'");
    expect_error("[options]\nconnect_timeout = -1\n", 2,
                 "connect_timeout must be a number of seconds");
    expect_error("[options]\nconnect_timeout = 1.5s\n", 2, "got '1.5s'");
    expect_error("[options]\ngraceful_shutdown_timeout = .\n", 2,
                 "graceful_shutdown_timeout must be a number of seconds, "
                 "0 or more (e.g. 5 or 0.5), got '.'");
    expect_error("[options]\nmax_retries = -1\n", 2,
                 "max_retries must be a whole number, 0 or more, got '-1'");
    expect_error("[options]\nprocesses = 0\n", 2,
                 "processes must be a whole number from 1 to 64, got '0'");
    expect_error("[options]\nprocesses = 65\n", 2, "got '65'");
    expect_error("[options]\nlog_file =\n", 2, "log_file must not be empty");
    expect_error("[options]\nbuffer_size = 1\nBuffer_Size = 2\n", 3,
                 "duplicate key 'buffer_size' (first set on line 2)");
    expect_error("[options]\nbuffer_size = 1\n  processes = 2\n", 3,
                 "indented line 'processes = 2' continues 'buffer_size'");
    expect_error("buffer_size = 1\n", 1, "comes before any section");
}

/* ---- errors in mappings, each with its line ---- */

static void
test_mapping_errors(void)
{
    expect_error("[mappings]\n0=1.2.3.4:5\n", 2,
                 "listen port must be a whole number from 1 to 65535, "
                 "got '0'");
    expect_error("[mappings]\n80=1.2.3.4:5\n65536=1.2.3.4:5\n", 3,
                 "got '65536'");
    expect_error("[mappings]\n127.0.0.1:65536=1.2.3.4:5\n", 2,
                 "got '65536'");
    expect_error("[mappings]\nhttp=1.2.3.4:5\n", 2, "got 'http'");
    expect_error("[mappings]\n\n8080=foo\n", 3,
                 "backend 'foo' has no port; write host:port");
    expect_error("[mappings]\n8080=1.2.3.4:http\n", 2,
                 "backend '1.2.3.4:http': port must be a whole number from "
                 "1 to 65535, got 'http'");
    expect_error("[mappings]\n8080=1.2.3.4:0\n", 2, "got '0'");
    expect_error("[mappings]\n8080=1.2.3.4:70000\n", 2, "got '70000'");
    expect_error("[mappings]\n8080=:80\n", 2,
                 "backend ':80' has no host before ':'");
    expect_error("[mappings]\n8080=a b:80\n", 2,
                 "backend 'a b:80' contains a space");
    expect_error("[mappings]\n1.2.3.4:80:90=1.2.3.4:5\n", 2,
                 "listen address '1.2.3.4:80:90' has more than one ':'");
    expect_error("[mappings]\n8080=\n[options]\n", 2,
                 "mapping '8080' has no backends");
    expect_error("[mappings]\n8080= , ,\n", 2,
                 "mapping '8080' has no backends");
    expect_error("[mappings]\n8080=1.2.3.4:5\n  8081=1.2.3.4:6\n", 3,
                 "indented line '8081=1.2.3.4:6' continues the backends of "
                 "'8080'");
    expect_error("[mappings]\n[::1]:8080=1.2.3.4:5\n", 2,
                 "unexpected text after '[::1]'");
    expect_error("[mappings]\n8080=1.2.3.4:5\nfoo\n", 3,
                 "expected 'key = value' or '[section]', got 'foo'");
    expect_error("[mappings\n8080=1.2.3.4:5\n", 1,
                 "expected 'key = value' or '[section]', got '[mappings'");
}

static void
test_duplicate_listen(void)
{
    expect_error("[mappings]\n8080=1.2.3.4:5\n; x\n0.0.0.0:8080=1.2.3.4:6\n",
                 4, "duplicate listen address '0.0.0.0:8080' "
                    "(also on line 2)");
    expect_error("[mappings]\n8080=1.2.3.4:5\n8080=1.2.3.4:6\n", 3,
                 "duplicate listen address '0.0.0.0:8080'");
    expect_error("[mappings]\n8080=1.2.3.4:5\n[listener:x]\n"
                 "backends=1.2.3.4:5\nlisten=*:8080\n", 5,
                 "duplicate listen address '0.0.0.0:8080' (also on line 2)");
    /* Same port on another address is fine. */
    {
        lb_config_t cfg;
        warnings_t w = {0, ""};

        CU_ASSERT_EQUAL_FATAL(
            cf_load_ok("[mappings]\n8080=1.2.3.4:5\n127.0.0.1:8081=1.2.3.4:5\n"
                       "127.0.0.2:8081=1.2.3.4:5\n", &cfg, &w), 0);
        CU_ASSERT_EQUAL(cfg.nlisteners, 3);
        lb_config_free(&cfg);
    }
}

static void
test_binary_data(void)
{
    static const char text[] = "[mappings]\n8080=1.2.3.4:5\n80\0=1.2.3.4:5\n";

    expect_error_n(text, sizeof(text) - 1, 3, "binary data");
    expect_error("[mappings]\n8080=1.2.3.4:5\x01\n", 2, "byte 0x01");
}

/* A line inih would cut: its tail must not become a mapping. */
static void
test_overlong_line(void)
{
    char text[600];
    lb_config_t cfg;
    warnings_t w = {0, ""};
    int n;

    n = snprintf(text, sizeof(text), "[mappings]\n80=1.2.3.4:5\n;");
    memset(text + n, 'x', 197);
    snprintf(text + n + 197, sizeof(text) - (size_t)n - 197,
             "9999=1.2.3.4:5\n");
    expect_error(text, 3, "continue a long backend list on indented lines");

    /* 198 characters is still fine. */
    n = snprintf(text, sizeof(text), "[mappings]\n80=1.2.3.4:5\n;");
    memset(text + n, 'x', 197);
    snprintf(text + n + 197, sizeof(text) - (size_t)n - 197, "\n");
    CU_ASSERT_EQUAL_FATAL(cf_load_ok(text, &cfg, &w), 0);
    CU_ASSERT_EQUAL(cfg.nlisteners, 1);
    lb_config_free(&cfg);
}

static void
test_overlong_names(void)
{
    char text[256];
    lb_config_t cfg;
    warnings_t w = {0, ""};

    snprintf(text, sizeof(text), "[options]\n%.*s = 1\n", 49,
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    expect_error(text, 2, "is longer than 48 characters");
    snprintf(text, sizeof(text), "[mappings]\n80=1.2.3.4:5\n[%.*s]\n", 49,
             "sssssssssssssssssssssssssssssssssssssssssssssssssssssssssss");
    expect_error(text, 3, "section name 'sssss");

    /* 48 is fine: an unknown key, so a warning. */
    snprintf(text, sizeof(text), "[options]\n%.*s = 1\n[mappings]\n"
             "80=1.2.3.4:5\n", 48,
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    CU_ASSERT_EQUAL_FATAL(cf_load_ok(text, &cfg, &w), 0);
    CU_ASSERT_EQUAL(w.count, 1);
    lb_config_free(&cfg);
}

static void
test_no_listeners(void)
{
    expect_error("[options]\nbuffer_size = 1\n", 0,
                 "no listeners: add a [mappings] entry such as "
                 "8080=127.0.0.1:80 or a [listener:NAME] section");
    expect_error("", 0, "no listeners");
    expect_error("[mappings]\n", 0, "no listeners");
}

static void
test_unresolvable(void)
{
    expect_error("[mappings]\n8080 = 127.0.0.1:80,\n"
                 "   nosuch.invalid:80\n", 3,
                 "cannot resolve backend host 'nosuch.invalid': ");
    expect_error("[mappings]\nnosuch.invalid:8080 = 127.0.0.1:80\n", 2,
                 "cannot resolve listen address 'nosuch.invalid'");
}

static void
test_warnings(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};

    CU_ASSERT_EQUAL_FATAL(
        cf_load_ok("[foo]\nx = 1\n[mappings]\n8080=1.2.3.4:5\n", &cfg, &w), 0);
    CU_ASSERT_EQUAL(w.count, 1);
    CU_ASSERT_STRING_EQUAL(w.first, "t.cfg:1: unknown section '[foo]' "
                                    "ignored");
    CU_ASSERT_EQUAL(cfg.nlisteners, 1);
    lb_config_free(&cfg);

    memset(&w, 0, sizeof(w));
    CU_ASSERT_EQUAL_FATAL(
        cf_load_ok("[mappings]\n8080=1.2.3.4:5\n[options]\nfrobnicate = 2\n"
                   "   more\n", &cfg, &w), 0);
    CU_ASSERT_EQUAL(w.count, 1);
    CU_ASSERT_STRING_EQUAL(w.first, "t.cfg:4: unknown key 'frobnicate' in "
                                    "[options] ignored");
    lb_config_free(&cfg);

    memset(&w, 0, sizeof(w));
    CU_ASSERT_EQUAL_FATAL(
        cf_load_ok("[listener:web]\nlisten=80\nweight=3\nbackends=1.2.3.4:5\n",
                   &cfg, &w), 0);
    CU_ASSERT_EQUAL(w.count, 1);
    CU_ASSERT_STRING_EQUAL(w.first, "t.cfg:3: unknown key 'weight' in "
                                    "[listener:web] ignored");
    lb_config_free(&cfg);
}

static void
test_first_error_wins(void)
{
    expect_error("[mappings]\n8080=1.2.3.4:0\n8081=foo\n", 2, "got '0'");
    /* A resolve error (final pass) loses to a later syntax error. */
    expect_error("[mappings]\n8080=nosuch.invalid:80\n[options]\n"
                 "buffer_size=x\n", 4, "got 'x'");
    /* A section is checked when the next one starts, before that. */
    expect_error("[listener:a]\nbackends=1.2.3.4:5\n[b\n", 1,
                 "[listener:a] has no 'listen'");
}

static void
test_retries(void)
{
    lb_config_t cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.max_retries = -1;
    CU_ASSERT_EQUAL(lb_config_retries(&cfg, 1), 1);
    CU_ASSERT_EQUAL(lb_config_retries(&cfg, 2), 1);
    CU_ASSERT_EQUAL(lb_config_retries(&cfg, 5), 4);
    cfg.max_retries = 2;
    CU_ASSERT_EQUAL(lb_config_retries(&cfg, 1), 2);
    CU_ASSERT_EQUAL(lb_config_retries(&cfg, 2), 1);
    CU_ASSERT_EQUAL(lb_config_retries(&cfg, 5), 2);
    cfg.max_retries = 0;
    CU_ASSERT_EQUAL(lb_config_retries(&cfg, 1), 0);
    CU_ASSERT_EQUAL(lb_config_retries(&cfg, 5), 0);
}

static void
test_free_twice(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};

    memset(&cfg, 0, sizeof(cfg));
    lb_config_free(&cfg);
    CU_ASSERT_EQUAL_FATAL(cf_load_ok("[mappings]\n80=1.2.3.4:5\n", &cfg, &w),
                          0);
    lb_config_free(&cfg);
    CU_ASSERT_PTR_NULL(cfg.path);
    CU_ASSERT_EQUAL(cfg.nlisteners, 0);
    lb_config_free(&cfg);
}

static void
test_help_text(void)
{
    static const char *const words[] = {
        "pre_resolve_workers", "buffer_size", "connect_timeout",
        "graceful_shutdown_timeout", "max_retries", "processes", "log_file",
        "[mappings]", "localaddr:inport", "[listener:NAME]", "listen =",
        "backends =", "allow =", "deny ="};
    size_t i;

    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        CU_ASSERT_PTR_NOT_NULL(strstr(lb_config_help, words[i]));
}

static void
test_listener_timeouts(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};

    CU_ASSERT_EQUAL_FATAL(cf_load_ok("[options]\n"
                                     "pre_resolve_workers = 0\n"
                                     "connect_timeout = 2\n"
                                     "idle_timeout = 300\n"
                                     "half_close_timeout = 0.5\n"
                                     "[mappings]\n"
                                     "8080 = 10.0.0.1:80\n"
                                     "[listener:quick]\n"
                                     "listen = 8081\n"
                                     "backends = 10.0.0.1:80\n"
                                     "IDLE_TIMEOUT = 10\n"
                                     "connect_timeout = 0\n",
                                     &cfg, &w), LB_EXIT_OK);
    CU_ASSERT_EQUAL(w.count, 0);
    CU_ASSERT_EQUAL(cfg.idle_timeout_ms, 300000);
    /* the mapping inherits [options] */
    CU_ASSERT_EQUAL(cfg.listeners[0].connect_timeout_ms, 2000);
    CU_ASSERT_EQUAL(cfg.listeners[0].idle_timeout_ms, 300000);
    CU_ASSERT_EQUAL(cfg.listeners[0].half_close_timeout_ms, 500);
    /* the section overrides what it sets, inherits the rest */
    CU_ASSERT_EQUAL(cfg.listeners[1].connect_timeout_ms, 0);
    CU_ASSERT_EQUAL(cfg.listeners[1].idle_timeout_ms, 10000);
    CU_ASSERT_EQUAL(cfg.listeners[1].half_close_timeout_ms, 500);
    lb_config_free(&cfg);
}

static void
test_max_connections(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};

    CU_ASSERT_EQUAL_FATAL(cf_load_ok("[options]\nmax_connections = 5000\n"
                                     "[mappings]\n8080 = 10.0.0.1:80\n"
                                     "[listener:b]\nlisten = 8081\n"
                                     "backends = 10.0.0.1:80\n"
                                     "max_connections = 10\n", &cfg, &w),
                          LB_EXIT_OK);
    CU_ASSERT_EQUAL(cfg.max_connections, 5000);
    CU_ASSERT_EQUAL(cfg.listeners[0].max_connections, 0); /* no own */
    CU_ASSERT_EQUAL(cfg.listeners[1].max_connections, 10);
    lb_config_free(&cfg);
    expect_error("[options]\nmax_connections = lots\n[mappings]\n"
                 "8080 = 10.0.0.1:80\n", 2, "'lots'");
}

static void
test_user_group(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};

    CU_ASSERT_EQUAL_FATAL(cf_load_ok("[options]\nuser = nobody\n"
                                     "group = nogroup\n[mappings]\n"
                                     "8080 = 10.0.0.1:80\n", &cfg, &w),
                          LB_EXIT_OK);
    CU_ASSERT_STRING_EQUAL(cfg.user, "nobody");
    CU_ASSERT_STRING_EQUAL(cfg.group, "nogroup");
    lb_config_free(&cfg);
    CU_ASSERT_EQUAL_FATAL(cf_load_ok("[mappings]\n8080 = 10.0.0.1:80\n", &cfg,
                                     &w), LB_EXIT_OK);
    CU_ASSERT_PTR_NULL(cfg.user);
    CU_ASSERT_PTR_NULL(cfg.group);
    lb_config_free(&cfg);
    expect_error("[options]\nuser =\n[mappings]\n8080 = 10.0.0.1:80\n", 2,
                 "user must not be empty");
}

static void
test_timeout_defaults_and_errors(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};

    CU_ASSERT_EQUAL_FATAL(cf_load_ok("[mappings]\n8080 = 10.0.0.1:80\n", &cfg,
                                     &w), LB_EXIT_OK);
    CU_ASSERT_EQUAL(cfg.listeners[0].idle_timeout_ms, 0);
    CU_ASSERT_EQUAL(cfg.listeners[0].half_close_timeout_ms, 0);
    CU_ASSERT_EQUAL(cfg.listeners[0].connect_timeout_ms, 5000);
    lb_config_free(&cfg);
    expect_error("[options]\nidle_timeout = soon\n[mappings]\n"
                 "8080 = 10.0.0.1:80\n", 2, "'soon'");
    expect_error("[listener:a]\nlisten = 8080\nbackends = 10.0.0.1:80\n"
                 "half_close_timeout = -1\n", 4, "'-1'");
    expect_error("[listener:a]\nlisten = 8080\nbackends = 10.0.0.1:80\n"
                 "idle_timeout = 1\nidle_timeout = 2\n", 5,
                 "duplicate key 'idle_timeout'");
}

static void
test_health_options(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};
    const lb_health_cfg_t *a, *b;

    CU_ASSERT_EQUAL_FATAL(
        cf_load_ok("[options]\nmax_fails = 3\nfail_timeout = 2.5\n"
                   "max_conns = 100\ncheck_interval = 1\nrise = 4\n"
                   "[listener:a]\nlisten = 8080\nbackends = 10.0.0.1:80\n"
                   "fall = 5\nmax_conns = 0\ncheck_timeout = 0.5\n"
                   "[mappings]\n8081 = 10.0.0.1:80\n", &cfg, &w),
        LB_EXIT_OK);
    a = &cfg.listeners[0].health;
    b = &cfg.listeners[1].health;
    CU_ASSERT_EQUAL(a->max_fails, 3);
    CU_ASSERT_EQUAL(a->fail_timeout_ms, 2500);
    CU_ASSERT_EQUAL(a->max_conns, 0);  /* the listener's own */
    CU_ASSERT_EQUAL(b->max_conns, 100); /* from [options] */
    CU_ASSERT_EQUAL(a->rise, 4);
    CU_ASSERT_EQUAL(a->fall, 5);
    CU_ASSERT_EQUAL(b->fall, LB_DEFAULT_FALL);
    CU_ASSERT_EQUAL(a->check_timeout_ms, 500);
    CU_ASSERT_EQUAL(b->check_interval_ms, 1000);
    lb_config_free(&cfg);
    CU_ASSERT_EQUAL_FATAL(cf_load_ok("[mappings]\n8080 = 10.0.0.1:80\n", &cfg,
                                     &w), LB_EXIT_OK);
    a = &cfg.listeners[0].health;
    CU_ASSERT_EQUAL(a->max_fails, LB_DEFAULT_MAX_FAILS);
    CU_ASSERT_EQUAL(a->fail_timeout_ms, LB_DEFAULT_FAIL_TIMEOUT_MS);
    CU_ASSERT_EQUAL(a->max_conns, 0);
    CU_ASSERT_EQUAL(a->check_interval_ms, 0);
    CU_ASSERT_EQUAL(a->rise, LB_DEFAULT_RISE);
    lb_config_free(&cfg);
    expect_error("[options]\nrise = 0\n[mappings]\n8080 = 10.0.0.1:80\n", 2,
                 "rise must be a whole number, 1 or more, got '0'");
    expect_error("[options]\nfail_timeout = 0\n[mappings]\n"
                 "8080 = 10.0.0.1:80\n", 2,
                 "fail_timeout must be more than 0 seconds, got '0'");
    expect_error("[listener:a]\nlisten = 8080\nbackends = 10.0.0.1:80\n"
                 "max_conns = lots\n", 4, "'lots'");
    expect_error("[listener:a]\nlisten = 8080\nbackends = 10.0.0.1:80\n"
                 "fall = 2\nfall = 3\n", 5, "duplicate key 'fall'");
}

static void
test_duplicate_backends_merged(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};

    CU_ASSERT_EQUAL_FATAL(
        cf_load_ok("[mappings]\n8080 = 10.0.0.1:80, 10.0.0.2:80,\n"
                   "  10.0.0.1:80, [::1]:80, [0::1]:80, 10.0.0.1:81\n", &cfg,
                   &w), LB_EXIT_OK);
    CU_ASSERT_EQUAL(cfg.listeners[0].nbackends, 4);
    CU_ASSERT_STRING_EQUAL(cfg.listeners[0].backends[2].label, "[::1]:80");
    CU_ASSERT_STRING_EQUAL(cfg.listeners[0].backends[3].label,
                           "10.0.0.1:81");
    CU_ASSERT_EQUAL(w.count, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(w.first, "t.cfg:3: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(w.first, "'10.0.0.1:80' is listed twice"));
    CU_ASSERT_PTR_NOT_NULL(strstr(w.first, "first on line 2"));
    lb_config_free(&cfg);
}

static void
test_acl_lists(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};
    char buf[LB_ACL_STRLEN];

    CU_ASSERT_EQUAL_FATAL(cf_load_ok("[options]\n"
                                     "allow = 10.0.0.0/8, 192.168.1.7,\n"
                                     "        ::1, 2001:db8::/32 ; office\n"
                                     "DENY = 10.0.0.5\n"
                                     "[mappings]\n8080 = 10.0.0.1:80\n"
                                     "[listener:a]\nlisten = 8081\n"
                                     "backends = 10.0.0.1:80\n"
                                     "allow = ::ffff:127.0.0.0/104\n",
                                     &cfg, &w), LB_EXIT_OK);
    CU_ASSERT_EQUAL(w.count, 0);
    CU_ASSERT_EQUAL(cfg.allow.n, 4);
    CU_ASSERT_EQUAL(cfg.deny.n, 1);
    /* the mapping inherits both lists */
    CU_ASSERT_EQUAL(cfg.listeners[0].allow.n, 4);
    CU_ASSERT_EQUAL_FATAL(cfg.listeners[0].deny.n, 1);
    lb_acl_format(&cfg.listeners[0].allow.rules[3], buf, sizeof(buf));
    CU_ASSERT_STRING_EQUAL(buf, "2001:db8::/32");
    /* the section replaces allow (no merging), inherits deny */
    CU_ASSERT_EQUAL_FATAL(cfg.listeners[1].allow.n, 1);
    lb_acl_format(&cfg.listeners[1].allow.rules[0], buf, sizeof(buf));
    CU_ASSERT_STRING_EQUAL(buf, "127.0.0.0/8");
    CU_ASSERT_EQUAL(cfg.listeners[1].deny.n, 1);
    lb_config_free(&cfg);
    CU_ASSERT_EQUAL_FATAL(cf_load_ok("[mappings]\n8080 = 10.0.0.1:80\n", &cfg,
                                     &w), LB_EXIT_OK);
    CU_ASSERT_EQUAL(cfg.listeners[0].allow.n, 0); /* everyone */
    CU_ASSERT_EQUAL(cfg.listeners[0].deny.n, 0);
    lb_config_free(&cfg);
}

static void
test_acl_errors(void)
{
    static const char map[] = "[mappings]\n8080 = 10.0.0.1:80\n";
    char text[512];

#define ACL_ERR(opts, line, needle)                                       \
    do {                                                                  \
        snprintf(text, sizeof(text), "%s%s", map, opts);                  \
        expect_error(text, line, needle);                                 \
    } while (0)
    ACL_ERR("[options]\nallow = 10.1.2.3/8\n", 4,
            "allow entry '10.1.2.3/8' has bits set past its prefix length; "
            "write 10.0.0.0/8");
    ACL_ERR("[options]\ndeny = 2001:db8::1/32\n", 4, "write 2001:db8::/32");
    ACL_ERR("[options]\nallow = 10.0.0.0/33\n", 4,
            "'10.0.0.0/33': the prefix length of an IPv4 address must be a "
            "number from 0 to 32");
    ACL_ERR("[options]\nallow = ::/129\n", 4, "IPv6 address must be a "
            "number from 0 to 128");
    ACL_ERR("[options]\nallow = 10.0.0.0/\n", 4, "'10.0.0.0/'");
    ACL_ERR("[options]\nallow = 10.0.0.1,,10.0.0.2\n", 4,
            "empty entry in the allow list '10.0.0.1,,10.0.0.2'");
    ACL_ERR("[options]\ndeny = , 10.0.0.1\n", 4, "empty entry in the deny");
    ACL_ERR("[options]\nallow = bogus\n", 4,
            "allow entry 'bogus' is not an IPv4 or IPv6 address");
    ACL_ERR("[options]\nallow = localhost\n", 4,
            "host names are not allowed");
    ACL_ERR("[options]\nallow = 10.0.0.1 10.0.0.2\n", 4,
            "'10.0.0.1 10.0.0.2' contains a space");
    ACL_ERR("[options]\nallow =\n", 4, "'allow' lists no addresses");
    ACL_ERR("[options]\nallow = 10.0.0.1,\n\nprocesses = 1\n", 4,
            "the allow list ends with ','");
    ACL_ERR("[options]\nallow = 10.0.0.1,\n", 4, "ends with ','");
    ACL_ERR("[options]\nallow = 10.0.0.1\nallow = 10.0.0.2\n", 5,
            "duplicate key 'allow'");
    ACL_ERR("[options]\nallow = 10.0.0.1,\n  10.0.0.2,\n  x\n", 6,
            "allow entry 'x'");
    ACL_ERR("[options]\nallow = 10.0.0.1\n  processes = 2\n", 5,
            "continues the allow list");
    ACL_ERR("[listener:a]\nlisten = 8081\nbackends = 10.0.0.1:80\n"
            "deny = 10.0.0.0/8,\n       10.0.0.1/8\n", 7,
            "deny entry '10.0.0.1/8'");
    ACL_ERR("[listener:a]\nlisten = 8081\nbackends = 10.0.0.1:80\n"
            "deny = 10.0.0.0/8\ndeny = 10.0.0.0/8\n", 7,
            "duplicate key 'deny' in [listener:a]");
#undef ACL_ERR
}

static void
test_log_connections(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};

    CU_ASSERT_EQUAL_FATAL(cf_load_ok("[mappings]\n8080 = 10.0.0.1:80\n", &cfg,
                                     &w), LB_EXIT_OK);
    CU_ASSERT_EQUAL(cfg.log_connections, 1); /* on by default */
    CU_ASSERT_EQUAL(cfg.listeners[0].log_connections, 1);
    lb_config_free(&cfg);
    CU_ASSERT_EQUAL_FATAL(cf_load_ok("[options]\nlog_connections = no\n"
                                     "[mappings]\n8080 = 10.0.0.1:80\n"
                                     "[listener:b]\nlisten = 8081\n"
                                     "backends = 10.0.0.1:80\n"
                                     "log_connections = ON\n", &cfg, &w),
                          LB_EXIT_OK);
    CU_ASSERT_EQUAL(cfg.log_connections, 0);
    CU_ASSERT_EQUAL(cfg.listeners[0].log_connections, 0); /* inherited */
    CU_ASSERT_EQUAL(cfg.listeners[1].log_connections, 1); /* its own */
    lb_config_free(&cfg);
    expect_error("[options]\nlog_connections = 2\n[mappings]\n"
                 "8080 = 10.0.0.1:80\n", 2,
                 "log_connections must be 0, 1, true, false, yes, no, on or "
                 "off, got '2'");
    expect_error("[listener:a]\nlisten = 8080\nbackends = 10.0.0.1:80\n"
                 "log_connections = 0\nlog_connections = 1\n", 5,
                 "duplicate key 'log_connections'");
}

static void
test_proxy_options(void)
{
    lb_config_t cfg;
    warnings_t w = {0, ""};

    CU_ASSERT_EQUAL_FATAL(cf_load_ok("[mappings]\n8080 = 10.0.0.1:80\n", &cfg,
                                     &w), LB_EXIT_OK);
    CU_ASSERT_EQUAL(cfg.listeners[0].send_proxy, 0); /* off by default */
    CU_ASSERT_EQUAL(cfg.listeners[0].accept_proxy, 0);
    lb_config_free(&cfg);
    CU_ASSERT_EQUAL_FATAL(cf_load_ok("[options]\nsend_proxy = V2\n"
                                     "accept_proxy = yes\n"
                                     "[mappings]\n8080 = 10.0.0.1:80\n"
                                     "[listener:b]\nlisten = 8081\n"
                                     "backends = 10.0.0.1:80\n"
                                     "send_proxy = v1\naccept_proxy = 0\n"
                                     "[listener:c]\nlisten = 8082\n"
                                     "backends = 10.0.0.1:80\n"
                                     "send_proxy = off\n", &cfg, &w),
                          LB_EXIT_OK);
    CU_ASSERT_EQUAL(cfg.listeners[0].send_proxy, 2); /* inherited */
    CU_ASSERT_EQUAL(cfg.listeners[0].accept_proxy, 1);
    CU_ASSERT_EQUAL(cfg.listeners[1].send_proxy, 1); /* its own */
    CU_ASSERT_EQUAL(cfg.listeners[1].accept_proxy, 0);
    CU_ASSERT_EQUAL(cfg.listeners[2].send_proxy, 0);
    CU_ASSERT_EQUAL(cfg.listeners[2].accept_proxy, 1);
    lb_config_free(&cfg);
    expect_error("[options]\nsend_proxy = 2\n[mappings]\n"
                 "8080 = 10.0.0.1:80\n", 2,
                 "send_proxy must be v1, v2 or off, got '2'");
    expect_error("[listener:a]\nlisten = 8080\nbackends = 10.0.0.1:80\n"
                 "accept_proxy = v1\n", 4,
                 "accept_proxy must be 0, 1, true, false, yes, no, on or "
                 "off, got 'v1'");
}

void
lb_test_config_register(void)
{
    static const struct {
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"mapping with a bare port", test_mapping_port_only},
        {"mapping localaddr:inport", test_mapping_localaddr},
        {"mapping with backend names", test_mapping_localaddr_names},
        {"original example.cfg", test_original_example},
        {"spaces and empty items", test_spaces_and_commas},
        {"comments", test_comments},
        {"continuation lines", test_continuation},
        {"listener sections", test_listener_sections},
        {"listener section errors", test_listener_errors},
        {"CRLF file", test_file_crlf},
        {"BOM file", test_file_bom},
        {"missing file", test_file_missing},
        {"option defaults", test_option_defaults},
        {"option values", test_option_values},
        {"boolean words", test_option_bool},
        {"option errors", test_option_errors},
        {"mapping errors", test_mapping_errors},
        {"duplicate listen address", test_duplicate_listen},
        {"binary data", test_binary_data},
        {"overlong line", test_overlong_line},
        {"overlong names", test_overlong_names},
        {"no listeners", test_no_listeners},
        {"unresolvable hosts", test_unresolvable},
        {"warnings", test_warnings},
        {"first error wins", test_first_error_wins},
        {"retries", test_retries},
        {"free twice", test_free_twice},
        {"help text", test_help_text},
        {"listener timeouts", test_listener_timeouts},
        {"timeout defaults and errors", test_timeout_defaults_and_errors},
        {"max_connections", test_max_connections},
        {"user and group", test_user_group},
        {"health options", test_health_options},
        {"duplicate backends merged", test_duplicate_backends_merged},
        {"allow and deny lists", test_acl_lists},
        {"allow and deny errors", test_acl_errors},
        {"log_connections", test_log_connections},
        {"send_proxy and accept_proxy", test_proxy_options},
    };
    CU_pSuite suite = CU_add_suite("config", NULL, NULL);
    size_t i;

    if (suite == NULL)
        return;
    for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
        CU_add_test(suite, tests[i].name, tests[i].fn);
}
