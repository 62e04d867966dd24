/* session.c - one client connection: pick a backend, connect with a
 * timeout, retry elsewhere on failure, then relay both directions with at
 * most one buffer each, passing half-closes and resets on, and log the
 * connection as it ends. The PROXY protocol steps are in session_proxy.c,
 * the reading of a client's first bytes (routes, persist) in
 * session_inspect.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_log.h"
#include "session_internal.h"

static const char *const end_names[] = {
    [END_NONE] = "closed", /* never logged: every end records a cause */
    [END_CLOSED] = "closed",
    [END_CLIENT_RESET] = "client_reset",
    [END_BACKEND_RESET] = "backend_reset",
    [END_IDLE] = "idle_timeout",
    [END_HALF_CLOSE] = "half_close_timeout",
    [END_CONNECT_FAILED] = "connect_failed",
    [END_REFUSED] = "refused",
    [END_SHUTDOWN] = "shutdown",
    [END_PROXY] = "proxy_error",
    [END_ERROR] = "error",
    [END_NO_ROUTE] = "no_route",
    [END_MAINT] = "maint",
    [END_BACKEND_DOWN] = "backend_down",
    [END_QUEUE_TIMEOUT] = "queue_timeout",
    [END_QUEUE_LEFT] = "queue_left",
};

static void keepalive(lb_session_t *sess, lb_stream_t *s);
static void arm_idle(lb_session_t *sess);
static void on_splice(lb_stream_t *src, long nmoved, int at_sink);

static const lb_backend_cfg_t *
backend_cfg(const lb_session_t *sess)
{
    return &sess->group->cfg->backends[sess->backend_idx];
}

/* The backend's max_conns count no longer includes this connection. */
static void
uncount(lb_session_t *sess)
{
    if (sess->counted)
        lb_health_count(&sess->group->health, sess->backend_idx, -1);
    sess->counted = 0;
}

/* The route= field: its route's name, or "-" for the listener's own
 * backends or none. */
static const char *
route_name(const lb_session_t *sess)
{
    return sess->group != NULL && sess->group != &sess->sl->groups[0]
               ? sess->group->cfg->name
               : "-";
}

/* One line as the connection ends, key=value in a fixed order, no value
 * with a space (labels are addresses): easy to grep and to split. */
static void
log_connection(const lb_session_t *sess)
{
    const lb_listener_cfg_t *l = sess->sl->cfg;
    uint64_t now = lb_loop_now(server(sess)->loop);
    char client[LB_ADDRSTRLEN], connect_ms[16] = "-";

    if (!l->log_connections || sess->quiet)
        return;
    if (sess->client_addr.len > 0)
        client_label(sess, client, sizeof(client));
    else
        snprintf(client, sizeof(client), "-");
    if (sess->connected)
        snprintf(connect_ms, sizeof(connect_ms), "%lu",
                 (unsigned long)sess->connect_ms);
    lb_log("Connection client=%s listener=%s route=%s backend=%s "
           "to_backend=%llu to_client=%llu connect_ms=%s duration_ms=%llu "
           "retries=%d end=%s",
           client, l->listen_label, route_name(sess),
           sess->connected ? backend_cfg(sess)->label : "-",
           (unsigned long long)sess->bytes[TO_BACKEND],
           (unsigned long long)sess->bytes[TO_CLIENT], connect_ms,
           (unsigned long long)(now - sess->started),
           sess->attempts > 1 ? sess->attempts - 1 : 0,
           end_names[sess->end]);
}

/* ---- lifetime ---- */

static void
free_session(lb_session_t *sess)
{
    lb_server_t *srv = server(sess);
    lb_served_listener_t *sl = sess->sl;

    /* Both streams are closed: no buffer is with the platform any more. */
    for (int d = TO_BACKEND; d <= TO_CLIENT; d++)
        if (sess->buf[d])
            lb_bufpool_put(srv->pool, sess->buf[d]);
    lb_list_remove(&sess->link);
    uncount(sess);
    if (sess->opt != NULL && sl->clients != NULL)
        lb_clients_leave(sl->clients, &sess->opt->client_ref, srv->slot);
    lb_tried_free(&sess->tried);
    lb_pp_buf_free(&sess->pp);
    if (sess->opt != NULL)
        free(sess->opt->ibuf);
    free(sess->opt);
    free(sess);
    lb_server_session_ended(srv, sl);
}

