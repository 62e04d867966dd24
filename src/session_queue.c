/* session_queue.c - a queue instead of a refusal (queue_timeout,
 * max_queue): a client that finds every backend full (max_conns) or
 * taken out by the admin waits, unread, for a slot, first come first
 * served, up to queue_timeout; then it is reset and its line says
 * end=queue_timeout. A queued client holds what an idle connection holds
 * (its session and socket, no buffer), and one that goes away is noticed
 * with nothing read (lb_stream_watch) and dropped.
 *
 * First come, first served among the clients that want the same slots:
 * each group of backends (a listener's own, a route's) has its queue, so
 * a route that is full or taken out by the admin holds up its own
 * clients, never those of the listener's other routes, whose backends
 * may be idle. max_queue and the statistics count the listener's. Each
 * worker keeps its queues in arrival order; the shared block holds each
 * worker's count per listener and, per group, the ticket of its oldest
 * client, so a worker serves its oldest only when no other worker has an
 * older one for that group, and a newcomer waits behind every client
 * waiting for its group anywhere. A slot that frees in this worker is
 * offered at once; one that frees elsewhere (or a backend the admin
 * readies, or a larger max_conns) is seen by a poll every QUEUE_POLL_MS
 * while clients wait. */
#include "lb_log.h"
#include "session_internal.h"

#define QUEUE_POLL_MS 20

static lb_listener_counters_t *
counters(const lb_served_listener_t *sl)
{
    size_t li = (size_t)(sl->cfg - sl->srv->cfg->listeners);

    return &sl->srv->shared->counters[li];
}

static unsigned
slot(const lb_served_listener_t *sl)
{
    return sl->srv->slot < LB_MAX_PROCESSES ? sl->srv->slot : 0;
}

static unsigned
nslots(const lb_served_listener_t *sl)
{
    unsigned n = sl->srv->shared->processes;

    return n < LB_MAX_PROCESSES ? n : LB_MAX_PROCESSES;
}

/* Clients waiting over every worker. */
static int64_t
waiting(const lb_served_listener_t *sl)
{
    lb_listener_counters_t *c = counters(sl);
    int64_t n = 0;

    for (unsigned s = 0; s < nslots(sl); s++)
        n += lb_atomic_load(&c->queued[s]);
    return n;
}

static lb_atomic_t *
heads(const lb_group_t *g)
{
    return g->sl->srv->shared->queue_head[g->cfg->group];
}

/* The oldest ticket waiting for g in any worker, or 0. */
static int64_t
oldest(const lb_group_t *g)
{
    lb_atomic_t *h = heads(g);
    int64_t best = 0;

    for (unsigned s = 0; s < nslots(g->sl); s++) {
        int64_t t = lb_atomic_load(&h[s]);

        if (t > 0 && (best == 0 || t < best))
            best = t;
    }
    return best;
}

static lb_session_t *
head(lb_group_t *g)
{
    return lb_list_empty(&g->queue)
               ? NULL
               : LB_LIST_ENTRY(g->queue.next, lb_session_opt_t, qlink)->self;
}

/* This worker's oldest for g, for the others to see. */
static void
publish_head(lb_group_t *g)
{
    lb_session_t *h = head(g);

    lb_atomic_store(&heads(g)[slot(g->sl)],
                    h ? (int64_t)h->opt->ticket : 0);
}

int
lb__queue_waiting(const lb_group_t *g)
{
    return g->sl->cfg->queue_timeout_ms > 0 &&
           (!lb_list_empty(&g->queue) || oldest(g) > 0);
}

void
lb__session_unqueue(lb_session_t *sess)
{
    lb_served_listener_t *sl = sess->sl;

    if (!sess->queued)
        return;
    sess->queued = 0;
    lb_list_remove(&sess->opt->qlink);
    sl->queued--;
    lb_atomic_add(&counters(sl)->queued[slot(sl)], -1);
    publish_head(sess->group);
    if (sl->queued == 0)
        lb_timer_stop(&sl->queue_timer);
}

/* The client closed or reset while it waited (its bytes, if it sent
 * some, stay unread; then nothing more is watched). After its turn came,
 * the relay finds out by itself. */
