/* run.c - a run for one config: bind the listeners, drop privileges,
 * start workers, and reload. A reload reads and checks the whole new
 * config and binds its new addresses before anything changes, so a
 * mistake leaves the running configuration alone. A listener whose
 * address is unchanged keeps its socket: connections queue in its backlog
 * while new workers replace the old ones, so none is refused, and the old
 * workers drain what they hold. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_admin.h"
#include "lb_log.h"
#include "lb_run.h"
#include "lb_server.h"

#define LISTEN_BACKLOG 4096 /* the original's 5 dropped bursts */

typedef struct lb_run_s {
    lb_config_t cfg;
    /* Parallel to cfg.listeners, then the stats address if it is set: its
     * workers serve statistics (lb_stats.h). */
    lb_listener_t **listeners;
    lb_shared_t shared;
    /* Who uses it: the supervisor's spec while it is the newest run, and
     * each server built on it (on loops of this process, where workers
     * share one; a forked worker's copy is its own). The last frees it,
     * on whichever thread that is. */
    lb_atomic_t refs;
} lb_run_t;

static int reload(void *ctx, lb_run_spec_t *next);
static void take_over(lb_server_t *srv, void *ctx, void *next);
static void free_run(lb_run_t *run);

static void
run_ref(lb_run_t *run)
{
    lb_atomic_add(&run->refs, 1);
}

static void
run_unref(void *ctx)
{
    lb_run_t *run = ctx;

    if (lb_atomic_add(&run->refs, -1) == 0)
        free_run(run);
}

static void
log_supervisor(int is_error, const char *msg)
{
    if (is_error)
        lb_log_error("%s", msg);
    else
        lb_log("%s", msg);
}

int
lb_run_open_log(const lb_config_t *cfg)
{
    int64_t max = cfg->log_rotate_size < 0 ? LB_DEFAULT_LOG_ROTATE_SIZE
                                           : cfg->log_rotate_size;
    char err[256];

    /* A reload opens it again, which is what log rotation needs. Run as
     * root with `user`, the file becomes that user's, for the reload runs
     * as that user (logrotate's `create` then keeps the owner too). */
    if (lb_log_open_file(cfg->log_file, cfg->user, err, sizeof(err)) != 0) {
        lb_log_fatal(LB_EVENT_CONFIG_ERROR,
                     "%s: cannot open log_file '%s': %s", cfg->path,
                     cfg->log_file, err);
        return LB_EXIT_CONFIG;
    }
    if (lb_log_rotate_at((uint64_t)max) == LB_ENOTSUP &&
        cfg->log_rotate_size > 0)
        lb_log_error("warning: %s: log_rotate_size has nothing to rotate "
                     "here: it rotates log_file and the service log on "
                     "Windows; elsewhere logrotate does (see "
                     "pumpkinlb.cfg(5), LOGS)", cfg->path);
    if (cfg->log_file != NULL)
        lb_log("Logging to %s", cfg->log_file);
    return 0;
}

void
lb_run_check_permissions(const lb_config_t *cfg)
{
    char why[512];

    if (lb_file_writable_by_others(cfg->path, why, sizeof(why)))
        lb_log_event(LB_EVENT_UNSAFE_CONFIG, "warning: %s %s; whoever can "
                     "write it decides where traffic goes", cfg->path, why);
    if (lb_file_owner_foreign(cfg->path))
        lb_log_error("warning: %s is owned by a user who is neither root "
                     "nor the one who started PumpkinLB; that user decides "
                     "where traffic goes (chown root)", cfg->path);
    if (lb_running_as_root() && cfg->user == NULL)
        lb_log_error("warning: running as root without `user` in "
                     "[options]: every worker relays traffic as root; set "
                     "user to an account of its own, or start it as one "
                     "(the systemd unit does)");
}

/* "a, b, c" of a group's backends (malloc'd), or NULL. */
static char *
backend_list(const lb_listener_cfg_t *l)
{
    size_t len = 8;
    char *list, *p;

    for (size_t i = 0; i < l->nbackends; i++)
        len += strlen(l->backends[i].label) + 2;
    list = malloc(len);
    if (list == NULL)
        return NULL;
    p = list;
    strcpy(p, l->nbackends ? "" : "(none)");
    for (size_t i = 0; i < l->nbackends; i++)
        p += sprintf(p, "%s%s", i ? ", " : "", l->backends[i].label);
    return list;
}

