/* route.c - which route of a listener a TLS server name goes to: one
 * that lists the name itself, else the one whose "*.suffix" is the
 * longest that matches (nginx's server_name order), else none: the
 * listener's own backends. Names are compared lower-case, as the
 * ClientHello inspector and the config loader both leave them. */
#include <string.h>

#include "lb_config.h"

/* "*.b.example.com" (kept as ".b.example.com") matches x.b.example.com
 * and a.x.b.example.com, not b.example.com. */
static size_t
wildcard_match(const lb_sni_t *s, const char *name, size_t n)
{
    size_t m = strlen(s->name);

    return n > m && strcmp(name + n - m, s->name) == 0 ? m : 0;
}

long
lb_route_find(const lb_config_t *cfg, const lb_listener_cfg_t *l,
              const char *name)
{
    size_t n = strlen(name), best_len = 0;
    long best = -1;

    for (size_t r = 0; r < l->nroutes; r++) {
        const lb_listener_cfg_t *route = &cfg->routes[l->first_route + r];

        for (size_t k = 0; k < route->nsni; k++) {
            const lb_sni_t *s = &route->sni[k];
            size_t m;

            if (!s->wildcard && strcmp(s->name, name) == 0)
                return (long)r;
            m = s->wildcard ? wildcard_match(s, name, n) : 0;
            if (m > best_len) {
                best = (long)r;
                best_len = m;
            }
        }
    }
    return best;
}
