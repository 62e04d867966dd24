/* succession.c - an in-loop reload (Windows: SERVICE_CONTROL_PARAMCHANGE):
 * a server for the new configuration takes over the loop, the buffer pool
 * and the listeners whose address is unchanged, without closing them, so
 * no client is refused; the old server drains the connections it holds
 * under its own configuration, then is freed. POSIX reloads by replacing
 * worker processes instead (posix_process.c). */
#include <stdlib.h>

#include "lb_log.h"
#include "server_internal.h"

void
lb__server_done(lb_server_t *srv)
{
    if (srv->successor != NULL) {
        /* Freed from the newest server's timer, never under the feet of
         * whoever called us. */
        srv->drained = 1;
        lb_timer_start(&srv->successor->reap_timer, 0);
        return;
    }
    if (srv->retired == NULL)
        lb_loop_stop(srv->loop);
    /* else: the loop stops once the last retired server is reaped */
}

static void
free_retired(lb_server_t *r)
{
    lb__server_free_parts(r);
    if (r->release)
        r->release(r->release_ctx);
    free(r);
}

void
lb__server_reap(lb_timer_t *t)
{
    lb_server_t *srv = t->data, **p = &srv->retired;

    while (*p != NULL) {
        lb_server_t *r = *p;

        if (!r->drained) {
            p = &r->next_retired;
            continue;
        }
        *p = r->next_retired;
        lb_log("The previous configuration's connections are done");
        free_retired(r);
    }
    if (srv->retired == NULL && srv->drain.state == LB_DRAIN_DONE)
        lb_loop_stop(srv->loop);
}

void
lb__server_reap_all(lb_server_t *srv)
{
    while (srv->retired != NULL) {
        lb_server_t *r = srv->retired;

        srv->retired = r->next_retired;
        free_retired(r);
    }
}

/* old gives way to srv: srv keeps the list of servers still draining,
 * and old starts draining (closing the listeners srv did not take). */
static void
retire(lb_server_t *old, lb_server_t *srv)
{
    srv->retired = old->retired;
    old->retired = NULL;
    for (lb_server_t *r = srv->retired; r != NULL; r = r->next_retired)
        r->successor = srv;
    old->successor = srv;
    old->next_retired = srv->retired;
    srv->retired = old;
    lb__server_stop(old, 0); /* no deadline: a reload cuts nothing */
}

int
lb_server_succeed(lb_server_t *old, const lb_config_t *cfg,
                  lb_listener_t **listeners, const lb_shared_t *shared,
                  const size_t *idx, size_t n, void *ctx,
                  void (*release)(void *), void *release_ctx)
{
    lb_server_t *srv = calloc(1, sizeof(*srv));
    int rc;

    if (srv == NULL)
        return LB_ENOMEM;
    srv->loop = old->loop;
    srv->pool = old->pool;
    lb__server_setup(srv, cfg, old->slot);
    rc = lb__server_listen(srv, listeners, shared, idx, n, old);
    if (rc != 0) {
        /* Only allocation fails before a listener changes hands. */
        lb__server_free_parts(srv);
        free(srv);
        lb_loop_on_stop(old->loop, lb__server_on_stop, old);
        lb_loop_on_reload(old->loop, lb__server_on_reload, old);
        return rc;
    }
    srv->owner = old->owner;
    old->owner = 0;
    srv->reload = old->reload;
    srv->reload_ctx = ctx;
    srv->current = old->current;
    if (srv->current)
        *srv->current = srv;
    old->release = release;
    old->release_ctx = release_ctx;
    retire(old, srv);
    return 0;
}

void
lb__server_on_reload(lb_loop_t *loop, void *data)
{
    lb_server_t *srv = data;
    (void)loop;

    if (srv->reload == NULL)
        return;
    if (srv->drain.state != LB_DRAIN_RUNNING) {
        lb_log("Reload ignored: stopping");
        return;
    }
    srv->reload(srv, srv->reload_ctx);
}