static void
on_stream_closed(lb_stream_t *s)
{
    lb_session_t *sess = lb_stream_data(s);

    if (--sess->open_streams == 0 && sess->closing)
        free_session(sess);
}

static void
close_stream(lb_stream_t **sp, int how)
{
    if (*sp == NULL)
        return;
    lb_stream_close(*sp, how, on_stream_closed);
    *sp = NULL;
}

/* Closes both streams: the client with how_client, the backend with
 * how_backend. The client stream is open until its close callback, so
 * the session is freed there, never under a caller's feet. */
static void
close_both(lb_session_t *sess, int how_client, int how_backend)
{
    if (sess->closing)
        return;
    sess->closing = 1;
    lb__session_unqueue(sess);
    log_connection(sess);
    lb_timer_stop(&sess->timer);
    if (sess->resolve) {
        lb_resolve_cancel(sess->resolve);
        sess->resolve = NULL;
    }
    close_stream(&sess->client, how_client);
    close_stream(&sess->backend, how_backend);
}

static void
set_end(lb_session_t *sess, int reason)
{
    if (sess->end == END_NONE)
        sess->end = (unsigned char)reason;
}

/* Ends the session now for reason (unless an earlier cause is on
 * record); reset = the peers see a reset. */
void
lb__session_end(lb_session_t *sess, int reason, int reset)
{
    int how;

    set_end(sess, reason);
    sess->reset |= (unsigned char)(reset != 0);
    how = sess->reset ? LB_CLOSE_RESET : LB_CLOSE_NORMAL;
    close_both(sess, how, how);
}

/* From outside the sessions: the server cuts them all (drain deadline,
 * second stop). */
void
lb_session_abort_all(lb_server_t *srv, int reset)
{
    lb_list_t *head = &srv->sessions;

    /* Aborting never frees at once (close callbacks do), so the list is
     * safe to walk. */
    for (lb_list_t *n = head->next; n != head; n = n->next)
        lb__session_end(LB_LIST_ENTRY(n, lb_session_t, link), END_SHUTDOWN,
                        reset);
}

size_t
lb_session_cut_backend(lb_group_t *g, size_t b, uint64_t before, int maint)
{
    lb_list_t *head = &g->sl->srv->sessions;
    size_t n = 0;

    /* Ending never frees at once (close callbacks do). */
    for (lb_list_t *at = head->next; at != head; at = at->next) {
        lb_session_t *sess = LB_LIST_ENTRY(at, lb_session_t, link);

        if (sess->group != g || !sess->connected || sess->closing ||
            sess->backend_idx != b ||
            sess->started + sess->connect_ms >= before)
            continue;
        lb__session_end(sess, maint ? END_MAINT : END_BACKEND_DOWN, 1);
        n++;
    }
    return n;
}

/* The source of direction d was reset: everything it sent before is
 * already written to the sink, so the sink gets the reset only after
 * those bytes reached its peer. */
static void
source_reset(lb_session_t *sess, int d)
{
    set_end(sess, d == TO_BACKEND ? END_CLIENT_RESET : END_BACKEND_RESET);
    sess->reset = 1;
    if (d == TO_BACKEND)
        close_both(sess, LB_CLOSE_RESET, LB_CLOSE_DRAIN_RESET);
    else
        close_both(sess, LB_CLOSE_DRAIN_RESET, LB_CLOSE_RESET);
}

/* ---- relay ---- */

static int
dir_of_reader(const lb_session_t *sess, const lb_stream_t *s)
{
    return s == sess->client ? TO_BACKEND : TO_CLIENT;
}

static lb_stream_t *
source(const lb_session_t *sess, int d)
{
    return d == TO_BACKEND ? sess->client : sess->backend;
}

static lb_stream_t *
sink(const lb_session_t *sess, int d)
{
    return d == TO_BACKEND ? sess->backend : sess->client;
}

static void
touch(lb_session_t *sess)
{
    sess->last_active = lb_loop_now(server(sess)->loop);
}

/* Bulk directions move through the kernel where the platform can
 * (lb_stream_splice); everything else is read into a buffer and written. */
