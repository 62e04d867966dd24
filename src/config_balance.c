/* config_balance.c - how a config balances: the algorithm option and the
 * parameters a backend may carry after its address, nginx-style
 * ("10.0.0.1:80 weight=3", "10.0.0.2:80 backup"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "lb_balance.h"

#define SPACES " \t\r\n\v\f"

static const char *const algorithm_names[] = {
    "roundrobin", "weighted", "leastconn", "source",
};

int
lb__cfg_opt_algorithm(lb_cfg_parser_t *p, const char *name,
                      const char *value, void *field)
{
    size_t i;

    for (i = 0; i < sizeof(algorithm_names) / sizeof(algorithm_names[0]);
         i++) {
        if (lb__cfg_casecmp(value, algorithm_names[i]) == 0) {
            *(int *)field = (int)i; /* the names are in lb_algorithm_t order */
            return 0;
        }
    }
    lb__cfg_fail(p, p->lineno,
                 "%s must be roundrobin, weighted, leastconn or source, got "
                 "'%s'", name, value);
    return -1;
}

/* "1".."1000": digits only, so "+3", "3.0" and "0x3" are mistakes. */
static int
parse_weight(const char *s, int *out)
{
    unsigned long v = 0;

    if (lb__cfg_parse_uint(s, LB_MAX_WEIGHT, &v) != LB_CFG_NUM_OK || v < 1)
        return -1;
    *out = (int)v;
    return 0;
}

/* A word after a backend that is itself an address: the admin meant two
 * backends and forgot the ','. */
static int
looks_like_address(const char *word)
{
    return strchr(word, '=') == NULL &&
           (word[0] == '[' || strpbrk(word, ":.") != NULL);
}

/* s starts with the lower-case ASCII prefix, in any case. */
static int
has_prefix(const char *s, const char *prefix)
{
    for (; *prefix; s++, prefix++)
        if (*s != *prefix && !(*s >= 'A' && *s <= 'Z' && *s + 32 == *prefix))
            return 0;
    return 1;
}

static int
twice(lb_cfg_parser_t *p, const char *item, const char *what)
{
    lb__cfg_fail(p, p->lineno, "backend '%s' sets %s twice", item, what);
    return -1;
}

/* One word of the parameters; *seen_weight catches a second weight=. */
static int
one_param(lb_cfg_parser_t *p, const char *item, const char *word,
          lb_backend_cfg_t *b, int *seen_weight)
{
    if (looks_like_address(word)) {
        lb__cfg_fail(p, p->lineno,
                     "backend '%s' contains a space; separate backends "
                     "with ','", item);
        return -1;
    }
    if (lb__cfg_casecmp(word, "backup") == 0) {
        if (b->backup)
            return twice(p, item, "backup");
        b->backup = 1;
        return 0;
    }
    if (!has_prefix(word, "weight=")) {
        lb__cfg_fail(p, p->lineno,
                     "backend '%s': unknown parameter '%s'; after the "
                     "address write weight=N (1 to %d) and/or backup, "
                     "separated by spaces", item, word, LB_MAX_WEIGHT);
        return -1;
    }
    if (*seen_weight)
        return twice(p, item, "weight");
    *seen_weight = 1;
    if (parse_weight(word + 7, &b->weight) == 0)
        return 0;
    lb__cfg_fail(p, p->lineno,
                 "backend '%s': weight must be a whole number from 1 to %d, "
                 "got '%s'", item, LB_MAX_WEIGHT, word + 7);
    return -1;
}

int
lb__cfg_backend_params(lb_cfg_parser_t *p, const char *item,
                       const char *params, lb_backend_cfg_t *b)
{
    char *copy = lb__cfg_dup(params);
    char *word = copy, *end;
    int seen_weight = 0, more, rc = 0;

    if (copy == NULL) {
        lb__cfg_fail(p, p->lineno, "out of memory");
        return -1;
    }
    while (rc == 0) {
        word += strspn(word, SPACES);
        if (*word == '\0')
            break;
        end = word + strcspn(word, SPACES);
        more = *end != '\0';
        *end = '\0';
        rc = one_param(p, item, word, b, &seen_weight);
        word = more ? end + 1 : end;
    }
    free(copy);
    return rc;
}

int
lb__cfg_params_line(const char *line)
{
    const char *eq = strchr(line, '=');
    const char *word = eq;

    if (eq == NULL)
        return 0;
    while (word > line && strchr(SPACES ",=", word[-1]) == NULL)
        word--;
    /* "a:80 weight=2": a parameter name after an address; "8081 = a:80"
     * or "8081=a:80" is a new key. */
    return word > line && (size_t)(eq - word) == 6 &&
           has_prefix(word, "weight=");
}

void
lb__cfg_params_text(const lb_backend_cfg_t *b, char *buf, size_t size)
{
    snprintf(buf, size, "weight=%d%s", b->weight, b->backup ? " backup" : "");
}

void
lb__cfg_balance_finish(lb_cfg_parser_t *p, size_t li)
{
    lb_listener_cfg_t *l = &p->cfg->listeners[li];
    size_t j, weighted = l->nbackends;

    for (j = 0; j < l->nbackends; j++) {
        l->backends[j].key = lb_pick_key(l->backends[j].label);
        if (l->backends[j].weight != 1 && weighted == l->nbackends)
            weighted = j;
    }
    if (l->algorithm != LB_ALGO_ROUNDROBIN || weighted == l->nbackends)
        return;
    lb__cfg_warn(p, p->pending[li].backend_lines[weighted],
                 "weight=%d of backend '%s' has no effect: %s '%s' "
                 "uses algorithm roundrobin; set algorithm = weighted, "
                 "leastconn or source to use weights",
                 l->backends[weighted].weight, l->backends[weighted].label,
                 lb__cfg_kind(p, li), l->name);
}
