/* stats_request.c - what the statistics server answers to a request: the
 * request line and headers as a network peer sent them, judged with no
 * I/O and no state, so a fuzz target can feed it anything
 * (tests/fuzz/fuzz_stats.c). Lengths are explicit: a peer may
 * send NUL bytes. */
#include <string.h>

#include "lb_admin.h"
#include "lb_stats.h"

#define MAX_HOST 255 /* a Host value we would compare at all */

typedef struct span_s {
    const char *p;
    size_t n;
} span_t;

static int
span_is(span_t s, const char *text)
{
    return s.n == strlen(text) && memcmp(s.p, text, s.n) == 0;
}

static int
lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int
span_is_nocase(span_t s, const char *text)
{
    if (s.n != strlen(text))
        return 0;
    for (size_t i = 0; i < s.n; i++)
        if (lower((unsigned char)s.p[i]) != lower((unsigned char)text[i]))
            return 0;
    return 1;
}

/* The next line of [*at, end), without its "\n" or "\r\n"; *at moves past
 * it. 0 when no line end is left (what remains is the last line). */
static int
next_line(const char **at, const char *end, span_t *line)
{
    const char *nl = memchr(*at, '\n', (size_t)(end - *at));

    line->p = *at;
    line->n = (size_t)((nl ? nl : end) - *at);
    *at = nl ? nl + 1 : end;
    if (line->n > 0 && line->p[line->n - 1] == '\r')
        line->n--;
    return nl != NULL;
}

static int
is_tchar(int c)
{
    return c > ' ' && c < 127 && strchr("\"(),/:;<=>?@[\\]{}", c) == NULL;
}

/* Visible ASCII and tabs, what a header value and a request line hold. */
static int
printable(span_t s)
{
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];

        if ((c < ' ' && c != '\t') || c == 127)
            return 0;
    }
    return 1;
}

static span_t
trim(span_t s)
{
    while (s.n > 0 && (s.p[0] == ' ' || s.p[0] == '\t')) {
        s.p++;
        s.n--;
    }
    while (s.n > 0 && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t'))
        s.n--;
    return s;
}

/* "METHOD SP TARGET SP HTTP/1.x", exactly. */
static int
request_line(span_t line, span_t *method, span_t *target)
{
    const char *end = line.p + line.n, *sp1 = memchr(line.p, ' ', line.n);
    const char *sp2;
    span_t version;

    if (sp1 == NULL || !printable(line))
        return -1;
    sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1));
    if (sp2 == NULL)
        return -1;
    method->p = line.p;
    method->n = (size_t)(sp1 - line.p);
    target->p = sp1 + 1;
    target->n = (size_t)(sp2 - sp1 - 1);
    version.p = sp2 + 1;
    version.n = (size_t)(end - sp2 - 1);
    if (method->n == 0 || target->n == 0 || version.n != 8 ||
        memcmp(version.p, "HTTP/1.", 7) != 0 || version.p[7] < '0' ||
        version.p[7] > '9')
        return -1;
    for (size_t i = 0; i < method->n; i++)
        if (!is_tchar((unsigned char)method->p[i]))
            return -1;
    return memchr(target->p, ' ', target->n) == NULL ? 0 : -1;
}

typedef struct headers_s {
    span_t host, auth, length, accept;
    int have_host, have_auth, have_length, have_accept;
    int chunked;         /* Transfer-Encoding of any kind */
    const char *end;     /* past the empty line, or NULL */
} headers_t;

/* The headers this server reads; 0, or -1 for one given twice. */
static int
keep_header(headers_t *h, span_t name, span_t value)
{
    static const char *const names[] = {"host", "authorization",
                                        "content-length", "accept"};
    span_t *spans[] = {&h->host, &h->auth, &h->length, &h->accept};
    int *have[] = {&h->have_host, &h->have_auth, &h->have_length,
                   &h->have_accept};

    if (span_is_nocase(name, "transfer-encoding"))
        h->chunked = 1;
    for (int i = 0; i < 4; i++) {
        if (!span_is_nocase(name, names[i]))
            continue;
        if ((*have[i])++)
            return -1;
        *spans[i] = value;
    }
    return 0;
}

