/* config_ini.c - the config as inih sees it: a line reader that counts
 * lines and refuses what inih would silently mangle, sections, and the
 * keys of [options], [mappings] and [listener:NAME] ([route:NAME]'s are
 * config_route.c's). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "config_internal.h"

#define LB_LISTENER_PREFIX "listener:"
#define LB_ROUTE_PREFIX "route:"

/* ---- inih's view of a line ---- */

/* inih's own scan: stops at one of chars, or at a ';' after a space. */
static const char *
find_chars_or_comment(const char *s, const char *chars)
{
    int was_space = 0;

    while (*s && !strchr(chars, *s) && !(was_space && *s == ';')) {
        was_space = lb__cfg_is_space((unsigned char)*s);
        s++;
    }
    return s;
}

/* ---- listeners ---- */

int
lb__cfg_new_listener(lb_cfg_parser_t *p, char *name, size_t *index)
{
    lb_config_t *cfg = p->cfg;
    size_t cap = p->listener_cap ? p->listener_cap * 2 : 4;

    if (cfg->nlisteners == p->listener_cap) {
        lb_listener_cfg_t *l = realloc(cfg->listeners, cap * sizeof(*l));
        lb_cfg_pending_t *pend = l ? realloc(p->pending,
                                             cap * sizeof(*pend)) : NULL;

        if (l != NULL)
            cfg->listeners = l;
        if (pend == NULL) {
            free(name);
            lb__cfg_fail(p, p->lineno, "out of memory");
            return -1;
        }
        p->pending = pend;
        p->listener_cap = cap;
    }
    *index = cfg->nlisteners++;
    memset(&cfg->listeners[*index], 0, sizeof(cfg->listeners[0]));
    memset(&p->pending[*index], 0, sizeof(p->pending[0]));
    cfg->listeners[*index].name = name;
    cfg->listeners[*index].line = p->lineno;
    lb__cfg_listener_unset(&cfg->listeners[*index]);
    return 0;
}

/* Sets the listen address of listener li, refusing one already used. */
static int
set_listen(lb_cfg_parser_t *p, size_t li, const char *text)
{
    lb_listener_cfg_t *l = &p->cfg->listeners[li];
    char label[LB_ADDRSTRLEN];
    size_t i;

    if (lb__cfg_parse_listen(p, text, &l->listen) != 0)
        return -1;
    lb_addr_format(&l->listen, label, sizeof(label));
    for (i = 0; i < p->cfg->nlisteners; i++) {
        if (i != li && p->pending[i].listen_line != 0 &&
            lb_addr_equal(&p->cfg->listeners[i].listen, &l->listen)) {
            lb__cfg_fail(p, p->lineno,
                         "duplicate listen address '%s' (also on line %d)",
                         label, p->pending[i].listen_line);
            return -1;
        }
    }
    l->listen_label = lb__cfg_dup(label);
    if (l->listen_label == NULL) {
        lb__cfg_fail(p, p->lineno, "out of memory");
        return -1;
    }
    p->pending[li].listen_line = p->lineno;
    return 0;
}

void
lb__cfg_set_target(lb_cfg_parser_t *p, lb_cfg_target_t target, size_t li)
{
    p->target = target;
    p->target_listener = li;
    p->target_line = p->lineno;
}

const char *
lb__cfg_kind(const lb_cfg_parser_t *p, size_t li)
{
    return p->pending[li].route ? "route" : "listener";
}

/* ---- keys ---- */

static char *
trimmed_dup(const char *s, size_t n)
{
    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return lb__cfg_dupn(s, n);
}

/* The '=' after the inport of "localaddr:inport = list" once inih split
 * the line at ':', or NULL: a '=' after more than one word is a backend
 * parameter's, as in "inport: a:80 weight=2" (and with "inport = list"
 * inih took the key's '=' already). */
