/* test_stats.c - live statistics: the `stats` option and who may read
 * (a bare port is loopback; stats_allow, stats_host, stats_token_file
 * with their mistakes at FILE:LINE), the escaping of names for each
 * format, the renderers (Prometheus text format lines, JSON checked by a
 * small validator, HTML), the growing buffer, and a snapshot of a real
 * shared block. Names with quotes, backslashes, newlines, '<' and bytes
 * that are not UTF-8 go through every format. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lb_health.h"
#include "lb_server.h"
#include "lb_stats.h"
#include "unit.h"

/* ---- the option ---- */

static char *
load_err(const char *text, lb_config_t *cfg)
{
    char *err = NULL;

    if (lb_config_load_string("t.cfg", text, strlen(text), cfg, NULL, NULL,
                              &err) == LB_EXIT_OK)
        return NULL;
    return err ? err : calloc(1, 1); /* no message: still a failure */
}

static void
test_option(void)
{
    lb_config_t cfg;
    char *err;

    err = load_err("[mappings]\n8080 = 10.0.0.1:80\n", &cfg);
    CU_ASSERT_PTR_NULL_FATAL(err);
    CU_ASSERT_EQUAL(cfg.stats.line, 0); /* off by default */
    lb_config_free(&cfg);
    err = load_err("[options]\nstats = 127.0.0.1:9100\n"
                   "[mappings]\n8080 = 10.0.0.1:80\n", &cfg);
    CU_ASSERT_PTR_NULL_FATAL(err);
    CU_ASSERT_EQUAL(cfg.stats.line, 2);
    CU_ASSERT_STRING_EQUAL(cfg.stats.label, "127.0.0.1:9100");
    lb_config_free(&cfg);
    err = load_err("[mappings]\n8080 = 10.0.0.1:80\n"
                   "[options]\nSTATS = [::1]:9100\n", &cfg);
    CU_ASSERT_PTR_NULL_FATAL(err);
    CU_ASSERT_STRING_EQUAL(cfg.stats.label, "[::1]:9100");
    lb_config_free(&cfg);
}

static void
expect_error(const char *text, const char *want)
{
    lb_config_t cfg;
    char *err = load_err(text, &cfg);

    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
    if (strstr(err, want) == NULL)
        fprintf(stderr, "\nwanted '%s', got '%s'\n", want, err);
    free(err);
}

static void
test_option_errors(void)
{
    expect_error("[options]\nstats = 127.0.0.1:99999\n[mappings]\n"
                 "8080 = 10.0.0.1:80\n", "t.cfg:2: listen port");
    expect_error("[options]\nstats = [::1:9100\n[mappings]\n"
                 "8080 = 10.0.0.1:80\n", "t.cfg:2: listen address");
    expect_error("[options]\nstats = 1.2.3.4:1\nstats = 1.2.3.4:2\n"
                 "[mappings]\n8080 = 10.0.0.1:80\n",
                 "t.cfg:3: duplicate key 'stats' (first set on line 2)");
    expect_error("[mappings]\n127.0.0.1:8080 = 10.0.0.1:80\n[options]\n"
                 "stats = 127.0.0.1:8080\n",
                 "t.cfg:4: stats address '127.0.0.1:8080' is also the "
                 "listen address of listener '127.0.0.1:8080' (line 2)");
}

/* ---- who may read: what the server answers is
 * tests/session/test_stats_http.c's ---- */

#define MAPPING "[mappings]\n8080 = 10.0.0.1:80\n"

static void
expect_label(const char *value, const char *label)
{
    char text[256];
    lb_config_t cfg;
    char *err;

    snprintf(text, sizeof(text), "[options]\nstats = %s\n" MAPPING, value);
    err = load_err(text, &cfg);
    CU_ASSERT_PTR_NULL_FATAL(err);
    CU_ASSERT_STRING_EQUAL(cfg.stats.label, label);
    lb_config_free(&cfg);
}

/* The numbers describe the whole topology: a bare port is 127.0.0.1;
 * every interface takes writing it out. */
