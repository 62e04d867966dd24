/* shared.c - lays out the memory every worker process shares: one block,
 * so nothing in it needs freeing on its own and pointers into it stay
 * valid in every forked worker. */
#include <time.h>

#include "lb_server.h"

/* Every part starts on a 16-byte boundary, enough for any of them. */
static size_t
align_up(size_t off)
{
    return (off + 15) / 16 * 16;
}

typedef struct layout_s {
    size_t rr, state_ptrs, conns_ptrs, states, conns, size;
    size_t counters, bcounter_ptrs, bcounters, log_dropped; /* statistics */
} layout_t;

static layout_t
plan(const lb_config_t *cfg, unsigned processes)
{
    size_t nb = 0;
    layout_t l;

    for (size_t i = 0; i < cfg->nlisteners; i++)
        nb += cfg->listeners[i].nbackends;
    l.rr = 0;
    l.state_ptrs = align_up(cfg->nlisteners * sizeof(lb_rr_t));
    l.conns_ptrs = align_up(l.state_ptrs +
                            cfg->nlisteners * sizeof(lb_backend_state_t *));
    l.states = align_up(l.conns_ptrs +
                        cfg->nlisteners * sizeof(lb_atomic_t *));
    l.conns = align_up(l.states + nb * sizeof(lb_backend_state_t));
    l.counters = align_up(l.conns + nb * processes * sizeof(lb_atomic_t));
    l.bcounter_ptrs = align_up(l.counters + cfg->nlisteners *
                               sizeof(lb_listener_counters_t));
    l.bcounters = align_up(l.bcounter_ptrs + cfg->nlisteners *
                           sizeof(lb_backend_counters_t *));
    l.log_dropped = align_up(l.bcounters +
                             nb * sizeof(lb_backend_counters_t));
    l.size = l.log_dropped + sizeof(lb_atomic_t);
    return l;
}

int
lb_shared_create(const lb_config_t *cfg, lb_shared_t *out)
{
    unsigned processes = cfg->processes ? cfg->processes : 1;
    layout_t l = plan(cfg, processes);
    char *base = lb_shared_alloc(l.size);
    lb_backend_state_t *state;
    lb_atomic_t *conns;
    lb_backend_counters_t *bcounters;
    time_t now = time(NULL);

    if (base == NULL)
        return LB_ENOMEM;
    out->block = base;
    out->size = l.size;
    out->processes = processes;
    out->rr = (lb_rr_t *)(void *)(base + l.rr);
    out->state = (lb_backend_state_t **)(void *)(base + l.state_ptrs);
    out->conns = (lb_atomic_t **)(void *)(base + l.conns_ptrs);
    state = (lb_backend_state_t *)(void *)(base + l.states);
    conns = (lb_atomic_t *)(void *)(base + l.conns);
    out->counters = (lb_listener_counters_t *)(void *)(base + l.counters);
    out->bcounters = (lb_backend_counters_t **)(void *)(base +
                                                        l.bcounter_ptrs);
    bcounters = (lb_backend_counters_t *)(void *)(base + l.bcounters);
    out->log_dropped = (lb_atomic_t *)(void *)(base + l.log_dropped);
    out->started = now == (time_t)-1 ? 0 : (int64_t)now;
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        out->state[i] = state;
        out->conns[i] = conns;
        out->bcounters[i] = bcounters;
        state += cfg->listeners[i].nbackends;
        conns += cfg->listeners[i].nbackends * processes;
        bcounters += cfg->listeners[i].nbackends;
    }
    return 0;
}

void
lb_shared_release(lb_shared_t *sh)
{
    lb_shared_free(sh->block, sh->size);
    sh->block = NULL;
}