static const char *
inport_end(const lb_cfg_parser_t *p, const char *value)
{
    const char *eq = strchr(value, '=');
    size_t at = strspn(value, " \t");

    if (!p->key_at_colon || eq == NULL)
        return NULL;
    at += strcspn(value + at, " \t=");
    at += strspn(value + at, " \t");
    return value + at == eq ? eq : NULL;
}

/* "inport=list" or "localaddr:inport=list". inih splits at the first '='
 * or ':', so the second arrives as name "localaddr" and value
 * "inport=list": put the key back together. */
static int
mapping_key(lb_cfg_parser_t *p, const char *name, const char *value)
{
    const char *eq = inport_end(p, value);
    const char *list = eq ? eq + 1 : value;
    char *key, *tail = NULL;
    size_t li;

    if (eq != NULL) {
        tail = trimmed_dup(value, (size_t)(eq - value));
        key = tail ? malloc(strlen(name) + strlen(tail) + 2) : NULL;
        if (key != NULL)
            sprintf(key, "%s:%s", name, tail);
        free(tail);
    } else {
        key = lb__cfg_dup(name);
    }
    if (key == NULL) {
        lb__cfg_fail(p, p->lineno, "out of memory");
        return -1;
    }
    if (lb__cfg_new_listener(p, key, &li) != 0 || set_listen(p, li, key) != 0)
        return -1;
    lb__cfg_set_target(p, LB_CFG_TARGET_BACKENDS, li);
    return lb__cfg_add_backends(p, li, list);
}

static int
check_name_length(lb_cfg_parser_t *p, const char *what, const char *name)
{
    if (strlen(name) <= LB_CFG_MAX_NAME)
        return 0;
    lb__cfg_fail(p, p->lineno, "%s name '%s' is longer than %d characters",
                 what, name, LB_CFG_MAX_NAME);
    return -1;
}

static int
listener_key(lb_cfg_parser_t *p, const char *name, const char *value)
{
    size_t li = p->listener;
    lb_cfg_pending_t *pend = &p->pending[li];
    const char *lname = p->cfg->listeners[li].name;
    int listen = lb__cfg_casecmp(name, "listen") == 0;
    int *seen = listen ? &pend->listen_line : &pend->backends_line;
    int rc;

    if (!listen && lb__cfg_casecmp(name, "backends") != 0 &&
        (rc = lb__cfg_listener_option(p, li, name, value)) != 1)
        return rc;
    if (!listen && lb__cfg_casecmp(name, "backends") != 0) {
        lb__cfg_warn(p, p->lineno,
                     "unknown key '%s' in [listener:%s] ignored", name, lname);
        p->target = LB_CFG_TARGET_IGNORE;
        return 0;
    }
    if (*seen != 0) {
        lb__cfg_fail(p, p->lineno,
                     "duplicate key '%s' in [listener:%s] (first on line %d)",
                     listen ? "listen" : "backends", lname, *seen);
        return -1;
    }
    if (listen) {
        p->target = LB_CFG_TARGET_SINGLE;
        p->target_key = "listen";
        return set_listen(p, li, value);
    }
    pend->backends_line = p->lineno;
    lb__cfg_set_target(p, LB_CFG_TARGET_BACKENDS, li);
    return lb__cfg_add_backends(p, li, value);
}

/* Cuts a " ; comment": inih r55 leaves it on continuation lines, though
 * it strips it from key lines. */
static char *
strip_comment(const char *value)
{
    const char *end = find_chars_or_comment(value, "");

    while (end > value && lb__cfg_is_space((unsigned char)end[-1]))
        end--;
    return lb__cfg_dupn(value, (size_t)(end - value));
}

/* More backends, allow/deny entries or route names. */
static int
more_items(lb_cfg_parser_t *p, const char *value)
{
    char *list = strip_comment(value);
    int rc;

    if (list == NULL) {
        lb__cfg_fail(p, p->lineno, "out of memory");
        return -1;
    }
    if (p->target == LB_CFG_TARGET_ACL)
        rc = lb__cfg_acl_more(p, list);
    else if (p->target == LB_CFG_TARGET_SNI)
        rc = lb__cfg_sni_more(p, list);
    else
        rc = lb__cfg_add_backends(p, p->target_listener, list);
    free(list);
    return rc;
}

