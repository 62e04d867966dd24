/* config_parse.c - the values of [options] and of per-listener options:
 * the table of keys with their parsers and defaults, durations and
 * sizes. Listen addresses and backend lists are in config_mappings.c,
 * allow and deny lists in config_acl.c, the statistics' keys in
 * config_stats.c. Parsing is by hand and ASCII-only so that no locale
 * changes how a config reads. */
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

#define LB_CFG_MAX_SECONDS 1000000UL /* about 11 days */

typedef int (*lb_cfg_option_fn)(lb_cfg_parser_t *p, const char *name,
                                const char *value, void *field);

typedef struct lb_cfg_option_s {
    const char *name;
    size_t offset;
    lb_cfg_option_fn parse;
} lb_cfg_option_t;

/* Seconds as "5", "0.5", "5." or ".5". */
static int
parse_seconds(const char *s, double *out)
{
    const char *dot = strchr(s, '.');
    unsigned long whole = 0;
    double frac = 0.0, scale = 1.0;
    char *ip;
    int rc = LB_CFG_NUM_OK;

    ip = lb__cfg_dupn(s, dot ? (size_t)(dot - s) : strlen(s));
    if (ip == NULL)
        return LB_CFG_NUM_SYNTAX;
    if (*ip != '\0')
        rc = lb__cfg_parse_uint(ip, LB_CFG_MAX_SECONDS, &whole);
    free(ip);
    if (rc != LB_CFG_NUM_OK)
        return rc;
    if (dot != NULL) {
        if (dot == s && dot[1] == '\0')
            return LB_CFG_NUM_SYNTAX;
        for (s = dot + 1; *s; s++) {
            if (!lb__cfg_is_digit((unsigned char)*s))
                return LB_CFG_NUM_SYNTAX;
            scale /= 10.0;
            frac += (*s - '0') * scale;
        }
    } else if (*s == '\0') {
        return LB_CFG_NUM_SYNTAX;
    }
    *out = (double)whole + frac;
    return *out > (double)LB_CFG_MAX_SECONDS ? LB_CFG_NUM_RANGE : LB_CFG_NUM_OK;
}

static int
opt_bool(lb_cfg_parser_t *p, const char *name, const char *value,
         void *field)
{
    static const char *const words[] = {"0", "false", "no",  "off",
                                        "1", "true",  "yes", "on"};
    size_t i;

    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (lb__cfg_casecmp(value, words[i]) == 0) {
            *(int *)field = i >= 4;
            return 0;
        }
    }
    lb__cfg_fail(p, p->lineno,
                 "%s must be 0, 1, true, false, yes, no, on or off, "
                 "got '%s'", name, value);
    return -1;
}

/* A PROXY protocol version to send: v1, v2 or off. */
static int
opt_proxy_version(lb_cfg_parser_t *p, const char *name, const char *value,
                  void *field)
{
    static const char *const words[] = {"off", "v1", "v2"};
    size_t i;

    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (lb__cfg_casecmp(value, words[i]) == 0) {
            *(int *)field = (int)i;
            return 0;
        }
    }
    lb__cfg_fail(p, p->lineno, "%s must be v1, v2 or off, got '%s'", name,
                 value);
    return -1;
}

static int
opt_buffer_size(lb_cfg_parser_t *p, const char *name, const char *value,
                void *field)
{
    unsigned long v = 0;
    int rc = lb__cfg_parse_uint(value, LB_MAX_BUFFER_SIZE, &v);

    if (rc == LB_CFG_NUM_OK && v > 0) {
        *(size_t *)field = (size_t)v;
        return 0;
    }
    if (rc == LB_CFG_NUM_RANGE)
        lb__cfg_fail(p, p->lineno, "%s must be at most %lu bytes, got '%s'",
                     name, (unsigned long)LB_MAX_BUFFER_SIZE, value);
    else
        lb__cfg_fail(p, p->lineno,
                     "%s must be a whole number of bytes greater than 0, "
                     "got '%s'", name, value);
    return -1;
}

