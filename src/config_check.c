/* config_check.c - the keys of protocol-aware health checks (check_send,
 * check_expect, check_expect_re, check_http, check_expect_status,
 * check_port, check_address, check_on_down) in [options] or a
 * [listener:NAME]: their values, how a section takes [options]' ones,
 * what may not be combined, and where each backend is checked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

/* Every key here: none means anything without check_interval. */
static const char *const all_keys[] = {
    "check_send", "check_expect", "check_expect_re", "check_http",
    "check_expect_status", "check_port", "check_address", "check_on_down",
};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int
oom(lb_cfg_parser_t *p)
{
    lb__cfg_fail(p, p->lineno, "out of memory");
    return -1;
}

static int
bytes_key(lb_cfg_parser_t *p, const char *name, const char *value,
          char **out, size_t *len)
{
    char err[160];

    if (lb_check_unescape(value, out, len, err, sizeof(err)) == 0)
        return 0;
    lb__cfg_fail(p, p->lineno, "%s '%s': %s", name, value, err);
    return -1;
}

static int
regex_key(lb_cfg_parser_t *p, const char *name, const char *value,
          lb_check_cfg_t *c)
{
    char err[160];

    if (lb_regex_compile(value, &c->expect_re, err, sizeof(err)) == 0)
        return 0;
    lb__cfg_fail(p, p->lineno, "%s '%s' is not a regular expression this "
                 "program reads: %s (POSIX extended syntax, without "
                 "back-references or collating elements; see "
                 "pumpkinlb.cfg(5))", name, value, err);
    return -1;
}

static int
http_key(lb_cfg_parser_t *p, const char *name, const char *value,
         lb_check_cfg_t *c)
{
    char err[200];

    if (lb_check_parse_http(value, c, err, sizeof(err)) == 0)
        return 0;
    lb__cfg_fail(p, p->lineno, "%s %s, got '%s'", name, err, value);
    return -1;
}

static int
number_key(lb_cfg_parser_t *p, const char *name, const char *value,
           unsigned long lo, unsigned long hi, int *out)
{
    unsigned long v = 0;

    if (lb__cfg_parse_uint(value, hi, &v) == LB_CFG_NUM_OK && v >= lo) {
        *out = (int)v;
        return 0;
    }
    lb__cfg_fail(p, p->lineno, "%s must be a whole number from %lu to %lu, "
                 "got '%s'", name, lo, hi, value);
    return -1;
}

static int
on_down_key(lb_cfg_parser_t *p, const char *name, const char *value,
            int *out)
{
    if (lb__cfg_casecmp(value, "shutdown_sessions") == 0 ||
        lb__cfg_casecmp(value, "none") == 0) {
        *out = lb__cfg_casecmp(value, "none") == 0
                   ? LB_CHECK_ON_DOWN_NONE
                   : LB_CHECK_ON_DOWN_SHUTDOWN;
        return 0;
    }
    lb__cfg_fail(p, p->lineno, "%s must be shutdown_sessions or none, got "
                 "'%s'", name, value);
    return -1;
}

/* A host name or IP address, as a backend's host is written. */
static int
address_key(lb_cfg_parser_t *p, const char *name, const char *value,
            char **out)
{
    const char *s = value;

    if (*s == '\0' || strlen(s) > 253 || strchr(s, ' ') || strchr(s, '[')) {
        lb__cfg_fail(p, p->lineno, "%s must be a host name or an IP "
                     "address (IPv6 without brackets), got '%s'", name,
                     value);
        return -1;
    }
    *out = lb__cfg_dup(value);
    return *out ? 0 : oom(p);
}

int
lb__cfg_opt_check(lb_cfg_parser_t *p, const char *name, const char *value,
                  void *field)
{
    lb_check_cfg_t *c = field;

    if (strcmp(name, "check_send") == 0)
        return bytes_key(p, name, value, &c->send, &c->send_len);
    if (strcmp(name, "check_expect") == 0)
        return bytes_key(p, name, value, &c->expect, &c->expect_len);
    if (strcmp(name, "check_expect_re") == 0)
        return regex_key(p, name, value, c);
    if (strcmp(name, "check_http") == 0)
        return http_key(p, name, value, c);
    if (strcmp(name, "check_expect_status") == 0)
        return number_key(p, name, value, 100, 599, &c->expect_status);
    if (strcmp(name, "check_port") == 0)
        return number_key(p, name, value, 1, 65535, &c->port);
    if (strcmp(name, "check_on_down") == 0)
        return on_down_key(p, name, value, &c->on_down);
    return address_key(p, name, value, &c->address);
}

/* ---- defaults and inheritance ---- */

void
lb__cfg_check_unset(lb_check_cfg_t *c)
{
    memset(c, 0, sizeof(*c));
    c->expect_status = c->port = c->on_down = LB_CFG_UNSET_INT;
}

void
lb__cfg_check_defaults(lb_check_cfg_t *c)
{
    if (c->expect_status < 0)
        c->expect_status = 0; /* any 2xx or 3xx, as HAProxy's httpchk */
    if (c->port < 0)
        c->port = 0;
    if (c->on_down < 0)
        c->on_down = LB_CHECK_ON_DOWN_NONE;
}

/* What the reply must say (check_send, check_expect, check_expect_re,
 * check_http, check_expect_status): a section that sets any of it takes
 * none of it from [options], as they are alternatives. */
