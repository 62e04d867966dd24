/* session_inspect.c - a client's first bytes, read before its backends
 * are chosen, on a listener with routes or persist = rdp_cookie: the
 * server name of a TLS ClientHello picks a route, an RDP Connection
 * Request's cookie or routing token a backend. Nothing is answered or
 * changed: every byte read is held and relayed first, unchanged
 * (session_proxy.c). Bounded by inspect_timeout and LB_INSPECT_MAX
 * bytes; when either runs out, or the bytes are neither TLS nor RDP, or
 * name nothing, the listener's own backends take the client with what
 * came. Other listeners never come here: no read, no call. */
#include <stdlib.h>
#include <string.h>

#include "lb_inspect.h"
#include "session_internal.h"

static void on_inspect_read(lb_stream_t *s, long nread, char *buf);

/* The listener's backend an RDP routing token names (IPv4 address and
 * port, as an RD Connection Broker writes it), or -1. Backends whose
 * name is looked up per connection cannot be matched. */
static long
token_backend(const lb_listener_cfg_t *l, const lb_inspect_t *r)
{
    lb_addr_t a;

    if (lb_addr_from_ip(r->ip, 4, r->port, &a) != 0)
        return -1;
    for (size_t i = 0; i < l->nbackends; i++)
        if (l->backends[i].resolved && lb_addr_equal(&l->backends[i].addr, &a))
            return (long)i;
    return -1;
}

/* A user's cookie: the backend it last went to, if it still may; a
 * token: the backend it names. */
static void
rdp_choice(lb_session_t *sess, const lb_inspect_t *r)
{
    lb_served_listener_t *sl = sess->sl;

    if (r->kind == LB_RDP_ROUTING_TOKEN) {
        sess->opt->prefer = token_backend(sl->cfg, r);
        return;
    }
    sess->opt->persist_key = lb_table_key(r->value, strlen(r->value));
    sess->opt->prefer = lb_persist_get(sl->persist, sess->opt->persist_key,
                                  sl->cfg->persist_timeout_ms,
                                  lb_loop_now(server(sess)->loop));
}

/* What data[0..len) tells: 1 with *g set once known (the listener's own
 * backends unless a route's name came), 0 when more bytes are needed
 * (sess->opt->need of them before another look). Both inspectors may run: a
 * TLS hello and an RDP request differ from the first byte. */
static int
look(lb_session_t *sess, const unsigned char *data, size_t len,
     lb_group_t **g)
{
    lb_served_listener_t *sl = sess->sl;
    const lb_listener_cfg_t *l = sl->cfg;
    lb_inspect_t r;
    size_t need = 0;
    long k;

    *g = &sl->groups[0];
    if (l->nroutes > 0) {
        lb_inspect_tls(data, len, &r);
        if (r.status == LB_INSPECT_FOUND &&
            (k = lb_route_find(sl->srv->cfg, l, r.value)) >= 0)
            *g = &sl->groups[1 + k];
        if (r.status == LB_INSPECT_FOUND || r.status == LB_INSPECT_NONE)
            return 1;
        if (r.status == LB_INSPECT_MORE)
            need = r.need;
    }
    if (l->persist != LB_PERSIST_NONE) {
        lb_inspect_rdp(data, len, &r);
        if (r.status == LB_INSPECT_FOUND)
            rdp_choice(sess, &r);
        if (r.status == LB_INSPECT_FOUND || r.status == LB_INSPECT_NONE)
            return 1;
        if (r.status == LB_INSPECT_MORE && (need == 0 || r.need < need))
            need = r.need;
    }
    if (need == 0)
        return 1; /* neither TLS nor RDP */
    sess->opt->need = (uint32_t)need;
    return 0;
}

static void
decided(lb_session_t *sess, lb_group_t *g)
{
    lb_session_opt_t *o = sess->opt;

    sess->inspecting = 0;
    lb_timer_stop(&sess->timer);
    lb__session_route(sess, g, o->has_dst ? &o->dst : NULL);
}

/* No more bytes will be looked at (the time is up, the client sent FIN):
 * what came decides, and an unfinished hello names nothing. */
static void
decide_now(lb_session_t *sess)
{
    lb_group_t *g = &sess->sl->groups[0];

    if (sess->opt->ilen > 0 && sess->opt->ilen >= sess->opt->need)
        (void)look(sess, (const unsigned char *)sess->opt->ibuf, sess->opt->ilen, &g);
    decided(sess, g);
}

static void
read_more(lb_session_t *sess)
{
    sess->read_pending = 1;
    if (lb_stream_read(sess->client, on_inspect_read) != 0) {
        sess->read_pending = 0;
        lb__session_end(sess, END_ERROR, 1);
    }
}

