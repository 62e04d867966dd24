/* test_acl.c - allow/deny lists (src/acl.c): parsing rules, formatting
 * the network to suggest, and the check: IPv4, IPv6, IPv4-mapped, /0,
 * /32, /128, prefix boundaries, deny over allow. Suite "acl". */
#include <stdio.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "lb_acl.h"
#include "lb_platform.h"
#include "unit.h"

/* The raw bytes of a numeric address; returns their count (4 or 16). */
static size_t
ip_of(const char *text, unsigned char ip[16])
{
    lb_addr_t a;

    CU_ASSERT_EQUAL_FATAL(lb_addr_from_numeric(text, 0, &a), 0);
    return (size_t)lb_addr_ip(&a, ip);
}

/* A list from comma-free rule texts, each of which must parse. */
static void
list_of(lb_acl_t *acl, const char *const *rules, size_t n)
{
    memset(acl, 0, sizeof(*acl));
    for (size_t i = 0; i < n; i++) {
        lb_acl_rule_t r;
        int rc = lb_acl_parse(rules[i], &r);

        if (rc != LB_ACL_OK)
            fprintf(stderr, "\nrule '%s' did not parse: %d\n", rules[i], rc);
        CU_ASSERT_EQUAL_FATAL(rc, LB_ACL_OK);
        CU_ASSERT_EQUAL_FATAL(lb_acl_add(acl, &r), 0);
    }
}

static int
matches(const lb_acl_t *acl, const char *addr)
{
    unsigned char ip[16];
    size_t len = ip_of(addr, ip);

    return lb_acl_match(acl, ip, len);
}

static int
check(const lb_acl_t *allow, const lb_acl_t *deny, const char *addr)
{
    unsigned char ip[16];
    size_t len = ip_of(addr, ip);

    return lb_acl_check(allow, deny, ip, len);
}

/* Parses text, which must give rc, and formats the result. */
static void
expect_parse(const char *text, int rc, const char *formatted)
{
    lb_acl_rule_t r;
    char buf[LB_ACL_STRLEN];
    int got = lb_acl_parse(text, &r);

    CU_ASSERT_EQUAL(got, rc);
    if (got != rc)
        fprintf(stderr, "\n'%s': wanted %d, got %d\n", text, rc, got);
    if (formatted == NULL)
        return;
    lb_acl_format(&r, buf, sizeof(buf));
    CU_ASSERT_STRING_EQUAL(buf, formatted);
    if (strcmp(buf, formatted) != 0)
        fprintf(stderr, "\n'%s': wanted '%s', got '%s'\n", text, formatted,
                buf);
}

static void
test_parse_forms(void)
{
    expect_parse("192.168.1.7", LB_ACL_OK, "192.168.1.7/32");
    expect_parse("10.0.0.0/8", LB_ACL_OK, "10.0.0.0/8");
    expect_parse("0.0.0.0/0", LB_ACL_OK, "0.0.0.0/0");
    expect_parse("10.0.0.0/008", LB_ACL_OK, "10.0.0.0/8");
    expect_parse("::1", LB_ACL_OK, "::1/128");
    expect_parse("::", LB_ACL_OK, "::/128");
    expect_parse("::/0", LB_ACL_OK, "::/0");
    expect_parse("2001:db8::/32", LB_ACL_OK, "2001:db8::/32");
    expect_parse("2001:DB8:0:0:1:0:0:1", LB_ACL_OK, "2001:db8::1:0:0:1/128");
    expect_parse("1:0:1:0:1:0:1:0", LB_ACL_OK, "1:0:1:0:1:0:1:0/128");
    expect_parse("fe80::/10", LB_ACL_OK, "fe80::/10");
}

static void
test_parse_mapped(void)
{
    lb_acl_rule_t r;

    /* Stored as the IPv4 rule, which is how mapped clients are matched. */
    expect_parse("::ffff:10.0.0.0/104", LB_ACL_OK, "10.0.0.0/8");
    expect_parse("::ffff:192.168.1.7", LB_ACL_OK, "192.168.1.7/32");
    expect_parse("::ffff:0:0/96", LB_ACL_OK, "0.0.0.0/0");
    CU_ASSERT_EQUAL(lb_acl_parse("::ffff:10.0.0.0/104", &r), LB_ACL_OK);
    CU_ASSERT_EQUAL(r.len, 4);
    CU_ASSERT_EQUAL(r.bits, 8);
    /* Shorter than /96 is an IPv6 network with bits set past it. */
    expect_parse("::ffff:0:0/80", LB_ACL_EHOSTBITS, "::/80");
}

