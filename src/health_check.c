/* health_check.c - active health checks: every check_interval, a TCP connect
 * to each backend of a group (a listener's own backends, or a route's),
 * ended at once; rise passes in a row bring a backend back, fall failures
 * take it out (lb_health_checked). One worker per listener (slot 0)
 * checks; the verdict is shared. */
#include <stdlib.h>

#include "lb_log.h"
#include "lb_server.h"

struct lb_check_s {
    lb_group_t *g;
    size_t idx;
    lb_timer_t timer;   /* the next check, or this one's timeout */
    lb_stream_t *stream;
    lb_resolve_t *resolve;
    int running;
    lb_check_streak_t streak;
};

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

/* Ends the running check with its verdict and plans the next. */
static void
finish(lb_check_t *c, int outcome)
{
    if (c->resolve) {
        lb_resolve_cancel(c->resolve);
        c->resolve = NULL;
    }
    if (c->stream) {
        lb_stream_close(c->stream, LB_CLOSE_NORMAL, on_closed);
        c->stream = NULL;
    }
    c->running = 0;
    if (outcome != CHECK_NO_VERDICT)
        lb_health_checked(&c->g->health, c->idx, outcome == CHECK_PASSED,
                          &c->streak);
    lb_timer_start(&c->timer, (uint64_t)c->g->cfg->health.check_interval_ms);
}

static void
on_connected(lb_stream_t *s, int status)
{
    finish(lb_stream_data(s), verdict(status));
}

static void
connect_to(lb_check_t *c, const lb_addr_t *addr)
{
    lb_server_t *srv = c->g->sl->srv;
    int rc = lb_stream_connect(srv->loop, addr, on_connected, c, &c->stream);

    if (rc != 0) {
        c->stream = NULL;
        finish(c, verdict(rc));
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
        finish(c, verdict(status));
    else
        connect_to(c, addr);
}

static void
start(lb_check_t *c)
{
    const lb_backend_cfg_t *b = &c->g->cfg->backends[c->idx];
    int rc;

    c->running = 1;
    lb_timer_start(&c->timer, timeout_ms(c->g->cfg));
    if (b->resolved) {
        connect_to(c, &b->addr);
        return;
    }
    /* pre_resolve_workers = 0: the check follows DNS as clients do. */
    rc = lb_resolve_start(c->g->sl->srv->loop, b->host, b->port,
                          on_resolved, c, &c->resolve);
    if (rc != 0) {
        c->resolve = NULL;
        finish(c, verdict(rc));
    }
}

static void
on_timer(lb_timer_t *t)
{
    lb_check_t *c = t->data;

    if (c->running)
        finish(c, CHECK_FAILED); /* no answer within check_timeout */
    else
        start(c);
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
        lb_timer_init(srv->loop, &c->timer, on_timer, c);
        /* Spread over the first interval rather than all at once. */
        lb_timer_start(&c->timer,
                       (uint64_t)cfg->health.check_interval_ms * i / n);
    }
    lb_log("Health checks for %s: a connect every %.1f s (timeout %.1f s, "
           "rise %d, fall %d)", cfg->listen_label,
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
        c->running = 0;
    }
}
