/* test_check.c - the words of protocol-aware health checks: the regex
 * subset check_expect_re is judged with (matches, refusals, linear time),
 * check_send's escapes, check_http's request, and replies judged. */
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "lb_check.h"
#include "lb_regex.h"
#include "unit.h"

/* 1 match, 0 no match, -2 the pattern did not compile. */
static int
re_match(const char *pattern, const char *line)
{
    lb_regex_t *re = NULL;
    char err[160];
    int rc;

    if (lb_regex_compile(pattern, &re, err, sizeof(err)) != 0)
        return -2;
    rc = lb_regex_match(re, line, strlen(line));
    lb_regex_free(re);
    return rc;
}

static void
test_regex_matches(void)
{
    CU_ASSERT_EQUAL(re_match("^\\+PONG", "+PONG"), 1);
    CU_ASSERT_EQUAL(re_match("^\\+PONG", "-ERR unknown"), 0);
    CU_ASSERT_EQUAL(re_match("abc", "xxabcxx"), 1);
    CU_ASSERT_EQUAL(re_match("^a.c$", "abc"), 1);
    CU_ASSERT_EQUAL(re_match("^a.c$", "abcd"), 0);
    CU_ASSERT_EQUAL(re_match("a|b", "b"), 1);
    CU_ASSERT_EQUAL(re_match("^(ab)+c$", "ababc"), 1);
    CU_ASSERT_EQUAL(re_match("^(ab)+c$", "c"), 0);
    CU_ASSERT_EQUAL(re_match("colou?r", "color"), 1);
    CU_ASSERT_EQUAL(re_match("colou?r", "colour"), 1);
    CU_ASSERT_EQUAL(re_match("^[0-9]{3} ", "220 mail ESMTP"), 1);
    CU_ASSERT_EQUAL(re_match("^[0-9]{3} ", "22 x"), 0);
    CU_ASSERT_EQUAL(re_match("[[:digit:]]+", "x1"), 1);
    CU_ASSERT_EQUAL(re_match("^[[:upper:]][[:lower:]]*$", "Hello"), 1);
    CU_ASSERT_EQUAL(re_match("[^a-z]", "abc"), 0);
    CU_ASSERT_EQUAL(re_match("[^a-z]", "abC"), 1);
    CU_ASSERT_EQUAL(re_match("^a{2,3}$", "a"), 0);
    CU_ASSERT_EQUAL(re_match("^a{2,3}$", "aa"), 1);
    CU_ASSERT_EQUAL(re_match("^a{2,3}$", "aaa"), 1);
    CU_ASSERT_EQUAL(re_match("^a{2,3}$", "aaaa"), 0);
    CU_ASSERT_EQUAL(re_match("^a{2,}$", "aaaaa"), 1);
    CU_ASSERT_EQUAL(re_match("^$", ""), 1);
    CU_ASSERT_EQUAL(re_match("[]a]", "]"), 1);
    CU_ASSERT_EQUAL(re_match("[a-]", "-"), 1);
    CU_ASSERT_EQUAL(re_match("[\\]", "\\"), 1); /* literal inside [] */
    CU_ASSERT_EQUAL(re_match("x*", "anything"), 1);
    CU_ASSERT_EQUAL(re_match("role.*primary", "{\"role\": \"primary\"}"), 1);
    CU_ASSERT_EQUAL(re_match("^HTTP/1\\.[01] 200 ", "HTTP/1.1 200 OK"), 1);
    CU_ASSERT_EQUAL(re_match("^HTTP/1\\.[01] 200 ", "HTTP/1.1 503 No"), 0);
}

/* A pattern that makes backtracking engines take exponential time is
 * linear here: 400 bytes against (a*)*b and (a|aa)+$ come back at once. */
static void
test_regex_linear_time(void)
{
    char line[401];

    memset(line, 'a', 400);
    line[400] = '\0';
    CU_ASSERT_EQUAL(re_match("(a*)*b", line), 0);
    CU_ASSERT_EQUAL(re_match("^(a|aa)+c$", line), 0);
    CU_ASSERT_EQUAL(re_match("^(a|aa)+$", line), 1);
}

