/* config_mappings.c - where a listener listens and what it balances
 * over: "PORT", "HOST:PORT", "*:PORT" and "[IPV6]:PORT" listen addresses,
 * and backend lists ("host:port weight=2 backup, [::1]:80, unix:PATH"),
 * one item after another, each line numbered for the final resolve. */
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

/* The host of a listen address: '*', an IP literal or a name. */
static int
listen_host(lb_cfg_parser_t *p, const char *text, const char *host,
            uint16_t port, lb_addr_t *out)
{
    int rc;

    if (*host == '\0') {
        lb__cfg_fail(p, p->lineno,
                     "listen address '%s' has no host before ':'", text);
        return -1;
    }
    if (strcmp(host, "*") == 0) {
        lb_addr_any(0, port, out);
        return 0;
    }
    rc = lb_addr_resolve(host, port, out);
    if (rc != 0) {
        lb__cfg_fail(p, p->lineno, "cannot resolve listen address '%s': %s",
                     host, lb_strerror(rc));
        return -1;
    }
    return 0;
}

/* "[v6]:port": the brackets are required so the port stays apart. */
static int
listen_v6(lb_cfg_parser_t *p, const char *text, lb_addr_t *out)
{
    const char *close = strchr(text, ']');
    char *host;
    uint16_t port = 0;
    int rc;

    if (close == NULL || close[1] != ':') {
        lb__cfg_fail(p, p->lineno,
                     "listen address '%s' must look like [addr]:port", text);
        return -1;
    }
    if (lb__cfg_parse_port(close + 2, &port) != 0) {
        lb__cfg_fail(p, p->lineno,
                     "listen port must be a whole number from 1 to 65535, "
                     "got '%s'", close + 2);
        return -1;
    }
    host = lb__cfg_dupn(text + 1, (size_t)(close - text - 1));
    if (host == NULL) {
        lb__cfg_fail(p, p->lineno, "out of memory");
        return -1;
    }
    rc = strchr(host, ':') ? lb_addr_from_numeric(host, port, out) : -1;
    if (rc != 0)
        lb__cfg_fail(p, p->lineno,
                     "listen address '%s': '%s' is not an IPv6 address",
                     text, host);
    free(host);
    return rc != 0 ? -1 : 0;
}

int
lb__cfg_parse_listen(lb_cfg_parser_t *p, const char *text, lb_addr_t *out)
{
    const char *colon = strchr(text, ':');
    const char *portstr = colon ? colon + 1 : text;
    uint16_t port = 0;
    char *host;
    int rc;

    if (text[0] == '[')
        return listen_v6(p, text, out);
    if (colon != NULL && strchr(colon + 1, ':') != NULL) {
        lb__cfg_fail(p, p->lineno,
                     "listen address '%s' has more than one ':'; write an "
                     "IPv6 address as [addr]:port in a [listener:NAME] "
                     "section", text);
        return -1;
    }
    if (lb__cfg_parse_port(portstr, &port) != 0) {
        lb__cfg_fail(p, p->lineno,
                     "listen port must be a whole number from 1 to 65535, "
                     "got '%s'", portstr);
        return -1;
    }
    if (colon == NULL) {
        /* A bare port means every IPv4 interface, as the original. */
        lb_addr_any(0, port, out);
        return 0;
    }
    host = lb__cfg_dupn(text, (size_t)(colon - text));
    if (host == NULL) {
        lb__cfg_fail(p, p->lineno, "out of memory");
        return -1;
    }
    rc = listen_host(p, text, host, port, out);
    free(host);
    return rc;
}

/* Splits one backend item into host (without brackets) and port text. */
static int
split_backend(lb_cfg_parser_t *p, const char *item, const char **host,
              size_t *hostlen, const char **port)
{
    const char *colon;

    if (item[0] == '[') {
        const char *close = strchr(item, ']');

        if (close == NULL || close[1] != ':') {
            lb__cfg_fail(p, p->lineno,
                         "backend '%s' must look like [addr]:port", item);
            return -1;
        }
        *host = item + 1;
        *hostlen = (size_t)(close - item - 1);
        *port = close + 2;
        return 0;
    }
    colon = strrchr(item, ':');
    if (colon == NULL) {
        lb__cfg_fail(p, p->lineno,
                     "backend '%s' has no port; write host:port", item);
        return -1;
    }
    if (strchr(item, ':') != colon) {
        lb__cfg_fail(p, p->lineno,
                     "backend '%s' has more than one ':'; write an IPv6 "
                     "address as [addr]:port", item);
        return -1;
    }
    *host = item;
    *hostlen = (size_t)(colon - item);
    *port = colon + 1;
    return 0;
}

/* "ADDRESS weight=3 backup": the parameters go into b, and item is cut
 * after the address. */
