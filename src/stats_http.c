/* stats_http.c - the HTTP/1.0 responder on the `stats` address: one
 * request per connection, its request line and headers (and a PUT's
 * body) read into a bounded buffer, judged (stats_request.c: Host, token,
 * path), answered from a snapshot of the shared counters or, for the
 * admin API, by admin.c, then closed. Who may connect is stats_allow's;
 * slow clients from one address cannot take every slot. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_admin.h"
#include "lb_list.h"
#include "lb_log.h"
#include "lb_server.h"

#define MAX_REQUEST 4096 /* request line and headers; beyond: 431 */
#define MAX_READ (MAX_REQUEST + LB_ADMIN_MAX_BODY) /* and a PUT's body */
#define MAX_CONNS 64     /* open at once per worker */
#define MAX_PER_CLIENT 8 /* of them from one address (a scrape takes 1) */
#define REQUEST_MS 2000  /* to send the whole request */
#define RESPONSE_MS 30000 /* to take the whole response */
#define LINGER_MS 2000   /* after it, for the client's FIN */
#define REFUSED_LOG_MS 1000 /* refusals are logged at most this often */

typedef struct stats_conn_s stats_conn_t;

typedef struct lb_stats_http_s {
    lb_server_t *srv;
    lb_listener_t *listener; /* NULL once closed */
    lb_list_t conns;     /* stats_conn_t, by link, oldest first */
    size_t nconns;
    unsigned long refused; /* since the last line that said so */
    uint64_t refused_log_due;
    lb_lograte_t denied_log; /* requests without a valid token: 401 */
} lb_stats_http_t;

enum { C_READING, C_WRITING, C_LINGERING };

struct stats_conn_s {
    lb_stats_http_t *http;
    lb_list_t link;
    lb_stream_t *stream; /* NULL once closed */
    lb_timer_t timer;
    char *req;           /* MAX_READ bytes, from the first byte on */
    size_t len;
    size_t need;         /* a PUT: its headers and body, once known */
    lb_buf_t resp;
    int phase, eof;
    int full; /* more came than MAX_READ */
    unsigned char ip[16]; /* the client's address (lb_addr_ip) */
    int iplen;
    char who[LB_ADDRSTRLEN]; /* and as text, for the log */
};

static void on_read(lb_stream_t *s, long nread, char *buf);

/* ---- lifetime ---- */

static void
on_closed(lb_stream_t *s)
{
    stats_conn_t *c = lb_stream_data(s);
    lb_stats_http_t *http = c->http;

    lb_list_remove(&c->link);
    http->nconns--;
    free(c->req);
    lb_buf_free(&c->resp);
    free(c);
    lb_server_stats_closed(http->srv);
}

static void
conn_close(stats_conn_t *c, int how)
{
    if (c->stream == NULL)
        return;
    lb_timer_stop(&c->timer);
    lb_stream_close(c->stream, how, on_closed);
    c->stream = NULL;
}

static void
on_timer(lb_timer_t *t)
{
    stats_conn_t *c = t->data;

    /* A client that would not take its response is reset; one that sent
     * nothing, or did not close after its response, just closed. */
    conn_close(c, c->phase == C_WRITING ? LB_CLOSE_RESET : LB_CLOSE_NORMAL);
}

static void
read_more(stats_conn_t *c)
{
    if (lb_stream_read(c->stream, on_read) != 0)
        conn_close(c, LB_CLOSE_RESET);
}

/* ---- the response ---- */

typedef struct reply_s {
    int code;
    const char *reason, *type;
    int (*render)(const lb_stats_snapshot_t *s, lb_buf_t *out);
} reply_t;

#define JSON "application/json"

static const reply_t pages[] = {
    {200, "OK", "text/html; charset=utf-8", lb_stats_html},
    {200, "OK", "text/plain; version=0.0.4; charset=utf-8",
     lb_stats_prometheus},
    {200, "OK", JSON, lb_stats_json},
    {200, "OK", JSON, lb_stats_api_json},
};
static const reply_t api_text = {200, "OK", "text/plain; charset=utf-8",
                                 lb_stats_api_text};

