/* lb_admin.h - the admin API on the statistics address: what a PUT to
 * /api/v1/listeners/{listener}/backends/{backend} asks (admin_request.c:
 * the path and a small JSON body, both from the network, parsed with no
 * I/O and fuzzed by tests/fuzz/fuzz_admin.c), how it is applied to the
 * shared block (admin.c), carried over a reload (admin_carry.c), and the
 * command line that sends it (admin_client.c). */
#ifndef LB_ADMIN_H
#define LB_ADMIN_H

#include <stddef.h>

#include "lb_config.h"
#include "lb_stats.h"

struct lb_server_s;
struct lb_shared_s;

#define LB_ADMIN_MAX_BODY 1024 /* a PUT's body; beyond: 413 */
#define LB_ADMIN_MAX_NAME 256  /* a listener's or backend's name, decoded */
#define LB_ADMIN_MAX_CONNS 1000000

/* What a PUT changes; -1: left as it is. */
typedef struct lb_admin_change_s {
    int state;     /* LB_ADMIN_READY, LB_ADMIN_DRAIN or LB_ADMIN_MAINT */
    int weight;    /* 1 .. LB_MAX_WEIGHT */
    int max_conns; /* 0 (no limit) .. LB_ADMIN_MAX_CONNS */
} lb_admin_change_t;

/* The body: a JSON object with any of "state" ("ready", "drain",
 * "maint"), "weight" and "max_conns" (whole numbers), nothing else, each
 * once. 0, or -1 with a reason for the client in why. */
int lb_admin_parse_body(const char *body, size_t len, lb_admin_change_t *out,
                        char *why, size_t whylen);

/* The target "/api/v1/listeners/L/backends/B" (percent-encoded), the
 * names decoded into listener and backend (LB_ADMIN_MAX_NAME + 1 bytes
 * each). 0; 1 if the target is not that path; -1 if it is, but malformed
 * (a bad %-escape, %00, an empty or overlong name). */
int lb_admin_parse_path(const char *target, size_t len, char *listener,
                        char *backend);

/* ---- applying it (admin.c, in the statistics worker) ---- */

/* Applies ch to backend of listener (as the config names them), logs the
 * change with who made it, and writes the JSON answer to out: the
 * backend's new state, or {"error": ...}. Returns the HTTP status: 200,
 * or 404 for an unknown listener or backend. */
int lb_admin_apply(struct lb_server_s *srv, const char *listener,
                   const char *backend, const lb_admin_change_t *ch,
                   const char *who, lb_buf_t *out);
/* GET /api/v1/backends: every listener's backends, as JSON, or as a text
 * table for pumpkinlb --admin show. 0 or LB_ENOMEM. */
int lb_stats_api_json(const lb_stats_snapshot_t *s, lb_buf_t *out);
int lb_stats_api_text(const lb_stats_snapshot_t *s, lb_buf_t *out);

/* After a reload: what the admin API set on old's backends goes to the
 * same backends of the new config (same listener name, same address as
 * written), unless the new config changed that very value (the config
 * then wins, as HAProxy's server-state-file does). */
void lb_admin_carry(const lb_config_t *old_cfg,
                    const struct lb_shared_s *old_sh, const lb_config_t *cfg,
                    struct lb_shared_s *sh);

/* pumpkinlb --admin CFG show | LISTENER BACKEND key=value...: sends the
 * request to the config's stats address with its admin token, prints
 * the answer; returns the exit status. */
int lb_admin_command(int argc, char **argv);

#endif