void
lb__session_read(lb_session_t *sess, int d)
{
    sess->state[d] = H_READING;
    if (sess->bulk[d] &&
        lb_stream_splice(source(sess, d), sink(sess, d),
                         server(sess)->cfg->buffer_size, on_splice) == 0)
        return;
    sess->bulk[d] = 0; /* not here, or not now: the next full read retries */
    if (lb_stream_read(source(sess, d), lb__session_on_read) != 0)
        lb__session_end(sess, END_ERROR, 1);
}

/* A direction is over; when both are, the connection ends. Half-closed,
 * it may have a shorter inactivity limit. */
static void
direction_done(lb_session_t *sess, int d)
{
    sess->state[d] = H_DONE;
    if (sess->state[!d] == H_DONE)
        lb__session_end(sess, END_CLOSED, 0);
    else
        arm_idle(sess);
}

/* ---- inactivity ---- */

static int
half_closed(const lb_session_t *sess)
{
    return sess->state[TO_BACKEND] == H_DONE ||
           sess->state[TO_CLIENT] == H_DONE;
}

/* Milliseconds of silence allowed now (0: no limit). */
static uint64_t
idle_limit_ms(const lb_session_t *sess)
{
    const lb_listener_cfg_t *l = sess->sl->cfg;
    int half = half_closed(sess);

    return (uint64_t)(half && l->half_close_timeout_ms > 0
                          ? l->half_close_timeout_ms
                          : l->idle_timeout_ms);
}

/* Arms the timer for the end of the allowed silence. Activity only stamps
 * last_active; the timer checks it when it fires, so a busy connection
 * never touches the timer heap. */
static void
arm_idle(lb_session_t *sess)
{
    uint64_t limit = idle_limit_ms(sess);
    uint64_t now = lb_loop_now(server(sess)->loop);
    uint64_t end = sess->last_active + limit;

    if (limit == 0) {
        lb_timer_stop(&sess->timer);
        return;
    }
    lb_timer_start(&sess->timer, end > now ? end - now : 0);
}

static void
idle_check(lb_session_t *sess)
{
    uint64_t limit = idle_limit_ms(sess);
    uint64_t now = lb_loop_now(server(sess)->loop);
    char client[LB_ADDRSTRLEN];

    if (limit == 0)
        return;
    if (now - sess->last_active < limit) {
        arm_idle(sess);
        return;
    }
    lb_addr_format(&sess->client_addr, client, sizeof(client));
    lb_log("Closing connection from %s on %s: no data either way for "
           "%.1f s", client, sess->sl->cfg->listen_label,
           (double)limit / 1000.0);
    lb__session_end(sess, half_closed(sess) ? END_HALF_CLOSE : END_IDLE, 0);
}

/* The source sent FIN: pass it on (half-close) and keep the other
 * direction going. A sink that already went away has nothing left to
 * tell, and when the other direction is over the close right after sends
 * the FIN anyway. */
void
lb__session_source_ended(lb_session_t *sess, int d)
{
    touch(sess); /* the half-close limit runs from the FIN */
    if (sess->state[!d] != H_DONE)
        (void)lb_stream_shutdown(sink(sess, d));
    direction_done(sess, d);
}

/* The sink is gone. What it sent before going is still relayed by the
 * other direction, which then sees its end; the client learns of the reset
 * when everything is closed. */
void
lb__session_sink_failed(lb_session_t *sess, int d)
{
    set_end(sess, d == TO_BACKEND ? END_BACKEND_RESET : END_CLIENT_RESET);
    sess->reset = 1;
    direction_done(sess, d);
}


void
lb__session_on_write(lb_stream_t *s, int status)
{
    lb_session_t *sess = lb_stream_data(s);
    int d = s == sess->backend ? TO_BACKEND : TO_CLIENT;

    touch(sess);
    lb_bufpool_put(server(sess)->pool, sess->buf[d]);
    sess->buf[d] = NULL;
    if (status < 0)
        lb__session_sink_failed(sess, d);
    else
        lb__session_read(sess, d);
}

/* Bytes the source sent last go out with the FIN that passes its end on
 * (the read of that end comes next, from on_write): a short reply and its
 * close reach the peer in one packet, not two. */
