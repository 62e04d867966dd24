/* admin_request.c - what an admin API request says: the path's two names
 * (percent-decoded) and the JSON body, both as a network peer sent them.
 * A strict, small parser of just what the API takes (an object of known
 * keys with string or whole-number values), on explicit lengths, with no
 * recursion, no I/O and no state; tests/fuzz/fuzz_admin.c feeds it
 * anything. */
#include <stdio.h>
#include <string.h>

#include "lb_admin.h"
#include "lb_check.h"
#include "lb_health.h"

#define MAX_STRING 64   /* a key or a word, decoded */
#define MAX_DIGITS 9    /* well inside an int */

/* ---- the path ---- */

/* A path segment's characters as RFC 3986 allows them, and '[' ']' that
 * an IPv6 backend brings and clients send as they are. */
static int
segment_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || strchr("-._~!$&'()*+,;=:@[]", c);
}

/* Decodes s[0..n) into out (LB_ADMIN_MAX_NAME + 1 bytes): 0, or -1. */
static int
decode(const char *s, size_t n, char *out)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];

        if (c == '%') {
            int hi = i + 2 < n ? lb_hex_value((unsigned char)s[i + 1]) : -1;
            int lo = hi >= 0 ? lb_hex_value((unsigned char)s[i + 2]) : -1;

            if (lo < 0 || (c = hi * 16 + lo) == 0)
                return -1;
            i += 2;
        } else if (c == 0 || !segment_char(c)) {
            return -1;
        }
        if (k == LB_ADMIN_MAX_NAME)
            return -1;
        out[k++] = (char)c;
    }
    out[k] = '\0';
    return k > 0 ? 0 : -1;
}

static int
starts(const char *s, size_t n, const char *prefix)
{
    size_t p = strlen(prefix);

    return n >= p && memcmp(s, prefix, p) == 0;
}

int
lb_admin_parse_path(const char *target, size_t len, char *listener,
                    char *backend)
{
    static const char head[] = "/api/v1/listeners/", mid[] = "/backends/";
    const char *l, *b, *slash;
    size_t ln;

    if (!starts(target, len, head))
        return 1;
    l = target + sizeof(head) - 1;
    len -= sizeof(head) - 1;
    slash = memchr(l, '/', len);
    if (slash == NULL || !starts(slash, len - (size_t)(slash - l), mid))
        return 1;
    ln = (size_t)(slash - l);
    b = slash + sizeof(mid) - 1;
    len -= ln + sizeof(mid) - 1;
    if (memchr(b, '/', len) != NULL)
        return 1;
    return decode(l, ln, listener) == 0 && decode(b, len, backend) == 0 ? 0
                                                                       : -1;
}

/* ---- the body ---- */

typedef struct json_s {
    const char *p, *end;
    char *why;
    size_t whylen;
} json_t;

static int
bad(json_t *j, const char *what)
{
    snprintf(j->why, j->whylen, "%s", what);
    return -1;
}

static void
ws(json_t *j)
{
    while (j->p < j->end && strchr(" \t\r\n", *j->p) && *j->p != '\0')
        j->p++;
}

static int
next_is(json_t *j, char c)
{
    ws(j);
    if (j->p < j->end && *j->p == c) {
        j->p++;
        return 1;
    }
    return 0;
}

/* \uXXXX: only what is ASCII is kept as it is; anything else cannot be
 * one of our words, so it becomes a byte no word has. */
static int
unicode_escape(json_t *j, char *c)
{
    int v = 0;

    if (j->end - j->p < 4)
        return bad(j, "a \\u escape needs four hex digits");
    for (int i = 0; i < 4; i++) {
        int h = lb_hex_value((unsigned char)j->p[i]);

        if (h < 0)
            return bad(j, "a \\u escape needs four hex digits");
        v = v * 16 + h;
    }
    j->p += 4;
    *c = v > 0 && v < 128 ? (char)v : '\x7f';
    return 0;
}

static int
escape(json_t *j, char *c)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *at;

    if (j->p == j->end)
        return bad(j, "an unterminated string");
    at = *j->p ? strchr(from, *j->p) : NULL;
    j->p++;
    if (at != NULL) {
        *c = to[at - from];
        return 0;
    }
    if (j->p[-1] == 'u')
        return unicode_escape(j, c);
    return bad(j, "an unknown escape in a string");
}