static void
log_route(const lb_listener_cfg_t *r)
{
    char *list = backend_list(r);

    if (list == NULL)
        return;
    lb_log("%s: %lu server name(s) (first %s%s), backends %s",
           r->listen_label, (unsigned long)r->nsni,
           r->sni[0].wildcard ? "*" : "", r->sni[0].name, list);
    free(list);
}

static void
log_listener(const lb_config_t *cfg, const lb_listener_cfg_t *l)
{
    char *list = backend_list(l);

    if (list == NULL)
        return;
    lb_log("Starting up listener on %s with mappings: %s", l->listen_label,
           list);
    free(list);
    for (size_t r = 0; r < l->nroutes; r++)
        log_route(&cfg->routes[l->first_route + r]);
    if (l->allow.n > 0 || l->deny.n > 0)
        lb_log("Listener %s checks clients: %lu allow and %lu deny "
               "entries", l->listen_label, (unsigned long)l->allow.n,
               (unsigned long)l->deny.n);
}

static void
log_listeners(const lb_run_t *run)
{
    for (size_t i = 0; i < run->cfg.nlisteners; i++)
        log_listener(&run->cfg, &run->cfg.listeners[i]);
    if (run->cfg.stats.line != 0)
        lb_log("Serving statistics%s on http://%s/ (%s%s)",
               run->cfg.stats.admin_token ? " and the admin API" : "",
               run->cfg.stats.label,
               run->cfg.stats.token ? "reading needs stats_token_file's "
                                      "token"
                                    : "no token to read: keep it on "
                                      "loopback or a management network",
               run->cfg.stats.admin_token ? "; changes need "
                                            "admin_token_file's"
                                          : "");
}

/* How many sockets a run binds: its listeners and the stats address. */
static size_t
nbound(const lb_config_t *cfg)
{
    return cfg->nlisteners + (cfg->stats.line != 0);
}

/* Where socket i of a run listens, and where that was configured. */
static const lb_addr_t *
bound_addr(const lb_config_t *cfg, size_t i)
{
    return i < cfg->nlisteners ? &cfg->listeners[i].listen : &cfg->stats.addr;
}

static const char *
bound_label(const lb_config_t *cfg, size_t i, int *line)
{
    if (i < cfg->nlisteners) {
        *line = cfg->listeners[i].line;
        return cfg->listeners[i].listen_label;
    }
    *line = cfg->stats.line;
    return cfg->stats.label;
}

/* The listener of old bound to addr and not yet taken by the new run. */
static long
find_kept(const lb_run_t *old, const lb_addr_t *addr)
{
    if (old == NULL)
        return -1;
    for (size_t j = 0; j < nbound(&old->cfg); j++)
        if (old->listeners[j] != NULL &&
            lb_addr_equal(bound_addr(&old->cfg, j), addr))
            return (long)j;
    return -1;
}

/* Undoes the first n entries of bind_all: sockets taken from old go back
 * (from[i] >= 0), those bound anew are closed. */
static void
unbind(lb_run_t *run, lb_run_t *old, const long *from, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (from[i] >= 0)
            old->listeners[from[i]] = run->listeners[i];
        else
            lb_listener_close(run->listeners[i]);
        run->listeners[i] = NULL;
    }
}

/* Binds every listener of run, taking over old's socket where the address
 * is the same (old's entry is then NULL). On failure undoes it all and
 * logs why. */
static int
bind_all(lb_run_t *run, lb_run_t *old)
{
    const lb_config_t *cfg = &run->cfg;
    long *from = calloc(nbound(cfg), sizeof(*from));
    int rc = 0, line;
    size_t i;

    if (from == NULL)
        return LB_EXIT_FAILURE;
    for (i = 0; i < nbound(cfg) && rc == 0; i++) {
        const lb_addr_t *addr = bound_addr(cfg, i);
        const char *label = bound_label(cfg, i, &line);

        from[i] = find_kept(old, addr);
        if (from[i] >= 0) {
            run->listeners[i] = old->listeners[from[i]];
            old->listeners[from[i]] = NULL;
            continue;
        }
        rc = lb_listener_bind(addr, LISTEN_BACKLOG, &run->listeners[i]);
        if (rc != 0) {
            lb_log_fatal(LB_EVENT_FATAL, "%s:%d: cannot listen on %s: %s",
                         cfg->path,
                         line, label, lb_strerror(rc));
            run->listeners[i] = NULL;
            unbind(run, old, from, i);
        }
    }
    free(from);
    return rc == 0 ? 0 : LB_EXIT_BIND;
}

