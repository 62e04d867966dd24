/* config_internal.h - state shared by the parts of the config loader:
 * config.c (entry points, final checks), config_util.c (messages, string
 * and number helpers), config_ini.c (lines, sections,
 * keys), config_parse.c (option values), config_mappings.c (listen
 * addresses, backend lists), config_acl.c (allow and deny lists),
 * config_balance.c (algorithm and backend parameters), config_stats.c
 * (the statistics server's keys), config_check.c (the health checks'
 * words) and config_route.c ([route:NAME] sections). */
#ifndef LB_CONFIG_INTERNAL_H
#define LB_CONFIG_INTERNAL_H

#include <stddef.h>

#include "lb_config.h"
#include "lb_log.h" /* LB_PRINTF */

/* inih copies section and key names into 50-byte buffers and cuts longer
 * ones without a word; we refuse them before that can happen. */
#define LB_CFG_MAX_NAME 48

/* Options keep their "unset" values until one pass applies defaults. */
#define LB_CFG_UNSET_INT (-1)
#define LB_CFG_UNSET_MS (-1)

#define LB_CFG_NOPTIONS 52
#define LB_CFG_NLISTENER_OPTIONS 36

typedef enum {
    LB_CFG_SEC_NONE,     /* before the first [section] */
    LB_CFG_SEC_OPTIONS,
    LB_CFG_SEC_MAPPINGS,
    LB_CFG_SEC_LISTENER,
    LB_CFG_SEC_ROUTE,
    LB_CFG_SEC_UNKNOWN   /* warned about once; its keys are ignored */
} lb_cfg_section_t;

/* What an indented continuation line adds to. */
typedef enum {
    LB_CFG_TARGET_NONE,
    LB_CFG_TARGET_BACKENDS, /* a backend list: more backends */
    LB_CFG_TARGET_ACL,      /* an allow or deny list: more entries */
    LB_CFG_TARGET_SNI,      /* a route's sni list: more names */
    LB_CFG_TARGET_SINGLE,   /* a one-value key: a continuation is a mistake */
    LB_CFG_TARGET_IGNORE    /* an unknown key: ignored with it */
} lb_cfg_target_t;

/* Per listener, what only the loader needs: where things were written.
 * A [route:NAME] is parsed as one more entry of cfg->listeners (so
 * backends and options are read the same way) and moved to cfg->routes
 * at the end (lb__cfg_routes_split). */
typedef struct lb_cfg_pending_s {
    int *backend_lines; /* line of each backend, for resolve errors */
    size_t backend_cap;
    int from_section;   /* [listener:NAME] rather than a [mappings] entry */
    int route;          /* a [route:NAME], not a listener */
    int listen_line;    /* 0 until the listen address is known */
    int backends_line;  /* 0 until a backends key was seen */
    int option_line[LB_CFG_NLISTENER_OPTIONS]; /* per-listener options */
    char *route_of;     /* a route: its listener = NAME, as written */
    int route_of_line;
    int sni_line;       /* a route: 0 until an sni key was seen */
    size_t sni_cap;
    int *sni_lines;     /* a route: line of each name */
} lb_cfg_pending_t;

typedef struct lb_cfg_parser_s {
    const char *file; /* the name used in messages */
    const char *text;
    size_t len;
    size_t pos;
    int lineno;
    int continuation; /* the current line continues the previous value */
    int have_key;     /* mirrors inih's prev_name: continuation possible */
    int key_at_colon; /* inih split this key line at ':', not '=' */
    int failed;
    char *err;
    lb_config_t *cfg;
    lb_config_warn_fn warn;
    void *warn_ctx;

    lb_cfg_section_t section;
    int section_line;
    size_t listener; /* index of the current [listener:NAME] */

    lb_cfg_target_t target;
    size_t target_listener;
    int target_line;
    const char *target_key; /* static name of a one-value key */
    /* The allow or deny list being written. Safe to keep: the listener
     * array only grows on a new key line, which ends the list first. */
    lb_acl_t *target_acl;
    int target_comma_line;  /* its last line ended with ',' (else 0) */

    lb_cfg_pending_t *pending; /* parallel to cfg->listeners */
    size_t listener_cap;
    int option_line[LB_CFG_NOPTIONS]; /* where each option was set */
} lb_cfg_parser_t;

