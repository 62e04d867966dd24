/* stats_render.c - a statistics snapshot as text: Prometheus' text
 * exposition format 0.0.4, JSON and an HTML page. Pure functions into a
 * buffer that grows as needed, so no config (1024 backends with long
 * names) can overflow anything; every name is escaped for its format. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_check.h"
#include "lb_health.h"
#include "lb_stats.h"

/* ---- the buffer ---- */

static int
reserve(lb_buf_t *b, size_t more)
{
    size_t cap = b->cap ? b->cap : 256;
    char *p;

    if (b->failed)
        return -1;
    if (more < b->cap - b->len)
        return 0; /* room for the bytes and the NUL */
    while (cap - b->len <= more) {
        if (cap > ((size_t)-1) / 2) {
            b->failed = 1;
            return -1;
        }
        cap *= 2;
    }
    p = realloc(b->data, cap);
    if (p == NULL) {
        b->failed = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void
lb_buf_add(lb_buf_t *b, const char *s, size_t n)
{
    if (reserve(b, n) != 0)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void
lb_buf_puts(lb_buf_t *b, const char *s)
{
    lb_buf_add(b, s, strlen(s));
}

void
lb_buf_printf(lb_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if (reserve(b, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void
lb_buf_free(lb_buf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

/* ---- escaping ---- */

/* The length of the valid UTF-8 character at s (NUL-terminated), or 0. */
static size_t
utf8_len(const unsigned char *s)
{
    unsigned char lo = 0x80, hi = 0xBF;
    size_t n;

    if (s[0] < 0x80)
        return 1;
    if (s[0] < 0xC2 || s[0] > 0xF4)
        return 0;
    n = s[0] < 0xE0 ? 2 : s[0] < 0xF0 ? 3 : 4;
    if (s[0] == 0xE0)
        lo = 0xA0; /* overlong */
    else if (s[0] == 0xED)
        hi = 0x9F; /* surrogates */
    else if (s[0] == 0xF0)
        lo = 0x90; /* overlong */
    else if (s[0] == 0xF4)
        hi = 0x8F; /* past U+10FFFF */
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

/* Copies s, with what sub() says for each ASCII character (NULL: as it
 * is) and U+FFFD for each byte that is not UTF-8. */
static void
escape(lb_buf_t *b, const char *s, const char *(*sub)(int c, char tmp[8]))
{
    const unsigned char *p = (const unsigned char *)s;
    char tmp[8];

    while (*p) {
        size_t n = utf8_len(p);
        const char *r = n == 1 ? sub(*p, tmp) : NULL;

        if (n == 0) {
            lb_buf_puts(b, "\xEF\xBF\xBD");
            n = 1;
        } else if (r != NULL) {
            lb_buf_puts(b, r);
        } else {
            lb_buf_add(b, (const char *)p, n);
        }
        p += n;
    }
}

static const char *
label_sub(int c, char tmp[8])
{
    (void)tmp;
    return c == '\\' ? "\\\\" : c == '"' ? "\\\"" : c == '\n' ? "\\n" : NULL;
}

static const char *
json_sub(int c, char tmp[8])
{
    if (c == '\\' || c == '"') {
        tmp[0] = '\\';
        tmp[1] = (char)c;
        tmp[2] = '\0';
        return tmp;
    }
    if (c < 0x20) {
        snprintf(tmp, 8, "\\u%04x", (unsigned)c);
        return tmp;
    }
    return NULL;
}

static const char *
html_sub(int c, char tmp[8])
{
    (void)tmp;
    switch (c) {
    case '&': return "&amp;";
    case '<': return "&lt;";
    case '>': return "&gt;";
    case '"': return "&quot;";
    case '\'': return "&#39;";
    default: return NULL;
    }
}

void
lb_stats_escape_label(lb_buf_t *b, const char *s)
{
    escape(b, s, label_sub);
}

void
lb_stats_escape_json(lb_buf_t *b, const char *s)
{
    lb_buf_puts(b, "\"");
    escape(b, s, json_sub);
    lb_buf_puts(b, "\"");
}

void
lb_stats_escape_html(lb_buf_t *b, const char *s)
{
    escape(b, s, html_sub);
}

static int
finish(lb_buf_t *b)
{
    return b->failed ? LB_ENOMEM : 0;
}

/* ---- state words ---- */

static const char *
state_word(int down)
{
    return down == LB_UP ? "up" : "down";
}

/* Why a backend is out, in metric-label form; "" when it is up. */
static const char *
down_reason(int down)
{
    return down == LB_DOWN_FAILS    ? "failed_connects"
           : down == LB_DOWN_CHECKS ? "health_checks"
           : down == LB_UP          ? ""
                                    : "unknown";
}

static const char *
admin_word(int admin)
{
    return admin == LB_ADMIN_DRAIN   ? "drain"
           : admin == LB_ADMIN_MAINT ? "maint"
                                     : "ready";
}

/* ---- Prometheus ---- */

/* A family of one int64 field (or an array of them, told apart by a
 * label) of each listener or backend snapshot. */
typedef struct family_s {
    const char *name, *type, *help;
    size_t off;
    const char *label;           /* NULL, or the label of an array */
    const char *const *values;   /* its values, one per element */
    int nvalues;
} family_t;

static const char *const directions[2] = {"in", "out"};

#define L_FIELD(f) offsetof(lb_stats_listener_t, f)
#define B_FIELD(f) offsetof(lb_stats_backend_t, f)

static const family_t listener_families[] = {
    {"pumpkinlb_connections_total", "counter",
     "Client connections accepted, refused ones included.",
     L_FIELD(accepted), NULL, NULL, 1},
    {"pumpkinlb_connections_active", "gauge", "Client connections open now.",
     L_FIELD(active), NULL, NULL, 1},
    {"pumpkinlb_connections_refused_total", "counter",
     "Clients turned away at once: by allow/deny, with every backend at "
     "max_conns, over a per-client limit, or with no route and no backends "
     "of the listener's own for them.",
     L_FIELD(refused), "reason", lb_stats_refused_names, LB_STATS_NREFUSED},
    {"pumpkinlb_connections_failed_total", "counter",
     "Clients closed because every backend tried failed to connect.",
     L_FIELD(failed), NULL, NULL, 1},
    {"pumpkinlb_bytes_total", "counter",
     "Bytes relayed: in from clients to backends, out from backends to "
     "clients.",
     L_FIELD(bytes), "direction", directions, 2},
    {"pumpkinlb_queue_length", "gauge",
     "Clients waiting in the queue (queue_timeout) now.", L_FIELD(queued),
     NULL, NULL, 1},
    {"pumpkinlb_queue_timeouts_total", "counter",
     "Queued clients refused when queue_timeout passed.",
     L_FIELD(queue_timeouts), NULL, NULL, 1},
    {"pumpkinlb_queue_abandoned_total", "counter",
     "Queued clients that went away before their turn.",
     L_FIELD(queue_left), NULL, NULL, 1},
};

static const family_t backend_families[] = {
    {"pumpkinlb_backend_connections_active", "gauge",
     "Connections open (or being connected) to the backend now.",
     B_FIELD(active), NULL, NULL, 1},
    {"pumpkinlb_backend_connections_total", "counter",
     "Connects to the backend that succeeded.", B_FIELD(connections), NULL,
     NULL, 1},
    {"pumpkinlb_backend_connect_failures_total", "counter",
     "Connects to the backend that failed (refused, timed out, unreachable, "
     "name not resolved).",
     B_FIELD(failures), NULL, NULL, 1},
    {"pumpkinlb_backend_bytes_total", "counter",
     "Bytes relayed through the backend: in to it from clients, out from it "
     "to clients.",
     B_FIELD(bytes), "direction", directions, 2},
    {"pumpkinlb_backend_weight", "gauge",
     "The backend's weight: the admin API's, else the config's.",
     B_FIELD(weight), NULL, NULL, 1},
    {"pumpkinlb_backend_max_conns", "gauge",
     "The backend's max_conns: the admin API's, else the config's; 0 is no "
     "limit.",
     B_FIELD(max_conns), NULL, NULL, 1},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void
header(lb_buf_t *b, const char *name, const char *type, const char *help)
{
    lb_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{listener="...",route="...",backend="..." (be may be NULL; route
 * only for a route's backend): the caller adds any further labels, then
 * sample_end(). */
static void
sample_start(lb_buf_t *b, const char *name, const lb_stats_listener_t *l,
             const lb_stats_backend_t *be)
{
    lb_buf_printf(b, "%s{listener=\"", name);
    lb_stats_escape_label(b, l->name);
    if (be != NULL && be->route != NULL) {
        lb_buf_puts(b, "\",route=\"");
        lb_stats_escape_label(b, be->route);
    }
    if (be != NULL) {
        lb_buf_puts(b, "\",backend=\"");
        lb_stats_escape_label(b, be->name);
    }
    lb_buf_puts(b, "\"");
}

static void
sample_end(lb_buf_t *b, int64_t value)
{
    lb_buf_printf(b, "} %lld\n", (long long)value);
}

/* The samples of family f for one listener (be NULL) or backend. */
static void
family_samples(lb_buf_t *b, const family_t *f, const lb_stats_listener_t *l,
               const lb_stats_backend_t *be)
{
    const char *base = be ? (const char *)be : (const char *)l;
    const int64_t *v = (const int64_t *)(const void *)(base + f->off);

    for (int k = 0; k < f->nvalues; k++) {
        sample_start(b, f->name, l, be);
        if (f->label)
            lb_buf_printf(b, ",%s=\"%s\"", f->label, f->values[k]);
        sample_end(b, v[k]);
    }
}

static void
listener_metrics(lb_buf_t *b, const lb_stats_snapshot_t *s)
{
    header(b, "pumpkinlb_listener_info", "gauge",
           "Each listener, by name, with its listen address.");
    for (size_t i = 0; i < s->nlisteners; i++) {
        sample_start(b, "pumpkinlb_listener_info", &s->listeners[i], NULL);
        lb_buf_puts(b, ",address=\"");
        lb_stats_escape_label(b, s->listeners[i].address);
        lb_buf_puts(b, "\"");
        sample_end(b, 1);
    }
    for (size_t f = 0; f < COUNT(listener_families); f++) {
        const family_t *fam = &listener_families[f];

        header(b, fam->name, fam->type, fam->help);
        for (size_t i = 0; i < s->nlisteners; i++)
            family_samples(b, fam, &s->listeners[i], NULL);
    }
}

static void
backend_state_metrics(lb_buf_t *b, const lb_stats_snapshot_t *s)
{
    static const char *const states[] = {"up", "failed_connects",
                                         "health_checks"};

    header(b, "pumpkinlb_backend_up", "gauge",
           "1 if the backend is in service, 0 if health took it out.");
    for (size_t i = 0; i < s->nlisteners; i++)
        for (size_t j = 0; j < s->listeners[i].nbackends; j++) {
            const lb_stats_backend_t *be = &s->listeners[i].backends[j];

            sample_start(b, "pumpkinlb_backend_up", &s->listeners[i], be);
            sample_end(b, be->down == LB_UP);
        }
    header(b, "pumpkinlb_backend_state", "gauge",
           "1 for the backend's state: up, or out of service for "
           "failed_connects or health_checks.");
    for (size_t i = 0; i < s->nlisteners; i++)
        for (size_t j = 0; j < s->listeners[i].nbackends; j++) {
            const lb_stats_backend_t *be = &s->listeners[i].backends[j];
            const char *now = be->down == LB_UP ? "up" : down_reason(be->down);

            for (size_t k = 0; k < COUNT(states); k++) {
                sample_start(b, "pumpkinlb_backend_state", &s->listeners[i],
                             be);
                lb_buf_printf(b, ",state=\"%s\"", states[k]);
                sample_end(b, strcmp(now, states[k]) == 0);
            }
        }
}

static void
admin_metrics(lb_buf_t *b, const lb_stats_snapshot_t *s)
{
    static const int states[] = {LB_ADMIN_READY, LB_ADMIN_DRAIN,
                                 LB_ADMIN_MAINT};

    header(b, "pumpkinlb_backend_admin_state", "gauge",
           "1 for the state the admin API gave the backend: ready, drain "
           "(no new clients) or maint (and its connections cut after "
           "drain_timeout).");
    for (size_t i = 0; i < s->nlisteners; i++)
        for (size_t j = 0; j < s->listeners[i].nbackends; j++)
            for (size_t k = 0; k < COUNT(states); k++) {
                const lb_stats_backend_t *be = &s->listeners[i].backends[j];

                sample_start(b, "pumpkinlb_backend_admin_state",
                             &s->listeners[i], be);
                lb_buf_printf(b, ",state=\"%s\"", admin_word(states[k]));
                sample_end(b, be->admin == states[k]);
            }
}

/* One gauge per backend that has been checked, value(be) as text. */
static void
check_family(lb_buf_t *b, const lb_stats_snapshot_t *s, const char *name,
             const char *help, int duration)
{
    header(b, name, "gauge", help);
    for (size_t i = 0; i < s->nlisteners; i++)
        for (size_t j = 0; j < s->listeners[i].nbackends; j++) {
            const lb_stats_backend_t *be = &s->listeners[i].backends[j];

            if (be->checked == LB_CHECKED_NONE)
                continue;
            sample_start(b, name, &s->listeners[i], be);
            if (duration)
                lb_buf_printf(b, "} %.3f\n", (double)be->check_ms / 1000.0);
            else
                sample_end(b, be->checked == LB_CHECKED_PASS);
        }
}

static void
change_metrics(lb_buf_t *b, const lb_stats_snapshot_t *s)
{
    header(b, "pumpkinlb_backend_last_change_time_seconds", "gauge",
           "Unix time the backend last went down or came up (backends that "
           "have not changed since the start are left out).");
    for (size_t i = 0; i < s->nlisteners; i++)
        for (size_t j = 0; j < s->listeners[i].nbackends; j++) {
            const lb_stats_backend_t *be = &s->listeners[i].backends[j];

            if (be->changed == 0)
                continue;
            sample_start(b, "pumpkinlb_backend_last_change_time_seconds",
                         &s->listeners[i], be);
            sample_end(b, be->changed);
        }
}

/* A summary without quantiles: the waits of queued clients served. */
static void
queue_wait_metrics(lb_buf_t *b, const lb_stats_snapshot_t *s)
{
    header(b, "pumpkinlb_queue_wait_seconds", "summary",
           "How long queued clients waited before a backend took them.");
    for (size_t i = 0; i < s->nlisteners; i++) {
        const lb_stats_listener_t *l = &s->listeners[i];

        sample_start(b, "pumpkinlb_queue_wait_seconds_sum", l, NULL);
        lb_buf_printf(b, "} %.3f\n", (double)l->wait_ms / 1000.0);
        sample_start(b, "pumpkinlb_queue_wait_seconds_count", l, NULL);
        sample_end(b, l->dequeued);
    }
}

int
lb_stats_prometheus(const lb_stats_snapshot_t *s, lb_buf_t *out)
{
    header(out, "pumpkinlb_info", "gauge", "The running PumpkinLB.");
    lb_buf_printf(out, "pumpkinlb_info{version=\"");
    lb_stats_escape_label(out, s->version);
    lb_buf_puts(out, "\"} 1\n");
    header(out, "pumpkinlb_start_time_seconds", "gauge",
           "Unix time the counters started from zero: the start or the "
           "last reload.");
    lb_buf_printf(out, "pumpkinlb_start_time_seconds %lld\n",
                  (long long)s->started);
    header(out, "pumpkinlb_log_lines_dropped_total", "counter",
           "Log lines dropped because the log output (a pipe, journald, "
           "the disk) did not keep up.");
    lb_buf_printf(out, "pumpkinlb_log_lines_dropped_total %lld\n",
                  (long long)s->log_dropped);
    listener_metrics(out, s);
    backend_state_metrics(out, s);
    for (size_t f = 0; f < COUNT(backend_families); f++) {
        const family_t *fam = &backend_families[f];

        header(out, fam->name, fam->type, fam->help);
        for (size_t i = 0; i < s->nlisteners; i++)
            for (size_t j = 0; j < s->listeners[i].nbackends; j++)
                family_samples(out, fam, &s->listeners[i],
                               &s->listeners[i].backends[j]);
    }
    admin_metrics(out, s);
    check_family(out, s, "pumpkinlb_backend_check_success",
                 "1 if the last active health check of the backend passed, "
                 "0 if it failed.", 0);
    check_family(out, s, "pumpkinlb_backend_check_duration_seconds",
                 "How long the last active health check took.", 1);
    change_metrics(out, s);
    queue_wait_metrics(out, s);
    return finish(out);
}

/* ---- JSON ---- */

/* ,"key":{"names[0]":v[0],...} */
static void
json_values(lb_buf_t *b, const char *key, const char *const *names,
            const int64_t *v, int n)
{
    lb_buf_printf(b, ",\"%s\":{", key);
    for (int k = 0; k < n; k++)
        lb_buf_printf(b, "%s\"%s\":%lld", k ? "," : "", names[k],
                      (long long)v[k]);
    lb_buf_puts(b, "}");
}

void
lb_stats_json_backend(lb_buf_t *b, const lb_stats_backend_t *be)
{
    lb_buf_puts(b, "{\"name\":");
    lb_stats_escape_json(b, be->name);
    lb_buf_printf(b, ",\"up\":%s,\"state\":\"%s\",\"down_reason\":",
                  be->down == LB_UP ? "true" : "false", state_word(be->down));
    if (be->down == LB_UP)
        lb_buf_puts(b, "null");
    else
        lb_buf_printf(b, "\"%s\"", down_reason(be->down));
    lb_buf_printf(b, ",\"connections_active\":%lld,\"connections_total\":%lld"
                  ",\"connect_failures_total\":%lld",
                  (long long)be->active, (long long)be->connections,
                  (long long)be->failures);
    json_values(b, "bytes_total", directions, be->bytes, 2);
    lb_buf_printf(b, ",\"admin_state\":\"%s\",\"weight\":%lld,"
                  "\"max_conns\":%lld,\"last_change\":",
                  admin_word(be->admin), (long long)be->weight,
                  (long long)be->max_conns);
    if (be->changed)
        lb_buf_printf(b, "%lld", (long long)be->changed);
    else
        lb_buf_puts(b, "null");
    lb_buf_puts(b, ",\"check\":");
    if (be->checked == LB_CHECKED_NONE)
        lb_buf_puts(b, "null");
    else
        lb_buf_printf(b, "{\"result\":\"%s\",\"reason\":\"%s\","
                      "\"duration_ms\":%lld,\"time\":%lld}",
                      be->checked == LB_CHECKED_PASS ? "passed" : "failed",
                      lb_check_reason(be->check_reason),
                      (long long)be->check_ms, (long long)be->check_time);
    lb_buf_puts(b, ",\"route\":"); /* its [route:NAME], or null */
    if (be->route != NULL)
        lb_stats_escape_json(b, be->route);
    else
        lb_buf_puts(b, "null");
    lb_buf_puts(b, "}");
}

static void
json_listener(lb_buf_t *b, const lb_stats_listener_t *l)
{
    lb_buf_puts(b, "{\"name\":");
    lb_stats_escape_json(b, l->name);
    lb_buf_puts(b, ",\"address\":");
    lb_stats_escape_json(b, l->address);
    lb_buf_printf(b, ",\"connections_total\":%lld,\"connections_active\":%lld"
                  ",\"connections_failed_total\":%lld",
                  (long long)l->accepted, (long long)l->active,
                  (long long)l->failed);
    json_values(b, "connections_refused_total", lb_stats_refused_names,
                l->refused, LB_STATS_NREFUSED);
    json_values(b, "bytes_total", directions, l->bytes, 2);
    lb_buf_printf(b, ",\"queue\":{\"length\":%lld,\"served_total\":%lld,"
                  "\"wait_seconds_total\":%.3f,\"timeouts_total\":%lld,"
                  "\"abandoned_total\":%lld}", (long long)l->queued,
                  (long long)l->dequeued, (double)l->wait_ms / 1000.0,
                  (long long)l->queue_timeouts, (long long)l->queue_left);
    lb_buf_puts(b, ",\"backends\":[");
    for (size_t j = 0; j < l->nbackends; j++) {
        lb_buf_puts(b, j ? ",\n  " : "\n  ");
        lb_stats_json_backend(b, &l->backends[j]);
    }
    lb_buf_puts(b, "]}");
}

int
lb_stats_json(const lb_stats_snapshot_t *s, lb_buf_t *out)
{
    lb_buf_puts(out, "{\"version\":");
    lb_stats_escape_json(out, s->version);
    lb_buf_printf(out, ",\"start_time\":%lld,\"time\":%lld,"
                  "\"log_lines_dropped_total\":%lld,\"listeners\":[",
                  (long long)s->started, (long long)s->now,
                  (long long)s->log_dropped);
    for (size_t i = 0; i < s->nlisteners; i++) {
        lb_buf_puts(out, i ? ",\n " : "\n ");
        json_listener(out, &s->listeners[i]);
    }
    lb_buf_puts(out, "]}\n");
    return finish(out);
}

/* ---- HTML ---- */

static const char html_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<meta http-equiv=\"refresh\" content=\"5\">\n"
    "<title>PumpkinLB statistics</title>\n<style>\n"
    "body{font-family:sans-serif;margin:1em 2em}\n"
    "table{border-collapse:collapse;margin-bottom:2em}\n"
    "th,td{border:1px solid #999;padding:.2em .6em;text-align:right}\n"
    "th:first-child,td:first-child,td.state{text-align:left}\n"
    "tr.up td.state{background:#cfc}\ntr.down td.state{background:#fcc}\n"
    "td.admin.drain,td.admin.maint{background:#ffc}\n"
    "td.state,td.admin,td.check,td.changed{text-align:left}\n"
    "</style>\n</head>\n<body>\n<h1>PumpkinLB statistics</h1>\n";

/* 1536 as "1.5 KiB": a page is read by people. */
static void
human_bytes(lb_buf_t *b, int64_t v)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    double x = (double)v;
    size_t u = 0;

    if (v < 1024) {
        lb_buf_printf(b, "%lld B", (long long)v);
        return;
    }
    x /= 1024.0;
    while (x >= 1024.0 && u + 1 < COUNT(units)) {
        x /= 1024.0;
        u++;
    }
    lb_buf_printf(b, "%.1f %s", x, units[u]);
}

/* 95 as "1 min 35 s": how long ago something happened. */
static void
human_age(lb_buf_t *b, int64_t seconds)
{
    if (seconds < 0)
        seconds = 0;
    if (seconds < 60)
        lb_buf_printf(b, "%lld s", (long long)seconds);
    else if (seconds < 3600)
        lb_buf_printf(b, "%lld min %lld s", (long long)(seconds / 60),
                      (long long)(seconds % 60));
    else if (seconds < 86400)
        lb_buf_printf(b, "%lld h %lld min", (long long)(seconds / 3600),
                      (long long)(seconds % 3600 / 60));
    else
        lb_buf_printf(b, "%lld d %lld h", (long long)(seconds / 86400),
                      (long long)(seconds % 86400 / 3600));
}

static void
html_bytes(lb_buf_t *b, int64_t v)
{
    lb_buf_printf(b, "<td title=\"%lld bytes\">", (long long)v);
    human_bytes(b, v);
    lb_buf_puts(b, "</td>");
}

/* The last check: "passed in 2 ms, 3 s ago", or why it failed. */
static void
html_check(lb_buf_t *b, const lb_stats_backend_t *be, int64_t now)
{
    lb_buf_puts(b, "<td class=\"check\">");
    if (be->checked != LB_CHECKED_NONE) {
        if (be->checked == LB_CHECKED_PASS)
            lb_buf_puts(b, "passed");
        else
            lb_buf_printf(b, "failed (%s)",
                          lb_check_reason(be->check_reason));
        lb_buf_printf(b, " in %lld ms, ", (long long)be->check_ms);
        human_age(b, now - be->check_time);
        lb_buf_puts(b, " ago");
    } else {
        lb_buf_puts(b, "-");
    }
    lb_buf_puts(b, "</td>");
}

static void
html_backend(lb_buf_t *b, const lb_stats_backend_t *be, int64_t now)
{
    lb_buf_printf(b, "<tr class=\"backend %s\"><td class=\"name\">",
                  state_word(be->down));
    if (be->route != NULL) { /* "route api: 10.0.0.1:443" */
        lb_buf_puts(b, "route ");
        lb_stats_escape_html(b, be->route);
        lb_buf_puts(b, ": ");
    }
    lb_stats_escape_html(b, be->name);
    lb_buf_printf(b, "</td><td class=\"state\">%s", state_word(be->down));
    if (be->down != LB_UP)
        lb_buf_printf(b, " (%s)", be->down == LB_DOWN_FAILS ? "failed connects"
                      : be->down == LB_DOWN_CHECKS ? "health checks"
                                                   : "unknown");
    lb_buf_printf(b, "</td><td>%lld</td><td>%lld</td><td>%lld</td>",
                  (long long)be->active, (long long)be->connections,
                  (long long)be->failures);
    html_bytes(b, be->bytes[0]);
    html_bytes(b, be->bytes[1]);
    lb_buf_printf(b, "<td class=\"admin %s\">%s</td><td>%lld</td><td>",
                  admin_word(be->admin), admin_word(be->admin),
                  (long long)be->weight);
    if (be->max_conns > 0)
        lb_buf_printf(b, "%lld", (long long)be->max_conns);
    else
        lb_buf_puts(b, "no limit");
    lb_buf_puts(b, "</td>");
    html_check(b, be, now);
    lb_buf_puts(b, "<td class=\"changed\">");
    if (be->changed) {
        human_age(b, now - be->changed);
        lb_buf_puts(b, " ago");
    } else {
        lb_buf_puts(b, "-");
    }
    lb_buf_puts(b, "</td></tr>\n");
}

static void
html_queue(lb_buf_t *b, const lb_stats_listener_t *l)
{
    if (l->queued == 0 && l->dequeued == 0 && l->queue_timeouts == 0 &&
        l->queue_left == 0)
        return;
    lb_buf_printf(b, " Queue: %lld waiting, %lld served after %.1f s on "
                  "average, %lld timed out, %lld gone before their turn.",
                  (long long)l->queued, (long long)l->dequeued,
                  l->dequeued ? (double)l->wait_ms / 1000.0 /
                                    (double)l->dequeued
                              : 0.0,
                  (long long)l->queue_timeouts, (long long)l->queue_left);
}

static void
html_listener(lb_buf_t *b, const lb_stats_listener_t *l, int64_t now)
{
    lb_buf_puts(b, "<h2>");
    lb_stats_escape_html(b, l->name);
    if (strcmp(l->name, l->address) != 0) { /* "8080" listens on ... */
        lb_buf_puts(b, " <small>");
        lb_stats_escape_html(b, l->address);
        lb_buf_puts(b, "</small>");
    }
    lb_buf_printf(b, "</h2>\n<p>Clients: %lld accepted, %lld open, "
                  "%lld refused by allow/deny, %lld refused at max_conns, "
                  "%lld refused by per-client limits, %lld with no route, "
                  "%lld failed. Bytes: ",
                  (long long)l->accepted, (long long)l->active,
                  (long long)l->refused[LB_STATS_REFUSED_ACL],
                  (long long)l->refused[LB_STATS_REFUSED_FULL],
                  (long long)(l->refused[LB_STATS_REFUSED_CLIENT_CONNS] +
                              l->refused[LB_STATS_REFUSED_CLIENT_RATE]),
                  (long long)l->refused[LB_STATS_REFUSED_NO_ROUTE],
                  (long long)l->failed);
    human_bytes(b, l->bytes[0]);
    lb_buf_puts(b, " in, ");
    human_bytes(b, l->bytes[1]);
    lb_buf_puts(b, " out.");
    html_queue(b, l);
    lb_buf_puts(b, "</p>\n<table class=\"listener\" data-listener=\"");
    lb_stats_escape_html(b, l->name);
    lb_buf_puts(b, "\">\n<tr><th>Backend</th><th>State</th><th>Open</th>"
                "<th>Connections</th><th>Connect failures</th>"
                "<th>Bytes in</th><th>Bytes out</th><th>Admin</th>"
                "<th>Weight</th><th>Max conns</th><th>Last check</th>"
                "<th>State changed</th></tr>\n");
    for (size_t j = 0; j < l->nbackends; j++)
        html_backend(b, &l->backends[j], now);
    lb_buf_puts(b, "</table>\n");
}

int
lb_stats_html(const lb_stats_snapshot_t *s, lb_buf_t *out)
{
    lb_buf_puts(out, html_head);
    lb_buf_puts(out, "<p>PumpkinLB ");
    lb_stats_escape_html(out, s->version);
    lb_buf_printf(out, "; counters from the last %lld s (since the start or "
                  "the last reload). Also as <a href=\"/metrics\">Prometheus "
                  "metrics</a> and <a href=\"/stats.json\">JSON</a>; this "
                  "page reloads every 5 s. Log lines dropped: %lld.</p>\n",
                  (long long)(s->now - s->started),
                  (long long)s->log_dropped);
    for (size_t i = 0; i < s->nlisteners; i++)
        html_listener(out, &s->listeners[i], s->now);
    lb_buf_puts(out, "</body>\n</html>\n");
    return finish(out);
}
