/* stats.c - the statistics' counters: bumped by every worker process with
 * one atomic add in the shared block (no syscall, no lock), and read back
 * into a snapshot of plain numbers for the renderers. */
#include <stdlib.h>
#include <time.h>

#include "lb_server.h"
#include "lb_version.h"

const char *const lb_stats_refused_names[LB_STATS_NREFUSED] = {
    "allow_deny", "max_conns", "max_conns_per_client",
    "max_conn_rate_per_client", "no_route",
};

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
bcounters(const lb_group_t *g, size_t b)
{
    return &g->sl->srv->shared->bcounters[g->cfg->group][b];
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
lb_stats_connect(const lb_group_t *g, size_t b, int ok)
{
    lb_backend_counters_t *c = bcounters(g, b);

    lb_atomic_add(ok ? &c->connections : &c->failures, 1);
}

void
lb_stats_bytes(const lb_group_t *g, size_t b, int dir, long n)
{
    lb_atomic_add(&bcounters(g, b)->bytes[dir], n);
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

/* Backend b of group g (lb_config_group); its open connections are
 * health.c's per-slot counts, summed. */static void
read_backend(const lb_config_t *cfg, const lb_shared_t *sh, size_t g,
             size_t b, lb_stats_backend_t *out)
{
    const lb_listener_cfg_t *gc = lb_config_group(cfg, g);
    lb_backend_counters_t *c = &sh->bcounters[g][b];
    unsigned np = sh->processes;

    out->name = gc->backends[b].label;
    out->route = g < cfg->nlisteners ? NULL : gc->name;
    out->down = (int)lb_atomic_load(&sh->state[g][b].down);
    read_admin(gc, &sh->state[g][b], b, out);
    out->active = 0;
    for (unsigned s = 0; s < np; s++)
        out->active += lb_atomic_load(&sh->conns[g][b * np + s]);
    out->connections = lb_atomic_load(&c->connections);
    out->failures = lb_atomic_load(&c->failures);
    out->bytes[0] = lb_atomic_load(&c->bytes[0]);
    out->bytes[1] = lb_atomic_load(&c->bytes[1]);
}

/* Listener li's own backends, then its routes': how many. */
static size_t
backends_of(const lb_config_t *cfg, size_t li)
{
    const lb_listener_cfg_t *l = &cfg->listeners[li];
    size_t n = l->nbackends;

    for (size_t r = 0; r < l->nroutes; r++)
        n += cfg->routes[l->first_route + r].nbackends;
    return n;
}

static size_t
read_group(const lb_config_t *cfg, const lb_shared_t *sh, size_t g,
           lb_stats_backend_t *backends, lb_stats_listener_t *out)
{
    size_t n = lb_config_group(cfg, g)->nbackends;

    for (size_t b = 0; b < n; b++) {
        read_backend(cfg, sh, g, b, &backends[b]);
        out->bytes[0] += backends[b].bytes[0];
        out->bytes[1] += backends[b].bytes[1];
    }
    return n;
}

static void
read_listener(const lb_config_t *cfg, const lb_shared_t *sh, size_t li,
              lb_stats_backend_t *backends, lb_stats_listener_t *out)
{
    const lb_listener_cfg_t *l = &cfg->listeners[li];
    lb_listener_counters_t *c = &sh->counters[li];
    size_t at;

    out->name = l->name;
    out->address = l->listen_label;
    out->accepted = lb_atomic_load(&c->accepted);
    for (int r = 0; r < LB_STATS_NREFUSED; r++)
        out->refused[r] = lb_atomic_load(&c->refused[r]);
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
    at = read_group(cfg, sh, li, backends, out);
    for (size_t r = 0; r < l->nroutes; r++)
        at += read_group(cfg, sh, cfg->nlisteners + l->first_route + r,
                         backends + at, out);
    out->backends = backends;
    out->nbackends = at;
}

int
lb_stats_snapshot(const lb_config_t *cfg, const lb_shared_t *sh,
                  lb_stats_snapshot_t *out)
{
    size_t nb = 0, at = 0;
    time_t now = time(NULL);

    for (size_t i = 0; i < cfg->nlisteners; i++)
        nb += backends_of(cfg, i);
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
        at += out->listeners[i].nbackends;
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
