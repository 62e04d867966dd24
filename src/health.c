/* health.c - passive and active backend health and max_conns, shared by
 * every worker of a listener through atomics in shared memory. Races
 * between workers only decide which of them logs a transition. What the
 * active checks connect is health_check.c's; how a backend is chosen
 * from what is known here, balance.c's. */
#include <time.h>

#include "lb_health.h"
#include "lb_log.h"

/* Unix time, for the statistics' "last change". */
static int64_t
unix_now(void)
{
    time_t t = time(NULL);

    return t == (time_t)-1 ? 0 : (int64_t)t;
}

static const char *
label(const lb_health_t *h, size_t i)
{
    return h->cfg->backends[i].label;
}

void
lb_health_init(lb_health_t *h, const lb_listener_cfg_t *cfg,
               lb_backend_state_t *state, lb_atomic_t *conns, unsigned slot,
               unsigned processes)
{
    h->cfg = cfg;
    h->state = state;
    h->conns = conns;
    h->slot = slot;
    h->processes = processes ? processes : 1;
    h->last_fallback_log = 0;
    h->nbackup = 0;
    /* A worker that died left its counts behind; its slot starts over. */
    for (size_t i = 0; i < cfg->nbackends; i++) {
        lb_atomic_store(&conns[i * h->processes + slot], 0);
        h->nbackup += (size_t)(cfg->backends[i].backup != 0);
    }
}

int64_t
lb_health_open_conns(lb_health_t *h, size_t i)
{
    int64_t n = 0;

    for (unsigned s = 0; s < h->processes; s++)
        n += lb_atomic_load(&h->conns[i * h->processes + s]);
    return n;
}

void
lb_health_count(lb_health_t *h, size_t i, int delta)
{
    lb_atomic_add(&h->conns[i * h->processes + h->slot], delta);
}

int
lb_health_max_conns(const lb_health_t *h, size_t i)
{
    int64_t set = lb_atomic_load(&h->state[i].max_conns);

    return set > 0 ? (int)(set - 1) : h->cfg->health.max_conns;
}

int
lb_health_admin_ready(const lb_health_t *h, size_t i)
{
    return lb_atomic_load(&h->state[i].admin) == LB_ADMIN_READY;
}

int64_t
lb_health_weight(const lb_health_t *h, size_t i, uint64_t now)
{
    lb_backend_state_t *st = &h->state[i];
    int64_t set = lb_atomic_load(&st->weight);
    int64_t w = (set > 0 ? set : h->cfg->backends[i].weight) *
                (int64_t)LB_WEIGHT_SCALE;
    int64_t ramp = h->cfg->health.slow_start_ms;
    int64_t since = lb_atomic_load(&st->up_since);
    int64_t elapsed = (int64_t)now - since;

    if (ramp <= 0 || since <= 0 || elapsed >= ramp)
        return w;
    /* Another worker's clock may have read a moment later than ours. */
    w = elapsed > 0 ? w * elapsed / ramp : 0;
    return w > 0 ? w : 1;
}

int
lb_health_rank(lb_health_t *h, size_t i, uint64_t now)
{
    lb_backend_state_t *st = &h->state[i];
    int max = lb_health_max_conns(h, i);

    if (!lb_health_admin_ready(h, i))
        return LB_RANK_FULL; /* taken out by the admin: not usable */
    if (max > 0 && lb_health_open_conns(h, i) >= max)
        return LB_RANK_FULL;
    if (lb_atomic_load(&st->down) != LB_UP &&
        (int64_t)now < lb_atomic_load(&st->down_until))
        return LB_RANK_DOWN;
    return LB_RANK_OK;
}

int
lb_health_retry_rank(lb_health_t *h, size_t i, uint64_t now)
{
    int rank = lb_health_rank(h, i, now);

    return rank == LB_RANK_OK && !h->cfg->backends[i].backup
               ? LB_RANK_PRIMARY
               : rank;
}

/* Takes backend i out; the worker that does it logs it. */
static void
take_down(lb_health_t *h, size_t i, int why, int64_t until,
          const char *reason)
{
    lb_backend_state_t *st = &h->state[i];
    int64_t was = lb_atomic_load(&st->down);

    lb_atomic_store(&st->down_until, until);
    if (was != LB_UP || !lb_atomic_cas(&st->down, LB_UP, why))
        return;
    lb_atomic_store(&st->changed, unix_now());
    lb_atomic_store(&st->up_since, 0);
    if (until == LB_DOWN_UNTIL_CHECKED)
        lb_log_error("Backend %s of %s is DOWN: %s; not used until %d "
                     "health checks in a row pass", label(h, i),
                     h->cfg->listen_label, reason, h->cfg->health.rise);
    else
        lb_log_error("Backend %s of %s is DOWN: %s; not used for %.1f s",
                     label(h, i), h->cfg->listen_label, reason,
                     (double)h->cfg->health.fail_timeout_ms / 1000.0);
}