/* "Name: value" lines up to the empty one (or the end: a request may
 * stop at the client's FIN). 0, or -1 for a malformed or repeated one. */
static int
read_headers(const char *at, const char *end, headers_t *h)
{
    span_t line;

    memset(h, 0, sizeof(*h));
    while (at < end) {
        const char *colon;
        span_t name, value;
        int complete = next_line(&at, end, &line);

        if (line.n == 0) {
            h->end = complete ? at : NULL;
            return 0;
        }
        colon = memchr(line.p, ':', line.n);
        if (colon == NULL || colon == line.p || !printable(line))
            return -1; /* a folded line starts with a space: no name */
        name.p = line.p;
        name.n = (size_t)(colon - line.p);
        for (size_t i = 0; i < name.n; i++)
            if (!is_tchar((unsigned char)name.p[i]))
                return -1;
        value.p = colon + 1;
        value.n = (size_t)(line.p + line.n - colon - 1);
        if (keep_header(h, name, trim(value)) != 0)
            return -1;
    }
    return 0;
}

static int
digits(span_t s, size_t max)
{
    if (s.n == 0 || s.n > max)
        return 0;
    for (size_t i = 0; i < s.n; i++)
        if (s.p[i] < '0' || s.p[i] > '9')
            return 0;
    return 1;
}

/* An IPv4 literal ("127.0.0.1") or, ipv6 set, an IPv6 one ("::1"). */
static int
ip_literal(span_t s, int ipv6)
{
    char buf[64];
    lb_addr_t addr;

    if (s.n == 0 || s.n >= sizeof(buf) ||
        (memchr(s.p, ':', s.n) != NULL) != ipv6)
        return 0;
    memcpy(buf, s.p, s.n);
    buf[s.n] = '\0';
    return lb_addr_from_numeric(buf, 0, &addr) == 0;
}

/* The host part of a Host value, without brackets: 0 if malformed. */
static int
split_host(span_t v, span_t *host, int *ipv6)
{
    const char *colon;
    span_t port = {NULL, 0};

    *ipv6 = v.n > 0 && v.p[0] == '[';
    if (*ipv6) {
        const char *close = memchr(v.p, ']', v.n);

        if (close == NULL)
            return 0;
        host->p = v.p + 1;
        host->n = (size_t)(close - v.p - 1);
        port.p = close + 1;
        port.n = (size_t)(v.p + v.n - close - 1);
        if (port.n == 0)
            return 1;
        if (port.p[0] != ':')
            return 0;
        port.p++;
        port.n--;
        return digits(port, 5);
    }
    colon = memchr(v.p, ':', v.n);
    host->p = v.p;
    host->n = colon ? (size_t)(colon - v.p) : v.n;
    if (colon == NULL)
        return 1;
    port.p = colon + 1;
    port.n = (size_t)(v.p + v.n - colon - 1);
    return digits(port, 5);
}

/* Whether a request for this Host value may be answered: an IP literal
 * (a browser's page can only be as old as the literal itself), localhost
 * or a stats_host name. Any other name may be a DNS rebinding: a web page
 * of that name, whose name now points at us. */
static int
host_allowed(span_t v, const lb_stats_cfg_t *cfg)
{
    span_t host;
    int ipv6;

    if (v.n == 0 || v.n > MAX_HOST || !split_host(v, &host, &ipv6))
        return 0;
    if (ip_literal(host, ipv6))
        return 1;
    if (ipv6 || host.n == 0)
        return 0;
    if (host.p[host.n - 1] == '.')
        host.n--; /* "localhost." is localhost */
    if (span_is_nocase(host, "localhost"))
        return 1;
    for (size_t i = 0; i < cfg->nhosts; i++)
        if (span_is_nocase(host, cfg->hosts[i]))
            return 1;
    return 0;
}

/* Every byte of the secret is compared whatever the input, so the time
 * taken tells nothing of how much of it was right. */
static int
same_secret(span_t given, const char *secret)
{
    size_t n = strlen(secret);
    unsigned char diff = given.n != n;

    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(i < given.n ? given.p[i] : 0) ^
                (unsigned char)secret[i];
    return diff == 0;
}

