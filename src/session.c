/* session.c - one client connection: pick a backend, connect with a
 * timeout, retry elsewhere on failure, then relay both directions with at
 * most one buffer each, passing half-closes and resets on. */
#include <stdlib.h>

#include "lb_log.h"
#include "lb_server.h"

enum { UP = 0, DOWN = 1 }; /* UP: client to backend */
enum { H_IDLE = 0, H_READING, H_WRITING, H_DONE };

struct lb_session_s {
    lb_lctx_t *lc;
    lb_session_t *prev, *next;
    lb_stream_t *client, *backend;
    lb_resolve_t *resolve;
    lb_timer_t timer;
    lb_tried_t tried;
    lb_addr_t client_addr;
    size_t backend_idx;
    char *buf[2];            /* in flight per direction, else NULL */
    unsigned char state[2];
    unsigned char bulk[2];   /* a read filled the buffer: try splicing */
    unsigned char closing, reset, connected;
    unsigned char counted;   /* backend_idx counts this connection */
    unsigned open_streams;   /* created and not yet closed-and-called-back */
    int attempts;
    uint64_t last_active;    /* loop time of the last byte either way */
};

static void try_backend(lb_session_t *sess);
static void arm_idle(lb_session_t *sess);
static void on_read(lb_stream_t *s, long nread, char *buf);
static void on_splice(lb_stream_t *src, long nmoved, int at_sink);

static const lb_backend_cfg_t *
backend_cfg(const lb_session_t *sess)
{
    return &sess->lc->cfg->backends[sess->backend_idx];
}

static lb_server_t *
server(const lb_session_t *sess)
{
    return sess->lc->srv;
}

/* The backend's max_conns count no longer includes this connection. */
static void
uncount(lb_session_t *sess)
{
    if (sess->counted)
        lb_health_count(&sess->lc->health, sess->backend_idx, -1);
    sess->counted = 0;
}

lb_session_t *
lb_session_next(const lb_session_t *sess)
{
    return sess->next;
}

static void
client_label(const lb_session_t *sess, char *buf, size_t size)
{
    lb_addr_format(&sess->client_addr, buf, size);
}

/* ---- lifetime ---- */

static void
free_session(lb_session_t *sess)
{
    lb_server_t *srv = server(sess);
    lb_lctx_t *lc = sess->lc;

    /* Both streams are closed: no buffer is with the platform any more. */
    for (int d = UP; d <= DOWN; d++)
        if (sess->buf[d])
            lb_bufpool_put(srv->pool, sess->buf[d]);
    if (sess->prev)
        sess->prev->next = sess->next;
    else
        srv->sessions = sess->next;
    if (sess->next)
        sess->next->prev = sess->prev;
    uncount(sess);
    lb_tried_free(&sess->tried);
    free(sess);
    lb_server_session_ended(srv, lc);
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
    lb_timer_stop(&sess->timer);
    if (sess->resolve) {
        lb_resolve_cancel(sess->resolve);
        sess->resolve = NULL;
    }
    close_stream(&sess->client, how_client);
    close_stream(&sess->backend, how_backend);
}

void
lb_session_abort(lb_session_t *sess, int reset)
{
    int how;

    sess->reset |= (unsigned char)(reset != 0);
    how = sess->reset ? LB_CLOSE_RESET : LB_CLOSE_NORMAL;
    close_both(sess, how, how);
}

/* The source of direction d was reset: everything it sent before is
 * already written to the sink, so the sink gets the reset only after
 * those bytes reached its peer. */
static void
source_reset(lb_session_t *sess, int d)
{
    sess->reset = 1;
    if (d == UP)
        close_both(sess, LB_CLOSE_RESET, LB_CLOSE_DRAIN_RESET);
    else
        close_both(sess, LB_CLOSE_DRAIN_RESET, LB_CLOSE_RESET);
}

/* ---- relay ---- */

static int
dir_of_reader(const lb_session_t *sess, const lb_stream_t *s)
{
    return s == sess->client ? UP : DOWN;
}

static lb_stream_t *
source(const lb_session_t *sess, int d)
{
    return d == UP ? sess->client : sess->backend;
}

static lb_stream_t *
sink(const lb_session_t *sess, int d)
{
    return d == UP ? sess->backend : sess->client;
}

static void
touch(lb_session_t *sess)
{
    sess->last_active = lb_loop_now(server(sess)->loop);
}