static void
test_bare_port_is_loopback(void)
{
    expect_label("9100", "127.0.0.1:9100");
    expect_label("*:9100", "0.0.0.0:9100");
    expect_label("0.0.0.0:9100", "0.0.0.0:9100");
    expect_label("[::]:9100", "[::]:9100");
    expect_error("[options]\nstats = 0\n" MAPPING, "t.cfg:2: listen port");
}

static void
test_allow_and_hosts(void)
{
    lb_config_t cfg;
    char *err;

    err = load_err("[options]\nstats = 9100\n"
                   "stats_allow = 10.0.0.0/8,\n  ::1\n"
                   "stats_host = metrics.example.net, LB-1\n" MAPPING, &cfg);
    CU_ASSERT_PTR_NULL_FATAL(err);
    CU_ASSERT_EQUAL(cfg.stats.allow.n, 2);
    CU_ASSERT_EQUAL(cfg.allow.n, 0); /* the listeners' are their own */
    CU_ASSERT_EQUAL_FATAL(cfg.stats.nhosts, 2);
    CU_ASSERT_STRING_EQUAL(cfg.stats.hosts[0], "metrics.example.net");
    CU_ASSERT_STRING_EQUAL(cfg.stats.hosts[1], "LB-1");
    CU_ASSERT_PTR_NULL(cfg.stats.token);
    lb_config_free(&cfg);
    expect_error("[options]\nstats = 9100\nstats_allow = 10.0.0.1/8\n"
                 MAPPING, "t.cfg:3: stats_allow entry '10.0.0.1/8' has bits "
                 "set past its prefix length");
    expect_error("[options]\nstats = 9100\nstats_allow = example.com\n"
                 MAPPING, "t.cfg:3: stats_allow entry 'example.com'");
    expect_error("[options]\nstats = 9100\nstats_host = a b\n" MAPPING,
                 "t.cfg:3: stats_host entry 'a b' is not a host name");
    expect_error("[options]\nstats = 9100\nstats_host = a,,b\n" MAPPING,
                 "t.cfg:3: stats_host entry '' is not a host name");
    expect_error("[options]\nstats = 9100\nstats_host = my_host\n" MAPPING,
                 "t.cfg:3: stats_host entry 'my_host'");
}

/* Each of them alone would be silently ignored. */
static void
test_keys_need_stats(void)
{
    expect_error("[options]\nlog_connections = 1\nstats_allow = ::1\n"
                 MAPPING, "t.cfg:3: stats_allow has no effect without "
                 "stats = ADDRESS:PORT");
    expect_error("[options]\nstats_host = lb1\n" MAPPING,
                 "t.cfg:2: stats_host has no effect without stats");
    expect_error("[options]\nstats_token_file = /nonexistent/token\n"
                 MAPPING, "t.cfg:2: stats_token_file '/nonexistent/token': "
                 "cannot open");
}

/* A token file of this test's, with mode. */
static void
token_file(char *path, size_t size, const char *data, int mode)
{
    FILE *f;

    snprintf(path, size, "lb-unit-token-%ld.tmp", lb_getpid());
    f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(fwrite(data, 1, strlen(data), f), strlen(data));
    fclose(f);
    CU_ASSERT_EQUAL(chmod(path, (mode_t)mode), 0);
}

/* The token read from a file holding data, or (token NULL) the error. */
static void
expect_token(const char *data, int mode, const char *token,
             const char *err_want)
{
    char path[64], text[256];
    lb_config_t cfg;
    char *err;

    token_file(path, sizeof(path), data, mode);
    snprintf(text, sizeof(text), "[options]\nstats = 9100\n"
             "stats_token_file = %s\n" MAPPING, path);
    if (token != NULL) {
        err = load_err(text, &cfg);
        CU_ASSERT_PTR_NULL(err);
        if (err == NULL) {
            CU_ASSERT_STRING_EQUAL(cfg.stats.token, token);
            lb_config_free(&cfg);
        }
        free(err);
    } else {
        expect_error(text, err_want);
    }
    remove(path);
}

