/* test_proxy_proto.c - unit tests of the PROXY protocol parser and builder
 * (src/proxy_proto.c): versions 1 and 2, every address family we relay,
 * headers in pieces, and what must be refused. Registered as the CUnit
 * suite "proxy protocol". */
#include <stdio.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "lb_proxy_proto.h"
#include "unit.h"

#define V2SIG "\r\n\r\n\0\r\nQUIT\n"

/* "1.2.3.4:80" of an address, for comparisons. */
static const char *
text_of(const lb_addr_t *a)
{
    static char buf[4][LB_ADDRSTRLEN];
    static int next;
    char *out = buf[next++ % 4];

    lb_addr_format(a, out, LB_ADDRSTRLEN);
    return out;
}

static long
parse_str(const char *s, lb_pp_header_t *h)
{
    return lb_pp_parse(s, strlen(s), h);
}

/* A v1 line must parse to its whole length, with these addresses. */
static void
expect_v1(const char *line, const char *src, const char *dst)
{
    lb_pp_header_t h;
    long rc = parse_str(line, &h);

    CU_ASSERT_EQUAL(rc, (long)strlen(line));
    if (rc != (long)strlen(line))
        fprintf(stderr, "\n'%s': %ld (%s)\n", line, rc, lb_pp_strerror(rc));
    CU_ASSERT_EQUAL(h.has_addr, src != NULL);
    if (src && h.has_addr) {
        CU_ASSERT_STRING_EQUAL(text_of(&h.src), src);
        CU_ASSERT_STRING_EQUAL(text_of(&h.dst), dst);
    }
}

static void
expect_error(const char *text, size_t len, long err)
{
    lb_pp_header_t h;
    long rc = lb_pp_parse(text, len, &h);

    CU_ASSERT_EQUAL(rc, err);
    if (rc != err)
        fprintf(stderr, "\n'%.*s': %ld, wanted %ld\n", (int)len, text, rc,
                err);
}

static void
expect_v1_error(const char *line, long err)
{
    expect_error(line, strlen(line), err);
}

/* Every proper prefix of a valid header asks for more. */
static void
expect_prefixes_need_more(const char *hdr, size_t len)
{
    lb_pp_header_t h;

    for (size_t k = 0; k < len; k++)
        CU_ASSERT_EQUAL(lb_pp_parse(hdr, k, &h), LB_PP_NEED_MORE);
}

static void
test_v1_tcp4(void)
{
    static const char line[] = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n";
    lb_pp_header_t h;

    expect_v1(line, "192.0.2.1:56324", "198.51.100.2:443");
    /* what follows the line is not the header's */
    CU_ASSERT_EQUAL(parse_str("PROXY TCP4 1.2.3.4 5.6.7.8 0 65535\r\nGET /",
                              &h), 36);
    CU_ASSERT_STRING_EQUAL(text_of(&h.src), "1.2.3.4:0");
    expect_prefixes_need_more(line, sizeof(line) - 1);
}

static void
test_v1_tcp6(void)
{
    expect_v1("PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n",
              "[2001:db8::1]:1", "[2001:db8::2]:65535");
    expect_v1("PROXY TCP6 ::ffff:192.0.2.1 ::1 80 81\r\n",
              "[::ffff:192.0.2.1]:80", "[::1]:81");
}

static void
test_v1_unknown(void)
{
    expect_v1("PROXY UNKNOWN\r\n", NULL, NULL);
    /* the rest of an UNKNOWN line is ignored */
    expect_v1("PROXY UNKNOWN ffff::1 ffff::2 65535 443\r\n", NULL, NULL);
    expect_v1_error("PROXY UNKNOWNX\r\n", LB_PP_EPROTO);
}

static void
test_v1_longest(void)
{
    char line[LB_PP_V1_MAX + 2];
    lb_pp_header_t h;

    /* 107 bytes with CRLF: the most the spec allows */
    memset(line, 'x', sizeof(line));
    memcpy(line, "PROXY UNKNOWN ", 14);
    memcpy(line + LB_PP_V1_MAX - 2, "\r\n", 2);
    CU_ASSERT_EQUAL(lb_pp_parse(line, LB_PP_V1_MAX, &h), LB_PP_V1_MAX);
    /* one more and it is too long, CRLF or not */
    memcpy(line + LB_PP_V1_MAX - 2, "x\r\n", 3);
    expect_error(line, LB_PP_V1_MAX + 1, LB_PP_ETOOLONG);
    expect_error(line, LB_PP_V1_MAX, LB_PP_ETOOLONG);
    expect_error(line, LB_PP_V1_MAX - 1, LB_PP_NEED_MORE);
}

