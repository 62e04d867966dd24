/* lb_proxy_proto.h - the PROXY protocol of HAProxy's proxy-protocol.txt,
 * versions 1 (text) and 2 (binary): parsing the header a proxy in front of
 * us sends at the start of a connection, and building the one we send to a
 * backend. Pure functions over bytes; no I/O. */
#ifndef LB_PROXY_PROTO_H
#define LB_PROXY_PROTO_H

#include <stddef.h>

#include "lb_platform.h"

#define LB_PP_V1_MAX 107 /* a whole v1 line, CRLF included (the spec's) */
/* A v2 header: 16 fixed bytes and its length field's worth of addresses
 * and TLVs. The spec allows 65535; 520 covers every address family and
 * HAProxy's usual TLVs, and bounds what one unidentified client costs. */
#define LB_PP_V2_MAX (16 + 520)
#define LB_PP_BUILD_MAX 108 /* lb_pp_build() writes at most this */

/* lb_pp_parse() results other than a length. */
enum {
    LB_PP_NEED_MORE = 0,  /* a valid start: read more */
    LB_PP_ENOTPROXY = -1, /* neither signature */
    LB_PP_ETOOLONG = -2,
    LB_PP_ECRLF = -3,     /* v1: a CR or LF not part of the final CRLF */
    LB_PP_ESYNTAX = -4,   /* v1: fields, spaces or characters */
    LB_PP_EPROTO = -5,    /* v1: not TCP4, TCP6 or UNKNOWN */
    LB_PP_EADDR = -6,
    LB_PP_EPORT = -7,
    LB_PP_EVERSION = -8,  /* v2: version or command */
    LB_PP_EFAMILY = -9,   /* v2: address family or transport */
    LB_PP_ESHORT = -10,   /* v2: too few address bytes for the family */
    LB_PP_ENOMEM = -11    /* lb_pp_feed() could not keep the bytes */
};

typedef struct lb_pp_header_s {
    /* 0: PROXY UNKNOWN, the v2 LOCAL command, or a family other than
     * TCP over IPv4/IPv6: the real connection's addresses stand. */
    int has_addr;
    lb_addr_t src, dst;
} lb_pp_header_t;

/* Parses a header at the start of buf[0..len): returns its length (> 0)
 * and fills *out; LB_PP_NEED_MORE when buf could still become one (never
 * once len reaches LB_PP_V2_MAX); or a negative LB_PP_E* code. Bytes after
 * the header are not looked at. */
long lb_pp_parse(const char *buf, size_t len, lb_pp_header_t *out);
/* What a negative lb_pp_parse() result means. */
const char *lb_pp_strerror(long err);

/* A header's bytes on the heap: what came of it so far while it arrives
 * in pieces (a read may be a single byte), or one built to send. data is
 * NULL while there is nothing; lb_pp_buf_free() releases it. */
typedef struct lb_pp_buf_s {
    char *data;
    size_t len;
} lb_pp_buf_t;

/* Parses the n bytes of one more read after those kept in b, keeping
 * them (in LB_PP_V2_MAX bytes allocated on the first need) while more
 * are needed. On success returns the header's length, as lb_pp_parse(),
 * and sets *used to how many of buf's bytes belong to it: the rest are
 * the client's first data. */
long lb_pp_feed(lb_pp_buf_t *b, const char *buf, size_t n,
                lb_pp_header_t *out, size_t *used);
void lb_pp_buf_free(lb_pp_buf_t *b);

/* Writes the version (1 or 2) header for a connection from src to dst
 * into out (LB_PP_BUILD_MAX bytes); returns its length. IPv4-mapped IPv6
 * addresses count as IPv4; a pair of IPv4 is TCP4, any other pair of IP
 * addresses TCP6 (an IPv4 one mapped); an unknown address gives
 * "PROXY UNKNOWN" (v1) or the LOCAL command (v2). */
size_t lb_pp_build(int version, const lb_addr_t *src, const lb_addr_t *dst,
                   char *out);

#endif