static void
test_token_file(void)
{
    expect_token("s3cret\n", 0600, "s3cret", NULL);
    expect_token("s3cret-with/=+~._chars\r\nsecond line\n", 0400,
                 "s3cret-with/=+~._chars", NULL);
    expect_token("no-line-end", 0600, "no-line-end", NULL);
    expect_token("\nsecret on line 2\n", 0600, NULL,
                 "its first line (the token) is empty");
    expect_token("two words\n", 0600, NULL,
                 "may hold only printable ASCII without spaces");
#ifndef _WIN32 /* mode bits say nothing there: ACLs decide */
    expect_token("s3cret\n", 0640, NULL,
                 "t.cfg:3: stats_token_file 'lb-unit-token-");
    expect_token("s3cret\n", 0604, NULL,
                 "can be read by its group or others; make it readable by "
                 "its owner only (chmod 600)");
#endif
}

/* ---- escaping and the buffer ---- */

static void
expect_escaped(void (*esc)(lb_buf_t *, const char *), const char *in,
               const char *want)
{
    lb_buf_t b = {0};

    esc(&b, in);
    CU_ASSERT_FALSE(b.failed);
    CU_ASSERT_STRING_EQUAL(b.data ? b.data : "", want);
    if (strcmp(b.data ? b.data : "", want) != 0)
        fprintf(stderr, "\nwanted [%s], got [%s]\n", want, b.data);
    lb_buf_free(&b);
}

static void
test_escaping(void)
{
    expect_escaped(lb_stats_escape_label, "a\"b\\c\nd", "a\\\"b\\\\c\\nd");
    expect_escaped(lb_stats_escape_label, "caf\xC3\xA9 <x>",
                   "caf\xC3\xA9 <x>");
    /* Not UTF-8: a stray continuation byte, an overlong '/', a surrogate
     * and a cut sequence each become U+FFFD. */
    expect_escaped(lb_stats_escape_label, "a\x80z\xC0\xAFz\xED\xA0\x80z\xE2",
                   "a\xEF\xBF\xBDz\xEF\xBF\xBD\xEF\xBF\xBDz\xEF\xBF\xBD"
                   "\xEF\xBF\xBD\xEF\xBF\xBDz\xEF\xBF\xBD");
    expect_escaped(lb_stats_escape_json, "q\"b\\s\x01\tn\n",
                   "\"q\\\"b\\\\s\\u0001\\u0009n\\u000a\"");
    expect_escaped(lb_stats_escape_html, "<a href=\"x\">'&'</a>",
                   "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    expect_escaped(lb_stats_escape_html, "", "");
}

static void
test_buffer_grows(void)
{
    lb_buf_t b = {0};
    char chunk[1000];

    memset(chunk, 'x', sizeof(chunk));
    for (int i = 0; i < 300; i++)
        lb_buf_add(&b, chunk, sizeof(chunk));
    lb_buf_printf(&b, "%s-%d", "end", 42);
    CU_ASSERT_FALSE(b.failed);
    CU_ASSERT_EQUAL(b.len, 300000 + 6);
    CU_ASSERT(b.cap > b.len);
    CU_ASSERT_STRING_EQUAL(b.data + 300000, "end-42");
    lb_buf_free(&b);
    CU_ASSERT_PTR_NULL(b.data);
}

/* ---- a snapshot to render ---- */

static lb_stats_backend_t backends[3] = {
    {.name = "10.0.0.1:80", .down = LB_UP, .active = 2, .connections = 10,
     .failures = 0, .bytes = {100, 2000}, .weight = 1, .max_conns = 0,
     .checked = LB_CHECKED_PASS, .check_ms = 2, .check_time = 1700000040},
    {.name = "b\"ad\\host\n:81", .down = LB_DOWN_FAILS, .active = 0,
     .connections = 0, .failures = 3, .bytes = {0, 0}, .weight = 5,
     .max_conns = 100, .admin = LB_ADMIN_DRAIN, .changed = 1700000030},
    {.name = "10.0.0.3:80", .down = LB_DOWN_CHECKS, .active = 0,
     .connections = 1, .failures = 1, .bytes = {5, 6}, .weight = 1,
     .admin = LB_ADMIN_MAINT, .checked = LB_CHECKED_FAIL,
     .check_reason = LB_CHECK_E_STATUS, .check_ms = 15,
     .check_time = 1700000041, .changed = 1700000000},
};

static lb_stats_listener_t listeners[2] = {
    {.name = "web \"one\" \\ <b>", .address = "0.0.0.0:80",
     .accepted = 13, .active = 2, .refused = {1, 2}, .failed = 3,
     .bytes = {100, 2000}, .backends = backends, .nbackends = 2,
     .queued = 4, .dequeued = 10, .wait_ms = 2500, .queue_timeouts = 1,
     .queue_left = 2},
    {.name = "caf\xC3\xA9\xFF", .address = "[::1]:81", .accepted = 1,
     .active = 0, .refused = {0, 0}, .failed = 0, .bytes = {5, 6},
     .backends = backends + 2, .nbackends = 1, .checks = 1},
};

static lb_stats_snapshot_t snap = {"3.0.0", 1700000000, 1700000042, 7,
                                   listeners, 2, backends};

static void
expect_line(const char *text, const char *line)
{
    const char *p = text;
    size_t n = strlen(line);

    while ((p = strstr(p, line)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return;
        p++;
    }
    CU_FAIL("line missing");
    fprintf(stderr, "\nmissing line [%s] in:\n%s\n", line, text);
}

/* Every line is a comment or "name{labels} value", and every sample
 * follows a TYPE line of its family (a name that starts the sample's). */
static void
check_exposition(const char *text)
{
    char family[128] = "";
    const char *line = text;

    while (*line) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);

        CU_ASSERT_PTR_NOT_NULL_FATAL(end); /* ends in a newline */
        if (strncmp(line, "# TYPE ", 7) == 0) {
            size_t k = strcspn(line + 7, " ");
            CU_ASSERT_FATAL(k < sizeof(family));
            memcpy(family, line + 7, k);
            family[k] = '\0';
        } else if (line[0] != '#') {
            CU_ASSERT(family[0] != '\0' &&
                      strncmp(line, family, strlen(family)) == 0);
            CU_ASSERT(line[n - 1] >= '0' && line[n - 1] <= '9');
        }
        line += n + 1;
    }
}

