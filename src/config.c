/* config.c - the config loader's entry points: reads the file, has
 * config_ini.c parse it, then applies defaults, checks the whole config and
 * resolves backends; messages, freeing, the retry bound. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

/* ---- whole config ---- */

/* Runs after parsing: pre_resolve_workers may come after [mappings]. */
static void
resolve_backends(lb_cfg_parser_t *p)
{
    size_t i, j;

    for (i = 0; i < p->cfg->nlisteners && !p->failed; i++) {
        lb_listener_cfg_t *l = &p->cfg->listeners[i];

        for (j = 0; j < l->nbackends && !p->failed; j++) {
            lb_backend_cfg_t *b = &l->backends[j];
            int rc;

            if (b->resolved)
                continue;
            rc = lb_addr_resolve(b->host, b->port, &b->addr);
            if (rc == 0)
                b->resolved = 1;
            else
                lb__cfg_fail(p, p->pending[i].backend_lines[j],
                             "cannot resolve backend host '%s': %s",
                             b->host, lb_strerror(rc));
        }
    }
}

static int
same_backend(const lb_backend_cfg_t *a, const lb_backend_cfg_t *b)
{
    if (a->port != b->port)
        return 0;
    if (a->resolved && b->resolved)
        return lb_addr_equal(&a->addr, &b->addr);
    return lb__cfg_casecmp(a->host, b->host) == 0;
}

/* A backend listed twice would get twice the share and two health
 * records; one entry is what the admin meant. Its parameters are the
 * first entry's: adding weights up would hide a copy-and-paste slip. */
static void
merge_duplicates(lb_cfg_parser_t *p, size_t li)
{
    lb_listener_cfg_t *l = &p->cfg->listeners[li];
    int *lines = p->pending[li].backend_lines;
    char first[32], again[32], note[96];

    for (size_t j = 1; j < l->nbackends; j++) {
        size_t k;

        for (k = 0; k < j && !same_backend(&l->backends[k], &l->backends[j]);
             k++)
            ;
        if (k == j)
            continue;
        lb__cfg_params_text(&l->backends[k], first, sizeof(first));
        lb__cfg_params_text(&l->backends[j], again, sizeof(again));
        note[0] = '\0';
        if (strcmp(first, again) != 0)
            snprintf(note, sizeof(note), " with the first entry's %s (not "
                     "%s)", first, again);
        lb__cfg_warn(p, lines[j],
                     "backend '%s' is listed twice for %s '%s' (first "
                     "on line %d as '%s'); merged into one%s",
                     l->backends[j].label, lb__cfg_kind(p, li), l->name,
                     lines[k], l->backends[k].label, note);
        free(l->backends[j].host);
        free(l->backends[j].label);
        memmove(&l->backends[j], &l->backends[j + 1],
                (l->nbackends - j - 1) * sizeof(*l->backends));
        memmove(&lines[j], &lines[j + 1],
                (l->nbackends - j - 1) * sizeof(*lines));
        l->nbackends--;
        j--;
    }
}

/* The stats address cannot also be a listener's: one socket each. */
static void
check_stats(lb_cfg_parser_t *p)
{
    const lb_config_t *cfg = p->cfg;

    for (size_t i = 0; cfg->stats.line != 0 && i < cfg->nlisteners; i++) {
        if (p->pending[i].route ||
            !lb_addr_equal(&cfg->stats.addr, &cfg->listeners[i].listen))
            continue;
        lb__cfg_fail(p, cfg->stats.line,
                     "stats address '%s' is also the listen address of "
                     "listener '%s' (line %d)", cfg->stats.label,
                     cfg->listeners[i].name, p->pending[i].listen_line);
        return;
    }
}

/* Where key is set for listener li: its section, else [options]. */
static int
key_line(const lb_cfg_parser_t *p, size_t li, const char *key)
{
    int line = lb__cfg_listener_option_line(p, li, key);

    return line ? line : lb__cfg_option_line(p, key);
}

/* Why key would do nothing for listener l, or NULL if it does something. */
static const char *
useless(const lb_config_t *cfg, const lb_listener_cfg_t *l, const char *key)
{
    if (strcmp(key, "max_queue") == 0)
        return l->max_queue > 0 && l->queue_timeout_ms == 0
                   ? "without queue_timeout"
                   : NULL;
    if (strcmp(key, "queue_timeout") == 0)
        return l->queue_timeout_ms > 0 && l->health.max_conns == 0 &&
                       cfg->stats.admin_token == NULL
                   ? "without max_conns or the admin API (admin_token_file): "
                     "clients wait only for a backend that is full or taken "
                     "out"
                   : NULL;
    return l->health.drain_timeout_ms > 0 && cfg->stats.admin_token == NULL
               ? "without the admin API (admin_token_file), which puts "
                 "backends in maintenance"
               : NULL;
}

/* A key that does nothing is a mistake, not a silence: in a section of
 * its own, for that listener; in [options], when it does nothing for
 * every listener. */
