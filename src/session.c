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
    unsigned char closing, reset;
    unsigned open_streams;   /* created and not yet closed-and-called-back */
    int attempts;
};

static void try_backend(lb_session_t *sess);
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

    /* Both streams are closed: no buffer is with the platform any more. */
    for (int d = UP; d <= DOWN; d++)
        if (sess->buf[d])
            lb_bufpool_put(&srv->pool, sess->buf[d]);
    if (sess->prev)
        sess->prev->next = sess->next;
    else
        srv->sessions = sess->next;
    if (sess->next)
        sess->next->prev = sess->prev;
    lb_tried_free(&sess->tried);
    free(sess);
    lb_server_session_ended(srv);
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

void
lb_session_abort(lb_session_t *sess, int reset)
{
    int how;

    if (sess->closing)
        return;
    sess->closing = 1;
    sess->reset |= (unsigned char)(reset != 0);
    how = sess->reset ? LB_CLOSE_RESET : LB_CLOSE_NORMAL;
    lb_timer_stop(&sess->timer);
    if (sess->resolve) {
        lb_resolve_cancel(sess->resolve);
        sess->resolve = NULL;
    }
    close_stream(&sess->client, how);
    close_stream(&sess->backend, how);
    /* The client stream is open until its close callback, so the session
     * is freed there, never under a caller's feet. */
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

/* A direction is over; when both are, the connection ends. */
static void
direction_done(lb_session_t *sess, int d)
{
    sess->state[d] = H_DONE;
    if (sess->state[!d] == H_DONE)
        lb_session_abort(sess, 0);
}

/* The source sent FIN: pass it on (half-close) and keep the other
 * direction going. A sink that already went away has nothing left to
 * tell, and when the other direction is over the close right after sends
 * the FIN anyway. */
static void
source_ended(lb_session_t *sess, int d)
{
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

    lb_bufpool_put(&server(sess)->pool, sess->buf[d]);
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
        sess->buf[d] = buf;
        sess->state[d] = H_WRITING;
        sess->bulk[d] = (size_t)nread == server(sess)->cfg->buffer_size;
        if (lb_stream_write(sink(sess, d), buf, (size_t)nread, on_write) != 0)
            lb_session_abort(sess, 1);
    } else if (nread == LB_EOF) {
        source_ended(sess, d);
    } else {
        lb_session_abort(sess, 1); /* reset or error: pass a reset on */
    }
}

static void
on_splice(lb_stream_t *src, long nmoved, int at_sink)
{
    lb_session_t *sess = lb_stream_data(src);
    int d = dir_of_reader(sess, src);

    if (nmoved > 0)
        start_read(sess, d);
    else if (nmoved == LB_EOF)
        source_ended(sess, d);
    else if (at_sink)
        sink_failed(sess, d);
    else
        lb_session_abort(sess, 1);
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
    next = lb_pick_retry(&sess->tried, sess->attempts, sess->lc->max_retries,
                         &server(sess)->rng);
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
    lb_timer_stop(&sess->timer);
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

static void
on_connect_timeout(lb_timer_t *t)
{
    backend_failed(t->data, LB_ETIMEDOUT);
}

static void
try_backend(lb_session_t *sess)
{
    const lb_backend_cfg_t *b = backend_cfg(sess);
    lb_server_t *srv = server(sess);
    double timeout = srv->cfg->connect_timeout;
    int rc;

    sess->attempts++;
    lb_tried_mark(&sess->tried, sess->backend_idx);
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

void
lb_session_start(lb_lctx_t *lc, lb_stream_t *client)
{
    lb_server_t *srv = lc->srv;
    lb_session_t *sess = calloc(1, sizeof(*sess));

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
    if (lb_stream_peer(client, &sess->client_addr) != 0)
        sess->client_addr.len = 0;
    lb_timer_init(srv->loop, &sess->timer, on_connect_timeout, sess);
    sess->next = srv->sessions;
    if (srv->sessions)
        srv->sessions->prev = sess;
    srv->sessions = sess;
    srv->active++;
    sess->backend_idx = lb_rr_pick(lc->rr, lc->cfg->nbackends);
    try_backend(sess);
}