/* An indented line: more of a list, or a mistake worth pointing out. */
static int
continued(lb_cfg_parser_t *p, const char *value)
{
    const char *key;

    switch (p->target) {
    case LB_CFG_TARGET_BACKENDS:
        if (strchr(value, '=') == NULL || lb__cfg_params_line(value))
            return more_items(p, value);
        key = p->cfg->listeners[p->target_listener].name;
        lb__cfg_fail(p, p->lineno,
                     "indented line '%s' continues the backends of '%s'; "
                     "remove its indentation if it is a new entry",
                     value, key);
        return -1;
    case LB_CFG_TARGET_ACL:
    case LB_CFG_TARGET_SNI:
        if (strchr(value, '=') == NULL)
            return more_items(p, value);
        lb__cfg_fail(p, p->lineno,
                     "indented line '%s' continues the %s list; remove its "
                     "indentation if it is a new key", value, p->target_key);
        return -1;
    case LB_CFG_TARGET_SINGLE:
        lb__cfg_fail(p, p->lineno,
                     "indented line '%s' continues '%s', which takes one "
                     "value; remove its indentation", value, p->target_key);
        return -1;
    default:
        return 0;
    }
}

static int
key_line(lb_cfg_parser_t *p, const char *name, const char *value)
{
    switch (p->section) {
    case LB_CFG_SEC_OPTIONS:
        if (check_name_length(p, "key", name) != 0)
            return -1;
        return lb__cfg_option(p, name, value);
    case LB_CFG_SEC_MAPPINGS:
        /* No length limit: the name is a host, and inih passes it whole. */
        return mapping_key(p, name, value);
    case LB_CFG_SEC_LISTENER:
        if (check_name_length(p, "key", name) != 0)
            return -1;
        return listener_key(p, name, value);
    case LB_CFG_SEC_ROUTE:
        if (check_name_length(p, "key", name) != 0)
            return -1;
        return lb__cfg_route_key(p, name, value);
    case LB_CFG_SEC_UNKNOWN:
        p->target = LB_CFG_TARGET_IGNORE;
        return 0;
    default:
        lb__cfg_fail(p, p->lineno,
                     "key '%s' comes before any section; put it under "
                     "[options], [mappings], [listener:NAME] or "
                     "[route:NAME]", name);
        return -1;
    }
}

/* inih's handler. The section argument is unused: the reader tracks
 * sections itself, and inih would hand a cut name anyway. */
static int
on_key(void *user, const char *section, const char *name, const char *value)
{
    lb_cfg_parser_t *p = user;
    int rc;

    (void)section;
    if (p->failed)
        return 0;
    rc = p->continuation ? continued(p, value) : key_line(p, name, value);
    return rc == 0;
}

/* ---- sections, seen by the reader ---- */

/* A list must not end up empty, even after continuation lines. */
static void
close_target(lb_cfg_parser_t *p)
{
    size_t li = p->target_listener;

    if (p->target == LB_CFG_TARGET_ACL)
        lb__cfg_acl_end(p);
    if (p->target == LB_CFG_TARGET_SNI &&
        p->cfg->listeners[li].nsni == 0)
        lb__cfg_fail(p, p->target_line,
                     "'sni' of [route:%s] lists no names",
                     p->cfg->listeners[li].name);
    if (p->target == LB_CFG_TARGET_BACKENDS &&
        p->cfg->listeners[li].nbackends == 0) {
        if (p->pending[li].from_section || p->pending[li].route)
            lb__cfg_fail(p, p->target_line,
                         "'backends' of [%s:%s] lists no backends",
                         lb__cfg_kind(p, li), p->cfg->listeners[li].name);
        else
            lb__cfg_fail(p, p->target_line,
                         "mapping '%s' has no backends; write e.g. "
                         "%s=10.0.0.1:80,10.0.0.2:80",
                         p->cfg->listeners[li].name,
                         p->cfg->listeners[li].name);
    }
    p->target = LB_CFG_TARGET_NONE;
}