/* Adds a read's n bytes (in buf, a relay buffer) to ibuf, which grows to
 * what the inspectors said they need, never past LB_INSPECT_MAX; bytes
 * beyond that stay in buf, held for the backend after ibuf's. */
static int
gather(lb_session_t *sess, char *buf, size_t n)
{
    size_t want = sess->opt->ilen + n, take;

    if (want > LB_INSPECT_MAX)
        want = LB_INSPECT_MAX;
    if (want < sess->opt->need)
        want = sess->opt->need;
    if (want > sess->opt->icap) {
        char *grown = realloc(sess->opt->ibuf, want);

        if (grown == NULL) {
            lb_bufpool_put(server(sess)->pool, buf);
            return LB_ENOMEM;
        }
        sess->opt->ibuf = grown;
        sess->opt->icap = (uint32_t)want;
    }
    take = n < LB_INSPECT_MAX - sess->opt->ilen ? n : LB_INSPECT_MAX - sess->opt->ilen;
    memcpy(sess->opt->ibuf + sess->opt->ilen, buf, take);
    sess->opt->ilen += (uint32_t)take;
    if (take == n) {
        lb_bufpool_put(server(sess)->pool, buf);
        return 0;
    }
    memmove(buf, buf + take, n - take);
    sess->buf[TO_BACKEND] = buf;
    sess->held = (uint32_t)(n - take);
    return 0;
}

/* One read's n bytes, in buf. The usual hello comes whole in the first
 * read: then it is looked at where it is and held as it is, with no copy;
 * one that comes in pieces gathers in ibuf. */
static void
feed(lb_session_t *sess, char *buf, size_t n)
{
    lb_group_t *g;

    if (sess->opt->ibuf == NULL &&
        look(sess, (const unsigned char *)buf, n, &g)) {
        sess->buf[TO_BACKEND] = buf;
        sess->held = (uint32_t)n;
        decided(sess, g);
        return;
    }
    if (gather(sess, buf, n) != 0) {
        lb_log_error("out of memory: dropping a connection on %s",
                     sess->sl->cfg->listen_label);
        lb__session_end(sess, END_ERROR, 1);
        return;
    }
    if (sess->opt->ilen >= sess->opt->need &&
        look(sess, (const unsigned char *)sess->opt->ibuf, sess->opt->ilen, &g))
        decided(sess, g);
    else if (sess->opt->ilen == LB_INSPECT_MAX)
        decided(sess, &sess->sl->groups[0]); /* longer than a hello */
    else
        read_more(sess);
}

/* The time ran out with this read still out: its bytes are the relay's,
 * now or once the bytes before them are with the backend. */
static void
late_read(lb_session_t *sess, long nread, char *buf)
{
    if (sess->state[TO_BACKEND] == H_READING) {
        lb__session_on_read(sess->client, nread, buf);
    } else if (nread > 0) {
        sess->buf[TO_BACKEND] = buf;
        sess->held = (uint32_t)nread;
    } else if (sess->queued) {
        lb__session_queue_left(sess); /* as the queue's watch would */
    } else if (nread == LB_EOF) {
        sess->client_eof = 1;
    } else {
        lb__session_end(sess, END_CLIENT_RESET, 1);
    }
}

static void
on_inspect_read(lb_stream_t *s, long nread, char *buf)
{
    lb_session_t *sess = lb_stream_data(s);

    sess->read_pending = 0;
    if (!sess->inspecting) {
        late_read(sess, nread, buf);
    } else if (nread > 0) {
        feed(sess, buf, (size_t)nread);
    } else if (nread == LB_EOF) {
        sess->client_eof = 1; /* passed on after the bytes that came */
        decide_now(sess);
    } else {
        lb__session_end(sess, END_CLIENT_RESET, 1);
    }
}

void
lb__session_inspect(lb_session_t *sess)
{
    char *buf = sess->buf[TO_BACKEND];
    size_t n = sess->held;

    sess->inspecting = 1;
    sess->opt->need = 1;
    lb_timer_start(&sess->timer, (uint64_t)sess->sl->cfg->inspect_timeout_ms);
    if (n == 0) {
        read_more(sess);
        return;
    }
    /* What came with a PROXY header is the first of these bytes. */
    sess->buf[TO_BACKEND] = NULL;
    sess->held = 0;
    feed(sess, buf, n);
}

void
lb__session_inspect_timed_out(lb_session_t *sess)
{
    decide_now(sess);
}

void
lb__session_first_read(lb_session_t *sess)
{
    if (sess->client_eof)
        lb__session_source_ended(sess, TO_BACKEND);
    else if (sess->read_pending)
        sess->state[TO_BACKEND] = H_READING; /* it delivers to the relay */
    else
        lb__session_read(sess, TO_BACKEND);
}