/* Bulk directions move through the kernel where the platform can
 * (lb_stream_splice); everything else is read into a buffer and written. */
static void
start_read(lb_session_t *sess, int d)
{
    sess->state[d] = H_READING;
    if (sess->bulk[d] &&
        lb_stream_splice(source(sess, d), sink(sess, d),
                         server(sess)->cfg->buffer_size, on_splice) == 0)
        return;
    sess->bulk[d] = 0; /* not here, or not now: the next full read retries */
    if (lb_stream_read(source(sess, d), on_read) != 0)
        lb_session_abort(sess, 1);
}

/* A direction is over; when both are, the connection ends. Half-closed,
 * it may have a shorter inactivity limit. */
static void
direction_done(lb_session_t *sess, int d)
{
    sess->state[d] = H_DONE;
    if (sess->state[!d] == H_DONE)
        lb_session_abort(sess, 0);
    else
        arm_idle(sess);
}

/* ---- inactivity ---- */

/* Milliseconds of silence allowed now (0: no limit). */
static uint64_t
idle_limit_ms(const lb_session_t *sess)
{
    const lb_listener_cfg_t *l = sess->lc->cfg;
    int half = sess->state[UP] == H_DONE || sess->state[DOWN] == H_DONE;
    double t = half && l->half_close_timeout > 0 ? l->half_close_timeout
                                                 : l->idle_timeout;

    return (uint64_t)(t * 1000.0 + 0.5);
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
           "%.1f s", client, sess->lc->cfg->listen_label,
           (double)limit / 1000.0);
    lb_session_abort(sess, 0);
}

/* The source sent FIN: pass it on (half-close) and keep the other
 * direction going. A sink that already went away has nothing left to
 * tell, and when the other direction is over the close right after sends
 * the FIN anyway. */
static void
source_ended(lb_session_t *sess, int d)
{
    touch(sess); /* the half-close limit runs from the FIN */
    if (sess->state[!d] != H_DONE)
        (void)lb_stream_shutdown(sink(sess, d));
    direction_done(sess, d);
}

/* The sink is gone. What it sent before going is still relayed by the
 * other direction, which then sees its end; the client learns of the reset
 * when everything is closed. */
static void
sink_failed(lb_session_t *sess, int d)
{
    sess->reset = 1;
    direction_done(sess, d);
}


static void
on_write(lb_stream_t *s, int status)
{
    lb_session_t *sess = lb_stream_data(s);
    int d = s == sess->backend ? UP : DOWN;

    touch(sess);
    lb_bufpool_put(server(sess)->pool, sess->buf[d]);
    sess->buf[d] = NULL;
    if (status < 0)
        sink_failed(sess, d);
    else
        start_read(sess, d);
}

static void
on_read(lb_stream_t *s, long nread, char *buf)
{
    lb_session_t *sess = lb_stream_data(s);
    int d = dir_of_reader(sess, s);

    if (nread > 0) {
        touch(sess);
        sess->buf[d] = buf;
        sess->state[d] = H_WRITING;
        sess->bulk[d] = (size_t)nread == server(sess)->cfg->buffer_size;
        if (lb_stream_write(sink(sess, d), buf, (size_t)nread, on_write) != 0)
            lb_session_abort(sess, 1);
    } else if (nread == LB_EOF) {
        source_ended(sess, d);
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
        start_read(sess, d);
    }
    else if (nmoved == LB_EOF)
        source_ended(sess, d);
    else if (at_sink)
        sink_failed(sess, d);
    else
        source_reset(sess, d);
}

/* ---- connecting and retrying ---- */

static void
give_up(lb_session_t *sess, int err)
{
    char client[LB_ADDRSTRLEN];

    client_label(sess, client, sizeof(client));
    lb_log_error("All backends failed for client %s on %s (last: %s: %s); "
                 "closing the client connection", client,
                 sess->lc->cfg->listen_label, backend_cfg(sess)->label,
                 lb_strerror(err));
    lb_session_abort(sess, 0);
}

/* Errors that say nothing about the backend: we ran out of something. */
static int
our_fault(int err)
{
    return err == LB_EMFILE || err == LB_ENOMEM || err == LB_EAGAIN;
}