static const reply_t errors[] = {
    {200, "OK", JSON, NULL},
    {400, "Bad Request", NULL, NULL},
    {401, "Unauthorized", NULL, NULL},
    {404, "Not Found", NULL, NULL},
    {405, "Method Not Allowed", NULL, NULL},
    {411, "Length Required", NULL, NULL},
    {413, "Content Too Large", NULL, NULL},
    {421, "Misdirected Request", NULL, NULL},
};
static const reply_t too_large = {431, "Request Header Fields Too Large",
                                  NULL, NULL};
static const reply_t failed = {500, "Internal Server Error", NULL, NULL};

/* The reply for a status or what lb_stats_parse() decided. */
static const reply_t *
reply_for(int answer)
{
    if (answer >= LB_STATS_PAGE_HTML && answer <= LB_STATS_API_BACKENDS)
        return &pages[answer - LB_STATS_PAGE_HTML];
    for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
        if (errors[i].code == answer)
            return &errors[i];
    return &failed;
}

/* The body of r: a page rendered from the counters, or a line of text
 * (500's if the page cannot be had). Returns what it answers. */
static const reply_t *
body(lb_server_t *srv, const reply_t *r, lb_buf_t *out)
{
    lb_stats_snapshot_t snap;

    if (r->render != NULL) {
        int rc = lb_stats_snapshot(srv->cfg, srv->shared, &snap);

        if (rc == 0) {
            rc = r->render(&snap, out);
            lb_stats_snapshot_free(&snap);
        }
        if (rc == 0)
            return r;
        lb_buf_free(out);
        r = &failed;
    }
    lb_buf_printf(out, "%d %s\nPumpkinLB statistics: GET /, /metrics or "
                  "/stats.json\n", r->code, r->reason);
    return r;
}

/* Status line and headers for text, then text. */
static void
frame(const reply_t *r, lb_buf_t *text, lb_buf_t *out)
{
    lb_buf_printf(out, "HTTP/1.0 %d %s\r\nContent-Type: %s\r\n"
                  "Content-Length: %llu\r\nCache-Control: no-store\r\n"
                  "%sConnection: close\r\n\r\n", r->code, r->reason,
                  r->type ? r->type : "text/plain; charset=utf-8",
                  (unsigned long long)text->len,
                  r->code == 405   ? "Allow: GET\r\n"
                  : r->code == 401 ? "WWW-Authenticate: Bearer "
                                     "realm=\"PumpkinLB statistics\"\r\n"
                                   : "");
    if (text->len > 0)
        lb_buf_add(out, text->data, text->len);
    lb_buf_free(text);
}

static void
build(lb_server_t *srv, const reply_t *r, lb_buf_t *out)
{
    lb_buf_t text = {0};

    frame(body(srv, r, &text), &text, out);
}

/* ---- the admin API ---- */

/* {"error": why} with status code, JSON like every API answer. */
static void
api_error(int code, const char *why, lb_buf_t *out)
{
    reply_t r = *reply_for(code);
    lb_buf_t text = {0};

    lb_buf_puts(&text, "{\"error\":");
    lb_stats_escape_json(&text, why);
    lb_buf_puts(&text, "}\n");
    r.type = JSON;
    frame(&r, &text, out);
}

/* PUT /api/v1/listeners/L/backends/B with its body. */
static void
api_set(stats_conn_t *c, const lb_stats_req_t *req, lb_buf_t *out)
{
    char listener[LB_ADMIN_MAX_NAME + 1], backend[LB_ADMIN_MAX_NAME + 1];
    char why[160];
    lb_admin_change_t ch;
    lb_buf_t text = {0};
    int rc = lb_admin_parse_path(req->target, req->target_len, listener,
                                 backend), code;

    if (rc != 0) {
        api_error(rc > 0 ? 404 : 400, rc > 0 ? "no such path: PUT "
                  "/api/v1/listeners/LISTENER/backends/BACKEND"
                  : "a malformed name in the path (percent-encoding)", out);
        return;
    }
    if (lb_admin_parse_body(c->req + req->head_len, req->body_len, &ch, why,
                            sizeof(why)) != 0) {
        api_error(400, why, out);
        return;
    }
    code = lb_admin_apply(c->http->srv, listener, backend, &ch, c->who,
                          &text);
    frame(reply_for(code), &text, out);
}

/* Requests without a valid token, at most a line a second. */
static void
report_denied(lb_lograte_t *r)
{
    lb_stats_http_t *http = r->data;

    lb_log_error("Statistics on %s: %lu request(s) refused without a valid "
                 "token (401), the last from %s: %s",
                 http->srv->cfg->stats.label, r->held, r->who, r->what);
}