static int
relay(lb_session_t *sess, int d, lb_stream_t *src, char *buf, size_t n)
{
    lb_stream_t *dst = sink(sess, d);

    if (lb_stream_eof_next(src))
        return lb_stream_write_last(dst, buf, n, lb__session_on_write);
    return lb_stream_write(dst, buf, n, lb__session_on_write);
}

void
lb__session_on_read(lb_stream_t *s, long nread, char *buf)
{
    lb_session_t *sess = lb_stream_data(s);
    int d = dir_of_reader(sess, s);

    if (nread > 0) {
        touch(sess);
        lb_stats_bytes(sess->group, sess->backend_idx, d, nread);
        sess->buf[d] = buf;
        sess->state[d] = H_WRITING;
        sess->bytes[d] += (uint64_t)nread;
        sess->bulk[d] = (size_t)nread == server(sess)->cfg->buffer_size;
        if (relay(sess, d, s, buf, (size_t)nread) != 0)
            lb__session_end(sess, END_ERROR, 1);
    } else if (nread == LB_EOF) {
        lb__session_source_ended(sess, d);
    } else {
        source_reset(sess, d); /* reset or error: pass a reset on */
    }
}

static void
on_splice(lb_stream_t *src, long nmoved, int at_sink)
{
    lb_session_t *sess = lb_stream_data(src);
    int d = dir_of_reader(sess, src);

    if (nmoved > 0) {
        touch(sess);
        sess->bytes[d] += (uint64_t)nmoved;
        lb_stats_bytes(sess->group, sess->backend_idx, d, nmoved);
        lb__session_read(sess, d);
    } else if (nmoved == LB_EOF)
        lb__session_source_ended(sess, d);
    else if (nmoved == LB_ENOTSUP)
        lb__session_read(sess, d); /* the next try reads, as it refuses */
    else if (at_sink)
        lb__session_sink_failed(sess, d);
    else
        source_reset(sess, d);
}

/* ---- connecting and retrying ---- */

/* The original's lines about retries and clients every backend failed,
 * at most one a second per listener of each (the connection line has
 * the rest); one for several describes the last and counts the others. */
static void
report_failed(lb_lograte_t *r)
{
    lb_served_listener_t *sl = r->data;

    if (r->held == 1)
        lb_log_error("All backends failed for client %s on %s (%s); "
                     "closing the client connection", r->who,
                     sl->cfg->listen_label, r->what);
    else
        lb_log_error("All backends failed for client %s on %s (%s); "
                     "closing the client connection, and %lu more "
                     "client(s) in the last second", r->who,
                     sl->cfg->listen_label, r->what, r->held - 1);
}

static void
report_retry(lb_lograte_t *r)
{
    lb_served_listener_t *sl = r->data;

    if (r->held == 1)
        lb_log_error("Retrying request from %s %s", r->who, r->what);
    else
        lb_log_error("Retrying request from %s %s, and %lu more on %s in "
                     "the last second", r->who, r->what, r->held - 1,
                     sl->cfg->listen_label);
}

void
lb_session_lograte_init(lb_served_listener_t *sl)
{
    lb_lograte_init(&sl->retry_log, sl->srv->loop, report_retry, sl);
    lb_lograte_init(&sl->failed_log, sl->srv->loop, report_failed, sl);
}

static void
give_up(lb_session_t *sess, int err)
{
    lb_lograte_t *r = &sess->sl->failed_log;

    lb_stats_failed(sess->sl);
    client_label(sess, r->who, sizeof(r->who));
    snprintf(r->what, sizeof(r->what), "last: %s: %s",
             backend_cfg(sess)->label, lb_strerror(err));
    lb_lograte_event(r);
    lb__session_end(sess, END_CONNECT_FAILED, 0);
}

static int
retry_rank(void *ctx, size_t i)
{
    lb_session_t *sess = ctx;

    return lb_health_retry_rank(&sess->group->health, i,
                                lb_loop_now(server(sess)->loop));
}