/* After binding (ports below 1024 need root), before anything else. */
static int
drop_privileges(const lb_config_t *cfg)
{
    char err[256];

    if (cfg->user == NULL && cfg->group == NULL)
        return 0;
    if (lb_drop_privileges(cfg->user, cfg->group, err, sizeof(err)) != 0) {
        lb_log_fatal(LB_EVENT_CONFIG_ERROR, "%s: %s", cfg->path, err);
        return LB_EXIT_CONFIG;
    }
    lb_log("Running as user %s%s%s", cfg->user, cfg->group ? ", group " : "",
           cfg->group ? cfg->group : "");
    return 0;
}

static int
worker(const size_t *idx, size_t n, unsigned slot, void *ctx)
{
    lb_run_t *run = ctx;

    lb_log_count_drops(run->shared.log_dropped);
    run_ref(run); /* the server's; the last server's goes at the end */
    return lb_server_run(&run->cfg, run->listeners, &run->shared, idx, n,
                         slot, take_over, run, run_unref);
}

static void
free_run(lb_run_t *run)
{
    if (run == NULL)
        return;
    for (size_t i = 0; run->listeners && i < nbound(&run->cfg); i++)
        if (run->listeners[i])
            lb_listener_close(run->listeners[i]);
    lb_shared_release(&run->shared);
    free(run->listeners);
    lb_config_free(&run->cfg);
    free(run);
}

/* A run for cfg (taken over), bound (reusing old's sockets where it can)
 * and with its shared memory; NULL with the reason logged. */
static lb_run_t *
new_run(lb_config_t *cfg, lb_run_t *old)
{
    lb_run_t *run = calloc(1, sizeof(*run));

    if (run == NULL)
        return NULL;
    run->cfg = *cfg;
    memset(cfg, 0, sizeof(*cfg));
    lb_atomic_store(&run->refs, 1);
    run->listeners = calloc(nbound(&run->cfg), sizeof(*run->listeners));
    if (run->listeners == NULL || bind_all(run, old) != 0) {
        free(run->listeners);
        run->listeners = NULL;
        free_run(run);
        return NULL;
    }
    if (lb_shared_create(&run->cfg, &run->shared) != 0) {
        lb_log_error("cannot allocate shared memory");
        free_run(run);
        return NULL;
    }
    return run;
}

static void
fill_spec(lb_run_t *run, lb_run_spec_t *spec)
{
    memset(spec, 0, sizeof(*spec));
    spec->listeners = run->listeners;
    spec->nlisteners = nbound(&run->cfg);
    spec->processes = run->cfg.processes;
    spec->stop_timeout_ms = (uint64_t)run->cfg.graceful_timeout_ms;
    spec->worker = worker;
    spec->ctx = run;
    spec->log = log_supervisor;
    spec->reload = reload;
    log_listeners(run);
}

int
lb_run_serve(lb_config_t *cfg)
{
    lb_run_t *run = new_run(cfg, NULL);
    lb_run_spec_t spec;
    int rc;

    if (run == NULL)
        return LB_EXIT_BIND;
    rc = drop_privileges(&run->cfg);
    if (rc != 0) {
        free_run(run);
        return rc;
    }
    lb_log_count_drops(run->shared.log_dropped);
    lb_log("Configured buffer size = %lu bytes",
           (unsigned long)run->cfg.buffer_size);
    fill_spec(run, &spec);
    rc = lb_run_workers(&spec);
    lb_log_event(rc != 0 ? LB_EVENT_FAILED : LB_EVENT_STOPPED,
                 "Shutdown complete, exiting with status %d", rc);
    lb_log_count_drops(NULL); /* the block goes */
    run_unref(spec.ctx); /* the run of the last reload */
    return rc;
}

static void
warn_config(void *ctx, const char *msg)
{
    (void)ctx;
    lb_log_error("warning: %s", msg);
}

/* What a reload cannot change: privileges are gone by now; and loops of
 * one process live through it (lb_workers_share_process), so they keep
 * their number and their pools' buffer size. */
