/* server.c - a worker: its loop, its listeners, accepting, and the drain
 * when a stop is requested. An in-loop reload's succession of servers is
 * in succession.c. */
#include <stdlib.h>
#include <string.h>

#include "lb_acl.h"
#include "lb_log.h"
#include "server_internal.h"

#define ACCEPT_ERROR_LOG_MS 1000 /* at most one "out of descriptors" a second */
#define REFUSED_LOG_MS 1000      /* at most one "refused" line a second */
#define MAX_FREE_BUFFERS 1024    /* kept for reuse; the rest go back to malloc */
#define FD_RESERVE 64            /* descriptors kept free of connections, */
                                 /* or a quarter of a smaller limit */

void
lb__server_close_listeners(lb_server_t *srv)
{
    for (size_t i = 0; i < srv->nlctx; i++) {
        if (srv->lctx[i].listener) {
            lb_listener_close(srv->lctx[i].listener);
            srv->lctx[i].listener = NULL;
        }
    }
    lb_stats_close_listener(srv);
}

/* What a drain waits for: sessions, active checks' streams and stats
 * connections. */
size_t
lb__server_open_count(const lb_server_t *srv)
{
    return srv->active + srv->check_streams + srv->stats_streams;
}

static void
cut_all(lb_server_t *srv)
{
    lb_session_t *s = srv->sessions;

    if (srv->active)
        lb_log_error("Closing %lu remaining connection(s)",
                     (unsigned long)srv->active);
    /* Aborting never frees at once (close callbacks do), so the list is
     * safe to walk. A reset tells each client its transfer was cut. */
    while (s) {
        lb_session_t *next = lb_session_next(s);
        lb_session_abort(s, 1);
        s = next;
    }
    lb_stats_cut(srv);
}

void
lb__server_apply(lb_server_t *srv, lb_drain_state_t st)
{
    lb_timer_stop(&srv->drain_timer);
    if (st == LB_DRAIN_DRAINING && !srv->drain.unbounded) {
        lb_timer_start(&srv->drain_timer,
                       lb_drain_remaining(&srv->drain, lb_loop_now(srv->loop)));
    } else if (st == LB_DRAIN_CUTTING) {
        cut_all(srv);
    } else if (st == LB_DRAIN_DONE) {
        lb__server_done(srv);
    }
}

static void
on_drain_timer(lb_timer_t *t)
{
    lb_server_t *srv = t->data;

    lb__server_apply(srv, lb_drain_update(&srv->drain,
                                          lb_loop_now(srv->loop),
                                          lb__server_open_count(srv)));
}

/* Pauses the listeners whose limit (their own, or the process-wide one)
 * is reached, and resumes the others: clients beyond a limit wait in the
 * listen backlog instead of costing descriptors. */
static void
apply_limits(lb_server_t *srv)
{
    int full = srv->max_active && srv->active >= srv->max_active;
    uint64_t now = lb_loop_now(srv->loop);

    for (size_t i = 0; i < srv->nlctx; i++) {
        lb_lctx_t *lc = &srv->lctx[i];
        int own = lc->cfg->max_connections > 0 &&
                  lc->active >= (size_t)lc->cfg->max_connections;
        int pause = full || own;

        if (lc->listener == NULL || pause == lc->paused)
            continue;
        lc->paused = pause;
        lb_listener_pause(lc->listener, pause);
        if (pause && now - lc->last_limit_log >= ACCEPT_ERROR_LOG_MS) {
            lc->last_limit_log = now;
            lb_log_error("%s: %s reached (%lu open); new clients wait",
                         lc->cfg->listen_label,
                         own ? "its max_connections" : "max_connections",
                         (unsigned long)(own ? lc->active : srv->active));
        }
    }
}

static void
drain_progress(lb_server_t *srv)
{
    if (srv->drain.state != LB_DRAIN_RUNNING &&
        lb_drain_update(&srv->drain, lb_loop_now(srv->loop),
                        lb__server_open_count(srv)) == LB_DRAIN_DONE)
        lb__server_apply(srv, LB_DRAIN_DONE);
}

