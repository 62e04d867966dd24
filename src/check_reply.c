/* check_reply.c - a health check's words: check_send and check_expect
 * unescaped, check_http's request built, and a backend's reply judged.
 * The reply comes from the network, so judging it works on explicit
 * lengths, keeps no state and does no I/O; tests/fuzz/fuzz_check.c feeds
 * it anything. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_check.h"

static const char *const reasons[LB_CHECK_NREASONS] = {
    [LB_CHECK_OK] = "passed",
    [LB_CHECK_E_CONNECT] = "connect_failed",
    [LB_CHECK_E_TIMEOUT] = "timeout",
    [LB_CHECK_E_SEND] = "send_failed",
    [LB_CHECK_E_CLOSED] = "closed",
    [LB_CHECK_E_MISMATCH] = "unexpected_reply",
    [LB_CHECK_E_NO_MATCH] = "no_match",
    [LB_CHECK_E_NOT_HTTP] = "not_http",
    [LB_CHECK_E_STATUS] = "bad_status",
};

const char *
lb_check_reason(int reason)
{
    if (reason < 0 || reason >= LB_CHECK_NREASONS)
        return "unknown";
    return reasons[reason];
}

/* ---- the config's words ---- */

int
lb_hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The byte an escape at s (after its '\') stands for, and its length in
 * *used; -1 if it is none of ours. */
static int
escaped(const char *s, size_t *used)
{
    static const char from[] = "rnt\\", to[] = "\r\n\t\\";
    const char *at = s[0] ? strchr(from, s[0]) : NULL;
    int hi, lo;

    *used = 1;
    if (at != NULL)
        return (unsigned char)to[at - from];
    if (s[0] != 'x' || (hi = lb_hex_value((unsigned char)s[1])) < 0 ||
        (lo = lb_hex_value((unsigned char)s[2])) < 0)
        return -1;
    *used = 3;
    return hi * 16 + lo;
}

int
lb_check_unescape(const char *text, char **out, size_t *len, char *err,
                  size_t errlen)
{
    size_t n = 0, used;
    char *buf = malloc(strlen(text) + 1);

    if (buf == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    while (*text) {
        int c = (unsigned char)*text++;

        if (c == '\\') {
            c = escaped(text, &used);
            if (c < 0) {
                snprintf(err, errlen, "unknown escape '\\%.3s': write "
                         "\\r, \\n, \\t, \\\\ or \\xHH (two hex digits)",
                         text);
                free(buf);
                return -1;
            }
            text += used;
        }
        buf[n++] = (char)c;
    }
    if (n == 0 || n > LB_CHECK_MAX_SEND) {
        snprintf(err, errlen, n ? "longer than %d bytes" : "empty",
                 LB_CHECK_MAX_SEND);
        free(buf);
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

/* A path as it goes on a request line: '/' first, then visible ASCII. */
static int
path_ok(const char *p)
{
    size_t n = strlen(p);

    if (n == 0 || n > LB_CHECK_MAX_PATH || p[0] != '/')
        return 0;
    for (; *p; p++)
        if (*p <= ' ' || *p > '~')
            return 0;
    return 1;
}

int
lb_check_parse_http(const char *text, lb_check_cfg_t *c, char *err,
                    size_t errlen)
{
    const char *sp = strchr(text, ' ');
    size_t mlen = sp ? (size_t)(sp - text) : 0;

    while (sp != NULL && *sp == ' ')
        sp++;
    if (sp == NULL || !((mlen == 3 && memcmp(text, "GET", 3) == 0) ||
                        (mlen == 4 && memcmp(text, "HEAD", 4) == 0)) ||
        !path_ok(sp)) {
        snprintf(err, errlen, "must be GET /PATH or HEAD /PATH (a path "
                 "starting with '/', at most %d visible ASCII characters "
                 "without spaces)", LB_CHECK_MAX_PATH);
        return -1;
    }
    free(c->http_path);
    c->http_path = malloc(strlen(sp) + 1);
    if (c->http_path == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    strcpy(c->http_path, sp);
    c->http_head = mlen == 4;
    return 0;
}

/* ---- what is sent ---- */

char *
lb_check_request(const lb_check_cfg_t *c, const char *host, uint16_t port,
                 size_t *len)
{
    const char *open = strchr(host, ':') ? "[" : "", *close = *open ? "]"
                                                                    : "";
    char portbuf[8] = "";
    char *req;
    int n;

    *len = 0;
    if (c->http_path == NULL) {
        if (c->send == NULL || (req = malloc(c->send_len)) == NULL) {
            *len = c->send == NULL ? 0 : 1;
            return NULL;
        }
        memcpy(req, c->send, c->send_len);
        *len = c->send_len;
        return req;
    }
    if (port != 80)
        snprintf(portbuf, sizeof(portbuf), ":%u", (unsigned)port);
    n = snprintf(NULL, 0, "%s %s HTTP/1.0\r\nHost: %s%s%s%s\r\n"
                 "User-Agent: PumpkinLB-check\r\nConnection: close\r\n\r\n",
                 c->http_head ? "HEAD" : "GET", c->http_path, open, host,
                 close, portbuf);
    req = n > 0 ? malloc((size_t)n + 1) : NULL;
    *len = 1;
    if (req == NULL)
        return NULL;
    snprintf(req, (size_t)n + 1, "%s %s HTTP/1.0\r\nHost: %s%s%s%s\r\n"
             "User-Agent: PumpkinLB-check\r\nConnection: close\r\n\r\n",
             c->http_head ? "HEAD" : "GET", c->http_path, open, host, close,
             portbuf);
    *len = (size_t)n;
    return req;
}

/* ---- what comes back ---- */

int
lb_check_reads(const lb_check_cfg_t *c)
{
    return c->expect != NULL || c->expect_re != NULL || c->http_path != NULL;
}

static int
failed(int *reason, int why)
{
    *reason = why;
    return LB_CHECK_FAIL;
}

/* The reply's first line, without "\r\n": 1 once it is known (its end
 * came, or LB_CHECK_MAX_REPLY bytes, or the end of the reply), else 0. */
static int
first_line(const char *reply, size_t len, int eof, size_t *n)
{
    const char *nl = memchr(reply, '\n', len);

    if (nl == NULL && !eof && len < LB_CHECK_MAX_REPLY)
        return 0;
    *n = nl ? (size_t)(nl - reply) : len;
    if (*n > 0 && reply[*n - 1] == '\r')
        (*n)--;
    return 1;
}

/* "HTTP/1.x NNN" and then the end or a space: the status, else -1. */
static int
http_status(const char *line, size_t n)
{
    int status = 0;

    if (n < 12 || memcmp(line, "HTTP/1.", 7) != 0 || line[7] < '0' ||
        line[7] > '9' || line[8] != ' ' || (n > 12 && line[12] != ' '))
        return -1;
    for (size_t i = 9; i < 12; i++) {
        if (line[i] < '0' || line[i] > '9')
            return -1;
        status = status * 10 + (line[i] - '0');
    }
    return status >= 100 ? status : -1;
}

static int
judge_line(const lb_check_cfg_t *c, const char *line, size_t n, int *reason)
{
    int status, rc;

    if (c->http_path != NULL) {
        status = http_status(line, n);
        if (status < 0)
            return failed(reason, LB_CHECK_E_NOT_HTTP);
        if (c->expect_status > 0 ? status != c->expect_status
                                 : status < 200 || status > 399)
            return failed(reason, LB_CHECK_E_STATUS);
        return LB_CHECK_PASS;
    }
    rc = lb_regex_match(c->expect_re, line, n);
    if (rc == 1)
        return LB_CHECK_PASS;
    /* Out of memory is no verdict on the backend, but a check must end. */
    return failed(reason, rc == 0 ? LB_CHECK_E_NO_MATCH : LB_CHECK_E_CLOSED);
}

int
lb_check_judge(const lb_check_cfg_t *c, const char *reply, size_t len,
               int eof, int *reason)
{
    size_t n;

    *reason = LB_CHECK_OK;
    if (c->expect != NULL) {
        n = len < c->expect_len ? len : c->expect_len;
        if (memcmp(reply, c->expect, n) != 0)
            return failed(reason, LB_CHECK_E_MISMATCH);
        if (n == c->expect_len)
            return LB_CHECK_PASS;
        return eof ? failed(reason, LB_CHECK_E_CLOSED) : LB_CHECK_MORE;
    }
    if (!lb_check_reads(c))
        return LB_CHECK_PASS;
    if (eof && len == 0)
        return failed(reason, LB_CHECK_E_CLOSED);
    if (!first_line(reply, len, eof, &n))
        return LB_CHECK_MORE;
    return judge_line(c, reply, n, reason);
}

/* ---- the config's copy ---- */

static char *
dup_bytes(const char *s, size_t n)
{
    char *d = malloc(n + 1);

    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

int
lb_check_cfg_copy(lb_check_cfg_t *dst, const lb_check_cfg_t *src)
{
    *dst = *src;
    dst->send = src->send ? dup_bytes(src->send, src->send_len) : NULL;
    dst->expect = src->expect ? dup_bytes(src->expect, src->expect_len)
                              : NULL;
    dst->expect_re = src->expect_re ? lb_regex_copy(src->expect_re) : NULL;
    dst->http_path = src->http_path
                         ? dup_bytes(src->http_path, strlen(src->http_path))
                         : NULL;
    dst->address = src->address
                       ? dup_bytes(src->address, strlen(src->address))
                       : NULL;
    if ((src->send && !dst->send) || (src->expect && !dst->expect) ||
        (src->expect_re && !dst->expect_re) ||
        (src->http_path && !dst->http_path) ||
        (src->address && !dst->address)) {
        lb_check_cfg_free(dst);
        return -1;
    }
    return 0;
}

void
lb_check_cfg_free(lb_check_cfg_t *c)
{
    free(c->send);
    free(c->expect);
    lb_regex_free(c->expect_re);
    free(c->http_path);
    free(c->address);
    c->send = c->expect = c->http_path = c->address = NULL;
    c->expect_re = NULL;
}
