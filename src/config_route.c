/* config_route.c - [route:NAME] sections: a group of backends that a
 * listener sends a client to when the server name of its TLS ClientHello
 * is one of the route's (sni =). A route is read as one more entry of
 * cfg->listeners, so its backends and its own algorithm, health and
 * send_proxy are parsed as a listener's; once the file is read it is
 * attached to its listener by name and moved to cfg->routes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "lb_inspect.h" /* LB_INSPECT_VALUE_MAX */

/* What a route may set: what a group of backends has. The listener's
 * other settings (timeouts, limits, allow/deny) stay the listener's. */
static const char *const group_keys[] = {
    "algorithm", "max_conns",      "max_fails",     "fail_timeout",
    "check_interval", "check_timeout", "rise", "fall", "send_proxy",
};

/* Route names go into the connection log's route= field: no spaces. */
static int
name_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

int
lb__cfg_begin_route(lb_cfg_parser_t *p, char *name)
{
    size_t i, li;

    for (i = 0; name[i] != '\0' && name_char((unsigned char)name[i]); i++)
        ;
    if (i == 0 || name[i] != '\0') {
        lb__cfg_fail(p, p->lineno,
                     "section '[route:%s]' needs a name of letters, digits, "
                     "'.', '-' and '_', e.g. [route:api]", name);
        free(name);
        return -1;
    }
    for (i = 0; i < p->cfg->nlisteners; i++) {
        if (p->pending[i].route &&
            strcmp(p->cfg->listeners[i].name, name) == 0) {
            lb__cfg_fail(p, p->lineno,
                         "duplicate section '[route:%s]' (first on line %d)",
                         name, p->cfg->listeners[i].line);
            free(name);
            return -1;
        }
    }
    if (lb__cfg_new_listener(p, name, &li) != 0)
        return -1;
    p->pending[li].route = 1;
    p->listener = li;
    p->section = LB_CFG_SEC_ROUTE;
    return 0;
}

/* ---- sni = names ---- */

static int
host_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

/* A host name as a ClientHello's is compared (lb_inspect_tls): lower
 * case, labels of letters, digits, '-' and '_', no trailing dot. */
static int
valid_host(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > LB_INSPECT_VALUE_MAX || s[0] == '.' || s[n - 1] == '.')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!host_char((unsigned char)s[i]) ||
            (s[i] == '.' && s[i + 1] == '.'))
            return 0;
    return 1;
}

/* "a.example.com" or "*.example.com" into sni (name lower-cased; a
 * wildcard kept as ".example.com"). */