static void
check_useless(lb_cfg_parser_t *p)
{
    static const char *const keys[] = {"max_queue", "queue_timeout",
                                       "drain_timeout"};

    for (size_t k = 0; k < 3 && !p->failed; k++) {
        const char *why = NULL;
        size_t used = 0;

        for (size_t li = 0; li < p->cfg->nlisteners; li++) {
            const char *w;

            if (p->pending[li].route)
                continue; /* a route sets none of these */
            w = useless(p->cfg, &p->cfg->listeners[li], keys[k]);
            used += w == NULL;
            why = w ? w : why;
            if (w && lb__cfg_listener_option_line(p, li, keys[k])) {
                lb__cfg_fail(p, key_line(p, li, keys[k]), "%s has no effect "
                             "%s", keys[k], w);
                return;
            }
        }
        if (used == 0 && lb__cfg_option_line(p, keys[k]))
            lb__cfg_fail(p, lb__cfg_option_line(p, keys[k]),
                         "%s has no effect %s", keys[k], why);
    }
}

/* Slow start ramps weights, which roundrobin ignores. */
static void
warn_slow_start(lb_cfg_parser_t *p, size_t li)
{
    const lb_listener_cfg_t *l = &p->cfg->listeners[li];

    if (!p->pending[li].route && l->health.slow_start_ms > 0 &&
        l->algorithm == LB_ALGO_ROUNDROBIN)
        lb__cfg_warn(p, key_line(p, li, "slow_start"),
                     "slow_start has no effect on listener '%s': algorithm "
                     "roundrobin ignores weights; set algorithm = weighted, "
                     "leastconn or source", l->name);
}

/* Listeners and routes take their defaults: listeners from [options],
 * then routes from their listener. */
static void
apply_defaults(lb_cfg_parser_t *p)
{
    lb_config_t *cfg = p->cfg;

    lb__cfg_options_defaults(cfg);
    for (size_t i = 0; i < cfg->nlisteners && !p->failed; i++) {
        lb_listener_cfg_t *l = &cfg->listeners[i];

        if (p->pending[i].route)
            continue;
        if (lb__cfg_listener_defaults(cfg, l) != 0)
            lb__cfg_fail(p, 0, "out of memory");
        else if (l->persist != LB_PERSIST_NONE && l->nbackends == 0)
            lb__cfg_fail(p, l->line,
                         "[listener:%s] has persist = rdp_cookie but no "
                         "backends of its own to keep clients on", l->name);
    }
    for (size_t i = 0; i < cfg->nlisteners && !p->failed; i++)
        if (p->pending[i].route &&
            lb__cfg_route_inherit(&cfg->listeners[cfg->listeners[i].listener],
                                  &cfg->listeners[i]) != 0)
            lb__cfg_fail(p, 0, "out of memory");
}

static size_t
count_listeners(const lb_cfg_parser_t *p)
{
    size_t n = 0;

    for (size_t i = 0; i < p->cfg->nlisteners; i++)
        n += !p->pending[i].route;
    return n;
}

static void
finish(lb_cfg_parser_t *p)
{
    if (!p->failed && count_listeners(p) == 0)
        lb__cfg_fail(p, 0,
                     "no listeners: add a [mappings] entry such as "
                     "8080=127.0.0.1:80 or a [listener:NAME] section");
    if (!p->failed)
        lb__cfg_routes_attach(p);
    check_stats(p);
    lb__cfg_stats_finish(p);
    if (!p->failed)
        apply_defaults(p);
    if (p->failed)
        return;
    for (size_t i = 0; i < p->cfg->nlisteners; i++) {
        merge_duplicates(p, i);
        lb__cfg_balance_finish(p, i);
        warn_slow_start(p, i);
    }
    lb__cfg_check_finish(p);
    check_useless(p);
    if (p->cfg->pre_resolve)
        resolve_backends(p);
    lb__cfg_check_targets(p);
    if (!p->failed)
        lb__cfg_routes_split(p);
    for (size_t i = 0; i < p->cfg->nlisteners; i++)
        p->cfg->listeners[i].group = i;
}

static void
free_pending(lb_cfg_parser_t *p)
{
    size_t i;

    for (i = 0; i < p->cfg->nlisteners; i++) {
        free(p->pending[i].backend_lines);
        free(p->pending[i].route_of);
        free(p->pending[i].sni_lines);
    }
    free(p->pending);
    p->pending = NULL;
}

int
lb_config_load_string(const char *name, const char *text, size_t len,
                      lb_config_t *cfg, lb_config_warn_fn warn,
                      void *warn_ctx, char **err)
{
    lb_cfg_parser_t p;

    memset(cfg, 0, sizeof(*cfg));
    memset(&p, 0, sizeof(p));
    lb__cfg_options_unset(cfg);
    p.file = name;
    p.text = text;
    p.len = len;
    p.cfg = cfg;
    p.warn = warn;
    p.warn_ctx = warn_ctx;
    *err = NULL;
    cfg->path = lb__cfg_dup(name);
    if (cfg->path == NULL)
        lb__cfg_fail(&p, 0, "out of memory");
    if (!p.failed)
        lb__cfg_parse(&p);
    finish(&p);
    free_pending(&p);
    if (!p.failed)
        return LB_EXIT_OK;
    lb_config_free(cfg);
    *err = p.err; /* NULL only when even the message could not be made */
    return LB_EXIT_CONFIG;
}

