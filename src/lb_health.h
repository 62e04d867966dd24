/* lb_health.h - what every worker of a listener knows about its backends:
 * passive health (failed connects take a backend out for a while), active
 * checks' verdicts, and connections open per backend for max_conns. The
 * state lives in lb_shared_alloc() memory, so a backend one worker finds
 * down is skipped by all of them. */
#ifndef LB_HEALTH_H
#define LB_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "lb_config.h"
#include "lb_platform.h"

/* Why a backend is out (lb_backend_state_t.down). */
enum { LB_UP = 0, LB_DOWN_FAILS = 1, LB_DOWN_CHECKS = 2 };

/* Until the active checks bring it back (lb_backend_state_t.down_until). */
#define LB_DOWN_UNTIL_CHECKED INT64_MAX

/* What the admin API says of a backend (lb_backend_state_t.admin): ready;
 * drain: no new clients, open connections go on; maint: no new clients,
 * open connections cut after drain_timeout. */
enum { LB_ADMIN_READY = 0, LB_ADMIN_DRAIN = 1, LB_ADMIN_MAINT = 2 };

/* The last active check (lb_backend_state_t.check_result). */
enum { LB_CHECKED_NONE = 0, LB_CHECKED_PASS = 1, LB_CHECKED_FAIL = 2 };

/* Weights are counted in thousandths, so that slow start can ramp one
 * smoothly: a config's weight=3 is 3000. */
#define LB_WEIGHT_SCALE 1000

typedef struct lb_backend_state_s {
    lb_atomic_t down;         /* LB_UP or why it is out */
    lb_atomic_t down_until;   /* loop ms when it may be tried again */
    lb_atomic_t fails;        /* failed connects in the current window */
    lb_atomic_t window_start; /* loop ms the window began */
    lb_atomic_t current_weight; /* algorithm weighted: nginx's of the same
                                 * name, shared by every worker */
    /* Set through the admin API (admin.c); zero is the config's. Written
     * by one process and read by all, so with atomics only (Windows may
     * run several loops as threads of one process). */
    lb_atomic_t admin;        /* LB_ADMIN_* */
    lb_atomic_t weight;       /* 0: the config's; else 1..LB_MAX_WEIGHT */
    lb_atomic_t max_conns;    /* 0: the config's; else the limit plus 1 */
    /* Loop ms: connections to it made before then are cut once it has
     * passed (maint's drain_timeout; check_on_down); 0: none. */
    lb_atomic_t cut_at;
    lb_atomic_t up_since;     /* loop ms it came back: slow start; 0 none */
    lb_atomic_t changed;      /* Unix time of its last change of state */
    /* The active checks' last result (LB_CHECKED_*, LB_CHECK_E_*). */
    lb_atomic_t check_result, check_reason, check_ms, check_time;
} lb_backend_state_t;

/* One listener's view in one worker. conns holds a row per worker slot,
 * so a restarted worker can forget what its dead predecessor counted. */
typedef struct lb_health_s {
    const lb_listener_cfg_t *cfg;
    lb_backend_state_t *state; /* cfg->nbackends, shared */
    lb_atomic_t *conns;        /* [backend * processes + slot], shared */
    unsigned slot, processes;
    size_t nbackup;            /* backends marked backup */
    uint64_t last_fallback_log;
} lb_health_t;

/* The active checker's memory of one backend (kept by one worker). */
typedef struct lb_check_streak_s {
    int ok, failed;
    int seen_down; /* the streak of passes counts from when it went down */
} lb_check_streak_t;

void lb_health_init(lb_health_t *h, const lb_listener_cfg_t *cfg,
                    lb_backend_state_t *state, lb_atomic_t *conns,
                    unsigned slot, unsigned processes);

/* How good a choice backend i is now; higher is better. */
enum {
    LB_RANK_FULL = 0,   /* at max_conns: not usable */
    LB_RANK_DOWN = 1,   /* out of service: only if nothing better */
    LB_RANK_OK = 2,     /* fine */
    LB_RANK_PRIMARY = 3 /* a retry's best: fine and not a backup */
};
int lb_health_rank(lb_health_t *h, size_t i, uint64_t now);

/* The same for a retry: LB_RANK_PRIMARY for a backend in service that is
 * not a backup, so a retry prefers it to a backup. */
int lb_health_retry_rank(lb_health_t *h, size_t i, uint64_t now);

/* Connections open to backend i, over every worker. */
int64_t lb_health_open_conns(lb_health_t *h, size_t i);

/* A connection to backend i opens (+1) or ends (-1). */
void lb_health_count(lb_health_t *h, size_t i, int delta);

/* 1 if a connect failed with err because this host ran out of something
 * (local ports, sockets, buffers, memory): the balancer's fault, never
 * held against the backend by passive or active health. */
int lb_health_local_error(int err);

/* A connect to backend i failed / succeeded (passive health). */
void lb_health_failed(lb_health_t *h, size_t i, uint64_t now);
void lb_health_succeeded(lb_health_t *h, size_t i, uint64_t now);

/* An active check of backend i passed (ok) or failed, for reason
 * (LB_CHECK_E_*), after ms: the verdict, and the result for the
 * statistics. */
void lb_health_checked(lb_health_t *h, size_t i, int ok,
                       lb_check_streak_t *streak, uint64_t now);
void lb_health_check_result(lb_health_t *h, size_t i, int ok, int reason,
                            uint64_t ms);

/* Backend i's limit now: the admin's, else the config's (0: none). */
int lb_health_max_conns(const lb_health_t *h, size_t i);
/* Backend i's weight now, in LB_WEIGHT_SCALE units: the admin's or the
 * config's, ramped up by slow start (never below 1). */
int64_t lb_health_weight(const lb_health_t *h, size_t i, uint64_t now);
/* 1 if the admin API lets backend i take new clients. */
int lb_health_admin_ready(const lb_health_t *h, size_t i);


#endif