static void
test_prometheus(void)
{
    lb_buf_t b = {0};

    CU_ASSERT_EQUAL_FATAL(lb_stats_prometheus(&snap, &b), 0);
    check_exposition(b.data);
    expect_line(b.data, "# TYPE pumpkinlb_connections_total counter");
    expect_line(b.data, "pumpkinlb_connections_total{listener="
                        "\"web \\\"one\\\" \\\\ <b>\"} 13");
    expect_line(b.data, "pumpkinlb_connections_active{listener="
                        "\"caf\xC3\xA9\xEF\xBF\xBD\"} 0");
    expect_line(b.data, "pumpkinlb_listener_info{listener=\"caf\xC3\xA9"
                        "\xEF\xBF\xBD\",address=\"[::1]:81\"} 1");
    expect_line(b.data, "pumpkinlb_connections_refused_total{listener="
                        "\"web \\\"one\\\" \\\\ <b>\",reason="
                        "\"max_conns\"} 2");
    expect_line(b.data, "pumpkinlb_bytes_total{listener=\"web \\\"one\\\" "
                        "\\\\ <b>\",direction=\"out\"} 2000");
    expect_line(b.data, "# TYPE pumpkinlb_backend_up gauge");
    expect_line(b.data, "pumpkinlb_backend_up{listener=\"web \\\"one\\\" "
                        "\\\\ <b>\",backend=\"b\\\"ad\\\\host\\n:81\"} 0");
    expect_line(b.data, "pumpkinlb_backend_state{listener=\"web \\\"one\\\" "
                        "\\\\ <b>\",backend=\"b\\\"ad\\\\host\\n:81\","
                        "state=\"failed_connects\"} 1");
    expect_line(b.data, "pumpkinlb_backend_state{listener=\"caf\xC3\xA9"
                        "\xEF\xBF\xBD\",backend=\"10.0.0.3:80\",state="
                        "\"health_checks\"} 1");
    expect_line(b.data, "pumpkinlb_backend_connect_failures_total{listener="
                        "\"web \\\"one\\\" \\\\ <b>\",backend=\"b\\\"ad\\\\"
                        "host\\n:81\"} 3");
    expect_line(b.data, "pumpkinlb_backend_bytes_total{listener=\"web "
                        "\\\"one\\\" \\\\ <b>\",backend=\"10.0.0.1:80\","
                        "direction=\"in\"} 100");
    expect_line(b.data, "pumpkinlb_start_time_seconds 1700000000");
    expect_line(b.data, "# TYPE pumpkinlb_log_lines_dropped_total counter");
    expect_line(b.data, "pumpkinlb_log_lines_dropped_total 7");
    /* The admin API's, the checks' and the queue's. */
    expect_line(b.data, "pumpkinlb_backend_admin_state{listener=\"web "
                        "\\\"one\\\" \\\\ <b>\",backend=\"b\\\"ad\\\\host\\n"
                        ":81\",state=\"drain\"} 1");
    expect_line(b.data, "pumpkinlb_backend_admin_state{listener=\"web "
                        "\\\"one\\\" \\\\ <b>\",backend=\"10.0.0.1:80\","
                        "state=\"drain\"} 0");
    expect_line(b.data, "pumpkinlb_backend_weight{listener=\"web \\\"one"
                        "\\\" \\\\ <b>\",backend=\"b\\\"ad\\\\host\\n"
                        ":81\"} 5");
    expect_line(b.data, "pumpkinlb_backend_max_conns{listener=\"web "
                        "\\\"one\\\" \\\\ <b>\",backend=\"10.0.0.1:80\"} 0");
    expect_line(b.data, "pumpkinlb_backend_check_success{listener=\"caf"
                        "\xC3\xA9\xEF\xBF\xBD\",backend=\"10.0.0.3:80\"} 0");
    expect_line(b.data, "pumpkinlb_backend_check_duration_seconds{listener="
                        "\"web \\\"one\\\" \\\\ <b>\",backend=\"10.0.0.1:"
                        "80\"} 0.002");
    expect_line(b.data, "pumpkinlb_backend_last_change_time_seconds{"
                        "listener=\"caf\xC3\xA9\xEF\xBF\xBD\",backend=\"10.0."
                        "0.3:80\"} 1700000000");
    expect_line(b.data, "pumpkinlb_queue_length{listener=\"web \\\"one\\\" "
                        "\\\\ <b>\"} 4");
    expect_line(b.data, "# TYPE pumpkinlb_queue_wait_seconds summary");
    expect_line(b.data, "pumpkinlb_queue_wait_seconds_sum{listener=\"web "
                        "\\\"one\\\" \\\\ <b>\"} 2.500");
    expect_line(b.data, "pumpkinlb_queue_wait_seconds_count{listener=\"web "
                        "\\\"one\\\" \\\\ <b>\"} 10");
    CU_ASSERT_PTR_NULL(strstr(b.data, "pumpkinlb_backend_check_success{"
                                      "listener=\"web \\\"one\\\" \\\\ "
                                      "<b>\",backend=\"b"));
    lb_buf_free(&b);
}