/* A duration in seconds ("5", "0.25"), kept in milliseconds. */
static int
opt_seconds(lb_cfg_parser_t *p, const char *name, const char *value,
            void *field)
{
    double seconds = 0;
    int rc = parse_seconds(value, &seconds);

    if (rc == LB_CFG_NUM_OK) {
        *(int64_t *)field = (int64_t)(seconds * 1000.0 + 0.5);
        return 0;
    }
    if (rc == LB_CFG_NUM_RANGE)
        lb__cfg_fail(p, p->lineno, "%s must be at most %lu seconds, got '%s'",
                     name, LB_CFG_MAX_SECONDS, value);
    else
        lb__cfg_fail(p, p->lineno,
                     "%s must be a number of seconds, 0 or more "
                     "(e.g. 5 or 0.5), got '%s'", name, value);
    return -1;
}

/* A whole number from min up (to INT_MAX) into an int. */
static int
opt_int_from(lb_cfg_parser_t *p, const char *name, const char *value,
             void *field, unsigned long min)
{
    unsigned long v = 0;

    if (lb__cfg_parse_uint(value, INT_MAX, &v) == LB_CFG_NUM_OK && v >= min) {
        *(int *)field = (int)v;
        return 0;
    }
    lb__cfg_fail(p, p->lineno,
                 "%s must be a whole number, %lu or more, got '%s'", name,
                 min, value);
    return -1;
}

static int
opt_count(lb_cfg_parser_t *p, const char *name, const char *value,
          void *field)
{
    return opt_int_from(p, name, value, field, 0);
}

static int
opt_positive(lb_cfg_parser_t *p, const char *name, const char *value,
             void *field)
{
    return opt_int_from(p, name, value, field, 1);
}

/* A duration that cannot be 0: a window of no length means nothing. */
static int
opt_period(lb_cfg_parser_t *p, const char *name, const char *value,
           void *field)
{
    if (opt_seconds(p, name, value, field) != 0)
        return -1;
    if (*(int64_t *)field > 0)
        return 0;
    lb__cfg_fail(p, p->lineno,
                 "%s must be more than 0 seconds, got '%s'", name, value);
    return -1;
}

/* A number, or auto: one per processor (lb_cpu_count), at most
 * LB_MAX_PROCESSES. */
static int
opt_processes(lb_cfg_parser_t *p, const char *name, const char *value,
              void *field)
{
    unsigned long v = 0;

    if (lb__cfg_casecmp(value, "auto") == 0) {
        v = lb_cpu_count();
        *(unsigned *)field = v == 0 ? 1
                             : v > LB_MAX_PROCESSES ? LB_MAX_PROCESSES
                                                    : (unsigned)v;
        return 0;
    }
    if (lb__cfg_parse_uint(value, LB_MAX_PROCESSES, &v) == LB_CFG_NUM_OK &&
        v > 0) {
        *(unsigned *)field = (unsigned)v;
        return 0;
    }
    lb__cfg_fail(p, p->lineno,
                 "%s must be a whole number from 1 to %d, or auto, got '%s'",
                 name, LB_MAX_PROCESSES, value);
    return -1;
}

static int
opt_path(lb_cfg_parser_t *p, const char *name, const char *value,
         void *field)
{
    char **out = field;

    if (*value == '\0') {
        lb__cfg_fail(p, p->lineno, "%s must not be empty", name);
        return -1;
    }
    *out = lb__cfg_dup(value);
    if (*out == NULL) {
        lb__cfg_fail(p, p->lineno, "out of memory");
        return -1;
    }
    return 0;
}

/* persist = none | rdp_cookie. */
static int
opt_persist(lb_cfg_parser_t *p, const char *name, const char *value,
            void *field)
{
    if (lb__cfg_casecmp(value, "none") == 0) {
        *(int *)field = LB_PERSIST_NONE;
        return 0;
    }
    if (lb__cfg_casecmp(value, "rdp_cookie") == 0) {
        *(int *)field = LB_PERSIST_RDP_COOKIE;
        return 0;
    }
    lb__cfg_fail(p, p->lineno, "%s must be rdp_cookie or none, got '%s'",
                 name, value);
    return -1;
}

/* A whole number from min to max into an int (the messages say so). */
static int
opt_int_range(lb_cfg_parser_t *p, const char *name, const char *value,
              void *field, unsigned long min, unsigned long max)
{
    unsigned long v = 0;

    if (lb__cfg_parse_uint(value, max, &v) == LB_CFG_NUM_OK && v >= min) {
        *(int *)field = (int)v;
        return 0;
    }
    lb__cfg_fail(p, p->lineno,
                 "%s must be a whole number from %lu to %lu, got '%s'", name,
                 min, max, value);
    return -1;
}