static void
warn_fixed(const lb_config_t *was, lb_config_t *now)
{
    int same_user = (was->user == NULL) == (now->user == NULL) &&
                    (was->user == NULL || strcmp(was->user, now->user) == 0);
    int same_group = (was->group == NULL) == (now->group == NULL) &&
                     (was->group == NULL ||
                      strcmp(was->group, now->group) == 0);

    if (!same_user || !same_group)
        lb_log_error("warning: %s: user and group take effect only at "
                     "start; restart to change them", now->path);
    if (!lb_workers_share_process())
        return;
    if (now->buffer_size != was->buffer_size)
        lb_log_error("warning: buffer_size takes effect at the next start; "
                     "keeping %lu", (unsigned long)was->buffer_size);
    if (now->processes != was->processes)
        lb_log_error("warning: processes takes effect at the next start; "
                     "keeping %u", was->processes);
    now->buffer_size = was->buffer_size;
    now->processes = was->processes;
}

static void
log_removed(const lb_run_t *old)
{
    int line;

    for (size_t j = 0; j < nbound(&old->cfg); j++)
        if (old->listeners[j] != NULL)
            lb_log("Listener on %s removed; its connections finish first",
                   bound_label(&old->cfg, j, &line));
}

/* The next run: its config read and checked, its new addresses bound,
 * old's sockets taken where the address is the same. NULL (with the
 * reason logged) leaves old as it was. */
static lb_run_t *
prepare(lb_run_t *old)
{
    lb_run_t *run;
    lb_config_t cfg;
    char *err = NULL, err_text[256];

    lb_log_event(LB_EVENT_RELOADING, "Reloading configuration from %s",
                 old->cfg.path);
    if (lb_config_load(old->cfg.path, &cfg, warn_config, NULL, &err) != 0) {
        lb_log_event(LB_EVENT_RELOAD_FAILED, "Reload failed, the running "
                     "configuration stays: %s",
                     err ? err : "invalid configuration");
        free(err);
        return NULL;
    }
    lb_run_check_permissions(&cfg);
    warn_fixed(&old->cfg, &cfg);
    run = new_run(&cfg, old);
    if (run == NULL) {
        lb_config_free(&cfg);
        lb_log_event(LB_EVENT_RELOAD_FAILED,
                     "Reload failed, the running configuration stays");
        return NULL;
    }
    /* The new block starts as the config says, but for what the admin
     * API set on backends that are still there. */
    lb_admin_carry(&old->cfg, &old->shared, &run->cfg, &run->shared);
    if (lb_run_open_log(&run->cfg) != 0)
        lb_log_error("keeping the previous log file");
    if (lb_log_reopen_std(err_text, sizeof(err_text)) != 0)
        lb_log_error("cannot reopen the log: %s; keeping the previous one",
                     err_text);
    log_removed(old);
    return run;
}

/* lb_run_spec_t.reload, called once per reload by the supervisor. POSIX
 * replaces the worker processes, which have their own copies of old, so
 * old goes now (closing the removed listeners' sockets); where workers
 * are loops of this process each takes next over (take_over) and old
 * goes with the last server built on it. */
static int
reload(void *ctx, lb_run_spec_t *next)
{
    lb_run_t *old = ctx, *run = prepare(old);

    if (run == NULL)
        return -1;
    fill_spec(run, next);
    lb_log_count_drops(run->shared.log_dropped); /* before old's goes */
    run_unref(old);
    lb_log_event(LB_EVENT_RELOADED, "Reloaded %s: %lu listener(s)",
                 run->cfg.path, (unsigned long)run->cfg.nlisteners);
    return 0;
}

/* lb_server_reload_fn: where workers are loops of one process, each loop
 * gets the run the supervisor's reload made; its server for it takes
 * over the loop (listeners with an unchanged address handed over, the
 * others attached or detached) and srv drains under the old one, which
 * it releases once drained. */
static void
take_over(lb_server_t *srv, void *ctx, void *next)
{
    lb_run_t *old = ctx, *run = next;
    size_t n = nbound(&run->cfg); /* the stats address too, last */
    size_t *idx = calloc(n, sizeof(*idx));

    if (run == NULL || run == old) {
        free(idx);
        return;
    }
    for (size_t i = 0; idx && i < n; i++)
        idx[i] = i;
    run_ref(run);
    if (idx == NULL || lb_server_succeed(srv, &run->cfg, run->listeners,
                                         &run->shared, idx, n, run,
                                         run_unref, old) != 0) {
        run_unref(run);
        lb_log_error("Reload failed on worker %ld loop %u (out of memory): "
                     "it keeps the previous configuration", lb_getpid(),
                     srv->slot);
    }
    free(idx);
}