static void
test_regex_refused(void)
{
    static const char *const bad[] = {
        "(", "a)", "[a", "*a", "a|*", "a{3,2}", "a{256}", "a{,3}", "a{2",
        "\\d", "\\1", "\\", "[[:foo:]]", "[z-a]", "[[.a.]]", "[[=a=]]",
        "(a{255}){255}",
    };
    char deep[200];
    lb_regex_t *re = NULL;
    char err[160];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        CU_ASSERT_EQUAL(lb_regex_compile(bad[i], &re, err, sizeof(err)), -1);
        CU_ASSERT(err[0] != '\0');
    }
    memset(deep, '(', 100);
    memset(deep + 100, ')', 99);
    deep[199] = '\0';
    CU_ASSERT_EQUAL(lb_regex_compile(deep, &re, err, sizeof(err)), -1);
    CU_ASSERT(strstr(err, "nested") != NULL);
}

static void
test_regex_copy(void)
{
    lb_regex_t *re = NULL, *copy;
    char err[80];

    CU_ASSERT_EQUAL_FATAL(lb_regex_compile("^[0-9]+$", &re, err,
                                           sizeof(err)), 0);
    copy = lb_regex_copy(re);
    lb_regex_free(re);
    CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
    CU_ASSERT_EQUAL(lb_regex_match(copy, "123", 3), 1);
    CU_ASSERT_EQUAL(lb_regex_match(copy, "12a", 3), 0);
    lb_regex_free(copy);
}

