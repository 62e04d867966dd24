/* test_inspect.c - the inspectors of a client's first bytes: TLS
 * ClientHello server names (whole, in pieces, over several records,
 * without SNI, malformed, not TLS, too long) and RDP Connection Request
 * cookies (mstshash, a broker's routing token, none, malformed). */
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "lb_inspect.h"
#include "unit.h"

typedef struct msg_s {
    unsigned char b[40000];
    size_t n;
} msg_t;

static void
put(msg_t *m, const void *p, size_t n)
{
    memcpy(m->b + m->n, p, n);
    m->n += n;
}

static void
put8(msg_t *m, unsigned v)
{
    m->b[m->n++] = (unsigned char)v;
}

static void
put16(msg_t *m, unsigned v)
{
    put8(m, v >> 8);
    put8(m, v & 0xff);
}

static void
put24(msg_t *m, unsigned v)
{
    put8(m, v >> 16);
    put16(m, v & 0xffff);
}

/* A ClientHello handshake message; sni NULL for none, pad bytes of an
 * extension before it. */
static void
hello_message(msg_t *hs, const char *sni, size_t pad)
{
    msg_t body = {{0}, 0}, exts = {{0}, 0};

    put16(&body, 0x0303);
    memset(body.b + body.n, 7, 32);
    body.n += 32;
    put8(&body, 0);          /* session id */
    put16(&body, 2);         /* cipher suites */
    put16(&body, 0x1301);
    put8(&body, 1);          /* compression methods */
    put8(&body, 0);
    if (pad > 0) {
        put16(&exts, 21);    /* padding */
        put16(&exts, (unsigned)pad);
        memset(exts.b + exts.n, 0, pad);
        exts.n += pad;
    }
    if (sni != NULL) {
        size_t n = strlen(sni);

        put16(&exts, 0);
        put16(&exts, (unsigned)(n + 5));
        put16(&exts, (unsigned)(n + 3));
        put8(&exts, 0);
        put16(&exts, (unsigned)n);
        put(&exts, sni, n);
    }
    put16(&body, (unsigned)exts.n);
    put(&body, exts.b, exts.n);
    hs->n = 0;
    put8(hs, 1);
    put24(hs, (unsigned)body.n);
    put(hs, body.b, body.n);
}

/* hs cut into handshake records of at most `size` bytes. */
static void
records(msg_t *out, const msg_t *hs, size_t size)
{
    out->n = 0;
    for (size_t k = 0; k < hs->n; k += size) {
        size_t n = hs->n - k < size ? hs->n - k : size;

        put8(out, 22);
        put16(out, 0x0301);
        put16(out, (unsigned)n);
        put(out, hs->b + k, n);
    }
}

static msg_t hs, wire;

static lb_inspect_t
tls(const msg_t *m)
{
    lb_inspect_t r;

    lb_inspect_tls(m->b, m->n, &r);
    return r;
}

static void
test_tls_sni_found(void)
{
    lb_inspect_t r;

    hello_message(&hs, "a.example.com", 0);
    records(&wire, &hs, 16384);
    r = tls(&wire);
    CU_ASSERT_EQUAL(r.status, LB_INSPECT_FOUND);
    CU_ASSERT_STRING_EQUAL(r.value, "a.example.com");
    hello_message(&hs, "X.B.Example.COM.", 0);
    records(&wire, &hs, 16384);
    r = tls(&wire);
    CU_ASSERT_EQUAL(r.status, LB_INSPECT_FOUND);
    CU_ASSERT_STRING_EQUAL(r.value, "x.b.example.com");
}

/* A byte at a time, as a slow client sends it: every look before the
 * end asks for more than it had, and following `need` takes two looks per
 * record (its header, then the rest) after the first two bytes, not one
 * per byte. */
