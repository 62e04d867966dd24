/* config_stats.c - the statistics keys of [options]: the address (a bare
 * port is loopback only), the names a Host header may carry, the bearer
 * tokens read from their files (stats_token_file for reading,
 * admin_token_file for the admin API); stats_allow is an allow list
 * (config_acl.c). None of them means anything without stats. */
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
check_token(lb_cfg_parser_t *p, const char *key, const char *path,
            const char *tok)
{
    size_t n = strlen(tok);

    for (size_t i = 0; i < n; i++) {
        if (tok[i] <= ' ' || tok[i] > '~') {
            lb__cfg_fail(p, p->lineno,
                         "%s '%s': the token (its first line) may hold only "
                         "printable ASCII without spaces", key, path);
            return -1;
        }
    }
    if (n == 0)
        lb__cfg_fail(p, p->lineno, "%s '%s': its first line (the token) is "
                     "empty", key, path);
    return n == 0 ? -1 : 0;
}

static char *
read_token(lb_cfg_parser_t *p, const char *key, const char *path)
{
    char buf[MAX_TOKEN + 3];
    FILE *f = fopen(path, "rb");
    size_t n;

    if (f == NULL) {
        lb__cfg_fail(p, p->lineno, "%s '%s': cannot open: %s", key, path,
                     strerror(errno));
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
        lb__cfg_fail(p, p->lineno, "%s '%s': the token is longer than %d "
                     "bytes", key, path, MAX_TOKEN);
        return NULL;
    }
    if (check_token(p, key, path, buf) != 0)
        return NULL;
    return lb__cfg_dup(buf);
}

/* A token file at start and at each reload: one that its group or others
 * could read is refused where mode bits say so (POSIX); where an access
 * list says it (Windows), that is a warning naming who. */
static char *
token_file(lb_cfg_parser_t *p, const char *key, const char *path)
{
    char why[512];
    char *token;

    if (*path == '\0') {
        lb__cfg_fail(p, p->lineno, "%s must not be empty", key);
        return NULL;
    }
    if (lb_file_readable_by_others(path)) {
        lb__cfg_fail(p, p->lineno, "%s '%s' can be read by its group or "
                     "others; make it readable by its owner only (chmod "
                     "600)", key, path);
        return NULL;
    }
    if (lb_file_acl_readable_by_others(path, why, sizeof(why)))
        lb__cfg_warn(p, p->lineno, "%s '%s' %s; whoever can read it can "
                     "%s (leave read access to SYSTEM, Administrators and "
                     "the service: installer/README.md)", key, path, why,
                     strcmp(key, "admin_token_file") == 0
                         ? "take backends out of service"
                         : "read the statistics");
    token = read_token(p, key, path);
    if (token == NULL && !p->failed)
        lb__cfg_fail(p, p->lineno, "out of memory");
    return token;
}

/* stats_token_file = PATH: every request needs "Authorization: Bearer
 * TOKEN". */
int
lb__cfg_opt_stats_token(lb_cfg_parser_t *p, const char *name,
                        const char *value, void *field)
{
    lb_stats_cfg_t *st = field;

    st->token = token_file(p, name, value);
    return st->token ? 0 : -1;
}

/* admin_token_file = PATH: the admin API (writes) is on, for requests
 * that carry this token. */
int
lb__cfg_opt_admin_token(lb_cfg_parser_t *p, const char *name,
                        const char *value, void *field)
{
    lb_stats_cfg_t *st = field;

    st->admin_token = token_file(p, name, value);
    return st->admin_token ? 0 : -1;
}

/* The stats_* keys describe the statistics server: without one they
 * would be silently ignored. */
void
lb__cfg_stats_finish(lb_cfg_parser_t *p)
{
    static const char *const keys[] = {"stats_allow", "stats_host",
                                       "stats_token_file",
                                       "admin_token_file"};

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
    if (st->admin_token != NULL) {
        memset(st->admin_token, 0, strlen(st->admin_token));
        free(st->admin_token);
    }
    for (size_t i = 0; i < st->nhosts; i++)
        free(st->hosts[i]);
    free(st->hosts);
    lb_acl_free(&st->allow);
    memset(st, 0, sizeof(*st));
}
