/* lb_tables.h - fixed-size tables in the block every worker process
 * shares (lb_shared_alloc), updated with the lb_atomic_* operations and no
 * lock, so they stay right with several worker processes (POSIX) or loop
 * threads (Windows): per-client connection counts and rates
 * (max_conns_per_client, max_conn_rate_per_client) and RDP cookie
 * persistence (persist = rdp_cookie). Core-internal. */
#ifndef LB_TABLES_H
#define LB_TABLES_H

#include <stddef.h>
#include <stdint.h>

#include "lb_config.h"
#include "lb_platform.h"

/* A key lives in one of the WINDOW entries from its hash's slot on. */
#define LB_TABLE_WINDOW 8

/* Open addressing over shared atomics. keys[i] is a 64-bit hash of what
 * the entry is for (0: never used), taken with a compare-and-swap, so
 * two workers never both believe they own an entry; what else an entry
 * holds carries a tag of its key, so a value left by the entry's last
 * owner is never read as the new owner's. */
typedef struct lb_table_s {
    lb_atomic_t *keys;
    lb_atomic_t *stamps; /* loop ms of the entry's last use */
    size_t size;
} lb_table_t;

/* Says whether entry i holds nothing worth keeping at now. */
typedef int (*lb_table_free_fn)(void *ctx, size_t i, uint64_t now);

/* The entry of key (never 0), or -1. */
long lb_table_find(const lb_table_t *t, uint64_t key);
/* The entry of key, taken if there is none: a free entry of its window,
 * else the least recently used one (whatever it held is forgotten).
 * *fresh = 1 when taken now. -1 only if other workers kept taking the
 * window from under us (the caller then does without). */
long lb_table_claim(const lb_table_t *t, uint64_t key, uint64_t now,
                    lb_table_free_fn is_free, void *ctx, int *fresh);
/* A key for bytes (never 0). */
uint64_t lb_table_key(const void *data, size_t len);

/* ---- per-client limits (clients.c) ---- */

typedef struct lb_clients_s {
    lb_table_t t;
    /* Per entry: the rate limit's "theoretical arrival time" (GCRA, in
     * microseconds of loop time) << 8 | an 8-bit tag of its key. */
    lb_atomic_t *tat;
    /* Per entry and worker slot: connections open, count | tag << 32;
     * a worker that dies leaves its column to its successor to zero. */
    lb_atomic_t *conns;
    unsigned processes;
} lb_clients_t;

/* What a session keeps to give its place back. */
typedef struct lb_client_ref_s {
    uint64_t key;
    size_t entry;
    int counted; /* its connection is in the entry's count */
} lb_client_ref_t;

enum { LB_CLIENT_OK = 0, LB_CLIENT_CONNS = 1, LB_CLIENT_RATE = 2 };

/* Zeroes slot's column (a worker starts). */
void lb_clients_init_slot(lb_clients_t *c, unsigned slot);
/* A new connection from client on l, by worker slot: LB_CLIENT_OK (then
 * lb_clients_leave with ref when it ends), or which limit it is over. A
 * client with no IP address (a UNIX socket) is not limited. */
int lb_clients_admit(lb_clients_t *c, const lb_listener_cfg_t *l,
                     const lb_addr_t *client, unsigned slot, uint64_t now,
                     lb_client_ref_t *ref);
void lb_clients_leave(lb_clients_t *c, const lb_client_ref_t *ref,
                      unsigned slot);
/* How a client is counted: its IPv4 address, or its IPv6 address cut to
 * prefix bits (an IPv4-mapped one as IPv4). 0 when it has no IP. */
uint64_t lb_clients_key(const lb_addr_t *client, int prefix);

/* ---- RDP cookie persistence (persist.c) ---- */

typedef struct lb_persist_s {
    lb_table_t t;
    /* Per entry: the backend's index + 1 | a tag of the key << 32. */
    lb_atomic_t *backend;
} lb_persist_t;

/* A cookie's key: lb_table_key of its bytes. Two cookies with one key
 * (a chance of 2^-64) would share a backend: harmless. */
/* The backend the cookie of key last went to, if within timeout_ms (of
 * its last connection); else -1. */
long lb_persist_get(lb_persist_t *p, uint64_t key, int64_t timeout_ms,
                    uint64_t now);
/* Remembers that the cookie of key went to backend at now. */
void lb_persist_set(lb_persist_t *p, uint64_t key, size_t backend,
                    int64_t timeout_ms, uint64_t now);

#endif