/* ---- a JSON validator (RFC 8259, enough for the test) ---- */

static const char *json_value(const char *p);

static const char *
json_ws(const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
        p++;
    return p;
}

static const char *
json_string(const char *p)
{
    if (*p++ != '"')
        return NULL;
    while (*p != '"') {
        if ((unsigned char)*p < 0x20)
            return NULL; /* raw control characters are not allowed */
        if (*p == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
                        return NULL;
                p += 4;
            } else if (!*p || !strchr("\"\\/bfnrt", *p)) {
                return NULL;
            }
        }
        p++;
    }
    return p + 1;
}

static const char *
json_list(const char *p, char close, int pairs)
{
    p = json_ws(p + 1);
    if (*p == close)
        return p + 1;
    for (;;) {
        if (pairs) {
            p = json_string(json_ws(p));
            if (p == NULL || *(p = json_ws(p)) != ':')
                return NULL;
            p++;
        }
        p = json_value(p);
        if (p == NULL)
            return NULL;
        p = json_ws(p);
        if (*p == close)
            return p + 1;
        if (*p != ',')
            return NULL;
        p++;
    }
}

static const char *
json_value(const char *p)
{
    p = json_ws(p);
    if (*p == '{')
        return json_list(p, '}', 1);
    if (*p == '[')
        return json_list(p, ']', 0);
    if (*p == '"')
        return json_string(p);
    if (strncmp(p, "true", 4) == 0 || strncmp(p, "null", 4) == 0)
        return p + 4;
    if (strncmp(p, "false", 5) == 0)
        return p + 5;
    if (*p == '-')
        p++;
    if (*p < '0' || *p > '9')
        return NULL;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p != '.')
        return p;
    if (*++p < '0' || *p > '9')
        return NULL; /* a fraction has digits */
    while (*p >= '0' && *p <= '9')
        p++;
    return p;
}

