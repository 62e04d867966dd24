/* lb_stats.h - live statistics: the counters every worker process bumps in
 * the shared block (stats.c), a snapshot of them, its renderers as
 * Prometheus text, JSON and HTML (stats_render.c), and the small HTTP
 * responder on the `stats` address (stats_http.c). Core-internal. */
#ifndef LB_STATS_H
#define LB_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "lb_config.h"
#include "lb_log.h" /* LB_PRINTF */
#include "lb_platform.h"

struct lb_served_listener_s;
struct lb_group_s;
struct lb_server_s;
struct lb_shared_s;

/* Directions of relayed bytes, as the session numbers them. */
#define LB_STATS_IN 0  /* from clients, to backends */
#define LB_STATS_OUT 1 /* from backends, to clients */

/* Why a client was turned away before it was relayed; the metric's
 * reason label is in lb_stats_refused_names. */
#define LB_STATS_REFUSED_ACL 0          /* allow/deny */
#define LB_STATS_REFUSED_FULL 1         /* every backend at max_conns */
#define LB_STATS_REFUSED_CLIENT_CONNS 2 /* max_conns_per_client */
#define LB_STATS_REFUSED_CLIENT_RATE 3  /* max_conn_rate_per_client */
#define LB_STATS_REFUSED_NO_ROUTE 4     /* no route and no own backends */
#define LB_STATS_NREFUSED 5
extern const char *const lb_stats_refused_names[LB_STATS_NREFUSED];

/* One listener's counters in shared memory. Open connections are kept per
 * worker slot, so a restarted worker can forget its predecessor's. */
typedef struct lb_listener_counters_s {
    lb_atomic_t accepted;   /* clients accepted, refused ones included */
    lb_atomic_t refused[LB_STATS_NREFUSED]; /* by LB_STATS_REFUSED_* */
    lb_atomic_t failed;     /* clients closed when every backend failed */
    lb_atomic_t active[LB_MAX_PROCESSES];
    /* The queue (queue_timeout): per worker slot, the clients waiting
     * there (the oldest per group: lb_shared_t.queue_head); the next
     * ticket; and what became of those that waited: served (and their
     * waits in ms, summed), timed out, or gone before their turn. */
    lb_atomic_t queued[LB_MAX_PROCESSES];
    lb_atomic_t queue_ticket;
    lb_atomic_t dequeued, wait_ms, queue_timeouts, queue_left;
} lb_listener_counters_t;

/* One backend's counters; its open connections are the health module's
 * per-slot counts. */
typedef struct lb_backend_counters_s {
    lb_atomic_t connections; /* connects that succeeded */
    lb_atomic_t failures;    /* connects that failed */
    lb_atomic_t bytes[2];    /* by LB_STATS_IN / LB_STATS_OUT */
} lb_backend_counters_t;

/* ---- counting, from the relay (one atomic add each, no syscall) ---- */
void lb_stats_accepted(struct lb_served_listener_s *sl);
void lb_stats_refused(struct lb_served_listener_s *sl, int why);
void lb_stats_active(struct lb_served_listener_s *sl, int delta);
void lb_stats_failed(struct lb_served_listener_s *sl);
/* A connect to backend b of group g succeeded (ok) or failed. */
void lb_stats_connect(const struct lb_group_s *g, size_t b, int ok);
/* n bytes were read in direction dir of a connection to backend b. */
void lb_stats_bytes(const struct lb_group_s *g, size_t b, int dir, long n);

/* ---- a snapshot: plain numbers, what the renderers take ---- */
typedef struct lb_stats_backend_s {
    const char *name; /* as written in the config */
    int down;         /* LB_UP, LB_DOWN_FAILS or LB_DOWN_CHECKS */
    int64_t active, connections, failures, bytes[2];
    int admin;        /* LB_ADMIN_* */
    int64_t weight;   /* the admin's or the config's (not ramped) */
    int64_t max_conns; /* the admin's or the config's; 0: no limit */
    int checked;      /* LB_CHECKED_*: the last active check */
    int check_reason; /* LB_CHECK_E_* when it failed */
    int64_t check_ms, check_time; /* how long it took; Unix time */
    int64_t changed;  /* Unix time of its last change of state, or 0 */
    const char *route; /* its [route:NAME], or NULL: the listener's own */
} lb_stats_backend_t;

typedef struct lb_stats_listener_s {
    const char *name;    /* [listener:NAME] or the mapping's key */
    const char *address; /* listen address */
    int64_t accepted, active, refused[LB_STATS_NREFUSED], failed;
    int64_t bytes[2];    /* the sum of its backends' */
    int checks;          /* active checks are on */
    int64_t queued, dequeued, wait_ms, queue_timeouts, queue_left;
    const lb_stats_backend_t *backends; /* its own, then its routes' */
    size_t nbackends;
} lb_stats_listener_t;

typedef struct lb_stats_snapshot_s {
    const char *version;
    int64_t started; /* Unix time the counters began: start or reload */
    int64_t now;     /* Unix time of the snapshot */
    int64_t log_dropped; /* log lines no output had room for */
    lb_stats_listener_t *listeners;
    size_t nlisteners;
    lb_stats_backend_t *all_backends; /* listeners point into it */
} lb_stats_snapshot_t;

