/* acl.c - allow and deny lists of source addresses: parsing "ADDRESS" or
 * "ADDRESS/PREFIX" once at load, and the check run on every accepted
 * client. A list is scanned in order; lists are expected to be short. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_acl.h"
#include "lb_platform.h"

#define V4_LEN 4
#define V6_LEN 16
/* ::ffff:0:0/96 holds the IPv4-mapped addresses a dual-stack socket
 * reports for IPv4 clients. */
#define MAPPED_LEN 12
#define MAPPED_BITS (MAPPED_LEN * 8)
#define MAX_PREFIX_DIGITS 3

static const unsigned char mapped_prefix[MAPPED_LEN] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static int
is_mapped(const unsigned char *ip, size_t len)
{
    return len == V6_LEN && memcmp(ip, mapped_prefix, MAPPED_LEN) == 0;
}

/* The mask of byte i of a bits-long prefix. */
static unsigned char
byte_mask(size_t i, unsigned bits)
{
    unsigned keep;

    if (bits >= (i + 1) * 8)
        return 0xff;
    if (bits <= i * 8)
        return 0;
    keep = bits - (unsigned)(i * 8);
    return (unsigned char)(0xff << (8 - keep));
}

/* Clears the bits of ip past the prefix; 1 if any was set. */
static int
clear_host_bits(unsigned char *ip, size_t len, unsigned bits)
{
    int had = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char mask = byte_mask(i, bits);

        had |= (ip[i] & (unsigned char)~mask) != 0;
        ip[i] &= mask;
    }
    return had;
}

/* Decimal digits only, so "/+8", "/ 8" and "/0x8" are refused; a long
 * run saturates above any valid length instead of overflowing. */
static int
parse_bits(const char *s, unsigned *out)
{
    unsigned v = 0;
    size_t n = 0;

    for (; *s; s++, n++) {
        if (*s < '0' || *s > '9')
            return -1;
        if (n < MAX_PREFIX_DIGITS)
            v = v * 10 + (unsigned)(*s - '0');
        else
            v = 1000;
    }
    if (n == 0)
        return -1;
    *out = v;
    return 0;
}

/* The address part, parsed by the platform's numeric parser (no name
 * lookups); leaves rule->len 0 when it is not an address. */
static int
parse_host(const char *text, size_t n, lb_acl_rule_t *rule)
{
    char host[LB_ACL_STRLEN];
    lb_addr_t addr;
    int len;

    if (n >= sizeof(host))
        return LB_ACL_EADDR; /* longer than any numeric address */
    memcpy(host, text, n);
    host[n] = '\0';
    if (lb_addr_from_numeric(host, 0, &addr) != 0)
        return LB_ACL_EADDR;
    len = lb_addr_ip(&addr, rule->ip);
    if (len != V4_LEN && len != V6_LEN)
        return LB_ACL_EADDR;
    rule->len = (unsigned char)len;
    return LB_ACL_OK;
}

int
lb_acl_parse(const char *text, lb_acl_rule_t *rule)
{
    const char *slash = strchr(text, '/');
    size_t hostlen = slash ? (size_t)(slash - text) : strlen(text);
    unsigned bits;
    int rc;

    memset(rule, 0, sizeof(*rule));
    if (*text == '\0')
        return LB_ACL_EEMPTY;
    rc = parse_host(text, hostlen, rule);
    if (rc != LB_ACL_OK)
        return rc;
    bits = rule->len * 8u;
    if (slash != NULL && (parse_bits(slash + 1, &bits) != 0 ||
                          bits > rule->len * 8u))
        return LB_ACL_EPREFIX;
    if (is_mapped(rule->ip, rule->len) && bits >= MAPPED_BITS) {
        /* Clients are matched as IPv4 when mapped, so the rule is too. */
        memmove(rule->ip, rule->ip + MAPPED_LEN, V4_LEN);
        memset(rule->ip + V4_LEN, 0, V6_LEN - V4_LEN);
        rule->len = V4_LEN;
        bits -= MAPPED_BITS;
    }
    rule->bits = (unsigned char)bits;
    if (clear_host_bits(rule->ip, rule->len, bits))
        return LB_ACL_EHOSTBITS;
    return LB_ACL_OK;
}

/* The longest run (two or more) of zero groups, written "::" (RFC
 * 5952: the first of equal runs). *start is -1 when there is none. */