static int
opt_ipv6_prefix(lb_cfg_parser_t *p, const char *name, const char *value,
                void *field)
{
    return opt_int_range(p, name, value, field, 1, 128);
}

static int
opt_keepalive(lb_cfg_parser_t *p, const char *name, const char *value,
              void *field)
{
    return opt_int_range(p, name, value, field, 0, LB_MAX_KEEPALIVE);
}

static int
opt_table_size(lb_cfg_parser_t *p, const char *name, const char *value,
               void *field)
{
    int n = 0;

    if (opt_int_range(p, name, value, &n, 1, LB_MAX_TABLE_SIZE) != 0)
        return -1;
    *(size_t *)field = (size_t)n;
    return 0;
}

/* max_conn_rate_per_client = N/S (N connections per S seconds), or 0. */
static int
opt_rate(lb_cfg_parser_t *p, const char *name, const char *value,
         void *field)
{
    lb_rate_t *r = field;
    const char *slash = strchr(value, '/');
    unsigned long n = 0;
    double seconds = 0;
    char *count;
    int rc;

    if (strcmp(value, "0") == 0) {
        r->count = 0;
        r->period_ms = 0;
        return 0;
    }
    count = slash ? lb__cfg_dupn(value, (size_t)(slash - value)) : NULL;
    rc = count ? lb__cfg_parse_uint(count, 1000000, &n) : LB_CFG_NUM_SYNTAX;
    free(count);
    if (rc == LB_CFG_NUM_OK && n > 0 &&
        parse_seconds(slash + 1, &seconds) == LB_CFG_NUM_OK &&
        seconds * 1000.0 >= 1.0) {
        r->count = (int)n;
        r->period_ms = (int64_t)(seconds * 1000.0 + 0.5);
        return 0;
    }
    lb__cfg_fail(p, p->lineno,
                 "%s must be N/S (N connections, 1 to 1000000, per S "
                 "seconds, e.g. 10/1 or 100/60) or 0, got '%s'", name, value);
    return -1;
}

/* A size in bytes, with K, M or G (binary) as a unit if wanted. */
static int
opt_size(lb_cfg_parser_t *p, const char *name, const char *value,
         void *field)
{
    size_t n = strlen(value);
    int64_t unit = 1, limit;
    unsigned long v = 0;
    char *digits;
    int rc;

    if (n > 1 && strchr("kKmMgG", value[n - 1]) != NULL) {
        unit = (int64_t)1 << (value[n - 1] == 'k' || value[n - 1] == 'K' ? 10
                              : value[n - 1] == 'm' || value[n - 1] == 'M'
                                  ? 20
                                  : 30);
        n--;
    }
    limit = LB_MAX_LOG_ROTATE_SIZE / unit;
    digits = lb__cfg_dupn(value, n);
    rc = digits == NULL ? LB_CFG_NUM_SYNTAX
                        : lb__cfg_parse_uint(digits, limit > (int64_t)ULONG_MAX
                                                 ? ULONG_MAX
                                                 : (unsigned long)limit,
                                             &v);
    free(digits);
    if (rc == LB_CFG_NUM_OK) {
        *(int64_t *)field = (int64_t)v * unit;
        return 0;
    }
    lb__cfg_fail(p, p->lineno,
                 "%s must be a number of bytes, 0 or more, with K, M or G "
                 "if wanted (e.g. 10M), at most 1024G, got '%s'", name,
                 value);
    return -1;
}