static void
test_unescape(void)
{
    static const char *const bad[] = {"\\q", "abc\\", "\\x4", "\\xg0", "",
                                      "\\0"};
    char err[160], *out = NULL;
    size_t len = 0;

    CU_ASSERT_EQUAL_FATAL(lb_check_unescape("PING\\r\\n", &out, &len, err,
                                            sizeof(err)), 0);
    CU_ASSERT_EQUAL(len, 6);
    CU_ASSERT(memcmp(out, "PING\r\n", 6) == 0);
    free(out);
    CU_ASSERT_EQUAL_FATAL(lb_check_unescape("\\x00\\xFf\\t\\\\", &out, &len,
                                            err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(len, 4);
    CU_ASSERT(memcmp(out, "\0\xff\t\\", 4) == 0);
    free(out);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CU_ASSERT_EQUAL(lb_check_unescape(bad[i], &out, &len, err,
                                          sizeof(err)), -1);
}

static void
test_http_request(void)
{
    lb_check_cfg_t c;
    char err[200], *req;
    size_t len;

    memset(&c, 0, sizeof(c));
    CU_ASSERT_EQUAL(lb_check_parse_http("POST /x", &c, err, sizeof(err)), -1);
    CU_ASSERT_EQUAL(lb_check_parse_http("GET primary", &c, err, sizeof(err)),
                    -1);
    CU_ASSERT_EQUAL(lb_check_parse_http("GET /a b", &c, err, sizeof(err)),
                    -1);
    CU_ASSERT_EQUAL_FATAL(lb_check_parse_http("GET /primary", &c, err,
                                              sizeof(err)), 0);
    req = lb_check_request(&c, "10.0.0.1", 8008, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(req);
    CU_ASSERT_EQUAL(len, strlen("GET /primary HTTP/1.0\r\nHost: "
                                "10.0.0.1:8008\r\nUser-Agent: "
                                "PumpkinLB-check\r\nConnection: close"
                                "\r\n\r\n"));
    CU_ASSERT(memcmp(req, "GET /primary HTTP/1.0\r\nHost: 10.0.0.1:8008\r\n",
                     44) == 0);
    free(req);
    req = lb_check_request(&c, "::1", 80, &len);
    CU_ASSERT(req != NULL && strstr(req, "\r\nHost: [::1]\r\n") != NULL);
    free(req);
    lb_check_cfg_free(&c);
}

static int
judge(const lb_check_cfg_t *c, const char *reply, int eof, int *reason)
{
    return lb_check_judge(c, reply, strlen(reply), eof, reason);
}

static void
test_judge_expect(void)
{
    lb_check_cfg_t c;
    int why;

    memset(&c, 0, sizeof(c));
    c.expect = "+PONG";
    c.expect_len = 5;
    CU_ASSERT_EQUAL(judge(&c, "+PO", 0, &why), LB_CHECK_MORE);
    CU_ASSERT_EQUAL(judge(&c, "+PONG\r\n", 0, &why), LB_CHECK_PASS);
    CU_ASSERT_EQUAL(judge(&c, "-ERR", 0, &why), LB_CHECK_FAIL);
    CU_ASSERT_EQUAL(why, LB_CHECK_E_MISMATCH);
    CU_ASSERT_EQUAL(judge(&c, "+PO", 1, &why), LB_CHECK_FAIL);
    CU_ASSERT_EQUAL(why, LB_CHECK_E_CLOSED);
    memset(&c, 0, sizeof(c));
    CU_ASSERT_EQUAL(judge(&c, "", 0, &why), LB_CHECK_PASS); /* connect */
}

static void
test_judge_line(void)
{
    lb_check_cfg_t c;
    char err[80], big[LB_CHECK_MAX_REPLY + 1];
    int why;

    memset(&c, 0, sizeof(c));
    CU_ASSERT_EQUAL_FATAL(lb_regex_compile("^220 ", &c.expect_re, err,
                                           sizeof(err)), 0);
    CU_ASSERT_EQUAL(judge(&c, "220 mail", 0, &why), LB_CHECK_MORE);
    CU_ASSERT_EQUAL(judge(&c, "220 mail\r\n", 0, &why), LB_CHECK_PASS);
    CU_ASSERT_EQUAL(judge(&c, "220 mail", 1, &why), LB_CHECK_PASS);
    CU_ASSERT_EQUAL(judge(&c, "554 no\r\n", 0, &why), LB_CHECK_FAIL);
    CU_ASSERT_EQUAL(why, LB_CHECK_E_NO_MATCH);
    CU_ASSERT_EQUAL(judge(&c, "", 1, &why), LB_CHECK_FAIL);
    CU_ASSERT_EQUAL(why, LB_CHECK_E_CLOSED);
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CU_ASSERT_EQUAL(lb_check_judge(&c, big, LB_CHECK_MAX_REPLY, 0, &why),
                    LB_CHECK_FAIL); /* no line end in 512 bytes: judged */
    lb_regex_free(c.expect_re);
}

static void
test_judge_http(void)
{
    lb_check_cfg_t c;
    int why;

    memset(&c, 0, sizeof(c));
    c.http_path = "/primary";
    CU_ASSERT_EQUAL(judge(&c, "HTTP/1.1 200 OK\r\n", 0, &why), LB_CHECK_PASS);
    CU_ASSERT_EQUAL(judge(&c, "HTTP/1.1 302 Found\r\n", 0, &why),
                    LB_CHECK_PASS);
    CU_ASSERT_EQUAL(judge(&c, "HTTP/1.1 503 Service Unavailable\r\n", 0,
                          &why), LB_CHECK_FAIL);
    CU_ASSERT_EQUAL(why, LB_CHECK_E_STATUS);
    CU_ASSERT_EQUAL(judge(&c, "HTTP/1.0 200", 1, &why), LB_CHECK_PASS);
    CU_ASSERT_EQUAL(judge(&c, "SSH-2.0-OpenSSH\r\n", 0, &why),
                    LB_CHECK_FAIL);
    CU_ASSERT_EQUAL(why, LB_CHECK_E_NOT_HTTP);
    CU_ASSERT_EQUAL(judge(&c, "HTTP/1.1 20 OK\r\n", 0, &why), LB_CHECK_FAIL);
    CU_ASSERT_EQUAL(judge(&c, "HTTP/1.1 2000\r\n", 0, &why), LB_CHECK_FAIL);
    c.expect_status = 503;
    CU_ASSERT_EQUAL(judge(&c, "HTTP/1.1 503 Service Unavailable\r\n", 0,
                          &why), LB_CHECK_PASS);
    CU_ASSERT_EQUAL(judge(&c, "HTTP/1.1 200 OK\r\n", 0, &why), LB_CHECK_FAIL);
}

void
lb_test_check_register(void)
{
    CU_pSuite s = CU_add_suite("health check words", NULL, NULL);

    CU_add_test(s, "regex: what matches", test_regex_matches);
    CU_add_test(s, "regex: linear time", test_regex_linear_time);
    CU_add_test(s, "regex: mistakes refused", test_regex_refused);
    CU_add_test(s, "regex: a copy", test_regex_copy);
    CU_add_test(s, "check_send escapes", test_unescape);
    CU_add_test(s, "check_http request", test_http_request);
    CU_add_test(s, "judge: check_expect", test_judge_expect);
    CU_add_test(s, "judge: first line", test_judge_line);
    CU_add_test(s, "judge: HTTP status", test_judge_http);
}
