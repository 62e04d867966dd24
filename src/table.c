/* table.c - the shared tables' entries (lb_tables.h): a key's place, taken
 * with one compare-and-swap, in a window of LB_TABLE_WINDOW entries; when
 * the window is full, its least recently used entry goes. No lock: a
 * worker (process or thread) that stops anywhere leaves nothing held. */
#include "lb_balance.h" /* lb_hash_bytes */
#include "lb_tables.h"

/* Retries when other workers take the entries we chose meanwhile: each
 * failed attempt means someone else made progress. */
#define CLAIM_ATTEMPTS 4

uint64_t
lb_table_key(const void *data, size_t len)
{
    uint64_t k = lb_hash_bytes(data, len);

    return k ? k : 1; /* 0 marks an entry never used */
}

static size_t
at(const lb_table_t *t, uint64_t key, size_t k)
{
    return (size_t)((key + k) % t->size);
}

static size_t
window(const lb_table_t *t)
{
    return t->size < LB_TABLE_WINDOW ? t->size : LB_TABLE_WINDOW;
}

long
lb_table_find(const lb_table_t *t, uint64_t key)
{
    for (size_t k = 0; k < window(t); k++) {
        size_t i = at(t, key, k);

        if ((uint64_t)lb_atomic_load(&t->keys[i]) == key)
            return (long)i;
    }
    return -1;
}

/* Where key may go: the first free entry of its window, else the one
 * used longest ago. */
static size_t
victim(const lb_table_t *t, uint64_t key, uint64_t now,
       lb_table_free_fn is_free, void *ctx)
{
    size_t oldest = at(t, key, 0);
    int64_t oldest_stamp = INT64_MAX;

    for (size_t k = 0; k < window(t); k++) {
        size_t i = at(t, key, k);
        int64_t stamp;

        if (lb_atomic_load(&t->keys[i]) == 0 || is_free(ctx, i, now))
            return i;
        stamp = lb_atomic_load(&t->stamps[i]);
        if (stamp < oldest_stamp) {
            oldest = i;
            oldest_stamp = stamp;
        }
    }
    return oldest;
}

long
lb_table_claim(const lb_table_t *t, uint64_t key, uint64_t now,
               lb_table_free_fn is_free, void *ctx, int *fresh)
{
    *fresh = 0;
    for (int attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
        long found = lb_table_find(t, key);
        size_t i;
        int64_t old;

        if (found >= 0)
            return found;
        i = victim(t, key, now, is_free, ctx);
        old = lb_atomic_load(&t->keys[i]);
        if (!lb_atomic_cas(&t->keys[i], old, (int64_t)key))
            continue; /* another worker took it first: look again */
        lb_atomic_store(&t->stamps[i], (int64_t)now);
        /* Two workers meeting a new key at once may each take an entry
         * for it; both keep the first in window order and the other is
         * given back, so they agree on one. */
        found = lb_table_find(t, key);
        if (found >= 0 && (size_t)found != i) {
            (void)lb_atomic_cas(&t->keys[i], (int64_t)key, 0);
            return found;
        }
        *fresh = 1;
        return (long)i;
    }
    return -1;
}