static void
test_parse_errors(void)
{
    lb_acl_rule_t r;
    char longer[200];

    expect_parse("", LB_ACL_EEMPTY, NULL);
    expect_parse("bogus", LB_ACL_EADDR, NULL);
    expect_parse("localhost", LB_ACL_EADDR, NULL);
    expect_parse("1.2.3", LB_ACL_EADDR, NULL);
    expect_parse("1.2.3.4.5", LB_ACL_EADDR, NULL);
    expect_parse("256.1.1.1", LB_ACL_EADDR, NULL);
    expect_parse("/8", LB_ACL_EADDR, NULL);
    expect_parse("[::1]", LB_ACL_EADDR, NULL);
    expect_parse(" 10.0.0.1", LB_ACL_EADDR, NULL);
    memset(longer, '1', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    expect_parse(longer, LB_ACL_EADDR, NULL);
    expect_parse("10.0.0.0/", LB_ACL_EPREFIX, NULL);
    expect_parse("10.0.0.0/x", LB_ACL_EPREFIX, NULL);
    expect_parse("10.0.0.0/-1", LB_ACL_EPREFIX, NULL);
    expect_parse("10.0.0.0/+8", LB_ACL_EPREFIX, NULL);
    expect_parse("10.0.0.0/8 ", LB_ACL_EPREFIX, NULL);
    expect_parse("10.0.0.0/8/9", LB_ACL_EPREFIX, NULL);
    expect_parse("10.0.0.0/33", LB_ACL_EPREFIX, NULL);
    expect_parse("10.0.0.0/99999999999999999999", LB_ACL_EPREFIX, NULL);
    CU_ASSERT_EQUAL(lb_acl_parse("10.0.0.0/33", &r), LB_ACL_EPREFIX);
    CU_ASSERT_EQUAL(r.len, 4);
    CU_ASSERT_EQUAL(lb_acl_parse("::/129", &r), LB_ACL_EPREFIX);
    CU_ASSERT_EQUAL(r.len, 16);
    expect_parse("::ffff:1.2.3.4/129", LB_ACL_EPREFIX, NULL);
}

static void
test_parse_host_bits(void)
{
    /* The rule comes back as the network to suggest instead. */
    expect_parse("10.1.2.3/8", LB_ACL_EHOSTBITS, "10.0.0.0/8");
    expect_parse("192.168.1.7/24", LB_ACL_EHOSTBITS, "192.168.1.0/24");
    expect_parse("192.168.1.1/31", LB_ACL_EHOSTBITS, "192.168.1.0/31");
    expect_parse("1.2.3.4/0", LB_ACL_EHOSTBITS, "0.0.0.0/0");
    expect_parse("2001:db8::1/32", LB_ACL_EHOSTBITS, "2001:db8::/32");
    expect_parse("2001:db8:ffff::/33", LB_ACL_EHOSTBITS,
                 "2001:db8:8000::/33");
    expect_parse("::ffff:10.1.2.3/104", LB_ACL_EHOSTBITS, "10.0.0.0/8");
    expect_parse("192.168.1.0/31", LB_ACL_OK, "192.168.1.0/31");
}

static void
test_match_v4(void)
{
    static const char *const rules[] = {"10.0.0.0/8", "192.168.0.0/23",
                                        "172.16.5.9"};
    lb_acl_t acl;

    list_of(&acl, rules, 3);
    CU_ASSERT(matches(&acl, "10.0.0.0"));
    CU_ASSERT(matches(&acl, "10.255.255.255"));
    CU_ASSERT(!matches(&acl, "9.255.255.255"));
    CU_ASSERT(!matches(&acl, "11.0.0.0"));
    CU_ASSERT(matches(&acl, "192.168.0.0"));
    CU_ASSERT(matches(&acl, "192.168.1.255"));
    CU_ASSERT(!matches(&acl, "192.168.2.0"));
    CU_ASSERT(!matches(&acl, "192.167.255.255"));
    /* a bare address is a /32 */
    CU_ASSERT(matches(&acl, "172.16.5.9"));
    CU_ASSERT(!matches(&acl, "172.16.5.8"));
    CU_ASSERT(!matches(&acl, "172.16.5.10"));
    /* IPv4 rules never match IPv6 addresses */
    CU_ASSERT(!matches(&acl, "::a00:1"));
    lb_acl_free(&acl);
    CU_ASSERT_PTR_NULL(acl.rules);
    CU_ASSERT_EQUAL(acl.n, 0);
}

static void
test_match_v6(void)
{
    static const char *const rules[] = {"2001:db8::/33", "::1",
                                        "fe80::/10"};
    lb_acl_t acl;

    list_of(&acl, rules, 3);
    CU_ASSERT(matches(&acl, "2001:db8::"));
    CU_ASSERT(matches(&acl, "2001:db8:7fff:ffff:ffff:ffff:ffff:ffff"));
    CU_ASSERT(!matches(&acl, "2001:db8:8000::"));
    CU_ASSERT(!matches(&acl, "2001:db7:ffff::"));
    /* a bare address is a /128 */
    CU_ASSERT(matches(&acl, "::1"));
    CU_ASSERT(!matches(&acl, "::2"));
    CU_ASSERT(!matches(&acl, "::"));
    CU_ASSERT(matches(&acl, "febf:ffff::1"));
    CU_ASSERT(!matches(&acl, "fec0::"));
    /* IPv6 rules never match IPv4 addresses */
    CU_ASSERT(!matches(&acl, "0.0.0.1"));
    lb_acl_free(&acl);
}

static void
test_match_zero_prefix(void)
{
    static const char *const v4[] = {"0.0.0.0/0"};
    static const char *const v6[] = {"::/0"};
    lb_acl_t all4, all6;

    list_of(&all4, v4, 1);
    list_of(&all6, v6, 1);
    CU_ASSERT(matches(&all4, "0.0.0.0"));
    CU_ASSERT(matches(&all4, "255.255.255.255"));
    CU_ASSERT(!matches(&all4, "::1"));
    CU_ASSERT(matches(&all6, "::"));
    CU_ASSERT(matches(&all6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    CU_ASSERT(!matches(&all6, "127.0.0.1"));
    lb_acl_free(&all4);
    lb_acl_free(&all6);
}

static void
test_check_deny_wins(void)
{
    static const char *const allow_rules[] = {"10.0.0.0/8", "::1"};
    static const char *const deny_rules[] = {"10.0.0.5", "10.9.0.0/16"};
    lb_acl_t allow, deny, none;

    list_of(&allow, allow_rules, 2);
    list_of(&deny, deny_rules, 2);
    memset(&none, 0, sizeof(none));
    CU_ASSERT_EQUAL(check(&allow, &deny, "10.0.0.6"), LB_ACL_PASS);
    CU_ASSERT_EQUAL(check(&allow, &deny, "::1"), LB_ACL_PASS);
    CU_ASSERT_EQUAL(check(&allow, &deny, "10.0.0.5"), LB_ACL_DENIED);
    CU_ASSERT_EQUAL(check(&allow, &deny, "10.9.200.1"), LB_ACL_DENIED);
    CU_ASSERT_EQUAL(check(&allow, &deny, "11.0.0.1"), LB_ACL_NOT_ALLOWED);
    CU_ASSERT_EQUAL(check(&allow, &deny, "::2"), LB_ACL_NOT_ALLOWED);
    /* deny alone: everyone else passes */
    CU_ASSERT_EQUAL(check(&none, &deny, "11.0.0.1"), LB_ACL_PASS);
    CU_ASSERT_EQUAL(check(&none, &deny, "10.0.0.5"), LB_ACL_DENIED);
    /* allow alone */
    CU_ASSERT_EQUAL(check(&allow, &none, "10.0.0.5"), LB_ACL_PASS);
    CU_ASSERT_EQUAL(check(&allow, &none, "192.0.2.1"), LB_ACL_NOT_ALLOWED);
    /* neither: everyone, even an unknown peer */
    CU_ASSERT_EQUAL(check(&none, &none, "192.0.2.1"), LB_ACL_PASS);
    CU_ASSERT_EQUAL(lb_acl_check(&none, &none, NULL, 0), LB_ACL_PASS);
    /* an unknown peer cannot be shown not to be denied */
    CU_ASSERT_EQUAL(lb_acl_check(&none, &deny, NULL, 0), LB_ACL_UNKNOWN);
    CU_ASSERT_EQUAL(lb_acl_check(&allow, &none, NULL, 0), LB_ACL_UNKNOWN);
    lb_acl_free(&allow);
    lb_acl_free(&deny);
}

static void
test_check_mapped_clients(void)
{
    static const char *const allow_rules[] = {"10.0.0.0/8", "::/0"};
    static const char *const deny_rules[] = {"::ffff:10.0.0.5"};
    static const char *const v6_only[] = {"::/0"};
    lb_acl_t allow, deny, all6, none;

    list_of(&allow, allow_rules, 2);
    list_of(&deny, deny_rules, 1);
    list_of(&all6, v6_only, 1);
    memset(&none, 0, sizeof(none));
    /* a mapped client is its IPv4 address, for allow and for deny */
    CU_ASSERT_EQUAL(check(&allow, &deny, "::ffff:10.0.0.6"), LB_ACL_PASS);
    CU_ASSERT_EQUAL(check(&allow, &deny, "::ffff:10.0.0.5"), LB_ACL_DENIED);
    CU_ASSERT_EQUAL(check(&allow, &deny, "10.0.0.5"), LB_ACL_DENIED);
    CU_ASSERT_EQUAL(check(&allow, &none, "::ffff:10.200.0.1"), LB_ACL_PASS);
    /* ::/0 is every IPv6 client, not the IPv4 ones behind ::ffff: */
    CU_ASSERT_EQUAL(check(&allow, &none, "::ffff:11.0.0.1"),
                    LB_ACL_NOT_ALLOWED);
    CU_ASSERT_EQUAL(check(&all6, &none, "::ffff:11.0.0.1"),
                    LB_ACL_NOT_ALLOWED);
    CU_ASSERT_EQUAL(check(&all6, &none, "2001:db8::1"), LB_ACL_PASS);
    lb_acl_free(&allow);
    lb_acl_free(&deny);
    lb_acl_free(&all6);
}

static void
test_copy_and_grow(void)
{
    lb_acl_t acl, copy;
    lb_acl_rule_t r;
    char text[32];

    memset(&acl, 0, sizeof(acl));
    for (unsigned i = 0; i < 300; i++) {
        snprintf(text, sizeof(text), "10.%u.%u.0/24", i / 256, i % 256);
        CU_ASSERT_EQUAL_FATAL(lb_acl_parse(text, &r), LB_ACL_OK);
        CU_ASSERT_EQUAL_FATAL(lb_acl_add(&acl, &r), 0);
    }
    CU_ASSERT_EQUAL(acl.n, 300);
    CU_ASSERT_EQUAL_FATAL(lb_acl_copy(&copy, &acl), 0);
    lb_acl_free(&acl);
    CU_ASSERT_EQUAL(copy.n, 300);
    CU_ASSERT(matches(&copy, "10.1.43.200"));  /* the 300th */
    CU_ASSERT(!matches(&copy, "10.1.44.0"));
    lb_acl_free(&copy);
    CU_ASSERT_EQUAL(lb_acl_copy(&copy, &acl), 0); /* of an empty list */
    CU_ASSERT_PTR_NULL(copy.rules);
    CU_ASSERT_EQUAL(copy.n, 0);
}

static void
test_addr_ip(void)
{
    lb_addr_t a;
    unsigned char ip[16];
    static const unsigned char v4[4] = {192, 0, 2, 7};
    static const unsigned char v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                         0, 0, 0, 0, 0, 0, 0, 1};

    CU_ASSERT_EQUAL(lb_addr_from_numeric("192.0.2.7", 8080, &a), 0);
    CU_ASSERT_EQUAL(lb_addr_ip(&a, ip), 4);
    CU_ASSERT_EQUAL(memcmp(ip, v4, 4), 0);
    CU_ASSERT_EQUAL(lb_addr_from_numeric("2001:db8::1", 8080, &a), 0);
    CU_ASSERT_EQUAL(lb_addr_ip(&a, ip), 16);
    CU_ASSERT_EQUAL(memcmp(ip, v6, 16), 0);
    memset(&a, 0, sizeof(a));
    CU_ASSERT_EQUAL(lb_addr_ip(&a, ip), 0);
}

void
lb_test_acl_register(void)
{
    static const struct {
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"rule forms", test_parse_forms},
        {"IPv4-mapped rules", test_parse_mapped},
        {"rule errors", test_parse_errors},
        {"bits past the prefix", test_parse_host_bits},
        {"IPv4 matching and boundaries", test_match_v4},
        {"IPv6 matching and boundaries", test_match_v6},
        {"/0 matches its family only", test_match_zero_prefix},
        {"deny wins over allow", test_check_deny_wins},
        {"IPv4-mapped clients", test_check_mapped_clients},
        {"copy and growth", test_copy_and_grow},
        {"lb_addr_ip", test_addr_ip},
    };
    CU_pSuite suite = CU_add_suite("acl", NULL, NULL);

    if (suite == NULL)
        return;
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
        CU_add_test(suite, tests[i].name, tests[i].fn);
}
