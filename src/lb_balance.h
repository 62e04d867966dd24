/* lb_balance.h - backend selection: the algorithms over the backends in
 * service, the round-robin cursor (shared by the worker processes of one
 * listener) and the retry choice. */
#ifndef LB_BALANCE_H
#define LB_BALANCE_H

#include <stddef.h>
#include <stdint.h>

#include "lb_health.h"
#include "lb_platform.h"

/* The cursor lives in memory shared by every worker of the listener, so
 * the order stays exact whichever process accepts. */
typedef struct lb_rr_s {
    lb_counter_t next;
} lb_rr_t;

size_t lb_rr_pick(lb_rr_t *rr, size_t nbackends);

/* Which backends one client has tried: a bitmap, inline for up to 64. */
typedef struct lb_tried_s {
    uint64_t inline_bits;
    uint64_t *bits; /* NULL while n <= 64 */
    size_t n;
} lb_tried_t;

int lb_tried_init(lb_tried_t *t, size_t n);
void lb_tried_free(lb_tried_t *t);
void lb_tried_mark(lb_tried_t *t, size_t i);
int lb_tried_has(const lb_tried_t *t, size_t i);
size_t lb_tried_count(const lb_tried_t *t);

/* A small PRNG per worker (xorshift64*): the retry choice needs spread,
 * not secrecy, and tests need to seed it. */
typedef struct lb_rng_s {
    uint64_t state;
} lb_rng_t;

void lb_rng_seed(lb_rng_t *r, uint64_t seed);
uint64_t lb_rng_next(lb_rng_t *r);

/* How good a choice backend i is: 0 = not usable, higher is better. */
typedef int (*lb_rank_fn)(void *ctx, size_t i);

/* Next backend for a client whose connect failed, after `attempts`
 * attempts: a random one among the best-ranked of those not tried yet
 * (every one ranks alike when rank is NULL); with one backend, that
 * backend again. Returns -1 once `max_retries` retries were used or no
 * usable backend is left. */
long lb_pick_retry(const lb_tried_t *t, int attempts, int max_retries,
                   lb_rng_t *rng, lb_rank_fn rank, void *ctx);

/* The backend for a new client from client, by the listener's algorithm:
 * one in service and not at max_conns, a backup only when no other
 * backend is; when none is in service, one with room anyway (health may
 * be wrong; the client deserves a try). Returns -1 when every backend is
 * at max_conns. */
long lb_pick_backend(lb_health_t *h, lb_rr_t *rr, const lb_addr_t *client,
                     uint64_t now);

/* A backend's place in source hashing, from its label: the same backend
 * keeps its clients whatever else is added or removed. */
uint64_t lb_pick_key(const char *label);

/* A well-mixed 64-bit hash of n bytes (FNV-1a, then MurmurHash3's
 * finalizer): source hashing, the shared tables' keys. */
uint64_t lb_hash_bytes(const void *data, size_t n);

#endif
