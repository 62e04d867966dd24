/* config_stats.c - the statistics keys of [options]: the address (a bare
 * port is loopback only), the names a Host header may carry, the bearer
 * token read from its file; stats_allow is an allow list (config_acl.c).
 * None of them means anything without stats. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

#define MAX_TOKEN 1024 /* a request's headers are at most 4 KiB anyway */
#define MAX_HOST 253   /* a DNS name's longest text form */

static int
all_digits(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if (!lb__cfg_is_digit((unsigned char)*s))
            return 0;
    return 1;
}

/* stats = ADDRESS:PORT, written as a listener's listen address, but a
 * bare PORT is 127.0.0.1:PORT: the numbers describe the whole topology,
 * so exposing them takes an address written out (*:PORT for every
 * interface). */
int
lb__cfg_opt_stats(lb_cfg_parser_t *p, const char *name, const char *value,
                  void *field)
{
    lb_stats_cfg_t *st = field;
    char label[LB_ADDRSTRLEN];
    uint16_t port;
    (void)name;

    if (all_digits(value) && lb__cfg_parse_port(value, &port) == 0)
        lb_addr_from_numeric("127.0.0.1", port, &st->addr);
    else if (lb__cfg_parse_listen(p, value, &st->addr) != 0)
        return -1;
    lb_addr_format(&st->addr, label, sizeof(label));
    st->label = lb__cfg_dup(label);
    if (st->label == NULL) {
        lb__cfg_fail(p, p->lineno, "out of memory");
        return -1;
    }
    st->line = p->lineno;
    return 0;
}

/* A DNS name as a Host header carries it: letters, digits, '-' and '.',
 * no empty label. */
static int
host_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > MAX_HOST || s[0] == '.' || strstr(s, "..") != NULL)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              lb__cfg_is_digit((unsigned char)*s) || *s == '-' || *s == '.'))
            return 0;
    return 1;
}

static int
add_host(lb_cfg_parser_t *p, lb_stats_cfg_t *st, const char *item)
{
    char **grown;

    if (!host_name_ok(item)) {
        lb__cfg_fail(p, p->lineno,
                     "stats_host entry '%s' is not a host name (letters, "
                     "digits, '-' and '.'); separate names with ','", item);
        return -1;
    }
    grown = realloc(st->hosts, (st->nhosts + 1) * sizeof(*grown));
    if (grown == NULL || (grown[st->nhosts] = lb__cfg_dup(item)) == NULL) {
        if (grown != NULL)
            st->hosts = grown;
        lb__cfg_fail(p, p->lineno, "out of memory");
        return -1;
    }
    st->hosts = grown;
    st->nhosts++;
    return 0;
}

/* stats_host = NAME, ...: names besides IP literals and localhost that a
 * request's Host header may carry (the name a Prometheus server
 * scrapes). */
int
lb__cfg_opt_stats_hosts(lb_cfg_parser_t *p, const char *name,
                        const char *value, void *field)
{
    char *copy = lb__cfg_dup(value), *item, *next;
    int rc = 0;
    (void)name;

    if (copy == NULL) {
        lb__cfg_fail(p, p->lineno, "out of memory");
        return -1;
    }
    for (item = copy; item != NULL && rc == 0; item = next) {
        item = lb__cfg_split_item(item, &next);
        rc = add_host(p, field, item);
    }
    free(copy);
    return rc;
}

/* The token is the file's first line, without its line end: printable
 * ASCII with no space, as a bearer token is written. */
static int
check_token(lb_cfg_parser_t *p, const char *path, const char *tok)
{
    size_t n = strlen(tok);

    for (size_t i = 0; i < n; i++) {
        if (tok[i] <= ' ' || tok[i] > '~') {
            lb__cfg_fail(p, p->lineno,
                         "stats_token_file '%s': the token (its first line) "
                         "may hold only printable ASCII without spaces",
                         path);
            return -1;
        }
    }
    if (n == 0)
        lb__cfg_fail(p, p->lineno, "stats_token_file '%s': its first line "
                     "(the token) is empty", path);
    return n == 0 ? -1 : 0;
}

static char *
read_token(lb_cfg_parser_t *p, const char *path)
{
    char buf[MAX_TOKEN + 3];
    FILE *f = fopen(path, "rb");
    size_t n;

    if (f == NULL) {
        lb__cfg_fail(p, p->lineno, "stats_token_file '%s': cannot open: "
                     "%s", path, strerror(errno));
        return NULL;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    n = strlen(buf);
    if (n > 0 && buf[n - 1] == '\r')
        buf[--n] = '\0';
    if (n > MAX_TOKEN) {
        lb__cfg_fail(p, p->lineno, "stats_token_file '%s': the token is "
                     "longer than %d bytes", path, MAX_TOKEN);
        return NULL;
    }
    if (check_token(p, path, buf) != 0)
        return NULL;
    return lb__cfg_dup(buf);
}

/* stats_token_file = PATH: GET needs "Authorization: Bearer TOKEN". The
 * file is read at start and at each reload; one that its group or others
 * could read is refused (where mode bits say so). */
int
lb__cfg_opt_stats_token(lb_cfg_parser_t *p, const char *name,
                        const char *value, void *field)
{
    lb_stats_cfg_t *st = field;
    (void)name;

    if (*value == '\0') {
        lb__cfg_fail(p, p->lineno, "stats_token_file must not be empty");
        return -1;
    }
    if (lb_file_readable_by_others(value)) {
        lb__cfg_fail(p, p->lineno, "stats_token_file '%s' can be read by "
                     "its group or others; make it readable by its owner "
                     "only (chmod 600)", value);
        return -1;
    }
    st->token = read_token(p, value);
    if (st->token == NULL) {
        lb__cfg_fail(p, p->lineno, "out of memory"); /* else said above */
        return -1;
    }
    return 0;
}

/* The stats_* keys describe the statistics server: without one they
 * would be silently ignored. */
void
lb__cfg_stats_finish(lb_cfg_parser_t *p)
{
    static const char *const keys[] = {"stats_allow", "stats_host",
                                       "stats_token_file"};

    if (p->cfg->stats.line != 0)
        return;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        int line = lb__cfg_option_line(p, keys[i]);

        if (line != 0) {
            lb__cfg_fail(p, line, "%s has no effect without stats = "
                         "ADDRESS:PORT", keys[i]);
            return;
        }
    }
}

void
lb__cfg_stats_free(lb_stats_cfg_t *st)
{
    free(st->label);
    if (st->token != NULL) {
        memset(st->token, 0, strlen(st->token));
        free(st->token);
    }
    for (size_t i = 0; i < st->nhosts; i++)
        free(st->hosts[i]);
    free(st->hosts);
    lb_acl_free(&st->allow);
    memset(st, 0, sizeof(*st));
}
