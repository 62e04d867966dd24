/* balancer.c - round robin per listener and the choice of the backend to
 * retry on. */
#include <stdlib.h>

#include "lb_balancer.h"

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
