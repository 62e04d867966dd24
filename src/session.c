/* session.c - one client connection: read its PROXY header if the
 * listener expects one, pick a backend, connect with a timeout, retry
 * elsewhere on failure, then relay both directions with at most one buffer
 * each (after our own PROXY header, if any), passing half-closes and resets
 * on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_log.h"
#include "lb_proxy_proto.h"
#include "lb_server.h"

/* How long a client may take to send its PROXY header when
 * connect_timeout is 0 (no limit is no option: it holds a slot). */
#define PROXY_TIMEOUT_S 5.0

enum { UP = 0, DOWN = 1 }; /* UP: client to backend */
enum { H_IDLE = 0, H_READING, H_WRITING, H_DONE };

/* Why a connection ended, for its log line; the first cause recorded
 * wins (a reset seen mid-transfer stays the reason even if the other way
 * then ends quietly). */
enum {
    END_NONE = 0,
    END_CLOSED,         /* both sides sent FIN */
    END_CLIENT_RESET,   /* the client reset, or could not be written to */
    END_BACKEND_RESET,  /* the same for the backend, once connected */
    END_IDLE,           /* idle_timeout */
    END_HALF_CLOSE,     /* silent too long after one side's FIN */
    END_CONNECT_FAILED, /* every backend tried failed */
    END_REFUSED,        /* every backend at max_conns */
    END_SHUTDOWN,       /* cut by the balancer: drain deadline, 2nd stop */
    END_PROXY,          /* accept_proxy: no valid header in time */
    END_ERROR           /* a local failure (out of memory, a socket call) */
};

static const char *const end_names[] = {
    "closed", "closed", "client_reset", "backend_reset", "idle_timeout",
    "half_close_timeout", "connect_failed", "refused", "shutdown",
    "proxy_error", "error",
};

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
    /* For the line logged when the connection ends. Bytes are counted as
     * they are read (or spliced) on their way, at no extra syscall. */
    uint64_t started;        /* loop time of the accept */
    uint64_t bytes[2];       /* per direction */
    uint32_t connect_ms;     /* accept to backend up, once connected */
    unsigned char end;       /* END_*: the first cause */
    /* PROXY protocol: the client's header while it comes in pieces, then
     * the header for the backend until it is written. */
    unsigned char pp_wait;   /* reading the client's header */
    uint32_t held;           /* client bytes after its header, in buf[UP] */
    lb_pp_buf_t pp;
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

/* One line as the connection ends, key=value in a fixed order, no value
 * with a space (labels are addresses): easy to grep and to split. */