static void
test_tls_in_pieces(void)
{
    lb_inspect_t r;
    size_t have = 0;
    int looks = 0;

    hello_message(&hs, "a.example.com", 300);
    records(&wire, &hs, 100);
    for (size_t k = 0; k < wire.n; k++) {
        lb_inspect_tls(wire.b, k, &r);
        CU_ASSERT_EQUAL_FATAL(r.status, LB_INSPECT_MORE);
        CU_ASSERT(r.need > k && r.need <= wire.n);
    }
    do {
        lb_inspect_tls(wire.b, have, &r);
        looks++;
        if (r.status == LB_INSPECT_MORE)
            have = r.need;
    } while (r.status == LB_INSPECT_MORE && looks < 100);
    CU_ASSERT_EQUAL(r.status, LB_INSPECT_FOUND);
    CU_ASSERT_STRING_EQUAL(r.value, "a.example.com");
    CU_ASSERT(looks <= 2 * (int)((hs.n + 99) / 100) + 3);
}

static void
test_tls_without_name(void)
{
    msg_t none = {{0}, 0};

    hello_message(&hs, NULL, 10);
    records(&wire, &hs, 16384);
    CU_ASSERT_EQUAL(tls(&wire).status, LB_INSPECT_NONE);
    /* No extensions at all: the vector's length is simply not there. */
    hello_message(&hs, NULL, 0);
    hs.n -= 2;
    hs.b[3] -= 2;
    records(&wire, &hs, 16384);
    CU_ASSERT_EQUAL(tls(&wire).status, LB_INSPECT_NONE);
    put(&none, "GET / HTTP/1.1\r\n\r\n", 18);
    CU_ASSERT_EQUAL(tls(&none).status, LB_INSPECT_OTHER);
    none.n = 0;
    put(&none, "\x16\x02", 2); /* not TLS's major version */
    CU_ASSERT_EQUAL(tls(&none).status, LB_INSPECT_OTHER);
}

/* Every way a hello can lie about a length, and bad names. */
static void
test_tls_malformed(void)
{
    static const char *const bad_names[] = {"a..b", ".a", "a b", "a/b",
                                            "", "\xc3\xa9.fr"};

    hello_message(&hs, "a.example.com", 0);
    records(&wire, &hs, 16384);
    wire.b[5 + 4 + 34] = 200; /* session id longer than the message */
    CU_ASSERT_EQUAL(tls(&wire).status, LB_INSPECT_NONE);
    records(&wire, &hs, 16384);
    wire.b[5] = 2; /* a ServerHello */
    CU_ASSERT_EQUAL(tls(&wire).status, LB_INSPECT_NONE);
    records(&wire, &hs, 16384);
    wire.b[wire.n - 18] = 0xff; /* the name list longer than its extension */
    CU_ASSERT_EQUAL(tls(&wire).status, LB_INSPECT_NONE);
    records(&wire, &hs, 16384);
    wire.b[3] = wire.b[4] = 0; /* an empty record */
    CU_ASSERT_EQUAL(tls(&wire).status, LB_INSPECT_OTHER);
    records(&wire, &hs, 50);
    wire.b[55] = 21; /* the second record is an alert */
    CU_ASSERT_EQUAL(tls(&wire).status, LB_INSPECT_NONE);
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        hello_message(&hs, bad_names[i], 0);
        records(&wire, &hs, 16384);
        CU_ASSERT_EQUAL(tls(&wire).status, LB_INSPECT_NONE);
    }
}

/* A hello longer than one full record is not waited for. */
static void
test_tls_too_long(void)
{
    lb_inspect_t r;

    hello_message(&hs, "a.example.com", 20000);
    records(&wire, &hs, 16384);
    lb_inspect_tls(wire.b, LB_INSPECT_MAX, &r);
    CU_ASSERT_EQUAL(r.status, LB_INSPECT_NONE);
    lb_inspect_tls(wire.b, 1000, &r);
    CU_ASSERT_EQUAL(r.status, LB_INSPECT_MORE);
    CU_ASSERT(r.need <= LB_INSPECT_MAX);
}

/* An X.224 Connection Request with this cookie line (may be ""). */
static void
rdp_request(msg_t *m, const char *cookie, int neg)
{
    size_t n = strlen(cookie) + (neg ? 8 : 0);

    m->n = 0;
    put8(m, 3);
    put8(m, 0);
    put16(m, (unsigned)(11 + n));
    put8(m, (unsigned)(6 + n));
    put8(m, 0xE0);
    put16(m, 0);
    put16(m, 0);
    put8(m, 0);
    put(m, cookie, strlen(cookie));
    if (neg)
        put(m, "\x01\x00\x08\x00\x03\x00\x00\x00", 8);
}