/* config_util.c */
/* The load fails with "FILE:LINE: message" (line 0: "FILE: message");
 * only the first failure is kept. */
void lb__cfg_fail(lb_cfg_parser_t *p, int line, const char *fmt, ...)
    LB_PRINTF(3, 4);
void lb__cfg_warn(lb_cfg_parser_t *p, int line, const char *fmt, ...)
    LB_PRINTF(3, 4);
char *lb__cfg_dupn(const char *s, size_t n);
char *lb__cfg_dup(const char *s);
/* ASCII only: no locale changes how a config reads. */
int lb__cfg_is_space(int c);
int lb__cfg_is_digit(int c);
int lb__cfg_casecmp(const char *a, const char *b);
enum { LB_CFG_NUM_OK = 0, LB_CFG_NUM_SYNTAX = -1, LB_CFG_NUM_RANGE = -2 };
/* A non-empty run of decimal digits no greater than max: no sign, no
 * spaces, no trailing junk. LB_CFG_NUM_*. */
int lb__cfg_parse_uint(const char *s, unsigned long max, unsigned long *out);
/* "1".."65535", nothing else: 0, else -1. */
int lb__cfg_parse_port(const char *s, uint16_t *out);
/* Trims s in place; returns its start. */
char *lb__cfg_trim(char *s);
/* One item of a comma-separated list: cuts item at its first ',', sets
 * *next past it (NULL if none) and returns the item trimmed. */
char *lb__cfg_split_item(char *item, char **next);
/* fn(p, li, item) for each non-empty item of a comma-separated list, up
 * to the first that fails; 0 or -1 after lb__cfg_fail(). */
typedef int (*lb_cfg_item_fn)(lb_cfg_parser_t *p, size_t li, char *item);
int lb__cfg_each_item(lb_cfg_parser_t *p, size_t li, const char *list,
                      lb_cfg_item_fn fn);

/* config_ini.c: runs inih over p->text, filling p->cfg. */
void lb__cfg_parse(lb_cfg_parser_t *p);
/* Appends an empty entry to cfg->listeners named name (taken over, even
 * on failure). */
int lb__cfg_new_listener(lb_cfg_parser_t *p, char *name, size_t *index);
/* Indented lines that follow add to target (of entry li). */
void lb__cfg_set_target(lb_cfg_parser_t *p, lb_cfg_target_t target,
                        size_t li);
/* Where entry li was written, for messages: "listener 'web'" or "route
 * 'api'". */
const char *lb__cfg_kind(const lb_cfg_parser_t *p, size_t li);

/* config_parse.c */
void lb__cfg_options_unset(lb_config_t *cfg);
void lb__cfg_options_defaults(lb_config_t *cfg);
/* A key of [options]; 0 or -1 after lb__cfg_fail(). */
int lb__cfg_option(lb_cfg_parser_t *p, const char *name, const char *value);
/* A per-listener option (e.g. idle_timeout) of [listener:NAME] li: 0 or
 * -1 after lb__cfg_fail(), 1 if name is not one. */
int lb__cfg_listener_option(lb_cfg_parser_t *p, size_t li, const char *name,
                            const char *value);
/* 1 if name is a key of [listener:NAME] (listen, or an option). */
int lb__cfg_is_listener_option(const char *name);
void lb__cfg_listener_unset(lb_listener_cfg_t *l);
/* Unset per-listener options take the [options] values; 0 or LB_ENOMEM. */
int lb__cfg_listener_defaults(const lb_config_t *cfg, lb_listener_cfg_t *l);
/* Unset settings of a route take its listener's (listener defaults
 * applied already): its own algorithm, health and send_proxy if set, the
 * listener's timeouts always. */
int lb__cfg_route_inherit(const lb_listener_cfg_t *listener,
                           lb_listener_cfg_t *route);
/* Where [options] key name was set, 0 if not. */
int lb__cfg_option_line(const lb_cfg_parser_t *p, const char *name);
/* Where listener li's own section set key name, 0 if not. */
int lb__cfg_listener_option_line(const lb_cfg_parser_t *p, size_t li,
                                 const char *name);
/* config_mappings.c */
/* "PORT", "HOST:PORT", "*:PORT" or "[IPV6]:PORT" into *out. */
int lb__cfg_parse_listen(lb_cfg_parser_t *p, const char *text,
                         lb_addr_t *out);