static int
parse_sni(lb_cfg_parser_t *p, const char *item, lb_sni_t *sni)
{
    int wildcard = item[0] == '*';
    const char *host = wildcard ? item + 1 : item;
    char *name;

    if (wildcard && host[0] != '.') {
        lb__cfg_fail(p, p->lineno,
                     "sni name '%s': a wildcard is '*.' then a domain, "
                     "e.g. *.example.com", item);
        return -1;
    }
    name = lb__cfg_dup(host);
    if (name == NULL) {
        lb__cfg_fail(p, p->lineno, "out of memory");
        return -1;
    }
    for (char *c = name; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    if (!valid_host(wildcard ? name + 1 : name)) {
        lb__cfg_fail(p, p->lineno,
                     "sni name '%s' is not a host name (letters, digits, "
                     "'-' and '_' in labels between dots) or *.domain",
                     item);
        free(name);
        return -1;
    }
    sni->name = name;
    sni->wildcard = wildcard;
    return 0;
}

static int
same_sni(const lb_sni_t *a, const lb_sni_t *b)
{
    return a->wildcard == b->wildcard && strcmp(a->name, b->name) == 0;
}

/* "*.x" for messages, from a wildcard's ".x". */
static const char *
sni_star(const lb_sni_t *s)
{
    return s->wildcard ? "*" : "";
}

static int
grow_sni(lb_cfg_parser_t *p, size_t li)
{
    lb_listener_cfg_t *r = &p->cfg->listeners[li];
    lb_cfg_pending_t *pend = &p->pending[li];
    size_t cap = pend->sni_cap ? pend->sni_cap * 2 : 4;
    lb_sni_t *sni;
    int *lines;

    if (r->nsni < pend->sni_cap)
        return 0;
    sni = realloc(r->sni, cap * sizeof(*sni));
    if (sni != NULL)
        r->sni = sni;
    lines = sni ? realloc(pend->sni_lines, cap * sizeof(*lines)) : NULL;
    if (lines == NULL) {
        lb__cfg_fail(p, p->lineno, "out of memory");
        return -1;
    }
    pend->sni_lines = lines;
    pend->sni_cap = cap;
    return 0;
}

static int
add_sni(lb_cfg_parser_t *p, size_t li, char *item)
{
    lb_listener_cfg_t *r = &p->cfg->listeners[li];
    lb_sni_t sni;

    if (parse_sni(p, item, &sni) != 0)
        return -1;
    for (size_t k = 0; k < r->nsni; k++) {
        if (!same_sni(&r->sni[k], &sni))
            continue;
        lb__cfg_fail(p, p->lineno,
                     "sni name '%s' is listed twice in [route:%s] (first on "
                     "line %d)", item, r->name, p->pending[li].sni_lines[k]);
        free(sni.name);
        return -1;
    }
    if (grow_sni(p, li) != 0) {
        free(sni.name);
        return -1;
    }
    p->pending[li].sni_lines[r->nsni] = p->lineno;
    r->sni[r->nsni++] = sni;
    return 0;
}

static int
add_sni_list(lb_cfg_parser_t *p, size_t li, const char *list)
{
    return lb__cfg_each_item(p, li, list, add_sni);
}

int
lb__cfg_sni_more(lb_cfg_parser_t *p, const char *list)
{
    return add_sni_list(p, p->target_listener, list);
}

/* ---- keys ---- */

static int
is_group_key(const char *name)
{
    for (size_t i = 0; i < sizeof(group_keys) / sizeof(group_keys[0]); i++)
        if (lb__cfg_casecmp(name, group_keys[i]) == 0)
            return 1;
    return 0;
}

/* listener, sni and backends: each once. 1 if name is none of them. */
static int
route_own_key(lb_cfg_parser_t *p, const char *name, const char *value)
{
    size_t li = p->listener;
    lb_cfg_pending_t *pend = &p->pending[li];
    static const char *const keys[] = {"listener", "sni", "backends"};
    int *seen[] = {&pend->route_of_line, &pend->sni_line,
                   &pend->backends_line};
    size_t k;

    for (k = 0; k < 3 && lb__cfg_casecmp(name, keys[k]) != 0; k++)
        ;
    if (k == 3)
        return 1;
    if (*seen[k] != 0) {
        lb__cfg_fail(p, p->lineno,
                     "duplicate key '%s' in [route:%s] (first on line %d)",
                     keys[k], p->cfg->listeners[li].name, *seen[k]);
        return -1;
    }
    *seen[k] = p->lineno;
    if (k == 0) {
        p->target = LB_CFG_TARGET_SINGLE;
        p->target_key = "listener";
        pend->route_of = lb__cfg_dup(value);
        if (pend->route_of != NULL)
            return 0;
        lb__cfg_fail(p, p->lineno, "out of memory");
        return -1;
    }
    lb__cfg_set_target(p, k == 1 ? LB_CFG_TARGET_SNI
                                 : LB_CFG_TARGET_BACKENDS, li);
    return k == 1 ? add_sni_list(p, li, value)
                  : lb__cfg_add_backends(p, li, value);
}

int
lb__cfg_route_key(lb_cfg_parser_t *p, const char *name, const char *value)
{
    const char *rname = p->cfg->listeners[p->listener].name;
    int rc = route_own_key(p, name, value);

    if (rc != 1)
        return rc;
    if (is_group_key(name))
        return lb__cfg_listener_option(p, p->listener, name, value);
    if (lb__cfg_is_listener_option(name)) {
        lb__cfg_fail(p, p->lineno,
                     "'%s' cannot be set in [route:%s]: it is its "
                     "listener's (set it in [listener:NAME] or [options])",
                     name, rname);
        return -1;
    }
    lb__cfg_warn(p, p->lineno, "unknown key '%s' in [route:%s] ignored",
                 name, rname);
    p->target = LB_CFG_TARGET_IGNORE;
    return 0;
}

void
lb__cfg_route_end(lb_cfg_parser_t *p)
{
    const lb_cfg_pending_t *pend = &p->pending[p->listener];
    const char *name = p->cfg->listeners[p->listener].name;

    if (pend->route_of_line == 0)
        lb__cfg_fail(p, p->section_line,
                     "[route:%s] has no 'listener' key (the name of its "
                     "[listener:NAME] section or [mappings] key, e.g. "
                     "listener = web)", name);
    else if (pend->sni_line == 0)
        lb__cfg_fail(p, p->section_line,
                     "[route:%s] has no 'sni' key (e.g. sni = "
                     "www.example.com, *.example.com)", name);
    else if (pend->backends_line == 0)
        lb__cfg_fail(p, p->section_line,
                     "[route:%s] has no 'backends' key (e.g. backends = "
                     "10.0.0.1:443, 10.0.0.2:443)", name);
}

/* ---- attaching routes to listeners ---- */

/* The listener a route names: a [listener:NAME] name or a [mappings]
 * key, as written; both at once is ambiguous. -1 after a failure. */
static long
find_listener(lb_cfg_parser_t *p, size_t ri)
{
    const lb_cfg_pending_t *rp = &p->pending[ri];
    long found = -1;

    for (size_t i = 0; i < p->cfg->nlisteners; i++) {
        if (p->pending[i].route ||
            strcmp(p->cfg->listeners[i].name, rp->route_of) != 0)
            continue;
        if (found < 0) {
            found = (long)i;
            continue;
        }
        lb__cfg_fail(p, rp->route_of_line,
                     "listener '%s' of [route:%s] is both a [listener:%s] "
                     "section and a [mappings] key (lines %d and %d); "
                     "rename the section", rp->route_of,
                     p->cfg->listeners[ri].name, rp->route_of,
                     p->cfg->listeners[found].line,
                     p->cfg->listeners[i].line);
        return -1;
    }
    if (found < 0)
        lb__cfg_fail(p, rp->route_of_line,
                     "[route:%s] names listener '%s', which is neither a "
                     "[listener:NAME] section nor a [mappings] key",
                     p->cfg->listeners[ri].name, rp->route_of);
    return found;
}

/* A name in route b that route a of the same listener has already. */
static void
check_overlap(lb_cfg_parser_t *p, size_t a, size_t b)
{
    const lb_listener_cfg_t *ra = &p->cfg->listeners[a];
    const lb_listener_cfg_t *rb = &p->cfg->listeners[b];

    for (size_t j = 0; j < rb->nsni && !p->failed; j++) {
        for (size_t k = 0; k < ra->nsni; k++) {
            if (!same_sni(&ra->sni[k], &rb->sni[j]))
                continue;
            lb__cfg_fail(p, p->pending[b].sni_lines[j],
                         "sni name '%s%s' of [route:%s] is also in "
                         "[route:%s] (line %d) of the same listener '%s'",
                         sni_star(&rb->sni[j]), rb->sni[j].name, rb->name,
                         ra->name, p->pending[a].sni_lines[k],
                         p->pending[b].route_of);
            return;
        }
    }
}

/* A listener's own backends serve the clients no route matches (and,
 * with persist, every client): without any, it needs routes. */
static void
check_own_backends(lb_cfg_parser_t *p, size_t li)
{
    const lb_listener_cfg_t *l = &p->cfg->listeners[li];
    size_t routes = 0;

    if (p->pending[li].route || l->nbackends > 0)
        return;
    for (size_t i = 0; i < p->cfg->nlisteners; i++)
        routes += p->pending[i].route && p->cfg->listeners[i].listener == li;
    if (routes == 0)
        lb__cfg_fail(p, l->line,
                     "[listener:%s] has no 'backends' key "
                     "(e.g. backends = 10.0.0.1:80, 10.0.0.2:80), and no "
                     "[route:NAME] names it", l->name);
}

void
lb__cfg_routes_attach(lb_cfg_parser_t *p)
{
    lb_config_t *cfg = p->cfg;

    for (size_t i = 0; i < cfg->nlisteners && !p->failed; i++) {
        long li;

        if (!p->pending[i].route)
            continue;
        li = find_listener(p, i);
        if (li >= 0)
            cfg->listeners[i].listener = (size_t)li;
        for (size_t a = 0; a < i && !p->failed; a++)
            if (p->pending[a].route &&
                cfg->listeners[a].listener == cfg->listeners[i].listener)
                check_overlap(p, a, i);
    }
    for (size_t i = 0; i < cfg->nlisteners && !p->failed; i++)
        check_own_backends(p, i);
}

/* ---- moving them to cfg->routes ---- */

/* "0.0.0.0:443 route api": what health and balance log lines name. */
static int
route_label(lb_listener_cfg_t *r, const lb_listener_cfg_t *l)
{
    size_t n = strlen(l->listen_label) + strlen(r->name) + 8;

    r->listen_label = malloc(n);
    if (r->listen_label == NULL)
        return -1;
    snprintf(r->listen_label, n, "%s route %s", l->listen_label, r->name);
    r->listen = l->listen;
    return 0;
}

/* The loader's notes on route i are not needed once it moved. */
static void
forget_pending(lb_cfg_pending_t *pend)
{
    free(pend->backend_lines);
    free(pend->route_of);
    free(pend->sni_lines);
    memset(pend, 0, sizeof(*pend));
    pend->route = 1;
}

/* Routes out of cfg->listeners into routes[], grouped by listener in
 * the listeners' order, each group in the order written. */
static void
take_routes(lb_cfg_parser_t *p, lb_listener_cfg_t *routes)
{
    lb_config_t *cfg = p->cfg;
    size_t k = 0, nl = 0;

    for (size_t j = 0; j < cfg->nlisteners; j++) {
        if (p->pending[j].route)
            continue;
        cfg->listeners[j].first_route = k;
        for (size_t i = 0; i < cfg->nlisteners; i++) {
            if (!p->pending[i].route || cfg->listeners[i].listener != j)
                continue;
            routes[k] = cfg->listeners[i];
            routes[k].listener = nl; /* its index once compacted */
            forget_pending(&p->pending[i]);
            k++;
        }
        cfg->listeners[j].nroutes = k - cfg->listeners[j].first_route;
        nl++;
    }
}

void
lb__cfg_routes_split(lb_cfg_parser_t *p)
{
    lb_config_t *cfg = p->cfg;
    size_t nl = 0, nr = 0;

    for (size_t i = 0; i < cfg->nlisteners; i++)
        nr += p->pending[i].route != 0;
    if (nr == 0)
        return;
    cfg->routes = calloc(nr, sizeof(*cfg->routes));
    if (cfg->routes == NULL) {
        lb__cfg_fail(p, 0, "out of memory");
        return;
    }
    take_routes(p, cfg->routes);
    cfg->nroutes = nr;
    /* The listeners move down over the places the routes left. */
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        if (p->pending[i].route)
            continue;
        cfg->listeners[nl] = cfg->listeners[i];
        p->pending[nl] = p->pending[i];
        nl++;
    }
    cfg->nlisteners = nl;
    for (size_t k = 0; k < nr; k++) {
        lb_listener_cfg_t *r = &cfg->routes[k];

        r->group = nl + k;
        if (route_label(r, &cfg->listeners[r->listener]) != 0) {
            lb__cfg_fail(p, 0, "out of memory");
            return;
        }
    }
}