/* The request line, as far as it is printable ASCII: it goes to the
 * log, and a peer could put anything in it. */
static void
note_denied(stats_conn_t *c)
{
    lb_lograte_t *r = &c->http->denied_log;
    size_t n = 0;

    while (n < c->len && n < 120 && c->req[n] >= ' ' && c->req[n] <= '~')
        n++;
    snprintf(r->who, sizeof(r->who), "%s", c->who);
    snprintf(r->what, sizeof(r->what), "%.*s", (int)n, c->req);
    lb_lograte_event(r);
}

static void
answer(stats_conn_t *c, const lb_stats_req_t *req, lb_buf_t *out)
{
    lb_server_t *srv = c->http->srv;

    if (req->answer == LB_STATS_UNAUTHORIZED)
        note_denied(c);
    if (req->answer == LB_STATS_API_SET &&
        (req->head_len == 0 || c->len < req->head_len + req->body_len))
        api_error(400, "the body is shorter than Content-Length", out);
    else if (req->answer == LB_STATS_API_SET)
        api_set(c, req, out);
    else if (req->answer == LB_STATS_API_BACKENDS && req->text)
        build(srv, &api_text, out);
    else
        build(srv, reply_for(req->answer), out);
}

/* ---- the request ---- */

static void
on_written(lb_stream_t *s, int status)
{
    stats_conn_t *c = lb_stream_data(s);

    lb_buf_free(&c->resp);
    if (status < 0 || c->eof) {
        conn_close(c, status < 0 ? LB_CLOSE_RESET : LB_CLOSE_NORMAL);
        return;
    }
    /* FIN first, and read what the client may still send until its own:
     * closing on unread bytes would reset, and could destroy the response
     * before the client read it. */
    c->phase = C_LINGERING;
    if (lb_stream_shutdown(c->stream) != 0) {
        conn_close(c, LB_CLOSE_NORMAL);
        return;
    }
    lb_timer_start(&c->timer, LINGER_MS);
    read_more(c);
}

static void
send_response(stats_conn_t *c)
{
    if (c->resp.failed) {
        conn_close(c, LB_CLOSE_RESET);
        return;
    }
    c->phase = C_WRITING;
    lb_timer_start(&c->timer, RESPONSE_MS);
    if (lb_stream_write(c->stream, c->resp.data, c->resp.len, on_written) != 0)
        conn_close(c, LB_CLOSE_RESET);
}

/* Answers with r, or (NULL) as the request says. */
static void
respond(stats_conn_t *c, const reply_t *r)
{
    lb_server_t *srv = c->http->srv;
    lb_stats_req_t req;

    if (r != NULL) {
        build(srv, r, &c->resp);
    } else {
        lb_stats_parse(c->req, c->len, &srv->cfg->stats, &req);
        answer(c, &req, &c->resp);
    }
    send_response(c);
}

/* An empty line ends the headers; only the bytes just added (and the two
 * before them) can complete one. */
static int
headers_done(const stats_conn_t *c, size_t from)
{
    for (size_t i = from >= 2 ? from - 2 : 0; i + 1 < c->len; i++) {
        if (c->req[i] != '\n')
            continue;
        if (c->req[i + 1] == '\n' ||
            (c->req[i + 1] == '\r' && i + 2 < c->len && c->req[i + 2] == '\n'))
            return 1;
    }
    return 0;
}

/* Adds what was read (buffer_size may be as small as 1: a request comes
 * in as many reads as it takes); what does not fit is dropped and marks
 * the request too long, unless it turns out complete. 0, or -1 with no
 * memory for it. */
static int
take(stats_conn_t *c, const char *buf, size_t n)
{
    if (c->req == NULL && (c->req = malloc(MAX_READ)) == NULL)
        return -1;
    if (n > MAX_READ - c->len) {
        n = MAX_READ - c->len;
        c->full = 1;
    }
    memcpy(c->req + c->len, buf, n);
    c->len += n;
    return 0;
}

/* Once the headers are in: a PUT waits for its body, as long as
 * Content-Length says; anything else is answered. */
static void
headers_in(stats_conn_t *c)
{
    lb_stats_req_t req;

    lb_stats_parse(c->req, c->len, &c->http->srv->cfg->stats, &req);
    if (req.head_len > MAX_REQUEST) {
        respond(c, &too_large);
        return;
    }
    c->need = req.answer == LB_STATS_API_SET ? req.head_len + req.body_len
                                             : 0;
    if (c->len >= c->need)
        respond(c, NULL);
    else
        read_more(c);
}

