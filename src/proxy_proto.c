/* proxy_proto.c - PROXY protocol headers (versions 1 and 2): a strict,
 * bounded parser for the one a proxy in front sends, and the builder of
 * the one sent to a backend. Text is parsed by hand, ASCII only, so no
 * locale or platform parser changes what is accepted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_proxy_proto.h"

static const unsigned char v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                         0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static const char v1_sig[6] = {'P', 'R', 'O', 'X', 'Y', ' '};

#define V2_FIXED 16
#define V2_CMD_LOCAL 0x0
#define V2_CMD_PROXY 0x1
#define V2_TCP4 0x11
#define V2_TCP6 0x21
#define V2_LEN_TCP4 12 /* two IPv4 addresses, two ports */
#define V2_LEN_TCP6 36

static int
is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int
is_hex(int c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The first min(len, n) bytes of buf are those of sig. */
static int
starts_like(const unsigned char *buf, size_t len, const void *sig, size_t n)
{
    return memcmp(buf, sig, len < n ? len : n) == 0;
}

/* ---- version 1 ---- */

/* "0".."65535", no sign, no leading zero. */
static int
parse_port(const char *s, uint16_t *out)
{
    unsigned long v = 0;
    size_t n = strlen(s);

    if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
        return -1;
    for (; *s; s++) {
        if (!is_digit((unsigned char)*s))
            return -1;
        v = v * 10 + (unsigned long)(*s - '0');
    }
    if (v > 65535)
        return -1;
    *out = (uint16_t)v;
    return 0;
}

/* Dotted decimal, four parts of 0..255 without leading zeros (which some
 * parsers read as octal). */
static int
parse_ipv4(const char *s, unsigned char ip[4])
{
    for (int i = 0; i < 4; i++) {
        unsigned v = 0;
        int digits = 0;

        if (i > 0 && *s++ != '.')
            return -1;
        for (; is_digit((unsigned char)*s); s++, digits++) {
            if (digits == 3 || (digits == 1 && v == 0))
                return -1;
            v = v * 10 + (unsigned)(*s - '0');
        }
        if (digits == 0 || v > 255)
            return -1;
        ip[i] = (unsigned char)v;
    }
    return *s == '\0' ? 0 : -1;
}

/* An IPv6 literal (hex, ':' and a dotted IPv4 tail, nothing else: no zone,
 * no brackets), checked by the platform's parser. */
static int
parse_ipv6(const char *s, uint16_t port, lb_addr_t *out)
{
    unsigned char ip[16];
    size_t n = strlen(s);

    if (n < 2 || n > 45 || strchr(s, ':') == NULL)
        return -1;
    for (const char *p = s; *p; p++)
        if (!is_hex((unsigned char)*p) && *p != ':' && *p != '.')
            return -1;
    if (lb_addr_from_numeric(s, port, out) != 0 || lb_addr_ip(out, ip) != 16)
        return -1;
    return 0;
}

static int
parse_v1_addr(const char *s, int v6, uint16_t port, lb_addr_t *out)
{
    unsigned char ip[4];

    if (v6)
        return parse_ipv6(s, port, out);
    if (parse_ipv4(s, ip) != 0)
        return -1;
    return lb_addr_from_ip(ip, 4, port, out);
}

/* Splits "A B C D" (single spaces, no empty field) into f[0..3]. */
static int
split4(char *s, char *f[4])
{
    for (int i = 0; i < 4; i++) {
        char *sp = strchr(s, ' ');

        if ((sp == NULL) != (i == 3) || sp == s || *s == '\0')
            return -1;
        f[i] = s;
        if (sp) {
            *sp = '\0';
            s = sp + 1;
        }
    }
    return 0;
}

/* The fields after "PROXY " (CRLF cut off): "TCP4 src dst sport dport",
 * "TCP6 ...", or "UNKNOWN" and anything. */
static long
parse_v1_fields(char *text, lb_pp_header_t *out)
{
    uint16_t sport, dport;
    char *f[4];
    int v6;

    if (strncmp(text, "UNKNOWN", 7) == 0 &&
        (text[7] == '\0' || text[7] == ' '))
        return 0; /* the rest is to be ignored */
    if (strncmp(text, "TCP4 ", 5) != 0 && strncmp(text, "TCP6 ", 5) != 0)
        return LB_PP_EPROTO;
    v6 = text[3] == '6';
    if (split4(text + 5, f) != 0)
        return LB_PP_ESYNTAX;
    if (parse_port(f[2], &sport) != 0 || parse_port(f[3], &dport) != 0)
        return LB_PP_EPORT;
    if (parse_v1_addr(f[0], v6, sport, &out->src) != 0 ||
        parse_v1_addr(f[1], v6, dport, &out->dst) != 0)
        return LB_PP_EADDR;
    out->has_addr = 1;
    return 0;
}

/* Finds the end of the line: the index of its LF, or a result. Printable
 * ASCII only before it, so garbage fails at once rather than after 107
 * bytes or the timeout. */
static long
v1_line_end(const unsigned char *b, size_t len)
{
    size_t n = len < LB_PP_V1_MAX ? len : LB_PP_V1_MAX;

    for (size_t i = 0; i < n; i++) {
        if (b[i] == '\n')
            return i > 0 && b[i - 1] == '\r' ? (long)i : LB_PP_ECRLF;
        if (b[i] == '\r' && i + 1 < n && b[i + 1] != '\n')
            return LB_PP_ECRLF;
        if ((b[i] < 0x20 || b[i] > 0x7e) && b[i] != '\r')
            return LB_PP_ESYNTAX;
    }
    return len >= LB_PP_V1_MAX ? LB_PP_ETOOLONG : LB_PP_NEED_MORE;
}

static long
parse_v1(const unsigned char *b, size_t len, lb_pp_header_t *out)
{
    char text[LB_PP_V1_MAX];
    long lf = v1_line_end(b, len), rc;
    size_t n;

    if (lf <= 0)
        return lf;
    if ((size_t)lf < sizeof(v1_sig) + 1)
        return LB_PP_ESYNTAX;
    n = (size_t)lf - 1 - sizeof(v1_sig); /* between "PROXY " and CRLF */
    memcpy(text, b + sizeof(v1_sig), n);
    text[n] = '\0';
    rc = parse_v1_fields(text, out);
    return rc < 0 ? rc : lf + 1;
}

/* ---- version 2 ---- */

static uint16_t
be16(const unsigned char *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* The addresses of a PROXY command: TCP over IPv4 or IPv6 is used; other
 * families (UNSPEC, UDP, UNIX) leave the real connection's. */
static long
parse_v2_addr(const unsigned char *b, size_t body, lb_pp_header_t *out)
{
    const unsigned char *a = b + V2_FIXED;
    size_t iplen;

    if (b[13] == V2_TCP4)
        iplen = 4;
    else if (b[13] == V2_TCP6)
        iplen = 16;
    else
        return 0;
    if (body < 2 * iplen + 4)
        return LB_PP_ESHORT;
    if (lb_addr_from_ip(a, iplen, be16(a + 2 * iplen), &out->src) != 0 ||
        lb_addr_from_ip(a + iplen, iplen, be16(a + 2 * iplen + 2),
                        &out->dst) != 0)
        return LB_PP_EADDR;
    out->has_addr = 1;
    return 0;
}

static long
parse_v2(const unsigned char *b, size_t len, lb_pp_header_t *out)
{
    size_t body, total;
    long rc;

    if (len < V2_FIXED)
        return LB_PP_NEED_MORE;
    if ((b[12] >> 4) != 2 ||
        ((b[12] & 0xF) != V2_CMD_LOCAL && (b[12] & 0xF) != V2_CMD_PROXY))
        return LB_PP_EVERSION;
    if ((b[13] >> 4) > 3 || (b[13] & 0xF) > 2)
        return LB_PP_EFAMILY;
    body = be16(b + 14);
    total = V2_FIXED + body;
    if (total > LB_PP_V2_MAX)
        return LB_PP_ETOOLONG;
    if (len < total)
        return LB_PP_NEED_MORE;
    /* LOCAL: the proxy's own connection (a health check); TLVs after the
     * addresses are skipped. */
    rc = (b[12] & 0xF) == V2_CMD_PROXY ? parse_v2_addr(b, body, out) : 0;
    return rc < 0 ? rc : (long)total;
}

long
lb_pp_parse(const char *buf, size_t len, lb_pp_header_t *out)
{
    const unsigned char *b = (const unsigned char *)buf;

    memset(out, 0, sizeof(*out));
    if (starts_like(b, len, v2_sig, sizeof(v2_sig)))
        return parse_v2(b, len, out);
    if (starts_like(b, len, v1_sig, sizeof(v1_sig)))
        return parse_v1(b, len, out);
    return LB_PP_ENOTPROXY;
}

const char *
lb_pp_strerror(long err)
{
    static const char *const text[] = {
        "incomplete",
        "not a PROXY protocol header",
        "header too long",
        "v1 line not ended by CRLF",
        "malformed v1 line",
        "v1 protocol is not TCP4, TCP6 or UNKNOWN",
        "bad address",
        "bad port",
        "v2 version or command not supported",
        "v2 address family or transport not valid",
        "v2 address block too short for its family",
        "out of memory",
    };

    if (err > 0 || -err >= (long)(sizeof(text) / sizeof(text[0])))
        return "unknown error";
    return text[-err];
}

long
lb_pp_feed(lb_pp_buf_t *b, const char *buf, size_t n, lb_pp_header_t *out,
           size_t *used)
{
    size_t before = b->len;
    long rc;

    if (b->data == NULL) {
        rc = lb_pp_parse(buf, n, out);
        *used = rc > 0 ? (size_t)rc : 0;
        if (rc != LB_PP_NEED_MORE)
            return rc;
        b->data = malloc(LB_PP_V2_MAX);
        if (b->data == NULL)
            return LB_PP_ENOMEM;
    }
    if (n > LB_PP_V2_MAX - b->len)
        n = LB_PP_V2_MAX - b->len;
    memcpy(b->data + b->len, buf, n);
    b->len += n;
    rc = lb_pp_parse(b->data, b->len, out);
    /* Kept bytes never complete a header: the last parse said so. */
    *used = rc > 0 ? (size_t)rc - before : 0;
    if (rc == LB_PP_NEED_MORE && b->len == LB_PP_V2_MAX)
        return LB_PP_ETOOLONG; /* the parser never lets it come to this */
    return rc;
}

void
lb_pp_buf_free(lb_pp_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
}

/* ---- building ---- */

/* The IP of addr in ip, an IPv4-mapped IPv6 address as IPv4: 4, 16, or 0
 * when addr is neither. */
static size_t
plain_ip(const lb_addr_t *addr, unsigned char ip[16])
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0,
                                             0, 0, 0, 0, 0xFF, 0xFF};
    size_t n = addr->len ? lb_addr_ip(addr, ip) : 0;

    if (n == 16 && memcmp(ip, mapped, sizeof(mapped)) == 0) {
        memmove(ip, ip + 12, 4);
        n = 4;
    }
    return n;
}