static void
backend_failed(lb_session_t *sess, int err)
{
    const lb_backend_cfg_t *old = backend_cfg(sess);
    lb_lograte_t *r = &sess->sl->retry_log;
    long next;

    lb_timer_stop(&sess->timer);
    if (sess->resolve) {
        lb_resolve_cancel(sess->resolve);
        sess->resolve = NULL;
    }
    close_stream(&sess->backend, LB_CLOSE_NORMAL);
    uncount(sess);
    /* Out of local ports or sockets here: not the backend's failure, in
     * its health or in its statistics. */
    if (!lb_health_local_error(err)) {
        lb_stats_connect(sess->group, sess->backend_idx, 0);
        lb_health_failed(&sess->group->health, sess->backend_idx,
                         lb_loop_now(server(sess)->loop));
    }
    next = lb_pick_retry(&sess->tried, sess->attempts,
                         sess->group->max_retries, &server(sess)->rng,
                         retry_rank, sess);
    if (next < 0) {
        give_up(sess, err);
        return;
    }
    sess->backend_idx = (size_t)next;
    client_label(sess, r->who, sizeof(r->who));
    snprintf(r->what, sizeof(r->what), "from %s on %s (%s)", old->label,
             backend_cfg(sess)->label, lb_strerror(err));
    lb_lograte_event(r);
    lb__session_try_backend(sess);
}

static void
on_connected(lb_stream_t *s, int status)
{
    lb_session_t *sess = lb_stream_data(s);

    if (status < 0) {
        backend_failed(sess, status);
        return;
    }
    sess->connected = 1;
    (void)lb_stream_reset_on_exit(s); /* a worker's death cuts visibly */
    sess->connect_ms =
        (uint32_t)(lb_loop_now(server(sess)->loop) - sess->started);
    lb_health_succeeded(&sess->group->health, sess->backend_idx,
                        lb_loop_now(server(sess)->loop));
    lb_stats_connect(sess->group, sess->backend_idx, 1);
    if (sess->opt != NULL && sess->opt->persist_key != 0)
        lb_persist_set(sess->sl->persist, sess->opt->persist_key,
                       sess->backend_idx, sess->sl->cfg->persist_timeout_ms,
                       lb_loop_now(server(sess)->loop));
    if (sess->sl->cfg->tcp_keepalive > 0 && backend_cfg(sess)->port != 0)
        keepalive(sess, sess->backend);
    touch(sess);
    arm_idle(sess);
    lb__session_start_up(sess);
    if (!sess->closing)
        lb__session_read(sess, TO_CLIENT);
}

static void
connect_to(lb_session_t *sess, const lb_addr_t *addr)
{
    lb_server_t *srv = server(sess);
    /* A PROXY header, or bytes the client sent already, go first. */
    int data_first = sess->held > 0 || sess->pp.data != NULL ||
                     (sess->opt != NULL && sess->opt->ibuf != NULL);
    int rc = data_first
                 ? lb_stream_connect_data(srv->loop, addr, on_connected, sess,
                                          &sess->backend)
                 : lb_stream_connect(srv->loop, addr, on_connected, sess,
                                     &sess->backend);

    if (rc != 0) {
        sess->backend = NULL;
        backend_failed(sess, rc);
        return;
    }
    sess->open_streams++;
}

static void
on_resolved(lb_resolve_t *req, int status, const lb_addr_t *addr,
            void *data)
{
    lb_session_t *sess = data;
    (void)req;

    sess->resolve = NULL;
    if (status < 0) {
        backend_failed(sess, status);
        return;
    }
    connect_to(sess, addr);
}

/* Waiting for a PROXY header or the first bytes: their timeout; before
 * the backend answered: the connect timeout; after: silence. */
static void
on_timer(lb_timer_t *t)
{
    lb_session_t *sess = t->data;

    if (sess->pp_wait)
        lb__session_header_timed_out(sess);
    else if (sess->queued)
        lb__session_queue_timed_out(sess);
    else if (sess->inspecting)
        lb__session_inspect_timed_out(sess);
    else if (sess->connected)
        idle_check(sess);
    else
        backend_failed(sess, LB_ETIMEDOUT);
}

void
lb__session_try_backend(lb_session_t *sess)
{
    const lb_backend_cfg_t *b = backend_cfg(sess);
    lb_server_t *srv = server(sess);
    int64_t timeout = sess->sl->cfg->connect_timeout_ms;
    int rc;

    sess->attempts++;
    lb_tried_mark(&sess->tried, sess->backend_idx);
    lb_health_count(&sess->group->health, sess->backend_idx, 1);
    sess->counted = 1;
    if (timeout > 0)
        lb_timer_start(&sess->timer, (uint64_t)timeout);
    if (b->resolved) {
        connect_to(sess, &b->addr);
        return;
    }
    /* pre_resolve_workers = 0: look the name up again, off the loop. */
    rc = lb_resolve_start(srv->loop, b->host, b->port, on_resolved, sess,
                          &sess->resolve);
    if (rc != 0)
        backend_failed(sess, rc);
}