static int
json_valid(const char *text)
{
    const char *end = json_value(text);

    return end != NULL && *json_ws(end) == '\0';
}

static void
test_json(void)
{
    lb_buf_t b = {0};

    CU_ASSERT(json_valid("{\"a\":[1,-2,{\"b\":\"\\\"\\u0001\"}],\"c\":null}"));
    CU_ASSERT_FALSE(json_valid("{\"a\":\"x\"y\"}"));
    CU_ASSERT_FALSE(json_valid("{\"a\":\"\n\"}"));
    CU_ASSERT_EQUAL_FATAL(lb_stats_json(&snap, &b), 0);
    CU_ASSERT(json_valid(b.data));
    if (!json_valid(b.data))
        fprintf(stderr, "\ninvalid JSON:\n%s\n", b.data);
    CU_ASSERT_PTR_NOT_NULL(strstr(b.data,
                                  "{\"name\":\"web \\\"one\\\" \\\\ <b>\","
                                  "\"address\":\"0.0.0.0:80\","
                                  "\"connections_total\":13,"));
    CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "{\"name\":\"b\\\"ad\\\\host"
                                          "\\u000a:81\",\"up\":false,"
                                          "\"state\":\"down\",\"down_reason\":"
                                          "\"failed_connects\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "\"connections_refused_total\":"
                                          "{\"allow_deny\":1,"
                                          "\"max_conns\":2,"
                                          "\"max_conns_per_client\":0,"
                                          "\"max_conn_rate_per_client\":0,"
                                          "\"no_route\":0}"));
    CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "\"start_time\":1700000000,"));
    CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "\"log_lines_dropped_total\":7,"));
    CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "\"admin_state\":\"drain\","
                                          "\"weight\":5,\"max_conns\":100,"
                                          "\"last_change\":1700000030,"
                                          "\"check\":null,\"route\":null}"));
    CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "\"admin_state\":\"maint\","
                                          "\"weight\":1,\"max_conns\":0,"
                                          "\"last_change\":1700000000,"
                                          "\"check\":{\"result\":\"failed\","
                                          "\"reason\":\"bad_status\","
                                          "\"duration_ms\":15,"
                                          "\"time\":1700000041},"
                                          "\"route\":null}"));
    CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "\"queue\":{\"length\":4,"
                                          "\"served_total\":10,"
                                          "\"wait_seconds_total\":2.500,"
                                          "\"timeouts_total\":1,"
                                          "\"abandoned_total\":2}"));
    lb_buf_free(&b);
}

