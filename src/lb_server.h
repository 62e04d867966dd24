/* lb_server.h - one worker's state (its loop, buffers, listeners and
 * connections) and the session API the worker drives. Core-internal. */
#ifndef LB_SERVER_H
#define LB_SERVER_H

#include "lb_balance.h"
#include "lb_bufpool.h"
#include "lb_config.h"
#include "lb_drain.h"
#include "lb_health.h"
#include "lb_list.h"
#include "lb_log.h"
#include "lb_platform.h"
#include "lb_stats.h"
#include "lb_tables.h"

typedef struct lb_session_s lb_session_t;
typedef struct lb_check_s lb_check_t;

/* What every worker process shares, all in one lb_shared_alloc() block
 * made before the workers start (shared.c): per backend group (each
 * listener's own backends, then each route's: lb_config_group) a
 * round-robin cursor, the health of its backends, the connections open
 * to each and their counters; per listener its counters and its client
 * and persistence tables (size 0 where not used). */
typedef struct lb_shared_s {
    void *block;
    size_t size;
    lb_rr_t *rr;                 /* per group */
    lb_backend_state_t **state;  /* per group: one per backend */
    lb_atomic_t **conns;         /* per group: backends x processes */
    unsigned processes;
    lb_listener_counters_t *counters;     /* per listener */
    lb_backend_counters_t **bcounters;    /* per group: one per backend */
    lb_clients_t *clients;       /* per listener */
    lb_persist_t *persist;       /* per listener */
    lb_atomic_t *log_dropped;    /* log lines no output had room for */
    /* per group: per worker slot, the ticket of its oldest client waiting
     * for that group (0: none), so that the oldest over every worker goes
     * first (session_queue.c) */
    lb_atomic_t **queue_head;
    int64_t started;             /* Unix time the counters began */
} lb_shared_t;

int lb_shared_create(const lb_config_t *cfg, lb_shared_t *out);
/* The parent's view goes (a reload, the end); running workers keep
 * theirs. */
void lb_shared_release(lb_shared_t *sh);

/* A group of backends as this worker serves it: a listener's own, or a
 * route's; balance.c and health.c work the same on either. */
typedef struct lb_group_s {
    const lb_listener_cfg_t *cfg; /* the listener's, or the route's */
    struct lb_served_listener_s *sl;
    lb_rr_t *rr;
    lb_health_t health;
    lb_check_t *checks;      /* one per backend, in the checking worker */
    int max_retries;
    uint64_t last_full_log;  /* every backend at max_conns */
    /* Per backend, the last lb_backend_state_t.cut_at this worker acted
     * on (maint's drain_timeout, check_on_down): cut.c. */
    int64_t *cut_seen;
    /* Its clients waiting for a slot (queue_timeout), oldest first. */
    lb_list_t queue;
} lb_group_t;

/* A listener as served by this worker. */
typedef struct lb_served_listener_s {
    const lb_listener_cfg_t *cfg;
    lb_listener_t *listener; /* NULL once closed */
    /* groups[0]: the listener's own backends; then its routes, in the
     * order of cfg->routes. */
    lb_group_t *groups;
    size_t ngroups;
    lb_clients_t *clients;   /* shared; NULL: no per-client limits */
    lb_persist_t *persist;   /* shared; NULL: no persistence */
    struct lb_server_s *srv;
    uint64_t last_accept_error_log;
    size_t active;           /* connections of this listener here */
    int paused;              /* a connection limit is reached */
    uint64_t last_limit_log;
    /* Lines a flood could multiply, at most one a second each: clients
     * refused by allow/deny or by per-client limits, retried connects,
     * clients every backend failed. (Every backend at max_conns: the
     * group's last_full_log.) */
    lb_lograte_t refused_log, refused_client_log, retry_log, failed_log;
    uint64_t last_proxy_log; /* a client without a valid PROXY header */
    uint64_t last_route_log; /* a client no route or backend is for */
    uint64_t last_keepalive_log; /* tcp_keepalive could not be set */
    /* Clients waiting for a slot (queue_timeout) here, in the queues of
     * its groups, and the timer that looks for slots while they wait
     * (session_queue.c). */
    size_t queued;
    lb_timer_t queue_timer;
} lb_served_listener_t;

typedef struct lb_server_s lb_server_t;
/* Builds the next configuration's server in-loop (lb_server_succeed):
 * ctx is srv's reload context, next what the platform handed the loop
 * (lb_reload_cb). */
typedef void (*lb_server_reload_fn)(lb_server_t *srv, void *ctx, void *next);