static lb_inspect_t
rdp(const msg_t *m)
{
    lb_inspect_t r;

    lb_inspect_rdp(m->b, m->n, &r);
    return r;
}

static void
test_rdp_cookies(void)
{
    lb_inspect_t r;

    rdp_request(&wire, "Cookie: mstshash=alice\r\n", 1);
    r = rdp(&wire);
    CU_ASSERT_EQUAL(r.status, LB_INSPECT_FOUND);
    CU_ASSERT_EQUAL(r.kind, LB_RDP_MSTSHASH);
    CU_ASSERT_STRING_EQUAL(r.value, "alice");
    rdp_request(&wire, "Cookie: msts=167880896.15629.0000\r\n", 0);
    r = rdp(&wire);
    CU_ASSERT_EQUAL(r.status, LB_INSPECT_FOUND);
    CU_ASSERT_EQUAL(r.kind, LB_RDP_ROUTING_TOKEN);
    CU_ASSERT(memcmp(r.ip, "\xc0\xa8\x01\x0a", 4) == 0); /* 192.168.1.10 */
    CU_ASSERT_EQUAL(r.port, 3389);
    rdp_request(&wire, "", 1);
    CU_ASSERT_EQUAL(rdp(&wire).status, LB_INSPECT_NONE);
}

static void
test_rdp_pieces_and_malformed(void)
{
    lb_inspect_t r;

    rdp_request(&wire, "Cookie: mstshash=alice\r\n", 1);
    for (size_t k = 0; k < wire.n; k++) {
        lb_inspect_rdp(wire.b, k, &r);
        CU_ASSERT_EQUAL_FATAL(r.status, LB_INSPECT_MORE);
        CU_ASSERT(r.need > k && r.need <= wire.n);
    }
    wire.b[4]++; /* the length indicator disagrees with TPKT's */
    CU_ASSERT_EQUAL(rdp(&wire).status, LB_INSPECT_NONE);
    rdp_request(&wire, "Cookie: mstshash=alice", 0); /* no CR LF */
    CU_ASSERT_EQUAL(rdp(&wire).status, LB_INSPECT_NONE);
    rdp_request(&wire, "Cookie: msts=99999999999.1.0\r\n", 0);
    CU_ASSERT_EQUAL(rdp(&wire).status, LB_INSPECT_NONE);
    rdp_request(&wire, "Cookie: msts=1.65536.0\r\n", 0);
    CU_ASSERT_EQUAL(rdp(&wire).status, LB_INSPECT_NONE);
    rdp_request(&wire, "Cookie: mstshash=al\001ce\r\n", 0);
    CU_ASSERT_EQUAL(rdp(&wire).status, LB_INSPECT_NONE);
    rdp_request(&wire, "Cookie: mstshash=alice\r\n", 1);
    wire.b[5] = 0xD0; /* a connection confirm, not a request */
    CU_ASSERT_EQUAL(rdp(&wire).status, LB_INSPECT_NONE);
    wire.n = 0;
    put(&wire, "\x16\x03\x01\x00\x05", 5);
    CU_ASSERT_EQUAL(rdp(&wire).status, LB_INSPECT_OTHER);
    wire.n = 0;
    put(&wire, "\x03\x00\x00\x05", 4); /* shorter than its headers */
    CU_ASSERT_EQUAL(rdp(&wire).status, LB_INSPECT_OTHER);
}

void
lb_test_inspect_register(void)
{
    CU_pSuite s = CU_add_suite("inspect", NULL, NULL);

    CU_add_test(s, "TLS server name", test_tls_sni_found);
    CU_add_test(s, "TLS hello in pieces and records", test_tls_in_pieces);
    CU_add_test(s, "TLS without a name, not TLS", test_tls_without_name);
    CU_add_test(s, "TLS malformed", test_tls_malformed);
    CU_add_test(s, "TLS hello too long", test_tls_too_long);
    CU_add_test(s, "RDP cookies", test_rdp_cookies);
    CU_add_test(s, "RDP in pieces, malformed", test_rdp_pieces_and_malformed);
}
