/* inspect_rdp.c - the cookie of an RDP client's X.224 Connection Request
 * ([MS-RDPBCGR] 2.2.1.1): a TPKT header (version 3, length), the X.224
 * CR TPDU (length indicator, code 0xE0, references, class), then either
 * "Cookie: mstshash=USER\r\n" (the user, to keep on one server) or a
 * routing token "Cookie: msts=IP.PORT.0000\r\n" that an RD Connection
 * Broker gave the client, naming the server it belongs on. */
#include <string.h>

#include "lb_inspect.h"

#define TPKT_VERSION 3
#define TPKT_HEADER 4
#define X224_CR_HEADER 7 /* LI, code, DST-REF, SRC-REF, class */
#define X224_CR 0xE0

static const char mstshash[] = "Cookie: mstshash=";
static const char msts[] = "Cookie: msts=";

/* The cookie's value: from after prefix up to CR LF (exclusive). */
static const unsigned char *
cookie_value(const unsigned char *p, size_t n, const char *prefix,
             size_t *vlen)
{
    size_t plen = strlen(prefix);

    if (n < plen || memcmp(p, prefix, plen) != 0)
        return NULL;
    for (size_t i = plen; i + 1 < n; i++) {
        if (p[i] == '\r' && p[i + 1] == '\n') {
            *vlen = i - plen;
            return p + plen;
        }
    }
    return NULL;
}

/* A decimal number no greater than max, ended by '.'; advances *p. */
static int
decimal(const unsigned char **p, const unsigned char *end, uint32_t max,
        uint32_t *out)
{
    uint64_t v = 0;
    const unsigned char *q = *p;

    if (q == end || *q < '0' || *q > '9')
        return -1;
    for (; q < end && *q >= '0' && *q <= '9'; q++) {
        v = v * 10 + (uint64_t)(*q - '0');
        if (v > max)
            return -1;
    }
    if (q == end || *q != '.')
        return -1;
    *p = q + 1;
    *out = (uint32_t)v;
    return 0;
}

/* "IP.PORT.RESERVED": the IPv4 address as the decimal of its four bytes
 * read little-endian, the port as the decimal of its two bytes swapped
 * (so 192.168.1.10:3389 is 167880896.15629). */
static int
routing_token(const unsigned char *v, size_t n, lb_inspect_t *out)
{
    const unsigned char *end = v + n;
    uint32_t ip, port;

    if (decimal(&v, end, 0xffffffffu, &ip) != 0 ||
        decimal(&v, end, 0xffffu, &port) != 0)
        return -1;
    for (int i = 0; i < 4; i++)
        out->ip[i] = (unsigned char)(ip >> (8 * i));
    out->port = (uint16_t)((port & 0xff) << 8 | port >> 8);
    return 0;
}

/* A cookie is printable ASCII (a user name, or the token); anything else
 * is not a cookie to route on. */
static void
found(lb_inspect_t *out, int kind, const unsigned char *v, size_t n)
{
    if (n > LB_INSPECT_VALUE_MAX)
        n = LB_INSPECT_VALUE_MAX;
    for (size_t i = 0; i < n; i++)
        if (v[i] < 0x20 || v[i] > 0x7e)
            return;
    memcpy(out->value, v, n);
    out->value[n] = '\0';
    out->kind = kind;
    out->status = LB_INSPECT_FOUND;
}

void
lb_inspect_rdp(const unsigned char *data, size_t len, lb_inspect_t *out)
{
    const unsigned char *body, *v;
    size_t tlen, blen, vlen = 0;

    memset(out, 0, sizeof(*out));
    if ((len >= 1 && data[0] != TPKT_VERSION) || (len >= 2 && data[1] != 0)) {
        out->status = LB_INSPECT_OTHER;
        return;
    }
    if (len < TPKT_HEADER) {
        /* The first two bytes can each tell it is not RDP. */
        out->status = LB_INSPECT_MORE;
        out->need = len < 2 ? len + 1 : TPKT_HEADER;
        return;
    }
    tlen = (size_t)data[2] << 8 | data[3];
    if (tlen < TPKT_HEADER + X224_CR_HEADER || tlen > LB_INSPECT_MAX) {
        out->status = LB_INSPECT_OTHER;
        return;
    }
    if (len < tlen) {
        out->status = LB_INSPECT_MORE;
        out->need = tlen;
        return;
    }
    out->status = LB_INSPECT_NONE;
    if (data[4] != tlen - TPKT_HEADER - 1 || (data[5] & 0xF0) != X224_CR)
        return;
    body = data + TPKT_HEADER + X224_CR_HEADER;
    blen = tlen - TPKT_HEADER - X224_CR_HEADER;
    if ((v = cookie_value(body, blen, mstshash, &vlen)) != NULL && vlen > 0)
        found(out, LB_RDP_MSTSHASH, v, vlen);
    else if ((v = cookie_value(body, blen, msts, &vlen)) != NULL &&
             routing_token(v, vlen, out) == 0)
        found(out, LB_RDP_ROUTING_TOKEN, v, vlen);
}