static void
bring_up(lb_health_t *h, size_t i, const char *reason, uint64_t now)
{
    lb_backend_state_t *st = &h->state[i];
    int64_t was = lb_atomic_load(&st->down);

    if (was == LB_UP || !lb_atomic_cas(&st->down, was, LB_UP))
        return;
    lb_atomic_store(&st->fails, 0);
    lb_atomic_store(&st->changed, unix_now());
    /* Slow start ramps from here (0 would mean "not ramping"). */
    lb_atomic_store(&st->up_since, now > 0 ? (int64_t)now : 1);
    lb_log("Backend %s of %s is UP again: %s", label(h, i),
           h->cfg->listen_label, reason);
}

int
lb_health_local_error(int err)
{
    switch (err) {
    case LB_EADDRNOTAVAIL: /* no local port left (Linux's connect) */
    case LB_EADDRINUSE:    /* the same on Windows (bind to port 0) */
    case LB_ENOBUFS:       /* ... or so Windows says it; no buffers */
    case LB_EMFILE:
    case LB_ENOMEM:
    case LB_EAGAIN:
        return 1;
    default:
        return 0;
    }
}

void
lb_health_failed(lb_health_t *h, size_t i, uint64_t now)
{
    const lb_health_cfg_t *hc = &h->cfg->health;
    lb_backend_state_t *st = &h->state[i];
    int64_t window = hc->fail_timeout_ms;
    int64_t start = lb_atomic_load(&st->window_start);
    int64_t fails;
    char reason[96];

    if (hc->max_fails <= 0)
        return;
    if (lb_atomic_load(&st->down) != LB_UP) {
        /* It was given another chance and failed it: out again, quietly. */
        if (lb_atomic_load(&st->down_until) != LB_DOWN_UNTIL_CHECKED)
            lb_atomic_store(&st->down_until, (int64_t)now + window);
        return;
    }
    if ((int64_t)now - start >= window &&
        lb_atomic_cas(&st->window_start, start, (int64_t)now))
        lb_atomic_store(&st->fails, 0);
    fails = lb_atomic_add(&st->fails, 1);
    if (fails < hc->max_fails)
        return;
    snprintf(reason, sizeof(reason), "%lld failed connect(s) within %.1f s",
             (long long)fails, (double)hc->fail_timeout_ms / 1000.0);
    take_down(h, i, LB_DOWN_FAILS,
              hc->check_interval_ms > 0 ? LB_DOWN_UNTIL_CHECKED
                                     : (int64_t)now + window,
              reason);
}

void
lb_health_succeeded(lb_health_t *h, size_t i, uint64_t now)
{
    bring_up(h, i, "a connect succeeded", now);
}

void
lb_health_check_result(lb_health_t *h, size_t i, int ok, int reason,
                       uint64_t ms)
{
    lb_backend_state_t *st = &h->state[i];

    lb_atomic_store(&st->check_result,
                    ok ? LB_CHECKED_PASS : LB_CHECKED_FAIL);
    lb_atomic_store(&st->check_reason, reason);
    lb_atomic_store(&st->check_ms, (int64_t)ms);
    lb_atomic_store(&st->check_time, unix_now());
}

/* check_on_down = shutdown_sessions: every worker cuts the connections
 * it has to backend i (server.c looks at cut_at). */
static void
shut_sessions(lb_health_t *h, size_t i, uint64_t now)
{
    if (h->cfg->health.check.on_down != LB_CHECK_ON_DOWN_SHUTDOWN)
        return;
    lb_atomic_store(&h->state[i].cut_at, (int64_t)now + 1);
    lb_log_error("Backend %s of %s: closing its open connections "
                 "(check_on_down = shutdown_sessions)", label(h, i),
                 h->cfg->listen_label);
}

void
lb_health_checked(lb_health_t *h, size_t i, int ok, lb_check_streak_t *sk,
                  uint64_t now)
{
    const lb_health_cfg_t *hc = &h->cfg->health;
    int down = lb_atomic_load(&h->state[i].down) != LB_UP;
    char reason[96];

    if (down && !sk->seen_down)
        sk->ok = 0; /* passes from before it went down do not count */
    sk->seen_down = down;
    if (ok) {
        sk->ok++;
        sk->failed = 0;
        if (down && sk->ok >= hc->rise) {
            snprintf(reason, sizeof(reason),
                     "%d health checks in a row passed", sk->ok);
            bring_up(h, i, reason, now);
        }
        return;
    }
    sk->failed++;
    sk->ok = 0;
    if (!down && sk->failed >= hc->fall) {
        snprintf(reason, sizeof(reason), "%d health checks in a row failed",
                 sk->failed);
        take_down(h, i, LB_DOWN_CHECKS, LB_DOWN_UNTIL_CHECKED, reason);
        shut_sessions(h, i, now);
    }
}