static const lb_cfg_option_t lb_cfg_options[] = {
    {"pre_resolve_workers", offsetof(lb_config_t, pre_resolve), opt_bool},
    {"buffer_size", offsetof(lb_config_t, buffer_size), opt_buffer_size},
    {"connect_timeout", offsetof(lb_config_t, connect_timeout_ms), opt_seconds},
    {"graceful_shutdown_timeout", offsetof(lb_config_t, graceful_timeout_ms),
     opt_seconds},
    {"max_retries", offsetof(lb_config_t, max_retries), opt_count},
    {"processes", offsetof(lb_config_t, processes), opt_processes},
    {"log_file", offsetof(lb_config_t, log_file), opt_path},
    {"log_rotate_size", offsetof(lb_config_t, log_rotate_size), opt_size},
    {"idle_timeout", offsetof(lb_config_t, idle_timeout_ms), opt_seconds},
    {"half_close_timeout", offsetof(lb_config_t, half_close_timeout_ms),
     opt_seconds},
    {"max_connections", offsetof(lb_config_t, max_connections), opt_count},
    {"user", offsetof(lb_config_t, user), opt_path},
    {"group", offsetof(lb_config_t, group), opt_path},
    {"algorithm", offsetof(lb_config_t, algorithm), lb__cfg_opt_algorithm},
#define LB_HEALTH_OPTIONS(T)                                                 \
    {"max_fails", offsetof(T, health.max_fails), opt_count},                 \
    {"fail_timeout", offsetof(T, health.fail_timeout_ms), opt_period},       \
    {"max_conns", offsetof(T, health.max_conns), opt_count},                 \
    {"check_interval", offsetof(T, health.check_interval_ms), opt_seconds},  \
    {"check_timeout", offsetof(T, health.check_timeout_ms), opt_seconds},    \
    {"rise", offsetof(T, health.rise), opt_positive},                        \
    {"fall", offsetof(T, health.fall), opt_positive},                        \
    {"check_send", offsetof(T, health.check), lb__cfg_opt_check},            \
    {"check_expect", offsetof(T, health.check), lb__cfg_opt_check},          \
    {"check_expect_re", offsetof(T, health.check), lb__cfg_opt_check},       \
    {"check_http", offsetof(T, health.check), lb__cfg_opt_check},            \
    {"check_expect_status", offsetof(T, health.check), lb__cfg_opt_check},   \
    {"check_port", offsetof(T, health.check), lb__cfg_opt_check},            \
    {"check_address", offsetof(T, health.check), lb__cfg_opt_check},         \
    {"check_on_down", offsetof(T, health.check), lb__cfg_opt_check},         \
    {"drain_timeout", offsetof(T, health.drain_timeout_ms), opt_seconds},    \
    {"slow_start", offsetof(T, health.slow_start_ms), opt_seconds},          \
    {"queue_timeout", offsetof(T, queue_timeout_ms), opt_seconds},           \
    {"max_queue", offsetof(T, max_queue), opt_count},
    LB_HEALTH_OPTIONS(lb_config_t)
    {"allow", offsetof(lb_config_t, allow), lb__cfg_opt_acl},
    {"deny", offsetof(lb_config_t, deny), lb__cfg_opt_acl},
    {"log_connections", offsetof(lb_config_t, log_connections), opt_bool},
    {"send_proxy", offsetof(lb_config_t, send_proxy), opt_proxy_version},
    {"accept_proxy", offsetof(lb_config_t, accept_proxy), opt_bool},
    {"stats", offsetof(lb_config_t, stats), lb__cfg_opt_stats},
    {"stats_allow", offsetof(lb_config_t, stats.allow), lb__cfg_opt_acl},
    {"stats_host", offsetof(lb_config_t, stats), lb__cfg_opt_stats_hosts},
    {"stats_token_file", offsetof(lb_config_t, stats),
     lb__cfg_opt_stats_token},
    {"admin_token_file", offsetof(lb_config_t, stats),
     lb__cfg_opt_admin_token},
#define LB_CLIENT_OPTIONS(T)                                                 \
    {"inspect_timeout", offsetof(T, inspect_timeout_ms), opt_period},        \
    {"persist", offsetof(T, persist), opt_persist},                          \
    {"persist_timeout", offsetof(T, persist_timeout_ms), opt_period},        \
    {"max_conns_per_client", offsetof(T, max_conns_per_client), opt_count},  \
    {"max_conn_rate_per_client", offsetof(T, client_rate), opt_rate},        \
    {"client_ipv6_prefix", offsetof(T, client_ipv6_prefix), opt_ipv6_prefix},\
    {"tcp_keepalive", offsetof(T, tcp_keepalive), opt_keepalive},
    LB_CLIENT_OPTIONS(lb_config_t)
    {"client_table_size", offsetof(lb_config_t, client_table_size),
     opt_table_size},
    {"persist_table_size", offsetof(lb_config_t, persist_table_size),
     opt_table_size},
};

