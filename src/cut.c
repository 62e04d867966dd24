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

/* Whether anything can ask g's connections to be cut. */
static int
can_cut(const lb_server_t *srv, const lb_group_t *g)
{
    return srv->cfg->stats.admin_token != NULL ||
           g->cfg->health.check.on_down == LB_CHECK_ON_DOWN_SHUTDOWN;
}

static void
look(lb_group_t *g, size_t b, uint64_t now)
{
    int64_t cut = lb_atomic_load(&g->health.state[b].cut_at);
    int maint;
    size_t n;

    if (cut == 0 || cut == g->cut_seen[b] || (int64_t)now < cut)
        return;
    g->cut_seen[b] = cut;
    maint = lb_atomic_load(&g->health.state[b].admin) == LB_ADMIN_MAINT;
    n = lb_session_cut_backend(g, b, (uint64_t)cut, maint);
    if (n > 0)
        lb_log("Backend %s of %s: reset %lu open connection(s) of worker "
               "%ld (%s)", g->cfg->backends[b].label, g->cfg->listen_label,
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

        for (size_t k = 0; k < sl->ngroups; k++) {
            lb_group_t *g = &sl->groups[k];

            for (size_t b = 0; g->cut_seen && b < g->cfg->nbackends; b++)
                look(g, b, now);
        }
    }
    lb_timer_start(t, CUT_CHECK_MS);
}

void
lb_cut_init(lb_server_t *srv)
{
    lb_timer_init(srv->loop, &srv->cut_timer, on_timer, srv);
}

/* g's memory of cuts. One that came before this worker began is no
 * concern of its (it holds no connection from then); one still to come
 * is. */
static int
watch(lb_server_t *srv, lb_group_t *g)
{
    size_t n = g->cfg->nbackends;

    g->cut_seen = calloc(n ? n : 1, sizeof(*g->cut_seen));
    if (g->cut_seen == NULL)
        return LB_ENOMEM;
    for (size_t b = 0; b < n; b++) {
        int64_t cut = lb_atomic_load(&g->health.state[b].cut_at);

        if (cut <= (int64_t)lb_loop_now(srv->loop))
            g->cut_seen[b] = cut;
    }
    return 0;
}

int
lb_cut_start(lb_server_t *srv)
{
    int any = 0;

    for (size_t i = 0; i < srv->nserved; i++) {
        lb_served_listener_t *sl = &srv->served[i];

        for (size_t k = 0; k < sl->ngroups; k++) {
            if (!can_cut(srv, &sl->groups[k]))
                continue;
            if (watch(srv, &sl->groups[k]) != 0)
                return LB_ENOMEM;
            any = 1;
        }
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
        lb_served_listener_t *sl = &srv->served[i];

        for (size_t k = 0; sl->groups && k < sl->ngroups; k++) {
            free(sl->groups[k].cut_seen);
            sl->groups[k].cut_seen = NULL;
        }
    }
}