static int
count(const char *text, const char *needle)
{
    int n = 0;

    for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static void
test_html(void)
{
    lb_buf_t b = {0};

    CU_ASSERT_EQUAL_FATAL(lb_stats_html(&snap, &b), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "<meta http-equiv=\"refresh\" "
                                          "content=\"5\">"));
    CU_ASSERT_EQUAL(count(b.data, "<table class=\"listener\""), 2);
    CU_ASSERT_EQUAL(count(b.data, "<tr class=\"backend up\">"), 1);
    CU_ASSERT_EQUAL(count(b.data, "<tr class=\"backend down\">"), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "data-listener=\"web &quot;one"
                                          "&quot; \\ &lt;b&gt;\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "<td class=\"name\">b&quot;ad\\host"
                                          "\n:81</td><td class=\"state\">"
                                          "down (failed connects)</td>"));
    /* Admin state, weight and max_conns; units people read. */
    CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "<td class=\"admin drain\">drain"
                                          "</td><td>5</td><td>100</td>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "<td>no limit</td><td class=\""
                                          "check\">passed in 2 ms, 2 s ago"));
    CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "failed (bad_status) in 15 ms, "
                                          "1 s ago"));
    CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "<td title=\"2000 bytes\">2.0 KiB"
                                          "</td>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "Bytes: 100 B in, 2.0 KiB out. "
                                          "Queue: 4 waiting, 10 served after "
                                          "0.2 s on average, 1 timed out, 2 "
                                          "gone before their turn."));
    CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "1 s ago</td><td class=\"changed\">"
                                          "42 s ago</td></tr>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "down (health checks)"));
    CU_ASSERT_EQUAL(count(b.data, "<b>"), 0); /* no name became markup */
    CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "last 42 s"));
    lb_buf_free(&b);
}

/* ---- a snapshot of a real shared block ---- */

static void
test_snapshot(void)
{
    static const char text[] =
        "[options]\nprocesses = 3\n[mappings]\n"
        "8080 = 10.0.0.1:80, 10.0.0.2:80\n9090 = 10.0.0.3:80\n";
    lb_config_t cfg;
    lb_shared_t sh;
    lb_stats_snapshot_t s;
    char *err = load_err(text, &cfg);

    CU_ASSERT_PTR_NULL_FATAL(err);
    CU_ASSERT_EQUAL_FATAL(lb_shared_create(&cfg, &sh), 0);
    lb_atomic_add(&sh.counters[0].accepted, 5);
    lb_atomic_add(&sh.counters[0].active[0], 1);
    lb_atomic_add(&sh.counters[0].active[2], 2);
    lb_atomic_add(&sh.bcounters[0][0].bytes[LB_STATS_IN], 10);
    lb_atomic_add(&sh.bcounters[0][1].bytes[LB_STATS_IN], 20);
    lb_atomic_add(&sh.bcounters[0][1].bytes[LB_STATS_OUT], 7);
    lb_atomic_add(&sh.bcounters[1][0].failures, 4);
    lb_atomic_add(&sh.conns[0][1 * 3 + 0], 1); /* backend 1, slot 0 */
    lb_atomic_add(&sh.conns[0][1 * 3 + 2], 1); /* backend 1, slot 2 */
    lb_atomic_store(&sh.state[1][0].down, LB_DOWN_CHECKS);
    CU_ASSERT_EQUAL_FATAL(lb_stats_snapshot(&cfg, &sh, &s), 0);
    CU_ASSERT_EQUAL(s.nlisteners, 2);
    CU_ASSERT_STRING_EQUAL(s.listeners[0].name, "8080");
    CU_ASSERT_STRING_EQUAL(s.listeners[0].address, "0.0.0.0:8080");
    CU_ASSERT_EQUAL(s.listeners[0].accepted, 5);
    CU_ASSERT_EQUAL(s.listeners[0].active, 3);
    CU_ASSERT_EQUAL(s.listeners[0].bytes[LB_STATS_IN], 30);
    CU_ASSERT_EQUAL(s.listeners[0].bytes[LB_STATS_OUT], 7);
    CU_ASSERT_EQUAL(s.listeners[0].nbackends, 2);
    CU_ASSERT_EQUAL(s.listeners[0].backends[1].active, 2);
    CU_ASSERT_STRING_EQUAL(s.listeners[1].backends[0].name, "10.0.0.3:80");
    CU_ASSERT_EQUAL(s.listeners[1].backends[0].failures, 4);
    CU_ASSERT_EQUAL(s.listeners[1].backends[0].down, LB_DOWN_CHECKS);
    CU_ASSERT(s.started > 0 && s.now >= s.started);
    lb_stats_snapshot_free(&s);
    lb_shared_release(&sh);
    lb_config_free(&cfg);
}