static void
test_v1_line_ends(void)
{
    expect_v1_error("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", LB_PP_ECRLF);
    expect_v1_error("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rx", LB_PP_ECRLF);
    expect_v1_error("PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n", LB_PP_ECRLF);
    /* a lone CR at the end may still get its LF */
    expect_v1_error("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", LB_PP_NEED_MORE);
    /* binary bytes fail at once, not after 107 bytes or the timeout */
    expect_error("PROXY TCP4 \0", 12, LB_PP_ESYNTAX);
    expect_v1_error("PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n", LB_PP_ESYNTAX);
    expect_v1_error("PROXY \xc3\xa9", LB_PP_ESYNTAX);
}

static void
test_v1_fields(void)
{
    expect_v1_error("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", LB_PP_EPROTO);
    expect_v1_error("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", LB_PP_EPROTO);
    expect_v1_error("PROXY \r\n", LB_PP_EPROTO);
    expect_v1_error("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", LB_PP_ESYNTAX);
    expect_v1_error("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", LB_PP_ESYNTAX);
    expect_v1_error("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", LB_PP_ESYNTAX);
    expect_v1_error("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", LB_PP_ESYNTAX);
    expect_v1_error("PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", LB_PP_EPROTO);
}

static void
test_v1_bad_addresses(void)
{
    static const char *const bad4[] = {
        "256.1.1.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.04",
        "1..2.3", "1.2.3.4x", "-1.2.3.4", "1.2.3.1000", "::1",
        "localhost", "1.2.3.",
    };
    static const char *const bad6[] = {
        "1.2.3.4", "2001:db8::g", "2001:db8:::1", "[::1]", "fe80::1%eth0",
        "1:2:3:4:5:6:7:8:9", ":", "2001:db8::1 ",
    };
    char line[160];

    for (size_t i = 0; i < sizeof(bad4) / sizeof(bad4[0]); i++) {
        snprintf(line, sizeof(line), "PROXY TCP4 %s 5.6.7.8 1 2\r\n",
                 bad4[i]);
        expect_v1_error(line, LB_PP_EADDR);
        snprintf(line, sizeof(line), "PROXY TCP4 5.6.7.8 %s 1 2\r\n",
                 bad4[i]);
        expect_v1_error(line, LB_PP_EADDR);
    }
    for (size_t i = 0; i < sizeof(bad6) / sizeof(bad6[0]); i++) {
        snprintf(line, sizeof(line), "PROXY TCP6 %s ::2 1 2\r\n", bad6[i]);
        expect_v1_error(line, strchr(bad6[i], ' ') ? LB_PP_ESYNTAX
                                                    : LB_PP_EADDR);
    }
}

static void
test_v1_bad_ports(void)
{
    static const char *const bad[] = {"65536", "080", "-1", "+1", "1x",
                                      "999999", "0x10"};
    char line[160];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(line, sizeof(line), "PROXY TCP4 1.2.3.4 5.6.7.8 %s 2\r\n",
                 bad[i]);
        expect_v1_error(line, LB_PP_EPORT);
        snprintf(line, sizeof(line), "PROXY TCP4 1.2.3.4 5.6.7.8 2 %s\r\n",
                 bad[i]);
        expect_v1_error(line, LB_PP_EPORT);
    }
}

static void
test_garbage(void)
{
    lb_pp_header_t h;

    expect_v1_error("GET / HTTP/1.0\r\n\r\n", LB_PP_ENOTPROXY);
    expect_v1_error("proxy TCP4", LB_PP_ENOTPROXY);
    expect_v1_error("PROXY\tTCP4", LB_PP_ENOTPROXY);
    expect_v1_error("P", LB_PP_NEED_MORE); /* could still be one */
    expect_v1_error("X", LB_PP_ENOTPROXY); /* cannot */
    expect_error(V2SIG, 11, LB_PP_NEED_MORE);
    expect_error("\r\n\r\n\0\r\nQUIX", 12, LB_PP_ENOTPROXY);
    expect_error("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11,
                 LB_PP_ENOTPROXY); /* a TLS ClientHello */
    CU_ASSERT_EQUAL(lb_pp_parse("", 0, &h), LB_PP_NEED_MORE);
}

/* A v2 header: command byte, family byte, then body bytes. */
static size_t
v2(unsigned char *out, int cmd, int fam, const void *body, size_t n)
{
    memcpy(out, V2SIG, 12);
    out[12] = (unsigned char)cmd;
    out[13] = (unsigned char)fam;
    out[14] = (unsigned char)(n >> 8);
    out[15] = (unsigned char)(n & 0xFF);
    memcpy(out + 16, body, n);
    return 16 + n;
}

