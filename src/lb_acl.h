/* lb_acl.h - source address lists (allow, deny) of a listener: rules
 * "ADDRESS[/PREFIX]" parsed when the config is read, and the check each
 * accepted client goes through before anything is spent on it. Addresses
 * are raw bytes in network order (lb_addr_ip()), 4 or 16 of them. */
#ifndef LB_ACL_H
#define LB_ACL_H

#include <stddef.h>

/* Room for "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128" and its NUL. */
#define LB_ACL_STRLEN 48

/* One network: the first bits bits of ip. Bits past them are zero, and
 * an IPv4-mapped IPv6 rule is stored as the IPv4 rule it stands for. */
typedef struct lb_acl_rule_s {
    unsigned char ip[16];
    unsigned char len;  /* 4 (IPv4) or 16 (IPv6) */
    unsigned char bits; /* prefix length, 0 to len * 8 */
} lb_acl_rule_t;

/* A list of rules; all zero is the empty list. */
typedef struct lb_acl_s {
    lb_acl_rule_t *rules;
    size_t n, cap;
} lb_acl_t;

/* What lb_acl_parse() found wrong. */
enum {
    LB_ACL_OK = 0,
    LB_ACL_EEMPTY,    /* nothing to parse */
    LB_ACL_EADDR,     /* not a numeric IPv4 or IPv6 address */
    LB_ACL_EPREFIX,   /* "/PREFIX" is no number from 0 to 32 (IPv4) or
                       * 128 (IPv6); rule->len tells which */
    LB_ACL_EHOSTBITS  /* bits set past the prefix; rule holds the network
                       * with them cleared, to suggest instead */
};

/* What lb_acl_check() decided. */
enum {
    LB_ACL_PASS = 0,
    LB_ACL_DENIED,      /* matches a deny rule */
    LB_ACL_NOT_ALLOWED, /* there is an allow list, and it is not on it */
    LB_ACL_UNKNOWN      /* lists are set but the address is unknown */
};

/* Parses "1.2.3.4", "10.0.0.0/8", "::1", "2001:db8::/32" or
 * "::ffff:10.0.0.0/104" (stored as 10.0.0.0/8) into *rule. Returns
 * LB_ACL_OK or one of the LB_ACL_E* codes. */
int lb_acl_parse(const char *text, lb_acl_rule_t *rule);
/* "10.0.0.0/8" or "2001:db8::/32"; always NUL-terminated. */
void lb_acl_format(const lb_acl_rule_t *rule, char *buf, size_t size);

/* Appends a rule (0, or LB_ENOMEM). */
int lb_acl_add(lb_acl_t *acl, const lb_acl_rule_t *rule);
/* Makes dst a copy of src (0, or LB_ENOMEM with dst empty). */
int lb_acl_copy(lb_acl_t *dst, const lb_acl_t *src);
void lb_acl_free(lb_acl_t *acl);

/* 1 if the len-byte address ip is in one of acl's networks. */
int lb_acl_match(const lb_acl_t *acl, const unsigned char *ip, size_t len);
/* The decision for a client at ip (len 4 or 16; 0 when unknown): refused
 * if it matches deny, or if allow is not empty and it matches none of
 * allow. An IPv4-mapped IPv6 address is checked as its IPv4 address. */
int lb_acl_check(const lb_acl_t *allow, const lb_acl_t *deny,
                 const unsigned char *ip, size_t len);

#endif