/* IPv4 as IPv4-mapped IPv6, for a pair of mixed families. */
static void
map_ipv6(unsigned char ip[16])
{
    memmove(ip + 12, ip, 4);
    memset(ip, 0, 10);
    ip[10] = ip[11] = 0xFF;
}

/* Both addresses in one family: 4 or 16 bytes each; 0 if either is
 * unknown. */
static size_t
ip_pair(const lb_addr_t *src, const lb_addr_t *dst, unsigned char s[16],
        unsigned char d[16])
{
    size_t ns = plain_ip(src, s), nd = plain_ip(dst, d);

    if (ns == 0 || nd == 0)
        return 0;
    if (ns == nd)
        return ns;
    if (ns == 4)
        map_ipv6(s);
    else
        map_ipv6(d);
    return 16;
}

/* The text of an IP: dotted IPv4, or the platform's IPv6 form (RFC 5952,
 * as lb_addr_format writes it, without brackets and port). */
static void
ip_text(const unsigned char *ip, size_t n, char *out, size_t size)
{
    char text[LB_ADDRSTRLEN];
    lb_addr_t a;
    char *end;

    if (n == 4) {
        snprintf(out, size, "%u.%u.%u.%u", ip[0], ip[1], ip[2], ip[3]);
        return;
    }
    (void)lb_addr_from_ip(ip, 16, 0, &a);
    lb_addr_format(&a, text, sizeof(text));
    end = strrchr(text, ']');
    if (text[0] != '[' || end == NULL) {
        snprintf(out, size, "::");
        return;
    }
    *end = '\0';
    snprintf(out, size, "%s", text + 1);
}

