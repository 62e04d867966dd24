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

long
lb_pick_retry(const lb_tried_t *t, int attempts, int max_retries,
              lb_rng_t *rng)
{
    size_t untried, k;

    if (attempts - 1 >= max_retries)
        return -1;
    if (t->n == 1)
        return 0;
    untried = t->n - lb_tried_count(t);
    if (untried == 0)
        return -1;
    /* The k-th untried backend, k uniform: no bias, no rejection loop. */
    k = (size_t)(lb_rng_next(rng) % untried);
    for (size_t i = 0; i < t->n; i++)
        if (!lb_tried_has(t, i) && k-- == 0)
            return (long)i;
    return -1;
}
