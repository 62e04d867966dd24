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

typedef struct lb_listener_cfg_s {
    char *name;      /* [listener:NAME], or the mapping key */
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
    lb_stats_cfg_t stats;
    lb_listener_cfg_t *listeners;
    size_t nlisteners;
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

/* Effective retry bound for a listener with n backends. */
int lb_config_retries(const lb_config_t *cfg, size_t nbackends);

/* The text of --help-config. */
extern const char lb_config_help[];

#endif