void
lb__session_queue_left(lb_session_t *sess)
{
    lb_atomic_add(&counters(sess->sl)->queue_left, 1);
    lb__session_unqueue(sess);
    lb__session_end(sess, END_QUEUE_LEFT, 0);
}

static void
on_watch(lb_stream_t *s, int status)
{
    lb_session_t *sess = lb_stream_data(s);

    if (!sess->queued || status == 0)
        return;
    lb__session_queue_left(sess);
}

void
lb__session_queue_timed_out(lb_session_t *sess)
{
    lb_atomic_add(&counters(sess->sl)->queue_timeouts, 1);
    lb__session_unqueue(sess);
    lb__session_end(sess, END_QUEUE_TIMEOUT, 1);
}

void
lb__session_enqueue(lb_session_t *sess)
{
    lb_served_listener_t *sl = sess->sl;
    lb_listener_counters_t *c = counters(sl);

    if (sl->cfg->max_queue > 0 && waiting(sl) >= sl->cfg->max_queue) {
        lb__session_refuse(sess, "its queue is full (max_queue)");
        return;
    }
    /* The session has its opt: listeners with a queue allocate it. */
    sess->opt->self = sess;
    sess->opt->ticket = (uint64_t)lb_atomic_add(&c->queue_ticket, 1);
    sess->opt->queued_at = lb_loop_now(sl->srv->loop);
    sess->queued = 1;
    lb_list_push(&sess->group->queue, &sess->opt->qlink);
    sl->queued++;
    lb_atomic_add(&c->queued[slot(sl)], 1);
    publish_head(sess->group);
    lb_timer_start(&sess->timer, (uint64_t)sl->cfg->queue_timeout_ms);
    /* A read the inspection left out (inspect_timeout came first) holds
     * the read slot: it watches instead, holding what comes and seeing
     * the client go (session_inspect.c). */
    if (!sess->read_pending && lb_stream_watch(sess->client, on_watch) != 0) {
        lb__session_unqueue(sess);
        lb__session_end(sess, END_ERROR, 1);
        return;
    }
    if (!lb_timer_active(&sl->queue_timer))
        lb_timer_start(&sl->queue_timer, QUEUE_POLL_MS);
}

/* The oldest waiting clients of g in this worker get the slots there
 * are, as long as no other worker has an older one. */
static void
serve_group(lb_group_t *g, uint64_t now)
{
    lb_served_listener_t *sl = g->sl;
    lb_session_t *sess;

    while ((sess = head(g)) != NULL &&
           (int64_t)sess->opt->ticket == oldest(g)) {
        long b = lb_pick_backend(&g->health, g->rr, &sess->client_addr, now);

        if (b < 0)
            break;
        lb__session_unqueue(sess);
        lb_atomic_add(&counters(sl)->dequeued, 1);
        lb_atomic_add(&counters(sl)->wait_ms,
                      (int64_t)(now - sess->opt->queued_at));
        lb_timer_stop(&sess->timer);
        sess->backend_idx = (size_t)b;
        lb__session_try_backend(sess);
    }
}

static void
serve_queue(lb_served_listener_t *sl)
{
    uint64_t now = lb_loop_now(sl->srv->loop);

    for (size_t k = 0; k < sl->ngroups && sl->queued > 0; k++)
        serve_group(&sl->groups[k], now);
    if (sl->queued > 0)
        lb_timer_start(&sl->queue_timer, QUEUE_POLL_MS);
}

static void
on_queue_timer(lb_timer_t *t)
{
    serve_queue(t->data);
}

void
lb_queue_kick(lb_served_listener_t *sl)
{
    if (sl->queued > 0)
        lb_timer_start(&sl->queue_timer, 0); /* not under a caller's feet */
}

/* Each clears what a dead predecessor in this slot left. */
void
lb_queue_init(lb_served_listener_t *sl)
{
    sl->queued = 0;
    lb_timer_init(sl->srv->loop, &sl->queue_timer, on_queue_timer, sl);
    lb_atomic_store(&counters(sl)->queued[slot(sl)], 0);
}

void
lb_queue_init_group(lb_group_t *g)
{
    lb_list_init(&g->queue);
    lb_atomic_store(&heads(g)[slot(g->sl)], 0);
}