struct lb_server_s {
    const lb_config_t *cfg;
    lb_loop_t *loop;
    lb_bufpool_t *pool;     /* the loop's; shared by successive servers */
    int owner;              /* frees the loop and the pool */
    lb_served_listener_t *served;
    size_t nserved;
    lb_list_t sessions;     /* every live session (by link), for the drain */
    size_t active;
    size_t max_active;      /* process-wide limit; 0 = none */
    size_t check_streams;   /* active checks' streams not yet closed */
    unsigned slot;          /* which worker of its listeners this is */
    const lb_shared_t *shared;
    struct lb_stats_http_s *stats; /* serving the stats address, or NULL */
    size_t stats_streams;   /* its connections not yet closed */
    lb_drain_t drain;
    lb_timer_t drain_timer;
    void (*on_drained)(lb_server_t *srv); /* the drain is over */
    lb_rng_t rng;
    /* An in-loop reload (Windows) replaces the server on the same loop;
     * the old one drains until its connections end. */
    lb_server_reload_fn reload;
    void *reload_ctx;
    void (*release)(void *ctx); /* frees what cfg came from, once drained */
    void *release_ctx;
    lb_server_t **current;  /* where the worker keeps the newest server */
    lb_server_t *successor; /* retiring: the server that replaced it */
    lb_server_t *retired;   /* newest: servers still draining */
    lb_server_t *next_retired;
    int drained;            /* retiring: nothing left, to be freed */
    lb_timer_t reap_timer;  /* frees drained retired servers */
    /* Looks at the shared block for connections to cut (cut_at), where
     * the admin API or check_on_down can ask for it. */
    lb_timer_t cut_timer;
};

/* Sets up a worker (loop, buffers, listeners idx[0..n) started); with
 * lb_server_fini, what lb_server_run does around the loop. */
/* The most connections a worker holds at once: max_connections, else
 * what the system allows (descriptors where they are the bound, else a
 * share of memory: lb_memory_bound). what (len bytes, may be NULL with
 * len 0) gets the words for the start line: ", up to N open files", or
 * how the cap was derived from memory, or nothing. 0: no limit. */
size_t lb_server_conn_limit(const lb_config_t *cfg, char *what, size_t len);
int lb_server_init(lb_server_t *srv, const lb_config_t *cfg,
                   lb_listener_t **listeners, const lb_shared_t *shared,
                   const size_t *idx, size_t n, unsigned slot);
void lb_server_fini(lb_server_t *srv);
/* Runs one worker serving listeners idx[0..n) until a stop has drained;
 * returns the exit status. ctx is the first server's reload context;
 * release (if set) gets the last server's once it is freed. */
int lb_server_run(const lb_config_t *cfg, lb_listener_t **listeners,
                  const lb_shared_t *shared, const size_t *idx, size_t n,
                  unsigned slot, lb_server_reload_fn reload, void *ctx,
                  void (*release)(void *ctx));
/* In-loop reload: a server for cfg replaces old on old's loop. Listeners
 * old also serves are handed over, its others closed; old drains what it
 * holds, then release(release_ctx) runs. ctx becomes the new server's
 * reload context. 0, or an error with nothing changed. */
int lb_server_succeed(lb_server_t *old, const lb_config_t *cfg,
                      lb_listener_t **listeners, const lb_shared_t *shared,
                      const size_t *idx, size_t n, void *ctx,
                      void (*release)(void *), void *release_ctx);

/* Takes over an accepted client connection from peer (len 0 when
 * unknown). */
void lb_session_start(lb_served_listener_t *sl, lb_stream_t *client,
                      const lb_addr_t *peer);
/* Sets up sl's rate-limited lines about retries and failed clients. */
void lb_session_lograte_init(lb_served_listener_t *sl);
/* sl's queue (queue_timeout): set up (and each group's, once set up),
 * and told that a slot may be free. */
void lb_queue_init(lb_served_listener_t *sl);
void lb_queue_init_group(lb_group_t *g);
void lb_queue_kick(lb_served_listener_t *sl);
/* A client was refused at once for why (a per-client limit's name):
 * counted in a line at most once a second, as allow/deny's. */
void lb_server_refused_client(lb_served_listener_t *sl,
                              const lb_addr_t *client, const char *why);
/* Ends every session of srv now (the drain's deadline, a second stop);
 * reset = the peers see a reset. */
void lb_session_abort_all(lb_server_t *srv, int reset);
/* Resets the connections of group g to backend b made before loop time
 * `before` (maint = the admin API's maintenance, else check_on_down);
 * returns how many. */
size_t lb_session_cut_backend(lb_group_t *g, size_t b,
                              uint64_t before, int maint);
/* Called by session.c when a session is gone. */
void lb_server_session_ended(lb_server_t *srv, lb_served_listener_t *sl);
/* A drain waits for these too; called when an active check's stream is
 * closed. */
void lb_server_check_closed(lb_server_t *srv);
/* The same for a stats connection (stats_http.c). */
void lb_server_stats_closed(lb_server_t *srv);

/* Active health checks (health_check.c): started for the groups of the
 * listeners this worker checks (slot 0 checks for all the listener's
 * workers), stopped by the drain. */
int lb_checks_start(lb_group_t *g);
void lb_checks_stop(lb_group_t *g);
/* Once no check's stream is open any more (the server is freed). */
void lb_checks_free(lb_group_t *g);

/* Cuts asked for through the shared block (cut.c): looked at as long as
 * the server lives, its drain included, since a backend put in
 * maintenance before a reload still wants its connections cut. */
void lb_cut_init(lb_server_t *srv);
int lb_cut_start(lb_server_t *srv);
void lb_cut_free(lb_server_t *srv);

#endif