/* A JSON string, decoded into out (MAX_STRING + 1 bytes). */
static int
string(json_t *j, char *out)
{
    size_t n = 0;

    if (!next_is(j, '"'))
        return bad(j, "expected a string");
    while (j->p < j->end && *j->p != '"') {
        char c = *j->p++;

        if ((unsigned char)c < 0x20)
            return bad(j, "a control character in a string");
        if (c == '\\' && escape(j, &c) != 0)
            return -1;
        if (n == MAX_STRING)
            return bad(j, "a string too long for a key or a state");
        out[n++] = c;
    }
    if (j->p == j->end)
        return bad(j, "an unterminated string");
    j->p++;
    out[n] = '\0';
    return 0;
}

/* A whole number from 0 up, without sign, fraction or exponent. */
static int
number(json_t *j, const char *key, int *out)
{
    int v = 0, digits = 0;

    ws(j);
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        if (++digits > MAX_DIGITS || (digits == 2 && v == 0))
            return bad(j, "a number too large, or with a leading zero");
        v = v * 10 + (*j->p++ - '0');
    }
    if (digits == 0 || (j->p < j->end && strchr(".eE", *j->p) &&
                        *j->p != '\0')) {
        snprintf(j->why, j->whylen, "\"%s\" must be a whole number of 0 "
                 "or more", key);
        return -1;
    }
    *out = v;
    return 0;
}

static int
state_value(json_t *j, lb_admin_change_t *out)
{
    static const char *const words[] = {"ready", "drain", "maint"};
    char w[MAX_STRING + 1];

    ws(j);
    if (j->p == j->end || *j->p != '"' || string(j, w) != 0)
        return bad(j, "\"state\" must be \"ready\", \"drain\" or \"maint\"");
    for (int i = 0; i < 3; i++)
        if (strcmp(w, words[i]) == 0) {
            out->state = i; /* LB_ADMIN_READY, _DRAIN, _MAINT */
            return 0;
        }
    return bad(j, "\"state\" must be \"ready\", \"drain\" or \"maint\"");
}

static int
ranged(json_t *j, const char *key, int lo, int hi, int *out)
{
    if (number(j, key, out) != 0)
        return -1;
    if (*out >= lo && *out <= hi)
        return 0;
    snprintf(j->why, j->whylen, "\"%s\" must be from %d to %d", key, lo, hi);
    return -1;
}

/* One "key": value pair. */
static int
pair(json_t *j, lb_admin_change_t *out)
{
    char key[MAX_STRING + 1];
    int *field;

    if (string(j, key) != 0)
        return -1;
    if (!next_is(j, ':'))
        return bad(j, "expected ':' after a key");
    field = strcmp(key, "state") == 0       ? &out->state
            : strcmp(key, "weight") == 0    ? &out->weight
            : strcmp(key, "max_conns") == 0 ? &out->max_conns
                                            : NULL;
    if (field == NULL)
        return bad(j, "unknown key: the body may hold \"state\", "
                      "\"weight\" and \"max_conns\"");
    if (*field != -1) {
        snprintf(j->why, j->whylen, "\"%s\" given twice", key);
        return -1;
    }
    if (field == &out->state)
        return state_value(j, out);
    if (field == &out->weight)
        return ranged(j, key, 1, LB_MAX_WEIGHT, field);
    return ranged(j, key, 0, LB_ADMIN_MAX_CONNS, field);
}

int
lb_admin_parse_body(const char *body, size_t len, lb_admin_change_t *out,
                    char *why, size_t whylen)
{
    json_t j = {body, body + len, why, whylen};

    out->state = out->weight = out->max_conns = -1;
    if (len > LB_ADMIN_MAX_BODY)
        return bad(&j, "the body is too long");
    if (!next_is(&j, '{'))
        return bad(&j, "the body must be a JSON object such as "
                       "{\"state\": \"drain\"}");
    if (!next_is(&j, '}')) {
        do {
            ws(&j);
            if (pair(&j, out) != 0)
                return -1;
        } while (next_is(&j, ','));
        if (!next_is(&j, '}'))
            return bad(&j, "expected ',' or '}'");
    }
    ws(&j);
    if (j.p != j.end)
        return bad(&j, "something after the object");
    if (out->state < 0 && out->weight < 0 && out->max_conns < 0)
        return bad(&j, "nothing to change: give \"state\", \"weight\" or "
                       "\"max_conns\"");
    return 0;
}
