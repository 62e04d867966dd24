/* stats.c - the statistics' counters: bumped by every worker process with
 * one atomic add in the shared block (no syscall, no lock), and read back
 * into a snapshot of plain numbers for the renderers. */
#include <stdlib.h>
#include <time.h>

#include "lb_server.h"
#include "lb_version.h"

/* The listener's index in the config: where its counters are. */
static size_t
index_of(const lb_served_listener_t *sl)
{
    return (size_t)(sl->cfg - sl->srv->cfg->listeners);
}

static lb_listener_counters_t *
counters(const lb_served_listener_t *sl)
{
    return &sl->srv->shared->counters[index_of(sl)];
}

static lb_backend_counters_t *
bcounters(const lb_served_listener_t *sl, size_t b)
{
    return &sl->srv->shared->bcounters[index_of(sl)][b];
}

void
lb_stats_accepted(lb_served_listener_t *sl)
{
    lb_atomic_add(&counters(sl)->accepted, 1);
}

void
lb_stats_refused(lb_served_listener_t *sl, int why)
{
    lb_atomic_add(&counters(sl)->refused[why], 1);
}

void
lb_stats_active(lb_served_listener_t *sl, int delta)
{
    lb_atomic_add(&counters(sl)->active[sl->srv->slot], delta);
}

void
lb_stats_failed(lb_served_listener_t *sl)
{
    lb_atomic_add(&counters(sl)->failed, 1);
}

void
lb_stats_connect(lb_served_listener_t *sl, size_t b, int ok)
{
    lb_backend_counters_t *c = bcounters(sl, b);

    lb_atomic_add(ok ? &c->connections : &c->failures, 1);
}

void
lb_stats_bytes(lb_served_listener_t *sl, size_t b, int dir, long n)
{
    lb_atomic_add(&bcounters(sl, b)->bytes[dir], n);
}

/* ---- snapshot ---- */

/* What the admin API and the active checks say of a backend. */
static void
read_admin(const lb_listener_cfg_t *l, lb_backend_state_t *st, size_t b,
           lb_stats_backend_t *out)
{
    int64_t weight = lb_atomic_load(&st->weight);
    int64_t max = lb_atomic_load(&st->max_conns);

    out->admin = (int)lb_atomic_load(&st->admin);
    out->weight = weight > 0 ? weight : l->backends[b].weight;
    out->max_conns = max > 0 ? max - 1 : l->health.max_conns;
    out->checked = (int)lb_atomic_load(&st->check_result);
    out->check_reason = (int)lb_atomic_load(&st->check_reason);
    out->check_ms = lb_atomic_load(&st->check_ms);
    out->check_time = lb_atomic_load(&st->check_time);
    out->changed = lb_atomic_load(&st->changed);
}

/* Backend b of listener li; its open connections are health.c's per-slot
 * counts, summed. */
static void
read_backend(const lb_config_t *cfg, const lb_shared_t *sh, size_t li,
             size_t b, lb_stats_backend_t *out)
{
    lb_backend_counters_t *c = &sh->bcounters[li][b];
    unsigned np = sh->processes;

    out->name = cfg->listeners[li].backends[b].label;
    out->down = (int)lb_atomic_load(&sh->state[li][b].down);
    read_admin(&cfg->listeners[li], &sh->state[li][b], b, out);
    out->active = 0;
    for (unsigned s = 0; s < np; s++)
        out->active += lb_atomic_load(&sh->conns[li][b * np + s]);
    out->connections = lb_atomic_load(&c->connections);
    out->failures = lb_atomic_load(&c->failures);
    out->bytes[0] = lb_atomic_load(&c->bytes[0]);
    out->bytes[1] = lb_atomic_load(&c->bytes[1]);
}

static void
read_listener(const lb_config_t *cfg, const lb_shared_t *sh, size_t li,
              lb_stats_backend_t *backends, lb_stats_listener_t *out)
{
    const lb_listener_cfg_t *l = &cfg->listeners[li];
    lb_listener_counters_t *c = &sh->counters[li];

    out->name = l->name;
    out->address = l->listen_label;
    out->accepted = lb_atomic_load(&c->accepted);
    out->refused[0] = lb_atomic_load(&c->refused[0]);
    out->refused[1] = lb_atomic_load(&c->refused[1]);
    out->failed = lb_atomic_load(&c->failed);
    out->active = out->queued = 0;
    for (unsigned s = 0; s < sh->processes && s < LB_MAX_PROCESSES; s++) {
        out->active += lb_atomic_load(&c->active[s]);
        out->queued += lb_atomic_load(&c->queued[s]);
    }
    out->checks = l->health.check_interval_ms > 0;
    out->dequeued = lb_atomic_load(&c->dequeued);
    out->wait_ms = lb_atomic_load(&c->wait_ms);
    out->queue_timeouts = lb_atomic_load(&c->queue_timeouts);
    out->queue_left = lb_atomic_load(&c->queue_left);
    out->bytes[0] = out->bytes[1] = 0;
    for (size_t b = 0; b < l->nbackends; b++) {
        read_backend(cfg, sh, li, b, &backends[b]);
        out->bytes[0] += backends[b].bytes[0];
        out->bytes[1] += backends[b].bytes[1];
    }
    out->backends = backends;
    out->nbackends = l->nbackends;
}

int
lb_stats_snapshot(const lb_config_t *cfg, const lb_shared_t *sh,
                  lb_stats_snapshot_t *out)
{
    size_t nb = 0, at = 0;
    time_t now = time(NULL);

    for (size_t i = 0; i < cfg->nlisteners; i++)
        nb += cfg->listeners[i].nbackends;
    out->version = LB_VERSION;
    out->started = sh->started;
    out->now = now == (time_t)-1 ? sh->started : (int64_t)now;
    out->log_dropped = lb_atomic_load(sh->log_dropped);
    out->nlisteners = cfg->nlisteners;
    out->listeners = calloc(cfg->nlisteners + 1, sizeof(*out->listeners));
    out->all_backends = calloc(nb + 1, sizeof(*out->all_backends));
    if (out->listeners == NULL || out->all_backends == NULL) {
        lb_stats_snapshot_free(out);
        return LB_ENOMEM;
    }
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        read_listener(cfg, sh, i, out->all_backends + at, &out->listeners[i]);
        at += cfg->listeners[i].nbackends;
    }
    return 0;
}

void
lb_stats_snapshot_free(lb_stats_snapshot_t *s)
{
    free(s->listeners);
    free(s->all_backends);
    s->listeners = NULL;
    s->all_backends = NULL;
    s->nlisteners = 0;
}
