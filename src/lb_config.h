/* lb_config.h - the configuration as the core uses it, and the loader that
 * reads PumpkinLB's INI file (with inih) into it. */
#ifndef LB_CONFIG_H
#define LB_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "lb_acl.h"
#include "lb_check.h"
#include "lb_platform.h"

#define LB_DEFAULT_BUFFER_SIZE 4096
/* Durations are read in seconds and kept in milliseconds, converted once
 * as the config is read (as nginx's ngx_msec_t). */
#define LB_DEFAULT_CONNECT_TIMEOUT_MS 5000
#define LB_DEFAULT_GRACEFUL_TIMEOUT_MS 6000
#define LB_MAX_BUFFER_SIZE (64u * 1024 * 1024)
#define LB_MAX_PROCESSES 64
#define LB_MAX_BACKENDS 1024

#define LB_DEFAULT_MAX_FAILS 1
#define LB_DEFAULT_FAIL_TIMEOUT_MS 10000
#define LB_DEFAULT_RISE 2
#define LB_DEFAULT_FALL 3

#define LB_MAX_WEIGHT 1000

/* Reading a client's first bytes (routes, persist): how long it may take
 * (inspect_timeout). */
#define LB_DEFAULT_INSPECT_TIMEOUT_MS 5000
/* persist = rdp_cookie: how long a cookie is remembered after its last
 * connection (persist_timeout). */
#define LB_DEFAULT_PERSIST_TIMEOUT_MS (3600 * 1000)
/* Entries of each listener's client table (max_conns_per_client,
 * max_conn_rate_per_client) and persistence table, in the shared block. */
#define LB_DEFAULT_TABLE_SIZE 16384
#define LB_MAX_TABLE_SIZE (1 << 20)
#define LB_DEFAULT_CLIENT_IPV6_PREFIX 64
/* tcp_keepalive: Linux refuses a longer idle time (MAX_TCP_KEEPIDLE). */
#define LB_MAX_KEEPALIVE 32767

/* persist = on a listener. */
enum { LB_PERSIST_NONE = 0, LB_PERSIST_RDP_COOKIE = 1 };
/* log_rotate_size: where a log file is rotated (Windows). */
#define LB_DEFAULT_LOG_ROTATE_SIZE (10 * 1024 * 1024)
#define LB_MAX_LOG_ROTATE_SIZE ((int64_t)1 << 40)

/* How a listener spreads new clients over its backends (algorithm =). */
typedef enum {
    LB_ALGO_ROUNDROBIN = 0, /* in turn, weights aside: PumpkinLB 2's order */
    LB_ALGO_WEIGHTED,       /* in turn by weight, interleaved as nginx does */
    LB_ALGO_LEASTCONN,      /* fewest open connections for its weight */
    LB_ALGO_SOURCE          /* by client address: rendezvous hashing */
} lb_algorithm_t;

/* How backends are judged and limited; [options] gives the defaults and a
 * [listener:NAME] section may set its own. */
typedef struct lb_health_cfg_s {
    int max_fails;         /* failed connects within fail_timeout that take
                            * a backend out; 0 = never */
    int64_t fail_timeout_ms;   /* the window, and how long it is out */
    int max_conns;         /* open at once per backend; 0 = no limit */
    int64_t check_interval_ms; /* between active checks; 0 = none */
    int64_t check_timeout_ms;  /* 0 = connect_timeout or interval */
    int rise, fall;        /* checks in a row that bring up / take down */
    lb_check_cfg_t check;  /* what a check sends and expects, and where */
    /* A backend put in maintenance through the admin API: its open
     * connections are cut this long after; 0 = never. */
    int64_t drain_timeout_ms;
    /* A backend back from DOWN (or maintenance) gets its share of new
     * clients ramped up over this long; 0 = at once. */
    int64_t slow_start_ms;
} lb_health_cfg_t;