static const unsigned char body4[12] = {192, 0, 2, 1,    198, 51, 100, 2,
                                        0xDC, 0x04, 0x01, 0xBB};

static void
test_v2_tcp4(void)
{
    unsigned char buf[64];
    size_t n = v2(buf, 0x21, 0x11, body4, sizeof(body4));
    lb_pp_header_t h;

    memcpy(buf + n, "GET", 3);
    CU_ASSERT_EQUAL(lb_pp_parse((char *)buf, n + 3, &h), 28);
    CU_ASSERT(h.has_addr);
    CU_ASSERT_STRING_EQUAL(text_of(&h.src), "192.0.2.1:56324");
    CU_ASSERT_STRING_EQUAL(text_of(&h.dst), "198.51.100.2:443");
    expect_prefixes_need_more((char *)buf, n);
}

static void
test_v2_tcp6(void)
{
    unsigned char body[36] = {0x20, 0x01, 0x0d, 0xb8};
    unsigned char buf[64];
    size_t n;
    lb_pp_header_t h;

    body[15] = 1;
    memcpy(body + 16, body, 15);
    body[31] = 2;
    body[32] = 0x00;
    body[33] = 0x01; /* port 1 */
    body[34] = 0xFF;
    body[35] = 0xFF; /* port 65535 */
    n = v2(buf, 0x21, 0x21, body, sizeof(body));
    CU_ASSERT_EQUAL(lb_pp_parse((char *)buf, n, &h), 52);
    CU_ASSERT(h.has_addr);
    CU_ASSERT_STRING_EQUAL(text_of(&h.src), "[2001:db8::1]:1");
    CU_ASSERT_STRING_EQUAL(text_of(&h.dst), "[2001:db8::2]:65535");
}

static void
test_v2_local_and_other_families(void)
{
    unsigned char buf[600], unix_body[216] = {0};
    lb_pp_header_t h;
    size_t n;

    /* LOCAL: the real addresses, whatever the block says */
    n = v2(buf, 0x20, 0x00, "", 0);
    CU_ASSERT_EQUAL(lb_pp_parse((char *)buf, n, &h), 16);
    CU_ASSERT(!h.has_addr);
    n = v2(buf, 0x20, 0x11, body4, sizeof(body4));
    CU_ASSERT_EQUAL(lb_pp_parse((char *)buf, n, &h), 28);
    CU_ASSERT(!h.has_addr);
    /* PROXY with UNSPEC, UDP or UNIX: valid, the real addresses stand */
    n = v2(buf, 0x21, 0x00, "", 0);
    CU_ASSERT_EQUAL(lb_pp_parse((char *)buf, n, &h), 16);
    CU_ASSERT(!h.has_addr);
    n = v2(buf, 0x21, 0x12, body4, sizeof(body4));
    CU_ASSERT_EQUAL(lb_pp_parse((char *)buf, n, &h), 28);
    CU_ASSERT(!h.has_addr);
    n = v2(buf, 0x21, 0x31, unix_body, sizeof(unix_body));
    CU_ASSERT_EQUAL(lb_pp_parse((char *)buf, n, &h), 232);
    CU_ASSERT(!h.has_addr);
}

static void
test_v2_tlvs_skipped(void)
{
    unsigned char body[12 + 7], buf[64];
    lb_pp_header_t h;
    size_t n;

    memcpy(body, body4, 12);
    /* PP2_TYPE_AUTHORITY "abcd" */
    memcpy(body + 12, "\x02\x00\x04" "abcd", 7);
    n = v2(buf, 0x21, 0x11, body, sizeof(body));
    CU_ASSERT_EQUAL(lb_pp_parse((char *)buf, n, &h), 35);
    CU_ASSERT(h.has_addr);
    CU_ASSERT_STRING_EQUAL(text_of(&h.src), "192.0.2.1:56324");
}

