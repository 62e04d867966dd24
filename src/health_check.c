/* health_check.c - active health checks: every check_interval, a connect
 * to each backend of a group (a listener's own backends, or a route's; or
 * to check_address / check_port), then,
 * if the config says so, a request (check_send, or check_http's GET) and
 * the reply judged (check_expect, check_expect_re, the HTTP status:
 * check_reply.c); rise passes in a row bring a backend back, fall
 * failures take it out (lb_health_checked). One worker per listener
 * (slot 0) checks; the verdict and the last result are shared. A check is
 * no client: it is in neither the connection log nor the counters. */
#include <stdlib.h>
#include <string.h>

#include "lb_log.h"
#include "lb_server.h"

struct lb_check_s {
    lb_group_t *g;
    size_t idx;
    lb_timer_t timer;   /* the next check, or this one's timeout */
    lb_stream_t *stream;
    lb_resolve_t *resolve;
    int running;
    uint64_t started;   /* loop ms this check began */
    /* What it sends, made once: a closed stream may still hold it until
     * its close callback (IOCP), so it lives as long as the checks. */
    char *request;
    size_t request_len;
    char *reply;        /* LB_CHECK_MAX_REPLY bytes, while reading */
    size_t reply_len;
    lb_check_streak_t streak;
};

static const lb_check_cfg_t *
words(const lb_check_t *c)
{
    return &c->g->cfg->health.check;
}

/* Milliseconds one check may take: check_timeout, else connect_timeout,
 * and never past the next check. */
static uint64_t
timeout_ms(const lb_listener_cfg_t *cfg)
{
    int64_t interval = cfg->health.check_interval_ms;
    int64_t t = cfg->health.check_timeout_ms;

    if (t <= 0)
        t = cfg->connect_timeout_ms;
    if (t <= 0 || t > interval)
        t = interval;
    return (uint64_t)t;
}

static void
on_closed(lb_stream_t *s)
{
    lb_check_t *c = lb_stream_data(s);

    lb_server_check_closed(c->g->sl->srv);
}

/* A check's outcome: passed, failed, or none because this host ran out
 * of something (lb_health_local_error): the streak stays as it was. */
enum { CHECK_FAILED = 0, CHECK_PASSED = 1, CHECK_NO_VERDICT = 2 };

static int
verdict(int status)
{
    if (status == 0)
        return CHECK_PASSED;
    return lb_health_local_error(status) ? CHECK_NO_VERDICT : CHECK_FAILED;
}

static void
release(lb_check_t *c)
{
    free(c->reply);
    c->reply = NULL;
    c->reply_len = 0;
}

/* Ends the running check with its verdict (reason: why it failed) and
 * plans the next. */
static void
finish(lb_check_t *c, int outcome, int reason)
{
    lb_health_t *h = &c->g->health;
    uint64_t now = lb_loop_now(c->g->sl->srv->loop);

    if (c->resolve) {
        lb_resolve_cancel(c->resolve);
        c->resolve = NULL;
    }
    if (c->stream) {
        lb_stream_close(c->stream, LB_CLOSE_NORMAL, on_closed);
        c->stream = NULL;
    }
    release(c);
    c->running = 0;
    if (outcome != CHECK_NO_VERDICT) {
        lb_health_check_result(h, c->idx, outcome == CHECK_PASSED,
                               outcome == CHECK_PASSED ? LB_CHECK_OK
                                                       : reason,
                               now - c->started);
        lb_health_checked(h, c->idx, outcome == CHECK_PASSED, &c->streak,
                          now);
    }
    lb_timer_start(&c->timer, (uint64_t)c->g->cfg->health.check_interval_ms);
}

/* ---- the reply ---- */

static void on_read(lb_stream_t *s, long nread, char *buf);

static void
judge(lb_check_t *c, int eof)
{
    int reason, v = lb_check_judge(words(c), c->reply, c->reply_len,
                                   eof || c->reply_len == LB_CHECK_MAX_REPLY,
                                   &reason);

    if (v == LB_CHECK_PASS)
        finish(c, CHECK_PASSED, LB_CHECK_OK);
    else if (v == LB_CHECK_FAIL)
        finish(c, CHECK_FAILED, reason);
    else if (lb_stream_read(c->stream, on_read) != 0)
        finish(c, CHECK_NO_VERDICT, LB_CHECK_OK);
}

static void
on_read(lb_stream_t *s, long nread, char *buf)
{
    lb_check_t *c = lb_stream_data(s);
    size_t room = LB_CHECK_MAX_REPLY - c->reply_len;

    if (nread <= 0) {
        judge(c, 1); /* an end or a reset: what came is all there is */
        return;
    }
    if ((size_t)nread < room)
        room = (size_t)nread;
    memcpy(c->reply + c->reply_len, buf, room);
    c->reply_len += room;
    lb_bufpool_put(c->g->sl->srv->pool, buf);
    judge(c, 0);
}

static void
read_reply(lb_check_t *c)
{
    c->reply = malloc(LB_CHECK_MAX_REPLY);
    if (c->reply == NULL || lb_stream_read(c->stream, on_read) != 0)
        finish(c, CHECK_NO_VERDICT, LB_CHECK_OK);
}

/* ---- the request ---- */

static void
on_written(lb_stream_t *s, int status)
{
    lb_check_t *c = lb_stream_data(s);

    if (status < 0)
        finish(c, CHECK_FAILED, LB_CHECK_E_SEND);
    else if (lb_check_reads(words(c)))
        read_reply(c);
    else
        finish(c, CHECK_PASSED, LB_CHECK_OK);
}