static int
retry_rank(void *ctx, size_t i)
{
    lb_session_t *sess = ctx;

    return lb_health_retry_rank(&sess->lc->health, i,
                                lb_loop_now(server(sess)->loop));
}

static void
backend_failed(lb_session_t *sess, int err)
{
    const lb_backend_cfg_t *old = backend_cfg(sess);
    char client[LB_ADDRSTRLEN];
    long next;

    lb_timer_stop(&sess->timer);
    if (sess->resolve) {
        lb_resolve_cancel(sess->resolve);
        sess->resolve = NULL;
    }
    close_stream(&sess->backend, LB_CLOSE_NORMAL);
    uncount(sess);
    if (!our_fault(err))
        lb_health_failed(&sess->lc->health, sess->backend_idx,
                         lb_loop_now(server(sess)->loop));
    next = lb_pick_retry(&sess->tried, sess->attempts, sess->lc->max_retries,
                         &server(sess)->rng, retry_rank, sess);
    if (next < 0) {
        give_up(sess, err);
        return;
    }
    sess->backend_idx = (size_t)next;
    client_label(sess, client, sizeof(client));
    lb_log_error("Retrying request from %s from %s on %s (%s)", client,
                 old->label, backend_cfg(sess)->label, lb_strerror(err));
    try_backend(sess);
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
    lb_health_succeeded(&sess->lc->health, sess->backend_idx);
    touch(sess);
    arm_idle(sess);
    start_read(sess, UP);
    if (!sess->closing)
        start_read(sess, DOWN);
}

static void
connect_to(lb_session_t *sess, const lb_addr_t *addr)
{
    lb_server_t *srv = server(sess);
    int rc = lb_stream_connect(srv->loop, addr, on_connected, sess,
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

/* Before the backend answered: the connect timeout; after: silence. */
static void
on_timer(lb_timer_t *t)
{
    lb_session_t *sess = t->data;

    if (sess->connected)
        idle_check(sess);
    else
        backend_failed(sess, LB_ETIMEDOUT);
}

static void
try_backend(lb_session_t *sess)
{
    const lb_backend_cfg_t *b = backend_cfg(sess);
    lb_server_t *srv = server(sess);
    double timeout = sess->lc->cfg->connect_timeout;
    int rc;

    sess->attempts++;
    lb_tried_mark(&sess->tried, sess->backend_idx);
    lb_health_count(&sess->lc->health, sess->backend_idx, 1);
    sess->counted = 1;
    if (timeout > 0)
        lb_timer_start(&sess->timer, (uint64_t)(timeout * 1000.0 + 0.5));
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

/* Every backend is at max_conns: the client is turned away (logged at
 * most once a second) rather than queued without bound. */
static void
refuse_full(lb_lctx_t *lc, lb_stream_t *client)
{
    uint64_t now = lb_loop_now(lc->srv->loop);

    if (now - lc->last_full_log >= 1000) {
        lc->last_full_log = now;
        lb_log_error("Every backend of %s is at max_conns (%d); closing new "
                     "client connections", lc->cfg->listen_label,
                     lc->cfg->health.max_conns);
    }
    lb_stream_close(client, LB_CLOSE_NORMAL, NULL);
}

void
lb_session_start(lb_lctx_t *lc, lb_stream_t *client, const lb_addr_t *peer)
{
    lb_server_t *srv = lc->srv;
    long first = lb_health_pick(&lc->health, lc->rr, peer,
                                lb_loop_now(srv->loop));
    lb_session_t *sess;

    if (first < 0) {
        refuse_full(lc, client);
        return;
    }
    sess = calloc(1, sizeof(*sess));
    if (sess == NULL || lb_tried_init(&sess->tried, lc->cfg->nbackends)) {
        free(sess);
        lb_log_error("out of memory: dropping a connection on %s",
                     lc->cfg->listen_label);
        lb_stream_close(client, LB_CLOSE_RESET, NULL);
        return;
    }
    sess->lc = lc;
    sess->client = client;
    sess->open_streams = 1;
    lb_stream_set_data(client, sess);
    sess->client_addr = *peer;
    lb_timer_init(srv->loop, &sess->timer, on_timer, sess);
    sess->next = srv->sessions;
    if (srv->sessions)
        srv->sessions->prev = sess;
    srv->sessions = sess;
    srv->active++;
    lc->active++;
    sess->backend_idx = (size_t)first;
    try_backend(sess);
}
