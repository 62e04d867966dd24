/* server_reload.c - a worker's servers on its loop: the first one (made
 * with the loop and the buffer pool), and an in-loop reload (Windows:
 * each loop, with the configuration the supervisor read once after
 * SERVICE_CONTROL_PARAMCHANGE), in which a server for the new
 * configuration takes over the loop, the pool and the listeners whose
 * address is unchanged, without closing them, so no client is refused;
 * the old server drains the connections it holds under its own
 * configuration, then is freed. POSIX reloads by replacing worker
 * processes instead (posix_process.c). Calls into server.c only. */
#include <stdlib.h>
#include <string.h>

#include "lb_log.h"
#include "server_internal.h"

#define MAX_FREE_BUFFERS 1024 /* kept for reuse; the rest go back to malloc */

static void on_reload(lb_loop_t *loop, void *next, void *data);
static void reap(lb_timer_t *t);

/* A server's drain is over: the loop stops, or a retired server is freed
 * soon after. */
static void
drained(lb_server_t *srv)
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
    lb_timer_stop(&r->reap_timer);
    lb__server_free_parts(r);
    if (r->release)
        r->release(r->release_ctx);
    free(r);
}

static void
reap(lb_timer_t *t)
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

/* At the end: frees every retired server still there. */
static void
reap_all(lb_server_t *srv)
{
    while (srv->retired != NULL) {
        lb_server_t *r = srv->retired;

        srv->retired = r->next_retired;
        free_retired(r);
    }
}

static void
on_stop(lb_loop_t *loop, lb_stop_reason_t why, void *data)
{
    lb_server_t *srv = data;
    (void)loop;

    lb__server_stop(srv, why);
    /* Retired servers drain with no deadline; a stop gives them one, and a
     * second cuts them too. */
    if (why == LB_STOP_RETIRE)
        return;
    for (lb_server_t *r = srv->retired; r; r = r->next_retired)
        lb__server_stop(r, why);
}

/* Where a server on this loop takes the loop's stop and reload requests,
 * and what it does once drained. */
static void
setup(lb_server_t *srv, const lb_config_t *cfg, unsigned slot)
{
    lb__server_setup(srv, cfg, slot, drained);
    lb_timer_init(srv->loop, &srv->reap_timer, reap, srv);
    lb_loop_on_stop(srv->loop, on_stop, srv);
    lb_loop_on_reload(srv->loop, on_reload, srv);
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
    lb__server_stop(old, LB_STOP_RETIRE);
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
    setup(srv, cfg, old->slot);
    rc = lb__server_listen(srv, listeners, shared, idx, n, old);
    if (rc != 0) {
        /* Only allocation fails before a listener changes hands. */
        lb__server_free_parts(srv);
        free(srv);
        lb_loop_on_stop(old->loop, on_stop, old);
        lb_loop_on_reload(old->loop, on_reload, old);
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

static void
on_reload(lb_loop_t *loop, void *next, void *data)
{
    lb_server_t *srv = data;
    (void)loop;

    if (srv->reload == NULL)
        return;
    if (srv->drain.state != LB_DRAIN_RUNNING) {
        lb_log("Reload ignored: stopping");
        return;
    }
    srv->reload(srv, srv->reload_ctx, next);
}

int
lb_server_init(lb_server_t *srv, const lb_config_t *cfg,
               lb_listener_t **listeners, const lb_shared_t *shared,
               const size_t *idx, size_t n, unsigned slot)
{
    lb_allocator_t alloc;
    int rc;

    memset(srv, 0, sizeof(*srv));
    srv->pool = malloc(sizeof(*srv->pool));
    if (srv->pool == NULL)
        return LB_ENOMEM;
    lb_bufpool_init(srv->pool, cfg->buffer_size, MAX_FREE_BUFFERS);
    srv->owner = 1;
    alloc = lb_bufpool_allocator(srv->pool);
    rc = lb_loop_new(&srv->loop, &alloc);
    if (rc != 0)
        return rc;
    lb_log_attach(srv->loop); /* from now on log lines never wait */
    setup(srv, cfg, slot);
    return lb__server_listen(srv, listeners, shared, idx, n, NULL);
}

void
lb_server_fini(lb_server_t *srv)
{
    reap_all(srv);
    lb_timer_stop(&srv->reap_timer);
    lb__server_free_parts(srv);
    if (srv->owner) {
        lb_log_attach(NULL); /* what is buffered is written first */
        lb_loop_free(srv->loop);
        if (srv->pool)
            lb_bufpool_free(srv->pool);
        free(srv->pool);
    }
    srv->loop = NULL;
    srv->pool = NULL;
}

int
lb_server_run(const lb_config_t *cfg, lb_listener_t **listeners,
              const lb_shared_t *shared, const size_t *idx, size_t n,
              unsigned slot, lb_server_reload_fn reload, void *ctx,
              void (*release)(void *ctx))
{
    lb_server_t *srv = calloc(1, sizeof(*srv)), *current = srv;
    int rc = srv ? lb_server_init(srv, cfg, listeners, shared, idx, n, slot)
                 : LB_ENOMEM;

    if (srv) {
        srv->reload = reload;
        srv->reload_ctx = ctx;
        srv->current = &current;
    }
    if (rc == 0)
        rc = lb_loop_run(srv->loop);
    if (rc != 0)
        lb_log_error("Worker %ld failed: %s", lb_getpid(), lb_strerror(rc));
    if (current) {
        void *last = current->reload_ctx;

        lb_server_fini(current); /* the newest: frees the loop at last */
        free(current);
        if (release)
            release(last);
    }
    return rc == 0 ? LB_EXIT_OK : LB_EXIT_FAILURE;
}