/* The name a Host header carries: check_address, else the backend's. */
static const char *
host_of(const lb_check_t *c)
{
    const lb_backend_cfg_t *b = &c->g->cfg->backends[c->idx];

    if (words(c)->address != NULL)
        return words(c)->address;
    return strncmp(b->label, "unix:", 5) == 0 ? "localhost" : b->host;
}

static uint16_t
port_of(const lb_check_t *c)
{
    int port = words(c)->port;

    return port > 0 ? (uint16_t)port : c->g->cfg->backends[c->idx].port;
}

static void
on_connected(lb_stream_t *s, int status)
{
    lb_check_t *c = lb_stream_data(s);

    if (status != 0)
        finish(c, verdict(status), LB_CHECK_E_CONNECT);
    else if (c->request != NULL &&
             lb_stream_write(s, c->request, c->request_len, on_written) != 0)
        finish(c, CHECK_FAILED, LB_CHECK_E_SEND);
    else if (c->request == NULL && lb_check_reads(words(c)))
        read_reply(c); /* a server that speaks first: SMTP's banner */
    else if (c->request == NULL)
        finish(c, CHECK_PASSED, LB_CHECK_OK);
}

/* ---- connecting ---- */

static void
connect_to(lb_check_t *c, const lb_addr_t *addr)
{
    lb_server_t *srv = c->g->sl->srv;
    int rc = lb_stream_connect(srv->loop, addr, on_connected, c, &c->stream);

    if (rc != 0) {
        c->stream = NULL;
        finish(c, verdict(rc), LB_CHECK_E_CONNECT);
        return;
    }
    srv->check_streams++;
}

static void
on_resolved(lb_resolve_t *req, int status, const lb_addr_t *addr,
            void *data)
{
    lb_check_t *c = data;
    (void)req;

    c->resolve = NULL;
    if (status < 0)
        finish(c, verdict(status), LB_CHECK_E_CONNECT);
    else
        connect_to(c, addr);
}

static void
start(lb_check_t *c)
{
    const lb_backend_cfg_t *b = &c->g->cfg->backends[c->idx];
    int rc;

    c->running = 1;
    c->started = lb_loop_now(c->g->sl->srv->loop);
    lb_timer_start(&c->timer, timeout_ms(c->g->cfg));
    if (b->check_resolved) {
        connect_to(c, &b->check_addr);
        return;
    }
    /* pre_resolve_workers = 0: the check follows DNS as clients do. */
    rc = lb_resolve_start(c->g->sl->srv->loop, host_of(c), port_of(c),
                          on_resolved, c, &c->resolve);
    if (rc != 0) {
        c->resolve = NULL;
        finish(c, verdict(rc), LB_CHECK_E_CONNECT);
    }
}

static void
on_timer(lb_timer_t *t)
{
    lb_check_t *c = t->data;

    if (c->running)
        finish(c, CHECK_FAILED, LB_CHECK_E_TIMEOUT);
    else
        start(c);
}

/* "a connect", or what the check says and expects, for the start line. */
static const char *
kind(const lb_check_cfg_t *w)
{
    if (w->http_path)
        return "an HTTP request";
    if (w->expect || w->expect_re)
        return w->send ? "a request and its reply" : "a greeting";
    return w->send ? "a connect and a request" : "a connect";
}

int
lb_checks_start(lb_group_t *g)
{
    const lb_listener_cfg_t *cfg = g->cfg;
    lb_server_t *srv = g->sl->srv;
    size_t n = cfg->nbackends;

    if (cfg->health.check_interval_ms <= 0 || srv->slot != 0 || n == 0)
        return 0;
    g->checks = calloc(n, sizeof(*g->checks));
    if (g->checks == NULL)
        return LB_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        lb_check_t *c = &g->checks[i];

        c->g = g;
        c->idx = i;
        c->request = lb_check_request(words(c), host_of(c), port_of(c),
                                      &c->request_len);
        if (c->request == NULL && c->request_len > 0)
            return LB_ENOMEM; /* the caller frees the checks */
        lb_timer_init(srv->loop, &c->timer, on_timer, c);
        /* Spread over the first interval rather than all at once. */
        lb_timer_start(&c->timer,
                       (uint64_t)cfg->health.check_interval_ms * i / n);
    }
    lb_log("Health checks for %s: %s every %.1f s (timeout %.1f s, "
           "rise %d, fall %d)", cfg->listen_label, kind(&cfg->health.check),
           (double)cfg->health.check_interval_ms / 1000.0,
           (double)timeout_ms(cfg) / 1000.0, cfg->health.rise,
           cfg->health.fall);
    return 0;
}

void
lb_checks_stop(lb_group_t *g)
{
    if (g->checks == NULL)
        return;
    for (size_t i = 0; i < g->cfg->nbackends; i++) {
        lb_check_t *c = &g->checks[i];

        lb_timer_stop(&c->timer);
        if (c->resolve)
            lb_resolve_cancel(c->resolve);
        c->resolve = NULL;
        if (c->stream)
            lb_stream_close(c->stream, LB_CLOSE_NORMAL, on_closed);
        c->stream = NULL;
        release(c);
        c->running = 0;
    }
}

void
lb_checks_free(lb_group_t *g)
{
    for (size_t i = 0; g->checks && i < g->cfg->nbackends; i++) {
        free(g->checks[i].request);
        free(g->checks[i].reply);
    }
    free(g->checks);
    g->checks = NULL;
}