/* Every backend is at max_conns (or taken out by the admin), or the queue
 * is full: the client is turned away (logged at most once a second)
 * rather than held without bound. */
void
lb__session_refuse(lb_session_t *sess, const char *why)
{
    lb_group_t *g = sess->group;

    if (once_a_second(sess, &g->last_full_log)) {
        if (why != NULL)
            lb_log_error("%s: %s; closing new client connections",
                         g->cfg->listen_label, why);
        else
            lb_log_error("Every backend of %s is at max_conns (%d); closing "
                         "new client connections", g->cfg->listen_label,
                         g->cfg->health.max_conns);
    }
    lb_stats_refused(sess->sl, LB_STATS_REFUSED_FULL);
    lb__session_end(sess, END_REFUSED, 0);
}

/* Why no backend takes a new client now: NULL when they are all full. */
static const char *
none_ready(lb_health_t *h)
{
    for (size_t i = 0; i < h->cfg->nbackends; i++)
        if (lb_health_admin_ready(h, i))
            return NULL;
    return "no backend takes new clients (drain or maint, set through the "
           "admin API)";
}

/* The client is for the listener's own backends and it has none (it has
 * routes): closed, logged at most once a second. */
static void
refuse_no_route(lb_session_t *sess)
{
    lb_served_listener_t *sl = sess->sl;
    char client[LB_ADDRSTRLEN];

    if (once_a_second(sess, &sl->last_route_log)) {
        client_label(sess, client, sizeof(client));
        lb_log_error("No route for client %s on %s, and no backends of its "
                     "own; closing the connection", client,
                     sl->cfg->listen_label);
    }
    lb_stats_refused(sl, LB_STATS_REFUSED_NO_ROUTE);
    lb__session_end(sess, END_NO_ROUTE, 0);
}

/* The backend the client's first bytes asked for (an RDP routing
 * token's, or the one its cookie went to), unless it cannot take it: a
 * cookie's backend must be in service and below max_conns (else another
 * is chosen, and remembered once connected), a token's below max_conns
 * (the broker knows where the user's session is). */
static long
preferred(lb_session_t *sess, uint64_t now)
{
    long b = sess->opt != NULL ? sess->opt->prefer : -1;
    int rank;

    if (b < 0 || (size_t)b >= sess->group->cfg->nbackends)
        return -1;
    rank = lb_health_rank(&sess->group->health, (size_t)b, now);
    if (rank == LB_RANK_FULL ||
        (sess->opt->persist_key != 0 && rank != LB_RANK_OK))
        return -1;
    return b;
}

/* The first backend, by the group's order among those in service; with
 * a queue, after those already waiting. */
static void
choose_backend(lb_session_t *sess)
{
    lb_group_t *g = sess->group;
    uint64_t now = lb_loop_now(server(sess)->loop);
    long first = preferred(sess, now);

    if (first < 0 && lb__queue_waiting(g)) {
        lb__session_enqueue(sess); /* first come, first served */
        return;
    }
    if (first < 0)
        first = lb_pick_backend(&g->health, g->rr, &sess->client_addr, now);
    if (first < 0 && sess->sl->cfg->queue_timeout_ms > 0) {
        lb__session_enqueue(sess);
        return;
    }
    if (first < 0) {
        lb__session_refuse(sess, none_ready(&g->health));
        return;
    }
    sess->backend_idx = (size_t)first;
    lb__session_try_backend(sess);
}

void
lb__session_route(lb_session_t *sess, lb_group_t *g, const lb_addr_t *dst)
{
    sess->group = g;
    if (g->cfg->nbackends == 0) {
        refuse_no_route(sess);
        return;
    }
    if (lb_tried_init(&sess->tried, g->cfg->nbackends) != 0 ||
        lb__session_prepare_header(sess, g, dst) != 0) {
        lb_log_error("out of memory: dropping a connection on %s",
                     sess->sl->cfg->listen_label);
        lb__session_end(sess, END_ERROR, 1);
        return;
    }
    choose_backend(sess);
}

