/* lb_inspect.h - what a client says first, read without answering it: the
 * server name of a TLS ClientHello (SNI, for TLS passthrough routing) and
 * the cookie of an RDP X.224 Connection Request (persistence). Both look
 * at the bytes as they came so far and say whether more are needed; the
 * caller relays every byte it read, unchanged, once it has chosen. */
#ifndef LB_INSPECT_H
#define LB_INSPECT_H

#include <stddef.h>
#include <stdint.h>

/* The most a client's first bytes are read for: one TLS record of 16 KiB
 * and its header; a longer hello is not inspected further (treated as
 * having no name). */
#define LB_INSPECT_MAX (16384 + 5)

typedef enum {
    LB_INSPECT_MORE = 0, /* not enough bytes yet: call again with `need` */
    LB_INSPECT_FOUND,    /* a name or cookie: in `value` */
    LB_INSPECT_NONE,     /* the right protocol, but nothing to route on */
    LB_INSPECT_OTHER     /* not this protocol at all */
} lb_inspect_status_t;

/* Longest DNS name (RFC 1035), and an RDP cookie cut to the same size. */
#define LB_INSPECT_VALUE_MAX 255

typedef struct lb_inspect_s {
    lb_inspect_status_t status;
    /* LB_INSPECT_MORE: the total bytes (from the first) that must be there
     * before another look can say more (a look at fewer says the same);
     * never more than LB_INSPECT_MAX. */
    size_t need;
    /* LB_INSPECT_FOUND: NUL-terminated. A TLS server name is lower-cased,
     * without a trailing dot; an RDP cookie is as sent. */
    char value[LB_INSPECT_VALUE_MAX + 1];
    /* RDP only: which cookie (LB_RDP_*), and for LB_RDP_ROUTING_TOKEN the
     * IPv4 address (network byte order) and port it names. */
    int kind;
    unsigned char ip[4];
    uint16_t port;
} lb_inspect_t;

/* A TLS ClientHello's server_name (host_name), from data[0..len): the
 * handshake may come in several records and in pieces. A name that is not
 * a valid host name is LB_INSPECT_NONE. */
void lb_inspect_tls(const unsigned char *data, size_t len, lb_inspect_t *out);

enum {
    LB_RDP_NONE = 0,
    LB_RDP_MSTSHASH,      /* "Cookie: mstshash=USER": a user to stick to */
    LB_RDP_ROUTING_TOKEN  /* "Cookie: msts=IP.PORT.0000": from an RD
                           * Connection Broker, the server to go to */
};

/* An RDP X.224 Connection Request's cookie, from data[0..len) (TPKT and
 * X.224 headers, then the cookie line up to CR LF). */
void lb_inspect_rdp(const unsigned char *data, size_t len, lb_inspect_t *out);

#endif