void
lb_server_session_ended(lb_server_t *srv, lb_lctx_t *lc)
{
    lc->active--;
    srv->active--;
    lb_stats_active(lc, -1);
    apply_limits(srv);
    drain_progress(srv);
}

void
lb_server_check_closed(lb_server_t *srv)
{
    srv->check_streams--;
    drain_progress(srv);
}

void
lb_server_stats_closed(lb_server_t *srv)
{
    srv->stats_streams--;
    drain_progress(srv);
}

/* Closes the listeners, stops the checks and drains (count 1) or cuts
 * (count 2 and on). */
void
lb__server_stop(lb_server_t *srv, int count)
{
    uint64_t ms = (uint64_t)(srv->cfg->graceful_timeout * 1000.0 + 0.5);
    lb_drain_state_t st;

    lb__server_close_listeners(srv);
    for (size_t i = 0; i < srv->nlctx; i++)
        lb_checks_stop(&srv->lctx[i]);
    st = lb_drain_request(&srv->drain, count, lb_loop_now(srv->loop), ms,
                          lb__server_open_count(srv));
    if (st == LB_DRAIN_DRAINING && srv->drain.unbounded)
        lb_log("Worker %ld: replaced by a reload; its %lu active "
               "connection(s) finish first", lb_getpid(),
               (unsigned long)srv->active);
    else if (st == LB_DRAIN_DRAINING)
        lb_log("Worker %ld: listener closed, waiting up to %.1f s for %lu "
               "active connection(s)", lb_getpid(),
               srv->cfg->graceful_timeout, (unsigned long)srv->active);
    lb__server_apply(srv, st);
}

void
lb__server_on_stop(lb_loop_t *loop, int count, void *data)
{
    lb_server_t *srv = data;
    (void)loop;

    lb__server_stop(srv, count);
    /* Retired servers drain with no deadline; a stop gives them one, and a
     * second cuts them too. */
    for (lb_server_t *r = srv->retired; r && count >= 1; r = r->next_retired)
        lb__server_stop(r, count);
}

/* One line for every client refused since the last: a scan or a flood
 * from a refused network must not flood the log as well. */
static void
report_refused(lb_lctx_t *lc)
{
    lc->refused_log_due = lb_loop_now(lc->srv->loop) + REFUSED_LOG_MS;
    lb_log("%s: refused %lu client(s) by allow/deny (last from %s)",
           lc->cfg->listen_label, lc->refused, lc->last_refused);
    lc->refused = 0;
}

static void
on_refused_timer(lb_timer_t *t)
{
    lb_lctx_t *lc = t->data;

    if (lc->refused > 0)
        report_refused(lc);
}

/* The allow/deny check, before a session, a buffer or a backend is spent
 * on the client. A refused one is reset: it learns at once, and no
 * TIME_WAIT is left here for each attempt. */
static int
refuse(lb_lctx_t *lc, lb_stream_t *s, const lb_addr_t *peer)
{
    unsigned char ip[16];
    int len = lb_addr_ip(peer, ip);
    uint64_t now;

    if (lb_acl_check(&lc->cfg->allow, &lc->cfg->deny, ip, (size_t)len) ==
        LB_ACL_PASS)
        return 0;
    lb_stream_close(s, LB_CLOSE_RESET, NULL);
    lb_stats_refused(lc, LB_STATS_REFUSED_ACL);
    lc->refused++;
    lb_addr_format(peer, lc->last_refused, sizeof(lc->last_refused));
    now = lb_loop_now(lc->srv->loop);
    if (now >= lc->refused_log_due)
        report_refused(lc);
    else if (!lb_timer_active(&lc->refused_timer))
        lb_timer_start(&lc->refused_timer, lc->refused_log_due - now);
    return 1;
}