static void
on_read(lb_stream_t *s, long nread, char *buf)
{
    stats_conn_t *c = lb_stream_data(s);
    lb_server_t *srv = c->http->srv;
    size_t before = c->len;
    int rc;

    if (nread < 0) {
        c->eof = 1;
        if (c->phase == C_READING && nread == LB_EOF && c->len > 0)
            respond(c, NULL); /* a client that sent FIN after its request */
        else
            conn_close(c, LB_CLOSE_NORMAL);
        return;
    }
    rc = c->phase == C_READING ? take(c, buf, (size_t)nread) : 0;
    lb_bufpool_put(srv->pool, buf);
    if (c->phase != C_READING)
        read_more(c); /* lingering: what comes now is dropped */
    else if (rc != 0)
        respond(c, &failed);
    else if (c->need > 0 && c->len >= c->need)
        respond(c, NULL);
    else if (c->need > 0)
        read_more(c);
    else if (headers_done(c, before))
        headers_in(c);
    else if (c->full || c->len > MAX_REQUEST)
        respond(c, &too_large);
    else
        read_more(c);
}

/* ---- who may connect ---- */

/* A refused client is reset at once; the refusals go in one line at most
 * once a second, with their count, so a flood does not flood the log. */
static void
refuse(lb_stats_http_t *http, lb_stream_t *s, const lb_addr_t *peer,
       const char *why)
{
    uint64_t now = lb_loop_now(http->srv->loop);
    char who[LB_ADDRSTRLEN];

    lb_stream_close(s, LB_CLOSE_RESET, NULL);
    http->refused++;
    if (now < http->refused_log_due)
        return;
    http->refused_log_due = now + REFUSED_LOG_MS;
    lb_addr_format(peer, who, sizeof(who));
    lb_log("Statistics on %s: refused %lu connection(s) since the last such "
           "line (the last from %s: %s)", http->srv->cfg->stats.label,
           http->refused, who, why);
    http->refused = 0;
}

typedef struct census_s {
    size_t open, same;           /* not closing; of them from this client */
    stats_conn_t *oldest_reading; /* still waiting for its request */
} census_t;

static void
count_conns(lb_stats_http_t *http, const unsigned char *ip, int len,
            census_t *n)
{
    lb_list_t *head = &http->conns;

    memset(n, 0, sizeof(*n));
    for (lb_list_t *at = head->next; at != head; at = at->next) {
        stats_conn_t *c = LB_LIST_ENTRY(at, stats_conn_t, link);

        if (c->stream == NULL)
            continue;
        n->open++;
        n->same += c->iplen == len && memcmp(c->ip, ip, (size_t)len) == 0;
        if (c->phase == C_READING && n->oldest_reading == NULL)
            n->oldest_reading = c;
    }
}

/* stats_allow, then at most MAX_PER_CLIENT connections from one address;
 * when every slot is taken, the oldest one still waiting for its request
 * (a slow client's) gives way, so slow clients cannot starve a scrape.
 * 0 if s may be served. */
static int
admit(lb_stats_http_t *http, lb_stream_t *s, const lb_addr_t *peer,
      unsigned char ip[16], int *len)
{
    static const lb_acl_t no_deny;
    census_t n;

    *len = lb_addr_ip(peer, ip);
    if (lb_acl_check(&http->srv->cfg->stats.allow, &no_deny, ip,
                     (size_t)*len) != LB_ACL_PASS) {
        refuse(http, s, peer, "not in stats_allow");
        return -1;
    }
    count_conns(http, ip, *len, &n);
    if (n.same >= MAX_PER_CLIENT) {
        refuse(http, s, peer, "too many connections from that address");
        return -1;
    }
    if (n.open >= MAX_CONNS && n.oldest_reading == NULL) {
        refuse(http, s, peer, "every connection slot is answering");
        return -1;
    }
    if (n.open >= MAX_CONNS)
        conn_close(n.oldest_reading, LB_CLOSE_RESET);
    return 0;
}

/* ---- the listener ---- */

