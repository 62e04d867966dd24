/* config_util.c - the small helpers every part of the config loader
 * uses: FILE:LINE messages, copies, and ASCII-only string and number
 * parsing (no locale changes how a config reads). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

/* ---- messages ---- */

static char *
vformat(const char *fmt, va_list ap)
{
    va_list again;
    char *s;
    int n;

    va_copy(again, ap);
    n = vsnprintf(NULL, 0, fmt, again);
    va_end(again);
    if (n < 0)
        return NULL;
    s = malloc((size_t)n + 1);
    if (s != NULL)
        vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

/* "FILE:LINE: message", or "FILE: message" for the whole config. */
static char *
located(const char *file, int line, const char *fmt, va_list ap)
{
    char *msg = vformat(fmt, ap);
    char *s;
    size_t n;

    if (msg == NULL)
        return NULL;
    n = strlen(file) + strlen(msg) + 32;
    s = malloc(n);
    if (s != NULL) {
        if (line > 0)
            snprintf(s, n, "%s:%d: %s", file, line, msg);
        else
            snprintf(s, n, "%s: %s", file, msg);
    }
    free(msg);
    return s;
}

void
lb__cfg_fail(lb_cfg_parser_t *p, int line, const char *fmt, ...)
{
    va_list ap;

    if (p->failed)
        return; /* the first error is the one worth reading */
    p->failed = 1;
    va_start(ap, fmt);
    p->err = located(p->file, line, fmt, ap);
    va_end(ap);
}

void
lb__cfg_warn(lb_cfg_parser_t *p, int line, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    if (p->warn == NULL)
        return;
    va_start(ap, fmt);
    msg = located(p->file, line, fmt, ap);
    va_end(ap);
    if (msg != NULL)
        p->warn(p->warn_ctx, msg);
    free(msg);
}

char *
lb__cfg_dupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);

    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

char *
lb__cfg_dup(const char *s)
{
    return lb__cfg_dupn(s, strlen(s));
}

/* ---- characters, words and numbers ---- */

int
lb__cfg_is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
           c == '\f';
}

int
lb__cfg_is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int
to_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

int
lb__cfg_casecmp(const char *a, const char *b)
{
    while (*a && to_lower((unsigned char)*a) == to_lower((unsigned char)*b)) {
        a++;
        b++;
    }
    return to_lower((unsigned char)*a) - to_lower((unsigned char)*b);
}

int
lb__cfg_parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    unsigned long v = 0;
    int range = 0;

    if (*s == '\0')
        return LB_CFG_NUM_SYNTAX;
    for (; *s; s++) {
        unsigned long d;

        if (!lb__cfg_is_digit((unsigned char)*s))
            return LB_CFG_NUM_SYNTAX;
        d = (unsigned long)(*s - '0');
        /* Keep scanning after an overflow: "99999999999x" is junk. */
        if (range || v > max / 10 || (v == max / 10 && d > max % 10))
            range = 1;
        else
            v = v * 10 + d;
    }
    if (range)
        return LB_CFG_NUM_RANGE;
    *out = v;
    return LB_CFG_NUM_OK;
}

int
lb__cfg_parse_port(const char *s, uint16_t *out)
{
    unsigned long v = 0;

    if (lb__cfg_parse_uint(s, 65535, &v) != LB_CFG_NUM_OK || v == 0)
        return -1;
    *out = (uint16_t)v;
    return 0;
}

char *
lb__cfg_trim(char *s)
{
    char *end = s + strlen(s);

    while (lb__cfg_is_space((unsigned char)*s))
        s++;
    while (end > s && lb__cfg_is_space((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

char *
lb__cfg_split_item(char *item, char **next)
{
    *next = strchr(item, ',');
    if (*next != NULL)
        *(*next)++ = '\0';
    return lb__cfg_trim(item);
}

int
lb__cfg_each_item(lb_cfg_parser_t *p, size_t li, const char *list,
                  lb_cfg_item_fn fn)
{
    char *copy = lb__cfg_dup(list);
    char *item, *next;
    int rc = 0;

    if (copy == NULL) {
        lb__cfg_fail(p, p->lineno, "out of memory");
        return -1;
    }
    for (item = copy; item != NULL && rc == 0; item = next) {
        item = lb__cfg_split_item(item, &next);
        /* "a,,b" and a trailing ',' before a continuation line. */
        if (*item != '\0')
            rc = fn(p, li, item);
    }
    free(copy);
    return rc;
}