/* A route's backend carries a route label (Prometheus) and its name
 * (JSON); every refused reason has its sample. */
static void
test_route_and_reasons(void)
{
    lb_stats_backend_t be[2] = {
        {.name = "10.0.0.1:443", .down = LB_UP, .active = 0,
         .connections = 1, .failures = 0, .bytes = {5, 6}, .route = NULL},
        {.name = "10.0.1.1:443", .down = LB_UP, .active = 1,
         .connections = 2, .failures = 0, .bytes = {7, 8}, .route = "shop"},
    };
    lb_stats_listener_t l = {.name = "tls", .address = "0.0.0.0:443",
                             .accepted = 3, .active = 1,
                             .refused = {0, 0, 4, 5, 6}, .failed = 0,
                             .bytes = {12, 14}, .backends = be,
                             .nbackends = 2};
    lb_stats_snapshot_t one = {"3.0.0", 1, 2, 0, &l, 1, be};
    lb_buf_t b = {0};

    CU_ASSERT_EQUAL_FATAL(lb_stats_prometheus(&one, &b), 0);
    check_exposition(b.data);
    expect_line(b.data, "pumpkinlb_backend_connections_total{listener="
                        "\"tls\",backend=\"10.0.0.1:443\"} 1");
    expect_line(b.data, "pumpkinlb_backend_connections_total{listener="
                        "\"tls\",route=\"shop\",backend=\"10.0.1.1:443\"} 2");
    expect_line(b.data, "pumpkinlb_connections_refused_total{listener="
                        "\"tls\",reason=\"max_conns_per_client\"} 4");
    expect_line(b.data, "pumpkinlb_connections_refused_total{listener="
                        "\"tls\",reason=\"max_conn_rate_per_client\"} 5");
    expect_line(b.data, "pumpkinlb_connections_refused_total{listener="
                        "\"tls\",reason=\"no_route\"} 6");
    lb_buf_free(&b);
    CU_ASSERT_EQUAL_FATAL(lb_stats_json(&one, &b), 0);
    CU_ASSERT(json_valid(b.data));
    CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "\"route\":\"shop\"}"));
    CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "\"route\":null}"));
    lb_buf_free(&b);
    CU_ASSERT_EQUAL_FATAL(lb_stats_html(&one, &b), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "route shop: 10.0.1.1:443"));
    CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "9 refused by per-client limits, "
                                          "6 with no route"));
    lb_buf_free(&b);
}

void
lb_test_stats_register(void)
{
    CU_pSuite s = CU_add_suite("stats", NULL, NULL);

    CU_add_test(s, "stats option", test_option);
    CU_add_test(s, "stats option errors", test_option_errors);
    CU_add_test(s, "a bare stats port is loopback",
                test_bare_port_is_loopback);
    CU_add_test(s, "stats_allow and stats_host", test_allow_and_hosts);
    CU_add_test(s, "stats_* keys need stats", test_keys_need_stats);
    CU_add_test(s, "stats_token_file", test_token_file);
    CU_add_test(s, "escaping for each format", test_escaping);
    CU_add_test(s, "buffer grows", test_buffer_grows);
    CU_add_test(s, "Prometheus text format", test_prometheus);
    CU_add_test(s, "JSON", test_json);
    CU_add_test(s, "a route's backends and refused reasons",
                test_route_and_reasons);
    CU_add_test(s, "HTML", test_html);
    CU_add_test(s, "snapshot of the shared block", test_snapshot);
}