static void
log_connection(const lb_session_t *sess)
{
    const lb_listener_cfg_t *l = sess->lc->cfg;
    uint64_t now = lb_loop_now(server(sess)->loop);
    char client[LB_ADDRSTRLEN], connect_ms[16] = "-";

    if (!l->log_connections)
        return;
    if (sess->client_addr.len > 0)
        client_label(sess, client, sizeof(client));
    else
        snprintf(client, sizeof(client), "-");
    if (sess->connected)
        snprintf(connect_ms, sizeof(connect_ms), "%lu",
                 (unsigned long)sess->connect_ms);
    lb_log("Connection client=%s listener=%s backend=%s to_backend=%llu "
           "to_client=%llu connect_ms=%s duration_ms=%llu retries=%d end=%s",
           client, l->listen_label,
           sess->connected ? backend_cfg(sess)->label : "-",
           (unsigned long long)sess->bytes[UP],
           (unsigned long long)sess->bytes[DOWN], connect_ms,
           (unsigned long long)(now - sess->started),
           sess->attempts > 1 ? sess->attempts - 1 : 0,
           end_names[sess->end]);
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
    lb_pp_buf_free(&sess->pp);
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
static void
end_session(lb_session_t *sess, int reason, int reset)
{
    int how;

    set_end(sess, reason);
    sess->reset |= (unsigned char)(reset != 0);
    how = sess->reset ? LB_CLOSE_RESET : LB_CLOSE_NORMAL;
    close_both(sess, how, how);
}

/* From outside the session: the server cuts it (drain deadline, second
 * stop). */
void
lb_session_abort(lb_session_t *sess, int reset)
{
    end_session(sess, END_SHUTDOWN, reset);
}

/* The source of direction d was reset: everything it sent before is
 * already written to the sink, so the sink gets the reset only after
 * those bytes reached its peer. */
static void
source_reset(lb_session_t *sess, int d)
{
    set_end(sess, d == UP ? END_CLIENT_RESET : END_BACKEND_RESET);
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
        end_session(sess, END_ERROR, 1);
}

/* A direction is over; when both are, the connection ends. Half-closed,
 * it may have a shorter inactivity limit. */
static void
direction_done(lb_session_t *sess, int d)
{
    sess->state[d] = H_DONE;
    if (sess->state[!d] == H_DONE)
        end_session(sess, END_CLOSED, 0);
    else
        arm_idle(sess);
}

/* ---- inactivity ---- */

static int
half_closed(const lb_session_t *sess)
{
    return sess->state[UP] == H_DONE || sess->state[DOWN] == H_DONE;
}

/* Milliseconds of silence allowed now (0: no limit). */
static uint64_t
idle_limit_ms(const lb_session_t *sess)
{
    const lb_listener_cfg_t *l = sess->lc->cfg;
    int half = half_closed(sess);
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
    end_session(sess, half_closed(sess) ? END_HALF_CLOSE : END_IDLE, 0);
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
    set_end(sess, d == UP ? END_BACKEND_RESET : END_CLIENT_RESET);
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

/* Bytes the source sent last go out with the FIN that passes its end on
 * (the read of that end comes next, from on_write): a short reply and its
 * close reach the peer in one packet, not two. */
static int
relay(lb_session_t *sess, int d, lb_stream_t *src, char *buf, size_t n)
{
    if (lb_stream_eof_next(src))
        return lb_stream_write_last(sink(sess, d), buf, n, on_write);
    return lb_stream_write(sink(sess, d), buf, n, on_write);
}

static void
on_read(lb_stream_t *s, long nread, char *buf)
{
    lb_session_t *sess = lb_stream_data(s);
    int d = dir_of_reader(sess, s);

    if (nread > 0) {
        touch(sess);
        lb_stats_bytes(sess->lc, sess->backend_idx, d, nread);
        sess->buf[d] = buf;
        sess->state[d] = H_WRITING;
        sess->bytes[d] += (uint64_t)nread;
        sess->bulk[d] = (size_t)nread == server(sess)->cfg->buffer_size;
        if (relay(sess, d, s, buf, (size_t)nread) != 0)
            end_session(sess, END_ERROR, 1);
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
        sess->bytes[d] += (uint64_t)nmoved;
        lb_stats_bytes(sess->lc, sess->backend_idx, d, nmoved);
        start_read(sess, d);
    }
    else if (nmoved == LB_EOF)
        source_ended(sess, d);
    else if (at_sink)
        sink_failed(sess, d);
    else
        source_reset(sess, d);
}

/* ---- PROXY protocol to the backend (send_proxy) ---- */

/* Client bytes that came with the client's own PROXY header go first. */
static void
send_held(lb_session_t *sess)
{
    size_t n = sess->held;

    if (n == 0) {
        start_read(sess, UP);
        return;
    }
    sess->held = 0;
    sess->bytes[UP] += n;
    lb_stats_bytes(sess->lc, sess->backend_idx, UP, (long)n);
    if (lb_stream_write(sess->backend, sess->buf[UP], n, on_write) != 0)
        end_session(sess, END_ERROR, 1);
}

static void
on_header_written(lb_stream_t *s, int status)
{
    lb_session_t *sess = lb_stream_data(s);

    lb_pp_buf_free(&sess->pp);
    if (status < 0)
        sink_failed(sess, UP);
    else
        send_held(sess);
}

/* The backend is connected: our PROXY header before any client byte, then
 * the bytes held, then the relay. */
static void
start_up(lb_session_t *sess)
{
    sess->state[UP] = H_WRITING;
    if (sess->pp.data == NULL)
        send_held(sess);
    else if (lb_stream_write(sess->backend, sess->pp.data, sess->pp.len,
                             on_header_written) != 0)
        end_session(sess, END_ERROR, 1);
}

/* ---- connecting and retrying ---- */

static void
give_up(lb_session_t *sess, int err)
{
    char client[LB_ADDRSTRLEN];

    lb_stats_failed(sess->lc);
    client_label(sess, client, sizeof(client));
    lb_log_error("All backends failed for client %s on %s (last: %s: %s); "
                 "closing the client connection", client,
                 sess->lc->cfg->listen_label, backend_cfg(sess)->label,
                 lb_strerror(err));
    end_session(sess, END_CONNECT_FAILED, 0);
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
    lb_stats_connect(sess->lc, sess->backend_idx, 0);
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
    sess->connect_ms =
        (uint32_t)(lb_loop_now(server(sess)->loop) - sess->started);
    lb_health_succeeded(&sess->lc->health, sess->backend_idx);
    lb_stats_connect(sess->lc, sess->backend_idx, 1);
    touch(sess);
    arm_idle(sess);
    start_up(sess);
    if (!sess->closing)
        start_read(sess, DOWN);
}

static void
connect_to(lb_session_t *sess, const lb_addr_t *addr)
{
    lb_server_t *srv = server(sess);
    /* A PROXY header, or bytes that came with the client's, go first. */
    int data_first = sess->held > 0 || sess->pp.data != NULL;
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

static void header_timed_out(lb_session_t *sess);

/* Waiting for a PROXY header: its timeout; before the backend answered:
 * the connect timeout; after: silence. */
static void
on_timer(lb_timer_t *t)
{
    lb_session_t *sess = t->data;

    if (sess->pp_wait)
        header_timed_out(sess);
    else if (sess->connected)
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
refuse_full(lb_session_t *sess)
{
    lb_lctx_t *lc = sess->lc;
    uint64_t now = lb_loop_now(lc->srv->loop);

    if (now - lc->last_full_log >= 1000) {
        lc->last_full_log = now;
        lb_log_error("Every backend of %s is at max_conns (%d); closing new "
                     "client connections", lc->cfg->listen_label,
                     lc->cfg->health.max_conns);
    }
    lb_stats_refused(lc, LB_STATS_REFUSED_FULL);
    end_session(sess, END_REFUSED, 0);
}

/* The first backend, by the listener's order among those in service. */
static void
choose_backend(lb_session_t *sess)
{
    lb_lctx_t *lc = sess->lc;
    long first = lb_health_pick(&lc->health, lc->rr, &sess->client_addr,
                                lb_loop_now(lc->srv->loop));

    if (first < 0) {
        refuse_full(sess);
        return;
    }
    sess->backend_idx = (size_t)first;
    try_backend(sess);
}

/* ---- the client's PROXY header (accept_proxy) ---- */

/* The header for the backend (send_proxy), built before the first connect
 * and kept until written: from the client's own header when it named the
 * addresses (chaining), else from the connection. */
static int
prepare_header(lb_session_t *sess, const lb_pp_header_t *hdr)
{
    int version = sess->lc->cfg->send_proxy;
    const lb_addr_t *dst;
    lb_addr_t local;

    if (version == 0)
        return 0;
    dst = hdr != NULL && hdr->has_addr ? &hdr->dst : &local;
    if (dst == &local && lb_stream_local(sess->client, &local) != 0)
        local.len = 0; /* sent as UNKNOWN (v1) or LOCAL (v2) */
    sess->pp.data = malloc(LB_PP_BUILD_MAX);
    if (sess->pp.data == NULL)
        return LB_ENOMEM;
    sess->pp.len = lb_pp_build(version, &sess->client_addr, dst,
                               sess->pp.data);
    return 0;
}

/* The client is known: sess->client_addr is what its PROXY header said,
 * if the listener expects one, else its peer address. (Allow and deny
 * lists belong here.) Then a backend. */
static void
admit(lb_session_t *sess, const lb_pp_header_t *hdr)
{
    if (prepare_header(sess, hdr) != 0) {
        lb_log_error("out of memory: dropping a connection on %s",
                     sess->lc->cfg->listen_label);
        end_session(sess, END_ERROR, 1);
        return;
    }
    choose_backend(sess);
}

/* Logged at most once a second per listener: a client that speaks no
 * PROXY protocol could otherwise fill the log. */
static void
header_failed(lb_session_t *sess, const char *why)
{
    lb_lctx_t *lc = sess->lc;
    uint64_t now = lb_loop_now(lc->srv->loop);
    char client[LB_ADDRSTRLEN];

    if (now - lc->last_proxy_log >= 1000) {
        lc->last_proxy_log = now;
        client_label(sess, client, sizeof(client));
        lb_log_error("No valid PROXY header from %s on %s (%s); closing the "
                     "connection", client, lc->cfg->listen_label, why);
    }
    end_session(sess, END_PROXY, 0);
}

static double
header_timeout(const lb_session_t *sess)
{
    double t = sess->lc->cfg->connect_timeout;

    return t > 0 ? t : PROXY_TIMEOUT_S;
}

static void
header_timed_out(lb_session_t *sess)
{
    char why[64];

    snprintf(why, sizeof(why), "none complete within %.1f s",
             header_timeout(sess));
    header_failed(sess, why);
}

/* The read's bytes after its first `used` (the end of the header) are
 * client data: kept in the read's buffer until the backend is up. */
static void
keep_rest(lb_session_t *sess, char *buf, size_t n, size_t used)
{
    if (used >= n) {
        lb_bufpool_put(server(sess)->pool, buf);
        return;
    }
    memmove(buf, buf + used, n - used);
    sess->buf[UP] = buf;
    sess->held = (uint32_t)(n - used);
}

static void
header_done(lb_session_t *sess, const lb_pp_header_t *hdr)
{
    lb_pp_buf_free(&sess->pp);
    sess->pp_wait = 0;
    lb_timer_stop(&sess->timer);
    if (hdr->has_addr)
        sess->client_addr = hdr->src;
    admit(sess, hdr);
}

static void on_header_read(lb_stream_t *s, long nread, char *buf);

static void
read_header(lb_session_t *sess)
{
    if (lb_stream_read(sess->client, on_header_read) != 0)
        end_session(sess, END_ERROR, 1);
}

static void
on_header_read(lb_stream_t *s, long nread, char *buf)
{
    lb_session_t *sess = lb_stream_data(s);
    lb_pp_header_t hdr;
    size_t used = 0;
    long rc;

    if (nread <= 0) {
        header_failed(sess, nread == LB_EOF ? "closed before a complete "
                                              "header"
                                            : lb_strerror((int)nread));
        return;
    }
    rc = lb_pp_feed(&sess->pp, buf, (size_t)nread, &hdr, &used);
    if (rc > 0)
        keep_rest(sess, buf, (size_t)nread, used);
    else
        lb_bufpool_put(server(sess)->pool, buf);
    if (rc > 0)
        header_done(sess, &hdr);
    else if (rc == LB_PP_NEED_MORE)
        read_header(sess);
    else
        header_failed(sess, lb_pp_strerror(rc));
}

static void
expect_header(lb_session_t *sess)
{
    sess->pp_wait = 1;
    lb_timer_start(&sess->timer,
                   (uint64_t)(header_timeout(sess) * 1000.0 + 0.5));
    read_header(sess);
}

void
lb_session_start(lb_lctx_t *lc, lb_stream_t *client, const lb_addr_t *peer)
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
    sess->client_addr = *peer;
    lb_timer_init(srv->loop, &sess->timer, on_timer, sess);
    sess->next = srv->sessions;
    if (srv->sessions)
        srv->sessions->prev = sess;
    srv->sessions = sess;
    srv->active++;
    lc->active++;
    lb_stats_active(lc, 1);
    sess->started = lb_loop_now(srv->loop);
    if (lc->cfg->accept_proxy)
        expect_header(sess);
    else
        admit(sess, NULL);
}
