/* clients.c - per-client limits over every worker (max_conns_per_client,
 * max_conn_rate_per_client): each client's entry in a listener's shared
 * table holds its open connections, one count per worker slot, and its
 * rate as a GCRA "theoretical arrival time". Every update is one
 * compare-and-swap on one word that carries a tag of the entry's key,
 * so an entry taken over by another client never mixes the two. */
#include <string.h>

#include "lb_tables.h"

/* Words are handled as unsigned (no signed overflow) and stored as the
 * int64 the atomics take. */
#define TAG8(key) ((uint64_t)(key) >> 56)
#define TAG32(key) ((uint64_t)(key) >> 32)
#define COUNT_MASK 0xffffffffull

static uint64_t
load(lb_atomic_t *a)
{
    return (uint64_t)lb_atomic_load(a);
}

static int
swap(lb_atomic_t *a, uint64_t expected, uint64_t desired)
{
    return lb_atomic_cas(a, (int64_t)expected, (int64_t)desired);
}

/* ---- keys ---- */

uint64_t
lb_clients_key(const lb_addr_t *client, int prefix)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0,
                                             0, 0, 0, 0, 0xff, 0xff};
    unsigned char ip[17];
    int n = lb_addr_ip(client, ip + 1);

    if (n == 16 && memcmp(ip + 1, mapped, sizeof(mapped)) == 0) {
        memmove(ip + 1, ip + 13, 4); /* the same client as a.b.c.d */
        n = 4;
    }
    if (n == 0)
        return 0;
    ip[0] = (unsigned char)n; /* 4 and 16 bytes never share a key */
    if (n == 16) {
        for (int bit = prefix; bit < 128; bit++)
            ip[1 + bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
    }
    return lb_table_key(ip, (size_t)n + 1);
}

/* ---- open connections: a column per worker slot ---- */

static lb_atomic_t *
count_word(const lb_clients_t *c, size_t i, unsigned slot)
{
    return &c->conns[i * c->processes + slot];
}

/* The client's connections in entry i, over every worker. */
static int64_t
open_conns(const lb_clients_t *c, size_t i, uint64_t key)
{
    int64_t n = 0;

    for (unsigned s = 0; s < c->processes; s++) {
        uint64_t w = load(count_word(c, i, s));

        if ((w >> 32) == TAG32(key))
            n += (int64_t)(w & COUNT_MASK);
    }
    return n;
}

/* Adds delta to our slot's count for key (a count of another key's is
 * replaced when adding, left alone when taking away). */
static void
add_conn(lb_clients_t *c, size_t i, uint64_t key, unsigned slot, int delta)
{
    lb_atomic_t *a = count_word(c, i, slot);
    uint64_t w;
    int64_t n;

    do {
        w = load(a);
        n = (w >> 32) == TAG32(key) ? (int64_t)(w & COUNT_MASK) : 0;
        if (n + delta < 0)
            return; /* not ours any more: its count went with it */
        n += delta;
    } while (!swap(a, w, TAG32(key) << 32 | (uint64_t)n));
}

void
lb_clients_init_slot(lb_clients_t *c, unsigned slot)
{
    for (size_t i = 0; i < c->t.size; i++)
        lb_atomic_store(count_word(c, i, slot), 0);
}

/* ---- the rate: GCRA ---- */

/* Each connection pushes the client's arrival time T = S / N further; one
 * that would push it more than S past now is refused. So N come at once,
 * then one every S / N (a leaky bucket of N, as nginx's limit_req with
 * burst). Microseconds, so that N up to 10^6 per second stays exact. */
static int
rate_ok(lb_clients_t *c, size_t i, uint64_t key, const lb_rate_t *r,
        uint64_t now_ms)
{
    uint64_t now = now_ms * 1000, period = (uint64_t)r->period_ms * 1000;
    uint64_t step = period / (uint64_t)r->count, w, tat, next;

    do {
        w = load(&c->tat[i]);
        tat = (w & 0xff) == TAG8(key) ? w >> 8 : 0;
        next = (tat > now ? tat : now) + step;
        if (next - now > period)
            return 0;
    } while (!swap(&c->tat[i], w, next << 8 | TAG8(key)));
    return 1;
}

/* ---- admission ---- */

/* An entry no client needs: no connection open and no rate to remember. */
static int
entry_free(void *ctx, size_t i, uint64_t now)
{
    lb_clients_t *c = ctx;
    uint64_t key = load(&c->t.keys[i]), w = load(&c->tat[i]);

    if ((w & 0xff) == TAG8(key) && (w >> 8) > now * 1000)
        return 0;
    return open_conns(c, i, key) == 0;
}

/* A refused connection takes its count back, once. */
static int
refused(lb_clients_t *c, lb_client_ref_t *ref, unsigned slot, int why)
{
    lb_clients_leave(c, ref, slot);
    ref->counted = 0;
    return why;
}

int
lb_clients_admit(lb_clients_t *c, const lb_listener_cfg_t *l,
                 const lb_addr_t *client, unsigned slot, uint64_t now,
                 lb_client_ref_t *ref)
{
    int fresh = 0;
    long i;

    memset(ref, 0, sizeof(*ref));
    ref->key = lb_clients_key(client, l->client_ipv6_prefix);
    if (ref->key == 0)
        return LB_CLIENT_OK;
    i = lb_table_claim(&c->t, ref->key, now, entry_free, c, &fresh);
    if (i < 0)
        return LB_CLIENT_OK; /* the window is fought over: do without */
    ref->entry = (size_t)i;
    lb_atomic_store(&c->t.stamps[i], (int64_t)now);
    if (l->max_conns_per_client > 0) {
        /* Counted first, then checked: two workers admitting the last
         * place at once may both refuse, but never both pass. */
        add_conn(c, ref->entry, ref->key, slot, 1);
        ref->counted = 1;
        if (open_conns(c, ref->entry, ref->key) > l->max_conns_per_client)
            return refused(c, ref, slot, LB_CLIENT_CONNS);
    }
    if (l->client_rate.count > 0 &&
        !rate_ok(c, ref->entry, ref->key, &l->client_rate, now))
        return refused(c, ref, slot, LB_CLIENT_RATE);
    return LB_CLIENT_OK;
}

void
lb_clients_leave(lb_clients_t *c, const lb_client_ref_t *ref, unsigned slot)
{
    if (ref->counted)
        add_conn(c, ref->entry, ref->key, slot, -1);
}