typedef struct lb_backend_cfg_s {
    char *host;      /* as written, without brackets */
    uint16_t port;
    int resolved;    /* addr is valid: a literal, or pre-resolved */
    lb_addr_t addr;
    char *label;     /* "host:port" as written, for logs */
    int weight;      /* weight=N, 1..LB_MAX_WEIGHT; default 1 */
    int backup;      /* used only when no other backend can be */
    uint64_t key;    /* of label: its place in source hashing */
    /* Where the active checks connect: addr, unless check_address or
     * check_port say otherwise; not resolved when names are looked up
     * for every connection (pre_resolve_workers = 0). */
    int check_resolved;
    lb_addr_t check_addr;
} lb_backend_cfg_t;

/* A name of sni = in a [route:NAME]: exact, or "*.suffix", which
 * matches any name ending in ".suffix" (but not "suffix" itself). */
typedef struct lb_sni_s {
    char *name;   /* lower-case; for a wildcard ".suffix", with its dot */
    int wildcard;
} lb_sni_t;

/* max_conn_rate_per_client = N/S: at most N new connections per S
 * seconds from one client. count 0: no limit. */
typedef struct lb_rate_s {
    int count;
    int64_t period_ms;
} lb_rate_t;

/* A listener, or a route: a route ([route:NAME]) is kept in the same
 * shape, as a group of backends with its own algorithm, health and
 * send_proxy (its own or its listener's), so that balancing and health
 * work on it unchanged; the listener's timeouts are copied to it, and
 * the fields marked "listener" mean nothing for a route. */
typedef struct lb_listener_cfg_s {
    char *name;      /* [listener:NAME], the mapping key, or the route's */
    int line;        /* where it was defined */
    lb_addr_t listen;
    char *listen_label; /* e.g. "0.0.0.0:80" */
    lb_backend_cfg_t *backends;
    size_t nbackends;
    /* Effective timeouts in milliseconds (0 = none): the listener
     * section's own, else [options]'. */
    int64_t connect_timeout_ms;
    int64_t idle_timeout_ms;       /* no byte either way for this long */
    int64_t half_close_timeout_ms; /* the same once either side sent FIN */
    int max_connections;       /* open at once per worker; 0 = no own limit */
    lb_health_cfg_t health;
    int algorithm;             /* lb_algorithm_t */
    /* Effective source lists: the section's own, else [options]'; both
     * empty = every client is served. */
    lb_acl_t allow, deny;
    int log_connections;       /* a log line as each connection ends */
    int send_proxy;            /* PROXY header to backends: 0, 1 or 2 */
    int accept_proxy;          /* clients start with a PROXY header */
    /* With every backend full (max_conns) or taken out by the admin, a
     * new client waits this long for a slot (0: refused at once), at
     * most max_queue of them (0: no limit of its own). */
    int64_t queue_timeout_ms;
    int max_queue;
    /* Reading the client's first bytes (listener): routes, persist. */
    int64_t inspect_timeout_ms;
    int persist;               /* LB_PERSIST_* */
    int64_t persist_timeout_ms;
    /* Per-client limits (listener): 0 = none. */
    int max_conns_per_client;
    lb_rate_t client_rate;
    int client_ipv6_prefix;    /* IPv6 clients counted by this prefix */
    int tcp_keepalive;         /* idle seconds before probes; 0 = off */
    /* A listener: its routes are cfg->routes[first_route ..
     * first_route + nroutes). A route: the names it answers for and its
     * listener's index. */
    size_t first_route, nroutes;
    lb_sni_t *sni;
    size_t nsni;
    size_t listener;
    /* Where its backends' state is in the shared block: a listener's
     * index, or nlisteners + a route's. */
    size_t group;
} lb_listener_cfg_t;

/* stats = ADDRESS:PORT in [options]: where live statistics are served
 * (stats_http.c), and who may read them. */
typedef struct lb_stats_cfg_s {
    int line;        /* where it was set; 0 = no statistics (the default) */
    lb_addr_t addr;
    char *label;     /* e.g. "127.0.0.1:9100" */
    lb_acl_t allow;  /* stats_allow: clients that may connect; empty: all */
    char *token;     /* stats_token_file's first line: the bearer token a
                      * request needs; NULL: none */
    char *admin_token; /* admin_token_file's first line: the admin API's
                        * token (it reads too); NULL: no admin API */
    char **hosts;    /* stats_host: names a Host header may carry besides
                      * IP literals and localhost */
    size_t nhosts;
} lb_stats_cfg_t;

