/* session_queue.c - a queue instead of a refusal (queue_timeout,
 * max_queue): a client that finds every backend full (max_conns) or
 * taken out by the admin waits, unread, for a slot, first come first
 * served, up to queue_timeout; then it is reset and its line says
 * end=queue_timeout. A queued client holds what an idle connection holds
 * (its session and socket, no buffer), and one that goes away is noticed
 * with nothing read (lb_stream_watch) and dropped.
 *
 * The queue is the listener's, whatever group (own backends or a
 * route's) a client waits for: a client of a full route holds up those
 * behind it, the order stays first come, first served. Each worker keeps
 * its own queue in arrival order; the shared block
 * holds each worker's count and the ticket of its oldest client, so a
 * worker serves its oldest only when no other worker has an older one,
 * and a newcomer waits behind every client waiting anywhere. A slot that
 * frees in this worker is offered at once; one that frees elsewhere (or
 * a backend the admin readies, or a larger max_conns) is seen by a poll
 * every QUEUE_POLL_MS while clients wait. */
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

/* The oldest ticket waiting in any worker, or 0. */
static int64_t
oldest(const lb_served_listener_t *sl)
{
    lb_listener_counters_t *c = counters(sl);
    int64_t best = 0;

    for (unsigned s = 0; s < nslots(sl); s++) {
        int64_t t = lb_atomic_load(&c->queue_head[s]);

        if (t > 0 && (best == 0 || t < best))
            best = t;
    }
    return best;
}

static lb_session_t *
head(lb_served_listener_t *sl)
{
    return lb_list_empty(&sl->queue)
               ? NULL
               : LB_LIST_ENTRY(sl->queue.next, lb_session_opt_t, qlink)->self;
}

/* This worker's oldest, for the others to see. */
static void
publish_head(lb_served_listener_t *sl)
{
    lb_session_t *h = head(sl);

    lb_atomic_store(&counters(sl)->queue_head[slot(sl)],
                    h ? (int64_t)h->opt->ticket : 0);
}

int
lb__queue_waiting(const lb_served_listener_t *sl)
{
    return sl->cfg->queue_timeout_ms > 0 &&
           (!lb_list_empty(&sl->queue) || waiting(sl) > 0);
}

void
lb__session_unqueue(lb_session_t *sess)
{
    lb_served_listener_t *sl = sess->sl;

    if (!sess->queued)
        return;
    sess->queued = 0;
    lb_list_remove(&sess->opt->qlink);
    lb_atomic_add(&counters(sl)->queued[slot(sl)], -1);
    publish_head(sl);
    if (lb_list_empty(&sl->queue))
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
    lb_list_push(&sl->queue, &sess->opt->qlink);
    lb_atomic_add(&c->queued[slot(sl)], 1);
    publish_head(sl);
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

/* The oldest waiting clients of this worker get the slots there are, as
 * long as no other worker has an older one. */
static void
serve_queue(lb_served_listener_t *sl)
{
    lb_session_t *sess;
    uint64_t now = lb_loop_now(sl->srv->loop);

    while ((sess = head(sl)) != NULL &&
           (int64_t)sess->opt->ticket == oldest(sl)) {
        lb_group_t *g = sess->group;
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
    if (head(sl) != NULL)
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
    if (head(sl) != NULL)
        lb_timer_start(&sl->queue_timer, 0); /* not under a caller's feet */
}

void
lb_queue_init(lb_served_listener_t *sl)
{
    lb_list_init(&sl->queue);
    lb_timer_init(sl->srv->loop, &sl->queue_timer, on_queue_timer, sl);
    /* What a dead predecessor in this slot left. */
    lb_atomic_store(&counters(sl)->queued[slot(sl)], 0);
    lb_atomic_store(&counters(sl)->queue_head[slot(sl)], 0);
}