/* What a [listener:NAME] section may set for itself. */
static const lb_cfg_option_t
    lb_cfg_listener_options[] = {
    {"connect_timeout", offsetof(lb_listener_cfg_t, connect_timeout_ms),
     opt_seconds},
    {"idle_timeout", offsetof(lb_listener_cfg_t, idle_timeout_ms), opt_seconds},
    {"half_close_timeout", offsetof(lb_listener_cfg_t, half_close_timeout_ms),
     opt_seconds},
    {"max_connections", offsetof(lb_listener_cfg_t, max_connections),
     opt_count},
    {"algorithm", offsetof(lb_listener_cfg_t, algorithm),
     lb__cfg_opt_algorithm},
    LB_HEALTH_OPTIONS(lb_listener_cfg_t)
    {"allow", offsetof(lb_listener_cfg_t, allow), lb__cfg_opt_acl},
    {"deny", offsetof(lb_listener_cfg_t, deny), lb__cfg_opt_acl},
    {"log_connections", offsetof(lb_listener_cfg_t, log_connections),
     opt_bool},
    {"send_proxy", offsetof(lb_listener_cfg_t, send_proxy),
     opt_proxy_version},
    {"accept_proxy", offsetof(lb_listener_cfg_t, accept_proxy), opt_bool},
    LB_CLIENT_OPTIONS(lb_listener_cfg_t)
};

/* The tables and the counts the parser's arrays are sized by agree. */
_Static_assert(sizeof(lb_cfg_options) / sizeof(lb_cfg_options[0]) ==
                   LB_CFG_NOPTIONS, "LB_CFG_NOPTIONS");
_Static_assert(sizeof(lb_cfg_listener_options) /
                       sizeof(lb_cfg_listener_options[0]) ==
                   LB_CFG_NLISTENER_OPTIONS, "LB_CFG_NLISTENER_OPTIONS");

/* The settings of LB_CLIENT_OPTIONS, in [options] or a listener. */
static void
client_unset(int64_t *inspect, int *persist, int64_t *persist_timeout,
             int *max_conns, lb_rate_t *rate, int *prefix, int *keepalive)
{
    *inspect = *persist_timeout = LB_CFG_UNSET_MS;
    *persist = *max_conns = *prefix = *keepalive = LB_CFG_UNSET_INT;
    rate->count = LB_CFG_UNSET_INT;
    rate->period_ms = 0;
}

static void
health_unset(lb_health_cfg_t *h)
{
    h->max_fails = h->max_conns = h->rise = h->fall = LB_CFG_UNSET_INT;
    h->fail_timeout_ms = h->check_interval_ms = LB_CFG_UNSET_MS;
    h->check_timeout_ms = LB_CFG_UNSET_MS;
    h->drain_timeout_ms = h->slow_start_ms = LB_CFG_UNSET_MS;
    lb__cfg_check_unset(&h->check);
}

/* What h left unset comes from def. */
static void
health_inherit(lb_health_cfg_t *h, const lb_health_cfg_t *def)
{
    if (h->max_fails < 0)
        h->max_fails = def->max_fails;
    if (h->fail_timeout_ms < 0)
        h->fail_timeout_ms = def->fail_timeout_ms;
    if (h->max_conns < 0)
        h->max_conns = def->max_conns;
    if (h->check_interval_ms < 0)
        h->check_interval_ms = def->check_interval_ms;
    if (h->check_timeout_ms < 0)
        h->check_timeout_ms = def->check_timeout_ms;
    if (h->rise < 0)
        h->rise = def->rise;
    if (h->fall < 0)
        h->fall = def->fall;
    if (h->drain_timeout_ms < 0)
        h->drain_timeout_ms = def->drain_timeout_ms;
    if (h->slow_start_ms < 0)
        h->slow_start_ms = def->slow_start_ms;
}