typedef struct lb_config_s {
    char *path;
    int pre_resolve;           /* pre_resolve_workers, default 1 */
    size_t buffer_size;        /* default 4096 */
    int64_t connect_timeout_ms;    /* default 5 s; 0 = none */
    int64_t graceful_timeout_ms;   /* default 6 s */
    int64_t idle_timeout_ms;       /* default 0 = none */
    int64_t half_close_timeout_ms; /* default 0 = idle_timeout */
    int max_connections;       /* per worker; 0 = from the descriptor limit */
    int max_retries;           /* -1 = default: every backend once */
    unsigned processes;        /* workers per listener, default 1 */
    char *log_file;            /* NULL = stdout/stderr; absolute */
    int64_t log_rotate_size;   /* bytes; 0 = never; -1 = not set: the
                                * default where rotating is possible */
    char *user, *group;        /* run as these after binding (POSIX) */
    lb_health_cfg_t health;
    int algorithm;             /* lb_algorithm_t, default roundrobin */
    lb_acl_t allow, deny;      /* default source lists; empty = none */
    int log_connections;       /* default 1: a line per connection */
    int send_proxy;            /* default 0 (off); 1 or 2: its version */
    int accept_proxy;          /* default 0 */
    int64_t queue_timeout_ms;  /* default 0: refused at once */
    int max_queue;             /* default 0: no limit of its own */
    int64_t inspect_timeout_ms;    /* default 5 s */
    int persist;               /* default LB_PERSIST_NONE */
    int64_t persist_timeout_ms;    /* default 1 h */
    int max_conns_per_client;  /* default 0 = none */
    lb_rate_t client_rate;     /* default none */
    int client_ipv6_prefix;    /* default 64 */
    int tcp_keepalive;         /* default 0 = off */
    size_t client_table_size;  /* entries per listener, default 16384 */
    size_t persist_table_size; /* the same */
    lb_stats_cfg_t stats;
    lb_listener_cfg_t *listeners;
    size_t nlisteners;
    /* [route:NAME] sections, grouped by listener (each listener's in the
     * order written). */
    lb_listener_cfg_t *routes;
    size_t nroutes;
} lb_config_t;

/* Warnings (unknown key or section) are passed to warn(); they do not fail
 * the load. */
typedef void (*lb_config_warn_fn)(void *ctx, const char *msg);

/* Loads and validates PATH. On failure returns LB_EXIT_CONFIG and sets
 * *err to a malloc'd "FILE:LINE: message" (free it). */
int lb_config_load(const char *path, lb_config_t *cfg,
                   lb_config_warn_fn warn, void *warn_ctx, char **err);
/* Same, from a string (tests); name stands for the file in messages. */
int lb_config_load_string(const char *name, const char *text, size_t len,
                          lb_config_t *cfg, lb_config_warn_fn warn,
                          void *warn_ctx, char **err);
void lb_config_free(lb_config_t *cfg);

/* Backend groups: listeners 0 .. nlisteners - 1, then the routes. */
size_t lb_config_ngroups(const lb_config_t *cfg);
const lb_listener_cfg_t *lb_config_group(const lb_config_t *cfg, size_t g);

/* 1 if clients of l are read before a backend is chosen: it has routes
 * or persistence. */
int lb_config_inspects(const lb_listener_cfg_t *l);

/* The route of l (0 .. l->nroutes - 1) for a TLS server name (lower
 * case): the one listing it, else the longest matching "*.suffix"; -1
 * when none does (route.c). */
long lb_route_find(const lb_config_t *cfg, const lb_listener_cfg_t *l,
                   const char *name);

/* Effective retry bound for a listener with n backends. */
int lb_config_retries(const lb_config_t *cfg, size_t nbackends);

/* The text of --help-config. */
extern const char lb_config_help[];

#endif