static size_t
build_v1(size_t n, const unsigned char *s, const unsigned char *d,
         uint16_t sport, uint16_t dport, char *out)
{
    char st[LB_ADDRSTRLEN], dt[LB_ADDRSTRLEN];
    int len;

    if (n == 0) {
        memcpy(out, "PROXY UNKNOWN\r\n", 15);
        return 15;
    }
    ip_text(s, n, st, sizeof(st));
    ip_text(d, n, dt, sizeof(dt));
    len = snprintf(out, LB_PP_BUILD_MAX, "PROXY TCP%c %s %s %u %u\r\n",
                   n == 4 ? '4' : '6', st, dt, (unsigned)sport,
                   (unsigned)dport);
    return len > 0 && len < LB_PP_BUILD_MAX ? (size_t)len : 0;
}

static void
put16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)(v & 0xFF);
}

static size_t
build_v2(size_t n, const unsigned char *s, const unsigned char *d,
         uint16_t sport, uint16_t dport, char *out)
{
    unsigned char *o = (unsigned char *)out;
    uint16_t body = (uint16_t)(n ? 2 * n + 4 : 0);

    memcpy(o, v2_sig, sizeof(v2_sig));
    o[12] = (unsigned char)(0x20 | (n ? V2_CMD_PROXY : V2_CMD_LOCAL));
    o[13] = (unsigned char)(n == 4 ? V2_TCP4 : n == 16 ? V2_TCP6 : 0x00);
    put16(o + 14, body);
    if (n) {
        memcpy(o + V2_FIXED, s, n);
        memcpy(o + V2_FIXED + n, d, n);
        put16(o + V2_FIXED + 2 * n, sport);
        put16(o + V2_FIXED + 2 * n + 2, dport);
    }
    return V2_FIXED + body;
}

size_t
lb_pp_build(int version, const lb_addr_t *src, const lb_addr_t *dst,
            char *out)
{
    unsigned char s[16], d[16];
    size_t n = ip_pair(src, dst, s, d);
    uint16_t sport = n ? lb_addr_port(src) : 0;
    uint16_t dport = n ? lb_addr_port(dst) : 0;

    if (version == 1)
        return build_v1(n, s, d, sport, dport, out);
    return build_v2(n, s, d, sport, dport, out);
}