void
lb__cfg_listener_unset(lb_listener_cfg_t *l)
{
    l->connect_timeout_ms = LB_CFG_UNSET_MS;
    l->idle_timeout_ms = LB_CFG_UNSET_MS;
    l->half_close_timeout_ms = LB_CFG_UNSET_MS;
    l->max_connections = LB_CFG_UNSET_INT;
    l->algorithm = LB_CFG_UNSET_INT;
    health_unset(&l->health);
    l->log_connections = LB_CFG_UNSET_INT;
    l->send_proxy = l->accept_proxy = LB_CFG_UNSET_INT;
    l->queue_timeout_ms = LB_CFG_UNSET_MS;
    l->max_queue = LB_CFG_UNSET_INT;
    client_unset(&l->inspect_timeout_ms, &l->persist, &l->persist_timeout_ms,
                 &l->max_conns_per_client, &l->client_rate,
                 &l->client_ipv6_prefix, &l->tcp_keepalive);
}

static void
client_inherit(lb_listener_cfg_t *l, const lb_config_t *cfg)
{
    if (l->inspect_timeout_ms < 0)
        l->inspect_timeout_ms = cfg->inspect_timeout_ms;
    if (l->persist < 0)
        l->persist = cfg->persist;
    if (l->persist_timeout_ms < 0)
        l->persist_timeout_ms = cfg->persist_timeout_ms;
    if (l->max_conns_per_client < 0)
        l->max_conns_per_client = cfg->max_conns_per_client;
    if (l->client_rate.count < 0)
        l->client_rate = cfg->client_rate;
    if (l->client_ipv6_prefix < 0)
        l->client_ipv6_prefix = cfg->client_ipv6_prefix;
    if (l->tcp_keepalive < 0)
        l->tcp_keepalive = cfg->tcp_keepalive;
}

int
lb__cfg_listener_defaults(const lb_config_t *cfg, lb_listener_cfg_t *l)
{
    if (l->connect_timeout_ms < 0)
        l->connect_timeout_ms = cfg->connect_timeout_ms;
    if (l->idle_timeout_ms < 0)
        l->idle_timeout_ms = cfg->idle_timeout_ms;
    if (l->half_close_timeout_ms < 0)
        l->half_close_timeout_ms = cfg->half_close_timeout_ms;
    if (l->max_connections < 0)
        l->max_connections = 0; /* only the process-wide limit */
    if (l->algorithm < 0)
        l->algorithm = cfg->algorithm;
    health_inherit(&l->health, &cfg->health);
    if (l->log_connections < 0)
        l->log_connections = cfg->log_connections;
    if (l->send_proxy < 0)
        l->send_proxy = cfg->send_proxy;
    if (l->accept_proxy < 0)
        l->accept_proxy = cfg->accept_proxy;
    if (l->queue_timeout_ms < 0)
        l->queue_timeout_ms = cfg->queue_timeout_ms;
    if (l->max_queue < 0)
        l->max_queue = cfg->max_queue;
    if (lb__cfg_check_inherit(&l->health.check, &cfg->health.check) != 0)
        return LB_ENOMEM;
    client_inherit(l, cfg);
    /* A list is never empty once set, so empty means "not set here". A
     * copy rather than a pointer: each listener frees its own. */
    if (l->allow.n == 0 && lb_acl_copy(&l->allow, &cfg->allow) != 0)
        return LB_ENOMEM;
    if (l->deny.n == 0 && lb_acl_copy(&l->deny, &cfg->deny) != 0)
        return LB_ENOMEM;
    return 0;
}

int
lb__cfg_route_inherit(const lb_listener_cfg_t *listener,
                      lb_listener_cfg_t *route)
{
    if (route->algorithm < 0)
        route->algorithm = listener->algorithm;
    health_inherit(&route->health, &listener->health);
    if (route->send_proxy < 0)
        route->send_proxy = listener->send_proxy;
    /* What only the listener sets: its copy keeps code that reads them
     * (a health check's timeout) from needing a case for routes. */
    route->connect_timeout_ms = listener->connect_timeout_ms;
    route->idle_timeout_ms = listener->idle_timeout_ms;
    route->half_close_timeout_ms = listener->half_close_timeout_ms;
    route->max_connections = listener->max_connections;
    route->log_connections = listener->log_connections;
    route->accept_proxy = listener->accept_proxy;
    route->inspect_timeout_ms = listener->inspect_timeout_ms;
    route->persist = LB_PERSIST_NONE;
    route->persist_timeout_ms = listener->persist_timeout_ms;
    route->max_conns_per_client = 0;
    route->client_rate.count = 0;
    route->client_ipv6_prefix = listener->client_ipv6_prefix;
    route->tcp_keepalive = listener->tcp_keepalive;
    /* The checks' words are the listener's (a route cannot set them). */
    return lb__cfg_check_inherit(&route->health.check,
                                 &listener->health.check);
}