void
lb__server_on_accept(lb_listener_t *l, lb_stream_t *s,
                     const lb_addr_t *client, int status, void *data)
{
    lb_lctx_t *lc = data;
    uint64_t now = lb_loop_now(lc->srv->loop);
    lb_addr_t peer;
    (void)l;

    if (status < 0) {
        if (now - lc->last_accept_error_log >= ACCEPT_ERROR_LOG_MS) {
            lc->last_accept_error_log = now;
            lb_log_error("Cannot accept on %s: %s; pausing accepts briefly",
                         lc->cfg->listen_label, lb_strerror(status));
        }
        return;
    }
    lb_stats_accepted(lc);
    /* The platform gives the address with the accept where it can (then
     * even a client already gone has one). Asked afterwards, a client
     * already gone has no peer; the session notices by itself, and
     * allow/deny refuse it as unknown. */
    if (client != NULL)
        peer = *client;
    else if (lb_stream_peer(s, &peer) != 0)
        memset(&peer, 0, sizeof(peer));
    if (refuse(lc, s, &peer))
        return;
    lb_session_start(lc, s, &peer);
    apply_limits(lc->srv);
}

/* max_connections, or what the descriptor limit allows: two per
 * connection, and some for logs, pipes and the resolver. */
size_t
lb__server_process_limit(const lb_config_t *cfg)
{
    long fds, reserve;

    if (cfg->max_connections > 0)
        return (size_t)cfg->max_connections;
    fds = lb_raise_fd_limit();
    if (fds <= 0)
        return 0; /* no such limit here (Windows) */
    reserve = fds / 4 < FD_RESERVE ? fds / 4 : FD_RESERVE;
    return fds - reserve >= 2 ? (size_t)(fds - reserve) / 2 : 1;
}

/* What every server of a worker sets up, on its loop and pool. */
void
lb__server_setup(lb_server_t *srv, const lb_config_t *cfg, unsigned slot)
{
    srv->cfg = cfg;
    srv->slot = slot;
    srv->max_active = lb__server_process_limit(cfg);
    lb_loop_on_stop(srv->loop, lb__server_on_stop, srv);
    lb_loop_on_reload(srv->loop, lb__server_on_reload, srv);
    lb_timer_init(srv->loop, &srv->drain_timer, on_drain_timer, srv);
    lb_timer_init(srv->loop, &srv->reap_timer, lb__server_reap, srv);
    lb_rng_seed(&srv->rng, (uint64_t)lb_getpid() * 0x9E3779B97F4A7C15ull ^
                               lb_loop_now(srv->loop));
}

/* The listener previous served that is l, or NULL. */
static lb_lctx_t *
served_by(lb_server_t *previous, const lb_listener_t *l)
{
    for (size_t i = 0; previous && i < previous->nlctx; i++)
        if (previous->lctx[i].listener == l)
            return &previous->lctx[i];
    return NULL;
}

/* Starts listeners idx[0..n), taking over those previous serves. */
int
lb__server_listen(lb_server_t *srv, lb_listener_t **listeners,
                  const lb_shared_t *shared, const size_t *idx, size_t n,
                  lb_server_t *previous)
{
    int stats_rc;

    srv->shared = shared;
    /* The stats listener, if among them, is stats_http.c's; n: the rest. */
    stats_rc = lb_stats_worker_init(srv, listeners, idx, &n, previous);
    if (stats_rc != 0)
        return stats_rc;
    srv->lctx = calloc(n ? n : 1, sizeof(*srv->lctx));
    if (srv->lctx == NULL)
        return LB_ENOMEM;
    srv->nlctx = n;
    for (size_t i = 0; i < n; i++) {
        lb_lctx_t *lc = &srv->lctx[i], *was;
        int rc = 0;

        lc->cfg = &srv->cfg->listeners[idx[i]];
        lc->listener = listeners[idx[i]];
        lc->rr = &shared->rr[idx[i]];
        lc->srv = srv;
        lc->max_retries = lb_config_retries(srv->cfg, lc->cfg->nbackends);
        lb_health_init(&lc->health, lc->cfg, shared->state[idx[i]],
                       shared->conns[idx[i]], srv->slot, shared->processes);
        lb_timer_init(srv->loop, &lc->refused_timer, on_refused_timer, lc);
        was = served_by(previous, lc->listener);
        if (was != NULL) {
            was->listener = NULL; /* ours now, open all along */
            lb_listener_handover(lc->listener, lb__server_on_accept, lc);
        } else {
            rc = lb_listener_start(srv->loop, lc->listener,
                                   lb__server_on_accept, lc);
        }
        if (rc == 0)
            rc = lb_checks_start(lc);
        if (rc != 0 && previous == NULL)
            return rc;
        if (rc != 0) {
            /* Mid-reload there is no going back: serve the others. */
            lb_log_error("Cannot serve %s after the reload: %s",
                         lc->cfg->listen_label, lb_strerror(rc));
            lb_listener_close(lc->listener);
            lc->listener = NULL;
        }
    }
    return 0;
}