static void
test_v2_errors(void)
{
    unsigned char buf[LB_PP_V2_MAX + 16], big[LB_PP_V2_MAX] = {0};
    lb_pp_header_t h;
    size_t n;

    n = v2(buf, 0x11, 0x11, body4, 12); /* version 1 in a v2 header */
    expect_error((char *)buf, n, LB_PP_EVERSION);
    n = v2(buf, 0x22, 0x11, body4, 12); /* command 2 */
    expect_error((char *)buf, n, LB_PP_EVERSION);
    n = v2(buf, 0x21, 0x41, body4, 12); /* family 4 */
    expect_error((char *)buf, n, LB_PP_EFAMILY);
    n = v2(buf, 0x21, 0x13, body4, 12); /* transport 3 */
    expect_error((char *)buf, n, LB_PP_EFAMILY);
    n = v2(buf, 0x21, 0x11, body4, 11); /* too short for IPv4 */
    expect_error((char *)buf, n, LB_PP_ESHORT);
    n = v2(buf, 0x21, 0x21, big, 35); /* too short for IPv6 */
    expect_error((char *)buf, n, LB_PP_ESHORT);
    /* The length field is checked as soon as it is there. */
    n = v2(buf, 0x21, 0x11, big, LB_PP_V2_MAX - 16 + 1);
    expect_error((char *)buf, 16, LB_PP_ETOOLONG);
    n = v2(buf, 0x21, 0x11, big, LB_PP_V2_MAX - 16);
    CU_ASSERT_EQUAL(lb_pp_parse((char *)buf, n - 1, &h), LB_PP_NEED_MORE);
    CU_ASSERT_EQUAL(lb_pp_parse((char *)buf, n, &h), LB_PP_V2_MAX);
}

static void
test_feed_in_pieces(void)
{
    static const char data[] =
        "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nhello";
    size_t hdr = sizeof(data) - 1 - 5, used = 99;
    lb_pp_buf_t b = {NULL, 0};
    lb_pp_header_t h;

    /* one byte at a time, as with buffer_size = 1 */
    for (size_t i = 0; i + 1 < hdr; i++)
        CU_ASSERT_EQUAL(lb_pp_feed(&b, data + i, 1, &h, &used),
                        LB_PP_NEED_MORE);
    CU_ASSERT_EQUAL(lb_pp_feed(&b, data + hdr - 1, 1, &h, &used),
                    (long)hdr);
    CU_ASSERT_EQUAL(used, 1);
    CU_ASSERT_STRING_EQUAL(text_of(&h.src), "192.0.2.1:56324");
    lb_pp_buf_free(&b);
    CU_ASSERT_PTR_NULL(b.data);
    /* two reads, the second with the header's end and the client's data */
    CU_ASSERT_EQUAL(lb_pp_feed(&b, data, 20, &h, &used), LB_PP_NEED_MORE);
    CU_ASSERT_EQUAL(lb_pp_feed(&b, data + 20, sizeof(data) - 1 - 20, &h,
                               &used), (long)hdr);
    CU_ASSERT_EQUAL(used, hdr - 20);
    CU_ASSERT_STRING_EQUAL(data + 20 + used, "hello");
    lb_pp_buf_free(&b);
    /* whole in one read: nothing kept, nothing allocated */
    CU_ASSERT_EQUAL(lb_pp_feed(&b, data, sizeof(data) - 1, &h, &used),
                    (long)hdr);
    CU_ASSERT_EQUAL(used, hdr);
    CU_ASSERT_PTR_NULL(b.data);
    /* garbage in the second piece */
    CU_ASSERT_EQUAL(lb_pp_feed(&b, "PRO", 3, &h, &used), LB_PP_NEED_MORE);
    CU_ASSERT_EQUAL(lb_pp_feed(&b, "XX", 2, &h, &used), LB_PP_ENOTPROXY);
    lb_pp_buf_free(&b);
}

static void
test_feed_v2_in_pieces(void)
{
    unsigned char buf[64];
    size_t n = v2(buf, 0x21, 0x11, body4, sizeof(body4)), used = 0;
    lb_pp_buf_t b = {NULL, 0};
    lb_pp_header_t h;

    memcpy(buf + n, "xyz", 3);
    CU_ASSERT_EQUAL(lb_pp_feed(&b, (char *)buf, 13, &h, &used),
                    LB_PP_NEED_MORE);
    CU_ASSERT_EQUAL(lb_pp_feed(&b, (char *)buf + 13, 10, &h, &used),
                    LB_PP_NEED_MORE);
    CU_ASSERT_EQUAL(lb_pp_feed(&b, (char *)buf + 23, n + 3 - 23, &h, &used),
                    28);
    CU_ASSERT_EQUAL(used, 5);
    CU_ASSERT(h.has_addr);
    lb_pp_buf_free(&b);
}

/* ---- building ---- */

static lb_addr_t
addr(const char *host, uint16_t port)
{
    lb_addr_t a;

    CU_ASSERT_EQUAL(lb_addr_from_numeric(host, port, &a), 0);
    return a;
}

