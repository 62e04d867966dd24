/* balance.c - which backend a client goes to: the balancing algorithms
 * (algorithm = in the config) over the backends health.c says are in
 * service, primaries before backups; the round-robin cursor; and the
 * backend a failed connect is retried on. What the algorithms share
 * between worker processes (the cursor, weighted's current weights,
 * leastconn's connection counts) lives in lb_shared_alloc() memory. */
#include <stdlib.h>
#include <string.h>

#include "lb_balance.h"
#include "lb_log.h"

#define FALLBACK_LOG_MS 1000 /* at most one "all down" line a second */

size_t
lb_rr_pick(lb_rr_t *rr, size_t nbackends)
{
    unsigned long n = lb_counter_next(&rr->next);

    return (size_t)(n % nbackends);
}

int
lb_tried_init(lb_tried_t *t, size_t n)
{
    t->inline_bits = 0;
    t->n = n;
    t->bits = NULL;
    if (n > 64) {
        t->bits = calloc((n + 63) / 64, sizeof(uint64_t));
        if (t->bits == NULL)
            return -1;
    }
    return 0;
}

void
lb_tried_free(lb_tried_t *t)
{
    free(t->bits);
    t->bits = NULL;
}

static uint64_t *
word(const lb_tried_t *t, size_t i)
{
    return t->bits ? &t->bits[i / 64] : (uint64_t *)&t->inline_bits;
}

void
lb_tried_mark(lb_tried_t *t, size_t i)
{
    *word(t, i) |= (uint64_t)1 << (i % 64);
}

int
lb_tried_has(const lb_tried_t *t, size_t i)
{
    return (*word(t, i) >> (i % 64)) & 1;
}

size_t
lb_tried_count(const lb_tried_t *t)
{
    size_t c = 0;

    for (size_t i = 0; i < t->n; i++)
        c += (size_t)lb_tried_has(t, i);
    return c;
}

void
lb_rng_seed(lb_rng_t *r, uint64_t seed)
{
    r->state = seed ? seed : 0x9E3779B97F4A7C15ull;
}

uint64_t
lb_rng_next(lb_rng_t *r)
{
    uint64_t x = r->state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static int
rank_of(const lb_tried_t *t, size_t i, lb_rank_fn rank, void *ctx)
{
    if (lb_tried_has(t, i))
        return 0;
    return rank ? rank(ctx, i) : 1;
}

long
lb_pick_retry(const lb_tried_t *t, int attempts, int max_retries,
              lb_rng_t *rng, lb_rank_fn rank, void *ctx)
{
    size_t count = 0;
    long choice = -1;
    int best = 0;

    if (attempts - 1 >= max_retries)
        return -1;
    if (t->n == 1)
        return rank == NULL || rank(ctx, 0) > 0 ? 0 : -1;
    /* One pass, reservoir-style: each of the best-ranked is kept with
     * equal chance, and a rank read once cannot change under us. */
    for (size_t i = 0; i < t->n; i++) {
        int r = rank_of(t, i, rank, ctx);

        if (r == 0 || r < best)
            continue;
        if (r > best) {
            best = r;
            count = 0;
        }
        if (lb_rng_next(rng) % ++count == 0)
            choice = (long)i;
    }
    return choice;
}

/* ---- the algorithms ---- */

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

/* The admin's weight or the config's, ramped by slow start. */
static int64_t
weight(const pass_t *p, size_t i)
{
    return lb_health_weight(p->h, i, p->now);
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
uint64_t
lb_hash_bytes(const void *data, size_t n)
{
    const unsigned char *s = data;
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
    return lb_hash_bytes(label, strlen(label));
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
        return lb_hash_bytes(ip + 12, 4);
    return lb_hash_bytes(ip, (size_t)n);
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

/* One pass: the candidates are the backends of one tier (backup or not)
 * whose lb_health_rank() is rank; the listener's algorithm chooses among
 * them. -1 when there is none. client is used by source only. */
static long
pick_pass(lb_health_t *h, lb_rr_t *rr, const lb_addr_t *client,
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

/* The passes of a pick, best first: {backup tier, rank wanted}. */
static const int passes[4][2] = {
    {0, LB_RANK_OK}, {1, LB_RANK_OK}, {0, LB_RANK_DOWN}, {1, LB_RANK_DOWN},
};

long
lb_pick_backend(lb_health_t *h, lb_rr_t *rr, const lb_addr_t *client,
               uint64_t now)
{
    size_t n = h->cfg->nbackends;
    long i = -1;
    size_t p;

    for (p = 0; p < 4 && i < 0; p++) {
        size_t tier = passes[p][0] ? h->nbackup : n - h->nbackup;

        /* An empty tier would only cost the round robin a lap. */
        if (tier > 0)
            i = pick_pass(h, rr, client, now, passes[p][0], passes[p][1]);
    }
    if (i >= 0 && passes[p - 1][1] == LB_RANK_DOWN &&
        now - h->last_fallback_log >= FALLBACK_LOG_MS) {
        h->last_fallback_log = now;
        lb_log_error("Every backend of %s is out of service; trying %s "
                     "anyway", h->cfg->listen_label,
                     h->cfg->backends[i].label);
    }
    return i;
}
