/* server.c - one server: the listeners it serves on a worker's loop,
 * accepting, connection limits, and its drain when a stop is requested.
 * How servers start, run and succeed one another on a loop (an in-loop
 * reload) is server_reload.c's, which calls in here and never the other
 * way: a drained server says so through srv->on_drained. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_acl.h"
#include "lb_log.h"
#include "server_internal.h"

#define ACCEPT_ERROR_LOG_MS 1000 /* at most one "out of descriptors" a second */
#define FD_RESERVE 64            /* descriptors kept free of connections, */
                                 /* or a quarter of a smaller limit */

static void
close_listeners(lb_server_t *srv)
{
    for (size_t i = 0; i < srv->nserved; i++) {
        if (srv->served[i].listener) {
            lb_listener_detach(srv->loop, srv->served[i].listener);
            srv->served[i].listener = NULL;
        }
    }
    lb_stats_close_listener(srv);
}

/* What a drain waits for: sessions, active checks' streams and stats
 * connections. */
static size_t
open_count(const lb_server_t *srv)
{
    return srv->active + srv->check_streams + srv->stats_streams;
}

static void
cut_all(lb_server_t *srv)
{
    if (srv->active)
        lb_log_error("Closing %lu remaining connection(s)",
                     (unsigned long)srv->active);
    /* A reset tells each client its transfer was cut. */
    lb_session_abort_all(srv, 1);
    lb_stats_cut(srv);
}

static void
apply(lb_server_t *srv, lb_drain_state_t st)
{
    lb_timer_stop(&srv->drain_timer);
    if (st == LB_DRAIN_DRAINING && !srv->drain.unbounded) {
        lb_timer_start(&srv->drain_timer,
                       lb_drain_remaining(&srv->drain, lb_loop_now(srv->loop)));
    } else if (st == LB_DRAIN_CUTTING) {
        cut_all(srv);
    } else if (st == LB_DRAIN_DONE) {
        srv->on_drained(srv);
    }
}

static void
on_drain_timer(lb_timer_t *t)
{
    lb_server_t *srv = t->data;

    apply(srv, lb_drain_update(&srv->drain,
                                          lb_loop_now(srv->loop),
                                          open_count(srv)));
}

/* This worker's part of a process-wide limit n: all of it where each
 * worker is a process; where the workers are loops of one process, an
 * even share (rounded up), as clients go to the least busy loop. */
static size_t
share_of(const lb_server_t *srv, size_t n)
{
    unsigned loops = srv->cfg->processes;

    if (n == 0 || loops <= 1 || !lb_workers_share_process())
        return n;
    return (n + loops - 1) / loops;
}

/* Pauses the listeners whose limit (their own, or the process-wide one)
 * is reached, and resumes the others: clients beyond a limit wait in the
 * listen backlog instead of costing descriptors. */
static void
apply_limits(lb_server_t *srv)
{
    int full = srv->max_active && srv->active >= srv->max_active;
    uint64_t now = lb_loop_now(srv->loop);

    for (size_t i = 0; i < srv->nserved; i++) {
        lb_served_listener_t *sl = &srv->served[i];
        size_t max = share_of(srv, sl->cfg->max_connections > 0
                                       ? (size_t)sl->cfg->max_connections
                                       : 0);
        int own = max > 0 && sl->active >= max;
        int pause = full || own;

        if (sl->listener == NULL || pause == sl->paused)
            continue;
        sl->paused = pause;
        lb_listener_pause(srv->loop, sl->listener, pause);
        if (pause && now - sl->last_limit_log >= ACCEPT_ERROR_LOG_MS) {
            sl->last_limit_log = now;
            lb_log_error("%s: %s reached (%lu open); new clients wait",
                         sl->cfg->listen_label,
                         own ? "its max_connections" : "max_connections",
                         (unsigned long)(own ? sl->active : srv->active));
        }
    }
}

static void
drain_progress(lb_server_t *srv)
{
    if (srv->drain.state != LB_DRAIN_RUNNING &&
        lb_drain_update(&srv->drain, lb_loop_now(srv->loop),
                        open_count(srv)) == LB_DRAIN_DONE)
        apply(srv, LB_DRAIN_DONE);
}