/* A listener without backends is checked once the routes are known
 * (lb__cfg_routes_attach): with routes, it may have none. */
static void
finish_section(lb_cfg_parser_t *p)
{
    if (p->section == LB_CFG_SEC_ROUTE)
        lb__cfg_route_end(p);
    if (p->section != LB_CFG_SEC_LISTENER)
        return;
    if (p->pending[p->listener].listen_line == 0)
        lb__cfg_fail(p, p->section_line,
                     "[listener:%s] has no 'listen' key "
                     "(e.g. listen = 0.0.0.0:8080)",
                     p->cfg->listeners[p->listener].name);
}

static int
begin_listener(lb_cfg_parser_t *p, char *name)
{
    size_t i, li;

    if (*name == '\0') {
        free(name);
        lb__cfg_fail(p, p->lineno,
                     "section '[listener:]' needs a name, e.g. "
                     "[listener:web]");
        return -1;
    }
    for (i = 0; i < p->cfg->nlisteners; i++) {
        if (p->pending[i].from_section &&
            strcmp(p->cfg->listeners[i].name, name) == 0) {
            lb__cfg_fail(p, p->lineno,
                         "duplicate section '[listener:%s]' (first on line "
                         "%d)", name, p->cfg->listeners[i].line);
            free(name);
            return -1;
        }
    }
    if (lb__cfg_new_listener(p, name, &li) != 0)
        return -1;
    p->pending[li].from_section = 1;
    p->listener = li;
    p->section = LB_CFG_SEC_LISTENER;
    return 0;
}

/* name is the text between the brackets, exactly as inih sees it. */
static int
begin_section(lb_cfg_parser_t *p, const char *name)
{
    size_t plen = strlen(LB_LISTENER_PREFIX);
    char *lname;

    p->section_line = p->lineno;
    if (strcmp(name, "options") == 0) {
        p->section = LB_CFG_SEC_OPTIONS;
    } else if (strcmp(name, "mappings") == 0) {
        p->section = LB_CFG_SEC_MAPPINGS;
    } else if (strncmp(name, LB_LISTENER_PREFIX, plen) == 0) {
        lname = lb__cfg_dup(name + plen);
        if (lname == NULL) {
            lb__cfg_fail(p, p->lineno, "out of memory");
            return -1;
        }
        return begin_listener(p, lname);
    } else if (strncmp(name, LB_ROUTE_PREFIX, strlen(LB_ROUTE_PREFIX)) == 0) {
        lname = lb__cfg_dup(name + strlen(LB_ROUTE_PREFIX));
        if (lname == NULL) {
            lb__cfg_fail(p, p->lineno, "out of memory");
            return -1;
        }
        return lb__cfg_begin_route(p, lname);
    } else {
        p->section = LB_CFG_SEC_UNKNOWN;
        lb__cfg_warn(p, p->lineno, "unknown section '[%s]' ignored", name);
    }
    return 0;
}

/* ---- the line reader ---- */

static void
syntax_error(lb_cfg_parser_t *p, const char *start)
{
    size_t n = strlen(start);

    while (n > 0 && lb__cfg_is_space((unsigned char)start[n - 1]))
        n--;
    lb__cfg_fail(p, p->lineno,
                 "expected 'key = value' or '[section]', got '%.*s'",
                 (int)n, start);
}

