/* lb_check.h - protocol-aware health checks: what a check sends once
 * connected and what the reply must say (check_send, check_expect,
 * check_expect_re, check_http, check_expect_status), parsed from the
 * config and judged with no I/O (check_reply.c), so a fuzz target can
 * feed any reply. The connecting is health_check.c's. */
#ifndef LB_CHECK_H
#define LB_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "lb_regex.h"

/* The bytes of a reply that are judged: enough for a status line or a
 * banner, and check_expect is at most as long. */
#define LB_CHECK_MAX_REPLY 512
#define LB_CHECK_MAX_SEND 512
#define LB_CHECK_MAX_PATH 160

/* check_on_down: what happens to a backend's open connections when the
 * checks take it out. */
enum { LB_CHECK_ON_DOWN_NONE = 0, LB_CHECK_ON_DOWN_SHUTDOWN = 1 };

/* A listener's checks, beyond check_interval, timeout, rise and fall. */
typedef struct lb_check_cfg_s {
    char *send;            /* check_send, unescaped; NULL: nothing */
    size_t send_len;
    char *expect;          /* check_expect: the reply starts with it */
    size_t expect_len;
    lb_regex_t *expect_re; /* check_expect_re: on the first line */
    char *http_path;       /* check_http = GET PATH; NULL: no HTTP */
    int http_head;         /* HEAD rather than GET */
    int expect_status;     /* check_expect_status; 0: any 2xx or 3xx */
    int port;              /* check_port; 0: the backend's */
    char *address;         /* check_address; NULL: the backend's host */
    int on_down;           /* LB_CHECK_ON_DOWN_* */
} lb_check_cfg_t;

/* A check's verdict so far. */
enum { LB_CHECK_MORE = 0, LB_CHECK_PASS = 1, LB_CHECK_FAIL = 2 };

/* Why a check failed: kept in shared memory as a number, shown as a word
 * (lb_check_reason). */
enum {
    LB_CHECK_OK = 0,
    LB_CHECK_E_CONNECT,   /* refused, unreachable, name not resolved */
    LB_CHECK_E_TIMEOUT,   /* no verdict within check_timeout */
    LB_CHECK_E_SEND,      /* check_send could not be written */
    LB_CHECK_E_CLOSED,    /* closed (or reset) before a whole reply */
    LB_CHECK_E_MISMATCH,  /* the reply does not start with check_expect */
    LB_CHECK_E_NO_MATCH,  /* the first line does not match the regex */
    LB_CHECK_E_NOT_HTTP,  /* no HTTP status line */
    LB_CHECK_E_STATUS,    /* a status other than the one expected */
    LB_CHECK_NREASONS
};
const char *lb_check_reason(int reason);

/* The value of a hex digit, or -1 (ASCII only). */
int lb_hex_value(int c);

/* check_send and check_expect: C escapes \r \n \t \\ \xHH, nothing else
 * after a backslash. 0 with *out (malloc'd) and *len, or -1 with the
 * reason in err. */
int lb_check_unescape(const char *text, char **out, size_t *len, char *err,
                      size_t errlen);
/* check_http: "GET /path" or "HEAD /path" into c. 0, or -1 with the
 * reason in err. */
int lb_check_parse_http(const char *text, lb_check_cfg_t *c, char *err,
                        size_t errlen);

/* 1 if a check of c reads a reply before its verdict. */
int lb_check_reads(const lb_check_cfg_t *c);
/* Judges reply[0..len) as the backend sent it (any bytes), eof = it will
 * send no more: LB_CHECK_MORE (read on), LB_CHECK_PASS, or LB_CHECK_FAIL
 * with *reason set. Never more than LB_CHECK_MAX_REPLY bytes are needed;
 * the caller passes at most that many. */
int lb_check_judge(const lb_check_cfg_t *c, const char *reply, size_t len,
                   int eof, int *reason);
/* What the check sends once connected: check_send's bytes, or the HTTP
 * request for check_http with Host: host (and :port unless 80; an IPv6
 * host in brackets). malloc'd, *len set; NULL (len 0) when nothing is
 * sent, or with no memory (then *len is 1). */
char *lb_check_request(const lb_check_cfg_t *c, const char *host,
                       uint16_t port, size_t *len);

/* A deep copy (a listener that takes [options]' checks); 0 or -1. */
int lb_check_cfg_copy(lb_check_cfg_t *dst, const lb_check_cfg_t *src);
void lb_check_cfg_free(lb_check_cfg_t *c);

#endif