/* Reads every counter of sh (laid out for cfg). 0 or LB_ENOMEM. */
int lb_stats_snapshot(const lb_config_t *cfg, const struct lb_shared_s *sh,
                      lb_stats_snapshot_t *out);
void lb_stats_snapshot_free(lb_stats_snapshot_t *s);

/* ---- rendering into a growing buffer ---- */
typedef struct lb_buf_s {
    char *data; /* NUL-terminated while len > 0 */
    size_t len, cap;
    int failed; /* out of memory: the text is incomplete */
} lb_buf_t;

void lb_buf_add(lb_buf_t *b, const char *s, size_t n);
void lb_buf_puts(lb_buf_t *b, const char *s);
void lb_buf_printf(lb_buf_t *b, const char *fmt, ...) LB_PRINTF(2, 3);
void lb_buf_free(lb_buf_t *b);

/* Escaped text for each format; bytes that are not UTF-8 become U+FFFD,
 * so every output is valid UTF-8. */
void lb_stats_escape_label(lb_buf_t *b, const char *s); /* Prometheus */
void lb_stats_escape_json(lb_buf_t *b, const char *s);  /* with quotes */
void lb_stats_escape_html(lb_buf_t *b, const char *s);

/* The whole document; 0 or LB_ENOMEM. */
int lb_stats_prometheus(const lb_stats_snapshot_t *s, lb_buf_t *out);
int lb_stats_json(const lb_stats_snapshot_t *s, lb_buf_t *out);
int lb_stats_html(const lb_stats_snapshot_t *s, lb_buf_t *out);
/* One backend's object, as in /stats.json (an admin API answer). */
void lb_stats_json_backend(lb_buf_t *b, const lb_stats_backend_t *be);

/* ---- the request (stats_request.c) ---- */
/* What a request gets: a page, or an HTTP error status. */
enum {
    LB_STATS_PAGE_HTML = 0, /* GET / */
    LB_STATS_PAGE_METRICS,  /* GET /metrics */
    LB_STATS_PAGE_JSON,     /* GET /stats.json */
    LB_STATS_API_BACKENDS,  /* GET /api/v1/backends */
    LB_STATS_API_SET,       /* PUT /api/v1/listeners/L/backends/B */
    LB_STATS_BAD_REQUEST = 400,
    LB_STATS_UNAUTHORIZED = 401, /* stats_token_file: no or a wrong token;
                                  * a PUT: no or a wrong admin token */
    LB_STATS_NOT_FOUND = 404,
    LB_STATS_NOT_ALLOWED = 405,  /* a method other than GET (and PUT for
                                  * the admin API, when it is on) */
    LB_STATS_LENGTH_REQUIRED = 411, /* a PUT without Content-Length */
    LB_STATS_TOO_LARGE = 413,       /* a body over LB_ADMIN_MAX_BODY */
    LB_STATS_MISDIRECTED = 421   /* a Host that is no IP literal, localhost
                                  * or stats_host: maybe DNS rebinding */
};

/* A request as judged: what it gets, and what serving it needs. */
typedef struct lb_stats_req_s {
    int answer;        /* one of the codes above */
    size_t head_len;   /* the request line and headers, with the empty
                        * line after them; 0 if that line has not come */
    size_t body_len;   /* Content-Length (a PUT's) */
    const char *target; /* the request target, in the request */
    size_t target_len;
    int text;          /* "Accept: text/plain" (pumpkinlb --admin) */
} lb_stats_req_t;

/* Judges the request line and headers in req[0..len), as a network peer
 * sent them (any bytes), against cfg: out->answer is one of the codes
 * above; a PUT's body is out->body_len bytes from out->head_len on. */
void lb_stats_parse(const char *req, size_t len, const lb_stats_cfg_t *cfg,
                    lb_stats_req_t *out);
/* The same, only the answer. */
int lb_stats_request(const char *req, size_t len, const lb_stats_cfg_t *cfg);

/* ---- serving, in a worker ---- */
/* run.c binds the stats address as one more listener after the config's
 * (index cfg->nlisteners), and hands a worker its listener indexes in
 * order, so it comes last in idx[0..*n). If it is there, this serves it
 * (where workers share a process, only in slot 0) and takes it off (*n
 * shrinks); an in-loop reload's new server takes the
 * socket over from previous (NULL: none) when it is the same. It also
 * zeroes this worker's per-slot counts of the listeners it serves. */
int lb_stats_worker_init(struct lb_server_s *srv, lb_listener_t **listeners,
                         const size_t *idx, size_t *n,
                         struct lb_server_s *previous);
/* Stops accepting (a stop was requested). */
void lb_stats_close_listener(struct lb_server_s *srv);
/* Closes every stats connection now (the drain's deadline). */
void lb_stats_cut(struct lb_server_s *srv);
void lb_stats_free(struct lb_server_s *srv);

#endif