static int
sets_reply(const lb_check_cfg_t *c)
{
    return c->send || c->expect || c->expect_re || c->http_path ||
           c->expect_status >= 0;
}

static int
dup_text(char **dst, const char *src)
{
    if (*dst != NULL || src == NULL)
        return 0;
    *dst = lb__cfg_dup(src);
    return *dst ? 0 : -1;
}

int
lb__cfg_check_inherit(lb_check_cfg_t *c, const lb_check_cfg_t *def)
{
    if (!sets_reply(c)) {
        lb_check_cfg_t copy;

        if (lb_check_cfg_copy(&copy, def) != 0)
            return -1;
        c->send = copy.send;
        c->send_len = copy.send_len;
        c->expect = copy.expect;
        c->expect_len = copy.expect_len;
        c->expect_re = copy.expect_re;
        c->http_path = copy.http_path;
        c->http_head = copy.http_head;
        c->expect_status = copy.expect_status;
        free(copy.address);
    }
    if (c->expect_status < 0)
        c->expect_status = def->expect_status;
    if (c->port < 0)
        c->port = def->port;
    if (c->on_down < 0)
        c->on_down = def->on_down;
    return dup_text(&c->address, def->address);
}

/* ---- what may not be combined ---- */

/* Where key was set for listener li: its section, else [options]. */
static int
key_line(const lb_cfg_parser_t *p, size_t li, const char *key)
{
    int line = lb__cfg_listener_option_line(p, li, key);

    return line ? line : lb__cfg_option_line(p, key);
}

static void
check_combinations(lb_cfg_parser_t *p, size_t li)
{
    const lb_check_cfg_t *c = &p->cfg->listeners[li].health.check;

    if (c->expect && c->expect_re)
        lb__cfg_fail(p, key_line(p, li, "check_expect_re"),
                     "check_expect and check_expect_re are alternatives: "
                     "set one");
    else if (c->http_path && (c->send || c->expect || c->expect_re))
        lb__cfg_fail(p, key_line(p, li, "check_http"),
                     "check_http sends its own request and judges the "
                     "status line: it cannot go with check_send, "
                     "check_expect or check_expect_re");
    else if (c->expect_status > 0 && !c->http_path)
        lb__cfg_fail(p, key_line(p, li, "check_expect_status"),
                     "check_expect_status needs check_http");
}

/* A listener's own check keys need its checks on; [options]' need some
 * listener's. */
static void
check_needs_interval(lb_cfg_parser_t *p)
{
    int any = 0;

    for (size_t li = 0; li < p->cfg->nlisteners && !p->failed; li++) {
        int on = p->cfg->listeners[li].health.check_interval_ms > 0;

        any |= on;
        for (size_t k = 0; k < COUNT(all_keys) && !on; k++) {
            int line = lb__cfg_listener_option_line(p, li, all_keys[k]);

            if (line != 0) {
                lb__cfg_fail(p, line, "%s has no effect without "
                             "check_interval (0 for listener '%s')",
                             all_keys[k], p->cfg->listeners[li].name);
                return;
            }
        }
    }
    for (size_t k = 0; k < COUNT(all_keys) && !any && !p->failed; k++) {
        int line = lb__cfg_option_line(p, all_keys[k]);

        if (line != 0)
            lb__cfg_fail(p, line, "%s has no effect without check_interval "
                         "(no listener has health checks)", all_keys[k]);
    }
}

void
lb__cfg_check_finish(lb_cfg_parser_t *p)
{
    for (size_t li = 0; li < p->cfg->nlisteners && !p->failed; li++)
        check_combinations(p, li);
    if (!p->failed)
        check_needs_interval(p);
}

/* ---- where each backend is checked ---- */

static int
is_unix(const lb_backend_cfg_t *b)
{
    return strncmp(b->label, "unix:", 5) == 0;
}

static void
check_target(lb_cfg_parser_t *p, size_t li, lb_backend_cfg_t *b)
{
    const lb_check_cfg_t *c = &p->cfg->listeners[li].health.check;
    const char *host = c->address ? c->address : b->host;
    uint16_t port = c->port > 0 ? (uint16_t)c->port : b->port;
    int rc;

    b->check_addr = b->addr;
    b->check_resolved = b->resolved;
    if (c->address == NULL && c->port <= 0)
        return;
    if (is_unix(b) && c->address == NULL) {
        lb__cfg_fail(p, key_line(p, li, "check_port"),
                     "check_port needs check_address for backend '%s' "
                     "(a local socket has no port)", b->label);
        return;
    }
    b->check_resolved = 0;
    rc = lb_addr_from_numeric(host, port, &b->check_addr);
    if (rc != 0 && p->cfg->pre_resolve)
        rc = lb_addr_resolve(host, port, &b->check_addr);
    if (rc == 0)
        b->check_resolved = 1;
    else if (p->cfg->pre_resolve)
        lb__cfg_fail(p, key_line(p, li, "check_address"),
                     "cannot resolve check_address '%s': %s", host,
                     lb_strerror(rc));
}

void
lb__cfg_check_targets(lb_cfg_parser_t *p)
{
    for (size_t li = 0; li < p->cfg->nlisteners && !p->failed; li++) {
        lb_listener_cfg_t *l = &p->cfg->listeners[li];

        for (size_t j = 0; j < l->nbackends && !p->failed; j++)
            check_target(p, li, &l->backends[j]);
    }
}
