/* persist.c - RDP cookie persistence (persist = rdp_cookie): the backend
 * each mstshash cookie last went to, in a listener's shared table, so
 * every worker sends a user back to the same server. The backend is kept
 * in one word with a tag of the cookie's key, so a reader never takes
 * the entry's previous cookie's backend for this one's. */
#include "lb_tables.h"

#define TAG(key) ((key) >> 32)

typedef struct expiry_s {
    lb_persist_t *p;
    int64_t timeout_ms;
} expiry_t;

static int
expired(const lb_persist_t *p, size_t i, int64_t timeout_ms, uint64_t now)
{
    return (int64_t)now - lb_atomic_load(&p->t.stamps[i]) >= timeout_ms;
}

static int
entry_free(void *ctx, size_t i, uint64_t now)
{
    const expiry_t *e = ctx;

    return expired(e->p, i, e->timeout_ms, now);
}

long
lb_persist_get(lb_persist_t *p, uint64_t key, int64_t timeout_ms,
               uint64_t now)
{
    uint64_t w;
    long i = lb_table_find(&p->t, key);

    if (i < 0 || expired(p, (size_t)i, timeout_ms, now))
        return -1;
    w = (uint64_t)lb_atomic_load(&p->backend[i]);
    if (w >> 32 != TAG(key) || (w & 0xffffffffu) == 0)
        return -1;
    return (long)(w & 0xffffffffu) - 1;
}

void
lb_persist_set(lb_persist_t *p, uint64_t key, size_t backend,
               int64_t timeout_ms, uint64_t now)
{
    expiry_t e = {p, timeout_ms};
    int fresh = 0;
    long i = lb_table_claim(&p->t, key, now, entry_free, &e, &fresh);

    if (i < 0)
        return; /* fought over: the next connection records it */
    lb_atomic_store(&p->backend[i],
                    (int64_t)(TAG(key) << 32 | (uint64_t)(backend + 1)));
    lb_atomic_store(&p->t.stamps[i], (int64_t)now);
}