int
lb__cfg_is_listener_option(const char *name)
{
    for (size_t i = 0; i < LB_CFG_NLISTENER_OPTIONS; i++)
        if (lb__cfg_casecmp(name, lb_cfg_listener_options[i].name) == 0)
            return 1;
    return lb__cfg_casecmp(name, "listen") == 0;
}

int
lb__cfg_listener_option(lb_cfg_parser_t *p, size_t li, const char *name,
                        const char *value)
{
    lb_cfg_pending_t *pend = &p->pending[li];
    size_t i;

    for (i = 0; i < LB_CFG_NLISTENER_OPTIONS; i++)
        if (lb__cfg_casecmp(name, lb_cfg_listener_options[i].name) == 0)
            break;
    if (i == LB_CFG_NLISTENER_OPTIONS)
        return 1;
    if (pend->option_line[i] != 0) {
        lb__cfg_fail(p, p->lineno,
                     "duplicate key '%s' in [%s:%s] (first on line %d)",
                     lb_cfg_listener_options[i].name, lb__cfg_kind(p, li),
                     p->cfg->listeners[li].name, pend->option_line[i]);
        return -1;
    }
    pend->option_line[i] = p->lineno;
    p->target = LB_CFG_TARGET_SINGLE;
    p->target_key = lb_cfg_listener_options[i].name;
    return lb_cfg_listener_options[i].parse(
        p, lb_cfg_listener_options[i].name, value,
        (char *)&p->cfg->listeners[li] + lb_cfg_listener_options[i].offset);
}

void
lb__cfg_options_unset(lb_config_t *cfg)
{
    cfg->pre_resolve = LB_CFG_UNSET_INT;
    cfg->buffer_size = 0;
    cfg->connect_timeout_ms = LB_CFG_UNSET_MS;
    cfg->graceful_timeout_ms = LB_CFG_UNSET_MS;
    cfg->idle_timeout_ms = LB_CFG_UNSET_MS;
    cfg->half_close_timeout_ms = LB_CFG_UNSET_MS;
    cfg->max_connections = LB_CFG_UNSET_INT;
    cfg->max_retries = LB_CFG_UNSET_INT; /* also the default: -1 */
    cfg->processes = 0;
    cfg->log_file = NULL;
    cfg->log_rotate_size = -1; /* left so: lb_run says what it means */
    cfg->user = cfg->group = NULL;
    cfg->algorithm = LB_CFG_UNSET_INT;
    health_unset(&cfg->health);
    cfg->log_connections = LB_CFG_UNSET_INT;
    cfg->send_proxy = cfg->accept_proxy = LB_CFG_UNSET_INT;
    cfg->queue_timeout_ms = LB_CFG_UNSET_MS;
    cfg->max_queue = LB_CFG_UNSET_INT;
    client_unset(&cfg->inspect_timeout_ms, &cfg->persist,
                 &cfg->persist_timeout_ms, &cfg->max_conns_per_client,
                 &cfg->client_rate, &cfg->client_ipv6_prefix,
                 &cfg->tcp_keepalive);
    cfg->client_table_size = cfg->persist_table_size = 0;
}

static const lb_health_cfg_t health_defaults = {
    .max_fails = LB_DEFAULT_MAX_FAILS,
    .fail_timeout_ms = LB_DEFAULT_FAIL_TIMEOUT_MS,
    .rise = LB_DEFAULT_RISE,
    .fall = LB_DEFAULT_FALL,
};