/* Appends the comma-separated backends of list to listener li. */
int lb__cfg_add_backends(lb_cfg_parser_t *p, size_t li, const char *list);

/* config_route.c */
/* [route:NAME] begins (name taken over). */
int lb__cfg_begin_route(lb_cfg_parser_t *p, char *name);
/* A key of the current [route:NAME]. */
int lb__cfg_route_key(lb_cfg_parser_t *p, const char *name,
                      const char *value);
/* A continuation line of its sni list. */
int lb__cfg_sni_more(lb_cfg_parser_t *p, const char *list);
/* The section ends: listener, sni and backends are required. */
void lb__cfg_route_end(lb_cfg_parser_t *p);
/* Once the file is read: each route finds its listener, names are
 * unique per listener, and a listener without backends has routes. */
void lb__cfg_routes_attach(lb_cfg_parser_t *p);
/* Finally moves the routes from cfg->listeners to cfg->routes. */
void lb__cfg_routes_split(lb_cfg_parser_t *p);

/* config_acl.c */
/* allow = LIST or deny = LIST into the lb_acl_t at field; starts a list
 * that indented lines may continue. */
int lb__cfg_opt_acl(lb_cfg_parser_t *p, const char *name, const char *value,
                    void *field);
/* A continuation line of the allow or deny list p->target_acl. */
int lb__cfg_acl_more(lb_cfg_parser_t *p, const char *list);
/* The end of that list: it must not be empty or end with ','. */
void lb__cfg_acl_end(lb_cfg_parser_t *p);

/* config_stats.c: stats, stats_host and stats_token_file; stats_allow
 * is an acl. */
int lb__cfg_opt_stats(lb_cfg_parser_t *p, const char *name,
                      const char *value, void *field);
int lb__cfg_opt_stats_hosts(lb_cfg_parser_t *p, const char *name,
                            const char *value, void *field);
int lb__cfg_opt_stats_token(lb_cfg_parser_t *p, const char *name,
                            const char *value, void *field);
int lb__cfg_opt_admin_token(lb_cfg_parser_t *p, const char *name,
                            const char *value, void *field);
/* The stats_* keys need stats. */
void lb__cfg_stats_finish(lb_cfg_parser_t *p);
void lb__cfg_stats_free(lb_stats_cfg_t *st);

/* config_check.c: check_send, check_expect, check_expect_re,
 * check_http, check_expect_status, check_port, check_address and
 * check_on_down into the lb_check_cfg_t at field. */
int lb__cfg_opt_check(lb_cfg_parser_t *p, const char *name,
                      const char *value, void *field);
void lb__cfg_check_unset(lb_check_cfg_t *c);
void lb__cfg_check_defaults(lb_check_cfg_t *c);
/* What c left unset comes from def (copied); 0, or -1 out of memory. */
int lb__cfg_check_inherit(lb_check_cfg_t *c, const lb_check_cfg_t *def);
/* Once defaults are applied: keys that cannot go together, or that mean
 * nothing without check_interval. */
void lb__cfg_check_finish(lb_cfg_parser_t *p);
/* Once backends are resolved: where each one is checked. */
void lb__cfg_check_targets(lb_cfg_parser_t *p);

/* config_balance.c */
/* algorithm = NAME into the int at field. */
int lb__cfg_opt_algorithm(lb_cfg_parser_t *p, const char *name,
                          const char *value, void *field);
/* The parameters after a backend's address ("weight=3 backup") into b;
 * item is the whole entry, for messages. 0 or -1 after lb__cfg_fail(). */
int lb__cfg_backend_params(lb_cfg_parser_t *p, const char *item,
                           const char *params, lb_backend_cfg_t *b);
/* 1 if the first '=' of an indented line is a backend parameter's
 * (a:80 weight=2) rather than a new key's. */
int lb__cfg_params_line(const char *line);
/* "weight=N" plus " backup" if so, for messages. */
void lb__cfg_params_text(const lb_backend_cfg_t *b, char *buf, size_t size);
/* Once listener li's backends are final: their hashing keys, and a
 * warning where weights have no effect. */
void lb__cfg_balance_finish(lb_cfg_parser_t *p, size_t li);

#endif
