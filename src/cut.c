/* cut.c - connections cut for their backend's sake: maintenance through
 * the admin API once drain_timeout has passed, and check_on_down =
 * shutdown_sessions once the checks took the backend out. Whoever decides
 * (the statistics worker, the checking worker) stores a loop time in the
 * backend's cut_at in the shared block; every worker looks at it a few
 * times a second and resets its connections to that backend made before
 * then. A look costs an atomic load per backend, and only workers whose
 * config can ask for a cut look at all. */
#include <stdlib.h>

#include "lb_log.h"
#include "lb_server.h"

#define CUT_CHECK_MS 100

/* Whether anything can ask sl's connections to be cut. */
static int
can_cut(const lb_server_t *srv, const lb_served_listener_t *sl)
{
    return srv->cfg->stats.admin_token != NULL ||
           sl->cfg->health.check.on_down == LB_CHECK_ON_DOWN_SHUTDOWN;
}

static void
look(lb_served_listener_t *sl, size_t b, uint64_t now)
{
    int64_t cut = lb_atomic_load(&sl->health.state[b].cut_at);
    int maint;
    size_t n;

    if (cut == 0 || cut == sl->cut_seen[b] || (int64_t)now < cut)
        return;
    sl->cut_seen[b] = cut;
    maint = lb_atomic_load(&sl->health.state[b].admin) == LB_ADMIN_MAINT;
    n = lb_session_cut_backend(sl, b, (uint64_t)cut, maint);
    if (n > 0)
        lb_log("Backend %s of %s: reset %lu open connection(s) of worker "
               "%ld (%s)", sl->cfg->backends[b].label, sl->cfg->listen_label,
               (unsigned long)n, lb_getpid(),
               maint ? "maintenance: drain_timeout passed"
                     : "check_on_down = shutdown_sessions");
}

static void
on_timer(lb_timer_t *t)
{
    lb_server_t *srv = t->data;
    uint64_t now = lb_loop_now(srv->loop);

    for (size_t i = 0; i < srv->nserved; i++) {
        lb_served_listener_t *sl = &srv->served[i];

        for (size_t b = 0; sl->cut_seen && b < sl->cfg->nbackends; b++)
            look(sl, b, now);
    }
    lb_timer_start(t, CUT_CHECK_MS);
}

void
lb_cut_init(lb_server_t *srv)
{
    lb_timer_init(srv->loop, &srv->cut_timer, on_timer, srv);
}

int
lb_cut_start(lb_server_t *srv)
{
    int any = 0;
    for (size_t i = 0; i < srv->nserved; i++) {
        lb_served_listener_t *sl = &srv->served[i];

        if (!can_cut(srv, sl))
            continue;
        sl->cut_seen = calloc(sl->cfg->nbackends ? sl->cfg->nbackends : 1,
                              sizeof(*sl->cut_seen));
        if (sl->cut_seen == NULL)
            return LB_ENOMEM;
        /* A cut that came before this worker began is no concern of its:
         * it holds no connection from then. One still to come is. */
        for (size_t b = 0; b < sl->cfg->nbackends; b++) {
            int64_t cut = lb_atomic_load(&sl->health.state[b].cut_at);

            if (cut <= (int64_t)lb_loop_now(srv->loop))
                sl->cut_seen[b] = cut;
        }
        any = 1;
    }
    if (any)
        lb_timer_start(&srv->cut_timer, CUT_CHECK_MS);
    return 0;
}

void
lb_cut_free(lb_server_t *srv)
{
    lb_timer_stop(&srv->cut_timer);
    for (size_t i = 0; i < srv->nserved; i++) {
        free(srv->served[i].cut_seen);
        srv->served[i].cut_seen = NULL;
    }
}