static void
expect_built(int version, lb_addr_t src, lb_addr_t dst, const void *want,
             size_t n)
{
    char out[LB_PP_BUILD_MAX];
    size_t len = lb_pp_build(version, &src, &dst, out);

    CU_ASSERT_EQUAL(len, n);
    CU_ASSERT(len == n && memcmp(out, want, n) == 0);
    if (len != n || memcmp(out, want, n) != 0)
        fprintf(stderr, "\nbuilt '%.*s'\n", (int)len, out);
}

static void
test_build_v1(void)
{
    lb_addr_t none;

    memset(&none, 0, sizeof(none));
    expect_built(1, addr("192.0.2.1", 56324), addr("198.51.100.2", 443),
                 "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n", 45);
    expect_built(1, addr("2001:db8::1", 1), addr("2001:db8::2", 65535),
                 "PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n", 44);
    /* both IPv4-mapped: plain IPv4 */
    expect_built(1, addr("::ffff:10.0.0.1", 7), addr("::ffff:10.0.0.2", 8),
                 "PROXY TCP4 10.0.0.1 10.0.0.2 7 8\r\n", 34);
    /* one of each: IPv6, the IPv4 one mapped */
    expect_built(1, addr("10.0.0.1", 7), addr("2001:db8::2", 8),
                 "PROXY TCP6 ::ffff:10.0.0.1 2001:db8::2 7 8\r\n", 44);
    expect_built(1, none, addr("10.0.0.2", 8), "PROXY UNKNOWN\r\n", 15);
}

static void
test_build_v2(void)
{
    unsigned char want[64];
    lb_addr_t none;
    size_t n;

    memset(&none, 0, sizeof(none));
    n = v2(want, 0x21, 0x11, body4, sizeof(body4));
    expect_built(2, addr("192.0.2.1", 56324), addr("198.51.100.2", 443),
                 want, n);
    expect_built(2, addr("::ffff:192.0.2.1", 56324),
                 addr("198.51.100.2", 443), want, n);
    n = v2(want, 0x20, 0x00, "", 0);
    expect_built(2, addr("192.0.2.1", 1), none, want, n);
    expect_built(2, addr("2001:db8::1", 1), addr("2001:db8::2", 65535),
                 V2SIG "\x21\x21\x00\x24"
                 "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01"
                 "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x02"
                 "\x00\x01\xff\xff", 52);
}

static void
test_build_then_parse(void)
{
    static const char *const pairs[][2] = {
        {"192.0.2.1", "198.51.100.2"},
        {"2001:db8::1", "::1"},
        {"10.1.2.3", "fd00::7"},
    };

    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        for (int version = 1; version <= 2; version++) {
            lb_addr_t s = addr(pairs[i][0], 40000), d = addr(pairs[i][1], 80);
            char out[LB_PP_BUILD_MAX];
            size_t n = lb_pp_build(version, &s, &d, out);
            lb_pp_header_t h;

            CU_ASSERT_EQUAL(lb_pp_parse(out, n, &h), (long)n);
            CU_ASSERT(h.has_addr);
            if (i < 2) { /* the mixed pair comes back mapped */
                CU_ASSERT(lb_addr_equal(&h.src, &s));
                CU_ASSERT(lb_addr_equal(&h.dst, &d));
            }
            CU_ASSERT_EQUAL(lb_addr_port(&h.src), 40000);
        }
    }
}

void
lb_test_proxy_proto_register(void)
{
    static const struct {
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"v1 TCP4", test_v1_tcp4},
        {"v1 TCP6", test_v1_tcp6},
        {"v1 UNKNOWN", test_v1_unknown},
        {"v1 longest line", test_v1_longest},
        {"v1 line ends", test_v1_line_ends},
        {"v1 fields", test_v1_fields},
        {"v1 bad addresses", test_v1_bad_addresses},
        {"v1 bad ports", test_v1_bad_ports},
        {"garbage", test_garbage},
        {"v2 TCP4", test_v2_tcp4},
        {"v2 TCP6", test_v2_tcp6},
        {"v2 LOCAL and other families", test_v2_local_and_other_families},
        {"v2 TLVs skipped", test_v2_tlvs_skipped},
        {"v2 errors", test_v2_errors},
        {"feed v1 in pieces", test_feed_in_pieces},
        {"feed v2 in pieces", test_feed_v2_in_pieces},
        {"build v1", test_build_v1},
        {"build v2", test_build_v2},
        {"build then parse", test_build_then_parse},
    };
    CU_pSuite suite = CU_add_suite("proxy protocol", NULL, NULL);
    size_t i;

    if (suite == NULL)
        return;
    for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
        CU_add_test(suite, tests[i].name, tests[i].fn);
}