static void
on_accept(lb_listener_t *l, lb_stream_t *s, const lb_addr_t *peer, int status,
          void *data)
{
    lb_stats_http_t *http = data;
    stats_conn_t *c;
    unsigned char ip[16];
    lb_addr_t addr;
    int len;
    (void)l;

    if (status < 0)
        return; /* the platform pauses accepting for a moment */
    if (peer != NULL)
        addr = *peer;
    else if (lb_stream_peer(s, &addr) != 0)
        memset(&addr, 0, sizeof(addr)); /* gone already: unknown */
    if (admit(http, s, &addr, ip, &len) != 0)
        return;
    /* Those closing still hold memory until their close callbacks. */
    c = http->nconns < 2 * MAX_CONNS ? calloc(1, sizeof(*c)) : NULL;
    if (c == NULL) {
        lb_stream_close(s, LB_CLOSE_RESET, NULL);
        return;
    }
    memcpy(c->ip, ip, sizeof(c->ip));
    c->iplen = len;
    lb_addr_format(&addr, c->who, sizeof(c->who));
    c->http = http;
    c->stream = s;
    lb_list_push(&http->conns, &c->link);
    http->nconns++;
    http->srv->stats_streams++;
    lb_stream_set_data(s, c);
    lb_timer_init(http->srv->loop, &c->timer, on_timer, c);
    lb_timer_start(&c->timer, REQUEST_MS);
    read_more(c);
}

static int
serve(lb_server_t *srv, lb_listener_t *l, lb_server_t *previous)
{
    lb_stats_http_t *http = calloc(1, sizeof(*http));

    if (http == NULL)
        return LB_ENOMEM;
    http->srv = srv;
    http->listener = l;
    lb_list_init(&http->conns);
    lb_lograte_init(&http->denied_log, srv->loop, report_denied, http);
    srv->stats = http;
    if (previous && previous->stats && previous->stats->listener == l) {
        /* An in-loop reload kept the address: the socket stays open, and
         * the previous server's scrapes finish on their own. */
        previous->stats->listener = NULL;
        lb_listener_handover(srv->loop, l, on_accept, http);
        return 0;
    }
    /* On failure the caller's lb_server_fini closes the listener. */
    return lb_listener_start(srv->loop, l, on_accept, http);
}

int
lb_stats_worker_init(lb_server_t *srv, lb_listener_t **listeners,
                     const size_t *idx, size_t *n, lb_server_t *previous)
{
    size_t stats = srv->cfg->nlisteners;

    for (size_t i = 0; i < *n; i++) {
        if (idx[i] == stats && i + 1 != *n)
            return LB_EINVAL; /* see lb_stats.h: it comes last */
        if (idx[i] < stats && srv->slot < LB_MAX_PROCESSES)
            lb_atomic_store(&srv->shared->counters[idx[i]].active[srv->slot],
                            0); /* what a dead predecessor left */
    }
    if (*n == 0 || idx[*n - 1] != stats)
        return 0;
    (*n)--;
    /* Loops of one process: the first serves the statistics for all,
     * as it runs the health checks (a scrape needs no spreading). */
    if (srv->slot != 0 && lb_workers_share_process())
        return 0;
    return serve(srv, listeners[stats], previous);
}

void
lb_stats_close_listener(lb_server_t *srv)
{
    if (srv->stats == NULL || srv->stats->listener == NULL)
        return;
    lb_listener_detach(srv->loop, srv->stats->listener);
    srv->stats->listener = NULL;
}

void
lb_stats_cut(lb_server_t *srv)
{
    lb_list_t *head;

    if (srv->stats == NULL)
        return;
    head = &srv->stats->conns;
    /* Closing never frees at once (the close callback does). */
    for (lb_list_t *n = head->next; n != head; n = n->next)
        conn_close(LB_LIST_ENTRY(n, stats_conn_t, link), LB_CLOSE_RESET);
}

void
lb_stats_free(lb_server_t *srv)
{
    lb_stats_http_t *http = srv->stats;

    if (http == NULL)
        return;
    lb_lograte_stop(&http->denied_log);
    lb_stats_close_listener(srv);
    /* The loop is gone: connections it still had get no callback. */
    while (!lb_list_empty(&http->conns)) {
        stats_conn_t *c = LB_LIST_ENTRY(http->conns.next, stats_conn_t, link);

        lb_list_remove(&c->link);
        free(c->req);
        lb_buf_free(&c->resp);
        free(c);
    }
    free(http);
    srv->stats = NULL;
}