static int
section_line(lb_cfg_parser_t *p, const char *start)
{
    const char *close = find_chars_or_comment(start + 1, "]");
    const char *after;
    char *name;
    int rc;

    finish_section(p); /* its mistakes come first: they are above */
    if (p->failed)
        return -1;
    if (*close != ']') {
        syntax_error(p, start);
        return -1;
    }
    name = lb__cfg_dupn(start + 1, (size_t)(close - start - 1));
    if (name == NULL) {
        lb__cfg_fail(p, p->lineno, "out of memory");
        return -1;
    }
    for (after = close + 1; lb__cfg_is_space((unsigned char)*after); after++)
        ;
    if (*after != '\0' && *after != ';' && *after != '#')
        lb__cfg_fail(p, p->lineno,
                     "unexpected text after '[%s]' (an IPv6 listen address "
                     "goes in a [listener:NAME] section)", name);
    else if (check_name_length(p, "section", name) == 0)
        begin_section(p, name);
    free(name);
    rc = p->failed ? -1 : 0;
    p->have_key = 0;
    return rc;
}

/* Sorts the line as inih will (comment, continuation, section, key), so
 * that sections are known and a key's value is complete before inih hands
 * over the next key. */
static int
classify(lb_cfg_parser_t *p, const char *line)
{
    const char *start = line, *end;

    while (lb__cfg_is_space((unsigned char)*start))
        start++;
    p->continuation = 0;
    if (*start == '\0' || *start == ';' || *start == '#')
        return 0;
    if (p->have_key && start > line) {
        p->continuation = 1;
        return 0;
    }
    close_target(p);
    if (p->failed)
        return -1;
    if (*start == '[')
        return section_line(p, start);
    end = find_chars_or_comment(start, "=:");
    if (*end != '=' && *end != ':') {
        syntax_error(p, start);
        return -1;
    }
    /* An empty name leaves inih's prev_name empty: no continuation. */
    p->have_key = end > start;
    p->key_at_colon = *end == ':';
    return 0;
}

static int
check_bytes(lb_cfg_parser_t *p, const char *line, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)line[i];

        if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f) {
            lb__cfg_fail(p, p->lineno,
                         "binary data (byte 0x%02x at column %zu); a config "
                         "file is text", c, i + 1);
            return -1;
        }
    }
    return 0;
}

/* inih's buffer holds num bytes: the line, its '\n' and a NUL. A longer
 * line would be cut and its tail parsed as a line of its own. */
static int
check_length(lb_cfg_parser_t *p, size_t n, int num)
{
    size_t max = num > 2 ? (size_t)num - 2 : 0;

    if (n <= max)
        return 0;
    lb__cfg_fail(p, p->lineno,
                 "line is %zu characters long, the limit is %zu; continue "
                 "a long backend list on indented lines, e.g. "
                 "'8080 = a:80,' then '    b:80'", n, max);
    return -1;
}

/* inih's fgets-style reader over the text in memory. */
static char *
read_line(char *str, int num, void *stream)
{
    lb_cfg_parser_t *p = stream;
    const char *line = p->text + p->pos, *end, *nl;
    size_t n;

    if (p->failed || p->pos >= p->len)
        return NULL;
    nl = memchr(line, '\n', p->len - p->pos);
    end = nl ? nl : p->text + p->len;
    p->pos = (size_t)(end - p->text) + (nl != NULL);
    p->lineno++;
    if (end > line && end[-1] == '\r')
        end--;
    if (p->lineno == 1 && end - line >= 3 &&
        memcmp(line, "\xEF\xBB\xBF", 3) == 0)
        line += 3;
    n = (size_t)(end - line);
    if (check_bytes(p, line, n) != 0 || check_length(p, n, num) != 0)
        return NULL;
    memcpy(str, line, n);
    str[n] = '\n';
    str[n + 1] = '\0';
    return classify(p, str) == 0 ? str : NULL;
}

void
lb__cfg_parse(lb_cfg_parser_t *p)
{
    int rc = ini_parse_stream(read_line, p, on_key, p);

    /* The reader stops inih at our first error; a nonzero rc without one
     * is a line inih refused that the reader let through. */
    if (!p->failed && rc > 0)
        lb__cfg_fail(p, rc, "expected 'key = value' or '[section]'");
    else if (!p->failed && rc < 0)
        lb__cfg_fail(p, 0, "out of memory");
    if (p->failed)
        return;
    close_target(p);
    finish_section(p);
}
