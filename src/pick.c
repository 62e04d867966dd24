/* pick.c - the balancing algorithms. Each chooses among the candidates of
 * one pass of lb_health_pick(); what they share between worker processes
 * (the round-robin cursor, weighted's current weights, leastconn's
 * connection counts) lives in lb_shared_alloc() memory. */
#include <string.h>

#include "lb_pick.h"

/* One pass: the backends of a tier at a health rank. */
typedef struct pass_s {
    lb_health_t *h;
    uint64_t now;
    int backup, rank;
} pass_t;

static int
candidate(const pass_t *p, size_t i)
{
    return (p->h->cfg->backends[i].backup != 0) == p->backup &&
           lb_health_rank(p->h, i, p->now) == p->rank;
}

static int64_t
weight(const pass_t *p, size_t i)
{
    return p->h->cfg->backends[i].weight;
}

/* Plain rotation. Each skip takes the next turn, so the candidates share
 * the load evenly; with every backend in service this is PumpkinLB 2's
 * exact order. */
static long
pick_roundrobin(const pass_t *p, lb_rr_t *rr)
{
    size_t n = p->h->cfg->nbackends;

    for (size_t tries = 0; tries < n; tries++) {
        size_t i = lb_rr_pick(rr, n);

        if (candidate(p, i))
            return (long)i;
    }
    return -1;
}

/* nginx's smooth weighted round robin: every candidate's current weight
 * grows by its weight, the largest wins and gives back the total, so
 * weights 5,1,1 go a a b a c a a. The current weights are shared by the
 * workers; two picking at the same instant may interleave their updates,
 * which only changes which backend gets one of the two clients: the
 * totals still even out, as nothing is lost. */
static long
pick_weighted(const pass_t *p)
{
    lb_backend_state_t *st = p->h->state;
    int64_t total = 0, best_current = 0;
    long best = -1;

    for (size_t i = 0; i < p->h->cfg->nbackends; i++) {
        int64_t current;

        if (!candidate(p, i))
            continue;
        current = lb_atomic_add(&st[i].current_weight, weight(p, i));
        total += weight(p, i);
        if (best < 0 || current > best_current) {
            best = (long)i;
            best_current = current;
        }
    }
    if (best >= 0)
        lb_atomic_add(&st[best].current_weight, -total);
    return best;
}

/* The fewest open connections (over every worker) for its weight. The
 * scan starts at the round-robin cursor, so backends that tie take turns
 * rather than the first one getting every client. */
static long
pick_leastconn(const pass_t *p, lb_rr_t *rr)
{
    size_t n = p->h->cfg->nbackends, start = lb_rr_pick(rr, n);
    int64_t best_conns = 0, best_weight = 1;
    long best = -1;

    for (size_t k = 0; k < n; k++) {
        size_t i = (start + k) % n;
        int64_t conns;

        if (!candidate(p, i))
            continue;
        conns = lb_health_open_conns(p->h, i);
        /* conns / weight < best_conns / best_weight, in integers */
        if (best < 0 || conns * best_weight < best_conns * weight(p, i)) {
            best = (long)i;
            best_conns = conns;
            best_weight = weight(p, i);
        }
    }
    return best;
}

/* ---- source: rendezvous hashing ---- */

/* MurmurHash3's finalizer: every input bit reaches every output bit. */
static uint64_t
mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* FNV-1a over bytes, then mixed. */
static uint64_t
hash_bytes(const unsigned char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ull;
    }
    return mix(h);
}

uint64_t
lb_pick_key(const char *label)
{
    return hash_bytes((const unsigned char *)label, strlen(label));
}

/* An IPv4 client is the same client whether the listener sees it as
 * a.b.c.d or as ::ffff:a.b.c.d. */
static uint64_t
client_hash(const lb_addr_t *client)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0,
                                             0, 0, 0, 0, 0xff, 0xff};
    unsigned char ip[16];
    int n = client ? lb_addr_ip(client, ip) : 0;

    if (n == 16 && memcmp(ip, mapped, sizeof(mapped)) == 0)
        return hash_bytes(ip + 12, 4);
    return hash_bytes(ip, (size_t)n);
}

/* -ln(u) for u = (x + 0.5) / 2^52, x < 2^52: in (0, 37). Done by hand, as
 * PumpkinLB links no maths library: u = m * 2^-e with m in [1, 2), and
 * ln m = 2 (s + s^3/3 + s^5/5 + ...) with s = (m - 1) / (m + 1) < 1/3,
 * which converges to double precision in about 18 terms. */
static double
neg_log_unit(uint64_t x)
{
    static const double ln2 = 0.69314718055994530942;
    double m = ((double)x + 0.5) / 4503599627370496.0; /* 2^52 */
    double s, s2, term, sum = 0.0;
    int e = 0;

    while (m < 1.0) { /* exact: only the exponent changes */
        m *= 2.0;
        e++;
    }
    s = (m - 1.0) / (m + 1.0);
    s2 = s * s;
    term = s;
    for (int k = 1; term > 1e-20; k += 2) {
        sum += term / k;
        term *= s2;
    }
    return e * ln2 - 2.0 * sum;
}

/* Weighted rendezvous hashing: every (client, backend) pair gets a score
 * from a hash of both, weight / -ln(u); the highest wins, which a backend
 * does for a share of clients proportional to its weight. A backend that
 * comes or goes (or is skipped while out) moves only the clients whose
 * highest score is its own: everyone else's winner is unchanged. */
static long
pick_source(const pass_t *p, const lb_addr_t *client)
{
    const lb_backend_cfg_t *b = p->h->cfg->backends;
    uint64_t c = client_hash(client);
    double best_score = 0.0;
    long best = -1;

    for (size_t i = 0; i < p->h->cfg->nbackends; i++) {
        double score;

        if (!candidate(p, i))
            continue;
        score = (double)b[i].weight / neg_log_unit(mix(c ^ b[i].key) >> 12);
        if (best < 0 || score > best_score) {
            best = (long)i;
            best_score = score;
        }
    }
    return best;
}

long
lb_pick_pass(lb_health_t *h, lb_rr_t *rr, const lb_addr_t *client,
             uint64_t now, int backup, int rank)
{
    pass_t p;

    p.h = h;
    p.now = now;
    p.backup = backup != 0;
    p.rank = rank;
    switch (h->cfg->algorithm) {
    case LB_ALGO_WEIGHTED:
        return pick_weighted(&p);
    case LB_ALGO_LEASTCONN:
        return pick_leastconn(&p, rr);
    case LB_ALGO_SOURCE:
        return pick_source(&p, client);
    default:
        return pick_roundrobin(&p, rr);
    }
}