void
lb_server_session_ended(lb_server_t *srv, lb_served_listener_t *sl)
{
    sl->active--;
    srv->active--;
    lb_stats_active(sl, -1);
    lb_queue_kick(sl); /* its slot may be a waiting client's */
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

/* What a stop's drain waits for, in the log. Loops of one process share
 * its pid: the slot tells them apart. */
static void
log_drain(const lb_server_t *srv, lb_drain_state_t st)
{
    char name[48];

    if (lb_workers_share_process())
        snprintf(name, sizeof(name), "%ld loop %u", lb_getpid(), srv->slot);
    else
        snprintf(name, sizeof(name), "%ld", lb_getpid());
    if (st == LB_DRAIN_DRAINING && srv->drain.unbounded)
        lb_log("Worker %s: replaced by a reload; its %lu active "
               "connection(s) finish first", name,
               (unsigned long)srv->active);
    else if (st == LB_DRAIN_DRAINING)
        lb_log("Worker %s: listener closed, waiting up to %.1f s for %lu "
               "active connection(s)", name,
               (double)srv->cfg->graceful_timeout_ms / 1000.0,
               (unsigned long)srv->active);
}

/* Closes the listeners, stops the checks and drains or cuts. */
void
lb__server_stop(lb_server_t *srv, lb_stop_reason_t why)
{
    uint64_t ms = (uint64_t)srv->cfg->graceful_timeout_ms;
    lb_drain_state_t st;

    close_listeners(srv);
    for (size_t i = 0; i < srv->nserved; i++)
        for (size_t g = 0; g < srv->served[i].ngroups; g++)
            lb_checks_stop(&srv->served[i].groups[g]);
    st = lb_drain_request(&srv->drain, why, lb_loop_now(srv->loop), ms,
                          open_count(srv));
    log_drain(srv, st);
    apply(srv, st);
}

/* One line for every client refused since the last: a scan or a flood
 * from a refused network must not flood the log as well. */
static void
report_refused(lb_lograte_t *r)
{
    lb_served_listener_t *sl = r->data;

    lb_log("%s: refused %lu client(s) by allow/deny (last from %s)",
           sl->cfg->listen_label, r->held, r->who);
}

static void
report_refused_client(lb_lograte_t *r)
{
    lb_served_listener_t *sl = r->data;

    lb_log("%s: refused %lu client(s) over per-client limits (last from "
           "%s: %s)", sl->cfg->listen_label, r->held, r->who, r->what);
}

void
lb_server_refused_client(lb_served_listener_t *sl, const lb_addr_t *client,
                         const char *why)
{
    lb_lograte_t *r = &sl->refused_client_log;

    lb_addr_format(client, r->who, sizeof(r->who));
    snprintf(r->what, sizeof(r->what), "%s", why);
    lb_lograte_event(r);
}

/* The allow/deny check, before a session, a buffer or a backend is spent
 * on the client. A refused one is reset: it learns at once, and no
 * TIME_WAIT is left here for each attempt. */
static int
refuse(lb_served_listener_t *sl, lb_stream_t *s, const lb_addr_t *peer)
{
    unsigned char ip[16];
    int len = lb_addr_ip(peer, ip);

    if (lb_acl_check(&sl->cfg->allow, &sl->cfg->deny, ip, (size_t)len) ==
        LB_ACL_PASS)
        return 0;
    lb_stream_close(s, LB_CLOSE_RESET, NULL);
    lb_stats_refused(sl, LB_STATS_REFUSED_ACL);
    lb_addr_format(peer, sl->refused_log.who, sizeof(sl->refused_log.who));
    lb_lograte_event(&sl->refused_log);
    return 1;
}

static void
on_accept(lb_listener_t *l, lb_stream_t *s, const lb_addr_t *client,
          int status, void *data)
{
    lb_served_listener_t *sl = data;
    uint64_t now = lb_loop_now(sl->srv->loop);
    lb_addr_t peer;
    (void)l;

    if (status < 0) {
        if (now - sl->last_accept_error_log >= ACCEPT_ERROR_LOG_MS) {
            sl->last_accept_error_log = now;
            lb_log_error("Cannot accept on %s: %s; pausing accepts briefly",
                         sl->cfg->listen_label, lb_strerror(status));
        }
        return;
    }
    lb_stats_accepted(sl);
    /* The platform gives the address with the accept where it can (then
     * even a client already gone has one). Asked afterwards, a client
     * already gone has no peer; the session notices by itself, and
     * allow/deny refuse it as unknown. */
    if (client != NULL)
        peer = *client;
    else if (lb_stream_peer(s, &peer) != 0)
        memset(&peer, 0, sizeof(peer));
    if (refuse(sl, s, &peer))
        return;
    lb_session_start(sl, s, &peer);
    apply_limits(sl->srv);
}

/* Where memory bounds connections (Windows: lb_memory_bound), at most
 * 1/MEMORY_SHARE of it for their worst case: a peer that stops reading
 * leaves each of the two sockets a full receive window (64 KiB by
 * default) in the kernel, plus a buffer in flight each way, held both in
 * the kernel and here. Never counted past what the non-paged pool can be
 * (128 GiB on x64), never below MEMORY_CONNS_MIN. */
#define MEMORY_SHARE 8
#define KERNEL_PER_CONN (2 * 64 * 1024)
#define MEMORY_COUNTED ((uint64_t)128 << 30)
#define MEMORY_CONNS_MIN 1000

static size_t
memory_limit(uint64_t memory, size_t buffer_size)
{
    uint64_t per_conn = KERNEL_PER_CONN + 4 * (uint64_t)buffer_size;
    uint64_t n;

    if (memory > MEMORY_COUNTED)
        memory = MEMORY_COUNTED;
    n = memory / MEMORY_SHARE / per_conn;
    return n < MEMORY_CONNS_MIN ? MEMORY_CONNS_MIN : (size_t)n;
}

size_t
lb_server_conn_limit(const lb_config_t *cfg, char *what, size_t len)
{
    long fds = lb_raise_fd_limit(), reserve;
    uint64_t memory;
    size_t n;

    if (len > 0)
        what[0] = '\0';
    if (fds > 0) {
        /* Two descriptors per connection, and some for logs, pipes and
         * the resolver. */
        snprintf(what, len, ", up to %ld open files", fds);
        if (cfg->max_connections > 0)
            return (size_t)cfg->max_connections;
        reserve = fds / 4 < FD_RESERVE ? fds / 4 : FD_RESERVE;
        return fds - reserve >= 2 ? (size_t)(fds - reserve) / 2 : 1;
    }
    if (cfg->max_connections > 0)
        return (size_t)cfg->max_connections;
    memory = lb_memory_bound();
    if (memory == 0)
        return 0;
    n = memory_limit(memory, cfg->buffer_size);
    snprintf(what, len, ", max_connections not set: at most %zu "
             "connections, for 1/%d of %llu MiB of memory", n, MEMORY_SHARE,
             (unsigned long long)(memory >> 20));
    return n;
}

/* What every server of a worker sets up, on its loop and pool; on_drained
 * runs once its drain is over. */
void
lb__server_setup(lb_server_t *srv, const lb_config_t *cfg, unsigned slot,
                 void (*on_drained)(lb_server_t *srv))
{
    srv->cfg = cfg;
    srv->slot = slot;
    srv->on_drained = on_drained;
    lb_list_init(&srv->sessions);
    srv->max_active = share_of(srv, lb_server_conn_limit(cfg, NULL, 0));
    lb_timer_init(srv->loop, &srv->drain_timer, on_drain_timer, srv);
    lb_cut_init(srv);
    lb_rng_seed(&srv->rng, (uint64_t)lb_getpid() * 0x9E3779B97F4A7C15ull ^
                               lb_loop_now(srv->loop) ^
                               (uint64_t)slot << 40); /* loops share a pid */
}

/* The listener previous served that is l, or NULL. */
static lb_served_listener_t *
served_by(lb_server_t *previous, const lb_listener_t *l)
{
    for (size_t i = 0; previous && i < previous->nserved; i++)
        if (previous->served[i].listener == l)
            return &previous->served[i];
    return NULL;
}

static void
group_setup(lb_server_t *srv, lb_served_listener_t *sl, lb_group_t *g,
            const lb_listener_cfg_t *gc)
{
    const lb_shared_t *shared = srv->shared;

    g->cfg = gc;
    g->sl = sl;
    g->rr = &shared->rr[gc->group];
    g->max_retries = lb_config_retries(srv->cfg, gc->nbackends);
    lb_health_init(&g->health, gc, shared->state[gc->group],
                   shared->conns[gc->group], srv->slot, shared->processes);
    lb_queue_init_group(g);
}

/* Listener li of the config, as sl: its groups (own backends, routes)
 * and its shared tables. */
static int
serve_setup(lb_server_t *srv, lb_served_listener_t *sl, size_t li)
{
    const lb_config_t *cfg = srv->cfg;
    const lb_listener_cfg_t *l = &cfg->listeners[li];

    sl->cfg = l;
    sl->srv = srv;
    lb_queue_init(sl);
    lb_lograte_init(&sl->refused_log, srv->loop, report_refused, sl);
    lb_lograte_init(&sl->refused_client_log, srv->loop,
                    report_refused_client, sl);
    lb_session_lograte_init(sl);
    sl->groups = calloc(1 + l->nroutes, sizeof(*sl->groups));
    if (sl->groups == NULL)
        return LB_ENOMEM;
    sl->ngroups = 1 + l->nroutes;
    group_setup(srv, sl, &sl->groups[0], l);
    for (size_t r = 0; r < l->nroutes; r++)
        group_setup(srv, sl, &sl->groups[1 + r],
                    &cfg->routes[l->first_route + r]);
    if (srv->shared->clients[li].t.size > 0) {
        sl->clients = &srv->shared->clients[li];
        lb_clients_init_slot(sl->clients, srv->slot);
    }
    if (srv->shared->persist[li].t.size > 0)
        sl->persist = &srv->shared->persist[li];
    return 0;
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
    srv->served = calloc(n ? n : 1, sizeof(*srv->served));
    if (srv->served == NULL)
        return LB_ENOMEM;
    srv->nserved = n;
    for (size_t i = 0; i < n; i++) {
        lb_served_listener_t *sl = &srv->served[i], *was;
        int rc = 0;

        sl->listener = listeners[idx[i]];
        rc = serve_setup(srv, sl, idx[i]);
        was = rc == 0 ? served_by(previous, sl->listener) : NULL;
        if (was != NULL) {
            was->listener = NULL; /* ours now, open all along */
            lb_listener_handover(srv->loop, sl->listener, on_accept, sl);
        } else if (rc == 0) {
            rc = lb_listener_start(srv->loop, sl->listener,
                                   on_accept, sl);
        }
        for (size_t g = 0; g < sl->ngroups && rc == 0; g++)
            rc = lb_checks_start(&sl->groups[g]);
        if (rc != 0 && previous == NULL)
            return rc;
        if (rc != 0) {
            /* Mid-reload there is no going back: serve the others. */
            lb_log_error("Cannot serve %s after the reload: %s",
                         sl->cfg->listen_label, lb_strerror(rc));
            lb_listener_detach(srv->loop, sl->listener);
            sl->listener = NULL;
        }
    }
    return lb_cut_start(srv);
}

/* Frees what a server holds apart from the loop and the pool. */
void
lb__server_free_parts(lb_server_t *srv)
{
    for (size_t i = 0; i < srv->nserved; i++) {
        lb_served_listener_t *sl = &srv->served[i];

        if (sl->srv == NULL)
            continue; /* init stopped before this one */
        /* The counts their timers had yet to log. */
        lb_timer_stop(&sl->queue_timer);
        lb_lograte_stop(&sl->refused_log);
        lb_lograte_stop(&sl->refused_client_log);
        lb_lograte_stop(&sl->retry_log);
        lb_lograte_stop(&sl->failed_log);
    }
    close_listeners(srv);
    lb_cut_free(srv); /* before the groups go */
    for (size_t i = 0; i < srv->nserved; i++) {
        lb_served_listener_t *sl = &srv->served[i];

        for (size_t g = 0; g < sl->ngroups; g++)
            lb_checks_free(&sl->groups[g]);
        free(sl->groups);
    }
    lb_timer_stop(&srv->drain_timer);
    lb_stats_free(srv);
    free(srv->served);
    srv->served = NULL;
    srv->nserved = 0;
}