static void
zero_run(const unsigned g[8], int *start, int *len)
{
    int i = 0;

    *start = -1;
    *len = 1;
    while (i < 8) {
        int j = i;

        while (j < 8 && g[j] == 0)
            j++;
        if (j - i > *len) {
            *start = i;
            *len = j - i;
        }
        i = j > i ? j : i + 1;
    }
}

static void
format_v6(const unsigned char *ip, char *buf, size_t size)
{
    unsigned g[8];
    int start, run;
    size_t n = 0;

    for (int i = 0; i < 8; i++)
        g[i] = (unsigned)ip[2 * i] << 8 | ip[2 * i + 1];
    zero_run(g, &start, &run);
    buf[0] = '\0';
    for (int i = 0; i < 8 && n < size; i++) {
        int w;

        if (i == start) {
            w = snprintf(buf + n, size - n, "::");
            i += run - 1;
        } else {
            w = snprintf(buf + n, size - n, "%s%x",
                         i > 0 && i != start + run ? ":" : "", g[i]);
        }
        if (w < 0)
            return;
        n += (size_t)w;
    }
}

void
lb_acl_format(const lb_acl_rule_t *rule, char *buf, size_t size)
{
    char host[LB_ACL_STRLEN];
    const unsigned char *ip = rule->ip;

    if (size == 0)
        return;
    if (rule->len == V4_LEN)
        snprintf(host, sizeof(host), "%u.%u.%u.%u", ip[0], ip[1], ip[2],
                 ip[3]);
    else
        format_v6(ip, host, sizeof(host));
    snprintf(buf, size, "%s/%u", host, (unsigned)rule->bits);
}

int
lb_acl_add(lb_acl_t *acl, const lb_acl_rule_t *rule)
{
    if (acl->n == acl->cap) {
        size_t cap = acl->cap ? acl->cap * 2 : 8;
        lb_acl_rule_t *rules;

        if (cap > SIZE_MAX / sizeof(*rules))
            return LB_ENOMEM;
        rules = realloc(acl->rules, cap * sizeof(*rules));
        if (rules == NULL)
            return LB_ENOMEM;
        acl->rules = rules;
        acl->cap = cap;
    }
    acl->rules[acl->n++] = *rule;
    return 0;
}

int
lb_acl_copy(lb_acl_t *dst, const lb_acl_t *src)
{
    memset(dst, 0, sizeof(*dst));
    if (src->n == 0)
        return 0;
    dst->rules = malloc(src->n * sizeof(*dst->rules));
    if (dst->rules == NULL)
        return LB_ENOMEM;
    memcpy(dst->rules, src->rules, src->n * sizeof(*dst->rules));
    dst->n = dst->cap = src->n;
    return 0;
}

void
lb_acl_free(lb_acl_t *acl)
{
    free(acl->rules);
    memset(acl, 0, sizeof(*acl));
}

/* Whether the first bits bits of a and b are equal. */
static int
prefix_equal(const unsigned char *a, const unsigned char *b, unsigned bits)
{
    size_t whole = bits / 8;
    unsigned char mask;

    if (memcmp(a, b, whole) != 0)
        return 0;
    if (bits % 8 == 0)
        return 1;
    mask = byte_mask(whole, bits);
    return (a[whole] & mask) == (b[whole] & mask);
}

int
lb_acl_match(const lb_acl_t *acl, const unsigned char *ip, size_t len)
{
    for (size_t i = 0; i < acl->n; i++) {
        const lb_acl_rule_t *r = &acl->rules[i];

        if (r->len == len && prefix_equal(r->ip, ip, r->bits))
            return 1;
    }
    return 0;
}

int
lb_acl_check(const lb_acl_t *allow, const lb_acl_t *deny,
             const unsigned char *ip, size_t len)
{
    if (allow->n == 0 && deny->n == 0)
        return LB_ACL_PASS;
    if (len != V4_LEN && len != V6_LEN)
        return LB_ACL_UNKNOWN; /* cannot show it is not denied: refuse */
    if (is_mapped(ip, len)) {
        ip += MAPPED_LEN;
        len = V4_LEN;
    }
    if (lb_acl_match(deny, ip, len))
        return LB_ACL_DENIED;
    if (allow->n > 0 && !lb_acl_match(allow, ip, len))
        return LB_ACL_NOT_ALLOWED;
    return LB_ACL_PASS;
}
