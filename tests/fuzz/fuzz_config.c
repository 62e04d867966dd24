/* fuzz_config.c - libFuzzer target for the config loader: every input is
 * handed to lb_config_load_string() as a config file.
 *
 * No DNS: the target is linked with -Wl,--wrap=getaddrinfo and the wrapper
 * below answers every name with EAI_NONAME (numeric hosts never get there,
 * lb_addr_resolve parses them itself). So the input is loaded byte for byte
 * as written (BOM, line numbers, pre_resolve_workers = 1 and all), and a
 * name is simply "does not resolve": the loader's error path.
 *
 * Besides the sanitizers' findings, a broken invariant aborts: success
 * leaves no error and at least one listener, each with a label and at
 * least one backend or a route; every route has backends, names and its
 * listener; failure leaves a "NAME:" message and an empty config.
 *
 * Built by `make fuzz` (clang, -fsanitize=fuzzer,address,undefined) and,
 * with replay_main.c instead of libFuzzer, by `make test` to replay the
 * seed corpus and tests/fuzz/regressions/. */
#include <netdb.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lb_config.h"

#define NAME "fuzz.cfg"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int __wrap_getaddrinfo(const char *node, const char *service,
                       const struct addrinfo *hints, struct addrinfo **res);

int
__wrap_getaddrinfo(const char *node, const char *service,
                   const struct addrinfo *hints, struct addrinfo **res)
{
    (void)node;
    (void)service;
    (void)hints;
    *res = NULL;
    return EAI_NONAME;
}

static void
ignore_warning(void *ctx, const char *msg)
{
    size_t *n = ctx;

    if (msg == NULL || *msg == '\0')
        abort(); /* a warning always says something */
    (*n)++;
}

static void
check_backends(const lb_config_t *cfg, const lb_listener_cfg_t *l)
{
    if (l->name == NULL || l->listen_label == NULL ||
        l->nbackends > LB_MAX_BACKENDS || l->line <= 0)
        abort();
    for (size_t j = 0; j < l->nbackends; j++) {
        const lb_backend_cfg_t *b = &l->backends[j];

        if (b->host == NULL || b->label == NULL)
            abort();
        /* Port 0 only for a unix:PATH backend, which has no port. */
        if (b->port == 0 && strncmp(b->label, "unix:", 5) != 0)
            abort();
        if (b->weight < 1 || b->weight > 1000)
            abort();
        if (cfg->pre_resolve && !b->resolved)
            abort(); /* pre-resolved means every backend resolved */
        (void)strlen(b->host);
        (void)strlen(b->label);
    }
    (void)lb_config_retries(cfg, l->nbackends);
}

/* A route: backends, names (lower case; a wildcard's with its dot), its
 * listener and its group in the shared block's order. */
static void
check_route(const lb_config_t *cfg, size_t r)
{
    const lb_listener_cfg_t *route = &cfg->routes[r];
    const lb_listener_cfg_t *l;

    check_backends(cfg, route);
    if (route->nbackends == 0 || route->nsni == 0 ||
        route->listener >= cfg->nlisteners ||
        route->group != cfg->nlisteners + r ||
        lb_config_group(cfg, route->group) != route)
        abort();
    l = &cfg->listeners[route->listener];
    if (r < l->first_route || r >= l->first_route + l->nroutes)
        abort();
    for (size_t k = 0; k < route->nsni; k++) {
        const char *n = route->sni[k].name;

        if (n == NULL || *n == '\0' || (route->sni[k].wildcard && *n != '.'))
            abort();
        for (; *n; n++)
            if (*n >= 'A' && *n <= 'Z')
                abort();
    }
}

static void
check_ok(const lb_config_t *cfg)
{
    if (cfg->nlisteners == 0 || cfg->listeners == NULL || cfg->path == NULL)
        abort();
    if (cfg->buffer_size == 0 || cfg->processes == 0 ||
        cfg->buffer_size > LB_MAX_BUFFER_SIZE ||
        cfg->processes > LB_MAX_PROCESSES)
        abort();
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        const lb_listener_cfg_t *l = &cfg->listeners[i];

        check_backends(cfg, l);
        /* Without backends of its own a listener has routes. */
        if ((l->nbackends == 0 && l->nroutes == 0) || l->group != i ||
            l->first_route + l->nroutes > cfg->nroutes)
            abort();
    }
    for (size_t r = 0; r < cfg->nroutes; r++)
        check_route(cfg, r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lb_config_t cfg;
    char *err = NULL;
    size_t warnings = 0;
    int rc = lb_config_load_string(NAME, (const char *)data, size, &cfg,
                                   ignore_warning, &warnings, &err);

    if (rc == LB_EXIT_OK) {
        if (err != NULL)
            abort();
        check_ok(&cfg);
        lb_config_free(&cfg);
    } else {
        if (rc != LB_EXIT_CONFIG || err == NULL ||
            strncmp(err, NAME ":", strlen(NAME ":")) != 0)
            abort();
        if (cfg.nlisteners != 0 || cfg.listeners != NULL ||
            cfg.path != NULL || cfg.nroutes != 0 || cfg.routes != NULL)
            abort(); /* a failed load frees everything */
        free(err);
    }
    return 0;
}