static void
client_defaults(lb_config_t *cfg)
{
    if (cfg->inspect_timeout_ms < 0)
        cfg->inspect_timeout_ms = LB_DEFAULT_INSPECT_TIMEOUT_MS;
    if (cfg->persist < 0)
        cfg->persist = LB_PERSIST_NONE;
    if (cfg->persist_timeout_ms < 0)
        cfg->persist_timeout_ms = LB_DEFAULT_PERSIST_TIMEOUT_MS;
    if (cfg->max_conns_per_client < 0)
        cfg->max_conns_per_client = 0;
    if (cfg->client_rate.count < 0)
        cfg->client_rate.count = 0;
    if (cfg->client_ipv6_prefix < 0)
        cfg->client_ipv6_prefix = LB_DEFAULT_CLIENT_IPV6_PREFIX;
    if (cfg->tcp_keepalive < 0)
        cfg->tcp_keepalive = 0;
    if (cfg->client_table_size == 0)
        cfg->client_table_size = LB_DEFAULT_TABLE_SIZE;
    if (cfg->persist_table_size == 0)
        cfg->persist_table_size = LB_DEFAULT_TABLE_SIZE;
}

void
lb__cfg_options_defaults(lb_config_t *cfg)
{
    if (cfg->pre_resolve == LB_CFG_UNSET_INT)
        cfg->pre_resolve = 1;
    if (cfg->buffer_size == 0)
        cfg->buffer_size = LB_DEFAULT_BUFFER_SIZE;
    if (cfg->connect_timeout_ms < 0)
        cfg->connect_timeout_ms = LB_DEFAULT_CONNECT_TIMEOUT_MS;
    if (cfg->graceful_timeout_ms < 0)
        cfg->graceful_timeout_ms = LB_DEFAULT_GRACEFUL_TIMEOUT_MS;
    if (cfg->idle_timeout_ms < 0)
        cfg->idle_timeout_ms = 0;
    if (cfg->half_close_timeout_ms < 0)
        cfg->half_close_timeout_ms = 0;
    if (cfg->max_connections < 0)
        cfg->max_connections = 0; /* derived from the descriptor limit */
    if (cfg->processes == 0)
        cfg->processes = 1;
    if (cfg->algorithm < 0)
        cfg->algorithm = LB_ALGO_ROUNDROBIN;
    health_inherit(&cfg->health, &health_defaults);
    lb__cfg_check_defaults(&cfg->health.check);
    if (cfg->queue_timeout_ms < 0)
        cfg->queue_timeout_ms = 0;
    if (cfg->max_queue < 0)
        cfg->max_queue = 0;
    /* On: the line per connection is what an operator looks for first,
     * and it costs one formatted write as the connection ends. */
    if (cfg->log_connections < 0)
        cfg->log_connections = 1;
    if (cfg->send_proxy < 0)
        cfg->send_proxy = 0;
    if (cfg->accept_proxy < 0)
        cfg->accept_proxy = 0;
    client_defaults(cfg);
}

int
lb__cfg_option(lb_cfg_parser_t *p, const char *name, const char *value)
{
    const lb_cfg_option_t *opt;
    size_t i;

    for (i = 0; i < LB_CFG_NOPTIONS; i++) {
        if (lb__cfg_casecmp(name, lb_cfg_options[i].name) == 0)
            break;
    }
    if (i == LB_CFG_NOPTIONS) {
        lb__cfg_warn(p, p->lineno, "unknown key '%s' in [options] ignored",
                     name);
        p->target = LB_CFG_TARGET_IGNORE;
        return 0;
    }
    opt = &lb_cfg_options[i];
    if (p->option_line[i] != 0) {
        lb__cfg_fail(p, p->lineno, "duplicate key '%s' (first set on line %d)",
                     opt->name, p->option_line[i]);
        return -1;
    }
    p->option_line[i] = p->lineno;
    p->target = LB_CFG_TARGET_SINGLE;
    p->target_key = opt->name;
    return opt->parse(p, opt->name, value, (char *)p->cfg + opt->offset);
}

int
lb__cfg_listener_option_line(const lb_cfg_parser_t *p, size_t li,
                             const char *name)
{
    for (size_t i = 0; i < LB_CFG_NLISTENER_OPTIONS; i++)
        if (strcmp(lb_cfg_listener_options[i].name, name) == 0)
            return p->pending[li].option_line[i];
    return 0;
}

int
lb__cfg_option_line(const lb_cfg_parser_t *p, const char *name)
{
    for (size_t i = 0; i < LB_CFG_NOPTIONS; i++)
        if (strcmp(lb_cfg_options[i].name, name) == 0)
            return p->option_line[i];
    return 0;
}