static char *
file_error(const char *path, const char *what, const char *reason)
{
    size_t n = strlen(path) + strlen(what) + strlen(reason) + 8;
    char *s = malloc(n);

    if (s != NULL)
        snprintf(s, n, "%s: %s: %s", path, what, reason);
    return s;
}

/* The whole file, or NULL with *err set. */
static char *
read_file(const char *path, size_t *len, char **err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL, *grown;
    size_t cap = 0, n = 0;

    if (f == NULL) {
        *err = file_error(path, "cannot open", strerror(errno));
        return NULL;
    }
    for (;;) {
        if (n == cap) {
            grown = cap < SIZE_MAX / 2 ? realloc(buf, cap ? cap * 2 : 8192)
                                       : NULL;
            if (grown == NULL)
                break;
            buf = grown;
            cap = cap ? cap * 2 : 8192;
        }
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
    }
    if (n < cap && !ferror(f)) {
        fclose(f);
        *len = n;
        return buf;
    }
    *err = file_error(path, "cannot read",
                      n == cap ? "out of memory" : strerror(errno));
    fclose(f);
    free(buf);
    return NULL;
}

/* A relative log_file is the config file's neighbour on every platform:
 * a Windows service runs in System32, and a rule that depends on the
 * directory someone started the program in is no rule. */
static int
log_file_beside(lb_config_t *cfg, char **err)
{
    char *path = lb_path_beside(cfg->path, cfg->log_file);

    if (path == NULL) {
        *err = file_error(cfg->path, "log_file", "out of memory");
        lb_config_free(cfg);
        return LB_EXIT_CONFIG;
    }
    free(cfg->log_file);
    cfg->log_file = path;
    return LB_EXIT_OK;
}

int
lb_config_load(const char *path, lb_config_t *cfg, lb_config_warn_fn warn,
               void *warn_ctx, char **err)
{
    size_t len = 0;
    char *text;
    int rc;

    memset(cfg, 0, sizeof(*cfg));
    *err = NULL;
    text = read_file(path, &len, err);
    if (text == NULL)
        return LB_EXIT_CONFIG;
    rc = lb_config_load_string(path, text, len, cfg, warn, warn_ctx, err);
    free(text);
    if (rc == LB_EXIT_OK && cfg->log_file != NULL)
        rc = log_file_beside(cfg, err);
    return rc;
}

/* A listener's or a route's. */
static void
free_group(lb_listener_cfg_t *l)
{
    for (size_t j = 0; j < l->nbackends; j++) {
        free(l->backends[j].host);
        free(l->backends[j].label);
    }
    for (size_t j = 0; j < l->nsni; j++)
        free(l->sni[j].name);
    free(l->sni);
    free(l->backends);
    free(l->name);
    free(l->listen_label);
    lb_acl_free(&l->allow);
    lb_acl_free(&l->deny);
    lb_check_cfg_free(&l->health.check);
}

void
lb_config_free(lb_config_t *cfg)
{
    for (size_t i = 0; i < cfg->nlisteners; i++)
        free_group(&cfg->listeners[i]);
    for (size_t i = 0; i < cfg->nroutes; i++)
        free_group(&cfg->routes[i]);
    free(cfg->listeners);
    free(cfg->routes);
    free(cfg->path);
    free(cfg->log_file);
    free(cfg->user);
    free(cfg->group);
    lb__cfg_stats_free(&cfg->stats);
    lb_acl_free(&cfg->allow);
    lb_acl_free(&cfg->deny);
    lb_check_cfg_free(&cfg->health.check);
    memset(cfg, 0, sizeof(*cfg));
}

size_t
lb_config_ngroups(const lb_config_t *cfg)
{
    return cfg->nlisteners + cfg->nroutes;
}

const lb_listener_cfg_t *
lb_config_group(const lb_config_t *cfg, size_t g)
{
    return g < cfg->nlisteners ? &cfg->listeners[g]
                               : &cfg->routes[g - cfg->nlisteners];
}

int
lb_config_inspects(const lb_listener_cfg_t *l)
{
    return l->nroutes > 0 || l->persist != LB_PERSIST_NONE;
}

int
lb_config_retries(const lb_config_t *cfg, size_t nbackends)
{
    int others;

    if (nbackends == 0)
        return 0;
    others = nbackends - 1 > (size_t)INT_MAX ? INT_MAX
                                             : (int)(nbackends - 1);
    if (cfg->max_retries < 0)
        return nbackends >= 2 ? others : 1;
    if (nbackends == 1)
        return cfg->max_retries;
    return cfg->max_retries < others ? cfg->max_retries : others;
}