static int
backend_params(lb_cfg_parser_t *p, char *item, lb_backend_cfg_t *b)
{
    char *space = item + strcspn(item, " \t\r\n\v\f");

    b->weight = 1;
    if (*space == '\0')
        return 0;
    if (lb__cfg_backend_params(p, item, space, b) != 0)
        return -1;
    *space = '\0';
    return 0;
}

/* "unix:PATH": a local stream socket, as nginx writes it. */
static int
parse_unix_backend(lb_cfg_parser_t *p, const char *item, lb_backend_cfg_t *b)
{
    const char *path = item + 5;
    int rc = lb_addr_from_unix(path, &b->addr);

    if (rc == LB_ENOTSUP) {
        lb__cfg_fail(p, p->lineno, "backend '%s': UNIX-socket backends are "
                     "not supported on this system; use host:port", item);
        return -1;
    }
    if (rc != 0) {
        lb__cfg_fail(p, p->lineno, "backend '%s': the socket path is empty "
                     "or longer than the system allows (107 bytes on "
                     "Linux)", item);
        return -1;
    }
    b->host = lb__cfg_dup(path);
    b->label = lb__cfg_dup(item);
    if (b->host == NULL || b->label == NULL) {
        lb__cfg_fail(p, p->lineno, "out of memory");
        return -1;
    }
    b->port = 0;
    b->resolved = 1;
    return 0;
}

/* Fills b from one item; names stay unresolved until the final pass. */
static int
parse_backend(lb_cfg_parser_t *p, char *item, lb_backend_cfg_t *b)
{
    const char *host, *port;
    size_t hostlen = 0;

    if (backend_params(p, item, b) != 0)
        return -1;
    if (strncmp(item, "unix:", 5) == 0)
        return parse_unix_backend(p, item, b);
    if (split_backend(p, item, &host, &hostlen, &port) != 0)
        return -1;
    if (hostlen == 0) {
        lb__cfg_fail(p, p->lineno, "backend '%s' has no host before ':'",
                     item);
        return -1;
    }
    if (lb__cfg_parse_port(port, &b->port) != 0) {
        lb__cfg_fail(p, p->lineno,
                     "backend '%s': port must be a whole number from 1 to "
                     "65535, got '%s'", item, port);
        return -1;
    }
    b->host = lb__cfg_dupn(host, hostlen);
    b->label = lb__cfg_dup(item);
    if (b->host == NULL || b->label == NULL) {
        lb__cfg_fail(p, p->lineno, "out of memory");
        return -1;
    }
    b->resolved = lb_addr_from_numeric(b->host, b->port, &b->addr) == 0;
    if (item[0] == '[' && !(b->resolved && strchr(b->host, ':'))) {
        lb__cfg_fail(p, p->lineno,
                     "backend '%s': '%s' is not an IPv6 address", item,
                     b->host);
        return -1;
    }
    return 0;
}

/* Room for one more backend in listener li. */
static int
grow_backends(lb_cfg_parser_t *p, size_t li)
{
    lb_listener_cfg_t *l = &p->cfg->listeners[li];
    lb_cfg_pending_t *pend = &p->pending[li];
    size_t cap = pend->backend_cap ? pend->backend_cap * 2 : 4;
    lb_backend_cfg_t *b;
    int *lines;

    if (l->nbackends < pend->backend_cap)
        return 0;
    if (l->nbackends >= LB_MAX_BACKENDS) {
        lb__cfg_fail(p, p->lineno, "listener '%s' has more than %d backends",
                     l->name, LB_MAX_BACKENDS);
        return -1;
    }
    b = realloc(l->backends, cap * sizeof(*b));
    if (b != NULL)
        l->backends = b;
    lines = b ? realloc(pend->backend_lines, cap * sizeof(*lines)) : NULL;
    if (lines == NULL) {
        lb__cfg_fail(p, p->lineno, "out of memory");
        return -1;
    }
    pend->backend_lines = lines;
    memset(b + pend->backend_cap, 0,
           (cap - pend->backend_cap) * sizeof(*b));
    pend->backend_cap = cap;
    return 0;
}

static int
add_backend(lb_cfg_parser_t *p, size_t li, char *item)
{
    lb_listener_cfg_t *l;

    if (grow_backends(p, li) != 0)
        return -1;
    l = &p->cfg->listeners[li];
    /* Counted before parsing so lb_config_free() sees a half-filled one. */
    p->pending[li].backend_lines[l->nbackends] = p->lineno;
    return parse_backend(p, item, &l->backends[l->nbackends++]);
}

int
lb__cfg_add_backends(lb_cfg_parser_t *p, size_t li, const char *list)
{
    return lb__cfg_each_item(p, li, list, add_backend);
}