int
lb_server_init(lb_server_t *srv, const lb_config_t *cfg,
               lb_listener_t **listeners, const lb_shared_t *shared,
               const size_t *idx, size_t n, unsigned slot)
{
    lb_allocator_t alloc;
    int rc;

    memset(srv, 0, sizeof(*srv));
    srv->pool = malloc(sizeof(*srv->pool));
    if (srv->pool == NULL)
        return LB_ENOMEM;
    lb_bufpool_init(srv->pool, cfg->buffer_size, MAX_FREE_BUFFERS);
    srv->owner = 1;
    alloc = lb_bufpool_allocator(srv->pool);
    rc = lb_loop_new(&srv->loop, &alloc);
    if (rc != 0)
        return rc;
    lb__server_setup(srv, cfg, slot);
    return lb__server_listen(srv, listeners, shared, idx, n, NULL);
}

/* Frees what a server holds apart from the loop and the pool. */
void
lb__server_free_parts(lb_server_t *srv)
{
    for (size_t i = 0; i < srv->nlctx; i++) {
        lb_lctx_t *lc = &srv->lctx[i];

        if (lc->srv == NULL)
            continue; /* init stopped before this one */
        lb_timer_stop(&lc->refused_timer);
        if (lc->refused > 0)
            report_refused(lc); /* the count the timer had yet to log */
    }
    lb__server_close_listeners(srv);
    for (size_t i = 0; i < srv->nlctx; i++)
        free(srv->lctx[i].checks);
    lb_timer_stop(&srv->drain_timer);
    lb_timer_stop(&srv->reap_timer);
    lb_stats_free(srv);
    free(srv->lctx);
    srv->lctx = NULL;
    srv->nlctx = 0;
}

void
lb_server_fini(lb_server_t *srv)
{
    lb__server_reap_all(srv);
    lb__server_free_parts(srv);
    if (srv->owner) {
        lb_loop_free(srv->loop);
        if (srv->pool)
            lb_bufpool_free(srv->pool);
        free(srv->pool);
    }
    srv->loop = NULL;
    srv->pool = NULL;
}

int
lb_server_run(const lb_config_t *cfg, lb_listener_t **listeners,
              const lb_shared_t *shared, const size_t *idx, size_t n,
              unsigned slot, lb_server_reload_fn reload, void *ctx)
{
    lb_server_t *srv = calloc(1, sizeof(*srv)), *current = srv;
    int rc = srv ? lb_server_init(srv, cfg, listeners, shared, idx, n, slot)
                 : LB_ENOMEM;

    if (srv) {
        srv->reload = reload;
        srv->reload_ctx = ctx;
        srv->current = &current;
    }
    if (rc == 0)
        rc = lb_loop_run(srv->loop);
    if (rc != 0)
        lb_log_error("Worker %ld failed: %s", lb_getpid(), lb_strerror(rc));
    if (current) {
        lb_server_fini(current); /* the newest: frees the loop at last */
        free(current);
    }
    return rc == 0 ? LB_EXIT_OK : LB_EXIT_FAILURE;
}