/* "Bearer TOKEN", the scheme in any case. */
static int
authorized(const headers_t *h, const char *token)
{
    span_t a = h->auth, scheme = {a.p, 6}, cred;

    if (token == NULL)
        return 1;
    if (!h->have_auth || a.n < 8 || !span_is_nocase(scheme, "bearer") ||
        a.p[6] != ' ')
        return 0;
    cred.p = a.p + 7;
    cred.n = a.n - 7;
    return same_secret(trim(cred), token);
}

static int
page(span_t target)
{
    static const char *const paths[] = {"/", "/metrics", "/stats.json",
                                        "/api/v1/backends"};
    const char *q = target.p;

    while (q < target.p + target.n && *q != '?' && *q != '#')
        q++;
    target.n = (size_t)(q - target.p);
    for (int i = 0; i < (int)(sizeof(paths) / sizeof(paths[0])); i++)
        if (span_is(target, paths[i]))
            return LB_STATS_PAGE_HTML + i;
    return LB_STATS_NOT_FOUND;
}

/* "text/plain" asked for, and not JSON. */
static int
wants_text(const headers_t *h)
{
    int text = 0;

    if (!h->have_accept)
        return 0;
    for (size_t i = 0; i + 4 <= h->accept.n; i++) {
        span_t w = {h->accept.p + i, 4};

        if (span_is_nocase(w, "json"))
            return 0;
        if (i + 10 <= h->accept.n) {
            w.n = 10;
            text |= span_is_nocase(w, "text/plain");
        }
    }
    return text;
}

/* A PUT of the admin API: its body's length, or an error status. */
static int
put(const headers_t *h, span_t target, const lb_stats_cfg_t *cfg,
    int admin, lb_stats_req_t *out)
{
    span_t api = {target.p, 18};

    if (cfg->admin_token == NULL)
        return LB_STATS_NOT_ALLOWED; /* the admin API is off */
    if (!admin)
        return LB_STATS_UNAUTHORIZED;
    if (target.n < api.n || !span_is(api, "/api/v1/listeners/"))
        return LB_STATS_NOT_FOUND;
    if (h->chunked)
        return LB_STATS_BAD_REQUEST; /* a body of known length only */
    if (!h->have_length)
        return LB_STATS_LENGTH_REQUIRED;
    if (!digits(h->length, 9))
        return LB_STATS_BAD_REQUEST;
    for (size_t i = 0; i < h->length.n; i++)
        out->body_len = out->body_len * 10 + (size_t)(h->length.p[i] - '0');
    return out->body_len > LB_ADMIN_MAX_BODY ? LB_STATS_TOO_LARGE
                                             : LB_STATS_API_SET;
}

static int
judge(const char *req, size_t len, const lb_stats_cfg_t *cfg,
      lb_stats_req_t *out)
{
    const char *at = req, *end = req + len;
    span_t line, method, target;
    headers_t h;
    int admin;

    if (!next_line(&at, end, &line) ||
        request_line(line, &method, &target) != 0 ||
        read_headers(at, end, &h) != 0)
        return LB_STATS_BAD_REQUEST;
    out->head_len = h.end ? (size_t)(h.end - req) : 0;
    out->target = target.p;
    out->target_len = target.n;
    out->text = wants_text(&h);
    if (h.have_host && !host_allowed(h.host, cfg))
        return LB_STATS_MISDIRECTED;
    /* The admin token reads too; without either token, nothing about the
     * server is told. */
    admin = cfg->admin_token != NULL && authorized(&h, cfg->admin_token);
    if (!admin && !authorized(&h, cfg->token))
        return LB_STATS_UNAUTHORIZED;
    if (span_is(method, "PUT"))
        return put(&h, target, cfg, admin, out);
    if (!span_is(method, "GET"))
        return LB_STATS_NOT_ALLOWED;
    return page(target);
}

void
lb_stats_parse(const char *req, size_t len, const lb_stats_cfg_t *cfg,
               lb_stats_req_t *out)
{
    memset(out, 0, sizeof(*out));
    out->answer = judge(req, len, cfg, out);
}

int
lb_stats_request(const char *req, size_t len, const lb_stats_cfg_t *cfg)
{
    lb_stats_req_t r;

    lb_stats_parse(req, len, cfg, &r);
    return r.answer;
}