/* max_conns_per_client, max_conn_rate_per_client: a client over one is
 * reset, counted and logged with the others (once a second), without a
 * connection line each. */
static int
over_client_limit(lb_session_t *sess)
{
    lb_served_listener_t *sl = sess->sl;
    int rc = lb_clients_admit(sl->clients, sl->cfg, &sess->client_addr,
                              server(sess)->slot,
                              lb_loop_now(server(sess)->loop),
                              &sess->opt->client_ref);

    if (rc == LB_CLIENT_OK)
        return 0;
    lb_stats_refused(sl, rc == LB_CLIENT_CONNS
                             ? LB_STATS_REFUSED_CLIENT_CONNS
                             : LB_STATS_REFUSED_CLIENT_RATE);
    lb_server_refused_client(sl, &sess->client_addr,
                             rc == LB_CLIENT_CONNS
                                 ? "max_conns_per_client"
                                 : "max_conn_rate_per_client");
    sess->quiet = 1;
    lb__session_end(sess, END_REFUSED, 1);
    return 1;
}

/* The client is known: sess->client_addr is what its PROXY header said,
 * if the listener expects one, else its peer address. (Allow and deny
 * lists belong here.) Then its limits, its first bytes and a backend. */
void
lb__session_admit(lb_session_t *sess, const lb_pp_header_t *hdr)
{
    lb_served_listener_t *sl = sess->sl;

    if (sl->clients != NULL && over_client_limit(sess))
        return;
    if (!lb_config_inspects(sl->cfg)) {
        lb__session_route(sess, &sl->groups[0],
                          hdr != NULL && hdr->has_addr ? &hdr->dst : NULL);
        return;
    }
    /* The destination a PROXY header named, for send_proxy once the
     * client's first bytes chose the group. */
    if (hdr != NULL && hdr->has_addr) {
        sess->opt->has_dst = 1;
        sess->opt->dst = hdr->dst;
    }
    lb__session_inspect(sess);
}

/* tcp_keepalive on a socket; a failure costs the client nothing but is
 * worth a line (at most one a second). */
static void
keepalive(lb_session_t *sess, lb_stream_t *s)
{
    lb_served_listener_t *sl = sess->sl;
    int rc = lb_stream_keepalive(s, (unsigned)sl->cfg->tcp_keepalive);

    if (rc == 0 || !once_a_second(sess, &sl->last_keepalive_log))
        return;
    lb_log_error("Cannot set tcp_keepalive on a connection of %s: %s",
                 sl->cfg->listen_label, lb_strerror(rc));
}

void
lb_session_start(lb_served_listener_t *sl, lb_stream_t *client,
                 const lb_addr_t *peer)
{
    lb_server_t *srv = sl->srv;
    lb_session_t *sess = calloc(1, sizeof(*sess));
    int opt = lb_config_inspects(sl->cfg) || sl->clients != NULL ||
              sl->cfg->queue_timeout_ms > 0;

    if (sess != NULL && opt &&
        (sess->opt = calloc(1, sizeof(*sess->opt))) == NULL) {
        free(sess);
        sess = NULL;
    }
    if (sess == NULL) {
        lb_log_error("out of memory: dropping a connection on %s",
                     sl->cfg->listen_label);
        lb_stream_close(client, LB_CLOSE_RESET, NULL);
        return;
    }
    sess->sl = sl;
    sess->client = client;
    (void)lb_stream_reset_on_exit(client);
    sess->open_streams = 1;
    if (sess->opt != NULL)
        sess->opt->prefer = -1;
    lb_stream_set_data(client, sess);
    sess->client_addr = *peer;
    lb_timer_init(srv->loop, &sess->timer, on_timer, sess);
    lb_list_push(&srv->sessions, &sess->link);
    srv->active++;
    sl->active++;
    lb_stats_active(sl, 1);
    sess->started = lb_loop_now(srv->loop);
    if (sl->cfg->tcp_keepalive > 0)
        keepalive(sess, client);
    if (sl->cfg->accept_proxy)
        lb__session_expect_header(sess);
    else
        lb__session_admit(sess, NULL);
}
