/* shared.c - lays out the memory every worker process shares: one block,
 * so nothing in it needs freeing on its own and pointers into it stay
 * valid in every forked worker. Per backend group (a listener's own
 * backends, each route's) a cursor, health, connection counts,
 * counters and its queue's oldest tickets; per listener its counters
 * and, where used, its client and persistence tables; the count of log
 * lines dropped. */
#include <time.h>

#include "lb_server.h"

/* Hands out parts of the block in order, each on a 16-byte boundary
 * (enough for any of them). A first pass with no base only adds up. */
typedef struct carve_s {
    char *base;
    size_t off;
} carve_t;

static void *
take(carve_t *c, size_t n)
{
    size_t at = (c->off + 15) / 16 * 16;

    c->off = at + n;
    return c->base != NULL ? c->base + at : NULL;
}

#define TAKE(c, n, type) ((type *)take((c), (n) * sizeof(type)))

static void
place_groups(carve_t *c, const lb_config_t *cfg, unsigned processes,
             lb_shared_t *out)
{
    size_t ng = lb_config_ngroups(cfg);

    out->rr = TAKE(c, ng, lb_rr_t);
    out->state = TAKE(c, ng, lb_backend_state_t *);
    out->conns = TAKE(c, ng, lb_atomic_t *);
    out->bcounters = TAKE(c, ng, lb_backend_counters_t *);
    out->queue_head = TAKE(c, ng, lb_atomic_t *);
    for (size_t g = 0; g < ng; g++) {
        size_t nb = lb_config_group(cfg, g)->nbackends;
        lb_backend_state_t *state = TAKE(c, nb, lb_backend_state_t);
        lb_atomic_t *conns = TAKE(c, nb * processes, lb_atomic_t);
        lb_backend_counters_t *bc = TAKE(c, nb, lb_backend_counters_t);
        lb_atomic_t *head = TAKE(c, processes, lb_atomic_t);

        if (c->base == NULL)
            continue;
        out->state[g] = state;
        out->conns[g] = conns;
        out->bcounters[g] = bc;
        out->queue_head[g] = head;
    }
}

/* An empty table has size 0. */
static void
place_table(carve_t *c, lb_table_t *t, size_t size)
{
    lb_atomic_t *keys = TAKE(c, size, lb_atomic_t);
    lb_atomic_t *stamps = TAKE(c, size, lb_atomic_t);

    if (c->base == NULL)
        return;
    t->keys = keys;
    t->stamps = stamps;
    t->size = size;
}

static int
limits_clients(const lb_listener_cfg_t *l)
{
    return l->max_conns_per_client > 0 || l->client_rate.count > 0;
}

static void
place_tables(carve_t *c, const lb_config_t *cfg, unsigned processes,
             lb_shared_t *out)
{
    out->clients = TAKE(c, cfg->nlisteners, lb_clients_t);
    out->persist = TAKE(c, cfg->nlisteners, lb_persist_t);
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        const lb_listener_cfg_t *l = &cfg->listeners[i];
        size_t nc = limits_clients(l) ? cfg->client_table_size : 0;
        size_t np = l->persist != LB_PERSIST_NONE ? cfg->persist_table_size
                                                  : 0;
        lb_clients_t *cl = c->base ? &out->clients[i] : NULL;
        lb_persist_t *pe = c->base ? &out->persist[i] : NULL;
        lb_table_t none;
        lb_atomic_t *tat, *conns, *backend;

        place_table(c, cl ? &cl->t : &none, nc);
        tat = TAKE(c, nc, lb_atomic_t);
        conns = TAKE(c, nc * processes, lb_atomic_t);
        place_table(c, pe ? &pe->t : &none, np);
        backend = TAKE(c, np, lb_atomic_t);
        if (c->base == NULL)
            continue;
        cl->tat = tat;
        cl->conns = conns;
        cl->processes = processes;
        pe->backend = backend;
    }
}

static void
place(carve_t *c, const lb_config_t *cfg, unsigned processes,
      lb_shared_t *out)
{
    place_groups(c, cfg, processes, out);
    out->counters = TAKE(c, cfg->nlisteners, lb_listener_counters_t);
    out->log_dropped = TAKE(c, 1, lb_atomic_t);
    place_tables(c, cfg, processes, out);
}

int
lb_shared_create(const lb_config_t *cfg, lb_shared_t *out)
{
    unsigned processes = cfg->processes ? cfg->processes : 1;
    carve_t c = {NULL, 0};
    time_t now = time(NULL);
    lb_shared_t sizing;

    place(&c, cfg, processes, &sizing);
    c.base = lb_shared_alloc(c.off);
    if (c.base == NULL)
        return LB_ENOMEM;
    out->block = c.base;
    out->size = c.off;
    out->processes = processes;
    c.off = 0;
    place(&c, cfg, processes, out);
    out->started = now == (time_t)-1 ? 0 : (int64_t)now;
    return 0;
}

void
lb_shared_release(lb_shared_t *sh)
{
    lb_shared_free(sh->block, sh->size);
    sh->block = NULL;
}
